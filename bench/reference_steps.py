"""Reference losses and training steps of lessons 3-5, for the benchmarks and the tests.

``helpers/`` never holds an exercise's answer, so a trainer there has no default step: whoever runs one passes
the steps. The lessons pass the student's; the benchmark scripts (``bench/``) and the unit tests (``tests/``) pass
these. They follow the step contracts of the lessons exactly (see each lesson's exercise text).
This folder is a developer tool: it is not part of the student bundle.
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.training.cycle_trainer import CycleLosses

bce = nn.functional.binary_cross_entropy


# -- lessons 3 and 4: BCE losses and the alternating steps -----------------------------------------------------


def sample_noise(batch_size, latent_dim, device=None):
    return torch.randn(batch_size, latent_dim, device=device)


def sample_labels(batch_size, num_classes, device=None):
    return torch.randint(num_classes, (batch_size,), device=device)


def bce_d(d_real, d_fake):
    return bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))


def bce_g(d_fake):
    return bce(d_fake, torch.ones_like(d_fake))


def discriminator_step(G, D, opt_D, real, z, d_loss):
    """Lesson 3: one update of D on real images and detached fakes."""
    with torch.no_grad():
        fake = G(z)
    loss = d_loss(D(real), D(fake))
    opt_D.zero_grad(set_to_none=True)
    loss.backward()
    opt_D.step()
    return loss.detach()


def generator_step(G, D, opt_G, z, g_loss):
    """Lesson 3: one update of G through D (only G's optimizer steps)."""
    loss = g_loss(D(G(z)))
    opt_G.zero_grad(set_to_none=True)
    loss.backward()
    opt_G.step()
    return loss.detach()


def conditional_discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    """Lesson 4: D judges real images with their labels and G's images with the labels G was asked for."""
    fake = G(z, fake_labels).detach()
    loss = d_loss(D(real, real_labels), D(fake, fake_labels))
    opt_D.zero_grad(set_to_none=True)
    loss.backward()
    opt_D.step()
    return loss.detach()


def conditional_generator_step(G, D, opt_G, z, fake_labels, g_loss):
    """Lesson 4: one update of G through D, both given the fake labels."""
    loss = g_loss(D(G(z, fake_labels), fake_labels))
    opt_G.zero_grad(set_to_none=True)
    loss.backward()
    opt_G.step()
    return loss.detach()


# -- lesson 5: CycleGAN's losses and its two steps ------------------------------------------------------------


def lsgan(prediction, target_is_real):
    return nn.functional.mse_loss(prediction, torch.full_like(prediction, float(target_is_real)))


def cycle_d_loss(d_real, d_fake):
    return 0.5 * (lsgan(d_real, True) + lsgan(d_fake, False))


def cycle(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * nn.functional.l1_loss(reconstructed, real)


def identity(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_identity * lambda_cycle * nn.functional.l1_loss(same, real)


def cycle_g_loss(
    d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b, lambda_cycle=10.0, lambda_identity=0.5
):
    return (
        lsgan(d_fake_b, True)
        + lsgan(d_fake_a, True)
        + cycle(real_a, cycled_a, lambda_cycle)
        + cycle(real_b, cycled_b, lambda_cycle)
        + identity(real_a, same_a, lambda_identity, lambda_cycle)
        + identity(real_b, same_b, lambda_identity, lambda_cycle)
    )


LOSSES = CycleLosses(lsgan=lsgan, discriminator=cycle_d_loss, cycle=cycle, identity=identity)


def cycle_generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    """Lesson 5: both generators in one update, the discriminators frozen (the official optimize_parameters)."""
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    cycled_a, cycled_b = G_BA(fake_b), G_AB(fake_a)
    if lambda_identity > 0:
        same_a, same_b = G_BA(real_a), G_AB(real_b)
    else:  # the official code skips the two identity passes when their weight is 0
        same_a, same_b = real_a, real_b
    for D in (D_A, D_B):
        D.requires_grad_(False)
    loss = cycle_g_loss(
        D_B(fake_b), D_A(fake_a), real_a, cycled_a, real_b, cycled_b, same_a, same_b, lambda_cycle, lambda_identity
    )
    opt_G.zero_grad(set_to_none=True)
    loss.backward()
    opt_G.step()
    for D in (D_A, D_B):
        D.requires_grad_(True)
    return loss.detach(), fake_a.detach(), fake_b.detach()


def cycle_discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    """Lesson 5: both discriminators on real images and (pooled) detached fakes."""
    loss = cycle_d_loss(D_A(real_a), D_A(fake_a.detach())) + cycle_d_loss(D_B(real_b), D_B(fake_b.detach()))
    opt_D.zero_grad(set_to_none=True)
    loss.backward()
    opt_D.step()
    return loss.detach()
