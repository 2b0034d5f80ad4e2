"""What a student sees: plots, image grids, widgets, live dashboards, filmstrips. The loops never draw; these are
callbacks or figures made from a run.

- :mod:`~helpers.display.plotting` -- loss curves, image grids, pattern heat maps (every lesson)
- :mod:`~helpers.display.widgets` -- the hyperparameter panel with a Train button (every lesson)
- :mod:`~helpers.display.dashboards` -- a live figure redrawn during training (lessons 3-5)
- :mod:`~helpers.display.filmstrip` -- fixed-noise samples of every log, scrubbed with a slider (lessons 2-5)
- :mod:`~helpers.display.gan1d_figures` -- Goodfellow's Figure 1 for the 1-D GAN (lesson 2)
- :mod:`~helpers.display.gan_lab` -- the 2-D GAN lab's picture and controls, or its headless strip (lesson 2)
"""
