"""Checks of a network the student built (lesson 3's generator and discriminator): what it is, not how it is written.

A network may be an ``nn.Sequential``, a class with a ``forward``, or anything else that is an ``nn.Module``; the
checks read only its parameters (in ``parameters()`` order, the order its layers were created in) and what it returns.
They hold no network: a test cell says which parameter shapes and which outputs the lesson's network has, or (lesson
5's residual block and PatchGAN, whose official weights must load) which state-dict keys and shapes
(:func:`check_state_dict`). Under
``nbgrader autograde`` the network lives in the grading worker and these checks see its parameters as the grader's
own tensors (:class:`grader.protocol.RemoteModule`); in a student's kernel they see the network itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from helpers.checks.core import GradingError, check_tensor
from helpers.contracts import layer_of, state_dict_problem


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
            then ``(b,)``), each a shape or a ``(shape, description)`` pair (:func:`linear`, :func:`batchnorm`,
            :func:`embedding` give them); a mismatch names the parameter and the layer it belongs to.
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
        expected, described = [], []
        for entry in parameter_shapes:  # a shape, or (shape, what the parameter is) as linear() & co. give
            shape, what = (entry[0], entry[1]) if entry and isinstance(entry[-1], str) else (entry, None)
            expected.append(tuple(shape))
            described.append(what or _layer_of(tuple(shape)))
        for index, (want, what, (param_name, param)) in enumerate(zip(expected, described, named)):
            if tuple(param.shape) != want:
                raise GradingError(
                    f"{name}: parameter {index + 1} ({param_name[:80]!r}) has shape {tuple(param.shape)}, the "
                    f"lesson's network has {want} there ({what}). Parameters in creation order: "
                    f"{_few(got)}."
                )
        if len(got) != len(expected):
            layers = ", ".join(described)
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


def linear(n_in: int, n_out: int) -> list[tuple[tuple[int, ...], str]]:
    """The parameters of ``nn.Linear(n_in, n_out)`` in creation order, described: weight (n_out, n_in), bias."""
    return [
        ((n_out, n_in), f"the weight of a Linear({n_in}, {n_out})"),
        ((n_out,), f"the bias of a Linear({n_in}, {n_out})"),
    ]


def batchnorm(n: int) -> list[tuple[tuple[int, ...], str]]:
    """The parameters of ``nn.BatchNorm1d(n)`` in creation order, described: the scale γ (n,), the shift β (n,)."""
    return [((n,), f"the weight (scale) of a BatchNorm1d({n})"), ((n,), f"the bias (shift) of a BatchNorm1d({n})")]


def embedding(num_embeddings: int, dim: int) -> list[tuple[tuple[int, ...], str]]:
    """The parameter of ``nn.Embedding(num_embeddings, dim)``: its table, one row per label."""
    return [((num_embeddings, dim), f"the table of an Embedding({num_embeddings}, {dim}), one row per label")]


def check_batchnorm_momentum(net, inputs: tuple, *, momentum: float, name: str) -> None:
    """Check that every BatchNorm running mean of ``net`` follows the batches with PyTorch's ``momentum``.

    Two training-mode passes on the same batch see the same batch mean ``m``, so the running mean moves
    ``r1 = (1 - k) r0 + k m`` and then ``r2 = (1 - k) r1 + k m``: ``k = 1 - (r2 - r1) / (r1 - r0)``, whatever the
    network's weights. Needs no reference network; leaves the running statistics as two passes left them.

    Raises:
        GradingError: the network has no running mean, or one moves with another momentum (the message gives it).
    """
    means = [(n, b) for n, b in net.named_buffers() if n.endswith("running_mean")]
    if not means:
        raise GradingError(f"{name} has no BatchNorm running statistics: its hidden layers need nn.BatchNorm1d")
    was_training = net.training
    net.train()
    r0 = [b.detach().clone() for _, b in means]
    with torch.no_grad():
        net(*inputs)
        r1 = [b.detach().clone() for _, b in means]
        net(*inputs)
    net.train(was_training)
    for (buffer_name, buffer), before, after in zip(means, r0, r1):
        step = after - before
        big = step.abs() > 1e-4 * (1 + before.abs())  # units whose mean moved enough to read k from
        if not bool(big.any()):
            raise GradingError(f"{name}: the running mean {buffer_name!r} did not move in a training-mode pass")
        k = (1 - (buffer.detach() - after)[big] / step[big]).median().item()
        if abs(k - momentum) > 0.01:
            default = (
                " (PyTorch's default: nn.BatchNorm1d(n, 0.8) sets eps, the second positional argument is eps, and "
                "leaves momentum at 0.1)"
                if abs(k - 0.1) < 0.01
                else ""
            )
            raise GradingError(
                f"{name}: the running mean {buffer_name!r} moves with momentum {k:.2f}{default}; the lesson's "
                f"network uses PyTorch's momentum={momentum:g} (PyTorch's momentum is the weight of the new batch: "
                f"Keras' momentum=0.8 is PyTorch's 0.2). Pass it by keyword: nn.BatchNorm1d(n, momentum=...)."
            )


def _few(shapes: list) -> str:
    """The first shapes of a list, for a message that stays short whatever the network."""
    return str(shapes[:8])[:-1] + (f", ... ({len(shapes)} in all)]" if len(shapes) > 8 else "]")


def _layer_of(shape: tuple[int, ...]) -> str:
    """What a parameter of this shape is: 'weight of a Linear(a, b)', 'weight of a Conv2d(a, b, kernel_size=k)' or
    'bias of size b' (:func:`helpers.contracts.layer_of`)."""
    return layer_of(shape)


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


def check_state_dict(net, expected: Mapping[str, tuple[int, ...]], *, name: str) -> None:
    """Check that ``net``'s state dict has exactly the keys and shapes of ``expected`` (a table written in the test
    cell, e.g. the official network's), so that weights saved from the official network load into it with
    ``load_state_dict(..., strict=True)``. Parameters and buffers count alike (a BatchNorm's running statistics are
    keys too).

    Raises:
        GradingError: naming the first key whose shape differs and the layer the table has there, or the missing and
            unexpected keys and the usual reason (layers numbered by position in an ``nn.Sequential``, parameter-free
            layers included; a norm with learned weights or running statistics).
    """
    if not isinstance(net, nn.Module):
        raise GradingError(
            f"{name} gave a {type(net).__name__}, not a network: build an nn.Module; a class is built by calling it."
        )
    problem = state_dict_problem(net, expected, name)
    if problem:
        raise GradingError(problem)
