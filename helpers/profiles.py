"""Run profiles: ``quick`` for CI, nbval and grading; ``cpu`` for a student without a GPU; ``full`` with one.

The profile is chosen, in this order, by

1. the environment variable ``GAN_PROFILE`` (``quick``, ``cpu`` or ``full``; ``grading`` = quick at its
   grading tier), which a user sets;
2. ``quick`` when an automated run is detected: ``NBGRADER_EXECUTION`` (set by
   nbgrader inside the grading kernel), ``CI`` (set by CI services), or
   ``NBVAL`` (set by this course's ``conftest.py`` before nbval starts a kernel);
3. otherwise a student is working in Jupyter: ``full`` when the training device is a GPU (CUDA or Apple MPS),
   ``cpu`` when it is the CPU. The ``cpu`` profile is sized for a 2-core laptop: one to four minutes of CPU time per
   training cell (60 to 200 s measured), and still long enough to show everything the lesson's text claims.

Under nbgrader (``NBGRADER_EXECUTION`` set, ``GAN_PROFILE`` not ``full``) the quick
profile is also marked ``grading``: a lesson may give :meth:`Profile.pick` a
``grading=`` value, the smallest honest run, because grading checks the
exercises, not the pictures; lessons that give none use their quick values.

A quick run is an honest, smaller run (fewer steps, less data), never a fake.

This is the one place that reads the environment (``GAN_PROFILE``, ``CI``, ``NBVAL``, ``NBGRADER_EXECUTION``,
``GAN_COURSE_OFFLINE``). The profile also says whether a person is watching (:attr:`Profile.watched`: live
dashboards, widgets) and whether datasets may be downloaded (:attr:`Profile.offline`); lessons pass both down
explicitly (``HyperparameterPanel(..., live=profile.watched)``, ``load_mnist(offline=profile.offline)``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROFILE_ENV = "GAN_PROFILE"
OFFLINE_ENV = "GAN_COURSE_OFFLINE"
PROFILES = ("quick", "cpu", "full")
_UNSET = object()
# Environment variables that mean "nobody is watching: keep it short".
AUTOMATION_VARS = ("NBGRADER_EXECUTION", "CI", "NBVAL")


@dataclass(frozen=True)
class Profile:
    """The active run profile and why it was chosen."""

    name: str
    reason: str
    grading: bool = False
    watched: bool = True
    """A person is at Jupyter: draw live dashboards and widgets (``False`` under nbgrader, nbval and CI)."""
    offline: str | None = None
    """Why datasets must not be downloaded now (e.g. ``"nbgrader is grading (NBGRADER_EXECUTION is set)"``), or
    ``None`` when a download may be tried."""

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def pick(self, *, quick: Any, full: Any, cpu: Any = _UNSET, grading: Any = None) -> Any:
        """Return the value for this profile: ``quick``, ``cpu`` or ``full`` (``grading``, when given, under nbgrader).

        A lesson whose full run is already CPU-sized may leave out ``cpu``: the ``cpu`` profile then uses ``full``.

        Typical use: ``cfg = profile.pick(quick=dict(num_steps=500), cpu=dict(num_steps=3_000),
        full=dict(num_steps=20_000))``.
        """
        if self.grading and grading is not None:
            return grading
        if self.quick:
            return quick
        if self.name == "cpu" and cpu is not _UNSET:
            return cpu
        return full

    def __str__(self) -> str:
        tier = ", grading tier" if self.grading else ""
        return f"{self.name}{tier} ({self.reason})"

    def describe(self) -> str:
        """One line for a lesson's setup cell: the profile, who is watching, and whether downloads are off."""
        watched = "live dashboards" if self.watched else "no live widgets (automated run)"
        online = f"no downloads: {self.offline}" if self.offline else "downloads allowed"
        return f"{self}; {watched}; {online}"


def env_flag(value: str | None) -> bool:
    """Whether an environment variable's value means "on" (anything but unset, "", 0, false, no, off)."""
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def automated_by(environ: Mapping[str, str] | None = None) -> str | None:
    """The variable that marks this run as automated (nbgrader, CI, nbval), or ``None`` for a person at Jupyter."""
    env = os.environ if environ is None else environ
    return next((var for var in AUTOMATION_VARS if env_flag(env.get(var))), None)


def offline_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why datasets must not be downloaded, or ``None`` when a download may be tried.

    Offline when ``$GAN_COURSE_OFFLINE`` is set, while nbgrader grades or validates a notebook
    (``$NBGRADER_EXECUTION``, set by nbgrader in the kernel, also when grading from the formgrader: grading never
    waits on the network, and every student is graded on the same data), and in CI and nbval runs.
    Cached data is still used.
    """
    env = os.environ if environ is None else environ
    if env_flag(env.get(OFFLINE_ENV)):
        return f"{OFFLINE_ENV} is set"
    if env_flag(env.get("NBGRADER_EXECUTION")):
        return "nbgrader is grading (NBGRADER_EXECUTION is set)"
    var = automated_by(env)
    if var is not None:
        return f"automated run ({var} is set)"
    return None


def get_profile(environ: Mapping[str, str] | None = None, *, device: Any = None) -> Profile:
    """Return the active :class:`Profile` (read from the environment once; pass the result down).

    Args:
        environ: the environment to read (default: ``os.environ``); tests pass a dict.
        device: the training device (``torch.device`` or its name), which decides between ``full`` (a GPU) and
            ``cpu`` for a student at Jupyter; ``None`` asks :func:`helpers.device.get_device`.

    Raises:
        ValueError: ``GAN_PROFILE`` holds something other than ``quick``, ``cpu``, ``full`` or ``grading``.
    """
    env = os.environ if environ is None else environ
    base = dict(watched=automated_by(env) is None, offline=offline_reason(env))
    requested = env.get(PROFILE_ENV)
    if requested is not None and requested.strip():
        name = requested.strip().lower()
        if name == "grading":  # the quick profile at its grading tier, as under nbgrader (browser tests, demos)
            return Profile("quick", f"{PROFILE_ENV}=grading: the quick profile's smallest runs", grading=True, **base)
        if name not in PROFILES:
            raise ValueError(
                f"{PROFILE_ENV}={requested!r} is not a profile. Set it to 'quick' (the shortest runs, as in CI), "
                f"'cpu' (a few minutes per training cell on a laptop CPU) or 'full' (real training, for a GPU), "
                f"or unset it to choose by device ('grading' gives the smallest runs, as under nbgrader)."
            )
        return Profile(name, f"set by {PROFILE_ENV}", grading=name == "quick" and _grading(env), **base)
    var = automated_by(env)
    if var is not None:
        return Profile("quick", f"automated run: {var} is set", grading=_grading(env), **base)
    if device is None:
        from helpers.device import get_device  # the one device chooser (it honours $GAN_COURSE_DEVICE)

        device = get_device()
    kind = str(getattr(device, "type", device)).split(":")[0]
    if kind in ("cuda", "mps"):
        return Profile("full", f"a GPU ({kind}) is the training device; set {PROFILE_ENV}=cpu for shorter runs", **base)
    return Profile(
        "cpu",
        f"no GPU: runs sized for a laptop CPU, a few minutes per training cell; "
        f"set {PROFILE_ENV}=full for the full runs or {PROFILE_ENV}=quick for the shortest",
        **base,
    )


def _grading(env: Mapping[str, str]) -> bool:
    return env_flag(env.get("NBGRADER_EXECUTION"))
