"""Repository-wide pytest setup.

nbval runs the notebooks in ``solutions/`` in a kernel that inherits this
process's environment; ``NBVAL=1`` makes :func:`helpers.profiles.get_profile`
choose the quick profile there (unless ``GAN_PROFILE`` says otherwise).
"""

import os

os.environ.setdefault("NBVAL", "1")

import sys
from pathlib import Path

# The unit tests run the trainers with the reference steps of bench/reference_steps.py (helpers/ has no default
# step: it never holds an exercise's answer).
sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
