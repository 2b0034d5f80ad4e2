"""Checks of lesson 4's input exercises: ``generator_input``, ``discriminator_input`` and ``sample_labels``.

The function under test is passed in. The checks call it on fresh random inputs (CPU, float32) and look at the
pieces of what it returns: the shape, which columns hold the labels' embedding rows and which hold the noise (or the
flattened images), and whether gradients reach the embedding's table and the noise (or the images). A wrong answer
gets a message that names the likely mistake: the pieces in the wrong order, one-hot vectors or the integer labels
instead of the embedding, a new ``nn.Embedding``, a detached piece, 784 hard-coded, labels outside 0..num_classes-1.

No exercise's answer is here: the pieces are checked one at a time, and the hidden tests compare whole answers with
their own reference. Each check runs in a few milliseconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from helpers.checks.core import GradingError, _close, call, check_tensor

__all__ = ["attempt", "check_generator_input", "check_discriminator_input", "check_labels", "check_sample_labels"]


def attempt(function: Callable[..., Any], *args: Any, hint: str) -> Any:
    """Call a student's function; a crash becomes a ``GradingError`` that adds ``hint`` (where to look)."""
    try:
        return call(function, *args)
    except GradingError:
        raise
    except Exception as error:
        raise GradingError(
            f"{getattr(function, '__name__', 'the function')} raised {type(error).__name__}: {error}. {hint}"
        ) from error


def _reaches(output: Any, tensor: torch.Tensor) -> bool:
    """Whether a (non-zero) gradient flows from ``output`` back to ``tensor``."""
    if not (isinstance(output, torch.Tensor) and output.requires_grad):
        return False
    (grad,) = torch.autograd.grad(output.sum(), tensor, allow_unused=True, retain_graph=True)
    return grad is not None and bool(grad.abs().sum() > 0)


def _same(got: torch.Tensor, expected: torch.Tensor) -> bool:
    """Same shape and values within float32 tolerance (the comparison of ``helpers.checks.core.compare``)."""
    return _close(got, expected, rtol=1e-5, atol=1e-6)


def _check_width(
    out: Any, name: str, batch_size: int, width: int, *, other: int, embedding_dim: int, what_else: str
) -> None:
    """Name the usual reasons for a wrong number of columns (``other`` = the width of the non-label piece)."""
    if isinstance(out, torch.Tensor) and out.dim() == 2 and len(out) == batch_size and out.shape[1] != width:
        if out.shape[1] == other + 1:
            raise GradingError(
                f"{name} has shape {tuple(out.shape)}: it looks like the integer labels themselves were "
                f"concatenated. Concatenate embedding(labels), shape ({batch_size}, {embedding_dim})."
            )
        if out.shape[1] in (other, embedding_dim):
            raise GradingError(
                f"{name} has shape {tuple(out.shape)}: one of the two pieces is missing; return "
                f"{what_else}, shape ({batch_size}, {width})."
            )
    check_tensor(out, name=name, shape=(batch_size, width), dtype="float")


def _check_label_piece(
    out: torch.Tensor,
    piece: torch.Tensor,
    rows: torch.Tensor,
    embedding: torch.nn.Module,
    name: str,
    where: str,
    mistakes: dict[str, bool],
) -> None:
    """``piece`` (the columns that should be embedding(labels)) against the table's rows; the gradient to the table."""
    used = _reaches(out, embedding.weight)
    if not _same(piece, rows):
        for mistake, seen in mistakes.items():
            if seen:
                raise GradingError(f"{name} is wrong: it looks like {mistake}.")
        if not used:
            raise GradingError(
                f"{name}: the {where} are not embedding(labels), and no gradient reaches the `embedding` "
                f"passed in: look the labels up with that embedding, embedding(labels) (not a new "
                f"nn.Embedding, not one-hot vectors)."
            )
        raise GradingError(
            f"{name}: the {where} should be embedding(labels), the table's row of each label; they "
            f"differ by up to {float((piece.detach() - rows.detach()).abs().max()):.3g}."
        )
    if not used:
        raise GradingError(
            f"{name} has the right values, but no gradient reaches the embedding's table, so the network "
            f"could never learn it: remove .detach() / torch.no_grad() around embedding(labels)."
        )


