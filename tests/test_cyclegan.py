"""CycleGAN: official layouts (state-dict table), pretrained loading, image pool, LR rule, the trainer that runs the
lesson's steps and networks (and refuses networks that do not fit, before training), the domain metrics.

The residual block and the PatchGAN are lesson 5's exercises: these tests build them from
``bench/reference_networks.py`` (the official junyanz layouts) and from the catalogue's student answers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import random  # noqa: E402

import pytest  # noqa: E402
import reference_steps as ref  # noqa: E402
import torch  # noqa: E402
from reference_networks import NLayerDiscriminator, ResnetBlock  # noqa: E402
from torch import nn  # noqa: E402

from helpers.device import set_seed  # noqa: E402
from helpers.display.dashboards import cyclegan_figure  # noqa: E402
from helpers.evaluation.domain_classifier import (
    DomainClassifier,
    cycle_error,
    domain_share,
    not_a_photo,  # noqa: E402
    train_domain_classifier,
)
from helpers.models.cyclegan import (  # noqa: E402
    ResnetGenerator,
    count_parameters,
    init_weights,
    load_pretrained,
    patch_map_size,
    patchgan_shapes,
    resnet_block_shapes,
)
from helpers.training.cycle_trainer import CycleGANTrainer  # noqa: E402
from helpers.training.image_pool import ImagePool
from helpers.training.lr_schedule import linear_decay  # noqa: E402
from tests.course import load_catalogue  # noqa: E402

CATALOGUE = load_catalogue("05_cyclegan").EXERCISES  # the students' networks, correct and mistaken
CATALOGUE_BLOCKS = CATALOGUE["ResnetBlock"]["correct"]

# Every state-dict key and shape of the official networks (junyanz/pytorch-CycleGAN-and-pix2pix,
# models/networks.py: ResnetGenerator(3, 3, 64, norm_layer=InstanceNorm2d, use_dropout=False, n_blocks=9) and
# NLayerDiscriminator(3, 64, n_layers=3, norm_layer=InstanceNorm2d)). Indices are positions in `self.model`
# (ReflectionPad, ReLU, Tanh and InstanceNorm(affine=False) have no parameters). The pretrained
# horse2zebra.pth holds exactly the generator's keys.
_G_TABLE = {
    "model.1.weight": (64, 3, 7, 7),
    "model.1.bias": (64,),  # c7s1-64 (after ReflectionPad2d(3))
    "model.4.weight": (128, 64, 3, 3),
    "model.4.bias": (128,),  # d128
    "model.7.weight": (256, 128, 3, 3),
    "model.7.bias": (256,),  # d256
    **{
        f"model.{10 + i}.conv_block.{j}.{p}": ((256, 256, 3, 3) if p == "weight" else (256,))
        for i in range(9)
        for j in (1, 5)
        for p in ("weight", "bias")
    },  # 9 residual blocks (pad, conv, IN, ReLU, pad, conv, IN)
    "model.19.weight": (256, 128, 3, 3),
    "model.19.bias": (128,),  # u128: ConvTranspose2d weight is (in, out, k, k)
    "model.22.weight": (128, 64, 3, 3),
    "model.22.bias": (64,),  # u64
    "model.26.weight": (3, 64, 7, 7),
    "model.26.bias": (3,),  # c7s1-3 (after ReflectionPad2d(3)), then Tanh
}
_D_TABLE = {
    "model.0.weight": (64, 3, 4, 4),
    "model.0.bias": (64,),  # C64, no norm, LeakyReLU 0.2
    "model.2.weight": (128, 64, 4, 4),
    "model.2.bias": (128,),  # C128 stride 2
    "model.5.weight": (256, 128, 4, 4),
    "model.5.bias": (256,),  # C256 stride 2
    "model.8.weight": (512, 256, 4, 4),
    "model.8.bias": (512,),  # C512 stride 1
    "model.11.weight": (1, 512, 4, 4),
    "model.11.bias": (1,),  # 1-channel patch scores
}


@pytest.fixture(autouse=True)
def one_thread():
    # these networks are tiny: one thread is faster, and far faster on a busy CI machine (no OpenMP barrier waits)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _table(net):
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_generator_state_dict_matches_the_official_table_key_by_key():
    assert _table(ResnetGenerator(3, 3, 64, n_blocks=9, block=ResnetBlock)) == _G_TABLE


def test_discriminator_state_dict_matches_the_official_table_key_by_key():
    assert _table(NLayerDiscriminator(3, 64, n_layers=3)) == _D_TABLE


def test_official_layer_details():
    G = ResnetGenerator(block=ResnetBlock, n_blocks=9)
    norms = [m for m in G.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)
    assert not any(isinstance(m, nn.Dropout) for m in G.modules())
    up = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.output_padding for m in up] == [(1, 1), (1, 1)]
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in G.modules()) == 2 + 2 * 9
    assert isinstance(G.model[-1], nn.Tanh)
    assert count_parameters(G) == 11_378_179  # the official 9-block generator: 11.378 M parameters
    assert count_parameters(NLayerDiscriminator()) == 2_764_737  # the official 70x70 PatchGAN: 2.765 M


def test_the_tables_in_helpers_are_the_official_ones():
    block_keys = {k.removeprefix("model.10."): v for k, v in _G_TABLE.items() if k.startswith("model.10.")}
    assert resnet_block_shapes(256) == block_keys
    assert patchgan_shapes(3, 64) == _D_TABLE
    assert (patch_map_size(256), patch_map_size(64), patch_map_size(32)) == (30, 6, 2)


def _catalogue_class(exercise, kind, variant):
    entry = CATALOGUE[exercise][kind][variant]
    source = entry if kind == "correct" else entry[1]
    namespace = {"torch": torch, "nn": nn}
    exec(compile(source, f"<catalogue {exercise} {variant}>", "exec"), namespace)
    return namespace[exercise]


def test_the_generator_needs_a_block_class_with_the_official_keys():
    with pytest.raises(TypeError, match=r"needs the residual block class: ResnetGenerator\(block=ResnetBlock"):
        ResnetGenerator(ngf=4, n_blocks=1)
    with pytest.raises(TypeError, match=r"the class itself, not ResnetBlock\(256\)"):
        ResnetGenerator(ngf=4, n_blocks=1, block=ResnetBlock(16))
    shifted = _catalogue_class("ResnetBlock", "mistakes", "padding inside the convolutions: the keys shift")
    with pytest.raises(ValueError, match=r"block\(16\)'s state dict.*missing \['conv_block.1.weight'.*shifts every"):
        ResnetGenerator(ngf=4, n_blocks=1, block=shifted)
    batchnorm = _catalogue_class("ResnetBlock", "mistakes", "BatchNorm instead of InstanceNorm")
    with pytest.raises(ValueError, match=r"unexpected \['conv_block.2.weight'.*BatchNorm2d"):
        ResnetGenerator(ngf=4, n_blocks=1, block=batchnorm)

    class Unpadded(nn.Module):  # the official keys, but no padding: x + conv_block(x) cannot add up
        def __init__(self, dim):
            super().__init__()
            conv = [nn.Identity(), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU()]
            self.conv_block = nn.Sequential(*conv, nn.Identity(), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

        def forward(self, x):
            return x + self.conv_block(x)

    with pytest.raises(ValueError, match=r"block\(16\) failed on an input of shape \(2, 16, 8, 8\)"):
        ResnetGenerator(ngf=4, n_blocks=1, block=Unpadded)


@pytest.mark.parametrize("variant", sorted(CATALOGUE_BLOCKS))
def test_the_official_weights_load_into_a_generator_built_from_a_students_block(tmp_path, variant):
    set_seed(4)
    official = ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2)  # saved as the authors' files are
    torch.save(official.state_dict(), tmp_path / "horse2zebra.pth")
    student_block = _catalogue_class("ResnetBlock", "correct", variant)
    G = load_pretrained(ResnetGenerator(block=student_block, ngf=8, n_blocks=2), tmp_path / "horse2zebra.pth")
    x = torch.rand(2, 3, 16, 12) * 2 - 1
    assert torch.allclose(G(x), official(x), atol=1e-6)


@pytest.mark.parametrize("variant", sorted(CATALOGUE["NLayerDiscriminator"]["correct"]))
def test_every_correct_student_discriminator_is_the_official_one(variant):
    D = _catalogue_class("NLayerDiscriminator", "correct", variant)(3, 8)
    official = NLayerDiscriminator(3, 8)
    assert _table(D) == _table(official) == patchgan_shapes(3, 8)
    D.load_state_dict(official.state_dict())
    x = torch.rand(2, 3, 64, 48) * 2 - 1
    assert torch.allclose(D(x), official(x), atol=1e-6)


def test_weights_start_from_normal_0_002_and_zero_biases():
    set_seed(0)
    G = ResnetGenerator(block=ResnetBlock, ngf=32, n_blocks=2)
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    biases = torch.cat([m.bias.flatten() for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001
    assert torch.count_nonzero(biases) == 0


def test_shapes_range_and_patch_map():
    set_seed(0)
    G, D = ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=1), NLayerDiscriminator(ndf=8)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert D(x).shape == (2, 1, 6, 6)
    assert D(torch.rand(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # the official 30x30 map of 70x70 patches
    with pytest.raises(ValueError, match="multiples of 4"):
        G(torch.rand(1, 3, 30, 30))


def test_load_pretrained_accepts_official_files_with_stale_instance_norm_keys(tmp_path):
    set_seed(1)
    source = ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2)
    state = dict(source.state_dict())
    # what PyTorch < 0.4 saved for InstanceNorm layers, which the official test code deletes
    state["model.2.running_mean"], state["model.2.running_var"] = torch.zeros(8), torch.ones(8)
    state["model.10.conv_block.2.num_batches_tracked"] = torch.tensor(0)
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "official.pth")
    target = load_pretrained(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2), tmp_path / "official.pth")
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(target(x), source(x))


def test_load_pretrained_says_how_many_blocks_the_file_has(tmp_path):
    torch.save(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2).state_dict(), tmp_path / "g.pth")
    with pytest.raises(ValueError, match=r"n_blocks=2"):
        load_pretrained(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=3), tmp_path / "g.pth")
    with pytest.raises(FileNotFoundError, match="No weights file"):
        load_pretrained(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2), tmp_path / "missing.pth")


class _RunsCode:
    """Unpickling this calls ``open(marker, "w")``: what a weights file with pickled code could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_pretrained_refuses_a_file_with_pickled_code_and_runs_none_of_it(tmp_path):
    marker = tmp_path / "pwned"
    state = dict(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2).state_dict())
    state["model.1.bias"] = _RunsCode(marker)  # a "state dict" with one value that runs code when unpickled
    torch.save(state, tmp_path / "evil.pth")
    with pytest.raises(
        ValueError,
        match=r"not a plain state dict of tensors \(it holds pickled code or objects: "
        r"io\.open.*torch\.save\(G\.state_dict\(\), path\)",
    ):
        load_pretrained(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2), tmp_path / "evil.pth")
    assert not marker.exists(), "loading the file ran its pickled code"
    torch.save(nn.Linear(2, 2), tmp_path / "module.pth")  # a whole pickled module, not its state dict
    with pytest.raises(ValueError, match=r"not a plain state dict of tensors.*torch\.nn"):
        load_pretrained(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2), tmp_path / "module.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a weights file")
    with pytest.raises(ValueError, match="not a readable weights file.*Download the official weights again"):
        load_pretrained(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2), tmp_path / "junk.pth")


