"""A step loop with a progress bar, and the loss history it records (lessons 1-2; the other loops build on it).

The loop knows nothing about GANs: a lesson passes a ``step_fn`` that does one
training step (for a GAN: one D update and one G update) and returns its losses.
Every loop of the course calls back the same way, ``callback(run, final)``, where ``run.step`` counts the steps
done and ``run.history`` holds the records (:class:`LoopRun` here, the trainer or the 1-D GAN run elsewhere).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

StepFn = Callable[[int], Mapping[str, "float | torch.Tensor"]]


class History:
    """Losses (or any scalars) recorded during training, by name.

    ``history.steps[i]`` is the step at which ``history[name][i]`` was recorded.
    """

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = defaultdict(list)

    def log(self, step: int, **values: float | torch.Tensor) -> None:
        """Record ``values`` at ``step``; tensors are turned into Python floats here."""
        self.steps.append(int(step))
        for name, value in values.items():
            self.values[name].append(float(value.detach()) if isinstance(value, torch.Tensor) else float(value))

    def state_dict(self) -> dict:
        """Plain lists, for a checkpoint."""
        return {"steps": list(self.steps), "values": {k: list(v) for k, v in self.values.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Replace the records by those of :meth:`state_dict` (in place, as ``nn.Module.load_state_dict`` does)."""
        self.steps = list(state["steps"])
        self.values = defaultdict(list, {name: list(values) for name, values in state["values"].items()})

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.values:
            raise KeyError(f"No values called {name!r}; recorded: {sorted(self.values)}")
        return self.values[name]

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def names(self) -> list[str]:
        return list(self.values)

    def mean_last(self, name: str, n: int = 100) -> float:
        """Mean of the last ``n`` recorded values of ``name``."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        values = self[name][-n:]
        if not values:
            raise ValueError(f"Nothing recorded for {name!r} yet")
        return sum(values) / len(values)

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.values.items() if v)
        return f"History({len(self)} records; last: {last})"


@dataclass
class LoopRun:
    """What :func:`run_steps` hands its callback: ``step`` (the steps done so far) and ``history``."""

    history: History
    step: int = 0


def combine_callbacks(callback: Callable[..., Any] | Sequence[Callable[..., Any]] | None) -> Callable[..., None]:
    """One ``callback(run, final=False)`` that calls each of ``callback`` in order: a callable, a sequence of them
    (``None`` entries skipped), or ``None`` (a callback that does nothing). Used by the trainers and the 1-D GAN.

    Raises:
        TypeError: an entry is not callable.
    """
    if callable(callback):
        return callback
    callbacks = [c for c in (callback or ()) if c is not None]
    not_callable = [c for c in callbacks if not callable(c)]
    if not_callable:
        raise TypeError(f"callback must be a function of (trainer, final) or a list of them, got {not_callable[0]!r}")

    def every(run: Any, final: bool = False) -> None:
        for c in callbacks:
            c(run, final)

    return every


def check_num_steps(num_steps: object) -> None:
    """Raise ``ValueError`` naming ``num_steps`` unless it is a positive whole number."""
    if (
        isinstance(num_steps, bool)
        or not isinstance(num_steps, (int, float))
        or not math.isfinite(num_steps)
        or int(num_steps) != num_steps
        or num_steps < 1
    ):
        raise ValueError(f"num_steps must be a positive whole number, got {num_steps!r}")


def run_steps(
    step_fn: StepFn,
    num_steps: int,
    *,
    log_every: int = 10,
    callback: Callable[[Any, bool], None] | Sequence[Callable[[Any, bool], None]] | None = None,
    callback_every: int | None = None,
    desc: str = "training",
    progress: bool = True,
    history: History | None = None,
    run: Any = None,
) -> History:
    """Call ``step_fn(step)`` for ``step = 0 .. num_steps-1`` with a progress bar.

    Args:
        step_fn: does one training step and returns a mapping of scalar losses
            (floats or 0-d tensors, on any device).
        num_steps: how many steps (> 0).
        log_every: record the losses every this many steps (and at the last step);
            tensors are read back from the device only then.
        callback: ``callback(run, final)`` (or a list of them), as every loop of the course calls back: after the
            first step, after every ``callback_every`` steps done, and after the last step (``final=True``).
            Without ``callback_every``, only after the last step.
        desc: label of the progress bar.
        progress: show a ``tqdm.auto`` progress bar (a widget in Jupyter).
        history: continue an existing history instead of starting a new one.
        run: the object handed to ``callback``; the loop sets its ``step`` to the steps done before each call.
            Default: a :class:`LoopRun` over the history.

    Returns:
        the :class:`History`.

    Raises:
        FloatingPointError: a logged loss is NaN or infinite; the message names
            the loss and the step.
    """
    check_num_steps(num_steps)
    if log_every < 1:
        raise ValueError(f"log_every must be at least 1, got {log_every!r}")
    history = History() if history is None else history
    run = LoopRun(history) if run is None else run
    callback = combine_callbacks(callback)
    start = history.steps[-1] + 1 if history.steps else 0
    bar = tqdm(total=int(num_steps), desc=desc, disable=not progress, leave=True)
    try:
        for i in range(int(num_steps)):
            step = start + i
            losses = step_fn(step)
            last = i == num_steps - 1
            if i % log_every == 0 or last:
                history.log(step, **losses)
                bad = {k: history[k][-1] for k in losses if not math.isfinite(history[k][-1])}
                if bad:
                    raise FloatingPointError(
                        f"Loss {', '.join(f'{k}={v}' for k, v in bad.items())} at step {step}: training "
                        f"diverged. Try a smaller learning rate, or check the loss function for log(0)."
                    )
                bar.set_postfix({k: f"{history[k][-1]:.4f}" for k in losses}, refresh=False)
            if last or (callback_every and (i == 0 or (i + 1) % callback_every == 0)):
                run.step = step + 1
                callback(run, last)
            bar.update(1)
    finally:
        bar.close()
    return history
