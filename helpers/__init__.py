"""Shared code for the GAN course notebooks.

One concern per module:

- :mod:`helpers.device`   -- choose CPU / CUDA / Apple MPS, seed every RNG, fixed noise batches
- :mod:`helpers.profiles` -- the ``quick`` (CI, nbval; a smaller grading tier under nbgrader) and ``full`` run profiles
- :mod:`helpers.data`     -- MNIST with an offline fallback
- :mod:`helpers.nets`     -- the small networks the lessons train (never an exercise answer)
- :mod:`helpers.training` -- a step loop with a progress bar and a loss history
- :mod:`helpers.plotting` -- loss curves, image grids, pattern heat maps
- :mod:`helpers.widgets`  -- the hyperparameter panel with a Train button
- :mod:`helpers.grading`  -- checks used by the autograded test cells
- :mod:`helpers.gan`      -- the GAN training loop shared by the GAN lessons (data on the device, dashboard)
- :mod:`helpers.graphs`   -- whole-step CUDA graph capture with an eager fallback
- :mod:`helpers.horse2zebra` -- horse2zebra: the official folder/archive or the offline stand-in, ``load_horse2zebra``
- :mod:`helpers.download` -- checked, resumable, atomic downloads and zip extraction
- :mod:`helpers.standin` -- the procedural stand-in drawing (horses with plain coats, zebras with stripes)
- :mod:`helpers.unpaired` -- unpaired image folders: resize cache, ``UnpairedImages`` with on-device crops/flips
- :mod:`helpers.cyclegan` -- CycleGAN networks (official layouts), image pool, LR decay, trainer, domain metrics
- :mod:`helpers.checkpoint` -- atomic checkpoints and RNG state
- :mod:`helpers.metrics`  -- digit Fréchet distance, mode coverage, label accuracy (shipped evaluator CNN)

Importing the package has no side effects: it does not seed, set a device or
change any global setting. Call :func:`helpers.device.set_seed` yourself.
"""

__version__ = "0.1.0"
