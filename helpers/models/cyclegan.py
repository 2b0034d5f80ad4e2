"""CycleGAN's networks (Zhu et al. 2017) as in the official junyanz code, and loading the official weights.

:class:`ResnetGenerator` and :class:`NLayerDiscriminator` (the 70x70 PatchGAN) have the official layouts
(``InstanceNorm2d(affine=False, track_running_stats=False)``, conv bias on, reflection padding, transposed
convolutions with ``output_padding=1``, no dropout), so the official pretrained generators load with
``strict=True`` through :func:`load_pretrained`.

The rest of CycleGAN lives beside it: :mod:`helpers.training.image_pool` (image pool, learning-rate schedule),
:mod:`helpers.training.cycle_trainer` (the trainer that runs the lesson's steps),
:mod:`helpers.evaluation.domain_classifier` (the domain classifier metric). Naming: ``G_AB`` translates A -> B
(horse -> zebra), ``G_BA`` B -> A; ``D_A`` judges images of domain A, ``D_B`` of domain B. Images are float tensors
(N, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

import os

import torch
from torch import nn

from helpers.checkpoint import load_plain, refused_global, short_reason

# -- networks ---------------------------------------------------------------------------------------


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [pad, conv3x3, IN, ReLU, pad, conv3x3, IN](x); shape (N, dim, H, W) kept."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _norm(dim),
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
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, bias=True),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):  # two stride-2 upsamplings
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                _norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(
                f"ResnetGenerator expects images (N, C, H, W) with H and W multiples of 4, "
                f"got shape {tuple(x.shape)}: crop or resize the images first."
            )
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
            layers += [
                nn.Conv2d(ndf * previous, ndf * mult, 4, stride=2, padding=1, bias=True),
                _norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        previous, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * previous, ndf * mult, 4, stride=1, padding=1, bias=True),
            _norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
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
    (:class:`helpers.training.cycle_trainer.CycleGANTrainer`): then ``G`` gets its ``G_AB``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a plain state dict of tensors (it holds pickled code or objects: loaded with
            ``weights_only=True``, nothing in it is run) or is unreadable; or its keys or shapes do not fit ``G``
            (the message names them and says what to change).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No weights file at {path}. Download e.g. horse2zebra.pth from the official "
            f"CycleGAN repository (scripts/download_cyclegan_model.sh) and pass its path."
        )
    try:
        state = load_plain(path, map_location=map_location)  # weights_only=True: nothing in the file is run
    except Exception as error:  # noqa: BLE001 - any failure means "not a weights file"
        culprit = refused_global(error)
        what = (
            f"is not a plain state dict of tensors (it holds pickled code or objects: {culprit}, which are "
            f"never loaded)"
            if culprit
            else f"is not a readable weights file ({short_reason(error)})"
        )
        raise ValueError(
            f"{path} {what}. Download the official weights again "
            f"(scripts/download_cyclegan_model.sh in the official CycleGAN repository), or save your "
            f"own with torch.save(G.state_dict(), path)."
        ) from error
    if isinstance(state, dict) and "G_AB" in state and isinstance(state["G_AB"], dict):
        state = state["G_AB"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (found {type(state).__name__}).")
    others = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if others:
        raise ValueError(
            f"{path} is not a plain state dict of tensors: {others[:4]} hold no tensor. Download the "
            f"official weights again, or save your own with torch.save(G.state_dict(), path)."
        )
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = G.state_dict()
    stale = ("running_mean", "running_var", "num_batches_tracked")
    state = {k: v for k, v in state.items() if k in own or not k.endswith(stale)}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        blocks = sum(1 for k in state if k.endswith("conv_block.1.weight"))
        raise ValueError(
            f"{path} does not fit this generator: missing {missing[:4]}, unexpected {unexpected[:4]}, "
            f"wrong shapes {wrong[:3]}. The file has {blocks} residual blocks: build "
            f"ResnetGenerator(n_blocks={blocks}, ngf=64) to load it."
        )
    G.load_state_dict(state, strict=True)
    return G
