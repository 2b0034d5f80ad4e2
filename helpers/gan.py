"""One GAN training loop for the MNIST GAN, the CGAN and later lessons.

The lesson supplies the models, their optimizers and the loss functions (the
students' own); the loop alternates one discriminator step and one generator
step, as in *GANs in Action* ch. 3:

1. D on a batch of real images (target real) and a batch of ``G(z).detach()`` (target fake);
2. G through the updated D on the same generated batch (target real); only G's optimizer steps.
   (The book draws a second z for this step; reusing the batch, as PyTorch-GAN and the DCGAN
   tutorial do, saves one generator pass per step and trains as well.)

Everything stays on the training device: batches are drawn by index from a
tensor that already lives there, losses and D's accuracy are summed on the
device and read back once every ``log_every`` steps (one host sync per log, not
per step). The loop stops with a clear message when a loss becomes NaN or
infinite, can save an atomic checkpoint every ``checkpoint_every`` steps and
resume from it, and draws a dashboard (loss curves, D accuracy, a sample grid
of a fixed noise batch) that is updated in place in the notebook.

On CUDA the whole step (batch, noise, both updates, metric sums) is captured
once in a CUDA graph and replayed (:mod:`helpers.graphs`), with an eager
fallback when capture is impossible; ``trainer.graph_status`` says which.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from . import checkpoint as ckpt
from .graphs import GraphedStep, optimizer_key
from .training import History, average_sums, train_logged
from .widgets import TrainingDashboard

LossD = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossG = Callable[[torch.Tensor], torch.Tensor]
METRICS = ("D", "G", "D(x)", "D(G(z))", "D accuracy")


@dataclass
class ImageData:
    """Training images (and labels) resident on the training device.

    Attributes:
        images: (N, ...) float tensor, values in [-1, 1], on the device.
        labels: (N,) int64 tensor on the device, or ``None``.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A random batch (with replacement), drawn on the device: no DataLoader, no host round trip."""
        index = torch.randint(len(self.images), (batch_size,), device=self.images.device)
        return self.images[index], (self.labels[index] if self.labels is not None else None)


def mnist_data(digits, device: torch.device | str, *, flatten: bool = True) -> ImageData:
    """:class:`ImageData` from :class:`helpers.data.Digits`: pixels scaled from [0, 1] to [-1, 1], moved to ``device``.

    Args:
        flatten: images as (N, 784) (MLP GANs) instead of (N, 1, 28, 28).
    """
    images = digits.images.float() * 2.0 - 1.0
    images = images.reshape(len(images), -1) if flatten else images.reshape(len(images), 1, 28, 28)
    return ImageData(images.to(device), digits.labels.to(device))


class GANTrainer:
    """Alternating D and G steps on one device, with history, dashboard and checkpoints.

    Args:
        G: maps (B, latent_dim) noise (and (B,) labels if ``num_classes``) to images shaped like ``data.images[0]``.
        D: maps images (and labels) to probabilities (B, 1) or (B,).
        opt_G, opt_D: the optimizers of G and D.
        d_loss: ``d_loss(d_real, d_fake)`` -> scalar tensor (inputs are probabilities).
        g_loss: ``g_loss(d_fake)`` -> scalar tensor.
        data: the real images (:class:`ImageData`) on the training device.
        latent_dim: length of z.
        batch_size: images per step, for D's real batch, D's fake batch and G's batch.
        num_classes: for a conditional GAN: G and D also take labels; fake labels are uniform.
        sample_noise: ``sample_noise(batch_size, latent_dim, device)`` (default: ``torch.randn``).
        sample_labels: ``sample_labels(batch_size, num_classes, device)`` -> (B,) int64 labels of the fake batch,
            for a conditional GAN (default: uniform ``torch.randint``).
        log_every: read the summed metrics back from the device every this many steps.
        fixed_z: the noise batch shown in every sample grid (default: 16 vectors from a fixed generator).
        checkpoint_path, checkpoint_every: save an atomic checkpoint there every this many steps (and at the end).
        amp_dtype: run G's and D's forward passes under ``torch.autocast`` with this dtype (``torch.bfloat16``);
            their outputs are cast to float32 before the loss functions, which therefore always see float32
            probabilities (autocast refuses BCE on low-precision probabilities).
        cuda_graph: capture the whole step in a CUDA graph: ``None`` (default) when training on CUDA with Adam/AdamW,
            ``True`` to require it (error elsewhere), ``False`` for eager steps. The optimizers are switched to
            ``capturable=True``. Learning rates are baked into the graph; changing one re-captures it.
    """

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_G: torch.optim.Optimizer,
        opt_D: torch.optim.Optimizer,
        *,
        d_loss: LossD,
        g_loss: LossG,
        data: ImageData,
        latent_dim: int,
        batch_size: int,
        num_classes: int | None = None,
        sample_noise: Callable[..., torch.Tensor] | None = None,
        sample_labels: Callable[..., torch.Tensor] | None = None,
        log_every: int = 100,
        fixed_z: torch.Tensor | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        amp_dtype: torch.dtype | None = None,
        cuda_graph: bool | None = None,
    ) -> None:
        if batch_size < 1 or latent_dim < 1 or log_every < 1:
            raise ValueError(f"batch_size, latent_dim and log_every must be at least 1, got "
                             f"{batch_size}, {latent_dim}, {log_every}")
        if num_classes is not None and data.labels is None:
            raise ValueError("a conditional GAN (num_classes set) needs data with labels")
        self.G, self.D, self.opt_G, self.opt_D = G, D, opt_G, opt_D
        self.d_loss, self.g_loss = d_loss, g_loss
        self.data, self.latent_dim, self.batch_size = data, latent_dim, batch_size
        self.num_classes = num_classes
        self.device = data.device
        self.sample_noise = sample_noise or (lambda n, dim, device: torch.randn(n, dim, device=device))
        self.sample_labels = sample_labels or (lambda n, k, device: torch.randint(k, (n,), device=device))
        self.log_every = log_every
        if fixed_z is None:
            fixed_z = torch.randn(16, latent_dim, generator=torch.Generator().manual_seed(1234))
        self.fixed_z = fixed_z.to(self.device)
        self.fixed_labels = (torch.arange(len(self.fixed_z), device=self.device) % num_classes) if num_classes else None
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        if amp_dtype not in (None, torch.bfloat16, torch.float16):
            raise ValueError(f"amp_dtype must be None, torch.bfloat16 or torch.float16, got {amp_dtype}")
        self.amp_dtype = amp_dtype
        self.history = History()
        self.step = 0
        self._sums = torch.zeros(len(METRICS), device=self.device)  # updated in place: a CUDA graph writes here
        self._count = 0
        self._graphed = GraphedStep(
            self._step_on_device, [self.opt_D, self.opt_G], self.device, enabled=cuda_graph,
            key=lambda: (optimizer_key([self.opt_D, self.opt_G]), self.batch_size, self.latent_dim, self.amp_dtype))

    @property
    def graph_status(self) -> str:
        """How steps run: ``"CUDA graph: replaying"``, ``"eager: cpu device (CUDA graphs need CUDA)"``, …"""
        return self._graphed.status

    # -- one step ---------------------------------------------------------------------------------

    def _fake_labels(self) -> torch.Tensor | None:
        if self.num_classes is None:
            return None
        return self.sample_labels(self.batch_size, self.num_classes, self.device)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # no weight-cast cache: the PyTorch docs require cache_enabled=False inside CUDA graph capture
        return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=False)

    def _generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        with self._autocast():
            return self.G(z) if labels is None else self.G(z, labels)

    def _discriminate(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        with self._autocast():
            out = self.D(x) if labels is None else self.D(x, labels)
        return out.float()  # the losses always get float32 probabilities

    def train_step(self) -> None:
        """One D step and one G step (replayed as a CUDA graph when one is captured); no host sync."""
        try:
            self._graphed()
        except RuntimeError as error:
            if "between 0 and 1" not in str(error):
                raise
            raise FloatingPointError(
                f"At step {self.step + 1} a probability fed to a BCE loss was NaN or outside [0, 1]: training "
                f"diverged. Lower the learning rate.") from error
        self._count += 1
        self.step += 1

    def _step_on_device(self) -> None:
        """The step itself: everything on the device, random inputs drawn inside, metric sums updated in place."""
        real, real_labels = self.data.sample(self.batch_size)
        if self.num_classes is None:
            real_labels = None  # an unconditional GAN ignores the labels the data may carry
        fake_labels = self._fake_labels()
        z = self.sample_noise(self.batch_size, self.latent_dim, self.device)
        fake = self._generate(z, fake_labels)  # one G forward serves both steps
        d_real = self._discriminate(real, real_labels)
        d_fake = self._discriminate(fake.detach(), fake_labels)  # D's step must not reach G
        loss_D = self.d_loss(d_real, d_fake)
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()

        loss_G = self.g_loss(self._discriminate(fake, fake_labels))  # through the updated D, into G
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()

        with torch.no_grad():
            d_real, d_fake = d_real.detach(), d_fake.detach()  # float32 already (_discriminate)
            accuracy = 0.5 * ((d_real > 0.5).float().mean() + (d_fake < 0.5).float().mean())
            self._sums += torch.stack([loss_D.detach().float(), loss_G.detach().float(),
                                       d_real.mean(), d_fake.mean(), accuracy])

    # -- the loop ---------------------------------------------------------------------------------

    def flush_log(self) -> dict[str, float]:
        """Average the metrics summed since the last log (one host sync), check them, record them in the history."""
        record = average_sums(self._sums, self._count, METRICS)  # the one host sync per log interval
        self._count = 0
        bad = [name for name in ("D", "G") if not math.isfinite(record[name])]
        if bad:
            first = self.history.steps[-1] + 1 if self.history.steps else 0
            raise FloatingPointError(
                f"The {' and '.join(bad)} loss became {record[bad[0]]} between step {first} and step {self.step}. "
                f"Training stopped. Lower the learning rate, or make the loss finite at 0 and 1 (clamp inside log).")
        self.history.log(self.step, **record)
        return record

    def train(self, num_steps: int, *, progress: bool = True, dashboard: bool | None = None,
              keep_dashboard: bool = True) -> History:
        """Run ``num_steps`` more steps (after any resumed ones) and return the history.

        Args:
            dashboard: draw the live dashboard (default: only when a person is watching,
                i.e. not under nbgrader, nbval or CI).
            keep_dashboard: ``False`` removes the live dashboard when training ends, for a cell that shows its
                own result figure next (lesson 3's ``report``).
        """
        return train_logged(self, num_steps, desc="GAN", postfix=("D", "G", "D accuracy"), board_factory=Dashboard,
                            progress=progress, dashboard=dashboard, keep_dashboard=keep_dashboard)

    # -- samples ----------------------------------------------------------------------------------

    @torch.no_grad()
    def samples(self, z: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G's images for ``z`` (default: the fixed noise batch), with G in eval mode; on the CPU."""
        z = self.fixed_z if z is None else z.to(self.device)
        if labels is None:
            labels = self.fixed_labels
        was_training = self.G.training
        self.G.eval()
        try:
            images = self._generate(z, labels)
        finally:
            self.G.train(was_training)
        return images.float().cpu()

    # -- checkpoints ------------------------------------------------------------------------------

    def _parts(self) -> dict:
        return {"G": self.G, "D": self.D, "opt_G": self.opt_G, "opt_D": self.opt_D, "history": self.history}

    def state(self) -> dict:
        return ckpt.training_state(self.step, self._parts(), fixed_z=self.fixed_z)

    def save(self, path: str | os.PathLike) -> None:
        """Write an atomic checkpoint (models, optimizers, step, history, RNG state)."""
        ckpt.save_atomic(self.state(), path)

    def resume(self, path: str | os.PathLike) -> bool:
        """Load the checkpoint at ``path`` if there is one; returns whether it did."""
        state = ckpt.restore(path, self._parts(), map_location=self.device)
        if state is None:
            return False
        self._graphed.reset()  # the loaded optimizer state is new tensors: a captured graph would miss them
        self.step = int(state["step"])
        self.fixed_z = state["fixed_z"].to(self.device)
        return True


class Dashboard(TrainingDashboard):
    """Loss curves, D's accuracy and the fixed-noise sample grid, redrawn in one output area
    (:class:`helpers.widgets.TrainingDashboard`): one figure that changes, not a new figure per log."""

    def figure(self):
        import matplotlib.pyplot as plt

        from .plotting import plot_history, show_images

        trainer = self.trainer
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), gridspec_kw={"width_ratios": [3, 3, 2]})
        if len(trainer.history):
            plot_history(trainer.history, names=["D", "G"], ax=axes[0], title="losses")
            plot_history(trainer.history, names=["D accuracy", "D(x)", "D(G(z))"], ax=axes[1], title="discriminator")
            axes[1].set_ylabel("")
            axes[1].set_ylim(-0.02, 1.02)
        images = trainer.samples()
        side = math.isqrt(images.shape[1]) if images.dim() == 2 else 0
        if side and side * side == images.shape[1]:  # flat square images, e.g. 784 = 28 x 28
            images = images.reshape(-1, 1, side, side)
        show_images(images, nrow=4, ax=axes[2], title=f"fixed z, step {trainer.step}", value_range=(-1, 1))
        fig.tight_layout()
        plt.close(fig)
        return fig