def _table(num_classes: int, embedding_dim: int, seed: int | None) -> tuple[torch.Generator, torch.nn.Embedding]:
    """A random stream (``seed=None``: fresh) and an ``nn.Embedding`` with standard-normal rows drawn from it (CPU)."""
    rng = torch.Generator().manual_seed(secrets.randbits(31) if seed is None else seed)
    embedding = torch.nn.Embedding(num_classes, embedding_dim)
    with torch.no_grad():
        embedding.weight.copy_(torch.randn(num_classes, embedding_dim, generator=rng))
    return rng, embedding


def check_generator_input(
    generator_input: Callable,
    batch_size: int = 4,
    latent_dim: int = 100,
    num_classes: int = 10,
    embedding_dim: int = 10,
    seed: int | None = None,
) -> torch.Tensor:
    """Check ``generator_input(noise (B, latent_dim), labels (B,) int64, embedding)``
    -> (B, embedding_dim + latent_dim): the first ``embedding_dim`` columns are the labels' embedding rows, the rest the
    noise; gradients reach both.
    ``seed=None`` draws fresh inputs. Returns the student's output."""
    rng, embedding = _table(num_classes, embedding_dim, seed)
    noise = torch.randn(batch_size, latent_dim, generator=rng, requires_grad=True)
    labels = torch.randint(num_classes, (batch_size,), generator=rng)
    name = (
        f"generator_input(noise {tuple(noise.shape)}, labels ({batch_size},), "
        f"Embedding({num_classes}, {embedding_dim}))"
    )
    out = attempt(
        generator_input,
        noise,
        labels,
        embedding,
        hint="Concatenate 2-D pieces, one row per example, on the last axis: torch.cat([first, second], dim=-1).",
    )
    _check_width(
        out,
        name,
        batch_size,
        embedding_dim + latent_dim,
        other=latent_dim,
        embedding_dim=embedding_dim,
        what_else="embedding(labels) then the noise",
    )
    rows = embedding.weight[labels]
    mistakes = {
        "the noise first: the order is embedding(labels) first, then the noise": _same(out[:, :latent_dim], noise)
        and _same(out[:, latent_dim:], rows),
        "one-hot labels instead of embedding(labels)": embedding_dim == num_classes
        and _same(out[:, :embedding_dim], F.one_hot(labels, num_classes).float()),
    }
    _check_label_piece(out, out[:, :embedding_dim], rows, embedding, name, f"first {embedding_dim} columns", mistakes)
    if not _same(out[:, embedding_dim:], noise):
        raise GradingError(f"{name}: the last {latent_dim} columns should be the noise, unchanged.")
    if not _reaches(out, noise):
        raise GradingError(f"{name}: no gradient reaches the noise. Keep it a torch tensor, no .detach().")
    return out


