"""Checks of a network the student built (lesson 3's generator and discriminator): what it is, not how it is written.

A network may be an ``nn.Sequential``, a class with a ``forward``, or anything else that is an ``nn.Module``; the
checks read only its parameters (in ``parameters()`` order, the order its layers were created in) and what it returns.
They hold no network: a test cell says which parameter shapes and which outputs the lesson's network has. Under
``nbgrader autograde`` the network lives in the grading worker and these checks see its parameters as the grader's
own tensors (:class:`grader.protocol.RemoteModule`); in a student's kernel they see the network itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from helpers.checks.core import GradingError, check_tensor


def check_network(
    net,
    *,
    name: str,
    parameter_shapes: Sequence[tuple[int, ...]] | None = None,
    inputs: tuple = (),
    output_shape: tuple[int, ...] | None = None,
    output_range: tuple[float, float] | None = None,
) -> torch.Tensor | None:
    """Check that ``net`` is a network with the given parameters and output; returns ``net(*inputs)``.

    Args:
        net: what the student's class or function returned.
        name: how the messages call it, e.g. ``"Generator(100)"``.
        parameter_shapes: the shape of every parameter tensor in creation order (a ``Linear(a, b)`` gives ``(b, a)``
            then ``(b,)``); a mismatch names the parameter and the layer it belongs to.
        inputs: a batch to run through the network (nothing is run when empty).
        output_shape: the shape ``net(*inputs)`` must have.
        output_range: ``(low, high)``: every output must lie in the closed interval.

    Raises:
        GradingError: naming the first thing that differs and what the lesson's network has there.
    """
    if not isinstance(net, nn.Module):
        raise GradingError(
            f"{name} gave a {type(net).__name__}, not a network: build an nn.Module (a class with a forward, or an "
            f"nn.Sequential); a class is built by calling it."
        )
    named = list(net.named_parameters())
    if parameter_shapes is not None:
        got = [tuple(p.shape) for _, p in named]
        expected = [tuple(s) for s in parameter_shapes]
        for index, (want, (param_name, param)) in enumerate(zip(expected, named)):
            if tuple(param.shape) != want:
                raise GradingError(
                    f"{name}: parameter {index + 1} ({param_name[:80]!r}) has shape {tuple(param.shape)}, the "
                    f"lesson's network has {want} there ({_layer_of(want)}). Parameters in creation order: "
                    f"{_few(got)}."
                )
        if len(got) != len(expected):
            layers = ", ".join(_layer_of(s) for s in expected)
            which = "an extra" if len(got) > len(expected) else "a missing"
            raise GradingError(
                f"{name} has {len(got)} parameter tensors, the lesson's network {len(expected)} ({layers}): "
                f"{which} layer or bias. Parameters in creation order: {_few(got)}."
            )
    if not inputs:
        return None
    try:
        with torch.no_grad():
            out = net(*inputs)
    except Exception as error:  # noqa: BLE001 - the message names the input the network could not take
        shapes = ", ".join(str(tuple(x.shape)) for x in inputs if isinstance(x, torch.Tensor))
        raise GradingError(f"{name} failed on an input of shape {shapes}: {type(error).__name__}: {error}") from None
    check_tensor(out, name=f"{name}'s output", shape=output_shape, dtype="float")
    if output_range is not None:
        low, high = output_range
        if bool(torch.isnan(out).any()) or out.min() < low or out.max() > high:
            raise GradingError(
                f"{name}'s outputs run from {out.min().item():.3g} to {out.max().item():.3g}; they must lie in "
                f"[{low:g}, {high:g}]: check the activation of the last layer."
            )
    return out


def _few(shapes: list) -> str:
    """The first shapes of a list, for a message that stays short whatever the network."""
    return str(shapes[:8])[:-1] + (f", ... ({len(shapes)} in all)]" if len(shapes) > 8 else "]")


def _layer_of(shape: tuple[int, ...]) -> str:
    """What a parameter of this shape is in a stack of linear layers: 'weight of Linear(a, b)' or 'bias of size b'."""
    if len(shape) == 2:
        return f"weight of a Linear({shape[1]}, {shape[0]})"
    if len(shape) == 1:
        return f"bias of size {shape[0]}"
    return f"a tensor of shape {shape}"


def randomize_weights(net: nn.Module, generator: torch.Generator) -> list[torch.Tensor]:
    """Overwrite every parameter of ``net``, in ``parameters()`` order (by position, not by name), with values drawn
    from ``generator`` (the grader's, at grading time), so the network runs on weights its code cannot know in
    advance. Returns the parameters' new values, in order.

    Raises:
        GradingError: two parameters are the same tensor (a weight shared by two layers), which the lesson's networks
            never do.
    """
    params = list(net.parameters())
    if len({id(p) for p in params}) != len(params):
        raise GradingError("the network lists one parameter tensor twice: build each layer with its own weights")
    with torch.no_grad():
        for p in params:
            p.copy_((torch.rand(p.shape, generator=generator, dtype=torch.float64) * 0.6 - 0.3).to(p.dtype))
    return [p.detach().clone() for p in params]
