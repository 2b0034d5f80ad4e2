"""helpers.training.cuda_graphs: when a training step is captured in a CUDA graph, and what happens when it cannot be.

This machine has no GPU: the CUDA calls themselves (side-stream warm-up, ``torch.cuda.graph`` capture,
``replay``) follow the PyTorch docs' recipe and are exercised on a CUDA machine by ``bench/mnist_gan.py``.
Here a CPU stand-in replaces exactly those three calls, so the bookkeeping around them is tested for real:
how many eager warm-up steps, one capture, replays, re-capture when a learning rate changes, the eager
fallback that still runs the step, and checkpoints moving between a CUDA-graph run and a CPU.
"""

from __future__ import annotations

import pytest
import torch
from reference_steps import bce_d, bce_g, discriminator_step, generator_step, sample_noise
from torch import nn

from helpers.data.mnist import ImageData
from helpers.training.cuda_graphs import GraphedStep, make_capturable, optimizer_key, release_capturable
from helpers.training.gan_trainer import GANTrainer


class CPUStandIn(GraphedStep):
    """GraphedStep whose three CUDA calls are replaced: a "graph" replays the recorded function."""

    def __init__(self, *args, fail_capture: Exception | None = None, **kwargs):
        self.fail_capture = fail_capture
        self.log: list[str] = []
        super().__init__(*args, **kwargs)

    def _decide(self, enabled):  # pretend the device is CUDA
        self.status = "CUDA graph: warming up"
        return enabled is not False

    def _warm_up(self):
        self.log.append("warm-up")
        self.step_fn()

    def _capture(self):
        self.log.append("capture")
        if self.fail_capture is not None:
            raise self.fail_capture
        return self.step_fn  # recorded, not run: capturing does not execute the step

    def _replay(self):
        self.log.append("replay")
        self._graph()


class Steps:
    """A step that adds 1 to a parameter of its Adam optimizer: ``len(steps)`` is how many steps took effect
    (the capture check runs the step eagerly, restores the state and replays: one step in effect)."""

    def __init__(self):
        self.param = nn.Parameter(torch.zeros(3))
        self.opt = torch.optim.Adam([self.param], lr=1e-3)

    def __call__(self):
        with torch.no_grad():
            self.param += 1

    def __len__(self):
        return int(self.param[0])


def counting_step():
    steps = Steps()
    return steps, steps


def adam():
    return torch.optim.Adam([nn.Parameter(torch.zeros(3))], lr=1e-3)


def test_warm_up_then_one_capture_then_replays_and_every_call_runs_one_step():
    calls, fn = counting_step()
    graphed = CPUStandIn(fn, [calls.opt], "cpu", warmup=3)
    for _ in range(10):
        graphed()
    assert len(calls) == 10, "each call must run exactly one training step"
    assert graphed.log == ["warm-up"] * 3 + ["capture"] + ["replay"] * 7
    assert graphed.captures == 1 and graphed.status == "CUDA graph: replaying"


class FreezingStandIn(CPUStandIn):
    """A stand-in that behaves like a real graph for Python values: what the step changed during the capture is
    what every replay changes (Python ran once, at capture; its numbers are baked in)."""

    def _capture(self):
        self.log.append("capture")
        tensors = list(self.state())
        before = [t.detach().clone() for t in tensors]
        self.step_fn()
        deltas = [t.detach() - b for t, b in zip(tensors, before)]
        self._restore(tensors, before)

        def replay():
            with torch.no_grad():
                for t, d in zip(tensors, deltas):
                    t += d

        return replay


def test_a_graph_is_trusted_only_when_its_first_replay_equals_an_eager_step(capsys):
    calls, fn = counting_step()
    graphed = FreezingStandIn(fn, [calls.opt], "cpu", warmup=1)
    for _ in range(5):
        graphed()
    assert graphed.status == "CUDA graph: replaying" and len(calls) == 5, "a deterministic step is graphed"

    import random

    steps = Steps()

    def python_random_step():  # e.g. a student's step that flips a Python coin: a graph would freeze the coin
        with torch.no_grad():
            steps.param += random.random()

    graphed = FreezingStandIn(python_random_step, [steps.opt], "cpu", warmup=1)
    for _ in range(5):
        graphed()
    assert graphed.status.startswith("eager: the CUDA graph's first replay differed from an eager step")
    assert "random.random()" in graphed.status and "Note:" in capsys.readouterr().out
    assert graphed.log == ["warm-up", "capture", "replay"], "after the failed check (one replay) steps run eagerly"
    assert 0 < float(steps.param[0]) < 5 and len({round(float(v), 6) for v in steps.param}) == 1


def test_the_check_restores_the_random_generator_so_the_replay_draws_what_the_eager_step_drew():
    steps = Steps()

    def torch_random_step():  # device randomness (torch.rand on the training device) is graph-safe
        with torch.no_grad():
            steps.param += torch.rand(3)

    graphed = CPUStandIn(torch_random_step, [steps.opt], "cpu", warmup=1)
    for _ in range(4):
        graphed()
    assert graphed.status == "CUDA graph: replaying", graphed.status


def test_optimizers_become_capturable_before_the_first_warm_up_step():
    opt = adam()
    graphed = CPUStandIn(lambda: None, [opt], "cpu")
    graphed()
    assert all(group["capturable"] for group in opt.param_groups)


