"""Every lesson in a real JupyterLab, in a real (headless) Chromium, driven by Playwright.

nbval proves the kernel side; this test proves what a student sees: the notebook runs from top to bottom
without an error output, the hyperparameter panel renders as widgets (not "Error displaying widget" or a text
repr), a tqdm progress bar renders, moving a slider then clicking **Train** changes the panel's output, and every
image (figures, dashboards, panels, grids) fits the notebook column of a 1,280-pixel-wide window: shown at its own
size, inside the column, with no horizontal scroll bar around it (text inside a figure: tests/test_plotting.py).

One ``jupyter lab`` server (127.0.0.1, a random token, a temporary copy of ``solutions/``, ``GAN_PROFILE=grading``:
the lessons' smallest honest runs, since this test checks what the browser shows, nbval checks the quick profile)
and one Chromium serve every lesson. The server's environment drops ``CI``, ``NBVAL`` and ``NBGRADER_EXECUTION``:
with them the kernels would count as automated and the panels would skip their widgets. Screenshots go to
``artifacts/browser/``: ``<lesson>.png`` (the whole notebook after Run All) and ``<lesson>-panel.png`` (the panel
after the slider moved and Train ran), and ``<lesson>-images.json`` lists every image's size against its column.

Run it alone with ``pytest -m browser``. It needs Debian's ``chromium`` (``/usr/bin/chromium``, or set
``GAN_COURSE_CHROMIUM``) and the ``playwright`` package; no browser is downloaded. Without them it is skipped,
except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from course import LESSONS, ROOT, SOLUTIONS

from helpers.profiles import AUTOMATION_VARS, env_flag

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("GAN_COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts" / "browser"
# Per lesson, a guard against a hung notebook: the quick profiles take about a minute each on 2 quiet cores.
# GAN_BROWSER_TIMEOUT_S raises it (and the server's start, a fifth of it) on a machine shared with other work.
RUN_ALL_S = float(os.environ.get("GAN_BROWSER_TIMEOUT_S", 600))
TRAIN_S = RUN_ALL_S / 2
SERVER_START_S = max(120.0, RUN_ALL_S / 5)
# JupyterLab settings for the test's server: every cell stays in the page (no windowing), no news pop-up.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
# The slider moved before Train: the first whose label names the run's length, else the panel's first slider.
# The Home key moves it to its low end: Train then runs the shortest run, which keeps the test quick.
RUN_LENGTH_WORDS = ("step", "epoch", "iteration")
# A laptop's browser window: the figures must fit JupyterLab's notebook column at this width.
WINDOW = {"width": 1280, "height": 1000}


def _missing(reason: str) -> None:
    """Skip on a developer machine; fail under CI, where the browser test must run."""
    if env_flag(os.environ.get("CI")):
        pytest.fail(f"{reason} (CI is set: the browser test must run there; .ci/run installs chromium)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running ``jupyter lab`` server: its URL, token, process and log."""

    def __init__(self, tmp: Path):
        self.course = tmp / "course"
        shutil.copytree(SOLUTIONS, self.course / "solutions", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        settings = tmp / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in AUTOMATION_VARS + ("NBGRADER_VALIDATING",)}
        env.update(
            GAN_PROFILE="grading",
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(tmp / "lab-workspaces"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={self.course}",
            "--LabApp.expose_app_in_browser=True",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / "jupyter-lab.log"
        self._log = open(self.log_path, "w")
        # its own process group: stopping the server also stops every kernel it started
        self.process = subprocess.Popen(
            command, cwd=self.course, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"jupyter lab did not answer within {SERVER_START_S} s:\n{self.log_tail()}")

    def shutdown_kernels(self) -> None:
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        _missing("jupyterlab is not installed in this environment")
    server = Lab(tmp_path_factory.mktemp("browser"))
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        _missing(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium) "
            f"or set GAN_COURSE_CHROMIUM to a Chromium executable"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing: pip install -e '.[dev]'")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


# -- reading JupyterLab's state (window.jupyterapp: --LabApp.expose_app_in_browser) ---------------------

_NOTEBOOK_STATE = """path => {
  const app = window.jupyterapp;
  const panel = app && Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path);
  if (!panel || !panel.sessionContext || !panel.content) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const code = panel.content.widgets.filter(cell => cell.model.type === 'code');
  return {
    kernel: kernel ? kernel.status : 'none',
    running: code.filter(cell => cell.promptNode && cell.promptNode.textContent.includes('*')).length,
    executed: code.filter(cell => cell.model.executionCount !== null).length,
    code: code.length,
    errors: code.flatMap((cell, index) => {
      const out = [];
      for (let i = 0; i < cell.model.outputs.length; i++) {
        const o = cell.model.outputs.get(i).toJSON();
        if (o.output_type === 'error') out.push(`code cell ${index + 1}: ${o.ename}: ${o.evalue}`);
      }
      return out;
    }),
  };
}"""


def _state(page, path: str) -> dict | None:
    """The kernel's status, the code cells' progress and error outputs of the open notebook ``path``."""
    return page.evaluate(_NOTEBOOK_STATE, path)


def _wait(page, path: str, what: str, predicate, timeout: float, poll: float = 1.0) -> dict:
    """Poll the notebook's state until ``predicate(state)`` holds twice in a row."""
    deadline, held, state = time.monotonic() + timeout, 0, None
    while time.monotonic() < deadline:
        state = _state(page, path)
        held = held + 1 if state is not None and predicate(state) else 0
        if held >= 2:
            return state
        page.wait_for_timeout(poll * 1000)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last state {state}")


@contextlib.contextmanager
def open_notebook(chromium, lab, path: str, workspace: str, viewport: dict, artifact: str):
    """A page with ``path`` open in a workspace of its own and its kernel idle; yields ``(page, page_errors)``.

    ``page_errors`` collects the page's JavaScript errors. On a failure the page's screenshot and HTML go to
    ``artifacts/browser/<artifact>-failure.*``; in any case the page closes and the server's kernels stop.
    """
    page = chromium.new_page(viewport=viewport)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        # a workspace of its own: only this notebook open, no tab restored from an earlier test
        page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{path}?reset&token={lab.token}")
        page.wait_for_selector(".jp-NotebookPanel-notebook .jp-Cell", timeout=60_000)
        _wait(page, path, "the kernel to start", lambda s: s["kernel"] == "idle", timeout=120)
        yield page, page_errors
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{artifact}-failure.png"))
            (ARTIFACTS / f"{artifact}-failure.html").write_text(page.content())
        raise
    finally:
        page.close()
        lab.shutdown_kernels()


def _menu(page, menu: str, item: str) -> None:
    """Click ``item`` in the menu bar's ``menu``, as a student does."""
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(f'.lm-Menu-itemLabel:text-is("{item}")').first.click()


def _screenshot_notebook(page, path: Path) -> None:
    """The whole notebook: the page made as tall as the notebook, then put back."""
    height = page.evaluate("""() => Math.max(...Array.from(
        document.querySelectorAll('.jp-NotebookPanel-notebook, .jp-NotebookPanel-notebook .jp-WindowedPanel-outer'),
        el => el.scrollHeight))""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(height + 200, 16000)})
    try:
        page.evaluate("""() => document.querySelectorAll(
            '.jp-NotebookPanel-notebook, .jp-NotebookPanel-notebook .jp-WindowedPanel-outer')
            .forEach(el => el.scrollTop = 0)""")
        page.wait_for_timeout(500)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


def _slide_to_low_end(page, slider, readout) -> str:
    """Focus the slider's handle and press Home (one step up with the right arrow if it was there already).

    Returns the readout's new text; the old one if the slider did not move."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = readout.inner_text()
    slider.locator(".noUi-handle").first.focus()
    for key in ("Home", "ArrowRight"):
        page.keyboard.press(key)
        try:
            page.wait_for_function(
                "([el, old]) => el.innerText !== old", arg=[readout.element_handle(), before], timeout=3_000
            )
            break
        except PlaywrightTimeout:  # the readout stayed: it was at the low end already
            continue
    return readout.inner_text()


def _output_signature(area) -> str:
    """What the student sees in an output area: its text and its images' sources."""
    return area.evaluate("""el => el.innerText + '\\n' +
        Array.from(el.querySelectorAll('img')).map(img => img.src).join('\\n')""")


_IMAGE_FIT = """root => {
  const cells = Array.from(document.querySelectorAll('.jp-Cell'));
  return Array.from(root.querySelectorAll('.jp-OutputArea-output img')).filter(img => img.naturalWidth > 0)
    .map(img => {
      const cell = img.closest('.jp-Cell');
      let column = img.closest('.jp-OutputArea-output'), scrolled = null;
      for (let el = img.parentElement; el && el !== cell; el = el.parentElement) {
        if (el.classList.contains('jp-OutputArea-output')) column = el;  // the cell's own output: the column
        if (!scrolled && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
          scrolled = `${el.className.split(' ')[0] || el.tagName} (${el.scrollWidth} px in ${el.clientWidth} px)`;
      }
      const box = img.getBoundingClientRect(), area = column.getBoundingClientRect();
      return {cell: cells.indexOf(cell), natural: img.naturalWidth, shown: Math.round(box.width),
              left: Math.round(box.left - area.left), right: Math.round(box.right - area.left),
              column: Math.round(area.width), scrolled};
    });
}"""


def _images_that_do_not_fit(lesson: str, scope, name: str) -> list[str]:
    """Every image under ``scope`` against its cell's output column; writes them to ``<lesson>-images.json`` (with
    ``name``: where they were read) and returns what does not fit: wider than the column at its own size (the
    browser scales it down), past the column's right edge (cut off), or inside a box that scrolls sideways."""
    images = scope.evaluate(_IMAGE_FIT)
    record = ARTIFACTS / f"{lesson}-images.json"
    kept = json.loads(record.read_text()) if name != "notebook" and record.exists() else {}
    record.write_text(json.dumps({**kept, name: images}, indent=1))
    problems = []
    for image in images:
        where = f"{name}, cell {image['cell']}: an image {image['natural']} px wide"
        if image["natural"] > image["column"]:
            problems.append(f"{where} in a column of {image['column']} px (shown at {image['shown']} px)")
        elif image["shown"] < image["natural"] - 1:
            problems.append(f"{where} shown scaled down to {image['shown']} px")
        if image["right"] > image["column"] + 1 or image["left"] < -1:
            problems.append(f"{where} runs past the column ({image['left']}..{image['right']} of {image['column']})")
        if image["scrolled"]:
            problems.append(f"{where} sits in a box that scrolls sideways: {image['scrolled']}")
    return problems


def _assert_no_errors(lesson: str, notebook, state: dict) -> None:
    """No error output in the model, Run All went to the end, no traceback or error text on screen."""
    assert not state["errors"], f"{lesson}: error outputs in the browser: {state['errors']}"
    assert state["executed"] == state["code"], (
        f"{lesson}: Run All stopped: {state['executed']} of {state['code']} code cells ran"
    )
    shown = notebook.locator(".jp-OutputArea-output").all_inner_texts()
    tracebacks = [text[:300] for text in shown if "Traceback" in text]
    assert not tracebacks, f"{lesson}: a cell shows a traceback:\n" + "\n---\n".join(tracebacks)
    stderr = notebook.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    errors = [text[:300] for text in stderr.all_inner_texts() if "Error" in text]
    assert not errors, f"{lesson}: a cell shows an error on stderr:\n" + "\n---\n".join(errors)


def _panel(lesson: str, page, notebook):
    """The first hyperparameter panel, after checking that every widget rendered as a widget."""
    assert not notebook.get_by_text("Error displaying widget").count(), f"{lesson}: 'Error displaying widget'"
    reprs = [
        text[:200]
        for text in notebook.locator(".jp-RenderedText").all_inner_texts()
        if "HyperparameterPanel(" in text or "VBox(" in text
    ]
    assert not reprs, f"{lesson}: a widget shows as text, not as a widget: {reprs}"
    panels = notebook.locator(".jp-OutputArea-output").filter(
        has=page.locator(".jupyter-widgets button", has_text="Train")
    )
    assert panels.count() >= 1, f"{lesson}: no hyperparameter panel with a Train button rendered"
    assert panels.first.locator(".widget-slider").count() >= 1, f"{lesson}: the panel has no slider"
    return panels.first


def _slide_and_train(lesson: str, page, path: str, panel) -> str:
    """Move the run-length slider with the keyboard, click Train, check the panel's output changed.

    Returns a line for the log: the slider's move and Train's time."""
    sliders = panel.locator(".widget-slider")
    labels = [text.lower() for text in sliders.locator(".widget-label").all_inner_texts()]
    index = next((i for i, label in enumerate(labels) if any(w in label for w in RUN_LENGTH_WORDS)), 0)
    readout = sliders.nth(index).locator(".widget-readout")
    before_value = readout.inner_text()
    value = _slide_to_low_end(page, sliders.nth(index), readout)
    assert value != before_value, f"{lesson}: the {labels[index]!r} slider did not move with the keyboard"
    output = panel.locator(".widget-output").first
    status = panel.locator(".widget-hbox:has(> .widget-button) > .widget-html").first  # the line beside Train
    before_output, before_status = _output_signature(output), status.inner_text()

    start = time.monotonic()
    panel.locator("button", has_text="Train").first.click()
    page.wait_for_function(
        "([el, old]) => el.innerText !== old && !el.innerText.includes('training')",
        arg=[status.element_handle(), before_status],
        timeout=TRAIN_S * 1000,
    )
    _wait(page, path, "Train to finish", lambda s: s["kernel"] == "idle", timeout=TRAIN_S)
    train_s = time.monotonic() - start
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(ARTIFACTS / f"{lesson}-panel.png"))

    after_status, after_output = status.inner_text(), _output_signature(output)
    assert after_status.startswith("done:"), f"{lesson}: Train did not finish cleanly: {after_status!r}"
    assert re.search(rf"={re.escape(value)}(,|$)", after_status), (
        f"{lesson}: Train did not run with the slider's value ({labels[index]} = {value}): {after_status!r}"
    )
    assert "Traceback" not in after_output, f"{lesson}: Train shows an error:\n{after_output[-800:]}"
    assert after_output != before_output, f"{lesson}: the panel's output did not change after Train"
    assert output.locator("img").count() >= 1, f"{lesson}: no plot or image in the panel's output after Train"
    wide = _images_that_do_not_fit(lesson, panel, "panel after Train")
    assert not wide, f"{lesson}: the panel's figure does not fit the notebook column:\n" + "\n".join(wide)
    return f"{labels[index]} {before_value} -> {value}, Train {train_s:.1f} s"


# -- the test ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_in_jupyterlab(lesson, chromium, lab, capsys):  # no Chromium: skipped before the server starts
    path = f"solutions/{lesson}/{lesson}.ipynb"
    with open_notebook(chromium, lab, path, workspace=lesson, viewport=WINDOW, artifact=lesson) as (page, page_errors):
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the whole width for the notebook

        # Run All from a clean notebook: the stored outputs and counts go first.
        _menu(page, "Edit", "Clear Outputs of All Cells")
        _wait(page, path, "the outputs to clear", lambda s: s["executed"] == 0, timeout=30, poll=0.2)
        start = time.monotonic()
        _menu(page, "Run", "Run All Cells")
        state = _wait(
            page,
            path,
            "Run All to finish",
            lambda s: s["kernel"] == "idle" and s["running"] == 0 and s["executed"] > 0,
            timeout=RUN_ALL_S,
        )
        run_all_s = time.monotonic() - start
        _screenshot_notebook(page, ARTIFACTS / f"{lesson}.png")
        notebook = page.locator(".jp-NotebookPanel-notebook")

        _assert_no_errors(lesson, notebook, state)
        wide = _images_that_do_not_fit(lesson, notebook, "notebook")
        assert not wide, f"{lesson}: figures that do not fit the notebook column:\n" + "\n".join(wide)
        panel = _panel(lesson, page, notebook)
        assert notebook.locator(".widget-hprogress, .widget-vprogress, progress").count() >= 1, (
            f"{lesson}: no progress bar rendered as a widget"
        )
        line = _slide_and_train(lesson, page, path, panel)
        assert not page_errors, f"{lesson}: JavaScript errors in the page: {page_errors}"
        with capsys.disabled():
            print(
                f"\n[browser] {lesson}: Run All {run_all_s:.1f} s; {line}; screenshots in "
                f"{ARTIFACTS.relative_to(ROOT)}/"
            )
