"""Unit tests for helpers.training.loop: the step loop and the loss history."""

from __future__ import annotations

import warnings

import pytest
import torch

from helpers.training.loop import History, run_steps


def losses_of(step: int) -> dict[str, float]:
    """Deterministic fake losses that identify their step."""
    return {"d_loss": 1.0 / (step + 1), "g_loss": float(step)}


def expected_log_steps(start: int, num_steps: int, log_every: int) -> list[int]:
    steps = [start + i for i in range(num_steps) if i % log_every == 0]
    last = start + num_steps - 1
    return steps if steps[-1] == last else steps + [last]


# --- run_steps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_steps, log_every", [(25, 10), (30, 10), (1, 10), (7, 1), (5, 100)])
def test_records_every_log_every_steps_and_the_last(num_steps, log_every):
    called = []

    def step_fn(step):
        called.append(step)
        return losses_of(step)

    history = run_steps(step_fn, num_steps, log_every=log_every, progress=False)
    assert called == list(range(num_steps))
    steps = expected_log_steps(0, num_steps, log_every)
    assert history.steps == steps
    assert len(history) == len(steps)
    assert history["d_loss"] == [losses_of(s)["d_loss"] for s in steps]
    assert history["g_loss"] == [losses_of(s)["g_loss"] for s in steps]
    assert history.names == ["d_loss", "g_loss"]


def test_callback_every_and_after_last_step():
    calls = []
    finals = []
    run_steps(
        losses_of,
        23,
        log_every=5,
        callback=lambda run, final: calls.append((run.step, len(run.history))) or finals.append(final),
        callback_every=10,
        progress=False,
    )
    # callback(run, final) as every loop calls back: after the first step, every 10 steps done, and the last
    assert [done for done, _ in calls] == [1, 10, 20, 23]
    assert finals == [False, False, False, True]
    # the history passed to the callback already holds this step's record when it was logged
    assert [n for _, n in calls] == [sum(1 for s in range(done) if s % 5 == 0 or s == 22) for done in (1, 10, 20, 23)]


def test_callback_without_callback_every_only_after_last_step():
    calls = []
    history = run_steps(
        losses_of, 12, callback=lambda run, final: calls.append((run.step, run.history, final)), progress=False
    )
    assert len(calls) == 1
    assert calls[0][0] == 12 and calls[0][1] is history and calls[0][2] is True


def test_continuing_a_history_numbers_steps_on():
    first = run_steps(losses_of, 15, log_every=10, progress=False)
    seen = []

    def step_fn(step):
        seen.append(step)
        return losses_of(step)

    history = run_steps(step_fn, 12, log_every=10, history=first, progress=False)
    assert history is first
    assert seen == list(range(15, 27))
    steps = expected_log_steps(0, 15, 10) + expected_log_steps(15, 12, 10)
    assert history.steps == steps
    assert history["g_loss"] == [float(s) for s in steps]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_loss_raises_naming_loss_and_step(bad):
    def step_fn(step):
        return {"d_loss": 0.5, "g_loss": bad if step == 20 else 0.7}

    with pytest.raises(FloatingPointError) as info:
        run_steps(step_fn, 50, log_every=10, progress=False)
    message = str(info.value)
    assert "g_loss" in message and "d_loss" not in message
    assert "step 20" in message
    assert "learning rate" in message


def test_non_finite_loss_between_logs_is_not_read_back():
    """Losses are read back (and checked) only at logged steps, so an unlogged NaN passes."""
    history = run_steps(lambda s: {"loss": float("nan") if s == 3 else 1.0}, 10, log_every=5, progress=False)
    assert history.steps == [0, 5, 9]


@pytest.mark.parametrize("num_steps", [0, -1, 2.5, "5", float("inf"), float("nan")])
def test_bad_num_steps_raises_value_error_naming_it(num_steps):
    called = []
    with pytest.raises(ValueError, match="num_steps"):
        run_steps(lambda s: called.append(s) or {"loss": 1.0}, num_steps, progress=False)
    assert called == []


def test_whole_float_num_steps_is_accepted():
    assert run_steps(losses_of, 3.0, log_every=1, progress=False).steps == [0, 1, 2]


@pytest.mark.parametrize("log_every", [0, -2])
def test_bad_log_every_raises(log_every):
    with pytest.raises(ValueError, match="log_every"):
        run_steps(losses_of, 5, log_every=log_every, progress=False)


def test_tensor_losses_are_stored_as_floats():
    def step_fn(step):
        return {"loss": torch.tensor(step * 0.5) * 2, "acc": torch.tensor(0.25, dtype=torch.float64)}

    history = run_steps(step_fn, 4, log_every=1, progress=False)
    assert history["loss"] == [float(s) for s in range(4)]
    assert history["acc"] == [0.25] * 4
    assert all(type(v) is float for v in history["loss"] + history["acc"])


def test_loss_tensors_with_autograd_graph_are_logged_without_warning():
    weight = torch.tensor(0.5, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = run_steps(lambda s: {"loss": weight * s}, 3, log_every=1, progress=False)
    assert history["loss"] == [0.0, 0.5, 1.0]


def test_progress_bar_on_and_off(capsys):
    quiet = run_steps(losses_of, 5, log_every=2, progress=False)
    assert "training" not in capsys.readouterr().err
    shown = run_steps(losses_of, 5, log_every=2, progress=True, desc="my run")
    assert shown.steps == quiet.steps and shown["d_loss"] == quiet["d_loss"]
    assert "my run" in capsys.readouterr().err  # tqdm writes to stderr outside Jupyter


# --- History ----------------------------------------------------------------------------------------


def test_mean_last():
    history = History()
    values = [float(v) ** 2 for v in range(10)]
    for step, value in enumerate(values):
        history.log(step, loss=value)
    assert history.mean_last("loss", 3) == pytest.approx(sum(values[-3:]) / 3)
    assert history.mean_last("loss") == pytest.approx(sum(values) / len(values))  # n larger than the record
    assert history.mean_last("loss", 1) == values[-1]


def test_mean_last_zero_is_rejected():
    history = History()
    for step in range(5):
        history.log(step, loss=float(step))
    with pytest.raises(ValueError):
        history.mean_last("loss", 0)


def test_unknown_name_raises_key_error_naming_recorded_names():
    history = History()
    history.log(0, d_loss=1.0, g_loss=2.0)
    with pytest.raises(KeyError) as info:
        history["G_loss"]
    message = str(info.value)
    assert "'G_loss'" in message and "d_loss" in message and "g_loss" in message
    with pytest.raises(KeyError):
        history.mean_last("nothing")


def test_log_and_repr():
    history = History()
    history.log(torch.tensor(3), loss=torch.tensor(0.5))
    history.log(4, loss=0.25)
    assert history.steps == [3, 4] and all(type(s) is int for s in history.steps)
    assert "2 records" in repr(history) and "loss=0.25" in repr(history)


def test_history_state_dict_round_trip_loads_in_place():
    history = History()
    history.log(10, D=1.5, G=0.5)
    history.log(20, D=1.0, G=0.75)
    other = History()
    other.log(1, old=3.0)
    same = other
    other.load_state_dict(history.state_dict())
    assert same is other and other.steps == [10, 20] and other["D"] == [1.5, 1.0] and other.names == ["D", "G"]
    history.log(30, D=0.0, G=0.0)
    assert other.steps == [10, 20]  # a copy, not a view of the saved lists
