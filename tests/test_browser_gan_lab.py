"""Lesson 2's GAN lab in a real JupyterLab, in real (headless) Chromium: the buttons step the run and the picture
redraws.

It reuses ``tests/test_browser.py``'s server and browser (the ``lab`` and ``chromium`` fixtures: ``jupyter lab`` on
127.0.0.1 with a random token, Debian's Chromium through the ``playwright`` package, never a downloaded browser), and
opens a small notebook of its own beside the lessons' copy: lesson 2's two steps as the exercises ask, then the lab's
widget (``show_gan_lab(lab, live=True)``). It clicks **step D**, **step G**, **step both** and **play** / **pause**
as a student does, and checks after each that the picture (the widget's ``<img>``) changed and that the status line
counts the updates that button makes. The screenshot of the lab after play goes to ``artifacts/browser/gan_lab.png``.

Run it alone with ``pytest tests/test_browser_gan_lab.py -n 0``; skipped without Chromium, except under CI.
"""

from __future__ import annotations

import re
import time

import nbformat
import pytest
from test_browser import ARTIFACTS, _menu, _wait, chromium, lab, open_notebook  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "gan_lab_in_the_browser.ipynb"
CELL = """
from helpers.display.gan_lab import show_gan_lab
from helpers.training.gan_lab import GanLab


def train_discriminator(D, optimizer, inputs, targets, loss_fn):  # lesson 2's exercise 3, as its contract asks
    verdict = loss_fn(D(inputs), targets)
    optimizer.zero_grad()
    verdict.backward()
    optimizer.step()
    return verdict.item()


def train_generator(G, D, optimizer, inputs, targets, loss_fn):  # lesson 2's exercise 4
    verdict = loss_fn(D(G(inputs)), targets)
    optimizer.zero_grad()
    verdict.backward()
    optimizer.step()
    return verdict.item()


gan_lab = GanLab(train_discriminator, train_generator, target="ring", seed=0)
widget = show_gan_lab(gan_lab, live=True)
"""


def _counts(status) -> tuple[int, int]:
    """(G steps, D steps) from the lab's status line."""
    text = status.inner_text()
    match = re.search(r"G step (\d+), D step (\d+)", text)
    assert match, f"the lab's status line does not count the updates: {text!r}"
    return int(match.group(1)), int(match.group(2))


def _button(box, label: str):
    """The lab's button whose text is ``label`` (its text, not its accessible name: an icon's glyph joins that)."""
    return box.locator("button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first


def _click_and_wait_for_a_new_picture(page, box, image, name: str) -> None:
    before = image.get_attribute("src")
    _button(box, name).click()
    page.wait_for_function("([el, old]) => el.src !== old", arg=[image.element_handle(), before], timeout=30_000)


def test_the_lab_s_buttons_step_the_run_and_redraw_the_picture_in_jupyterlab(chromium, lab, capsys):  # noqa: F811
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(CELL.strip())]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.course / NOTEBOOK)
    opened = open_notebook(
        chromium, lab, NOTEBOOK, workspace="gan-lab", viewport={"width": 1400, "height": 1000}, artifact="gan_lab"
    )
    with opened as (page, page_errors):
        _menu(page, "Run", "Run All Cells")
        state = _wait(
            page,
            NOTEBOOK,
            "the lab's cell to finish",
            lambda s: s["kernel"] == "idle" and s["running"] == 0 and s["executed"] == 1,
            timeout=180,
        )
        assert not state["errors"], f"the lab's cell failed: {state['errors']}"
        box = page.locator(".gan-lab").first
        box.wait_for(timeout=30_000)
        assert not page.get_by_text("Error displaying widget").count(), "the lab shows 'Error displaying widget'"
        image = box.locator("img").first
        status = box.locator(".widget-html").first
        assert _counts(status) == (0, 0)

        for name, expected in [("step D", (0, 1)), ("step G", (1, 1)), ("step both", (2, 2))]:
            _click_and_wait_for_a_new_picture(page, box, image, name)
            page.wait_for_function(
                "([el, text]) => el.innerText.includes(text)",
                arg=[status.element_handle(), f"G step {expected[0]}, D step {expected[1]}"],
                timeout=30_000,
            )

        pictures = {image.get_attribute("src")}
        _button(box, "play").click()
        deadline = time.monotonic() + 60
        while len(pictures) < 6 and time.monotonic() < deadline:  # play redraws, again and again, by itself
            page.wait_for_timeout(200)
            pictures.add(image.get_attribute("src"))
        played_to = _counts(status)[0]
        assert len(pictures) >= 6 and played_to > 2, (
            f"play did not keep stepping and redrawing: {len(pictures)} pictures, G step {played_to}"
        )
        _button(box, "pause").click()
        page.wait_for_timeout(1_000)
        paused_at = _counts(status)[0]
        page.wait_for_timeout(1_500)
        assert _counts(status)[0] == paused_at, "the run went on after pause"
        box.scroll_into_view_if_needed()
        box.screenshot(path=str(ARTIFACTS / "gan_lab.png"))
        assert not page_errors, f"JavaScript errors in the page: {page_errors}"
        with capsys.disabled():
            print(
                f"\n[browser] GAN lab: step D, step G, step both redrew; play ran to G step {played_to} "
                f"({len(pictures)} pictures seen), pause held at {paused_at}; {ARTIFACTS}/gan_lab.png"
            )
