"""The training engine every GAN trainer shares: the logged loop, metric sums, checkpoints, autocast, CUDA graphs.

A trainer (:class:`helpers.training.gan_trainer.GANTrainer`, :class:`helpers.training.cycle_trainer.CycleGANTrainer`)
is a subclass that adds its networks and one method, ``_step_on_device``, which calls **the lesson's step functions**
(the student's ``discriminator_step`` / ``generator_step``) and hands their losses to :meth:`Trainer._add`. Everything
else is here:

- ``train(num_steps)``: the loop, a progress bar, a log every ``log_every`` steps, a checkpoint every
  ``checkpoint_every`` steps, and a ``callback(trainer, final)`` after each log (a live dashboard,
  :class:`helpers.display.dashboards.Dashboard`; the engine never draws);
- metrics summed **on the device** every step and read back once per log (the only host sync), with a stop and a
  message naming the loss when one becomes NaN or infinite;
- atomic checkpoints of every part (networks, optimizers, pools, history, random generators) and exact resume;
- ``amp_dtype=torch.bfloat16``: the networks' forward passes run under ``torch.autocast`` (forward hooks, so the
  student's step needs no change; backward and the optimizer steps run outside autocast, as the PyTorch docs ask),
  and their outputs come back as float32;
- on CUDA, the whole step captured once as a CUDA graph and replayed (:mod:`helpers.training.cuda_graphs`), checked
  against an eager step before it is trusted, with an eager fallback; ``graph_status`` says which and why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers import checkpoint as ckpt
from helpers.contracts import loss_tensor_problem
from helpers.training.cuda_graphs import GraphedStep, optimizer_key, optimizer_tensors
from helpers.training.loop import History, check_num_steps, combine_callbacks

Callback = Callable[["Trainer", bool], None]
AMP_DTYPES = (None, torch.bfloat16, torch.float16)


def autocast_forward(modules: Iterable[nn.Module], device_type: str, dtype: torch.dtype) -> list:
    """Run every ``module``'s forward under ``torch.autocast(device_type, dtype)`` and return its floating outputs as
    float32 (so loss functions always see float32). Returns the hook handles (``handle.remove()`` undoes it).

    Hooks instead of a ``with`` block around the step: the step is the student's, and only its forward passes may
    run under autocast. No weight-cast cache: the PyTorch docs require ``cache_enabled=False`` inside graph capture.
    """
    handles = []
    for module in modules:
        contexts: list = []

        def enter(_module, _args, contexts=contexts):
            context = torch.autocast(device_type, dtype=dtype, cache_enabled=False)
            context.__enter__()
            contexts.append(context)

        def leave(_module, _args, output, contexts=contexts):
            contexts.pop().__exit__(None, None, None)
            if isinstance(output, torch.Tensor) and output.is_floating_point():
                return output.float()
            return output

        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave, always_call=True))
    return handles


def as_loss(value: Any, name: str) -> torch.Tensor:
    """``value`` if it is a loss tensor with one element; otherwise a ``TypeError`` that says what to return
    (the rule of :func:`helpers.contracts.loss_tensor_problem`)."""
    problem = loss_tensor_problem(value, name)
    if problem:
        raise TypeError(problem)
    return value


def forward_checked(net: nn.Module, inputs: tuple, what: str, described: str):
    """``net(*inputs)``; when it fails, a ``ValueError`` naming the layer that failed, the shape it was given and what
    it expects (a ``Linear``'s ``in_features``, a convolution's ``in_channels``), instead of a stack trace from
    inside PyTorch."""
    entered: list[tuple[str, nn.Module, tuple]] = []
    hooks = [
        module.register_forward_pre_hook(
            lambda m, args, name=name: entered.append((name, m, tuple(a.shape for a in args if hasattr(a, "shape"))))
        )
        for name, module in net.named_modules()
        if not list(module.children())
    ]
    try:
        return net(*inputs)
    except Exception as error:  # noqa: BLE001 - re-raised with the layer named
        if not entered:
            raise ValueError(f"{what} failed on {described}: {type(error).__name__}: {error}") from error
        name, layer, shapes = entered[-1]
        expects = ""
        if isinstance(layer, nn.Linear):
            expects = f"; it expects {layer.in_features} features per sample"
        elif isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            expects = f"; it expects {layer.in_channels} channels"
        raise ValueError(
            f"{what} failed on {described}, in its layer {name!r} ({layer}), given an input of shape "
            f"{shapes[0] if shapes else '?'}{expects}: {type(error).__name__}: {error}"
        ) from error
    finally:
        for hook in hooks:
            hook.remove()


class Trainer:
    """History, metric sums, the logged loop, checkpoints, autocast and the CUDA-graph hookup.

    Subclasses set ``METRICS`` (names of the per-step sums), ``POSTFIX`` (shown on the progress bar) and ``DESC``,
    and define ``_step_on_device`` (one step, no host sync, calls :meth:`_add` once) and ``parts`` (what a
    checkpoint holds). Optional: ``_log_metrics`` (values measured once per log, e.g. loss terms on fixed images),
    ``_extra_state`` / ``_load_extra_state``, ``_graph_key`` and ``_state_tensors``.

    Args:
        device: the training device (every tensor of a step lives there).
        optimizers: every optimizer the step functions step.
        networks: the modules whose forward passes run under autocast when ``amp_dtype`` is set.
        log_every: read the sums back (one host sync) every this many steps, and at the end.
        checkpoint_path, checkpoint_every: save an atomic checkpoint there every this many steps and at the end.
        amp_dtype: ``None`` (float32), ``torch.bfloat16`` or ``torch.float16`` for the forward passes.
        cuda_graph: ``None``: a CUDA graph when on CUDA; ``True``: required (error elsewhere); ``False``: eager.
    """

    METRICS: tuple[str, ...] = ()
    POSTFIX: tuple[str, ...] = ()
    DESC = "training"

    def __init__(
        self,
        device: torch.device | str,
        optimizers: Sequence[torch.optim.Optimizer],
        *,
        networks: Sequence[nn.Module] = (),
        log_every: int = 100,
        checkpoint_path: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        amp_dtype: torch.dtype | None = None,
        cuda_graph: bool | None = None,
    ) -> None:
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be a whole number of at least 1, got {log_every!r}")
        if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or checkpoint_every < 1):
            raise ValueError(f"checkpoint_every must be None or a whole number of at least 1, got {checkpoint_every!r}")
        if amp_dtype not in AMP_DTYPES:
            raise ValueError(f"amp_dtype must be None, torch.bfloat16 or torch.float16, got {amp_dtype}")
        self.device = torch.device(device)
        self.optimizers = list(optimizers)
        self.log_every, self.checkpoint_path, self.checkpoint_every = log_every, checkpoint_path, checkpoint_every
        self.amp_dtype = amp_dtype
        self._autocast_hooks = autocast_forward(networks, self.device.type, amp_dtype) if amp_dtype else []
        self.history = History()
        self.step = 0
        self._sums = torch.zeros(len(self.METRICS), device=self.device)  # updated in place: a CUDA graph writes here
        self._count = 0
        self._graphed = GraphedStep(
            self._step_on_device,
            self.optimizers,
            self.device,
            enabled=cuda_graph,
            key=self._graph_key,
            state=self._state_tensors,
        )

    # -- what a subclass defines ----------------------------------------------------------------------------

    def _step_on_device(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def parts(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """Everything with ``state_dict``/``load_state_dict`` that a checkpoint holds, by name."""
        raise NotImplementedError

    def _log_metrics(self) -> dict[str, torch.Tensor]:
        """0-d tensors measured once per log, beside the averaged sums (none by default); read in the same sync."""
        return {}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def _graph_key(self):
        """What a captured graph bakes in; a change re-captures (default: the optimizers' hyperparameters)."""
        return optimizer_key(self.optimizers)

    def _state_tensors(self) -> list[torch.Tensor]:
        """Every tensor a step changes: the graph check saves and restores them."""
        tensors = optimizer_tensors(self.optimizers) + [self._sums]
        for part in self.parts().values():
            if isinstance(part, nn.Module):
                tensors += [b for b in part.buffers()]
        return tensors

    # -- one step -------------------------------------------------------------------------------------------

    @property
    def graph_status(self) -> str:
        """How steps run: ``"CUDA graph: replaying"``, ``"eager: cpu device (CUDA graphs need CUDA)"``, …"""
        return self._graphed.status

    def _add(self, *values: torch.Tensor) -> None:
        """Add this step's metrics (one value per name of ``METRICS``) to the sums on the device; no host sync."""
        with torch.no_grad():
            self._sums += torch.stack([v.detach().float().reshape(()) for v in values])

    def train_step(self, *, graph: bool = True) -> None:
        """One training step: replayed as a CUDA graph when one is captured (``graph=False``: eager); no host sync."""
        if graph:
            self._graphed()
        else:
            self._step_on_device()
        self._count += 1
        self.step += 1

    # -- the loop -------------------------------------------------------------------------------------------

    def flush_log(self) -> dict[str, float]:
        """Average the sums since the last log (the one host sync), add the per-log metrics, check that every value
        is finite, record them in the history; returns the record."""
        extra = self._log_metrics()
        names = [*self.METRICS, *extra]
        averaged = self._sums / max(self._count, 1)
        values = torch.cat([averaged, *(v.detach().float().reshape(1) for v in extra.values())]).tolist()
        self._sums.zero_()
        self._count = 0
        record = dict(zip(names, values))
        bad = [name for name, value in record.items() if not math.isfinite(value)]
        if bad:
            first = self.history.steps[-1] + 1 if self.history.steps else 1
            named = ", ".join(f"{name} = {record[name]}" for name in bad)
            raise FloatingPointError(
                f"Training stopped: a loss became NaN or infinite between step {first} and step {self.step} "
                f"({named}). Lower the learning rate, make your losses finite at 0 and 1 (clamp inside log), "
                f"or resume from the last checkpoint."
            )
        self.history.log(self.step, **record)
        return record

    def train(
        self, num_steps: int, *, progress: bool = True, callback: Callback | Sequence[Callback] | None = None
    ) -> History:
        """Run ``num_steps`` more steps (after any resumed ones) and return the history.

        Args:
            progress: show a ``tqdm.auto`` progress bar.
            callback: ``callback(trainer, final)`` after every log (``final=False``) and once at the end
                (``final=True``), e.g. a :class:`helpers.display.dashboards.Dashboard`; or a list of them, called in
                order (a dashboard and a :class:`helpers.display.filmstrip.Filmstrip`).
        """
        check_num_steps(num_steps)
        callback = combine_callbacks(callback)
        bar = tqdm(total=int(num_steps), desc=self.DESC, disable=not progress)
        try:
            for i in range(int(num_steps)):
                self.train_step()
                last = i == num_steps - 1
                if self.step % self.log_every == 0 or last:
                    record = self.flush_log()
                    bar.set_postfix({k: f"{record[k]:.3f}" for k in self.POSTFIX if k in record}, refresh=False)
                    callback(self, False)
                if self.checkpoint_path and self.checkpoint_every and (self.step % self.checkpoint_every == 0 or last):
                    self.save(self.checkpoint_path)
                bar.update(1)
        finally:
            bar.close()
        callback(self, True)
        return self.history

    # -- checkpoints ----------------------------------------------------------------------------------------

    def state(self) -> dict:
        """The checkpoint: every part's state dict, the step, the extras and the random generators."""
        return ckpt.training_state(self.step, self.parts(), **self._extra_state())

    def save(self, path: str | os.PathLike) -> None:
        """Write an atomic checkpoint (a crash mid-write keeps the previous file)."""
        ckpt.save_atomic(self.state(), path)

    def resume(self, path: str | os.PathLike) -> bool:
        """Load the checkpoint at ``path`` if there is one (returns whether it did) and go on exactly from there."""
        state = ckpt.restore(path, self.parts(), map_location=self.device)
        if state is None:
            return False
        self._graphed.reset()  # the loaded tensors are new: a captured graph would miss them
        self.step = int(state["step"])
        self._load_extra_state(state)
        return True
