"""helpers.checks.steps: the step checks of lessons 3 and 4 pass a correct step and name each typical mistake."""

import re

import pytest

from helpers.checks.core import GradingError
from helpers.checks.steps import StepChecks


def d_step(G, D, opt_D, real, z, d_loss, *, detach=True, zero_grad=True, ascend=False):
    fake = G(z).detach() if detach else G(z)
    loss = d_loss(D(real), D(fake))
    if zero_grad:
        opt_D.zero_grad()
    (-loss if ascend else loss).backward()
    opt_D.step()
    return loss


def g_step(G, D, opt_G, z, g_loss, *, zero_grad=True, ascend=False, item=False, detach=False):
    loss = g_loss(D(G(z).detach() if detach else G(z)))
    if zero_grad:
        opt_G.zero_grad()
    (-loss if ascend else loss).backward() if loss.requires_grad else None
    opt_G.step()
    return loss.item() if item else loss


def cd_step(
    G, D, opt_D, real, real_labels, z, fake_labels, d_loss, *, judge_fake_with=None, zero_grad=True, ascend=False
):
    fake = G(z, fake_labels).detach()
    loss = d_loss(D(real, real_labels), D(fake, fake_labels if judge_fake_with is None else real_labels))
    if zero_grad:
        opt_D.zero_grad()
    (-loss if ascend else loss).backward()
    opt_D.step()
    return loss


def cg_step(G, D, opt_G, z, fake_labels, g_loss, *, freeze_forever=False, zero_grad=True, ascend=False):
    if freeze_forever:
        D.requires_grad_(False)
    loss = g_loss(D(G(z, fake_labels), fake_labels))
    if zero_grad:
        opt_G.zero_grad()
    (-loss if ascend else loss).backward()
    opt_G.step()
    return loss


def mistaken(step, **mistake):
    def wrong(*args):
        return step(*args, **mistake)

    wrong.__name__ = step.__name__
    return wrong


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correct_steps_pass_every_check(seed):
    plain, conditional = StepChecks(False, seed=seed), StepChecks(True, seed=seed)
    plain.discriminator_step(d_step)
    plain.sequences("D", d_step, d_step)
    plain.generator_step(g_step)
    plain.sequences("G", g_step, g_step)
    conditional.discriminator_step(cd_step)
    conditional.sequences("D", cd_step, cd_step)
    conditional.generator_step(cg_step)
    conditional.sequences("G", cg_step, cg_step)


@pytest.mark.parametrize(
    "conditional, check, step, mistake, message",
    [
        (False, "discriminator_step", d_step, dict(detach=False), "forgot `.detach()`"),
        (False, "D", d_step, dict(zero_grad=False), "old gradients were not cleared"),
        (False, "D", d_step, dict(ascend=True), "gradient ascent"),
        (False, "generator_step", g_step, dict(item=True), "not loss.item()"),
        (False, "generator_step", g_step, dict(detach=True), "no gradient reached G"),
        (False, "G", g_step, dict(zero_grad=False), "old gradients were not cleared"),
        (True, "discriminator_step", cd_step, dict(judge_fake_with="real"), "fake batch judged with real_labels"),
        (True, "D", cd_step, dict(ascend=True), "gradient ascent"),
        (True, "generator_step", cg_step, dict(freeze_forever=True), "left parameters frozen"),
        (True, "G", cg_step, dict(ascend=True), "gradient ascent"),
    ],
)
def test_each_mistake_of_a_step_is_named(conditional, check, step, mistake, message):
    checks = StepChecks(conditional, seed=4 if conditional else 3)
    wrong = mistaken(step, **mistake)
    with pytest.raises(GradingError, match=re.escape(message)):
        if check in ("D", "G"):
            checks.sequences(check, wrong, step)
        else:
            getattr(checks, check)(wrong)


def test_a_step_for_the_wrong_lesson_is_told_what_the_networks_take():
    with pytest.raises(GradingError, match=r"G\(z, labels\) and D\(images, labels\)"):
        StepChecks(True, seed=5).discriminator_step(d_step)