def test_changing_a_learning_rate_recaptures_the_graph():
    calls, fn = counting_step()
    opt = calls.opt
    graphed = CPUStandIn(fn, [opt], "cpu", warmup=1)
    for _ in range(4):
        graphed()
    opt.param_groups[0]["lr"] = 5e-4  # baked into the old graph
    for _ in range(4):
        graphed()
    assert graphed.captures == 2 and len(calls) == 8
    once = ["warm-up", "capture", "replay", "replay", "replay"]  # 4 calls: 1 warm-up, 3 replays
    assert graphed.log == once + once


def test_failed_capture_falls_back_to_eager_runs_the_step_and_says_why(capsys):
    calls, fn = counting_step()
    opt = calls.opt
    error = RuntimeError("CUDA error: operation not permitted when stream is capturing")
    graphed = CPUStandIn(fn, [opt], "cpu", warmup=2, fail_capture=error)
    for _ in range(6):
        graphed()
    assert len(calls) == 6, "the step of the failed capture must still run"
    assert graphed.log == ["warm-up", "warm-up", "capture"]  # no second attempt
    assert graphed.status.startswith("eager: CUDA graph capture failed")
    assert "operation not permitted" in graphed.status and ".item()" in graphed.status
    assert "capture failed" in capsys.readouterr().out


def test_reset_after_loading_state_warms_up_and_captures_again():
    calls, fn = counting_step()
    graphed = CPUStandIn(fn, [calls.opt], "cpu", warmup=1)
    graphed(), graphed(), graphed.reset(), graphed(), graphed()
    assert graphed.log == ["warm-up", "capture", "replay", "warm-up", "capture", "replay"]


def test_on_cpu_steps_run_eagerly_and_the_status_says_why():
    calls, fn = counting_step()
    graphed = GraphedStep(fn, [calls.opt], "cpu")
    graphed(), graphed()
    assert len(calls) == 2 and not graphed.active
    assert graphed.status == "eager: cpu device (CUDA graphs need CUDA)"


def test_requiring_a_graph_off_cuda_or_with_sgd_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a CUDA device.*cpu"):
        GraphedStep(lambda: None, [adam()], "cpu", enabled=True)
    sgd = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="SGD has no capturable option.*Adam"):
        make_capturable(sgd)
    assert GraphedStep(lambda: None, [sgd], "cpu", enabled=False).status.startswith("eager: CUDA graph turned off")


def test_make_capturable_moves_existing_step_counters_and_release_undoes_it():
    opt = adam()
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    make_capturable(opt)
    step = next(iter(opt.state.values()))["step"]
    assert opt.param_groups[0]["capturable"] and step.dtype == torch.float32 and float(step) == 1
    release_capturable(opt)
    assert not opt.param_groups[0]["capturable"]
    opt.step()  # eager Adam on the CPU works again
    assert float(next(iter(opt.state.values()))["step"]) == 2


def test_optimizer_key_sees_learning_rates_but_not_tensor_ones():
    opt = adam()
    before = optimizer_key([opt])
    opt.param_groups[0]["lr"] = 0.5
    assert optimizer_key([opt]) != before
    opt.param_groups[0]["lr"] = torch.tensor(0.5)  # read by the graph at replay: no re-capture needed
    key = optimizer_key([opt])
    opt.param_groups[0]["lr"].fill_(0.1)
    assert optimizer_key([opt]) == key


def _trainer(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    D = nn.Sequential(nn.Linear(6, 1), nn.Sigmoid())
    opt_G, opt_D = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    return GANTrainer(
        G,
        D,
        opt_G,
        opt_D,
        data=ImageData(torch.rand(32, 6) * 2 - 1),
        latent_dim=4,
        batch_size=8,
        discriminator_step=discriminator_step,
        generator_step=generator_step,
        d_loss=bce_d,
        g_loss=bce_g,
        sample_noise=sample_noise,
        log_every=5,
    )


def test_gan_trainer_reports_eager_on_cpu_and_refuses_a_required_graph():
    assert _trainer().graph_status == "eager: cpu device (CUDA graphs need CUDA)"
    t = _trainer()
    with pytest.raises(ValueError, match="cuda_graph=True needs a CUDA device"):
        GANTrainer(
            t.G,
            t.D,
            t.opt_G,
            t.opt_D,
            discriminator_step=discriminator_step,
            generator_step=generator_step,
            d_loss=t.d_loss,
            g_loss=t.g_loss,
            data=t.data,
            latent_dim=4,
            batch_size=8,
            sample_noise=sample_noise,
            cuda_graph=True,
        )


def test_a_checkpoint_from_a_cuda_graph_run_resumes_on_the_cpu(tmp_path):
    gpu_run = _trainer()
    gpu_run.train(10, progress=False)
    for opt in (gpu_run.opt_G, gpu_run.opt_D):
        make_capturable(opt)  # what a CUDA-graph run leaves in its optimizers' state
    gpu_run.save(tmp_path / "ckpt.pt")
    cpu_run = _trainer(seed=1)
    assert cpu_run.resume(tmp_path / "ckpt.pt")
    cpu_run.train(10, progress=False)  # Adam refuses capturable=True on a CPU: must not raise
    assert cpu_run.step == 20 and all(not g["capturable"] for g in cpu_run.opt_G.param_groups)
