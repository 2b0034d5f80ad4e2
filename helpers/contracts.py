"""What a lesson's exercise promises the code that calls it (lessons 3-5), stated once.

The trainers (:mod:`helpers.training`) run a student's step and the checks (:mod:`helpers.checks`) grade it; both
judge the value it returns by the rule here, so a student reads the same message from either. The same holds for a
network the student builds whose weights must load from a file (lesson 5's residual block and PatchGAN): the
generator's assembly (:mod:`helpers.models`), the trainer and the checks compare its state dict with the official
table through :func:`state_dict_problem`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import torch


def loss_tensor_problem(value: Any, name: str) -> str | None:
    """Why ``value`` is not what a step must return, the scalar loss tensor that ``backward()`` ran on, or ``None``.

    A Python number (``loss.item()``) is refused because the trainers sum the losses on the device and read them once
    per log: a number forces a wait for the device at every step.
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return (
            f"{name} returned a Python number ({value!r}): return the loss tensor itself (`return loss`), "
            f"not loss.item(). The trainer sums the losses on the device and reads them once per log."
        )
    shape = f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else ""
    return (
        f"{name} returned {type(value).__name__}{shape}: return the scalar loss tensor, the one that backward() "
        f"was called on (`return loss`)."
    )


RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def layer_of(shape: tuple[int, ...]) -> str:
    """What a parameter of this shape is: 'weight of a Linear(a, b)', 'weight of a Conv2d(a, b, kernel_size=k)',
    'bias of size b'."""
    shape = tuple(shape)
    if len(shape) == 2:
        return f"weight of a Linear({shape[1]}, {shape[0]})"
    if len(shape) == 4:
        kernel = shape[2] if shape[2] == shape[3] else shape[2:]
        return f"weight of a Conv2d({shape[1]}, {shape[0]}, kernel_size={kernel})"
    if len(shape) == 1:
        return f"bias of size {shape[0]}"
    return f"a tensor of shape {shape}"


def state_dict_problem(net: Any, expected: Mapping[str, tuple[int, ...]], name: str) -> str | None:
    """Why ``net``'s state dict does not have exactly the keys and shapes of ``expected``, or ``None``.

    ``expected`` maps every key of the official network's state dict to its shape (parameters and buffers alike);
    a network with these keys and shapes loads the official weights with ``load_state_dict(..., strict=True)``. The
    message names the first key that differs and the layer the official network has there, and says why keys
    usually differ: layers numbered by their position in an ``nn.Sequential`` (parameter-free layers included), a
    norm with learned weights, running statistics.
    """
    try:
        got = {key: tuple(value.shape) for key, value in net.state_dict().items()}
    except Exception as error:  # noqa: BLE001 - not a network: the message says what it is
        return f"{name} has no state dict ({type(error).__name__}: {error}): build it as an nn.Module."
    expected = {key: tuple(shape) for key, shape in expected.items()}
    if got == expected:
        return None
    for key, shape in expected.items():
        if key in got and got[key] != shape:
            return (
                f"{name}'s {key!r} has shape {got[key]}; the official network has {shape} there, the "
                f"{layer_of(shape)}. The official keys and shapes: {_few(expected)}."
            )
    missing = [key for key in expected if key not in got]
    unexpected = [key for key in got if key not in expected]
    why = []
    if any(key.endswith(RUNNING_STATISTICS) for key in unexpected):
        why.append(
            "running statistics (running_mean, running_var) come from a BatchNorm2d or an InstanceNorm2d with "
            "track_running_stats=True: the official network uses InstanceNorm2d(channels), which has none"
        )
    if any(key.endswith(".weight") and len(got[key]) == 1 for key in unexpected):
        why.append(
            "a weight of one dimension is a norm layer's learned scale (InstanceNorm2d(..., affine=True), or a "
            "BatchNorm2d): the official InstanceNorm2d(channels) has affine=False, no weight and no bias"
        )
    if any(got[key] in expected.values() for key in unexpected) and missing:
        why.append(
            "the keys number the layers by their position in the nn.Sequential, parameter-free layers (padding, "
            "normalisation, activation) included: a layer added, dropped or moved shifts every number after it"
        )
    differ = [f"missing {missing[:6]}"] if missing else []
    differ += [f"unexpected {unexpected[:6]}"] if unexpected else []
    reasons = ("; ".join(why) + ". ") if why else ""
    return (
        f"{name}'s state dict does not have the official keys (the authors' weights would not load): "
        f"{', '.join(differ)}. {reasons[:1].upper() + reasons[1:]}The official keys and shapes: {_few(expected)}."
    )


def _few(table: Mapping[str, tuple[int, ...]]) -> str:
    """The first entries of a key table, for a message that stays short whatever the network."""
    items = list(table.items())
    shown = ", ".join(f"{key}: {shape}" for key, shape in items[:12])
    return "{" + shown + (f", ... ({len(items)} in all)" if len(items) > 12 else "") + "}"
