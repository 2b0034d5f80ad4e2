"""Repository-wide pytest setup.

nbval runs the notebooks in ``solutions/`` in a kernel that inherits this
process's environment; ``NBVAL=1`` makes :func:`helpers.profiles.get_profile`
choose the quick profile there (unless ``GAN_PROFILE`` says otherwise).

Every kernel the tests start (nbval, nbgrader, the browser test's Jupyter) inherits one math-library thread
(``OMP_NUM_THREADS=1``, unless set): on a shared 2-core machine two threads per process spin against the other load
and ran 6 to 12 times slower than one; one thread per kernel keeps the cell timeouts valid on a busy machine.
"""

import os

os.environ.setdefault("NBVAL", "1")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys
from pathlib import Path

# The unit tests run the trainers with the reference steps of bench/reference_steps.py (helpers/ has no default
# step: it never holds an exercise's answer).
sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
