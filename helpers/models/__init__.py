"""The networks the lessons train, one module per lesson. Plain ``nn.Module``s; none is an exercise's answer
(lessons 3 and 4's networks are: the students write them; the tests and benchmarks use
``bench/reference_networks.py``).

- :mod:`~helpers.models.classifier` -- lesson 1's sigmoid classifier
- :mod:`~helpers.models.pattern_gan` and :mod:`~helpers.models.gan1d` -- lesson 2's pattern GAN and 1-D GAN
- :mod:`~helpers.models.gan_lab` -- the 2-D GAN lab's two MLPs (lesson 2)
- :mod:`~helpers.models.cyclegan` -- lesson 5's ResNet generator, assembled around the residual block the student
  writes, the official state-dict tables and weights (the residual block and the PatchGAN are exercises)
"""
