"""CycleGAN's learning-rate schedule, as in the official junyanz code (lesson 5): constant, then linear decay to 0."""

from __future__ import annotations

from collections.abc import Callable


def linear_decay(n_constant: int, n_decay: int, *, start: int = 0) -> Callable[[int], float]:
    """The official learning-rate factor: 1 for ``n_constant`` epochs (or steps), then linear decay.

    ``factor(t) = 1 - max(0, t + 1 + start - n_constant) / (n_decay + 1)`` as in the official ``lambda_rule``
    (``epoch_count = start + 1``): after the last of the ``n_constant + n_decay`` epochs it has reached
    ``1 / (n_decay + 1)``, and 0 one epoch later. Use with ``torch.optim.lr_scheduler.LambdaLR`` or
    :class:`helpers.training.cycle_trainer.CycleGANTrainer` (``lr_factor=``).
    """
    if n_constant < 0 or n_decay < 0:
        raise ValueError(f"n_constant and n_decay must be >= 0, got {n_constant}, {n_decay}")

    def factor(t: int) -> float:
        return max(0.0, 1.0 - max(0, t + 1 + start - n_constant) / float(n_decay + 1))

    return factor