def test_load_pretrained_reads_an_official_ordered_dict_with_metadata(tmp_path):
    set_seed(2)
    source = ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2)
    state = source.state_dict()  # what the official code saves: an OrderedDict with `_metadata`
    assert hasattr(state, "_metadata")
    torch.save(state, tmp_path / "latest_net_G_A.pth")
    target = load_pretrained(ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=2), tmp_path / "latest_net_G_A.pth")
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(target(x), source(x))


def test_checkpoints_load_without_pickled_code_and_refuse_it(tmp_path):
    from helpers import checkpoint as ckpt

    t = make_trainer(log_every=1)
    t.train(1, progress=False)
    t.save(tmp_path / "run.pt")
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(tmp_path / "run.pt")) == []
    G = load_pretrained(
        ResnetGenerator(block=ResnetBlock, ngf=4, n_blocks=1), tmp_path / "run.pt"
    )  # a course checkpoint: its G_AB
    assert torch.equal(flat(G), flat(t.G_AB))
    marker = tmp_path / "pwned"
    state = ckpt.load(tmp_path / "run.pt")
    state["history"] = _RunsCode(marker)
    torch.save(state, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"holds pickled code or objects \(io\.open\).*Delete it"):
        make_trainer().resume(tmp_path / "evil.pt")
    assert not marker.exists(), "resuming ran the checkpoint's pickled code"


