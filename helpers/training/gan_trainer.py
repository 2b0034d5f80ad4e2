"""The GAN trainer of lessons 3 and 4: it runs **the student's** ``discriminator_step`` and ``generator_step``.

Each training step (:meth:`GANTrainer._step_on_device`) draws a real batch (with its labels, for a conditional
GAN), the fake labels and one noise batch z on the device, then calls the lesson's two step functions in the order
of *GANs in Action* ch. 3: D's update on real images and detached fakes, then G's update through the updated D
(on the same z). This module holds no step and no loss: the lesson passes its own (tests and benchmarks carry
their reference steps).

The ``d_loss`` the step receives is the lesson's, wrapped: it also adds D(x), D(G(z)) and D's accuracy to the sums
the trainer reads once per log, and casts D's outputs to float32 first (autocast). Everything else (the loop, the
sums, NaN stop, checkpoints, bf16, the CUDA graph) is :class:`helpers.training.engine.Trainer`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from helpers.data.mnist import ImageData
from helpers.training.cuda_graphs import optimizer_key
from helpers.training.engine import Trainer, as_loss, forward_checked

LossD = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


LossG = Callable[[torch.Tensor], torch.Tensor]


METRICS = ("D", "G", "D(x)", "D(G(z))", "D accuracy")


class GANTrainer(Trainer):
    """Alternating D and G updates written by the lesson, run on one device, with history, checkpoints, bf16, graphs.

    Args:
        G: maps (B, latent_dim) noise (and (B,) labels if ``num_classes``) to images shaped like ``data.images[0]``.
        D: maps images (and labels) to probabilities (B, 1) or (B,).
        opt_G, opt_D: the optimizers of G and D.
        discriminator_step: the lesson's D update, called as
            ``discriminator_step(G, D, opt_D, real, z, d_loss)``, or for a conditional GAN
            ``discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss)``; returns D's loss tensor.
        generator_step: the lesson's G update, ``generator_step(G, D, opt_G, z, g_loss)`` or
            ``generator_step(G, D, opt_G, z, fake_labels, g_loss)``; returns G's loss tensor.
        d_loss: ``d_loss(d_real, d_fake)`` -> scalar (probabilities in); handed to ``discriminator_step``.
        g_loss: ``g_loss(d_fake)`` -> scalar; handed to ``generator_step``.
        data: the real images (:class:`ImageData`) on the training device.
        latent_dim: length of z.
        batch_size: images per step (D's real batch, the fake batch, G's batch).
        sample_noise: ``sample_noise(batch_size, latent_dim, device)`` -> (B, latent_dim) z on the device.
        num_classes: for a conditional GAN: G and D also take labels.
        sample_labels: ``sample_labels(batch_size, num_classes, device)`` -> (B,) int64 fake labels (conditional).
        log_every: read the summed metrics back from the device every this many steps.
        fixed_z: the noise batch shown in every sample grid (default: 16 vectors from a fixed generator).
        checkpoint_path, checkpoint_every, amp_dtype, cuda_graph: see :class:`helpers.training.engine.Trainer`
            (``cuda_graph=None`` captures on CUDA with Adam/AdamW; learning rates are baked in, a change re-captures).
    """

    METRICS = METRICS
    POSTFIX = ("D", "G", "D accuracy")
    DESC = "GAN"

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_G: torch.optim.Optimizer,
        opt_D: torch.optim.Optimizer,
        *,
        discriminator_step: Callable[..., torch.Tensor],
        generator_step: Callable[..., torch.Tensor],
        d_loss: LossD,
        g_loss: LossG,
        data: ImageData,
        latent_dim: int,
        batch_size: int,
        sample_noise: Callable[..., torch.Tensor],
        num_classes: int | None = None,
        sample_labels: Callable[..., torch.Tensor] | None = None,
        log_every: int = 100,
        fixed_z: torch.Tensor | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        amp_dtype: torch.dtype | None = None,
        cuda_graph: bool | None = None,
    ) -> None:
        if batch_size < 1 or latent_dim < 1:
            raise ValueError(f"batch_size and latent_dim must be at least 1, got {batch_size}, {latent_dim}")
        if num_classes is not None and (data.labels is None or sample_labels is None):
            raise ValueError("a conditional GAN (num_classes set) needs data with labels and a sample_labels function")
        for name, fn in (
            ("discriminator_step", discriminator_step),
            ("generator_step", generator_step),
            ("sample_noise", sample_noise),
            ("d_loss", d_loss),
            ("g_loss", g_loss),
        ):
            if not callable(fn):
                raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
        self.G, self.D, self.opt_G, self.opt_D = G, D, opt_G, opt_D
        self.discriminator_step, self.generator_step = discriminator_step, generator_step
        self.d_loss, self.g_loss = d_loss, g_loss
        self.data, self.latent_dim, self.batch_size = data, latent_dim, batch_size
        self.sample_noise, self.num_classes, self.sample_labels = sample_noise, num_classes, sample_labels
        device = data.device
        if fixed_z is None:
            fixed_z = torch.randn(16, latent_dim, generator=torch.Generator().manual_seed(1234))
        self.fixed_z = fixed_z.to(device)
        self.fixed_labels = (torch.arange(len(self.fixed_z), device=device) % num_classes) if num_classes else None
        self._judged: tuple[torch.Tensor, torch.Tensor] | None = None
        self._check_networks()
        super().__init__(
            device,
            [opt_D, opt_G],
            networks=[G, D],
            log_every=log_every,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            amp_dtype=amp_dtype,
            cuda_graph=cuda_graph,
        )

    @torch.no_grad()
    def _check_networks(self) -> None:
        """Run G and D once on two samples before any training, so a network that does not fit the data fails here
        with a message that names the layer and the shapes, instead of deep inside the first training step."""
        z = self.fixed_z[:2]
        labels = None if self.num_classes is None else self.fixed_labels[:2]
        extra = () if labels is None else (labels,)
        fake = forward_checked(self.G, (z, *extra), "G", f"z of shape {tuple(z.shape)} (latent_dim={self.latent_dim})")
        real = self.data.images[:2]
        if not isinstance(fake, torch.Tensor) or fake.shape != real.shape:
            got = tuple(fake.shape) if isinstance(fake, torch.Tensor) else type(fake).__name__
            raise ValueError(
                f"G's output for 2 noise vectors has shape {got}; the training images have shape "
                f"{tuple(real.shape)}: G's last layer must give {tuple(real.shape[1:])} per sample."
            )
        judged = forward_checked(self.D, (real, *extra), "D", f"real images of shape {tuple(real.shape)}")
        if not isinstance(judged, torch.Tensor) or judged.shape not in ((2, 1), (2,)):
            got = tuple(judged.shape) if isinstance(judged, torch.Tensor) else type(judged).__name__
            raise ValueError(f"D's output for 2 images has shape {got}: D must give one probability per image, (2, 1).")
        if bool(judged.isnan().any()) or judged.min() < 0 or judged.max() > 1:
            raise ValueError(
                f"D's outputs run from {judged.min().item():.3g} to {judged.max().item():.3g}: they must be "
                f"probabilities in [0, 1] (a sigmoid after D's last layer), as the BCE losses expect."
            )

    def _graph_key(self):
        return optimizer_key(self.optimizers), self.batch_size, self.latent_dim, self.amp_dtype

    # -- one step ---------------------------------------------------------------------------------

    def _judging_d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """The lesson's ``d_loss``, recording D's outputs for the metrics (float32, as under autocast)."""
        d_real, d_fake = d_real.float(), d_fake.float()
        self._judged = (d_real, d_fake)
        return self.d_loss(d_real, d_fake)

    def _float_g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return self.g_loss(d_fake.float())

    def train_step(self, *, graph: bool = True) -> None:
        """One D step and one G step (the lesson's), replayed as a CUDA graph when one is captured; no host sync."""
        try:
            super().train_step(graph=graph)
        except RuntimeError as error:
            if "between 0 and 1" not in str(error):
                raise
            raise FloatingPointError(
                f"At step {self.step + 1} a probability fed to a BCE loss was NaN or outside [0, 1]: training "
                f"diverged. Lower the learning rate."
            ) from error

    def _step_on_device(self) -> None:
        """Draw the batch, the labels and z on the device; call the lesson's D step, then its G step; add metrics."""
        real, real_labels = self.data.sample(self.batch_size)
        z = self.sample_noise(self.batch_size, self.latent_dim, self.device)
        self._judged = None
        if self.num_classes is None:
            loss_D = self.discriminator_step(self.G, self.D, self.opt_D, real, z, self._judging_d_loss)
            judged = self._judged
            loss_G = self.generator_step(self.G, self.D, self.opt_G, z, self._float_g_loss)
        else:
            fake_labels = self.sample_labels(self.batch_size, self.num_classes, self.device)
            loss_D = self.discriminator_step(
                self.G, self.D, self.opt_D, real, real_labels, z, fake_labels, self._judging_d_loss
            )
            judged = self._judged
            loss_G = self.generator_step(self.G, self.D, self.opt_G, z, fake_labels, self._float_g_loss)
        loss_D, loss_G = as_loss(loss_D, "discriminator_step"), as_loss(loss_G, "generator_step")
        if judged is None:
            raise RuntimeError(
                "discriminator_step never called the d_loss it was given: compute D's loss as "
                "d_loss(D(real), D(fake)) with the function passed in, so the trainer can follow "
                "D(x) and D(G(z))."
            )
        d_real, d_fake = (t.detach() for t in judged)
        accuracy = 0.5 * ((d_real > 0.5).float().mean() + (d_fake < 0.5).float().mean())
        self._add(loss_D, loss_G, d_real.mean(), d_fake.mean(), accuracy)

    # -- samples ----------------------------------------------------------------------------------

    @torch.no_grad()
    def samples(self, z: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G's images for ``z`` (default: the fixed noise batch), with G in eval mode; float32 on the CPU."""
        z = self.fixed_z if z is None else z.to(self.device)
        if labels is None:
            labels = self.fixed_labels
        was_training = self.G.training
        self.G.eval()
        try:
            images = self.G(z) if labels is None else self.G(z, labels.to(self.device))
        finally:
            self.G.train(was_training)
        return images.float().cpu()

    # -- checkpoints ------------------------------------------------------------------------------

    def parts(self) -> dict:
        return {"G": self.G, "D": self.D, "opt_G": self.opt_G, "opt_D": self.opt_D, "history": self.history}

    def _extra_state(self) -> dict:
        return {"fixed_z": self.fixed_z}

    def _load_extra_state(self, state: dict) -> None:
        self.fixed_z = state["fixed_z"].to(self.device)
