"""Whole-step CUDA graphs: capture one training step once, then replay it.

A GAN step on small networks launches a few hundred tiny kernels; on a GPU the
time goes into launching them, not into the arithmetic. A CUDA graph records the
whole step (data batch, noise, both forward/backward passes, both optimizer
steps, the on-device metric sums) and replays it with one launch.

:class:`GraphedStep` wraps a no-argument step function and follows the recipe of
the PyTorch docs ("whole network capture"):

1. optimizers switched to ``capturable=True`` (their step counters live on the GPU);
2. a few eager warm-up steps on a side stream (allocations, lazy init);
3. one capture with ``torch.cuda.graph``; every later call is ``graph.replay()``.

What the step function must do, so that replaying it is the same as calling it:

- draw its random inputs on the device inside the function (``torch.randn(..., device=...)``,
  ``torch.randint``): CUDA's generator is graph-safe, every replay gets new numbers;
- keep every tensor that outlives the step (metric sums) allocated once and update it in place;
- no host sync (``.item()``, ``print(tensor)``, ``if tensor:``) and no CPU tensors copied to the GPU.

When one of these is broken (a student's step calls ``.item()``, noise is made on the
CPU and moved), capture fails: the step then runs eagerly from then on and
:attr:`GraphedStep.status` says why. Values baked into the graph (learning rates,
batch size) are watched through ``key``: when the key changes the graph is captured again.

A graph replays the kernels that one call launched; Python that ran during the capture does not run again.
A step whose Python side changes from call to call (``random.random()``, a branch on a Python counter) would be
frozen by a graph. So capture never changes what the step computes: before it is trusted, the graph's first
replay is compared with an eager step from the same state (tensors and random number generator restored), and
when the two differ the eager result is kept and steps stay eager.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

import torch

__all__ = ["GraphedStep", "make_capturable", "optimizer_key", "release_capturable"]


def make_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Switch ``optimizer`` to ``capturable=True`` in place, moving its step counters to the parameters' device.

    Raises:
        ValueError: the optimizer has no ``capturable`` option (Adam and AdamW have it; SGD does not).
    """
    if "capturable" not in optimizer.defaults:
        raise ValueError(
            f"{type(optimizer).__name__} has no capturable option; use torch.optim.Adam or AdamW "
            f"for a CUDA-graph step, or pass cuda_graph=False"
        )
    for group in optimizer.param_groups:
        group["capturable"] = True
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            step = state.get("step")
            if torch.is_tensor(step) and step.device != param.device:
                state["step"] = step.to(param.device, torch.float32)


