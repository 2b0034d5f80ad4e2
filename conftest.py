"""Repository-wide pytest setup.

nbval runs the notebooks in ``solutions/`` in a kernel that inherits this
process's environment; ``NBVAL=1`` makes :func:`helpers.profiles.get_profile`
choose the quick profile there (unless ``GAN_PROFILE`` says otherwise).
"""

import os

os.environ.setdefault("NBVAL", "1")
