"""Unit tests for helpers.display.widgets: the hyperparameter panel and its validation."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from helpers.display.widgets import ChoiceParam, FloatParam, HyperparameterPanel, IntParam  # noqa: E402
from helpers.profiles import get_profile

DEFAULTS = {"lr": 0.01, "num_steps": 2000, "loss": "MSE"}


class Recorder:
    """A train function that records its calls."""

    def __init__(self, error: BaseException | None = None):
        self.calls: list[dict] = []
        self.error = error

    def __call__(self, **values):
        self.calls.append(values)
        if self.error is not None:
            raise self.error
        return {"trained_with": dict(values)}


def make_params():
    return [
        FloatParam("lr", DEFAULTS["lr"], low=0.0, exclusive_low=True, description="learning rate"),
        IntParam("num_steps", DEFAULTS["num_steps"], low=1, high=20_000, step=500),
        ChoiceParam("loss", DEFAULTS["loss"], ["MSE", "BCE"]),
    ]


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def panel(recorder):
    return HyperparameterPanel(make_params(), recorder, title="Pattern GAN", live=True)


# --- values() --------------------------------------------------------------------------------------


def test_values_are_the_defaults_with_their_types(panel):
    values = panel.values()
    assert values == DEFAULTS
    assert type(values["lr"]) is float and type(values["num_steps"]) is int


def test_values_with_valid_overrides(panel):
    assert panel.values(lr=2e-4, num_steps=500, loss="BCE") == {"lr": 2e-4, "num_steps": 500, "loss": "BCE"}
    values = panel.values(lr=1, num_steps=300.0)
    assert values["lr"] == 1.0 and type(values["lr"]) is float
    assert values["num_steps"] == 300 and type(values["num_steps"]) is int
    # overrides given to values() do not move the controls
    assert panel.controls["lr"].value == DEFAULTS["lr"]


@pytest.mark.parametrize(
    "override, name, hints",
    [
        ({"lr": 0.0}, "lr", ["greater than 0", "'learning rate'", "above 0"]),
        ({"lr": -1e-3}, "lr", ["greater than 0", "'learning rate'"]),
        ({"num_steps": 0}, "num_steps", ["at least 1", "'num_steps' to 1 or more"]),
        ({"num_steps": -5}, "num_steps", ["at least 1"]),
        ({"num_steps": 20_001}, "num_steps", ["at most 20000", "or less"]),
        ({"num_steps": 12.5}, "num_steps", ["whole number"]),
        ({"lr": math.nan}, "lr", ["finite", "'learning rate'"]),
        ({"lr": math.inf}, "lr", ["finite"]),
        ({"lr": "0.01"}, "lr", ["must be a number", "str"]),
        ({"lr": True}, "lr", ["must be a number", "bool"]),
        ({"num_steps": None}, "num_steps", ["must be a whole number", "NoneType"]),
        ({"loss": "L1"}, "loss", ["one of ['MSE', 'BCE']", "'L1'"]),
    ],
)
def test_invalid_values_raise_naming_the_parameter(panel, recorder, override, name, hints):
    for call in (panel.values, panel.train):
        with pytest.raises(ValueError) as info:
            call(**override)
        message = str(info.value)
        assert message.startswith(name + " must")
        for hint in hints:
            assert hint in message
    assert recorder.calls == []
    assert panel.controls[name].value == DEFAULTS[name]  # a rejected override does not move the control


def test_unknown_override_name_raises(panel, recorder):
    with pytest.raises(ValueError) as info:
        panel.train(learning_rate=0.1)
    message = str(info.value)
    assert "learning_rate" in message and all(name in message for name in DEFAULTS)
    assert recorder.calls == []


# --- train() ---------------------------------------------------------------------------------------


def test_train_with_defaults(panel, recorder):
    result = panel.train()
    assert recorder.calls == [DEFAULTS]
    assert result == {"trained_with": DEFAULTS} and panel.result is result
    assert panel.status.value.startswith("done") and "lr=0.01" in panel.status.value
    assert not panel.button.disabled


def test_train_with_overrides_calls_with_validated_values_and_moves_controls(panel, recorder):
    result = panel.train(lr=3e-4, num_steps=1500, loss="BCE")
    expected = {"lr": 3e-4, "num_steps": 1500, "loss": "BCE"}
    assert recorder.calls == [expected]
    assert panel.result is result and result == {"trained_with": expected}
    assert {name: control.value for name, control in panel.controls.items()} == expected
    # the next run (e.g. the button) uses what the controls now show
    panel.train()
    assert recorder.calls[-1] == expected


def test_train_uses_values_typed_into_controls(panel, recorder):
    panel.controls["lr"].value = 0.5
    panel.controls["loss"].value = "BCE"
    panel.train()
    assert recorder.calls == [{"lr": 0.5, "num_steps": DEFAULTS["num_steps"], "loss": "BCE"}]


def test_exception_in_train_function_is_reraised_and_reported(recorder):
    failing = Recorder(error=RuntimeError("shapes do not match"))
    panel = HyperparameterPanel(make_params(), failing, live=True)
    with pytest.raises(RuntimeError, match="shapes do not match"):
        panel.train(lr=0.1)
    assert len(failing.calls) == 1
    assert "training failed" in panel.status.value
    assert "RuntimeError" in panel.status.value and "shapes do not match" in panel.status.value
    assert not panel.button.disabled  # the student can try again


# --- the Train button ------------------------------------------------------------------------------


def test_button_trains_with_the_values_on_screen(panel, recorder):
    panel.controls["num_steps"].value = 500
    panel.button.click()
    assert recorder.calls == [{**DEFAULTS, "num_steps": 500}]
    assert panel.result == {"trained_with": recorder.calls[0]}
    assert panel.status.value.startswith("done")


@pytest.mark.parametrize("bad_lr, hint", [(-1.0, "greater than 0"), (math.nan, "finite")])
def test_button_with_invalid_control_value_shows_message_and_does_not_train(panel, recorder, bad_lr, hint):
    panel.controls["lr"].value = bad_lr  # a FloatText accepts any float
    panel.button.click()  # must not raise
    assert recorder.calls == []
    assert panel.result is None
    status = panel.status.value
    assert "lr must be" in status and hint in status and "'learning rate'" in status
    assert not panel.button.disabled


def test_button_with_failing_train_function_does_not_raise(recorder):
    failing = Recorder(error=RuntimeError("boom"))
    panel = HyperparameterPanel(make_params(), failing, live=True)
    panel.button.click()
    assert len(failing.calls) == 1
    assert "training failed" in panel.status.value and "boom" in panel.status.value


def test_button_reports_value_error_from_train_function_as_training_failure():
    failing = Recorder(error=ValueError("Using a target size that is different to the input size"))
    panel = HyperparameterPanel(make_params(), failing, live=True)
    panel.button.click()
    assert len(failing.calls) == 1
    assert "training failed" in panel.status.value and "target size" in panel.status.value


# --- construction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_param, name",
    [
        (lambda: FloatParam("lr", -0.1, low=0.0, exclusive_low=True), "lr"),
        (lambda: IntParam("num_steps", 0, low=1, high=10), "num_steps"),
        (lambda: FloatParam("beta", math.nan), "beta"),
    ],
)
def test_bad_default_raises_at_construction(recorder, bad_param, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        HyperparameterPanel([bad_param()], recorder, live=True)


def test_bad_choice_default_raises():
    with pytest.raises(ValueError, match="'L1' of loss"):
        ChoiceParam("loss", "L1", ["MSE", "BCE"])


def test_duplicate_names_raise(recorder):
    with pytest.raises(ValueError, match="unique"):
        HyperparameterPanel([FloatParam("lr", 0.1), FloatParam("lr", 0.2)], recorder, live=True)


def test_controls_are_built_from_params(panel):
    import ipywidgets as widgets

    assert isinstance(panel.controls["lr"], widgets.FloatText)
    assert isinstance(panel.controls["num_steps"], widgets.IntSlider)
    assert (panel.controls["num_steps"].min, panel.controls["num_steps"].max) == (1, 20_000)
    assert isinstance(panel.controls["loss"], widgets.Dropdown)
    assert list(panel.controls["loss"].options) == ["MSE", "BCE"]
    assert panel.controls["lr"].description == "learning rate"
    assert isinstance(IntParam("n", 3, low=1).widget(), widgets.IntText)  # no upper bound: a box
    assert isinstance(FloatParam("x", 0.5, low=0.0, high=1.0, slider=True).widget(), widgets.FloatSlider)


# --- automated runs (nbgrader, nbval, CI) ------------------------------------------------------------


@pytest.mark.parametrize("automated", [True, False])
def test_train_uses_the_output_area_only_when_a_person_is_watching(monkeypatch, automated):
    import ipywidgets

    entered = []
    monkeypatch.setattr(ipywidgets.Output, "__enter__", lambda self: entered.append(self) or self)
    monkeypatch.setattr(ipywidgets.Output, "__exit__", lambda self, *exc: None)
    live = get_profile({"NBGRADER_EXECUTION": "autograde"} if automated else {}).watched  # as a lesson passes it
    panel = HyperparameterPanel(make_params(), Recorder(), live=live)
    panel.train(num_steps=10)
    assert panel.result == {"trained_with": {"lr": 0.01, "num_steps": 10, "loss": "MSE"}}
    assert (panel.output in entered) is (not automated)


def test_interact_calls_the_function_once_with_the_slider_values_when_automated(monkeypatch):
    import ipywidgets

    from helpers.display.widgets import interact

    calls = []
    result = interact(
        lambda label, scale: calls.append((label, scale)) or label * scale,
        live=False,
        label=ipywidgets.IntSlider(value=3, min=0, max=9),
        scale=ipywidgets.FloatSlider(value=0.5),
    )
    assert calls == [(3, 0.5)] and result == 1.5


def test_interact_builds_sliders_for_a_person(monkeypatch):
    import ipywidgets

    from helpers.display.widgets import interact

    calls = []
    slider = ipywidgets.IntSlider(value=4, min=0, max=9)
    shown = interact(lambda label: calls.append(label), live=True, label=slider)
    assert isinstance(shown, ipywidgets.interactive) or callable(shown)
    slider.value = 7  # moving the slider calls the function again
    assert calls[-1] == 7


def test_interact_shows_whole_slider_labels_unless_the_lesson_set_a_width(monkeypatch):
    import ipywidgets

    from helpers.display.widgets import interact

    long_label = ipywidgets.FloatSlider(value=0.5, description="mean of p_g")
    fixed = ipywidgets.FloatSlider(value=0.5, description="σ", style={"description_width": "40px"})
    interact(lambda a, b: None, live=False, a=long_label, b=fixed)
    assert long_label.style.description_width == "initial"  # the default width cut it to "mean of p..."
    assert fixed.style.description_width == "40px"


def test_live_area_close_removes_its_output_widget():
    from helpers.display.widgets import LiveArea

    area = LiveArea("training starts")
    assert area.output.comm is not None
    area.close()
    assert area.output.comm is None  # closed: the front end removes the view, with its last figure
