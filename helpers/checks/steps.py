"""Checks of the training-step exercises of lessons 3 and 4: ``discriminator_step`` and ``generator_step``.

The step under test is passed in. The checks run it on tiny networks (a linear G with tanh, a two-layer D with a
sigmoid, no dropout or BatchNorm so that every row is independent) with fresh random inputs, old gradients left in
every ``.grad``, and a loss function that records what it is given; then they look at what the step did: which z (and
labels) G was called with, what the loss saw, whose parameters and gradients changed, what is left frozen. With
``conditional=True`` (lesson 4) G is ``G(z, labels)`` and D is ``D(images, labels)``.

No exercise's answer is here: the losses handed to a step are made up for the test (linear in D's output, not a
lesson's BCE), and the reference steps that :meth:`StepChecks.sequences` compares with are written in the hidden
tests. Everything runs on the CPU in a few milliseconds.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import utils as nn_utils

from helpers.checks.core import GradingError, call, changed_parameters, compare, parameters_of
from helpers.contracts import loss_tensor_problem

LATENT, PIXELS, CLASSES, EMBED = 3, 5, 10, 2  # z (B, 3) -> "images" (B, 5); labels 0..9 embedded in 2 numbers


def test_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The loss the checks give ``discriminator_step`` (scalar; any differentiable loss tests a step)."""
    return (1 - d_real).mean() + 2 * d_fake.mean()


def test_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """The loss the checks give ``generator_step`` (scalar)."""
    return (1 - d_fake).mean()


def _randomise(module: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))


class TinyG(nn.Module):
    """A test generator, ``G(z)`` or, conditional, ``G(z, labels)``: z (B, 3) -> "images" (B, 5) in (-1, 1).

    It remembers every ``(z, labels)`` it is given in ``calls`` (labels None when unconditional).
    """

    def __init__(self, gen: torch.Generator, conditional: bool = False):
        super().__init__()
        self.conditional = conditional
        if conditional:
            self.embedding = nn.Embedding(CLASSES, EMBED)
        self.layer = nn.Linear(LATENT + (EMBED if conditional else 0), PIXELS)
        _randomise(self, gen)
        self.calls: list = []

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional != (labels is not None):
            raise TypeError("this G takes (z, labels)" if self.conditional else "this G takes z only")
        self.calls.append((z.detach().clone(), None if labels is None else labels.clone()))
        x = z if labels is None else torch.cat([self.embedding(labels), z], dim=1)
        return torch.tanh(self.layer(x))


class TinyD(nn.Module):
    """A test discriminator, ``D(images)`` or ``D(images, labels)``: (B, 5) -> probabilities (B, 1)."""

    def __init__(self, gen: torch.Generator, conditional: bool = False):
        super().__init__()
        self.conditional = conditional
        if conditional:
            self.embedding = nn.Embedding(CLASSES, EMBED)
        self.hidden, self.out = nn.Linear(PIXELS + (EMBED if conditional else 0), 4), nn.Linear(4, 1)
        _randomise(self, gen)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional != (labels is not None):
            raise TypeError("this D takes (images, labels)" if self.conditional else "this D takes images only")
        x = images if labels is None else torch.cat([images, self.embedding(labels)], dim=1)
        return torch.sigmoid(self.out(torch.tanh(self.hidden(x))))


class Recorder:
    """A loss function that remembers its arguments (and whether a gradient could flow from them into ``watch``)."""

    def __init__(self, loss: Callable, watch: nn.Module | None = None):
        self.loss, self.watch, self.calls, self.reaches = loss, watch, [], []

    def __call__(self, *args):
        self.calls.append([a.detach().clone() for a in args])
        if self.watch is not None:
            inputs = [p for p in self.watch.parameters() if p.requires_grad]
            flows = (
                args[0].requires_grad
                and inputs
                and any(
                    g is not None
                    for g in torch.autograd.grad(args[0].sum(), inputs, allow_unused=True, retain_graph=True)
                )
            )
            self.reaches.append(bool(flows))
        return self.loss(*args)


def _put_grads(module: nn.Module, grads: list) -> None:
    """Set each parameter's ``.grad`` to a copy of ``grads[i]`` (None stays None)."""
    for p, g in zip(module.parameters(), grads):
        p.grad = None if g is None else g.clone()