def test_image_pool_fills_then_swaps_half_with_stored_images():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as they are
    returned = torch.cat([pool.query(torch.full((1, 1, 1, 1), 100.0 + i)) for i in range(400)])
    swapped = returned.flatten() != 100.0 + torch.arange(400.0)
    assert 0.4 < swapped.float().mean() < 0.6, "about half the queries must return a stored image"
    stored = set(pool.images.flatten().tolist())
    assert len(stored) == 4 and all(v >= 100 for v in stored)  # new images took the places of returned ones
    assert torch.equal(ImagePool(0).query(first), first)


def test_image_pool_loses_nothing_and_invents_nothing():
    torch.manual_seed(1)
    pool = ImagePool(6)
    into, out = [], []
    for step in range(30):
        batch = torch.arange(1.0, 4.0).view(3, 1, 1, 1) + 10 * step
        into += batch.flatten().tolist()
        out += pool.query(batch).flatten().tolist()
    # the first 6 are returned and stored (filling); after that each image is returned or stored, exactly once
    assert sorted(into + into[:6]) == sorted(out + pool.images.flatten().tolist())
    assert sorted(out) != sorted(into[: len(out)]), "a full pool must hand back older images"


def test_linear_decay_is_the_official_lambda_rule():
    factor = linear_decay(100, 100)
    official = [1.0 - max(0, epoch + 1 - 100) / float(100 + 1) for epoch in range(200)]
    assert [factor(e) for e in range(200)] == pytest.approx(official)
    assert factor(0) == factor(99) == 1.0 and factor(199) == pytest.approx(1 / 101) and factor(250) == 0.0


