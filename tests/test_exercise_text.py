"""The lessons ask students to decide, not to copy: no answer's code is printed in the lesson's flow.

An exercise gives the maths, the contract and the reasons; the code, where the lesson offers it at all, sits in a
collapsed hint (``<details>``) that the student opens on purpose. Each "predict first" has a place to write the
prediction, before the run it predicts.
"""

from __future__ import annotations

import re

import pytest

from tests.course import LESSONS, read, solution_path

REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
DETAILS = re.compile(r"<details>.*?</details>", re.S | re.I)


def _answer_lines(notebook):
    """Code lines of the solution regions that say something (not a bare `return loss`, not a comment)."""
    lines = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for region in REGION.findall(cell.source):
            for line in region.splitlines():
                code = line.split("#", 1)[0].strip()
                if len(code) >= 14 and not code.startswith(("return ", "def ", "with torch.no_grad")):
                    lines.add(code)
    return lines


def _code_spans(markdown):
    """Inline and fenced code in a markdown text, with the collapsed hints removed first."""
    shown = DETAILS.sub("", markdown)
    spans = re.findall(r"```.*?```", shown, re.S)
    spans += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", shown, flags=re.S))
    return spans


@pytest.mark.parametrize("lesson", LESSONS)
def test_no_answer_code_outside_a_collapsed_hint(lesson):
    notebook = read(solution_path(lesson))
    answers = _answer_lines(notebook)
    # an answer key (a written-answer cell, nbgrader "solution") is not in the student's notebook
    shown = [
        span
        for cell in notebook.cells
        if cell.cell_type == "markdown" and not cell.metadata.get("nbgrader", {}).get("solution")
        for span in _code_spans(cell.source)
    ]
    leaked = sorted(line for line in answers if any(line in span for span in shown))
    assert not leaked, f"{lesson} prints answer code outside a <details> hint: {leaked}"


def test_the_check_sees_an_answer_printed_in_the_flow():
    # the test above must be able to fail: an answer line in a markdown table is caught, the same line in a hint is not
    answer = "fake = G(z).detach()"
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    solution = new_code_cell(f"def step(G, z):\n    ### BEGIN SOLUTION\n    {answer}\n    ### END SOLUTION\n")
    in_flow = new_notebook(cells=[solution, new_markdown_cell(f"| maths | `{answer}` |")])
    in_hint = new_notebook(
        cells=[solution, new_markdown_cell(f"<details><summary>Hint</summary>\n\n`{answer}`\n</details>")]
    )
    for notebook, leaks in ((in_flow, True), (in_hint, False)):
        answers = _answer_lines(notebook)
        shown = [s for c in notebook.cells if c.cell_type == "markdown" for s in _code_spans(c.source)]
        assert any(line in span for line in answers for span in shown) is leaks


PREDICT = re.compile(r"predict(ion)? first", re.I)


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_predict_first_has_a_place_to_write_the_prediction(lesson):
    cells = read(solution_path(lesson)).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and PREDICT.search(cell.source):
            following = cells[index + 1 : index + 4]
            assert any(
                c.cell_type == "markdown" and re.search(r"(?i)your prediction", c.source) for c in [cell, *following]
            ), f"{lesson} cell {index} asks for a prediction but gives no 'Your prediction' cell to write it in"
