"""Lesson 2's 2-D GAN lab: one update at a time, with the student's own ``train_discriminator`` and
``train_generator``.

:class:`GanLab` holds one run on a 2-D target (:mod:`helpers.data.toy2d`): two small MLPs
(:mod:`helpers.models.gan_lab`), their Adam optimizers, the loss history, and what the lab's figure shows (D's map
over the plane, G's samples from fixed noise, the direction G's update pushes each of them, the mode coverage). It
holds no training step: every update is a call of the functions the lesson passes in, with the contract of lesson 2's
exercises 3 and 4. The figures and the widget are in :mod:`helpers.display.gan_lab`.

The losses (the "loss" control):

- ``"non-saturating"``: D with BCE (real -> 1, fake -> 0); G with BCE against "real", ``-log D(G(z))``;
- ``"saturating"``: D with BCE; G minimises ``log(1 - D(G(z)))``, the minimax game's own term (passed to
  ``train_generator`` as a loss function that is minus the BCE, with the target "fake");
- ``"least squares"``: D and G with MSE against the same targets, as lesson 2's §4 (LSGAN's losses, on D's sigmoid
  output).

Everything is seeded from ``seed``: the networks' initial weights, the real batches, the noise and the fixed noise of
the pictures come from the lab's own generators, so a run is the same for the same seed, settings and sequence of
updates, whatever else the notebook drew from the global random stream.

A run that goes wrong does not raise: the update is refused, :attr:`GanLab.message` says what happened and what to
change, and :meth:`GanLab.reset` brings back a fresh run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from helpers.data.toy2d import Coverage, Target, make_target
from helpers.models.gan_lab import LabDiscriminator, LabGenerator
from helpers.training.loop import History

LOSSES = ("non-saturating", "saturating", "least squares")
PLANE = 3.0
"""The lab draws the square [-PLANE, PLANE]²."""


class SaturatingLoss(nn.Module):
    """``loss(D(x), target) = -BCE(D(x), target)``: with the target 0 ("fake") it is ``mean log(1 - D(x))``, the
    term G minimises in Goodfellow et al.'s minimax game. Handed to the student's ``train_generator`` as its
    ``loss_fn`` (which always uses the loss it is given)."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -nn.functional.binary_cross_entropy(output, target)


