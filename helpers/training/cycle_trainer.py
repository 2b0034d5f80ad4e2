"""The CycleGAN trainer of lesson 5: it runs **the student's** ``generator_step`` and ``discriminator_step``.

One training step (:meth:`CycleGANTrainer._step_on_device`) is the official ``optimize_parameters``:

1. a random crop of each domain, drawn on the device: ``real_a``, ``real_b``;
2. ``loss_G, fake_a, fake_b = generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=...,
   lambda_identity=...)`` — the lesson's update of both generators (discriminators frozen inside it);
3. the fakes go through the image pools (:class:`helpers.training.image_pool.ImagePool`);
4. ``loss_D = discriminator_step(D_A, D_B, opt_D, real_a, real_b, pooled_a, pooled_b)`` — the lesson's update of
   both discriminators.

Before any training the four networks run once on two fixed images (:meth:`CycleGANTrainer._check_networks`): a
network that does not fit (a wrong output shape, a discriminator without the official PatchGAN's keys and shapes, a
layer given the wrong number of channels) is refused with a message that names the layer and the shape expected.

This module holds no step and no loss. The loss functions the lesson passes (:class:`CycleLosses`) are only used
to measure G's loss terms (adversarial, cycle, identity, per direction) and each discriminator's loss on the fixed
images once per log, for the dashboard. The learning-rate schedule (``lr_factor``) is applied before every step.
Everything else (loop, sums, NaN stop, checkpoints, bf16, the CUDA graph) is :class:`helpers.training.engine.Trainer`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from helpers.contracts import state_dict_problem
from helpers.models.cyclegan import patch_map_size, patchgan_shapes
from helpers.training.cuda_graphs import optimizer_key
from helpers.training.engine import Trainer, as_loss, forward_checked
from helpers.training.image_pool import ImagePool


@dataclass
class CycleLosses:
    """The lesson's loss functions, used to *measure* G's loss terms and D's losses on the fixed images once per log
    (the training step itself is the lesson's ``generator_step`` / ``discriminator_step``)."""

    lsgan: Callable[..., torch.Tensor]
    discriminator: Callable[..., torch.Tensor]
    cycle: Callable[..., torch.Tensor]
    identity: Callable[..., torch.Tensor]


TERMS = ("adv A->B", "adv B->A", "cycle A", "cycle B", "identity A", "identity B")


class CycleGANTrainer(Trainer):
    """The CycleGAN loop around the lesson's two step functions, with pools, LR schedule and fixed images.

    Args:
        G_AB, G_BA: generators A -> B and B -> A; D_A, D_B: discriminators of domains A and B.
        opt_G: optimizer over both generators' parameters; opt_D: over both discriminators'.
        generator_step: ``generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=...,
            lambda_identity=...) -> (loss, fake_a, fake_b)``, the lesson's.
        discriminator_step: ``discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b) -> loss``, the
            lesson's; it receives the fakes drawn from the pools.
        data: unpaired images (``helpers.data.horse2zebra.UnpairedImages``): ``data.a`` on the training device and
            ``sample(batch_size, crop_size, flip=..., generator=...) -> (real_a, real_b)``, float in [-1, 1].
        losses: the lesson's loss functions (:class:`CycleLosses`), for the per-log loss terms; ``None``: no terms.
        batch_size, crop_size: images per domain per step (official: 1) and their size (official: 256).
        lambda_cycle, lambda_identity: passed to ``generator_step`` (official 10 and 0.5).
        pool_size: the image pools' size (official 50).
        lr_factor: ``lr_factor(step) -> float`` multiplies both optimizers' initial learning rates before every
            step (e.g. :func:`helpers.training.lr_schedule.linear_decay` counted in steps); ``None`` keeps them
            constant.
        fixed_a, fixed_b: (k, 3, crop, crop) images shown in every dashboard (default: 4 random crops of each domain
            drawn from a fixed generator).
        log_every, checkpoint_path, checkpoint_every, amp_dtype: see :class:`helpers.training.engine.Trainer`.
        cuda_graph: ``False`` (default) keeps every step eager; ``None`` replays the whole step as one CUDA graph on
            CUDA once the pools are full (their filling changes shapes); learning rates then become device tensors,
            so the schedule needs no re-capture. Not measured on a GPU yet: the CPU path is the tested one.
    """

    METRICS = ("G", "D")
    TERMS = TERMS
    POSTFIX = ("G", "D")
    DESC = "CycleGAN"

    def __init__(
        self,
        G_AB: nn.Module,
        G_BA: nn.Module,
        D_A: nn.Module,
        D_B: nn.Module,
        opt_G: torch.optim.Optimizer,
        opt_D: torch.optim.Optimizer,
        *,
        generator_step: Callable,
        discriminator_step: Callable,
        data,
        losses: CycleLosses | None = None,
        batch_size: int = 1,
        crop_size: int = 256,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        lr_factor: Callable[[int], float] | None = None,
        fixed_a: torch.Tensor | None = None,
        fixed_b: torch.Tensor | None = None,
        log_every: int = 50,
        checkpoint_path: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        amp_dtype: torch.dtype | None = None,
        cuda_graph: bool | None = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if crop_size < 4 or crop_size % 4:
            raise ValueError(f"crop_size must be a multiple of 4 (the generator halves it twice), got {crop_size}")
        if lambda_cycle < 0 or lambda_identity < 0:
            raise ValueError(f"lambda_cycle and lambda_identity must be >= 0, got {lambda_cycle}, {lambda_identity}")
        for name, fn in (("generator_step", generator_step), ("discriminator_step", discriminator_step)):
            if not callable(fn):
                raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
        self.G_AB, self.G_BA, self.D_A, self.D_B = G_AB, G_BA, D_A, D_B
        self.opt_G, self.opt_D, self.data, self.losses = opt_G, opt_D, data, losses
        self.generator_step, self.discriminator_step = generator_step, discriminator_step
        self.batch_size, self.crop_size = batch_size, crop_size
        self.lambda_cycle, self.lambda_identity = float(lambda_cycle), float(lambda_identity)
        self.pool_A, self.pool_B = ImagePool(pool_size), ImagePool(pool_size)
        self.lr_factor = lr_factor
        self._base_lr = [
            [float(g["initial_lr"] if "initial_lr" in g else g["lr"]) for g in opt.param_groups]
            for opt in (opt_G, opt_D)
        ]
        device = next(G_AB.parameters()).device
        if fixed_a is None or fixed_b is None:  # the same dashboard images every run; the global RNG is not used
            generator = torch.Generator(device=data.a.device).manual_seed(1234)
            a, b = data.sample(4, crop_size, flip=False, generator=generator)
            fixed_a = a if fixed_a is None else fixed_a
            fixed_b = b if fixed_b is None else fixed_b
        self.fixed_a, self.fixed_b = fixed_a.to(device), fixed_b.to(device)
        self._check_networks()
        super().__init__(
            device,
            [opt_G, opt_D],
            networks=[G_AB, G_BA, D_A, D_B],
            log_every=log_every,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            amp_dtype=amp_dtype,
            cuda_graph=cuda_graph,
        )
        if self._graphed.active:  # a tensor lr is read at replay time: the schedule needs no re-capture
            for opt in self.optimizers:
                for group in opt.param_groups:
                    group["lr"] = torch.tensor(float(group["lr"]), device=self.device)

    @torch.no_grad()
    def _check_networks(self) -> None:
        """Run the four networks once on two fixed images before any training, so a network that does not fit fails
        here with a message naming the layer and the shape expected, instead of deep inside the first step.

        Each generator must give back images of its input's shape in [-1, 1]; each discriminator must have the
        official 70x70 PatchGAN's state-dict keys and shapes (its width read from its first convolution) and give
        one score map of the official size per image."""
        for name, G, x in (("G_AB", self.G_AB, self.fixed_a[:2]), ("G_BA", self.G_BA, self.fixed_b[:2])):
            fake = forward_checked(G, (x,), name, f"2 images of shape {tuple(x.shape)}")
            if not isinstance(fake, torch.Tensor) or fake.shape != x.shape:
                got = tuple(fake.shape) if isinstance(fake, torch.Tensor) else type(fake).__name__
                raise ValueError(
                    f"{name}'s output for 2 images of shape {tuple(x.shape)} has shape {got}: a generator gives back "
                    f"images of the shape it was given (each residual block must keep (N, C, H, W))."
                )
            if bool(fake.isnan().any()) or fake.min() < -1 or fake.max() > 1:
                raise ValueError(
                    f"{name}'s outputs run from {fake.min().item():.3g} to {fake.max().item():.3g}: they must be "
                    f"images in [-1, 1] (a tanh after the generator's last layer)."
                )
        for name, D, x in (("D_A", self.D_A, self.fixed_a[:2]), ("D_B", self.D_B, self.fixed_b[:2])):
            first = next((p for p in D.parameters() if p.dim() == 4), None)
            ndf = first.shape[0] if first is not None else 64
            problem = state_dict_problem(D, patchgan_shapes(x.shape[1], ndf), f"{name} (a PatchGAN with ndf={ndf})")
            if problem:
                raise ValueError(problem)
            judged = forward_checked(D, (x,), name, f"2 images of shape {tuple(x.shape)}")
            expected = (2, 1, patch_map_size(x.shape[-2]), patch_map_size(x.shape[-1]))
            if not isinstance(judged, torch.Tensor) or tuple(judged.shape) != expected:
                got = tuple(judged.shape) if isinstance(judged, torch.Tensor) else type(judged).__name__
                raise ValueError(
                    f"{name}'s output for 2 images of shape {tuple(x.shape)} has shape {got}; the 70x70 PatchGAN "
                    f"gives one score map per image, {expected}: three 4x4 convolutions with stride 2 and two with "
                    f"stride 1, all with padding 1 (side {x.shape[-2]} -> {x.shape[-2] // 2} -> {x.shape[-2] // 4} "
                    f"-> {x.shape[-2] // 8} -> {x.shape[-2] // 8 - 1} -> {x.shape[-2] // 8 - 2})."
                )

    def _graph_key(self):
        return (
            optimizer_key(self.optimizers),
            self.batch_size,
            self.crop_size,
            self.amp_dtype,
            self.lambda_cycle,
            self.lambda_identity,
        )

    def _state_tensors(self) -> list[torch.Tensor]:
        return super()._state_tensors() + [p.images for p in (self.pool_A, self.pool_B) if p.images is not None]

    # -- one step ------------------------------------------------------------------------------------

    def _set_lr(self) -> None:
        if self.lr_factor is None:
            return
        factor = float(self.lr_factor(self.step))
        for opt, bases in zip(self.optimizers, self._base_lr):
            for group, base in zip(opt.param_groups, bases):
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(base * factor)
                else:
                    group["lr"] = base * factor

    def train_step(self, *, graph: bool = True) -> None:
        """The learning rate for this step, then the lesson's generator step and discriminator step."""
        self._set_lr()
        pools_full = all(p.count >= p.pool_size for p in (self.pool_A, self.pool_B))
        super().train_step(graph=graph and pools_full)  # filling the pools changes shapes from step to step: eager

    def _step_on_device(self) -> None:
        """Random crops on the device, the lesson's G step, the pools, the lesson's D step, the sums; no host sync."""
        real_a, real_b = self.data.sample(self.batch_size, self.crop_size)
        out = self.generator_step(
            self.G_AB,
            self.G_BA,
            self.D_A,
            self.D_B,
            self.opt_G,
            real_a,
            real_b,
            lambda_cycle=self.lambda_cycle,
            lambda_identity=self.lambda_identity,
        )
        if not (isinstance(out, (tuple, list)) and len(out) == 3):
            raise TypeError(
                f"generator_step must return (loss, fake_a, fake_b), got {type(out).__name__}"
                f"{f' of length {len(out)}' if isinstance(out, (tuple, list)) else ''}"
            )
        loss_G, fake_a, fake_b = out
        loss_G = as_loss(loss_G, "generator_step")
        for name, fake, real in (("fake_a", fake_a, real_b), ("fake_b", fake_b, real_a)):
            if not isinstance(fake, torch.Tensor) or fake.shape != real.shape:
                raise TypeError(
                    f"generator_step's {name} must be an image batch shaped like its input "
                    f"{tuple(real.shape)}, got {getattr(fake, 'shape', type(fake).__name__)}: return "
                    f"(loss, fake_a, fake_b) with fake_a = G_BA(real_b) and fake_b = G_AB(real_a)."
                )
        pooled_a, pooled_b = self.pool_A.query(fake_a), self.pool_B.query(fake_b)
        loss_D = as_loss(
            self.discriminator_step(self.D_A, self.D_B, self.opt_D, real_a, real_b, pooled_a, pooled_b),
            "discriminator_step",
        )
        self._add(loss_G, loss_D)

    @torch.no_grad()
    def _log_metrics(self) -> dict[str, torch.Tensor]:
        """G's loss terms and each D's loss on the fixed images (the lesson's loss functions), once per log."""
        if self.losses is None:
            return {}
        L, lc, li = self.losses, self.lambda_cycle, self.lambda_identity
        a, b = self.fixed_a, self.fixed_b
        fake_b, fake_a = self.G_AB(a), self.G_BA(b)
        d_fake_b, d_fake_a = self.D_B(fake_b), self.D_A(fake_a)
        terms = [
            L.lsgan(d_fake_b, True),
            L.lsgan(d_fake_a, True),
            L.cycle(a, self.G_BA(fake_b), lambda_cycle=lc),
            L.cycle(b, self.G_AB(fake_a), lambda_cycle=lc),
            L.identity(a, self.G_BA(a), lambda_identity=li, lambda_cycle=lc),
            L.identity(b, self.G_AB(b), lambda_identity=li, lambda_cycle=lc),
            L.discriminator(self.D_A(a), d_fake_a),
            L.discriminator(self.D_B(b), d_fake_b),
        ]
        return dict(zip(TERMS + ("D_A", "D_B"), terms))

    # -- translations --------------------------------------------------------------------------------

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AB") -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1] through ``G_AB`` (``"AB"``) or ``G_BA`` (``"BA"``), in eval mode."""
        if direction not in ("AB", "BA"):
            raise ValueError(f"direction must be 'AB' (A -> B) or 'BA' (B -> A), got {direction!r}")
        G = self.G_AB if direction == "AB" else self.G_BA
        was_training = G.training
        G.eval()
        try:
            return G(images.to(self.device)).float()
        finally:
            G.train(was_training)

    @torch.no_grad()
    def samples(self) -> dict[str, torch.Tensor]:
        """real/fake/reconstructed images of the fixed A and B batches, on the CPU."""
        fake_b, fake_a = self.translate(self.fixed_a, "AB"), self.translate(self.fixed_b, "BA")
        rec_a, rec_b = self.translate(fake_b, "BA"), self.translate(fake_a, "AB")
        out = {
            "real A": self.fixed_a,
            "fake B": fake_b,
            "rec A": rec_a,
            "real B": self.fixed_b,
            "fake A": fake_a,
            "rec B": rec_b,
        }
        return {k: v.float().cpu() for k, v in out.items()}

    # -- checkpoints ---------------------------------------------------------------------------------

    def parts(self) -> dict:
        return {
            "G_AB": self.G_AB,
            "G_BA": self.G_BA,
            "D_A": self.D_A,
            "D_B": self.D_B,
            "opt_G": self.opt_G,
            "opt_D": self.opt_D,
            "pool_A": self.pool_A,
            "pool_B": self.pool_B,
            "history": self.history,
        }

    def _extra_state(self) -> dict:
        return {"fixed_a": self.fixed_a, "fixed_b": self.fixed_b}

    def _load_extra_state(self, state: dict) -> None:
        self.fixed_a, self.fixed_b = state["fixed_a"].to(self.device), state["fixed_b"].to(self.device)
