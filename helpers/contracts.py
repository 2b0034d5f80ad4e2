"""What a lesson's step exercise promises the code that calls it (lessons 3-5), stated once.

The trainers (:mod:`helpers.training`) run a student's step and the checks (:mod:`helpers.checks`) grade it; both
judge the value it returns by the rule here, so a student reads the same message from either.
"""

from __future__ import annotations

import numbers
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