@dataclass(frozen=True)
class LabSettings:
    """What the lab's sliders set. ``d_steps``: D updates per G update in "step both"; ``noise_dim``: the size of
    G's input (a change takes effect at the next reset, which it triggers in the widget)."""

    lr_d: float = 1e-3
    lr_g: float = 1e-3
    d_steps: int = 1
    loss: str = "non-saturating"
    noise_dim: int = 2
    batch_size: int = 256
    hidden: int = 128
    betas: tuple[float, float] = (0.5, 0.999)

    def check(self) -> LabSettings:
        """This, after checking every value; ``ValueError`` says which one to change."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} (a learning rate) must be a positive number; got {value!r}")
        for name, low in (("d_steps", 1), ("noise_dim", 1), ("batch_size", 2), ("hidden", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number of at least {low}; got {value!r}")
        return self


class GanLab:
    """One run of the 2-D GAN lab.

    Args:
        train_discriminator: the lesson's ``train_discriminator(D, optimizer, inputs, targets, loss_fn) -> float``.
        train_generator: the lesson's ``train_generator(G, D, optimizer, inputs, targets, loss_fn) -> float``.
        target: a name of :data:`helpers.data.toy2d.TARGETS` or (x, y) points (:func:`make_target`).
        seed: the run's seed.
        settings: :class:`LabSettings` fields (``lr_d``, ``lr_g``, ``d_steps``, ``loss``, ``noise_dim``, ...).

    After an update, ``step_count`` counts G updates and ``d_count`` D updates; ``history`` logs ``D`` (the mean of
    D's two losses in its last update) and ``G`` at every G update, ``message`` is ``""`` while all is well.
    """

    def __init__(
        self,
        train_discriminator: Callable,
        train_generator: Callable,
        *,
        target: Any = "ring",
        seed: int = 0,
        samples_shown: int = 1000,
        **settings: Any,
    ) -> None:
        self.use_steps(train_discriminator, train_generator)
        self.settings = LabSettings(**settings).check()
        self.target: Target = make_target(target)
        self.seed, self.samples_shown = int(seed), samples_shown
        self.reset()

    # -- setting up ------------------------------------------------------------------------------------------

    def use_steps(self, train_discriminator: Callable, train_generator: Callable) -> None:
        """Train with these step functions from now on (after fixing one that raised: pass it again, then reset)."""
        for name, fn in (("train_discriminator", train_discriminator), ("train_generator", train_generator)):
            if not callable(fn):
                raise TypeError(f"{name} must be the function from the lesson's exercise; got {fn!r}")
        self.train_discriminator, self.train_generator = train_discriminator, train_generator

    def set_target(self, target: Any) -> bool:
        """Use another target (a name or points) and reset; on bad points keep the old target and set ``message``."""
        try:
            self.target = make_target(target)
        except ValueError as error:
            self.message = f"{error} The lab keeps the {self.target.name}."
            return False
        self.reset()
        return True

    def configure(self, **changes: Any) -> bool:
        """Change settings (:class:`LabSettings` fields); a new noise size or network size resets the run.

        Returns ``False`` and sets ``message`` for a value that cannot be used (the settings stay as they were)."""
        unknown = sorted(set(changes) - {f.name for f in fields(LabSettings)})
        if unknown:
            raise TypeError(f"unknown setting(s) {unknown}; the lab has {[f.name for f in fields(LabSettings)]}")
        try:
            new = replace(self.settings, **changes).check()
        except ValueError as error:
            self.message = str(error)
            return False
        rebuild = (new.noise_dim, new.hidden) != (self.settings.noise_dim, self.settings.hidden)
        self.settings = new
        if rebuild:
            self.reset()
        else:
            for optimizer, lr in ((self.optimizer_D, new.lr_d), (self.optimizer_G, new.lr_g)):
                for group in optimizer.param_groups:
                    group["lr"] = lr
        return True

    def reset(self, seed: int | None = None) -> None:
        """A fresh run from ``seed`` (default: the lab's) with the current settings and target; clears ``message``."""
        if seed is not None:
            self.seed = int(seed)
        s = self.settings
        with torch.random.fork_rng(devices=[]):  # the lab's own seed, and the notebook's random stream untouched
            torch.manual_seed(self.seed)
            self.G, self.D = LabGenerator(s.noise_dim, s.hidden), LabDiscriminator(s.hidden)
        self.optimizer_D = torch.optim.Adam(self.D.parameters(), lr=s.lr_d, betas=s.betas)
        self.optimizer_G = torch.optim.Adam(self.G.parameters(), lr=s.lr_g, betas=s.betas)
        self.rng = torch.Generator().manual_seed(self.seed + 1)  # real batches and G's noise while training
        fixed = torch.Generator().manual_seed(self.seed + 2)
        self.fixed_z = torch.randn(self.samples_shown, s.noise_dim, generator=fixed)  # the samples drawn
        self.real_shown = self.target.sample(self.samples_shown, fixed)
        self.history = History()
        self.step_count = self.d_count = 0
        self.message = ""
        self._last_d = float("nan")

    @property
    def step(self) -> int:
        """G updates so far (what ``callback(run, final)`` and the course's figures read as the run's step)."""
        return self.step_count

    # -- updates -----------------------------------------------------------------------------------------------

    def _losses(self) -> tuple[nn.Module, nn.Module, float]:
        """D's loss function, G's loss function and the target value G's loss is given."""
        if self.settings.loss == "least squares":
            return nn.MSELoss(), nn.MSELoss(), 1.0
        if self.settings.loss == "saturating":
            return nn.BCELoss(), SaturatingLoss(), 0.0
        return nn.BCELoss(), nn.BCELoss(), 1.0

    def _call(self, name: str, fn: Callable, *args: Any) -> float | None:
        """Call the student's step; on an exception or a result that is not a number, set ``message``."""
        try:
            value = fn(*args)
        except Exception as error:  # the student's code: report it in the lab, do not break the widget
            self.message = (
                f"Your {name} raised {type(error).__name__}: {error}. Fix it in its cell and run that cell, then "
                f"give the lab the new function (lab.use_steps(train_discriminator, train_generator)) and press reset."
            )
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            self.message = (
                f"Your {name} returned {type(value).__name__} {value!r:.60}, not the loss as a number: "
                "return loss.item() (the exercise's contract), then pass the function again and press reset."
            )
            return None

    def _diverged(self, *losses: float) -> bool:
        """Whether the last update made the run unusable; if so, ``message`` says what to change."""
        finite = all(math.isfinite(v) for v in losses) and all(
            torch.isfinite(p).all() for net in (self.G, self.D) for p in net.parameters()
        )
        if not finite:
            s = self.settings
            self.message = (
                f"The run diverged at G update {self.step_count}: a loss or a weight became NaN or infinite. "
                f"Lower the learning rates (now D {s.lr_d:g}, G {s.lr_g:g}; 1e-3 or less works) and press reset."
            )
            return True
        return False

    def _ready(self) -> bool:
        return not self.message

    def step_d(self) -> bool:
        """One D update: the student's ``train_discriminator`` on a real batch (target 1), then on a batch of G's
        samples, detached (target 0). Returns ``False`` (and sets ``message``) when the run cannot go on."""
        if not self._ready():
            return False
        n, (loss_d, _, _) = self.settings.batch_size, self._losses()
        real = self.target.sample(n, self.rng)
        with torch.no_grad():
            fake = self.G(torch.randn(n, self.settings.noise_dim, generator=self.rng))
        ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
        step, name = self.train_discriminator, "train_discriminator"
        on_real = self._call(name, step, self.D, self.optimizer_D, real, ones, loss_d)
        if on_real is None:
            return False
        on_fake = self._call(name, step, self.D, self.optimizer_D, fake, zeros, loss_d)
        if on_fake is None or self._diverged(on_real, on_fake):
            return False
        self.d_count += 1
        self._last_d = (on_real + on_fake) / 2
        return True

    def step_g(self) -> bool:
        """One G update: the student's ``train_generator`` on fresh noise, with the loss of the "loss" setting."""
        if not self._ready():
            return False
        n, (_, loss_g, value) = self.settings.batch_size, self._losses()
        z = torch.randn(n, self.settings.noise_dim, generator=self.rng)
        targets = torch.full((n, 1), value)
        loss = self._call("train_generator", self.train_generator, self.G, self.D, self.optimizer_G, z, targets, loss_g)
        if loss is None or self._diverged(loss):
            return False
        self.step_count += 1
        self.history.log(self.step_count, D=self._last_d, G=loss)
        return True

    def step_both(self) -> bool:
        """``d_steps`` D updates, then one G update: one step of the usual training loop."""
        return all(self.step_d() for _ in range(self.settings.d_steps)) and self.step_g()

    def train(self, num_steps: int, callback: Callable | None = None, every: int = 0) -> bool:
        """``num_steps`` of :meth:`step_both`; stops early (returning ``False``) when ``message`` is set.

        ``callback(lab, final)`` is called every ``every`` steps (0: never) and once at the end."""
        for i in range(num_steps):
            if not self.step_both():
                break
            if callback is not None and every and (i + 1) % every == 0 and i + 1 < num_steps:
                callback(self, False)
        if callback is not None:
            callback(self, True)
        return not self.message

    # -- what the figures show ------------------------------------------------------------------------------------

    def coverage(self, num_samples: int = 2500, min_share: float = 0.02) -> Coverage:
        """The mode coverage of ``num_samples`` of G's samples (drawn from noise seeded by the lab's seed, so it
        takes nothing from the training stream): see :mod:`helpers.data.toy2d`."""
        z = torch.randn(num_samples, self.settings.noise_dim, generator=torch.Generator().manual_seed(self.seed + 3))
        with torch.no_grad():
            return self.target.coverage(self.G(z), min_share=min_share)

    def d_map(self, resolution: int = 64) -> torch.Tensor:
        """D(x) over the plane, shape (resolution, resolution), row 0 at y = -PLANE (for ``imshow(origin="lower")``)."""
        ticks = torch.linspace(-PLANE, PLANE, resolution)
        grid = torch.stack(torch.meshgrid(ticks, ticks, indexing="xy"), dim=-1).reshape(-1, 2)
        with torch.no_grad():
            return self.D(grid).reshape(resolution, resolution)

    def samples_and_pushes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """G's samples from the fixed noise (N, 2), and for each the direction G's next update pushes it (N, 2):
        minus the gradient of G's loss (with the current loss setting) with respect to that sample, per sample
        (the loss summed, not averaged, so a push does not shrink with the batch)."""
        _, loss_g, value = self._losses()
        with torch.no_grad():
            fake = self.G(self.fixed_z)
        x = fake.clone().requires_grad_(True)
        output = self.D(x)
        per_sample = loss_g(output, torch.full_like(output, value)) * len(x)
        (gradient,) = torch.autograd.grad(per_sample, x)
        return fake, -gradient

    def frame(self, resolution: int = 64) -> dict[str, Any]:
        """Everything the lab's figure draws now: ``d_map``, ``real`` and ``fake`` points, ``push`` (arrows),
        the ``history``, the ``coverage``, the step counts, the settings and the ``message``."""
        fake, push = self.samples_and_pushes()
        return {
            "d_map": self.d_map(resolution),
            "real": self.real_shown,
            "fake": fake,
            "push": push,
            "steps": list(self.history.steps),
            "D": list(self.history.values.get("D", [])),
            "G": list(self.history.values.get("G", [])),
            "coverage": self.coverage(),
            "step": self.step_count,
            "d_count": self.d_count,
            "settings": self.settings,
            "target": self.target,
            "message": self.message,
        }
