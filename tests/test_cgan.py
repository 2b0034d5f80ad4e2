"""Unit tests for lesson 4's reference conditional networks (bench/reference_networks.py; the students write their
own) and the per-digit grid.

The networks take the function that combines their inputs (the lesson's exercise) as an argument; these tests pass
their own versions of it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from reference_networks import CGANDiscriminator, CGANGenerator  # noqa: E402
from reference_steps import (
    bce_d,
    bce_g,
    conditional_discriminator_step,
    conditional_generator_step,  # noqa: E402
    sample_noise,
)
from torch import nn  # noqa: E402

from helpers.data.mnist import ImageData  # noqa: E402
from helpers.display.plotting import show_image_rows  # noqa: E402
from helpers.training.gan_trainer import GANTrainer


def label_then_noise(z, labels, embedding):
    return torch.cat([embedding(labels), z], dim=-1)


def image_then_label(images, labels, embedding):
    return torch.cat([images.reshape(len(images), -1), embedding(labels)], dim=-1)


def _generator(**kwargs):
    torch.manual_seed(0)
    return CGANGenerator(label_then_noise, **kwargs)


def _discriminator(**kwargs):
    torch.manual_seed(0)
    return CGANDiscriminator(image_then_label, **kwargs)


@pytest.mark.parametrize("batch_size", [2, 7, 64])
def test_generator_maps_noise_and_labels_to_flat_images_in_tanh_range(batch_size):
    G = _generator()
    images = G(torch.randn(batch_size, 100), torch.randint(10, (batch_size,)))
    assert images.shape == (batch_size, 784) and images.dtype == torch.float32
    assert images.abs().max() <= 1.0


@pytest.mark.parametrize("shape", [(5, 784), (5, 1, 28, 28), (5, 28, 28)])
def test_discriminator_gives_one_probability_per_image_and_label(shape):
    D = _discriminator()
    out = D(torch.rand(shape) * 2 - 1, torch.randint(10, (shape[0],)))
    assert out.shape == (5, 1)
    assert ((out > 0) & (out < 1)).all()


def test_layer_sizes_follow_the_issue():
    G, D = _generator(), _discriminator()
    widths_G = [(m.in_features, m.out_features) for m in G.model if isinstance(m, nn.Linear)]
    assert widths_G == [(110, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    assert isinstance(G.model[-1], nn.Tanh)
    widths_D = [(m.in_features, m.out_features) for m in D.model if isinstance(m, nn.Linear)]
    assert widths_D == [(794, 512), (512, 512), (512, 512), (512, 1)]
    assert [m.p for m in D.model if isinstance(m, nn.Dropout)] == [0.4, 0.4]
    assert isinstance(D.model[-1], nn.Sigmoid)
    slopes = {m.negative_slope for net in (G, D) for m in net.model if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    for net in (G, D):
        assert (net.embedding.num_embeddings, net.embedding.embedding_dim) == (10, 10)
    assert G.embedding is not D.embedding


def test_batchnorm_arguments_are_the_pytorch_meaning_of_keras_momentum_08():
    # PyTorch-GAN's cgan.py writes BatchNorm1d(n, 0.8): the second positional argument is eps, not momentum.
    norms = [m for m in _generator().model if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in norms] == [256, 512, 1024]
    for m in norms:
        assert m.eps == pytest.approx(1e-5), "eps must stay small (0.8 would swamp the batch variance)"
        assert m.momentum == pytest.approx(0.2), "Keras momentum=0.8 is PyTorch momentum=0.2 (weight of the new batch)"


def test_eval_mode_uses_running_statistics_so_one_image_can_be_generated():
    G = _generator()
    G.eval()
    image = G(torch.randn(1, 100), torch.tensor([3]))
    assert image.shape == (1, 784)


def test_gradients_reach_both_embeddings():
    G, D = _generator(), _discriminator()
    labels = torch.arange(8) % 10
    D(G(torch.randn(8, 100), labels), labels).sum().backward()
    for net in (G, D):
        grad = net.embedding.weight.grad
        assert grad is not None and grad[labels].abs().sum() > 0
        unused = [k for k in range(10) if k not in labels.tolist()]
        assert grad[unused].abs().sum() == 0  # only the rows of the labels used


def test_the_label_changes_the_generated_image():
    G = _generator().eval()
    z = torch.randn(1, 100).repeat(2, 1)
    images = G(z, torch.tensor([1, 7]))
    assert not torch.allclose(images[0], images[1])


def test_a_missing_combining_function_says_which_one_to_pass():
    with pytest.raises(TypeError, match=r"CGANGenerator\(generator_input"):
        CGANGenerator(None)
    with pytest.raises(TypeError, match=r"CGANDiscriminator\(discriminator_input"):
        CGANDiscriminator(100)  # a number where the function belongs


def test_a_wrong_shape_from_the_combining_function_names_the_function_and_the_shape():
    def noise_only(z, labels, embedding):
        return z

    G = CGANGenerator(noise_only)
    with pytest.raises(ValueError, match=r"noise_only returned shape \(4, 100\).*expects \(4, 110\)"):
        G(torch.randn(4, 100), torch.randint(10, (4,)))

    def unflattened(images, labels, embedding):
        return torch.cat([images, embedding(labels)[:, :, None, None].expand(-1, -1, 28, 28)], dim=1)

    D = CGANDiscriminator(unflattened)
    with pytest.raises(ValueError, match=r"unflattened returned shape \(3, 11, 28, 28\).*expects \(3, 794\).*dim=-1"):
        D(torch.randn(3, 1, 28, 28), torch.randint(10, (3,)))


def test_a_combining_function_that_returns_nothing_or_integers_is_reported():
    def no_return(z, labels, embedding):
        torch.cat([embedding(labels), z], dim=-1)

    with pytest.raises(TypeError, match="no_return returned NoneType.*forget `return`"):
        CGANGenerator(no_return)(torch.randn(2, 100), torch.tensor([0, 1]))

    def raw_labels(images, labels, embedding):
        return torch.cat([images.long(), labels[:, None].repeat(1, 10)], dim=-1)

    with pytest.raises(TypeError, match="raw_labels returned dtype torch.int64"):
        CGANDiscriminator(raw_labels)(torch.zeros(2, 784), torch.tensor([0, 1]))


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="latent_dim"):
        CGANGenerator(label_then_noise, latent_dim=0)
    with pytest.raises(ValueError, match="dropout"):
        CGANDiscriminator(image_then_label, dropout=1.0)


def test_trains_in_the_shared_loop_with_label_hooks():
    torch.manual_seed(0)
    data = ImageData(torch.rand(200, 784) * 2 - 1, torch.randint(10, (200,)))
    G, D = CGANGenerator(label_then_noise), CGANDiscriminator(image_then_label)
    asked = []

    def sample_labels(batch_size, num_classes=10, device=None):
        asked.append((batch_size, num_classes))
        return torch.randint(num_classes, (batch_size,), device=device)

    trainer = GANTrainer(
        G,
        D,
        torch.optim.Adam(G.parameters(), 2e-4),
        torch.optim.Adam(D.parameters(), 2e-4),
        discriminator_step=conditional_discriminator_step,
        generator_step=conditional_generator_step,
        d_loss=bce_d,
        g_loss=bce_g,
        data=data,
        latent_dim=100,
        batch_size=16,
        sample_noise=sample_noise,
        num_classes=10,
        sample_labels=sample_labels,
        log_every=5,
    )
    before = G.embedding.weight.detach().clone()
    history = trainer.train(10, progress=False)
    assert asked == [(16, 10)] * 10
    assert len(history) == 2 and np.isfinite(history["D"]).all()
    assert not torch.equal(before, G.embedding.weight)  # G's embedding is trained too
    assert trainer.samples(torch.randn(3, 100), torch.tensor([0, 5, 9])).shape == (3, 784)


def test_show_image_rows_labels_each_row():
    images = torch.rand(10, 6, 784) * 2 - 1
    fig = show_image_rows(images, row_labels=[f"digit {k}" for k in range(10)], value_range=(-1, 1))
    ax = fig.axes[0]
    (shown,) = ax.get_images()
    assert np.asarray(shown.get_array()).shape[:2] == (2 + 10 * 30, 2 + 6 * 30)
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"digit {k}" for k in range(10)]
    ticks = ax.get_yticks()
    assert ticks[0] == pytest.approx(16) and ticks[1] - ticks[0] == pytest.approx(30)
    plt.close(fig)


def test_show_image_rows_rejects_a_flat_batch_and_wrong_label_count():
    with pytest.raises(ValueError, match="rows, columns"):
        show_image_rows(torch.rand(12, 784))
    with pytest.raises(ValueError, match="3 row labels for 2 rows"):
        show_image_rows(torch.rand(2, 4, 28, 28), row_labels=["a", "b", "c"])


# -- lesson 4 trains the student's networks (ConditionalGenerator / ConditionalDiscriminator from the catalogue)


def _student(kind, variant=None, mistake=None):
    from course import load_catalogue

    entry = load_catalogue("04_cgan").EXERCISES[kind]
    source = entry["correct"][variant] if variant else entry["mistakes"][mistake][1]
    namespace = {"torch": torch, "nn": nn, "generator_input": label_then_noise, "discriminator_input": image_then_label}
    exec(source, namespace)
    return namespace[kind]


def _conditional_trainer(G, D):
    data = ImageData(torch.rand(64, 784) * 2 - 1, torch.randint(10, (64,)))
    return GANTrainer(
        G, D, torch.optim.Adam(G.parameters(), 2e-4), torch.optim.Adam(D.parameters(), 2e-4),
        discriminator_step=conditional_discriminator_step, generator_step=conditional_generator_step,
        d_loss=bce_d, g_loss=bce_g, data=data, latent_dim=100, batch_size=8, sample_noise=sample_noise,
        num_classes=10, sample_labels=lambda n, k=10, device=None: torch.randint(k, (n,), device=device), log_every=1,
    )  # fmt: skip


def test_the_lesson_trains_the_students_conditional_networks_and_a_wrong_one_changes_the_run():
    G_class = _student("ConditionalGenerator", variant="one flat nn.Sequential")
    D_class = _student("ConditionalDiscriminator", variant="named layers, dropout as a module, exercise 2's function")
    wrong_G = _student("ConditionalGenerator", mistake="ReLU instead of LeakyReLU(0.2)")
    runs = []
    for make_G in (G_class, wrong_G):
        torch.manual_seed(0)
        G, D = make_G(), D_class()
        trainer = _conditional_trainer(G, D)
        before = [p.detach().clone() for p in G.parameters()]
        trainer.train(3, progress=False)
        assert trainer.G is G and trainer.D is D
        assert all(not torch.equal(a, p) for a, p in zip(before, G.parameters()))  # every parameter trained
        runs.append(trainer.history["G"])
    assert runs[0] != runs[1]


def test_a_students_discriminator_without_a_sigmoid_is_refused_before_training():
    G = _student("ConditionalGenerator", variant="one flat nn.Sequential")()
    no_sigmoid = _student(
        "ConditionalDiscriminator", mistake="no sigmoid (PyTorch-GAN's cgan.py, which trains with MSE)"
    )
    D = no_sigmoid()
    with torch.no_grad():
        D.net[-1].bias.fill_(3.0)  # scores above 1 whatever the pair
    with pytest.raises(ValueError, match="sigmoid"):
        _conditional_trainer(G, D)