# -- the trainer with tiny networks and a reference implementation of the losses --------------------

TERMS = ("adv A->B", "adv B->A", "cycle A", "cycle B", "identity A", "identity B")


class Unpaired:
    """Stands in for helpers.data.horse2zebra.UnpairedImages: A dark, B bright, random crops on the device."""

    def __init__(self, size=40):
        gen = torch.Generator().manual_seed(7)
        self.a = torch.rand(6, 3, size, size, generator=gen) - 1
        self.b = torch.rand(6, 3, size, size, generator=gen)

    def sample(self, batch_size, crop_size, *, flip=True, generator=None):
        out = []
        for images in (self.a, self.b):
            i = torch.randint(len(images), (batch_size,), generator=generator)
            top, left = (random.randrange(images.shape[-1] - crop_size + 1) for _ in range(2))
            out.append(images[i, :, top : top + crop_size, left : left + crop_size])
        return tuple(out)


def make_trainer(
    seed=0,
    losses=ref.LOSSES,
    generator_step=ref.cycle_generator_step,
    discriminator_step=ref.cycle_discriminator_step,
    block=ResnetBlock,
    discriminator=NLayerDiscriminator,
    **kw,
):
    """A CycleGANTrainer on tiny networks built as the lesson builds them: ``block`` inside the official generator,
    ``discriminator(ndf=4)`` with the official N(0, 0.02) weights."""
    set_seed(seed)
    G_AB, G_BA = (ResnetGenerator(block=block, ngf=4, n_blocks=1) for _ in range(2))
    D_A, D_B = (init_weights(discriminator(ndf=4)) for _ in range(2))
    opt_G = kw.pop("opt_G", None) or torch.optim.Adam(
        [*G_AB.parameters(), *G_BA.parameters()], 2e-4, betas=(0.5, 0.999)
    )
    opt_D = torch.optim.Adam([*D_A.parameters(), *D_B.parameters()], 2e-4, betas=(0.5, 0.999))
    return CycleGANTrainer(
        G_AB,
        G_BA,
        D_A,
        D_B,
        opt_G,
        opt_D,
        generator_step=generator_step,
        discriminator_step=discriminator_step,
        losses=losses,
        data=Unpaired(),
        batch_size=2,
        crop_size=kw.pop("crop_size", 32),
        pool_size=kw.pop("pool_size", 3),
        **kw,
    )


