"""Checks for autograded test cells.

Test cells compare a student's function with a reference that the test cell
itself computes, on random inputs, within tolerances. In a student's notebook
they run in the student's kernel, as a guide; ``nbgrader autograde`` runs them
in the grader's own process instead, with the student's functions called in a
sandboxed worker (``grader/preprocessors/grade_outside_kernel.py``), so a score never depends on code a
student could change. When the answer is
wrong, the check looks for the likely mistake among candidates the test names
(``mistakes={"wrong sign": -expected, ...}``) and says which one it found.

This module holds only the checking machinery: no exercise's answer is here.
Every failure raises :class:`GradingError` (an ``AssertionError``, so nbgrader
marks the cell as failed) with a message meant for the student.
"""

from __future__ import annotations

import copy
import numbers
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn


class GradingError(AssertionError):
    """A check failed; the message says what is wrong and what to try."""


def passed(message: str) -> None:
    """Print a green tick and ``message`` (stdout, so nbgrader does not count it as an error)."""
    print(f"\u2714 {message}")


def call(fn: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Call a student's function, turning "not written yet" into a clear failure."""
    name = name or getattr(fn, "__name__", "your function")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        other = re.search(r"of your answer cell for (\w+)\)$", str(error))  # the grader's worker says where
        if other and other.group(1) != name:
            raise GradingError(
                f"{name} calls {other.group(1)}, which is not implemented yet: write {other.group(1)} first (where an "
                f"exercise's own solution does not call another exercise, your answer's call runs your code, as in "
                f"your kernel)."
            ) from error
        raise GradingError(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code."
        ) from error


# What a GPU can do and PyTorch's meta device cannot, holding no data: read a value (an `assert`, `.item()`, `float()`)
# or run an operation whose output's shape depends on the values (`torch.unique`, a boolean mask).
META_VALUE_READS = (
    "cannot be called on meta tensors",
    "no fake impl or Meta kernel",
    "data-independent implementation",
)


def call_on_meta(fn: Callable[..., Any], *args: Any, failed: str, hint: str, **kwargs: Any) -> Any:
    """Call a student's function with its tensors or ``device`` on PyTorch's "meta" device, which stands in for a GPU
    on every machine (shapes and devices, no data): an ignored ``device`` or a ``.cpu()`` shows without a GPU.

    Returns:
        the function's output; ``None`` where it read values of its tensors, which a GPU allows and the meta device
        cannot: the output's device is then unknown, and the caller skips that check (the others still judge it).
    Raises:
        GradingError: any other error, as "``failed`` (the error): ``hint``".
    """
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - every error is the student's, and said as it is
        if any(text in str(error) for text in META_VALUE_READS):
            return None
        if isinstance(error, NotImplementedError) and not str(error):
            raise GradingError(
                f"{getattr(fn, '__name__', 'your function')} is not implemented yet: replace "
                "`raise NotImplementedError()` with your code."
            ) from None
        raise GradingError(f"{failed} ({type(error).__name__}: {error}): {hint}") from None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a bool ({value})"
    if isinstance(value, numbers.Number):
        return f"a Python {type(value).__name__} ({value!r})"
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {value.shape}"
    if value is None:
        return "None (did you forget `return`?)"
    return f"a {type(value).__name__}"


def check_tensor(
    value: Any,
    *,
    name: str,
    shape: tuple[int, ...] | torch.Size | None = None,
    dtype: torch.dtype | str | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Check that ``value`` is a tensor of the expected shape, dtype and device.

    Args:
        name: how to call the value in messages, e.g. ``"make_targets(3)"``.
        shape: the exact expected shape.
        dtype: an exact ``torch.dtype``, or ``"float"`` for any floating dtype,
            or ``"int"`` for any integer dtype.
        device: expected device (compared by type, e.g. ``cuda`` vs ``cpu``).

    Returns:
        ``value``, for chaining.
    """
    if not isinstance(value, torch.Tensor):
        hint = ""
        if isinstance(value, numbers.Number):
            hint = " Return the tensor itself, not `.item()` or a Python number."
        elif isinstance(value, np.ndarray):
            hint = " Use torch operations (or torch.as_tensor) so the result is a tensor."
        raise GradingError(f"{name} returned {_describe(value)}, but a torch.Tensor is expected.{hint}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        hint = ""
        if value.numel() == int(np.prod(shape)):
            hint = " The number of elements is right: reshape the result."
        if value.dim() == len(shape) + 1 and 1 in (value.shape[0], value.shape[-1]):
            hint += " It has an extra dimension of size 1."
        raise GradingError(f"{name} has shape {tuple(value.shape)}, expected {tuple(shape)}.{hint}")
    if dtype is not None:
        if dtype == "float":
            ok, wanted = value.is_floating_point(), "a floating-point dtype (e.g. torch.float32)"
        elif dtype == "int":
            ok = not value.is_floating_point() and not value.is_complex() and value.dtype != torch.bool
            wanted = "an integer dtype (e.g. torch.int64)"
        else:
            ok, wanted = value.dtype == dtype, str(dtype)
        if not ok:
            raise GradingError(f"{name} has dtype {value.dtype}, expected {wanted}.")
    if device is not None and value.device.type != torch.device(device).type:
        raise GradingError(
            f"{name} is on {value.device}, expected {torch.device(device)}: create it on (or move it to) that device."
        )
    return value


def max_difference(got: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest absolute elementwise difference, as a Python float (inf if shapes differ)."""
    got = torch.as_tensor(got).detach().double().cpu()
    expected = torch.as_tensor(expected).detach().double().cpu()
    if got.shape != expected.shape:
        try:
            got, expected = torch.broadcast_tensors(got, expected)
        except RuntimeError:
            return float("inf")
    diff = (got - expected).abs()
    if diff.numel() == 0:
        return 0.0
    diff = torch.where(torch.isnan(got) & torch.isnan(expected), torch.zeros_like(diff), diff)
    worst = diff.max()
    return float("inf") if torch.isnan(worst) else float(worst)


def _close(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    # NumPy rather than torch: a student's cell cannot fake a pass by patching a torch method.
    got = torch.as_tensor(got).detach().double().cpu().numpy()
    expected = torch.as_tensor(expected).detach().double().cpu().numpy()
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))


def compare(
    got: Any,
    expected: torch.Tensor,
    *,
    name: str,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    mistakes: Mapping[str, Any] | None = None,
    context: str = "",
) -> float:
    """Check ``got`` against ``expected`` (same shape, values within tolerance).

    Args:
        got: the student's value (a tensor, or a number where ``expected`` is 0-d).
        expected: the reference value computed by the test.
        name: how to call the value in messages.
        mistakes: ``{"what the student probably did": value that mistake gives}``;
            when ``got`` matches one of them, the message names that mistake.
        context: the inputs, described for the message (e.g. ``"for label=3"``).

    Returns:
        the maximum absolute difference.
    """
    expected = torch.as_tensor(expected)
    if isinstance(got, numbers.Number) and not isinstance(got, bool) and expected.dim() == 0:
        got = torch.tensor(float(got), dtype=torch.float64)
    check_tensor(got, name=name)
    diff = max_difference(got, expected)
    where = f" {context}" if context else ""
    if tuple(got.shape) != tuple(expected.shape):
        check_tensor(got, name=name, shape=expected.shape)
    if _close(got, expected, rtol, atol):
        return diff
    # every mistake that gives these values: on some inputs two give the same (equal batches make "one mean over
    # both" the average of two means), and naming only the first could name the one the student did not make
    matches = [
        label
        for label, value in (mistakes or {}).items()
        if value is not None and _close(got, torch.as_tensor(value), rtol, atol)
    ]
    if matches:
        raise GradingError(
            f"{name}{where} is wrong: it looks like {', or '.join(matches)}. (max difference from the expected "
            f"values: {diff:.3g})"
        )
    if bool(torch.isnan(torch.as_tensor(got)).any()) or bool(torch.isinf(torch.as_tensor(got)).any()):
        raise GradingError(f"{name}{where} contains NaN or inf values. Check for log(0), division by zero or overflow.")
    raise GradingError(
        f"{name}{where} differs from the expected values: max difference {diff:.3g} "
        f"(tolerance {atol:g} + {rtol:g}*|expected|)."
    )


def check_against_reference(
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    make_inputs: Callable[[torch.Generator], tuple],
    *,
    name: str | None = None,
    trials: int = 5,
    seed: int | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    mistakes: Callable[..., Mapping[str, Any]] | None = None,
    dtype: torch.dtype | str | None = None,
) -> float:
    """Compare ``student_fn`` with ``reference_fn`` on ``trials`` random inputs.

    Args:
        make_inputs: ``make_inputs(generator) -> args`` draws one set of arguments.
            Each function gets its own copy of the arguments, so a function that
            modifies its input in place cannot change what the other sees.
        mistakes: ``mistakes(*args) -> {"label": wrong_value}`` for messages.
        dtype: also check the result's dtype (see :func:`check_tensor`).
        seed: the inputs' seed; ``None`` (the default) draws fresh inputs at every call, so that nobody can learn
            the inputs of a grading run from an earlier one.

    Returns:
        the largest difference seen (printed).
    """
    name = name or getattr(student_fn, "__name__", "your function")
    generator = torch.Generator().manual_seed(secrets.randbits(63) if seed is None else seed)
    worst = 0.0
    for _ in range(trials):
        args = make_inputs(generator)
        expected = reference_fn(*_clone(args))
        got = call(student_fn, *_clone(args), name=name)
        shown = ", ".join(_short(a) for a in args)
        if isinstance(expected, torch.Tensor):
            check_tensor(got, name=f"{name}({shown})", shape=expected.shape, dtype=dtype)
        worst = max(
            worst,
            compare(
                got,
                expected,
                name=f"{name}({shown})",
                rtol=rtol,
                atol=atol,
                mistakes=mistakes(*_clone(args)) if mistakes else None,
            ),
        )
    print(f"{name}: {trials} random inputs, max difference from the reference {worst:.3g}")
    return worst


def _clone(args: tuple) -> tuple:
    return tuple(
        a.detach().clone().requires_grad_(a.requires_grad)
        if isinstance(a, torch.Tensor) and a.is_leaf
        else copy.deepcopy(a)
        if isinstance(a, (list, dict, tuple, nn.Module))
        else a
        for a in args
    )


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"<tensor {tuple(value.shape)}>"
    if isinstance(value, nn.Module):
        return f"<{type(value).__name__}>"
    return repr(value)


def parameters_of(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every parameter of ``module``, by name."""
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def changed_parameters(before: Mapping[str, torch.Tensor], module: nn.Module, *, atol: float = 0.0) -> list[str]:
    """Names of ``module``'s parameters that differ from the copy ``before``."""
    return [k for k, v in module.named_parameters() if max_difference(v, before[k]) > atol]


def check_number(value: Any, *, name: str) -> float:
    """Check that ``value`` is a plain Python number (e.g. a loss returned with ``.item()``)."""
    if isinstance(value, torch.Tensor):
        raise GradingError(
            f"{name} returned a tensor ({_describe_tensor(value)}); return a Python float with `loss.item()`, "
            f"so the loss history does not keep the autograd graph alive."
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise GradingError(f"{name} returned {_describe(value)}; return the loss as a Python float (`loss.item()`).")
    return float(value)


def _describe_tensor(t: torch.Tensor) -> str:
    return f"shape {tuple(t.shape)}, dtype {t.dtype}"


def require_grad_flow(output: torch.Tensor, inputs: Iterable[torch.Tensor], *, name: str) -> None:
    """Check that gradients flow from ``output`` back to every tensor in ``inputs``.

    Fails with a message about ``detach()``, ``.item()``/``float()`` or NumPy round trips,
    the usual ways to cut the graph.
    """
    if not output.requires_grad:
        raise GradingError(
            f"{name} does not depend on its inputs through autograd: did you use .detach(), .item(), "
            f"float() or NumPy inside? Keep the computation in torch operations on the input tensors."
        )
    inputs = list(inputs)
    grads = torch.autograd.grad(output.sum(), inputs, allow_unused=True)
    for i, g in enumerate(grads):
        if g is None:
            raise GradingError(f"{name}: no gradient reaches input #{i + 1}. Did you detach it or ignore it?")
