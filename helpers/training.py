"""A step loop with a progress bar, and the loss history it records.

The loop knows nothing about GANs: a lesson passes a ``step_fn`` that does one
training step (for a GAN: one D update and one G update) and returns its losses.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Mapping, Sequence

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

    def plot(self, ax=None, *, title: str | None = None, smooth: int = 1, reference: Mapping[str, float] | None = None):
        """Plot every recorded series against the step (see :func:`helpers.plotting.plot_history`)."""
        from .plotting import plot_history

        return plot_history(self, ax=ax, title=title, smooth=smooth, reference=reference)

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.values.items() if v)
        return f"History({len(self)} records; last: {last})"


def check_num_steps(num_steps: object) -> None:
    """Raise ``ValueError`` naming ``num_steps`` unless it is a positive whole number."""
    if (isinstance(num_steps, bool) or not isinstance(num_steps, (int, float)) or not math.isfinite(num_steps)
            or int(num_steps) != num_steps or num_steps < 1):
        raise ValueError(f"num_steps must be a positive whole number, got {num_steps!r}")


def run_steps(
    step_fn: StepFn,
    num_steps: int,
    *,
    log_every: int = 10,
    callback: Callable[[int, History], None] | None = None,
    callback_every: int | None = None,
    desc: str = "training",
    progress: bool = True,
    history: History | None = None,
) -> History:
    """Call ``step_fn(step)`` for ``step = 0 .. num_steps-1`` with a progress bar.

    Args:
        step_fn: does one training step and returns a mapping of scalar losses
            (floats or 0-d tensors, on any device).
        num_steps: how many steps (> 0).
        log_every: record the losses every this many steps (and at the last step);
            tensors are read back from the device only then.
        callback: called as ``callback(step, history)`` every ``callback_every``
            steps and after the last step (snapshots, sample grids).
        desc: label of the progress bar.
        progress: show a ``tqdm.auto`` progress bar (a widget in Jupyter).
        history: continue an existing history instead of starting a new one.

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
            if callback is not None and (last or (callback_every and i % callback_every == 0)):
                callback(step, history)
            bar.update(1)
    finally:
        bar.close()
    return history


def average_sums(sums: torch.Tensor, count: int, names: Sequence[str]) -> dict[str, float]:
    """Read metric sums accumulated on the device (the one host sync of a log interval), divide them by the ``count``
    steps they cover and zero them in place for the next interval. ``sums``: (len(names),) on any device."""
    values = (sums / max(count, 1)).tolist()
    sums.zero_()
    return dict(zip(names, values))


def train_logged(trainer: Any, num_steps: int, *, desc: str, postfix: Sequence[str], board_factory: Callable,
                 progress: bool = True, dashboard: bool | None = None, keep_dashboard: bool = True) -> "History":
    """The step loop of :class:`helpers.gan.GANTrainer` and :class:`helpers.cyclegan.CycleGANTrainer`.

    Calls ``trainer.train_step()`` ``num_steps`` times; every ``trainer.log_every`` steps and at the end it reads the
    summed metrics back (``trainer.flush_log()``, the one host sync), shows ``postfix`` of them on the progress bar
    and redraws the dashboard; it saves ``trainer.checkpoint_path`` every ``trainer.checkpoint_every`` steps and at
    the end. ``dashboard`` (default: only when a person is watching, i.e. not under nbgrader, nbval or CI) decides
    whether ``board_factory(trainer)`` (a :class:`helpers.widgets.TrainingDashboard`) draws a live dashboard; ``keep_dashboard=False`` removes it when training ends
    (for a caller that draws its own result figure next, so the notebook does not show the same plots twice).
    Returns ``trainer.history``.
    """
    from .profiles import automated_by

    check_num_steps(num_steps)
    live = dashboard if dashboard is not None else automated_by() is None
    board = board_factory(trainer) if live else None
    bar = tqdm(total=int(num_steps), desc=desc, disable=not progress)
    try:
        for i in range(int(num_steps)):
            trainer.train_step()
            last = i == num_steps - 1
            if trainer.step % trainer.log_every == 0 or last:
                record = trainer.flush_log()
                bar.set_postfix({k: f"{record[k]:.3f}" for k in postfix}, refresh=False)
                if board is not None:
                    board.update()
            if trainer.checkpoint_path and trainer.checkpoint_every and (
                    trainer.step % trainer.checkpoint_every == 0 or last):
                trainer.save(trainer.checkpoint_path)
            bar.update(1)
    finally:
        bar.close()
    if board is not None:
        if keep_dashboard:
            board.update(force=True)
        else:
            board.close()
    return trainer.history