def flat(*modules):
    return torch.cat([p.detach().flatten() for m in modules for p in m.parameters()])


def test_training_updates_all_four_networks_and_logs_every_term():
    t = make_trainer(log_every=3)
    before = [flat(n) for n in (t.G_AB, t.G_BA, t.D_A, t.D_B)]
    history = t.train(7, progress=False)
    assert history.steps == [3, 6, 7]
    assert set(history.names) == {"G", "D", "D_A", "D_B", *TERMS}
    for b, net in zip(before, (t.G_AB, t.G_BA, t.D_A, t.D_B)):
        assert not torch.equal(b, flat(net))
    # the terms are measured on the fixed images with the lesson's losses, once per log
    with torch.no_grad():
        a, b = t.fixed_a, t.fixed_b
        expected = ref.cycle(a, t.G_BA(t.G_AB(a)))
    assert history["cycle A"][-1] == pytest.approx(float(expected), rel=1e-5)


def test_the_trainer_runs_the_lessons_steps_in_order_with_pooled_fakes():
    calls = []

    def g_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
        loss, fake_a, fake_b = ref.cycle_generator_step(
            G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle, lambda_identity
        )
        calls.append(("G", real_a.shape, lambda_cycle, lambda_identity, fake_a.clone(), fake_b.clone()))
        return loss, fake_a, fake_b

    def d_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
        calls.append(("D", fake_a.clone(), fake_b.clone()))
        return ref.cycle_discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b)

    t = make_trainer(
        generator_step=g_step, discriminator_step=d_step, lambda_cycle=3.0, lambda_identity=0.25, pool_size=0
    )
    t.train(2, progress=False)
    assert [c[0] for c in calls] == ["G", "D", "G", "D"]
    (_, shape, lc, li, fake_a, fake_b), (_, pooled_a, pooled_b) = calls[:2]
    assert shape == (2, 3, 32, 32) and (lc, li) == (3.0, 0.25)
    assert torch.equal(fake_a, pooled_a) and torch.equal(fake_b, pooled_b), "pool_size=0 passes the fakes through"


