"""helpers.training.engine (the loop every trainer shares) and helpers.display.dashboards (the live figure, a trainer
callback)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from helpers.display.dashboards import Dashboard  # noqa: E402
from helpers.training.engine import Trainer, as_loss, autocast_forward  # noqa: E402


class Regression(Trainer):
    """The smallest trainer: one student-style step (a callable) fits w to 3."""

    METRICS = ("loss",)
    POSTFIX = ("loss",)

    def __init__(self, step, **kw):
        torch.manual_seed(0)
        self.w = nn.Linear(1, 1, bias=False)
        self.opt = torch.optim.SGD(self.w.parameters(), lr=0.1)
        self.student_step = step
        super().__init__("cpu", [self.opt], networks=[self.w], **kw)

    def _step_on_device(self):
        self._add(as_loss(self.student_step(self.w, self.opt), "step"))

    def parts(self):
        return {"w": self.w, "opt": self.opt, "history": self.history}


def fit_step(w, opt):
    loss = ((w(torch.ones(1, 1)) - 3) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def test_logs_every_n_steps_and_at_the_end_and_calls_back_after_each_log():
    events = []
    t = Regression(fit_step, log_every=4)
    history = t.train(10, progress=False, callback=lambda trainer, final: events.append((trainer.step, final)))
    assert history.steps == [4, 8, 10] and events == [(4, False), (8, False), (10, False), (10, True)]
    assert history["loss"][-1] < history["loss"][0]


def test_checkpoints_every_n_steps_and_resume_exactly(tmp_path):
    straight = Regression(fit_step, log_every=2)
    straight.train(6, progress=False)
    first = Regression(fit_step, log_every=2, checkpoint_path=tmp_path / "run.pt", checkpoint_every=3)
    first.train(3, progress=False)
    again = Regression(fit_step, log_every=2)
    assert again.resume(tmp_path / "run.pt") and again.step == 3
    again.train(3, progress=False)
    assert torch.allclose(again.w.weight, straight.w.weight)


@pytest.mark.parametrize(
    "value, message", [(1.5, "not loss.item()"), (torch.ones(3), "shape \\(3,\\)"), (None, "NoneType")]
)
def test_a_step_must_return_its_loss_tensor(value, message):
    with pytest.raises(TypeError, match=message):
        as_loss(value, "my_step")


def test_bad_settings_say_what_to_change():
    with pytest.raises(ValueError, match="log_every"):
        Regression(fit_step, log_every=0)
    with pytest.raises(ValueError, match="checkpoint_every"):
        Regression(fit_step, checkpoint_every=0)
    with pytest.raises(ValueError, match="amp_dtype"):
        Regression(fit_step, amp_dtype=torch.float64)


def test_autocast_hooks_run_forward_in_bf16_and_return_float32_then_come_off():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    inner = []
    net[0].register_forward_hook(lambda module, args, output: inner.append(output.dtype))
    handles = autocast_forward([net], "cpu", torch.bfloat16)
    out = net(torch.randn(2, 4))
    assert inner == [torch.bfloat16] and out.dtype == torch.float32
    out.sum().backward()  # backward runs outside autocast; the weights' gradients are float32
    assert net[0].weight.grad.dtype == torch.float32
    for handle in handles:
        handle.remove()
    net(torch.randn(2, 4))
    assert inner[-1] == torch.float32


def test_dashboard_draws_only_when_someone_watches_and_can_remove_itself(monkeypatch):
    from helpers.display import dashboards as dashboards

    shown, closed = [], []

    class Area:
        def __init__(self, initial):
            shown.append("start")

        def show(self, figure):
            shown.append(figure)

        def close(self):
            closed.append(True)

    monkeypatch.setattr(dashboards, "LiveArea", Area)
    t = Regression(fit_step, log_every=2)
    t.train(4, progress=False, callback=Dashboard(lambda trainer: f"figure at {trainer.step}", live=False))
    assert shown == [], "nobody is watching: nothing is drawn"
    t.train(
        4, progress=False, callback=Dashboard(lambda trainer: f"figure at {trainer.step}", live=True, min_interval=0)
    )
    assert shown == ["start", "figure at 6", "figure at 8", "figure at 8"] and closed == []
    t.train(2, progress=False, callback=Dashboard(lambda trainer: "f", live=True, keep=False, min_interval=0))
    assert closed == [True], "keep=False removes the dashboard when training ends"
