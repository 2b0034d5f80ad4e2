"""A hyperparameter panel: sliders, dropdowns and boxes, a Train button, one output area.

A lesson declares its hyperparameters and a train function::

    panel = HyperparameterPanel(
        [FloatParam("lr", 0.01, low=0.0, exclusive_low=True),
         IntParam("num_steps", 2_000, low=1, high=20_000, step=500),
         ChoiceParam("loss", "MSE", ["MSE", "BCE"])],
        train_fn=train_pattern_gan, live=profile.watched,
    )
    panel.display()
    result = panel.train()   # runs once with the defaults, so a headless run (nbval, nbgrader) trains too

``panel.train(**overrides)`` validates every value and raises ``ValueError`` with
a message that says which control to change. The Train button runs the same
code with the values on screen and shows such a message in red instead of raising.

Automated runs (nbgrader, nbval, CI: the lesson passes ``live=profile.watched``, see
:class:`helpers.profiles.Profile`) write straight into the cell instead of into an ``ipywidgets.Output`` area,
and :func:`interact` calls its function once instead of building sliders. Nobody is
there to look at widgets, and nbclient (used by nbgrader) answers every output
captured by an ``Output`` widget with a message on the kernel's shell socket,
which now and then hides the cell's own reply until the cell timeout.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
from IPython.display import HTML, clear_output, display


@dataclass
class Param:
    """One hyperparameter: its name (the keyword passed to the train function) and default."""

    name: str
    default: Any
    description: str = field(default="", kw_only=True)

    def widget(self) -> widgets.Widget:  # pragma: no cover - overridden
        raise NotImplementedError

    def validate(self, value: Any) -> Any:
        return value

    @property
    def label(self) -> str:
        return self.description or self.name


@dataclass(kw_only=True)
class _Number(Param):
    low: float | None = None
    high: float | None = None
    exclusive_low: bool = False
    step: float | None = None
    slider: bool = True

    _cast = float
    _kind = "a number"

    def validate(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.name} must be {self._kind}, got {value!r} ({type(value).__name__}).")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(
                f"{self.name} must be a finite number, got {value!r}: set '{self.label}' to a finite value."
            )
        if self._cast is int and int(value) != value:
            raise ValueError(f"{self.name} must be a whole number, got {value!r}.")
        value = self._cast(value)
        if self.low is not None:
            if self.exclusive_low and value <= self.low:
                raise ValueError(
                    f"{self.name} must be greater than {self.low:g}, got {value:g}: "
                    f"set '{self.label}' to a value above {self.low:g}."
                )
            if not self.exclusive_low and value < self.low:
                raise ValueError(
                    f"{self.name} must be at least {self.low:g}, got {value:g}: "
                    f"set '{self.label}' to {self.low:g} or more."
                )
        if self.high is not None and value > self.high:
            raise ValueError(
                f"{self.name} must be at most {self.high:g}, got {value:g}: "
                f"set '{self.label}' to {self.high:g} or less."
            )
        return value


@dataclass(kw_only=True)
class IntParam(_Number):
    """A whole number, shown as a slider (``low``..``high``) or, without ``high``, as a box."""

    _cast = int
    _kind = "a whole number"

    def widget(self) -> widgets.Widget:
        style = {"description_width": "initial"}
        if self.slider and self.low is not None and self.high is not None:
            return widgets.IntSlider(
                value=self.default,
                min=int(self.low),
                max=int(self.high),
                step=int(self.step or 1),
                description=self.label,
                style=style,
                continuous_update=False,
            )
        return widgets.IntText(value=self.default, description=self.label, style=style)


@dataclass(kw_only=True)
class FloatParam(_Number):
    """A real number, shown as a text box (learning rates are typed: 2e-4) or a slider."""

    slider: bool = False

    def widget(self) -> widgets.Widget:
        style = {"description_width": "initial"}
        if self.slider and self.low is not None and self.high is not None:
            return widgets.FloatSlider(
                value=self.default,
                min=self.low,
                max=self.high,
                step=self.step or 0.01,
                description=self.label,
                style=style,
                continuous_update=False,
                readout_format=".3g",
            )
        return widgets.FloatText(value=self.default, description=self.label, style=style)


@dataclass
class ChoiceParam(Param):
    """One of a fixed list of options, shown as a dropdown."""

    options: Sequence[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.default not in self.options:
            raise ValueError(f"default {self.default!r} of {self.name} is not one of {list(self.options)}")

    def widget(self) -> widgets.Widget:
        return widgets.Dropdown(
            options=list(self.options),
            value=self.default,
            description=self.label,
            style={"description_width": "initial"},
        )

    def validate(self, value: Any) -> Any:
        if value not in self.options:
            raise ValueError(f"{self.name} must be one of {list(self.options)}, got {value!r}.")
        return value


class HyperparameterPanel:
    """Controls for ``params``, a Train button, a status line and an output area.

    Args:
        params: the hyperparameters, in display order; names must be keyword
            arguments of ``train_fn``.
        train_fn: called as ``train_fn(**values)``; whatever it returns is kept in
            ``panel.result``. Figures it leaves open are shown in the output area.
        title: a heading shown above the controls.
        live: a person is watching (``profile.watched``): results go into the panel's output area. ``False``
            (nbgrader, nbval, CI) writes them straight into the cell.
    """

    def __init__(self, params: Sequence[Param], train_fn: Callable[..., Any], *, live: bool, title: str | None = None):
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"Parameter names must be unique, got {names}")
        self.params = {p.name: p for p in params}
        for p in params:
            p.validate(p.default)  # a bad default is the lesson author's bug: fail at once
        self.train_fn = train_fn
        self.live = bool(live)
        self.controls = {p.name: p.widget() for p in params}
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.status = widgets.HTML()
        self.output = widgets.Output()
        self.result: Any = None
        self.button.on_click(self._on_click)
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        self.box = widgets.VBox(
            header + list(self.controls.values()) + [widgets.HBox([self.button, self.status]), self.output]
        )

    def values(self, **overrides: Any) -> dict[str, Any]:
        """The validated values: the controls' values, replaced by ``overrides``.

        Raises:
            ValueError: an unknown name or an invalid value (the message says what to change).
        """
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise ValueError(f"Unknown hyperparameter(s) {unknown}; this panel has {list(self.params)}.")
        raw = {name: control.value for name, control in self.controls.items()}
        raw.update(overrides)
        return {name: self.params[name].validate(value) for name, value in raw.items()}

    def train(self, **overrides: Any) -> Any:
        """Validate, then run ``train_fn`` with the values, showing its output in the panel.

        ``overrides`` also move the controls, so the panel shows what was run.
        """
        values = self.values(**overrides)
        for name, value in overrides.items():
            self.controls[name].value = value
        import matplotlib.pyplot as plt

        self.button.disabled = True
        self.status.value = "<i>training…</i>"
        failure: BaseException | None = None
        area = self.output if self.live else contextlib.nullcontext()  # automated: into the cell
        try:
            with area:
                if area is self.output:
                    clear_output(wait=True)
                try:
                    self.result = self.train_fn(**values)
                    plt.show()
                except BaseException as error:  # re-raised below, outside the output area
                    failure = error
        finally:
            self.button.disabled = False
        if failure is not None:
            self.status.value = (
                f"<span style='color:#b00020'>⚠ training failed: {type(failure).__name__}: {failure}</span>"
            )
            raise failure
        self.status.value = "done: " + ", ".join(f"{k}={v}" for k, v in values.items())
        return self.result

    def _on_click(self, _button: widgets.Button) -> None:
        try:
            self.values()
        except ValueError as error:  # a bad value in a control: say which, train nothing
            self.status.value = f"<span style='color:#b00020'>⚠ {error}</span>"
            return
        try:
            self.train()
        except Exception:  # shown to the student in the panel, not lost in the log
            from IPython import get_ipython

            with self.output:
                ip = get_ipython()
                if ip is not None:
                    ip.showtraceback()

    def display(self) -> None:
        """Show the panel in the notebook."""
        display(self.box)

    def _ipython_display_(self) -> None:
        self.display()


def interact(function: Callable[..., Any], *, live: bool, **controls: widgets.ValueWidget) -> Any:
    """``ipywidgets.interact(function, **controls)`` for a person at Jupyter (``live=profile.watched``).

    In an automated run (``live=False``) it calls ``function`` once with the controls' current values
    and shows its figures in the cell (see the module docstring for why).
    """
    for control in controls.values():  # show whole labels ("mean of p_g"), not "mean of p..."
        style = getattr(control, "style", None)
        if (
            getattr(control, "description", "")
            and style is not None
            and hasattr(style, "description_width")
            and not style.description_width
        ):
            style.description_width = "initial"
    if live:
        return widgets.interact(function, **controls)
    import matplotlib.pyplot as plt

    result = function(**{name: control.value for name, control in controls.items()})
    plt.show()
    return result


class LiveArea:
    """One output area that a running cell redraws in place (a training dashboard).

    An ``ipywidgets.Output`` cleared and refilled on each :meth:`show`. Display handles
    (``display(..., display_id=True)`` then ``handle.update``) would be simpler, but a
    handle shown inside another ``Output`` widget (the panel's, when Train is clicked)
    is never updated: JupyterLab kept the placeholder and showed no live figure. Meant
    for a person at Jupyter; automated runs draw only the final figure (see the module docstring).
    """

    def __init__(self, initial: Any = None) -> None:
        self.output = widgets.Output()
        display(self.output)
        if initial is not None:
            self.show(initial)

    def show(self, obj: Any) -> None:
        """Replace what the area shows with ``obj`` (a figure, HTML, ...)."""
        with self.output:
            clear_output(wait=True)
            display(obj)

    def close(self) -> None:
        """Remove the area from the notebook (its last figure with it)."""
        self.output.close()


def error_html(message: str) -> HTML:
    """A red message for a notebook cell."""
    return HTML(f"<span style='color:#b00020'>⚠ {message}</span>")
