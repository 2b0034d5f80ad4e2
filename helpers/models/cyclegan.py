"""CycleGAN's generator assembly (Zhu et al. 2017) as in the official junyanz code, the official state-dict tables,
and loading the official weights.

Lesson 5's students write the two networks' parts that take decisions: the residual block (``ResnetBlock``) and the
70x70 PatchGAN discriminator (``NLayerDiscriminator``); neither is here (the tests and benchmarks use
``bench/reference_networks.py``). :class:`ResnetGenerator` assembles the official generator around the block class
it is given (``ResnetGenerator(block=ResnetBlock, ngf=..., n_blocks=...)``): ``InstanceNorm2d(affine=False,
track_running_stats=False)``, conv bias on, reflection padding, transposed convolutions with ``output_padding=1``,
no dropout. With a block that has the official keys (:func:`resnet_block_shapes`) the official pretrained generators
load with ``strict=True`` through :func:`load_pretrained`. :func:`patchgan_shapes` is the discriminator's table.

The rest of CycleGAN lives beside it: :mod:`helpers.training.image_pool` (image pool, learning-rate schedule),
:mod:`helpers.training.cycle_trainer` (the trainer that runs the lesson's steps),
:mod:`helpers.evaluation.domain_classifier` (the domain classifier metric). Naming: ``G_AB`` translates A -> B
(horse -> zebra), ``G_BA`` B -> A; ``D_A`` judges images of domain A, ``D_B`` of domain B. Images are float tensors
(N, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from helpers.checkpoint import load_plain, refused_global, short_reason
from helpers.contracts import state_dict_problem

# -- the official state-dict tables -----------------------------------------------------------------


def resnet_block_shapes(dim: int) -> dict[str, tuple[int, ...]]:
    """Every state-dict key and shape of the official residual block on ``dim`` channels: ``conv_block`` is
    ``Sequential(pad, conv3x3, IN, ReLU, pad, conv3x3, IN)``, so its two convolutions sit at positions 1 and 5
    (padding, InstanceNorm(affine=False) and ReLU hold nothing)."""
    conv = {"weight": (dim, dim, 3, 3), "bias": (dim,)}
    return {f"conv_block.{i}.{p}": shape for i in (1, 5) for p, shape in conv.items()}


def patchgan_shapes(input_nc: int = 3, ndf: int = 64) -> dict[str, tuple[int, ...]]:
    """Every state-dict key and shape of the official 70x70 PatchGAN (``NLayerDiscriminator(input_nc, ndf,
    n_layers=3)``): five 4x4 convolutions at positions 0, 2, 5, 8 and 11 of ``model``, ``input_nc`` -> ``ndf`` ->
    ``2 ndf`` -> ``4 ndf`` -> ``8 ndf`` -> 1 channels (LeakyReLU and InstanceNorm(affine=False) hold nothing)."""
    channels = (input_nc, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 1)
    table: dict[str, tuple[int, ...]] = {}
    for position, c_in, c_out in zip((0, 2, 5, 8, 11), channels, channels[1:]):
        table[f"model.{position}.weight"], table[f"model.{position}.bias"] = (c_out, c_in, 4, 4), (c_out,)
    return table


def patch_map_size(size: int) -> int:
    """The side of the official PatchGAN's score map for an input of side ``size``: three 4x4 convolutions with
    stride 2, then two with stride 1, all with padding 1 (64 -> 6, 256 -> 30)."""
    for stride in (2, 2, 2, 1, 1):
        size = (size + 2 - 4) // stride + 1
    return size


# -- the generator ----------------------------------------------------------------------------------


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def _checked_block(block: Callable[[int], nn.Module] | None, dim: int) -> nn.Module:
    """``block(dim)``, refused with a message that says what to change unless it is a network with the official
    block's keys and shapes that keeps its input's shape."""
    usage = "ResnetGenerator(block=ResnetBlock, ngf=..., n_blocks=...), with the ResnetBlock class you wrote"
    if block is None:
        raise TypeError(f"ResnetGenerator needs the residual block class: {usage}.")
    if isinstance(block, nn.Module) or not callable(block):
        raise TypeError(
            f"ResnetGenerator's block must be a class (or a function) that builds one residual block from its "
            f"number of channels, got {type(block).__name__}: {usage} (the class itself, not ResnetBlock(256))."
        )
    made = block(dim)
    if not isinstance(made, nn.Module):
        raise TypeError(f"block({dim}) gave a {type(made).__name__}, not a network: it must return an nn.Module.")
    problem = state_dict_problem(made, resnet_block_shapes(dim), f"block({dim})")
    if problem:
        raise ValueError(f"{problem} ResnetGenerator builds its residual blocks with the official keys only.")
    return made


def _check_block_output(made: nn.Module, dim: int) -> None:
    x = torch.linspace(-1, 1, 2 * dim * 64).reshape(2, dim, 8, 8).sin()  # no random draw: the seed's sequence stays
    with torch.no_grad():
        try:
            out = made(x)
        except Exception as error:  # noqa: BLE001 - the message names the block and the input it could not take
            raise ValueError(
                f"block({dim}) failed on an input of shape {tuple(x.shape)}: {type(error).__name__}: {error}"
            ) from error
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"block({dim}) turned an input of shape {tuple(x.shape)} into {got}: a residual block keeps its "
            f"input's shape (N, {dim}, H, W), since it returns x + conv_block(x)."
        )


class ResnetGenerator(nn.Module):
    """The official CycleGAN generator: c7s1-64, d128, d256, ``n_blocks`` x R256, u128, u64, c7s1-3, tanh.

    ``block`` (required, keyword) builds one residual block from its number of channels, ``block(4 * ngf)``: the
    lesson's ``ResnetBlock``. It is refused unless it has the official block's state-dict keys and shapes
    (:func:`resnet_block_shapes`) and keeps its input's shape. Weights start as the official ``init_type='normal'``
    (:func:`init_weights`). Input (N, input_nc, H, W), output (N, output_nc, H, W) in [-1, 1]; H and W multiples of
    4. ``n_blocks=9`` is the official setting for 256x256 images (6 for 128x128); the quick profile uses fewer.
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        *,
        block: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if n_blocks < 0 or ngf < 1:
            raise ValueError(f"n_blocks must be >= 0 and ngf >= 1, got n_blocks={n_blocks}, ngf={ngf}")
        if block is None or isinstance(block, nn.Module) or not callable(block):
            _checked_block(block, ngf * 4)  # refuses it with a message, whatever n_blocks is
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
        blocks = [_checked_block(block, ngf * 4) for _ in range(n_blocks)]
        if blocks:
            _check_block_output(blocks[0], ngf * 4)
        layers += blocks
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
            f"ResnetGenerator(block=ResnetBlock, ngf=64, n_blocks={blocks}) to load it, with a ResnetBlock that has "
            f"the official keys."
        )
    G.load_state_dict(state, strict=True)
    return G
