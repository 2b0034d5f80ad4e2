"""helpers.checks.networks: lesson 3's network checks pass every correct network of the catalogue, whatever its form,
and name what differs in a network of the wrong shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.checks.core import GradingError
from helpers.checks.networks import (
    batchnorm,
    check_batchnorm_momentum,
    check_network,
    embedding,
    linear,
    randomize_weights,
)
from tests.course import load_catalogue

CATALOGUE = load_catalogue("03_mnist_gan").EXERCISES
G_BOOK = [(128, 100), (128,), (784, 128), (784,)]
D_BOOK = [(128, 784), (128,), (1, 128), (1,)]


def build(source, name, *args):
    namespace = {"torch": torch, "nn": nn}
    exec(compile(source, f"<catalogue {name}>", "exec"), namespace)
    return namespace[name](*args)


@pytest.mark.parametrize("variant", sorted(CATALOGUE["Generator"]["correct"]))
def test_every_correct_generator_passes(variant):
    G = build(CATALOGUE["Generator"]["correct"][variant], "Generator", 100)
    out = check_network(
        G,
        name="G",
        parameter_shapes=G_BOOK,
        inputs=(torch.randn(64, 100),),
        output_shape=(64, 784),
        output_range=(-1, 1),
    )
    assert out.shape == (64, 784)


@pytest.mark.parametrize("variant", sorted(CATALOGUE["Discriminator"]["correct"]))
def test_every_correct_discriminator_passes(variant):
    D = build(CATALOGUE["Discriminator"]["correct"][variant], "Discriminator")
    x = torch.rand(64, 784) * 2 - 1
    check_network(D, name="D", parameter_shapes=D_BOOK, inputs=(x,), output_shape=(64, 1), output_range=(0, 1))


def test_a_layer_of_the_wrong_size_is_named_with_the_shape_expected():
    wide = nn.Sequential(nn.Linear(100, 256), nn.LeakyReLU(0.01), nn.Linear(256, 784), nn.Tanh())
    with pytest.raises(GradingError, match=r"parameter 1 \('0.weight'\) has shape \(256, 100\).*\(128, 100\)"):
        check_network(wide, name="G", parameter_shapes=G_BOOK)
    no_bias = nn.Sequential(nn.Linear(784, 128, bias=False), nn.LeakyReLU(0.01), nn.Linear(128, 1), nn.Sigmoid())
    with pytest.raises(GradingError, match=r"bias of size 128"):
        check_network(no_bias, name="D", parameter_shapes=D_BOOK)
    with pytest.raises(GradingError, match="not a network"):
        check_network(lambda z: z, name="G")


def test_outputs_out_of_range_and_inputs_that_do_not_fit_are_named():
    logits = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.01), nn.Linear(128, 1))
    with torch.no_grad():
        logits[2].bias.fill_(5.0)
    with pytest.raises(GradingError, match=r"must lie in \[0, 1\]"):
        check_network(logits, name="D", inputs=(torch.randn(8, 784),), output_range=(0, 1))
    with pytest.raises(GradingError, match=r"failed on an input of shape \(8, 100\)"):
        check_network(logits, name="D", inputs=(torch.randn(8, 100),))


def test_randomize_weights_sets_every_parameter_by_position_and_refuses_a_shared_one():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = [p.detach().clone() for p in net.parameters()]
    values = randomize_weights(net, torch.Generator().manual_seed(0))
    assert all(
        torch.equal(v, p.detach()) and not torch.equal(v, b) for v, p, b in zip(values, net.parameters(), before)
    )
    again = randomize_weights(net, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, v) for a, v in zip(again, values))
    shared = nn.Linear(3, 3)
    tied = nn.Module()
    tied.a, tied.b = shared, nn.Linear(3, 3)
    tied.b.weight = shared.weight
    randomize_weights(tied, torch.Generator())  # parameters() lists a shared tensor once: fine
    with pytest.raises(GradingError, match="twice"):

        class Twice(nn.Module):
            def parameters(self, recurse=True):
                return iter([shared.weight, shared.weight])

        randomize_weights(Twice(), torch.Generator())


# -- lesson 4: the conditional networks (their catalogue, the BatchNorm momentum read from the running statistics)

CGAN = load_catalogue("04_cgan").EXERCISES


def _inputs_ns():
    """Exercise 1 and 2's functions, as the lesson defines them, for the catalogue's networks to call."""
    return {
        "generator_input": lambda z, labels, table: torch.cat([table(labels), z], dim=-1),
        "discriminator_input": lambda x, labels, table: torch.cat([x.reshape(len(x), -1), table(labels)], dim=-1),
    }


def build_conditional(source, name, *args, **kwargs):
    namespace = {"torch": torch, "nn": nn, **_inputs_ns()}
    exec(compile(source, f"<catalogue {name}>", "exec"), namespace)
    return namespace[name](*args, **kwargs)


@pytest.mark.parametrize("variant", sorted(CGAN["ConditionalGenerator"]["correct"]))
def test_every_correct_conditional_generator_passes_with_the_lessons_momentum(variant):
    G = build_conditional(CGAN["ConditionalGenerator"]["correct"][variant], "ConditionalGenerator", 100, 10)
    z, labels = torch.randn(64, 100), torch.arange(64) % 10
    out = check_network(G, name="G", inputs=(z, labels), output_shape=(64, 784), output_range=(-1, 1))
    assert sum(p.numel() for p in G.parameters()) == 1_511_412  # the lesson's printed count
    check_batchnorm_momentum(G, (z, labels), momentum=0.2, name="G")
    assert out.shape == (64, 784)


@pytest.mark.parametrize(
    ("momentum_line", "phrase"),
    [
        ("nn.BatchNorm1d(256, 0.8)", r"momentum 0\.10 \(PyTorch's default: nn\.BatchNorm1d\(n, 0\.8\) sets eps"),
        ("nn.BatchNorm1d(256, momentum=0.8)", r"momentum 0\.80; .*Keras' momentum=0\.8 is PyTorch's 0\.2"),
    ],
)
def test_a_batchnorm_with_another_momentum_is_named_with_the_momentum_it_has(momentum_line, phrase):
    net = nn.Sequential(nn.Linear(4, 256), eval(momentum_line, {"nn": nn}), nn.LeakyReLU(0.2))
    x = torch.randn(32, 4)
    with pytest.raises(GradingError, match=phrase):
        check_batchnorm_momentum(net, (x,), momentum=0.2, name="G")
    with pytest.raises(GradingError, match="no BatchNorm running statistics"):
        check_batchnorm_momentum(nn.Linear(4, 2), (x,), momentum=0.2, name="G")
    # whatever the starting statistics, the momentum is read right
    good = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8, momentum=0.2))
    good[1].running_mean.uniform_(-3, 3)
    check_batchnorm_momentum(good, (x,), momentum=0.2, name="G")


def test_a_parameter_described_by_its_layer_is_named_so():
    D = build_conditional(CGAN["ConditionalDiscriminator"]["mistakes"]["no dropout"][1], "ConditionalDiscriminator", 10)
    wrong = [*embedding(10, 10), *linear(794, 512), *linear(512, 256)]
    with pytest.raises(
        GradingError,
        match=r"parameter 4 .* the lesson's network has \(256, 512\) there \(the weight of a Linear\(512, 256\)\)",
    ):
        check_network(D, name="D", parameter_shapes=wrong)
    with pytest.raises(GradingError, match=r"the weight \(scale\) of a BatchNorm1d\(512\)"):
        check_network(D, name="D", parameter_shapes=[*embedding(10, 10), *linear(794, 512), *batchnorm(512)])