def test_a_wrong_student_step_changes_what_the_trainer_does():
    def unfrozen_g_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
        fake_b, fake_a = G_AB(real_a), G_BA(real_b)  # D left trainable: G's loss leaves gradients in D
        loss = ref.cycle_g_loss(
            D_B(fake_b),
            D_A(fake_a),
            real_a,
            G_BA(fake_b),
            real_b,
            G_AB(fake_a),
            G_BA(real_a),
            G_AB(real_b),
            lambda_cycle,
            lambda_identity,
        )
        opt_G.zero_grad()
        loss.backward()
        opt_G.step()
        return loss, fake_a, fake_b

    def stale_d_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):  # no zero_grad: G's leftovers leak in
        loss = ref.cycle_d_loss(D_A(real_a), D_A(fake_a.detach())) + ref.cycle_d_loss(D_B(real_b), D_B(fake_b.detach()))
        loss.backward()
        opt_D.step()
        return loss

    right = make_trainer(seed=5)
    wrong = make_trainer(seed=5, generator_step=unfrozen_g_step, discriminator_step=stale_d_step)
    right.train(1, progress=False), wrong.train(1, progress=False)
    # Adam's first step moves every weight by about ±lr (2e-4); G's leftover gradients flip the sign of many
    flipped = ((flat(right.D_A) - flat(wrong.D_A)).abs() > 2e-4).float().mean()
    assert flipped > 0.05, f"D also learned from G's loss: the wrong steps changed the training ({flipped:.1%})"


@pytest.mark.parametrize("variant", sorted(CATALOGUE_BLOCKS))
def test_the_trainer_trains_the_students_networks(variant):
    # a correct block and discriminator in another form train exactly as the reference networks (same seed, same
    # layers created in the same order); a block with zero padding changes every step that follows
    def trained(**networks):
        t = make_trainer(seed=6, **networks)  # seeds every generator: built and trained before the next one
        t.train(2, progress=False)
        return t

    first_discriminator = sorted(CATALOGUE["NLayerDiscriminator"]["correct"])[0]
    reference = trained()
    student = trained(
        block=_catalogue_class("ResnetBlock", "correct", variant),
        discriminator=_catalogue_class("NLayerDiscriminator", "correct", first_discriminator),
    )
    zero_padded = trained(block=_catalogue_class("ResnetBlock", "mistakes", "zero padding"))
    for name in ("G_AB", "G_BA", "D_A", "D_B"):
        assert torch.allclose(flat(getattr(reference, name)), flat(getattr(student, name)), atol=1e-6), name
    assert not torch.allclose(flat(reference.G_AB), flat(zero_padded.G_AB), atol=1e-6)
    assert not torch.allclose(reference.translate(reference.fixed_a), zero_padded.translate(zero_padded.fixed_a))


def test_the_trainer_refuses_networks_that_do_not_fit_before_any_training():
    mistakes = CATALOGUE["NLayerDiscriminator"]["mistakes"]
    strided = _catalogue_class("NLayerDiscriminator", "mistakes", "stride 2 in the fourth convolution")
    with pytest.raises(
        ValueError,
        match=r"D_A's output for 2 images of shape \(2, 3, 32, 32\) has shape \(2, 1, 1, 1\).*\(2, 1, 2, 2\)",
    ):
        make_trainer(discriminator=strided)
    small_kernels = _catalogue_class("NLayerDiscriminator", "mistakes", "3x3 kernels instead of 4x4")
    with pytest.raises(
        ValueError, match=r"D_A \(a PatchGAN with ndf=4\)'s 'model.0.weight' has shape \(4, 3, 3, 3\).*\(4, 3, 4, 4\)"
    ):
        make_trainer(discriminator=small_kernels)
    affine = _catalogue_class(
        "NLayerDiscriminator", "mistakes", "instance normalisation with a learned scale and shift"
    )
    with pytest.raises(ValueError, match=r"unexpected \['model.3.weight'.*affine=False"):
        make_trainer(discriminator=affine)
    assert len(mistakes) >= 5

    def grey_generator(ngf, n_blocks):  # a generator for 1-channel images, given RGB ones
        return ResnetGenerator(1, 1, ngf=ngf, n_blocks=n_blocks, block=ResnetBlock)

    set_seed(0)
    G_AB, G_BA = grey_generator(4, 1), grey_generator(4, 1)
    D_A, D_B = NLayerDiscriminator(ndf=4), NLayerDiscriminator(ndf=4)
    with pytest.raises(
        ValueError,
        match=r"G_AB failed on 2 images of shape \(2, 3, 32, 32\), in its layer 'model.1'.*expects 1 channels",
    ):
        CycleGANTrainer(
            G_AB,
            G_BA,
            D_A,
            D_B,
            torch.optim.Adam([*G_AB.parameters(), *G_BA.parameters()]),
            torch.optim.Adam([*D_A.parameters(), *D_B.parameters()]),
            generator_step=ref.cycle_generator_step,
            discriminator_step=ref.cycle_discriminator_step,
            data=Unpaired(),
            crop_size=32,
        )