def release_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Undo :func:`make_capturable` for eager steps on a device without capturable support (a GPU checkpoint on a
    CPU)."""
    for group in optimizer.param_groups:
        if group.get("capturable"):
            group["capturable"] = False
            for param in group["params"]:
                state = optimizer.state.get(param, {})
                if torch.is_tensor(state.get("step")):
                    state["step"] = state["step"].to("cpu", torch.float32)


def optimizer_tensors(optimizers: Iterable[torch.optim.Optimizer]) -> list[torch.Tensor]:
    """Every tensor an optimizer step changes: the parameters and the optimizer state (moments, step counters)."""
    tensors = []
    for opt in optimizers:
        for group in opt.param_groups:
            for param in group["params"]:
                tensors.append(param.data)
                tensors += [v for v in opt.state.get(param, {}).values() if torch.is_tensor(v)]
    return tensors


def optimizer_key(optimizers: Iterable[torch.optim.Optimizer]) -> tuple:
    """The hyperparameters a captured optimizer step has baked in (lr, betas, eps, weight decay per group)."""
    names = ("lr", "betas", "eps", "weight_decay", "momentum")
    return tuple(tuple(_plain(group.get(name)) for name in names) for opt in optimizers for group in opt.param_groups)


def _plain(value):
    if torch.is_tensor(value):  # a tensor lr is read by the graph at replay time: changes need no re-capture
        return "tensor"
    return tuple(value) if isinstance(value, (list, tuple)) else value


def capture_hint(error: Exception) -> str:
    """What in a step most likely made its capture fail, in words a student can act on."""
    text = str(error)
    if "capturing" in text or "cudaErrorStreamCaptureUnsupported" in text or "synchroniz" in text:
        return (
            "Your step makes the CPU wait for the GPU, which a graph cannot record: it calls .item(), float(tensor) "
            "or print(tensor), or branches with `if tensor:`. Return the loss tensor itself and keep the step free "
            "of these."
        )
    if "Expected all tensors to be on the same device" in text or "cpu" in text.lower():
        return (
            "Your step makes a tensor on the CPU and moves it (torch.ones(n).to(device)): create it on the device "
            "(torch.ones(n, device=device), torch.ones_like(x))."
        )
    return "Usual causes: .item() or print of a tensor in the step, or tensors made on the CPU and moved in the step."


class GraphedStep:
    """Call ``step_fn`` once per training step: eagerly, or through one CUDA graph.

    Args:
        step_fn: performs one whole training step on the device; takes no arguments, returns nothing.
        optimizers: every optimizer ``step_fn`` steps (made capturable before the graph is used).
        device: the training device. Graphs are used only on CUDA.
        enabled: ``True`` (require a CUDA device), ``False`` (always eager) or ``None`` (CUDA graph when on CUDA).
        key: returns what the graph bakes in (default: the optimizers' hyperparameters); a new key re-captures.
        warmup: eager steps on a side stream before the capture (the PyTorch docs use 3; DDP needs 11).
        state: returns every tensor a step changes (default: :func:`optimizer_tensors`; a trainer adds its buffers,
            metric sums and pools). They are saved before the check step and restored between it and the replay.
        compare: returns the tensors the check compares (default: the optimizers' parameters).
        tolerance: largest difference between the replay and the eager step that still counts as equal.

    Attributes:
        status: a sentence on how steps run now, e.g. ``"eager: cpu device (CUDA graphs need CUDA)"``,
            ``"CUDA graph: warming up"``, ``"CUDA graph: replaying"``, ``"eager: capture failed (...)"``.
        captures: how many times the step was captured.
    """

    def __init__(
        self,
        step_fn: Callable[[], None],
        optimizers: Iterable[torch.optim.Optimizer],
        device: torch.device | str,
        *,
        enabled: bool | None = None,
        key: Callable[[], Hashable] | None = None,
        warmup: int = 3,
        state: Callable[[], Sequence[torch.Tensor]] | None = None,
        compare: Callable[[], Sequence[torch.Tensor]] | None = None,
        tolerance: float = 1e-5,
    ) -> None:
        self.step_fn = step_fn
        self.optimizers = list(optimizers)
        self.device = torch.device(device)
        self.key = key or (lambda: optimizer_key(self.optimizers))
        self.warmup = warmup
        self.state = state or (lambda: optimizer_tensors(self.optimizers))
        self.compare = compare or (
            lambda: [p for opt in self.optimizers for g in opt.param_groups for p in g["params"]]
        )
        self.tolerance = tolerance
        self.captures = 0
        self._graph = None
        self._graph_key = None
        self._warm = 0
        self.active = self._decide(enabled)

    def _decide(self, enabled: bool | None) -> bool:
        if enabled is False:
            self.status = "eager: CUDA graph turned off (cuda_graph=False)"
            return False
        if self.device.type != "cuda":
            if enabled:
                raise ValueError(
                    f"cuda_graph=True needs a CUDA device, but training runs on {self.device}; "
                    f"pass cuda_graph=None (use one when possible) or False"
                )
            self.status = f"eager: {self.device.type} device (CUDA graphs need CUDA)"
            return False
        unsupported = [type(opt).__name__ for opt in self.optimizers if "capturable" not in opt.defaults]
        if unsupported:
            if enabled:
                raise ValueError(
                    f"cuda_graph=True needs optimizers with capturable=True support (Adam, AdamW); "
                    f"got {', '.join(unsupported)}"
                )
            self.status = f"eager: {', '.join(unsupported)} cannot be captured (use Adam or AdamW)"
            return False
        self.status = "CUDA graph: warming up"
        return True

    def reset(self) -> None:
        """Forget the captured graph; call after loading optimizer state (the graph holds the old tensors).

        Eager steps off CUDA also switch ``capturable`` back off, so a checkpoint written
        by a CUDA-graph run resumes on a CPU or an Apple GPU.
        """
        self._graph = None
        self._graph_key = None
        self._warm = 0
        if self.active:
            self.status = "CUDA graph: warming up"
        elif self.device.type != "cuda":
            for opt in self.optimizers:
                release_capturable(opt)

    def __call__(self) -> None:
        if not self.active:
            self.step_fn()
            return
        key = self.key()
        if self._graph is not None and key != self._graph_key:
            self.reset()  # e.g. a learning rate changed: the old graph would keep using the old one
        if self._graph is not None:
            self._replay()
        elif self._warm < self.warmup:
            if self._warm == 0:
                for opt in self.optimizers:
                    make_capturable(opt)
            self._warm_up()
            self._warm += 1
        else:
            self._capture_checked(key)

    def _capture_checked(self, key: Hashable) -> None:
        """Capture, then trust the graph only if its first replay equals an eager step from the same state.

        Runs exactly one training step, whichever way it ends.
        """
        tensors = list(self.state())
        before, rng = [t.detach().clone() for t in tensors], self._rng_state()
        self.step_fn()  # the reference: one eager step
        eager, eager_rng = [t.detach().clone() for t in tensors], self._rng_state()
        expected = [t.detach().clone() for t in self.compare()]
        self._restore(tensors, before)
        try:
            graph = self._capture()
        except Exception as error:  # noqa: BLE001 - any capture failure means: go on eagerly
            self._give_up(error)
            self._restore(tensors, eager, eager_rng)  # the step already ran eagerly: keep its result
            return
        self._set_rng_state(rng)  # the replay draws the same random numbers as the eager step did
        self._graph = graph
        self._replay()
        worst = max(
            (float((got.detach() - want).abs().max()) for got, want in zip(self.compare(), expected) if want.numel()),
            default=0.0,
        )
        if not worst <= self.tolerance:  # also catches NaN
            self._graph = None
            self.active = False
            self._restore(tensors, eager, eager_rng)
            self.status = (
                f"eager: the CUDA graph's first replay differed from an eager step (largest difference "
                f"{worst:.3g}): the step's Python side changes from call to call (random.random(), "
                f"numpy.random, a branch on a Python value), which a graph would freeze"
            )
            print(f"Note: {self.status}")
            return
        self._graph_key = key
        self.captures += 1
        self.status = "CUDA graph: replaying"

    def _restore(self, tensors: Sequence[torch.Tensor], values: Sequence[torch.Tensor], rng=None) -> None:
        with torch.no_grad():
            for tensor, value in zip(tensors, values):
                tensor.copy_(value)
        if rng is not None:
            self._set_rng_state(rng)

    def _rng_state(self) -> torch.Tensor:
        if self.device.type == "cuda":
            return torch.cuda.get_rng_state(self.device)
        return torch.get_rng_state()

    def _set_rng_state(self, state: torch.Tensor) -> None:
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state, self.device)
        else:
            torch.set_rng_state(state)

    # -- the CUDA calls (the PyTorch docs' recipe); tests replace these on machines without CUDA --

    def _warm_up(self) -> None:
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self.step_fn()
        torch.cuda.current_stream(self.device).wait_stream(side)

    def _capture(self):
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.step_fn()
        return graph

    def _replay(self) -> None:
        self._graph.replay()

    def _give_up(self, error: Exception) -> None:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        self.active = False
        self._graph = None
        for opt in self.optimizers:  # gradients may point into the abandoned graph's memory
            opt.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            try:
                torch.cuda.synchronize(self.device)
            except RuntimeError:
                pass
        self.status = f"eager: CUDA graph capture failed ({type(error).__name__}: {first_line}). {capture_hint(error)}"
        print(f"Note: {self.status}")
