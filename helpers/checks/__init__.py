"""What the notebooks' test cells call: compare a student's function with what it should do, name the likely mistake.

Student side of grading (the grader, ``grader/``, runs the same checks in its own process). Never imports
``training``, ``display`` or ``data``: a check judges one call on inputs it builds itself.

- :mod:`~helpers.checks.core` -- tensors, numbers, references and mistakes, ``GradingError`` (every lesson)
- :mod:`~helpers.checks.distributions` -- random numbers against the distribution asked for (lesson 3's noise)
- :mod:`~helpers.checks.steps` -- ``discriminator_step`` / ``generator_step`` on tiny networks (lessons 3-4)
- :mod:`~helpers.checks.cgan_inputs` -- the conditional inputs, piece by piece (lesson 4)
- :mod:`~helpers.checks.cycle_steps` -- the CycleGAN steps on tiny stand-ins (lesson 5)
- :mod:`~helpers.checks.networks` -- a network the student built: its parameters in creation order or its
  state-dict keys, its output (lessons 3 and 5)
"""