def test_a_generator_step_that_returns_only_the_loss_gets_a_message():
    def loss_only(*args, **kw):
        return ref.cycle_generator_step(*args, **kw)[0]

    with pytest.raises(TypeError, match=r"must return \(loss, fake_a, fake_b\)"):
        make_trainer(generator_step=loss_only).train(1, progress=False)


def test_generator_step_changes_no_discriminator_weight():
    t = make_trainer()
    D_before = flat(t.D_A, t.D_B)
    t.opt_D.step = lambda *a, **k: None  # only the generator step may move weights now
    t.train(2, progress=False)
    assert torch.equal(D_before, flat(t.D_A, t.D_B))


def test_losses_are_read_back_once_per_log_not_per_step(monkeypatch):
    set_seed(0)
    t = make_trainer(log_every=3, opt_G=None)
    for opt in (t.opt_G, t.opt_D):  # Adam keeps its step counter on the CPU: not a device sync, but counted below
        for group in opt.param_groups:
            group["capturable"] = False
    reads = []
    for name in ("item", "tolist", "__float__", "__bool__", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(
            torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: reads.append(_n) or _o(self, *a, **k)
        )
    t.opt_G.step = t.opt_D.step = lambda *a, **k: None
    t.train(6, progress=False)
    assert reads == ["tolist", "tolist"], f"host reads during 6 steps: {reads}"  # one per log, loss terms included


def test_a_nan_loss_stops_training_and_names_the_loss():
    def nan_d_step(*args):
        return ref.cycle_discriminator_step(*args) * float("nan")

    t = make_trainer(discriminator_step=nan_d_step, log_every=2)
    with pytest.raises(FloatingPointError, match=r"between step 1 and step 2 \(D = nan"):
        t.train(5, progress=False)


def test_learning_rate_follows_lr_factor_per_step():
    t = make_trainer(lr_factor=linear_decay(2, 3))
    seen = []
    original = t.opt_G.step
    t.opt_G.step = lambda *a, **k: seen.append(t.opt_G.param_groups[0]["lr"]) or original(*a, **k)
    t.train(5, progress=False)
    assert seen == pytest.approx([2e-4 * f for f in (1, 1, 0.75, 0.5, 0.25)])
    assert t.opt_D.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.25)


def test_resume_continues_exactly_where_the_checkpoint_left_off(tmp_path):
    straight = make_trainer(seed=3, log_every=2)
    straight.train(6, progress=False)
    first = make_trainer(seed=3, log_every=2, checkpoint_path=tmp_path / "run.pt", checkpoint_every=2)
    first.train(4, progress=False)
    resumed = make_trainer(seed=99, log_every=2)
    assert resumed.resume(tmp_path / "run.pt") and resumed.step == 4
    assert resumed.pool_A.count == first.pool_A.count and torch.equal(resumed.pool_B.images, first.pool_B.images)
    resumed.train(2, progress=False)
    for name in ("G_AB", "G_BA", "D_A", "D_B"):
        assert torch.allclose(flat(getattr(straight, name)), flat(getattr(resumed, name)), atol=1e-6), name
    assert resumed.history.steps == straight.history.steps
    assert not make_trainer().resume(tmp_path / "none.pt")