def check_discriminator_input(
    discriminator_input: Callable,
    image_shape: tuple[int, ...] = (4, 784),
    num_classes: int = 10,
    embedding_dim: int = 10,
    seed: int | None = None,
) -> torch.Tensor:
    """Check ``discriminator_input(images (B, ...), labels (B,) int64, embedding)`` -> (B, pixels + embedding_dim):
    each image flattened to one row, then its label's embedding row; gradients reach the images and the table.
    ``seed=None`` draws fresh inputs. Returns the student's output."""
    rng, embedding = _table(num_classes, embedding_dim, seed)
    images = (torch.rand(image_shape, generator=rng) * 2 - 1).requires_grad_()
    batch_size, pixels = image_shape[0], images[0].numel()
    labels = torch.randint(num_classes, (batch_size,), generator=rng)
    name = (
        f"discriminator_input(images {tuple(image_shape)}, labels ({batch_size},), "
        f"Embedding({num_classes}, {embedding_dim}))"
    )
    try:
        out = attempt(
            discriminator_input,
            images,
            labels,
            embedding,
            hint="Flatten each image to one row first, "
            "keeping the batch axis (images.reshape(len(images), -1)), then concatenate on the last axis: "
            "torch.cat([...], dim=-1).",
        )
        _check_width(
            out,
            name,
            batch_size,
            pixels + embedding_dim,
            other=pixels,
            embedding_dim=embedding_dim,
            what_else="the flattened images then embedding(labels)",
        )
    except GradingError as error:
        if pixels != 784:
            raise GradingError(
                f"{error}\n(It works for 28×28 images but not for images of shape {tuple(image_shape[1:])}: "
                f"is 784 or 28 hard-coded? Flatten with images.reshape(len(images), -1).)"
            ) from None
        raise
    rows, flat = embedding.weight[labels], images.detach().flatten(1)
    mistakes = {
        "the embedding first: the order is the flattened images first, then embedding(labels)": _same(
            out[:, :embedding_dim], rows
        )
        and _same(out[:, embedding_dim:], flat),
        "one-hot labels instead of embedding(labels)": embedding_dim == num_classes
        and _same(out[:, pixels:], F.one_hot(labels, num_classes).float()),
    }
    _check_label_piece(out, out[:, pixels:], rows, embedding, name, f"last {embedding_dim} columns", mistakes)
    if not _same(out[:, :pixels], flat):
        raise GradingError(
            f"{name}: the first {pixels} columns should be the images, each flattened row by row "
            f"(images.reshape(len(images), -1)), values unchanged."
        )
    if not _reaches(out, images):
        raise GradingError(
            f"{name}: no gradient reaches the images, so G could not learn through D. Do not detach "
            f"the images or turn them into NumPy arrays."
        )
    return out


def check_labels(labels: Any, name: str, batch_size: int, num_classes: int) -> torch.Tensor:
    """Check one output of ``sample_labels``: int64, shape (batch_size,), values in 0..num_classes-1 and, for
    200 or more draws per class, every class drawn and the counts uniform (a chi-square bound)."""
    if not isinstance(labels, torch.Tensor):
        check_tensor(labels, name=name)  # explains what was returned instead
    if labels.dtype != torch.int64:
        raise GradingError(
            f"{name} has dtype {labels.dtype}: labels must be int64 (torch.long), the type nn.Embedding "
            f"and torch.randint use. Draw integers, e.g. with torch.randint."
        )
    if tuple(labels.shape) != (batch_size,):
        raise GradingError(f"{name} has shape {tuple(labels.shape)}: one label per example, shape ({batch_size},).")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high > num_classes - 1:
        ignored = " (does it ignore num_classes?)" if high >= num_classes > 1 and low >= 0 else ""
        raise GradingError(
            f"{name} has values from {low} to {high}, outside 0..{num_classes - 1}: labels start at 0 "
            f"and stop at num_classes - 1{ignored}."
        )
    counts = torch.bincount(labels.cpu(), minlength=num_classes)
    if len(labels) >= 200 * num_classes:
        missing = [k for k in range(num_classes) if counts[k] == 0]
        if missing:
            raise GradingError(
                f"{name} never draws the label(s) {missing} of 0..{num_classes - 1}: torch.randint's upper "
                f"bound is exclusive, so torch.randint(num_classes, ...) gives 0..num_classes - 1."
            )
        expected = len(labels) / num_classes
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        if chi2 > 3 * num_classes + 30:
            raise GradingError(f"{name} is not uniform over 0..{num_classes - 1}: counts {counts.tolist()}.")
    return labels


def check_sample_labels(sample_labels: Callable, device: torch.device | str) -> None:
    """The visible checks of ``sample_labels(batch_size, num_classes=10, device=None)``: a small batch, the spread
    of 20,000 and of 6,000 draws over 10 and 3 classes, and a batch created on ``device``."""
    check_labels(call(sample_labels, 64), "sample_labels(64)", 64, 10)
    check_labels(call(sample_labels, 20_000, 10), "sample_labels(20_000, 10)", 20_000, 10)
    check_labels(call(sample_labels, 6_000, 3), "sample_labels(6_000, 3)", 6_000, 3)
    check_tensor(call(sample_labels, 5, 10, device), name="sample_labels(5, 10, device)", device=device)