def grads_of(module: nn.Module) -> list:
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


def same_grads(before: list, module: nn.Module) -> bool:
    return all(
        (b is None and p.grad is None) or (b is not None and p.grad is not None and torch.equal(b, p.grad))
        for b, p in zip(before, module.parameters())
    )


def frozen_parameters(G: nn.Module, D: nn.Module) -> list[str]:
    return [
        f"{net}.{n}"
        for net, module in (("G", G), ("D", D))
        for n, p in module.named_parameters()
        if not p.requires_grad
    ]


def check_loss_tensor(loss: Any, name: str, expected: torch.Tensor) -> None:
    """``loss`` must be the scalar loss tensor (not ``loss.item()``, :mod:`helpers.contracts`) and equal
    ``expected``."""
    problem = loss_tensor_problem(loss, name)
    if problem:
        raise GradingError(problem)
    compare(loss.detach().reshape(()), expected, name=f"the loss returned by {name}", rtol=1e-4, atol=1e-6)


class StepChecks:
    """The checks of one lesson's two step exercises; ``seed`` None draws fresh inputs at every grading.

    Steps are called as in the lesson: unconditional ``discriminator_step(G, D, opt_D, real, z, d_loss)`` and
    ``generator_step(G, D, opt_G, z, g_loss)``; conditional ``discriminator_step(G, D, opt_D, real, real_labels, z,
    fake_labels, d_loss)`` and ``generator_step(G, D, opt_G, z, fake_labels, g_loss)``.
    """

    def __init__(self, conditional: bool, seed: int | None = None):
        self.conditional = conditional
        self.gen = torch.Generator().manual_seed(secrets.randbits(32) if seed is None else seed)
        if conditional:
            self.make_fake, self.judge_real = "G(z, fake_labels)", "D(real, real_labels)"
            self.judge_fake = "D(fake, fake_labels)"
            self.judge_g = "D(G(z, fake_labels), fake_labels)"
        else:
            self.make_fake, self.judge_real, self.judge_fake, self.judge_g = "G(z)", "D(real)", "D(fake)", "D(G(z))"
        self.g_verdict = f"g_loss({self.judge_g})"

    # -- inputs ---------------------------------------------------------------------------------------------------
    def nets(self) -> tuple[TinyG, TinyD]:
        return TinyG(self.gen, self.conditional), TinyD(self.gen, self.conditional)

    def junk(self, module: nn.Module, present: bool = True) -> list:
        """Gradients another step could have left in ``module``'s ``.grad`` (or None for each)."""
        return [torch.randn(p.shape, generator=self.gen) * 3 if present else None for p in module.parameters()]

    def case(self, batch: int | None = None) -> dict:
        """real (B, 5), z (B, 3) and, conditional, real_labels and fake_labels (B,), different somewhere so that
        mix-ups show. ``batch`` None draws 2..16."""
        batch = int(torch.randint(2, 17, (1,), generator=self.gen)) if batch is None else batch
        case = dict(
            real=torch.rand(batch, PIXELS, generator=self.gen) * 2 - 1, z=torch.randn(batch, LATENT, generator=self.gen)
        )
        if self.conditional:
            case["real_labels"] = torch.randint(CLASSES, (batch,), generator=self.gen)
            case["fake_labels"] = (
                case["real_labels"] + torch.randint(1, CLASSES, (batch,), generator=self.gen)
            ) % CLASSES
        return case

    def d_args(self, case: dict) -> tuple:
        keys = ("real", "real_labels", "z", "fake_labels") if self.conditional else ("real", "z")
        return tuple(case[k] for k in keys)

    def g_args(self, case: dict) -> tuple:
        return (case["z"], case["fake_labels"]) if self.conditional else (case["z"],)

    # -- one call ---------------------------------------------------------------------------------------------------
    def _attempt(self, step: Callable, *args):
        try:
            return call(step, *args)
        except GradingError:
            raise
        except Exception as error:
            hint = (
                "both networks take two arguments here, G(z, labels) and D(images, labels)"
                if self.conditional
                else "the networks, the optimizer, the batches and the loss function"
            )
            raise GradingError(
                f"{getattr(step, '__name__', 'your step')} raised {type(error).__name__}: {error}. "
                f"Use only the arguments you are given ({hint})."
            ) from error

    def _check_g_calls(self, G: TinyG, case: dict, name: str, hint: str, real_labels_possible: bool) -> None:
        z = case["z"]
        if not G.calls:
            raise GradingError(f"{name} never called G: {hint}.")
        with_z = [labels for c, labels in G.calls if c.shape == z.shape and torch.equal(c, z)]
        if not with_z:
            raise GradingError(
                f"{name}: G was never called with the z passed in. It looks like you drew your own "
                f"noise: use the z you were given, {self.make_fake} (the trainer gives both steps the "
                f"same z)."
            )
        if not self.conditional:
            return
        fake_labels = case["fake_labels"]
        if not any(labels.shape == fake_labels.shape and torch.equal(labels, fake_labels) for labels in with_z):
            if real_labels_possible and any(torch.equal(labels, case["real_labels"]) for labels in with_z):
                raise GradingError(
                    f"{name}: G was asked for real_labels. Generate the fake batch with the labels drawn "
                    f"for it, G(z, fake_labels), and judge it with fake_labels."
                )
            raise GradingError(
                f"{name}: G was never asked for the fake_labels passed in: use the fake_labels you were "
                f"given, G(z, fake_labels) (the trainer gives both steps the same labels)."
            )

    def discriminator_call(self, step: Callable, G: TinyG, D: TinyD, opt_D, case: dict, label: str):
        """Run ``step`` once and check all that needs no reference step; returns the loss it returned."""
        name = f"discriminator_step ({label})"
        real, z = case["real"], case["z"]
        with torch.no_grad():
            if self.conditional:
                fake, rl, fl = G(z, case["fake_labels"]), case["real_labels"], case["fake_labels"]
                expected = {
                    ("real", "real"): D(real, rl),
                    ("real", "fake"): D(real, fl),
                    ("fake", "fake"): D(fake, fl),
                    ("fake", "real"): D(fake, rl),
                }
            else:
                expected = {("real", "real"): D(real), ("fake", "fake"): D(G(z))}
        expected_loss = test_d_loss(expected["real", "real"], expected["fake", "fake"])
        G_before, D_before, G_grads = parameters_of(G), parameters_of(D), grads_of(G)
        G.calls.clear()
        d_loss = Recorder(test_d_loss)
        loss = self._attempt(step, G, D, opt_D, *self.d_args(case), d_loss)
        self._check_g_calls(G, case, name, f"make the fake batch with fake = {self.make_fake}", True)
        if changed_parameters(G_before, G):
            raise GradingError(f"{name} changed G's parameters: D's step must leave G as it is (only opt_D.step()).")
        if not same_grads(G_grads, G):
            raise GradingError(
                f"{name}: it looks like you forgot `.detach()`: G's gradients changed during D's step. "
                f"Judge {self.make_fake}.detach() (or make the fake batch under torch.no_grad()), so "
                f"that D's loss sends no gradient into G: this step trains D only."
            )
        frozen = frozen_parameters(G, D)
        if frozen:
            raise GradingError(
                f"{name} left parameters frozen (requires_grad=False): {frozen}. Detach the fake batch "
                f"instead of freezing a network, or unfreeze it before returning."
            )
        call_text = f"d_loss({self.judge_real}, {self.judge_fake})"
        if not d_loss.calls:
            raise GradingError(
                f"{name} never called the d_loss it was given: compute the loss as {call_text} with the "
                f"function passed in (not your own loss)."
            )
        got_real, got_fake = d_loss.calls[-1]
        swapped = (
            f"d_loss's arguments swapped: call {call_text}, the real batch's probabilities first",
            expected["fake", "fake"],
        )
        real_mistakes, fake_mistakes = dict([swapped]), {}
        if self.conditional:
            real_mistakes[
                "D(real) judged with fake_labels: judge the real images with their own labels, D(real, real_labels)"
            ] = expected["real", "fake"]
            fake_mistakes = {
                "the fake batch judged with real_labels: judge G(z, fake_labels) with fake_labels, the labels G was "
                "asked for": expected["fake", "real"],
                "D(real) judged with fake_labels in the place of the fake batch: the second argument is "
                "D(G(z, fake_labels), fake_labels)": expected["real", "fake"],
            }
        compare(
            got_real,
            expected["real", "real"],
            name=f"the first argument of d_loss ({label})",
            rtol=1e-4,
            atol=1e-6,
            context=f"(D's probabilities for the real batch, {self.judge_real})",
            mistakes=real_mistakes,
        )
        compare(
            got_fake,
            expected["fake", "fake"],
            name=f"the second argument of d_loss ({label})",
            rtol=1e-4,
            atol=1e-6,
            context=f"(D's probabilities for the fake batch, {self.judge_fake} with fake = {self.make_fake})",
            mistakes=fake_mistakes,
        )
        check_loss_tensor(loss, name, expected_loss)
        if not changed_parameters(D_before, D):
            raise GradingError(
                f"{name}: D's parameters did not change. D was not updated: call opt_D.step() after "
                f"loss.backward() (and clear the old gradients before backward, not between backward "
                f"and step)."
            )
        return loss

    def generator_call(self, step: Callable, G: TinyG, D: TinyD, opt_G, case: dict, label: str):
        """Run ``step`` once and check all that needs no reference step; returns the loss it returned."""
        name = f"generator_step ({label})"
        with torch.no_grad():
            expected_fake = D(G(*self.g_args(case)), case["fake_labels"]) if self.conditional else D(G(case["z"]))
        G_before, D_before = parameters_of(G), parameters_of(D)
        G_grads_before = grads_of(G)
        G.calls.clear()
        g_loss = Recorder(test_g_loss, watch=G)
        loss = self._attempt(step, G, D, opt_G, *self.g_args(case), g_loss)
        self._check_g_calls(G, case, name, f"G learns from D's verdict on its batch, {self.g_verdict}", False)
        changed = changed_parameters(D_before, D)
        if changed:
            raise GradingError(
                f"{name} changed D's parameters {changed}: G's step must leave D as it is. Step only "
                f"opt_G, the optimizer of G's parameters."
            )
        frozen = frozen_parameters(G, D)
        if frozen:
            raise GradingError(
                f"{name} left parameters frozen (requires_grad=False): {frozen}. If you freeze D during "
                f"G's step, unfreeze it before returning, or D cannot learn in its next step."
            )
        if not g_loss.calls:
            raise GradingError(
                f"{name} never called the g_loss it was given: compute the loss as {self.g_verdict} "
                f"with the function passed in (not your own loss)."
            )
        compare(
            g_loss.calls[-1][0],
            expected_fake,
            name=f"the argument of g_loss ({label})",
            rtol=1e-4,
            atol=1e-6,
            context=f"(D's probabilities for G's batch, {self.judge_g})",
        )
        check_loss_tensor(loss, name, test_g_loss(expected_fake))
        if not changed_parameters(G_before, G):
            # a gradient reached G: the loss's argument led back to G (seen where the loss ran in the same process),
            # or G's .grad came out of the step changed and not zero (seen wherever the step ran)
            filled = not same_grads(G_grads_before, G) and any(
                p.grad is not None and bool(p.grad.abs().sum() > 0) for p in G.parameters()
            )
            if not (any(g_loss.reaches) or filled):
                raise GradingError(
                    f"{name}: G's parameters did not change. It looks like G's output was detached in "
                    f"G's step: no gradient reached G. Do not detach {self.make_fake} (nor compute it "
                    f"under torch.no_grad()) here: G learns from the gradient that flows back through D."
                )
            raise GradingError(
                f"{name}: G's parameters did not change. G was not updated: call opt_G.step() after "
                f"loss.backward() (and clear the old gradients before backward, not between backward "
                f"and step)."
            )
        return loss

    def _junk_nets(self) -> tuple[TinyG, TinyD]:
        """Fresh tiny networks with old gradients in every ``.grad``, as another step would leave them."""
        G, D = self.nets()
        for module in (G, D):
            _put_grads(module, self.junk(module))
        return G, D

    def discriminator_step(self, step: Callable) -> None:
        """The visible check: one call with SGD, old gradients in every ``.grad``."""
        G, D = self._junk_nets()
        self.discriminator_call(step, G, D, torch.optim.SGD(D.parameters(), lr=0.1), self.case(8), "SGD")

    def generator_step(self, step: Callable) -> None:
        """The visible check: one call with SGD, old gradients in every ``.grad``."""
        G, D = self._junk_nets()
        self.generator_call(step, G, D, torch.optim.SGD(G.parameters(), lr=0.1), self.case(8), "SGD")

    # -- two calls in a row, against a reference -----------------------------------------------------------------
    def _run(
        self,
        which: str,
        step: Callable,
        G0,
        D0,
        make_optimizer,
        inputs,
        label: str = "",
        checked: bool = False,
        **mistake,
    ):
        """``step`` (``checked``: through the one-call checks) on copies of G0 and D0, once per input
        (old gradients put back before each): the trained network's parameters after, as one vector."""
        G, D = (copy.deepcopy(net) for net in (G0, D0))
        trained = D if which == "D" else G
        opt = make_optimizer(trained.parameters())
        for i, (case, D_junk, G_junk) in enumerate(inputs):
            for module, junk in ((D, D_junk), (G, G_junk)):
                _put_grads(module, junk)
            if which == "D":
                if checked:
                    self.discriminator_call(step, G, D, opt, case, f"{label}, step {i + 1}")
                else:
                    step(G, D, opt, *self.d_args(case), test_d_loss, **mistake)
            elif checked:
                self.generator_call(step, G, D, opt, case, f"{label}, step {i + 1}")
            else:
                step(G, D, opt, *self.g_args(case), test_g_loss, **mistake)
        return nn_utils.parameters_to_vector(trained.parameters()).detach()

    def sequences(self, which: str, step: Callable, reference_step: Callable) -> None:
        """Two calls in a row of ``step`` ("D": discriminator_step, "G": generator_step) with SGD and Adam, old
        gradients present or None, compared with ``reference_step`` (same arguments, plus the keywords
        ``zero_grad=False`` and ``ascend=True`` that make its two likely mistakes)."""
        net, opt_name = ("D", "opt_D") if which == "D" else ("G", "opt_G")

        def sgd(ps):
            return torch.optim.SGD(ps, lr=0.1)

        def adam(ps):
            return torch.optim.Adam(ps, lr=0.01, betas=(0.5, 0.999))

        if which == "D":  # (label, optimizer, junk in D's .grad at the first call, junk in G's .grad)
            settings = [
                ("SGD, junk in every .grad", sgd, True, True),
                ("SGD, G's .grad None", sgd, True, False),
                ("Adam, D's .grad None at first", adam, False, True),
            ]
        else:  # D's .grad is not G's business (the D step clears it): junk there throughout
            settings = [
                ("SGD, junk in G's .grad", sgd, True, True),
                ("Adam, G's .grad None at first", adam, False, True),
            ]
        for label, make_optimizer, junk_first, junk_other in settings:
            G0, D0 = self.nets()
            trained, other = (D0, G0) if which == "D" else (G0, D0)
            inputs = []
            for i in range(2):
                own, others = self.junk(trained, junk_first or i > 0), self.junk(other, junk_other)
                inputs.append((self.case(), *((own, others) if which == "D" else (others, own))))
            got = self._run(which, step, G0, D0, make_optimizer, inputs, label, checked=True)

            def run(G0=G0, D0=D0, make_optimizer=make_optimizer, inputs=inputs, **mistake):
                return self._run(which, reference_step, G0, D0, make_optimizer, inputs, **mistake)

            stale = (
                "G's step leaves gradients in D's .grad"
                if which == "D"
                else "the last step's gradients are still in G's .grad"
            )
            compare(
                got,
                run(),
                name=f"{net}'s parameters after two calls of {'discriminator' if which == 'D' else 'generator'}"
                f"_step ({label})",
                atol=1e-6,
                rtol=1e-4,
                mistakes={
                    f"old gradients were not cleared: call {opt_name}.zero_grad() (or {net}.zero_grad()) before "
                    f"loss.backward(); {stale}": run(zero_grad=False),
                    f"gradient ascent ({net}'s loss was maximised): minimise it with loss.backward()": run(ascend=True),
                },
            )