def test_samples_dashboard_and_metrics():
    t = make_trainer(log_every=1)
    t.train(2, progress=False)
    samples = t.samples()
    assert set(samples) == {"real A", "fake B", "rec A", "real B", "fake A", "rec B"}
    assert all(v.shape == (4, 3, 32, 32) and v.device.type == "cpu" for v in samples.values())
    fig = cyclegan_figure(t)
    assert len(fig.axes) == 9 and "G's loss terms" in fig.axes[2].get_title()
    assert 0 <= cycle_error(t.G_AB, t.G_BA, t.fixed_a) <= 2
    assert t.G_AB.training, "metrics must give the generator back in training mode"
    with pytest.raises(ValueError, match="'AB'"):
        t.translate(t.fixed_a, "A->B")


def test_domain_classifier_share():
    clf = DomainClassifier()
    with torch.no_grad():
        clf.net[-1].bias.copy_(torch.tensor([0.0, 5.0, 0.0]))  # A, B, neither: everything is "B"
        clf.net[-1].weight.zero_()
    images = torch.rand(10, 3, 32, 32)
    assert domain_share(clf, images, "B") == 1.0 and domain_share(clf, images, "A") == 0.0
    assert domain_share(clf, images, "neither") == 0.0
    with pytest.raises(ValueError, match="'A', 'B', 'neither'"):
        domain_share(clf, images, "zebra")


def test_domain_classifier_tells_horses_zebras_and_generator_noise_apart(tmp_path, monkeypatch):
    from helpers.data import horse2zebra as h2z

    monkeypatch.setattr(h2z, "STANDIN_COUNTS", {"trainA": 24, "trainB": 24, "testA": 8, "testB": 8})
    set_seed(0)
    data = h2z.load_horse2zebra(tmp_path, load_size=40, offline=True, verbose=False)
    test = h2z.load_horse2zebra(tmp_path, load_size=40, split="test", offline=True, verbose=False)
    clf = train_domain_classifier(data, 32, num_steps=80)
    a, b = test.sample(32, 32, flip=False)
    assert domain_share(clf, a, "A") >= 0.8 and domain_share(clf, b, "B") >= 0.8
    with torch.no_grad():
        untrained = ResnetGenerator(block=ResnetBlock, ngf=8, n_blocks=1).eval()(a)  # what G_AB makes before training
    # an untrained generator's output is no zebra: judged "neither", not counted as a translation
    assert domain_share(clf, untrained, "neither") >= 0.9 and domain_share(clf, untrained, "B") <= 0.1
    assert domain_share(clf, torch.rand(32, 3, 32, 32) * 2 - 1, "neither") >= 0.9


def test_not_a_photo_keeps_shape_range_and_device():
    real = torch.rand(10, 3, 32, 32) * 2 - 1
    fake = not_a_photo(real)
    assert fake.shape == real.shape and fake.min() >= -1 and fake.max() <= 1
    assert not torch.equal(fake, real)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="multiple of 4"):
        make_trainer(crop_size=30)
    with pytest.raises(ValueError, match="lambda"):
        make_trainer(lambda_cycle=-1)
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(-1)
    with pytest.raises(ValueError, match="n_blocks"):
        ResnetGenerator(block=ResnetBlock, n_blocks=-1)


def test_cuda_graph_is_optional_and_refused_off_cuda():
    assert make_trainer().graph_status.startswith("eager")
    assert make_trainer(cuda_graph=None).graph_status == "eager: cpu device (CUDA graphs need CUDA)"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        make_trainer(cuda_graph=True)
