"""Shared code for the GAN course notebooks, in rooms by role.

- :mod:`helpers.device` -- choose CPU / CUDA / Apple MPS, seed every RNG, fixed noise batches
- :mod:`helpers.profiles` -- the run profile (``quick``/``cpu``/``full``, grading tier), who is watching, whether to
  go offline: the one module that reads the environment
- :mod:`helpers.checkpoint` -- atomic files, checkpoints and RNG state (used by training, data and models)
- :mod:`helpers.contracts` -- what a step exercise must return, one message for the trainers and the checks
- :mod:`helpers.checks` -- what the test cells call (student side of grading)
- :mod:`helpers.data` -- MNIST and horse2zebra, each with an offline fallback; downloads
- :mod:`helpers.models` -- the networks the lessons train, one module per lesson
- :mod:`helpers.training` -- the loops that run the lessons' own steps
- :mod:`helpers.evaluation` -- digit metrics, the domain classifier
- :mod:`helpers.display` -- plots, widgets, dashboards, filmstrips

Layers, lowest first: ``device``, ``profiles``, ``checkpoint``, ``contracts``; then ``checks``, ``data``,
``models``; then ``training``; then ``evaluation``; then ``display``. A module imports only from its own layer or
below (``tests/test_project.py`` checks it).

Importing the package has no side effects: it does not seed, set a device or change any global setting. Call
:func:`helpers.device.set_seed` yourself.
"""

__version__ = "0.1.0"
