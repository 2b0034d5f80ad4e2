"""The loops that run the lessons' own steps. They hold no step and no loss: the lesson passes its own.

Every loop calls back the same way: ``callback(run, final)``, where ``run`` has ``.step`` (steps done) and
``.history``.

- :mod:`~helpers.training.loop` -- ``run_steps``, ``History`` (lessons 1-2, and under every other loop)
- :mod:`~helpers.training.gan1d` -- Goodfellow's 1-D GAN (lesson 2)
- :mod:`~helpers.training.gan_lab` -- the 2-D GAN lab's run, one update at a time with the lesson's steps (lesson 2)
- :mod:`~helpers.training.engine` -- ``Trainer``: the logged loop with on-device sums, checkpoints, autocast and
  CUDA graphs that the GAN trainers share (lessons 3-5)
- :mod:`~helpers.training.gan_trainer` -- ``GANTrainer`` (lessons 3-4)
- :mod:`~helpers.training.cycle_trainer` -- ``CycleGANTrainer`` (lesson 5), with
  :mod:`~helpers.training.image_pool` and :mod:`~helpers.training.lr_schedule`
- :mod:`~helpers.training.cuda_graphs` -- whole-step CUDA graph capture, checked against an eager step
"""
