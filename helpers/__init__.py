"""Shared code for the GAN course notebooks.

One concern per module:

- :mod:`helpers.device`   -- choose CPU / CUDA / Apple MPS, seed every RNG, fixed noise batches
- :mod:`helpers.profiles` -- the run profile (``quick``/``cpu``/``full``, grading tier), who is watching, whether to
  go offline: the one module that reads the environment
- :mod:`helpers.data`     -- MNIST with an offline fallback
- :mod:`helpers.nets`     -- the small networks the lessons train (never an exercise answer)
- :mod:`helpers.training` -- a step loop with a progress bar (lessons 1-2) and the loss history
- :mod:`helpers.plotting` -- loss curves, image grids, pattern heat maps
- :mod:`helpers.widgets`  -- the hyperparameter panel with a Train button
- :mod:`helpers.grading`  -- checks used by the autograded test cells
- :mod:`helpers.step_checks` -- the test cells' checks of lessons 3-4's discriminator_step / generator_step (tiny
  networks, recording losses; the step is passed in, the reference steps stay in the hidden tests)
- :mod:`helpers.input_checks` -- lesson 4's input checks (generator_input, discriminator_input, sample_labels),
  piece by piece; the reference comparisons stay in the hidden tests
- :mod:`helpers.cycle_checks` -- lesson 5's step checks: tiny CycleGAN stand-ins, plain SGD, a frozen-D hook
- :mod:`helpers.engine`   -- the trainers' shared engine: logged loop, on-device sums, checkpoints, autocast, graphs
- :mod:`helpers.gan1d`    -- the 1-D GAN of Goodfellow et al.'s Figure 1 (lesson 2): runs the student's
  train_discriminator / train_generator
- :mod:`helpers.gan`      -- the GAN trainer of lessons 3-4: runs the student's discriminator_step / generator_step
- :mod:`helpers.dashboards` -- live training figures, a trainer callback (the trainers never draw)
- :mod:`helpers.filmstrip` -- the fixed-noise samples of every log, kept during training, scrubbed with a slider
- :mod:`helpers.graphs`   -- whole-step CUDA graph capture, checked against an eager step, with an eager fallback
- :mod:`helpers.horse2zebra` -- horse2zebra: the official folder/archive or the offline stand-in, ``load_horse2zebra``
- :mod:`helpers.download` -- checked, resumable, atomic downloads and zip extraction
- :mod:`helpers.standin` -- the procedural stand-in drawing (horses with plain coats, zebras with stripes)
- :mod:`helpers.unpaired` -- unpaired image folders: resize cache, ``UnpairedImages`` with on-device crops/flips
- :mod:`helpers.cyclegan` -- CycleGAN networks (official layouts) and loading the official weights
- :mod:`helpers.imagepool` -- CycleGAN's image pool and learning-rate schedule
- :mod:`helpers.cycle_trainer` -- the CycleGAN trainer of lesson 5: runs the student's generator_step / discriminator_step
- :mod:`helpers.domains`  -- the domain classifier (A, B or neither) and the cycle reconstruction error
- :mod:`helpers.checkpoint` -- atomic checkpoints and RNG state
- :mod:`helpers.metrics`  -- digit Fréchet distance, mode coverage, label accuracy (shipped evaluator CNN)

Importing the package has no side effects: it does not seed, set a device or
change any global setting. Call :func:`helpers.device.set_seed` yourself.
"""

__version__ = "0.1.0"
