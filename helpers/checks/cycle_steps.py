"""Checks of lesson 5's step exercises (CycleGAN's ``generator_step`` and ``discriminator_step``).

Tiny stand-ins that grade in milliseconds (1×1-convolution generators with tanh, 3×3-convolution patch
discriminators, 6×6 images), a plain-SGD optimizer, a hook that sees whether D was frozen at each call, and the
checks of what a step returns and leaves behind. No answer is here: the reference steps live in the hidden tests.
"""

from __future__ import annotations

import torch

from helpers.checks.core import GradingError, check_tensor


def tiny_cyclegan(seed):
    # tiny stand-ins, quick to grade: 1x1-convolution generators with tanh, 3x3-convolution patch discriminators
    rng = torch.Generator().manual_seed(seed)

    def conv(c_in, c_out, k):
        layer = torch.nn.Conv2d(c_in, c_out, k)
        with torch.no_grad():
            for p in layer.parameters():
                p.copy_(torch.randn(p.shape, generator=rng) * 0.5)
        return layer

    G_AB, G_BA = (torch.nn.Sequential(conv(3, 3, 1), torch.nn.Tanh()) for _ in range(2))
    D_A, D_B = conv(3, 1, 3), conv(3, 1, 3)
    real_a, real_b = (torch.rand(2, 3, 6, 6, generator=rng) * 2 - 1 for _ in range(2))
    return [G_AB, G_BA, D_A, D_B], real_a, real_b


class PlainSGD:
    # what a step function uses of an optimizer (zero_grad, step), as plain SGD: p -= lr * p.grad;
    # sensitive to every mistake, and grading does not wait seconds for torch.optim's first import
    def __init__(self, *nets, lr=0.1):
        self.params = [p for net in nets for p in net.parameters()]
        self.param_groups = [{"params": self.params, "lr": lr}]

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self, closure=None):
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.param_groups[0]["lr"])


class watch_frozen:
    """At every call of a discriminator: were all its parameters frozen? (Iterate over the answers.) Each module keeps
    its own list, `frozen_calls`, so that it is seen after the step wherever the step ran."""

    def __init__(self, *discriminators):
        self.discriminators = discriminators
        for D in discriminators:
            D.frozen_calls = []
            D.register_forward_hook(
                lambda module, args, out: module.frozen_calls.append(
                    all(not p.requires_grad for p in module.parameters())
                )
            )

    def __iter__(self):
        return iter([frozen for D in self.discriminators for frozen in D.frozen_calls])


def check_step_output(out, name):
    if not (isinstance(out, (tuple, list)) and len(out) == 3):
        raise GradingError(
            f"{name} must return the tuple (loss, fake_a, fake_b), got {type(out).__name__}"
            f"{f' of length {len(out)}' if isinstance(out, (tuple, list)) else ''}."
        )
    loss = check_tensor(out[0], name=f"{name}'s loss", dtype="float")
    if loss.numel() != 1:
        raise GradingError(f"{name}'s loss has shape {tuple(loss.shape)}: return the scalar loss of generator_loss.")
    return out


def check_discriminators_after(D_A, D_B, grads_before, frozen_at_calls):
    for name, D in (("D_A", D_A), ("D_B", D_B)):
        for p, before in zip(D.parameters(), grads_before[name]):
            # unchanged, or cleared (zero_grad on D is harmless): anything else is a gradient of G's loss
            untouched = p.grad is None or not bool(p.grad.any()) or (before is not None and torch.equal(p.grad, before))
            if not untouched:
                raise GradingError(
                    f"D_A and D_B must be frozen during G's step: D's gradients changed ({name}'s .grad "
                    f"got G's gradients). Call D_A.requires_grad_(False) and D_B.requires_grad_(False) "
                    f"before G's loss goes through them."
                )
    if not all(frozen_at_calls):
        raise GradingError(
            "D_A and D_B must be frozen during G's step, before G's loss goes through them: a "
            "discriminator was called while its parameters still required gradients (freeze them "
            "first, so that backward never computes their gradients)."
        )
    for name, D in (("D_A", D_A), ("D_B", D_B)):
        if not all(p.requires_grad for p in D.parameters()):
            raise GradingError(
                f"D_A and D_B must be unfrozen afterwards: requires_grad_(True) at the end of G's step "
                f"({name} is still frozen, so D's own step could not train it)."
            )


def check_d_step_output(loss, generators):
    loss = check_tensor(loss, name="discriminator_step's loss", dtype="float")
    if loss.numel() != 1:
        raise GradingError(
            f"discriminator_step's loss has shape {tuple(loss.shape)}: return the scalar sum of both "
            f"discriminators' losses."
        )
    if any(p.grad is not None and bool(p.grad.any()) for G in generators for p in G.parameters()):
        raise GradingError(
            "D's step must not reach the generators: detach the fakes (fake_a.detach(), "
            "fake_b.detach()) before D judges them. Here gradients of D's loss reached the generators "
            "that made fake_a and fake_b."
        )
    return loss
