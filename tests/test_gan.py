"""The GAN trainer: it runs the lesson's steps; on-device batches and metrics, NaN stop, atomic checkpoints, resume."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from reference_steps import (
    bce_d,
    bce_g,
    conditional_discriminator_step,
    conditional_generator_step,  # noqa: E402
    discriminator_step,
    generator_step,
    sample_labels,
    sample_noise,
)
from torch import nn  # noqa: E402

from helpers import checkpoint as ckpt  # noqa: E402
from helpers.data.mnist import (  # noqa: E402
    Digits,  # noqa: E402
    ImageData,
    mnist_data,
)
from helpers.device import set_seed  # noqa: E402
from helpers.training.gan_trainer import GANTrainer

LATENT = 8


def steps(num_classes=None):
    if num_classes:
        return dict(
            discriminator_step=conditional_discriminator_step,
            generator_step=conditional_generator_step,
            sample_labels=sample_labels,
        )
    return dict(discriminator_step=discriminator_step, generator_step=generator_step)


def parts(seed=0, num_classes=None):
    set_seed(seed)
    if num_classes:

        class CondG(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed, self.net = nn.Embedding(num_classes, 4), nn.Sequential(nn.Linear(LATENT + 4, 16), nn.Tanh())

            def forward(self, z, labels):
                return self.net(torch.cat([z, self.embed(labels)], dim=1))

        class CondD(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed, self.net = nn.Embedding(num_classes, 4), nn.Sequential(nn.Linear(20, 1), nn.Sigmoid())

            def forward(self, x, labels):
                return self.net(torch.cat([x, self.embed(labels)], dim=1))

        G, D = CondG(), CondD()
    else:
        G = nn.Sequential(nn.Linear(LATENT, 16), nn.Tanh())
        D = nn.Sequential(nn.Linear(16, 1), nn.Sigmoid())
    fixed = torch.Generator().manual_seed(7)  # the same data whatever the model seed
    data = ImageData(torch.rand(64, 16, generator=fixed) * 2 - 1, torch.randint(0, 3, (64,), generator=fixed))
    return G, D, torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3), data


def trainer(seed=0, **kw):
    G, D, opt_G, opt_D, data = parts(seed, kw.get("num_classes"))
    kw = {**steps(kw.get("num_classes")), "d_loss": bce_d, "g_loss": bce_g, "sample_noise": sample_noise, **kw}
    return GANTrainer(G, D, opt_G, opt_D, data=data, latent_dim=LATENT, batch_size=8, **kw)


def flat(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_image_data_samples_batches_on_its_device():
    data = ImageData(torch.arange(10.0).reshape(10, 1), torch.arange(10))
    images, labels = data.sample(32)
    assert images.shape == (32, 1) and labels.shape == (32,)
    assert torch.equal(images[:, 0].long(), labels), "an image and its label must be drawn together"
    assert images.device == data.device


def test_mnist_data_scales_to_minus_one_one_and_flattens():
    digits = Digits(torch.tensor([[[0.0, 1.0], [0.5, 0.25]]]).expand(3, 2, 2).clone(), torch.tensor([1, 2, 3]), "test")
    data = mnist_data(digits, "cpu")
    assert data.images.shape == (3, 4)
    assert torch.allclose(data.images[0], torch.tensor([-1.0, 1.0, 0.0, -0.5]))
    assert torch.equal(data.labels, torch.tensor([1, 2, 3]))


def test_training_updates_both_networks_and_logs_every_n_steps():
    t = trainer(log_every=5)
    G0, D0 = flat(t.G), flat(t.D)
    history = t.train(12, progress=False)
    assert history.steps == [5, 10, 12]
    assert set(history.names) == {"D", "G", "D(x)", "D(G(z))", "D accuracy"}
    assert all(0.0 <= a <= 1.0 for a in history["D accuracy"])
    assert not torch.equal(G0, flat(t.G)) and not torch.equal(D0, flat(t.D))
    assert t.step == 12


def test_metrics_are_read_back_once_per_log_not_per_step(monkeypatch):
    G, D, _, _, data = parts()
    # SGD: Adam reads its own step counter with .item() on the CPU, which is not a device sync
    t = GANTrainer(
        G,
        D,
        torch.optim.SGD(G.parameters(), 0.01),
        torch.optim.SGD(D.parameters(), 0.01),
        **steps(),
        d_loss=bce_d,
        g_loss=bce_g,
        data=data,
        latent_dim=LATENT,
        batch_size=8,
        sample_noise=sample_noise,
        log_every=25,
    )
    reads = []
    for name in ("item", "tolist", "__float__", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(
            torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: reads.append(_n) or _o(self, *a, **k)
        )
    t.train(50, progress=False)
    assert reads == ["tolist", "tolist"], f"host reads during 50 steps: {reads}"


def test_a_nan_loss_stops_training_naming_the_loss_and_the_steps():
    def inf_d(d_real, d_fake):
        return ((d_real - 1) ** 2).mean() + (d_fake**2).mean() + torch.log(torch.zeros(()))  # log(0) = -inf

    t = trainer(log_every=4, d_loss=inf_d)
    with pytest.raises(FloatingPointError, match=r"a loss became NaN or infinite between step 1 and step 4 \(D = -inf"):
        t.train(10, progress=False)


def test_nan_probabilities_inside_a_bce_loss_are_reported_as_divergence():
    t = trainer(log_every=4, d_loss=lambda r, f: bce_d(r, f) * float("nan"))
    with pytest.raises(FloatingPointError, match=r"At step \d+ a probability fed to a BCE loss was NaN"):
        t.train(10, progress=False)


def test_conditional_gan_gets_labels():
    t = trainer(num_classes=3, log_every=5)
    t.train(5, progress=False)
    assert t.samples().shape == (16, 16)


def test_resume_continues_exactly_where_the_checkpoint_left_off(tmp_path):
    straight = trainer(seed=3, log_every=5)
    straight.train(20, progress=False)

    first = trainer(seed=3, log_every=5, checkpoint_path=tmp_path / "run.pt", checkpoint_every=5)
    first.train(10, progress=False)
    torch.rand(100)  # the RNG moves on after the "crash"
    second = trainer(seed=99, log_every=5)
    assert second.resume(tmp_path / "run.pt")
    assert second.step == 10 and second.history.steps == [5, 10]
    second.train(10, progress=False)
    assert torch.allclose(flat(second.G), flat(straight.G)) and torch.allclose(flat(second.D), flat(straight.D))
    assert second.history.steps == straight.history.steps


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    t = trainer()
    assert t.resume(tmp_path / "missing.pt") is False and t.step == 0


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    ckpt.save_atomic({"step": 1}, path)

    def broken_save(state, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_atomic({"step": 2}, path)
    monkeypatch.undo()
    assert ckpt.load(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


def test_loading_a_corrupt_checkpoint_says_what_to_do(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Delete it to start again"):
        ckpt.load(path)


def test_dashboard_figure_has_losses_accuracy_and_sample_grid():
    from helpers.display.dashboards import gan_figure

    t = trainer(log_every=2)
    t.train(4, progress=False)
    fig = gan_figure(t)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["losses", "discriminator", "fixed z, step 4"]


def test_bad_arguments_are_rejected():
    G, D, opt_G, opt_D, data = parts()
    common = dict(**steps(), d_loss=bce_d, g_loss=bce_g, latent_dim=LATENT, sample_noise=sample_noise)
    with pytest.raises(ValueError, match="batch_size"):
        GANTrainer(G, D, opt_G, opt_D, data=data, batch_size=0, **common)
    with pytest.raises(ValueError, match="labels"):
        GANTrainer(G, D, opt_G, opt_D, data=ImageData(data.images), batch_size=4, num_classes=3, **common)
    with pytest.raises(TypeError, match="generator_step must be a function"):
        GANTrainer(G, D, opt_G, opt_D, data=data, batch_size=4, **{**common, "generator_step": None})
    t = trainer()
    for bad in (0, 2.5, float("inf")):
        with pytest.raises(ValueError, match="num_steps"):
            t.train(bad)


def test_bf16_autocast_trains_and_hands_float32_probabilities_to_the_losses():
    seen = []

    def recording_d_loss(d_real, d_fake):
        seen.append((d_real.dtype, d_fake.dtype))
        return bce_d(d_real, d_fake)

    t = trainer(log_every=5, d_loss=recording_d_loss, amp_dtype=torch.bfloat16)
    inner = []
    t.G[0].register_forward_hook(lambda module, args, output: inner.append(output.dtype))
    G0 = flat(t.G)
    history = t.train(10, progress=False)
    assert set(inner) == {torch.bfloat16}, "G's forward pass must run under autocast"
    assert t.G(torch.zeros(2, LATENT)).dtype == torch.float32, "a network's output comes back as float32"
    assert set(seen) == {(torch.float32, torch.float32)}
    assert all(math.isfinite(v) for v in history["D"] + history["G"])
    assert not torch.equal(G0, flat(t.G))
    assert all(p.dtype == torch.float32 for p in t.G.parameters()), "autocast must not change the weights' dtype"
    with pytest.raises(ValueError, match="amp_dtype"):
        trainer(amp_dtype=torch.float64)


# -- the trainer runs the lesson's steps --------------------------------------------------------------------------


def test_the_trainer_calls_the_d_step_then_the_g_step_with_one_z_and_the_fake_labels():
    calls = []

    def d_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
        calls.append(("D", real.shape, real_labels.clone(), z.clone(), fake_labels.clone()))
        return conditional_discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss)

    def g_step(G, D, opt_G, z, fake_labels, g_loss):
        calls.append(("G", z.clone(), fake_labels.clone()))
        return conditional_generator_step(G, D, opt_G, z, fake_labels, g_loss)

    t = trainer(num_classes=3, discriminator_step=d_step, generator_step=g_step, log_every=2)
    t.train(2, progress=False)
    assert [c[0] for c in calls] == ["D", "G", "D", "G"]
    (_, shape, real_labels, z_d, labels_d), (_, z_g, labels_g) = calls[:2]
    assert shape == (8, 16) and z_d.shape == (8, LATENT)
    assert torch.equal(z_d, z_g) and torch.equal(labels_d, labels_g), "both steps of one iteration share z and labels"
    assert real_labels.min() >= 0 and real_labels.max() < 3


def test_a_wrong_student_step_changes_what_the_trainer_does():
    def lazy_g_step(G, D, opt_G, z, g_loss):  # forgets opt_G.step(): G never learns
        loss = g_loss(D(G(z)))
        opt_G.zero_grad()
        loss.backward()
        return loss

    def undetached_d_step(G, D, opt_D, real, z, d_loss):  # forgets detach(): D's loss also reaches G
        loss = d_loss(D(real), D(G(z)))
        opt_D.zero_grad()
        loss.backward()
        opt_D.step()
        return loss

    right, lazy = trainer(seed=4), trainer(seed=4, generator_step=lazy_g_step)
    G0 = flat(lazy.G)
    right.train(6, progress=False), lazy.train(6, progress=False)
    assert not torch.equal(flat(right.G), G0) and torch.equal(flat(lazy.G), G0)

    def grads(G):
        return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in G.parameters()]

    def watched(d_step):  # did D's step touch G's gradients?
        def step(G, D, opt_D, real, z, d_loss):
            before = grads(G)
            loss = d_step(G, D, opt_D, real, z, d_loss)
            touched.append(any(not torch.equal(a, b) for a, b in zip(before, grads(G))))
            return loss

        return step

    touched = []
    trainer(seed=4, discriminator_step=watched(discriminator_step)).train(3, progress=False)
    assert touched == [False] * 3
    touched.clear()
    trainer(seed=4, discriminator_step=watched(undetached_d_step)).train(3, progress=False)
    assert touched == [True] * 3, "a D step without detach() sends gradients into G"


def test_a_step_that_returns_a_float_or_skips_d_loss_gets_a_message_saying_what_to_return():
    def item_step(G, D, opt_D, real, z, d_loss):
        return discriminator_step(G, D, opt_D, real, z, d_loss).item()

    with pytest.raises(TypeError, match=r"discriminator_step returned a Python number.*not loss.item\(\)"):
        trainer(discriminator_step=item_step).train(1, progress=False)

    def own_loss_step(G, D, opt_D, real, z, d_loss):
        return discriminator_step(G, D, opt_D, real, z, bce_d)

    with pytest.raises(RuntimeError, match="never called the d_loss it was given"):
        trainer(discriminator_step=own_loss_step).train(1, progress=False)


def test_d_of_x_and_d_of_g_of_z_are_what_the_step_handed_to_d_loss():
    t = trainer(log_every=1)
    judged = []
    original = t.d_loss
    t.d_loss = lambda r, f: judged.append((r.detach().mean(), f.detach().mean())) or original(r, f)
    t.train(1, progress=False)
    ((d_real, d_fake),) = judged
    assert t.history["D(x)"] == [pytest.approx(float(d_real), abs=1e-6)]
    assert t.history["D(G(z))"] == [pytest.approx(float(d_fake), abs=1e-6)]


def test_no_default_step_or_noise_in_helpers():
    import inspect

    import helpers.training.gan_trainer

    signature = inspect.signature(GANTrainer)
    for name in ("discriminator_step", "generator_step", "sample_noise"):
        assert signature.parameters[name].default is inspect.Parameter.empty, f"{name} must be the lesson's"
    source = inspect.getsource(helpers.training.gan_trainer)
    assert ".backward(" not in source and "zero_grad" not in source, (
        "helpers.training.gan_trainer must not contain a training step"
    )


# -- the student's networks are checked before any training (lesson 3 trains the student's Generator/Discriminator)


def _trainer_with(G, D):
    data = parts()[-1]
    opt_G, opt_D = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    kw = {**steps(), "d_loss": bce_d, "g_loss": bce_g, "sample_noise": sample_noise}
    return GANTrainer(G, D, opt_G, opt_D, data=data, latent_dim=LATENT, batch_size=8, log_every=1, **kw)


def test_a_generator_whose_first_layer_does_not_take_latent_dim_is_named_before_training():
    G = nn.Sequential(nn.Linear(LATENT + 1, 16), nn.Tanh())
    with pytest.raises(ValueError, match=rf"G failed .*layer '0'.*expects {LATENT + 1} features"):
        _trainer_with(G, nn.Sequential(nn.Linear(16, 1), nn.Sigmoid()))


def test_a_generator_whose_output_does_not_fit_the_images_is_refused_with_both_shapes():
    G = nn.Sequential(nn.Linear(LATENT, 15), nn.Tanh())
    with pytest.raises(ValueError, match=r"shape \(2, 15\).*\(2, 16\)"):
        _trainer_with(G, nn.Sequential(nn.Linear(15, 1), nn.Sigmoid()))


def test_a_discriminator_without_a_sigmoid_is_refused_before_training():
    D = nn.Sequential(nn.Linear(16, 1))
    with torch.no_grad():
        D[0].bias.fill_(3.0)  # outputs above 1 whatever the images: a logit, not a probability
    with pytest.raises(ValueError, match="sigmoid"):
        _trainer_with(nn.Sequential(nn.Linear(LATENT, 16), nn.Tanh()), D)


def test_the_trainer_trains_the_networks_it_is_given():
    # a lesson's own networks are what the trainer updates: a different network changes the run
    G_a, D_a, *_ = parts(seed=0)
    G_b = nn.Sequential(nn.Linear(LATENT, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.Tanh())
    runs = []
    for G in (G_a, G_b):
        set_seed(0)
        t = _trainer_with(G, nn.Sequential(nn.Linear(16, 1), nn.Sigmoid()))
        before = flat(t.G).clone()
        t.train(5, progress=False)
        assert t.G is G and not torch.equal(flat(G), before)
        runs.append(t.history["G"])
    assert runs[0] != runs[1]
