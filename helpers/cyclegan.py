"""CycleGAN (Zhu et al. 2017) as in the official junyanz code: networks, image pool, LR schedule, training loop.

- :class:`ResnetGenerator` and :class:`NLayerDiscriminator` (the 70x70 PatchGAN) have the official layouts
  (``InstanceNorm2d(affine=False, track_running_stats=False)``, conv bias on, reflection padding, transposed
  convolutions with ``output_padding=1``, no dropout), so the official pretrained generators load with
  ``strict=True`` through :func:`load_pretrained`.
- :class:`ImagePool` is the official history of 50 generated images, kept **on the device** as one tensor.
- :func:`linear_decay` is the official learning-rate rule (constant, then linear decay).
- :class:`CycleGANTrainer` runs the two-generator, two-discriminator loop with the **student's** loss functions
  (passed in as :class:`CycleLosses`; this module contains none of them), sums every loss term on the device
  and reads them back every ``log_every`` steps, stops on NaN naming the loss, saves atomic checkpoints and resumes
  exactly, and draws a dashboard updated in place.
- :class:`DomainClassifier` is a small CNN that tells domain A from domain B, for the "share of translated images
  classified as the target domain" metric on the stand-in data.

Naming: ``G_AB`` translates A -> B (horse -> zebra), ``G_BA`` B -> A; ``D_A`` judges images of domain A,
``D_B`` of domain B. Images are float tensors (N, 3, H, W) in [-1, 1] on the training device.
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
from .training import History, average_sums, check_num_steps, train_logged
from .widgets import TrainingDashboard

# -- networks ---------------------------------------------------------------------------------------


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [pad, conv3x3, IN, ReLU, pad, conv3x3, IN](x); shape (N, dim, H, W) kept."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The official CycleGAN generator: c7s1-64, d128, d256, ``n_blocks`` x R256, u128, u64, c7s1-3, tanh.

    Input (N, input_nc, H, W), output (N, output_nc, H, W) in [-1, 1]; H and W multiples of 4.
    ``n_blocks=9`` is the official setting for 256x256 images (6 for 128x128); the quick profile uses fewer.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9) -> None:
        super().__init__()
        if n_blocks < 0 or ngf < 1:
            raise ValueError(f"n_blocks must be >= 0 and ngf >= 1, got n_blocks={n_blocks}, ngf={ngf}")
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=True), _norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                       _norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):  # two stride-2 upsamplings
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                       _norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ResnetGenerator expects images (N, C, H, W) with H and W multiples of 4, "
                             f"got shape {tuple(x.shape)}: crop or resize the images first.")
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """The official PatchGAN discriminator (``n_layers=3``: each output sees a 70x70 patch).

    Input (N, input_nc, H, W); output raw scores (N, 1, H/8 - 2, W/8 - 2), e.g. (N, 1, 30, 30) for 256x256 and
    (N, 1, 6, 6) for 64x64 (no sigmoid: the least-squares GAN loss compares scores with 1 and 0).
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            previous, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, stride=2, padding=1, bias=True),
                       _norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        previous, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, stride=1, padding=1, bias=True),
                   _norm(ndf * mult), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The official ``init_type='normal'``: conv weights from N(0, gain), biases 0 (in place; returns ``net``)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return net


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def load_pretrained(G: nn.Module, path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load official weights (e.g. ``latest_net_G_A.pth`` / ``horse2zebra.pth``) into ``G`` with ``strict=True``.

    Like the official test code (``__patch_instance_norm_state_dict``), keys of InstanceNorm layers that the model
    does not have (``running_mean``, ``running_var``, ``num_batches_tracked``, saved by PyTorch < 0.4) are
    dropped; a ``module.`` prefix (DataParallel) is removed. Also accepts a checkpoint of this course
    (:class:`CycleGANTrainer`): then ``G`` gets its ``G_AB``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file's keys or shapes do not fit ``G`` (the message names them and says what to change).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at {path}. Download e.g. horse2zebra.pth from the official "
                                f"CycleGAN repository (scripts/download_cyclegan_model.sh) and pass its path.")
    state = torch.load(path, map_location=map_location, weights_only=False)
    if isinstance(state, dict) and "G_AB" in state and isinstance(state["G_AB"], dict):
        state = state["G_AB"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (found {type(state).__name__}).")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = G.state_dict()
    stale = ("running_mean", "running_var", "num_batches_tracked")
    state = {k: v for k, v in state.items() if k in own or not k.endswith(stale)}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
             for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        blocks = sum(1 for k in state if k.endswith("conv_block.1.weight"))
        raise ValueError(
            f"{path} does not fit this generator: missing {missing[:4]}, unexpected {unexpected[:4]}, "
            f"wrong shapes {wrong[:3]}. The file has {blocks} residual blocks: build "
            f"ResnetGenerator(n_blocks={blocks}, ngf=64) to load it.")
    G.load_state_dict(state, strict=True)
    return G


# -- image pool and schedule -------------------------------------------------------------------------


class ImagePool:
    """The official history of generated images (Shrivastava et al.), kept on the device.

    While fewer than ``pool_size`` images are stored, every image is stored and returned as it is. Once full, each
    image of a query is, with probability 1/2, swapped with a random stored one (the stored one is returned, the new
    one takes its place), else returned as it is. ``pool_size=0`` disables the pool.

    The stored images are one tensor (pool_size, C, H, W) on the images' device and the choice is made with
    ``torch.rand`` + ``torch.where``: no host synchronisation, and once the pool is full a query has fixed shapes
    (what a CUDA graph needs). The images of one batch swap with distinct slots, so every image that goes in is
    returned or stored exactly once (the official per-image loop may hand an image of the batch back at once).
    """

    def __init__(self, pool_size: int = 50) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.count = 0
        self.images: torch.Tensor | None = None

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> (N, C, H, W) to show the discriminator (detached)."""
        images = images.detach()
        if self.pool_size == 0:
            return images
        if self.images is None:
            self.images = torch.zeros((self.pool_size, *images.shape[1:]), dtype=images.dtype, device=images.device)
        elif self.images.shape[1:] != images.shape[1:]:
            raise ValueError(f"ImagePool holds images of shape {tuple(self.images.shape[1:])}, got "
                             f"{tuple(images.shape[1:])}: use one pool per image size.")
        n, out = len(images), images
        fill = min(n, self.pool_size - self.count)
        if fill > 0:  # filling phase: store and return as is
            self.images[self.count:self.count + fill] = images[:fill].to(self.images.dtype)
            self.count += fill
        rest = images[fill:]
        if len(rest):
            swap = torch.rand(len(rest), device=images.device) < 0.5
            if len(rest) <= self.pool_size:  # distinct slots: nothing is lost or returned twice
                slot = torch.rand(self.pool_size, device=images.device).argsort()[:len(rest)]
            else:
                slot = torch.randint(self.pool_size, (len(rest),), device=images.device)
            stored = self.images[slot]
            keep = swap.view(-1, *([1] * (images.dim() - 1)))
            returned = torch.where(keep, stored.to(images.dtype), rest)
            self.images[slot] = torch.where(keep, rest.to(self.images.dtype), stored)
            out = torch.cat([images[:fill], returned]) if fill else returned
        return out

    def state_dict(self) -> dict:
        return {"pool_size": self.pool_size, "count": self.count,
                "images": None if self.images is None else self.images.cpu()}

    def load_state_dict(self, state: dict, device: torch.device | str | None = None) -> None:
        """Load :meth:`state_dict`; the images stay where they were loaded (``checkpoint.load``'s ``map_location``)
        unless ``device`` is given."""
        self.pool_size, self.count = int(state["pool_size"]), int(state["count"])
        images = state["images"]
        self.images = None if images is None else images if device is None else images.to(device)


def linear_decay(n_constant: int, n_decay: int, *, start: int = 0) -> Callable[[int], float]:
    """The official learning-rate factor: 1 for ``n_constant`` epochs (or steps), then linear decay.

    ``factor(t) = 1 - max(0, t + 1 + start - n_constant) / (n_decay + 1)`` as in the official ``lambda_rule``
    (``epoch_count = start + 1``): after the last of the ``n_constant + n_decay`` epochs it has reached
    ``1 / (n_decay + 1)``, and 0 one epoch later. Use with ``torch.optim.lr_scheduler.LambdaLR`` or
    :class:`CycleGANTrainer` (``lr_factor=``).
    """
    if n_constant < 0 or n_decay < 0:
        raise ValueError(f"n_constant and n_decay must be >= 0, got {n_constant}, {n_decay}")

    def factor(t: int) -> float:
        return max(0.0, 1.0 - max(0, t + 1 + start - n_constant) / float(n_decay + 1))

    return factor


# -- the loop ----------------------------------------------------------------------------------------


@dataclass
class CycleLosses:
    """The loss functions the trainer calls (the student's; see lesson 5 for their contracts).

    ``generator`` and ``discriminator`` are what is minimised; ``lsgan``, ``cycle`` and ``identity`` are
    only used to log each term of the generator's loss separately.
    """

    lsgan: Callable[..., torch.Tensor]
    discriminator: Callable[..., torch.Tensor]
    cycle: Callable[..., torch.Tensor]
    identity: Callable[..., torch.Tensor]
    generator: Callable[..., torch.Tensor]


METRICS = ("G", "D_A", "D_B", "adv A->B", "adv B->A", "cycle A", "cycle B", "identity A", "identity B")
LOSS_NAMES = {"G": "generator", "D_A": "discriminator D_A", "D_B": "discriminator D_B"}


class CycleGANTrainer:
    """The CycleGAN loop: a step updates both generators (D frozen), then both discriminators on pooled fakes.

    Args:
        G_AB, G_BA: generators A -> B and B -> A; D_A, D_B: discriminators of domains A and B.
        opt_G: optimizer over both generators' parameters; opt_D: over both discriminators'.
        losses: the loss functions (:class:`CycleLosses`).
        data: unpaired images (``helpers.horse2zebra.UnpairedImages``): ``data.a`` on the training device and
            ``sample(batch_size, crop_size, flip=..., generator=...) -> (real_a, real_b)``, float in [-1, 1].
        batch_size, crop_size: images per domain per step (official: 1) and their size (official: 256).
        lambda_cycle, lambda_identity: weights of the cycle and identity terms (official 10 and 0.5; with
            ``lambda_identity=0`` the two identity passes are skipped).
        pool_size: the image pools' size (official 50).
        lr_factor: ``lr_factor(step) -> float`` multiplies both optimizers' initial learning rates before every
            step (e.g. :func:`linear_decay` counted in steps); ``None`` keeps them constant.
        fixed_a, fixed_b: (k, 3, crop, crop) images shown in every dashboard (default: 4 random crops of each domain
            drawn from a fixed generator).
        log_every: read the summed losses back every this many steps (the only host sync).
        checkpoint_path, checkpoint_every: atomic checkpoint there every this many steps and at the end.
        amp_dtype: ``torch.bfloat16`` runs the networks under autocast (losses get float32); meant for GPUs.
        cuda_graph: on CUDA, replay the whole step (data crops, both updates, pools, metric sums) as one CUDA graph
            (:mod:`helpers.graphs`) once the image pools are full (their filling changes shapes); learning rates
            become device tensors so the schedule needs no re-capture. ``False`` (default) keeps every step eager,
            ``None`` uses a graph when on CUDA. If capture fails, steps run eagerly and :attr:`graph_status` says why.
            Not measured on a GPU yet: the CPU path is the tested one.
    """

    def __init__(self, G_AB: nn.Module, G_BA: nn.Module, D_A: nn.Module, D_B: nn.Module,
                 opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer, *, losses: CycleLosses, data,
                 batch_size: int = 1, crop_size: int = 256, lambda_cycle: float = 10.0, lambda_identity: float = 0.5,
                 pool_size: int = 50, lr_factor: Callable[[int], float] | None = None,
                 fixed_a: torch.Tensor | None = None, fixed_b: torch.Tensor | None = None, log_every: int = 50,
                 checkpoint_path: str | os.PathLike | None = None, checkpoint_every: int | None = None,
                 amp_dtype: torch.dtype | None = None, cuda_graph: bool | None = False) -> None:
        if batch_size < 1 or log_every < 1:
            raise ValueError(f"batch_size and log_every must be at least 1, got {batch_size}, {log_every}")
        if crop_size < 4 or crop_size % 4:
            raise ValueError(f"crop_size must be a multiple of 4 (the generator halves it twice), got {crop_size}")
        if lambda_cycle < 0 or lambda_identity < 0:
            raise ValueError(f"lambda_cycle and lambda_identity must be >= 0, got {lambda_cycle}, {lambda_identity}")
        if amp_dtype not in (None, torch.bfloat16, torch.float16):
            raise ValueError(f"amp_dtype must be None, torch.bfloat16 or torch.float16, got {amp_dtype}")
        self.G_AB, self.G_BA, self.D_A, self.D_B = G_AB, G_BA, D_A, D_B
        self.opt_G, self.opt_D, self.losses, self.data = opt_G, opt_D, losses, data
        self.batch_size, self.crop_size = batch_size, crop_size
        self.lambda_cycle, self.lambda_identity = float(lambda_cycle), float(lambda_identity)
        self.pool_A, self.pool_B = ImagePool(pool_size), ImagePool(pool_size)
        self.lr_factor = lr_factor
        self._base_lr = [[float(g["initial_lr"] if "initial_lr" in g else g["lr"]) for g in opt.param_groups]
                         for opt in (opt_G, opt_D)]
        self.device = next(G_AB.parameters()).device
        if fixed_a is None or fixed_b is None:  # the same dashboard images every run; the global RNG is not used
            generator = torch.Generator(device=data.a.device).manual_seed(1234)
            a, b = data.sample(4, crop_size, flip=False, generator=generator)
            fixed_a = a if fixed_a is None else fixed_a
            fixed_b = b if fixed_b is None else fixed_b
        self.fixed_a, self.fixed_b = fixed_a.to(self.device), fixed_b.to(self.device)
        self.log_every = log_every
        self.checkpoint_path, self.checkpoint_every = checkpoint_path, checkpoint_every
        self.amp_dtype = amp_dtype
        self.history = History()
        self.step = 0
        self._sums = torch.zeros(len(METRICS), device=self.device)  # updated in place: a CUDA graph writes here
        self._count = 0
        self._graphed = GraphedStep(
            self._step_on_device, [self.opt_G, self.opt_D], self.device, enabled=cuda_graph,
            key=lambda: (optimizer_key([self.opt_G, self.opt_D]), self.batch_size, self.crop_size, self.amp_dtype,
                         self.lambda_cycle, self.lambda_identity))
        if self._graphed.active:  # a tensor lr is read at replay time: the schedule needs no re-capture
            for opt in (self.opt_G, self.opt_D):
                for group in opt.param_groups:
                    group["lr"] = torch.tensor(float(group["lr"]), device=self.device)

    @property
    def graph_status(self) -> str:
        """How steps run, e.g. ``"eager: cpu device (CUDA graphs need CUDA)"`` or ``"CUDA graph: replaying"``."""
        return self._graphed.status

    # -- one step ------------------------------------------------------------------------------------

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # no weight-cast cache: the PyTorch docs require cache_enabled=False inside CUDA graph capture
        return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=False)

    def _net(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return net(x).float()

    def _set_lr(self) -> None:
        if self.lr_factor is None:
            return
        factor = float(self.lr_factor(self.step))
        for opt, bases in zip((self.opt_G, self.opt_D), self._base_lr):
            for group, base in zip(opt.param_groups, bases):
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(base * factor)
                else:
                    group["lr"] = base * factor

    def train_step(self) -> None:
        """One generator update (both directions, discriminators frozen) then one discriminator update."""
        self._set_lr()
        pools_full = all(p.count >= p.pool_size for p in (self.pool_A, self.pool_B))
        if pools_full:
            self._graphed()
        else:  # filling the pools changes shapes from step to step: eager
            self._step_on_device()
        self._count += 1
        self.step += 1

    def _step_on_device(self) -> None:
        """The step itself: random crops drawn on the device inside, metric sums updated in place, no host sync."""
        real_a, real_b = self.data.sample(self.batch_size, self.crop_size)
        L, lc, li = self.losses, self.lambda_cycle, self.lambda_identity
        fake_b, fake_a = self._net(self.G_AB, real_a), self._net(self.G_BA, real_b)
        cycled_a, cycled_b = self._net(self.G_BA, fake_b), self._net(self.G_AB, fake_a)
        if li > 0:
            same_a, same_b = self._net(self.G_BA, real_a), self._net(self.G_AB, real_b)
        else:  # identity term switched off: skip two generator passes (|real - real| = 0)
            same_a, same_b = real_a, real_b

        for D in (self.D_A, self.D_B):
            D.requires_grad_(False)  # G's step must not compute or leave gradients in D
        d_fake_b, d_fake_a = self._net(self.D_B, fake_b), self._net(self.D_A, fake_a)
        loss_G = L.generator(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                             lambda_cycle=lc, lambda_identity=li)
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        for D in (self.D_A, self.D_B):
            D.requires_grad_(True)

        pooled_b, pooled_a = self.pool_B.query(fake_b), self.pool_A.query(fake_a)
        loss_D_B = L.discriminator(self._net(self.D_B, real_b), self._net(self.D_B, pooled_b))
        loss_D_A = L.discriminator(self._net(self.D_A, real_a), self._net(self.D_A, pooled_a))
        self.opt_D.zero_grad(set_to_none=True)
        (loss_D_A + loss_D_B).backward()
        self.opt_D.step()

        with torch.no_grad():
            terms = [loss_G, loss_D_A, loss_D_B, L.lsgan(d_fake_b, True), L.lsgan(d_fake_a, True),
                     L.cycle(real_a, cycled_a, lambda_cycle=lc), L.cycle(real_b, cycled_b, lambda_cycle=lc),
                     L.identity(real_a, same_a, lambda_identity=li, lambda_cycle=lc),
                     L.identity(real_b, same_b, lambda_identity=li, lambda_cycle=lc)]
            self._sums += torch.stack([t.detach().float().reshape(()) for t in terms])

    # -- the loop ------------------------------------------------------------------------------------

    def flush_log(self) -> dict[str, float]:
        record = average_sums(self._sums, self._count, METRICS)  # the one host sync per log interval
        self._count = 0
        bad = [name for name in METRICS if not math.isfinite(record[name])]
        if bad:
            first = self.history.steps[-1] + 1 if self.history.steps else 1
            named = ", ".join(f"{LOSS_NAMES.get(n, n + ' term')} = {record[n]}" for n in bad)
            raise FloatingPointError(
                f"Training stopped: the loss became NaN or infinite between step {first} and step {self.step} "
                f"({named}). Lower the learning rate, check your loss functions, or resume from the last checkpoint.")
        self.history.log(self.step, **record)
        return record

    def train(self, num_steps: int, *, progress: bool = True, dashboard: bool | None = None,
              keep_dashboard: bool = True) -> History:
        """Run ``num_steps`` more steps (after any resumed ones) and return the history.

        Args:
            dashboard: draw the live dashboard (default: only when a person is watching, i.e. not under
                nbgrader, nbval or CI).
            keep_dashboard: ``False`` removes the live dashboard when training ends, for a cell that shows its
                own result figure next.
        """
        return train_logged(self, num_steps, desc="CycleGAN", postfix=("G", "D_A", "D_B"),
                            board_factory=CycleGANDashboard, progress=progress, dashboard=dashboard,
                            keep_dashboard=keep_dashboard)

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
            return self._net(G, images.to(self.device))
        finally:
            G.train(was_training)

    @torch.no_grad()
    def samples(self) -> dict[str, torch.Tensor]:
        """real/fake/reconstructed images of the fixed A and B batches, on the CPU."""
        fake_b, fake_a = self.translate(self.fixed_a, "AB"), self.translate(self.fixed_b, "BA")
        rec_a, rec_b = self.translate(fake_b, "BA"), self.translate(fake_a, "AB")
        out = {"real A": self.fixed_a, "fake B": fake_b, "rec A": rec_a,
               "real B": self.fixed_b, "fake A": fake_a, "rec B": rec_b}
        return {k: v.float().cpu() for k, v in out.items()}

    # -- checkpoints ---------------------------------------------------------------------------------

    def _parts(self) -> dict:
        return {"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B, "opt_G": self.opt_G,
                "opt_D": self.opt_D, "pool_A": self.pool_A, "pool_B": self.pool_B, "history": self.history}

    def state(self) -> dict:
        return ckpt.training_state(self.step, self._parts(), fixed_a=self.fixed_a, fixed_b=self.fixed_b)

    def save(self, path: str | os.PathLike) -> None:
        """Write an atomic checkpoint (four networks, optimizers, pools, step, history, RNG state)."""
        ckpt.save_atomic(self.state(), path)

    def resume(self, path: str | os.PathLike) -> bool:
        """Load the checkpoint at ``path`` if there is one; returns whether it did."""
        state = ckpt.restore(path, self._parts(), map_location=self.device)
        if state is None:
            return False
        self.step = int(state["step"])
        self.fixed_a, self.fixed_b = state["fixed_a"].to(self.device), state["fixed_b"].to(self.device)
        self._graphed.reset()  # the loaded tensors are new: a captured graph would miss them
        return True


class CycleGANDashboard(TrainingDashboard):
    """Loss curves per term and the fixed images (real A, fake B, rec A / real B, fake A, rec B), in one output
    area updated in place (:class:`helpers.widgets.TrainingDashboard`)."""

    def figure(self):
        return cyclegan_figure(self.trainer)


def cyclegan_figure(trainer: CycleGANTrainer, *, title: str = ""):
    """Loss curves (G, D, each term) and rows real A | fake B | rec A and real B | fake A | rec B."""
    import matplotlib.pyplot as plt

    from .plotting import plot_history, show_images

    images = trainer.samples()
    fig = plt.figure(figsize=(14, 5.2))
    grid = fig.add_gridspec(2, 5, width_ratios=[3, 3, 2, 2, 2])
    curves = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])
    if len(trainer.history):
        plot_history(trainer.history, names=["G"], ax=curves[0], title=f"{title} generator loss".strip())
        plot_history(trainer.history, names=["D_A", "D_B"], ax=curves[1], title="discriminator losses")
        plot_history(trainer.history, names=[n for n in METRICS[3:] if any(trainer.history[n])], ax=curves[2],
                     title="generator loss terms")
    for row, keys in enumerate((("real A", "fake B", "rec A"), ("real B", "fake A", "rec B"))):
        for col, key in enumerate(keys):
            ax = fig.add_subplot(grid[row, 2 + col])
            show_images(images[key], nrow=2, ax=ax, value_range=(-1, 1), title=f"{key} (step {trainer.step})")
    fig.tight_layout()
    plt.close(fig)
    return fig


# -- the domain classifier (metric on the stand-in data) ---------------------------------------------


DOMAINS = ("A", "B", "neither")


class DomainClassifier(nn.Module):
    """A small CNN: images (N, 3, H, W) in [-1, 1] -> logits (N, 3) of the classes :data:`DOMAINS`: a photo of
    domain A, of domain B, or neither (noise, scrambled or noise-covered images: what an untrained generator makes).
    Any H, W >= 16."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, len(DOMAINS)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def not_a_photo(real: torch.Tensor) -> torch.Tensor:
    """Images that belong to neither domain, made from real crops (N, 3, H, W) in [-1, 1], on their device: a third
    smooth or speckled colour noise, a third buried under Gaussian noise, a third scrambled in 8×8 tiles."""
    n, c, h, w = real.shape
    k = n // 3
    scale = int(torch.randint(1, 5, ()).item())  # colour blobs of 2, 4, 8 or 16 pixels
    coarse = torch.rand(k, c, max(1, h // (2 ** scale)), max(1, w // (2 ** scale)), device=real.device) * 2 - 1
    blobs = nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    noisy = (real[k:2 * k] + torch.randn_like(real[k:2 * k]) * (0.5 + torch.rand((), device=real.device))).clamp(-1, 1)
    rest = real[2 * k:]
    tile = 8 if h % 8 == 0 and w % 8 == 0 else 1
    tiles = rest.unfold(2, tile, tile).unfold(3, tile, tile)  # (m, c, h/t, w/t, t, t)
    m, _, th, tw = tiles.shape[:4]
    order = torch.argsort(torch.rand(m, th * tw, device=real.device), dim=1)
    flat = tiles.reshape(m, c, th * tw, tile, tile)
    flat = torch.gather(flat, 2, order[:, None, :, None, None].expand_as(flat))
    scrambled = flat.reshape(m, c, th, tw, tile, tile).permute(0, 1, 2, 4, 3, 5).reshape(m, c, h, w)
    return torch.cat([blobs, noisy, scrambled])


def train_domain_classifier(data, crop_size: int, *, num_steps: int = 300, batch_size: int = 32,
                            lr: float = 2e-3) -> DomainClassifier:
    """Train a :class:`DomainClassifier` on real crops of A and B from ``data`` and on :func:`not_a_photo` images
    (A -> 0, B -> 1, neither -> 2); returns it in eval mode, on the data's device. Seconds on a CPU at 64x64."""
    check_num_steps(num_steps)
    a, _ = data.sample(1, crop_size)
    net = DomainClassifier().to(a.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    targets = torch.arange(len(DOMAINS), device=a.device).repeat_interleave(batch_size)
    for _ in range(num_steps):
        real_a, real_b = data.sample(batch_size, crop_size)
        neither = not_a_photo(torch.cat([real_a, real_b])[torch.randperm(2 * batch_size, device=a.device)[:batch_size]])
        loss = nn.functional.cross_entropy(net(torch.cat([real_a, real_b, neither])), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def domain_share(classifier: nn.Module, images: torch.Tensor, domain: str) -> float:
    """Share (0..1) of ``images`` (N, 3, H, W) in [-1, 1] that ``classifier`` assigns to ``domain``
    ("A", "B" or "neither"), the class of the largest logit."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    return float((classifier(images).argmax(dim=1) == DOMAINS.index(domain)).float().mean())


@torch.no_grad()
def cycle_error(G_forward: nn.Module, G_back: nn.Module, images: torch.Tensor) -> float:
    """Mean absolute difference between ``images`` and ``G_back(G_forward(images))`` (pixels in [-1, 1]; 0 is
    perfect). Both generators are run in eval mode."""
    modes = G_forward.training, G_back.training
    G_forward.eval(), G_back.eval()
    try:
        return float((G_back(G_forward(images)) - images).abs().mean())
    finally:
        G_forward.train(modes[0]), G_back.train(modes[1])
