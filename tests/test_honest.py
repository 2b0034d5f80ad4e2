"""Honest students get what the kernel gives them: real ``nbgrader autograde`` runs of lessons 1 and 3.

Students lay out correct answers the ways people write notebooks, and every layout must score what the same answers
score in the student's own kernel: full marks. Each student below carries one layout per exercise (the other
exercises hold the solutions), so that a lost point names its layout.

Lesson 1 (01_backquery)
- ``a_helpers``  make_targets reads constants and a table that a loop fills in a cell of the student's own
                 (``constants and a loop-built table``); inverse_sigmoid calls a helper function defined in a cell of
                 its own (``helper cell``); backquery draws its image with matplotlib while it runs (``plotting``);
- ``b_copies``   the make_targets answer cell copy-pasted, a draft left in the first copy (``duplicated cell``, a
                 repeated grade id); inverse_sigmoid uses an import of a cell of the student's own that also holds an
                 IPython magic (``import cell``); backquery prints, in its cell and while it runs, and calls the
                 student's own make_targets and inverse_sigmoid (``printing``);
- ``c_files``    make_targets writes and reads back a scratch file in its working folder (``scratch file``);
                 inverse_sigmoid imports a module and reads a file the student saved next to the notebook (``a
                 module and a file beside the notebook``);
                 backquery's constants sit at the top of an experiment cell of the student's that runs for seconds
                 (``slow cell``);
- ``e_magics``   make_targets written in a new cell below its answer cell, which still holds the stub (``written in
                 a new cell below the stub``); the inverse_sigmoid answer cell starts with ``%%time`` (``%%time on
                 the answer cell``); backquery starts with ``%matplotlib inline``, reads constants of a ``%%time``
                 cell of the student's own, and calls a shorthand of the student's that calls inverse_sigmoid
                 (``%%time on a helper cell, and a helper that calls an exercise``).

Lesson 3 (03_mnist_gan)
- ``d_helpers``  Generator builds its layers with a helper function of a cell of the student's own, sized by a
                 constant read from a lesson variable (``real_batch``) there (``helper function and lesson variable``);
                 Discriminator uses a helper class of a cell of the student's own (``helper class``); sample_noise
                 defaults to the lesson's ``device`` and asserts its noise is finite, reading its values (``lesson
                 device, and an assert that reads the values``); generator_loss calls a helper defined in the
                 discriminator_loss answer cell (``helper in another answer cell``); discriminator_step prints the loss
                 (``printing in a step``); the generator_step answer cell copy-pasted with the colleague's broken step
                 left in the first copy (``duplicated step``).

Both lessons are graded at the same time, each with one ``nbgrader autograde`` (the repository's
``nbgrader_config.py``: the sandbox, tests outside the kernel). Needs bubblewrap: skipped without it, except under CI.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from course import (
    autograded_output,
    fill,
    grade_id,
    nbgrader_env,
    output_text,
    read,
    require_bwrap,
    scores,
    solution_sources,
    submit,
    up_to_last_test,
)

pytestmark = pytest.mark.slow
L1, L3 = "01_backquery", "03_mnist_gan"


def _index(nb: nbformat.NotebookNode, gid: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if grade_id(cell) == gid)


def own_cell(nb: nbformat.NotebookNode, before: str, source: str) -> None:
    """Insert a code cell of the student's own (no nbgrader metadata) just above the cell ``before``."""
    nb.cells.insert(_index(nb, before), nbformat.v4.new_code_cell(source))


def copied_cell(nb: nbformat.NotebookNode, gid: str, first: str) -> None:
    """Copy-paste the answer cell ``gid`` above itself (the same metadata, grade id included), ``first`` in the copy."""
    index = _index(nb, gid)
    copy = nbformat.from_dict(dict(nb.cells[index]))
    copy.pop("id", None)
    copy.source = first
    nb.cells.insert(index, copy)


# --- lesson 1 -------------------------------------------------------------------------------------------------------

TARGETS_TABLE = """NUM_CLASSES = 10
OFF, ON = 0.01, 0.99  # the targets of a label
TABLE = {}
for label in range(NUM_CLASSES):  # every label's targets, built once
    TABLE[label] = [ON if k == label else OFF for k in range(NUM_CLASSES)]
"""
TARGETS_FROM_TABLE = """def make_targets(label, num_classes=NUM_CLASSES):
    if num_classes == NUM_CLASSES:
        return torch.tensor(TABLE[int(label)])
    targets = torch.full((num_classes,), OFF)
    targets[label] = ON
    return targets
"""
LOGIT_HELPER = "def _logit(y):\n    return torch.log(y) - torch.log1p(-y)\n"
BACKQUERY_PLOTS = """def backquery(model, label):
    def rescale(values):
        values = values - values.min()
        values = values / values.max()
        return values * 0.98 + 0.01

    with torch.no_grad():
        weight_out, weight_hidden = model.output.weight, model.hidden.weight
        targets = make_targets(label, num_classes=weight_out.shape[0]).to(weight_out)
        hidden = rescale(weight_out.T @ inverse_sigmoid(targets))
        image = rescale(weight_hidden.T @ inverse_sigmoid(hidden)).reshape(28, 28)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow(image.cpu(), cmap="gray")
    ax.set_title(f"backquery of {label}")
    plt.show()
    plt.close(fig)
    return image
"""
BACKQUERY_PRINTS = """print("defining backquery")


def backquery(model, label):
    print(f"backquery({label}): starting from the targets of label {label}")
    with torch.no_grad():
        targets = make_targets(label, model.output.weight.shape[0]).to(model.output.weight)
        hidden = model.output.weight.T @ inverse_sigmoid(targets)
        hidden = (hidden - hidden.min()) / (hidden.max() - hidden.min()) * 0.98 + 0.01
        print(f"  hidden values from {hidden.min():.2f} to {hidden.max():.2f}")
        image = model.hidden.weight.T @ inverse_sigmoid(hidden)
        image = (image - image.min()) / (image.max() - image.min()) * 0.98 + 0.01
    return image.reshape(28, 28)
"""
TARGETS_SCRATCH = """with open("notes.txt", "w") as notes:  # a scratch file, written when the cell runs
    notes.write("make_targets: 0.01 everywhere, 0.99 at the label\\n")


def make_targets(label, num_classes=10):
    with open("targets-scratch.txt", "w") as file:  # and one written and read back at every call
        file.write(f"{label} {num_classes}")
    with open("targets-scratch.txt") as file:
        label, num_classes = (int(word) for word in file.read().split())
    targets = torch.full((num_classes,), 0.01)
    targets[label] = 0.99
    return targets
"""
BESIDE = {  # saved by the student next to the notebook, and submitted with it
    "my_scale.txt": "1.0\n",
    "my_logit.py": "import torch\n\n\ndef logit(y):\n    return torch.log(y / (1 - y))\n",
}
INVERSE_FROM_FILES = """from my_logit import logit

with open("my_scale.txt") as file:
    SCALE = float(file.read())


def inverse_sigmoid(y):
    return SCALE * logit(y)
"""
SLOW_EXPERIMENT = """LOW, SPAN = 0.01, 0.98  # the range backquery rescales to

# an experiment of the student's: seconds of work, whose result no answer uses
total = sum(i % 7 for i in range(30_000_000))
print(total)
"""
BACKQUERY_CONSTANTS = """def backquery(model, label):
    def rescale(values):
        values = values - values.min()
        return values / values.max() * SPAN + LOW

    with torch.no_grad():
        weight_out, weight_hidden = model.output.weight, model.hidden.weight
        targets = make_targets(label, num_classes=weight_out.shape[0]).to(weight_out)
        hidden = rescale(weight_out.T @ inverse_sigmoid(targets))
        image = rescale(weight_hidden.T @ inverse_sigmoid(hidden))
    return image.reshape(28, 28)
"""


TARGETS_BELOW_THE_STUB = """def make_targets(label, num_classes=10):  # here, the answer cell above left as it came
    targets = torch.full((num_classes,), 0.01)
    targets[label] = 0.99
    return targets
"""
INVERSE_TIMED = "%%time\ndef inverse_sigmoid(y):\n    return torch.log(y / (1 - y))\n"
SPAN_TIMED = "%%time\nLOW, SPAN = 0.01, 0.98\n"
LOGIT_OF_EXERCISE = "def logit_of(values):  # my shorthand for the exercise above\n    return inverse_sigmoid(values)\n"
BACKQUERY_WITH_SHORTHAND = """%matplotlib inline
def backquery(model, label):
    def rescale(values):
        values = values - values.min()
        return values / values.max() * SPAN + LOW

    with torch.no_grad():
        targets = make_targets(label, num_classes=model.output.weight.shape[0]).to(model.output.weight)
        hidden = rescale(model.output.weight.T @ logit_of(targets))
        image = rescale(model.hidden.weight.T @ logit_of(hidden))
    return image.reshape(28, 28)
"""


def lesson1_students(released: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    solutions = {gid: src for gid, src in solution_sources(L1).items() if not gid.startswith("q_")}
    base = up_to_last_test(released)

    a = fill(base, {**solutions, "make_targets": TARGETS_FROM_TABLE, "inverse_sigmoid": "def inverse_sigmoid(y):\n"
                    "    return _logit(y)\n", "backquery": BACKQUERY_PLOTS})  # fmt: skip
    own_cell(a, "make_targets", TARGETS_TABLE)
    own_cell(a, "inverse_sigmoid", LOGIT_HELPER)

    b = fill(base, {**solutions, "backquery": BACKQUERY_PRINTS, "inverse_sigmoid": "def inverse_sigmoid(y):\n"
                    "    return torch_logit(y)\n"})  # fmt: skip
    copied_cell(
        b, "make_targets", "def make_targets(label, num_classes=10):\n    # draft\n    raise NotImplementedError()\n"
    )
    own_cell(
        b, "inverse_sigmoid", "%matplotlib inline\nimport numpy as np\nfrom torch.special import logit as torch_logit\n"
    )

    c = fill(base, {**solutions, "make_targets": TARGETS_SCRATCH, "inverse_sigmoid": INVERSE_FROM_FILES,
                    "backquery": BACKQUERY_CONSTANTS})  # fmt: skip
    own_cell(c, "backquery", SLOW_EXPERIMENT)

    kept = {gid: source for gid, source in solutions.items() if gid != "make_targets"}  # its stub stays
    e = fill(base, {**kept, "inverse_sigmoid": INVERSE_TIMED, "backquery": BACKQUERY_WITH_SHORTHAND})
    own_cell(e, "test_make_targets", TARGETS_BELOW_THE_STUB)
    own_cell(e, "backquery", SPAN_TIMED)
    own_cell(e, "backquery", LOGIT_OF_EXERCISE)
    return {"a_helpers": a, "b_copies": b, "c_files": c, "e_magics": e}


# --- lesson 3 -------------------------------------------------------------------------------------------------------

LAYERS_HELPER = """IMAGE_SIZE = real_batch.shape[1]  # 784 pixels: the lesson's batch of real digits


def dense(n_in, n_out, activation):
    return [nn.Linear(n_in, n_out), activation]
"""
GENERATOR_WITH_HELPER = """class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.latent_dim = latent_dim
        self.model = nn.Sequential(*dense(latent_dim, 128, nn.LeakyReLU(0.01)), *dense(128, IMAGE_SIZE, nn.Tanh()))

    def forward(self, z):
        return self.model(z)
"""
FLATTEN_CLASS = """class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)
"""
DISCRIMINATOR_WITH_CLASS = """class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = Flatten()
        self.model = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.01), nn.Linear(128, 1), nn.Sigmoid())

    def forward(self, x):
        return self.model(self.flatten(x))
"""
NOISE_ON_LESSON_DEVICE = """def sample_noise(batch_size, z_dim, device=device):
    z = torch.randn(batch_size, z_dim, device=device)
    assert torch.isfinite(z).all(), "the noise must be finite"  # a check of the student's: it reads the values
    return z
"""
D_LOSS_WITH_HELPER = """EPS = 1e-7


def mean_log(p):
    return torch.log(p.clamp(EPS, 1 - EPS)).mean()


def discriminator_loss(d_real, d_fake):
    return -mean_log(d_real) - mean_log(1 - d_fake)
"""
G_LOSS_WITH_HELPER = """def generator_loss(d_fake, saturating=False):
    if saturating:
        return mean_log(1 - d_fake)
    return -mean_log(d_fake)
"""
D_STEP_PRINTS = """def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z).detach()
    loss = d_loss(D(real), D(fake))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    print(f"D's loss {loss.item():.3f}")
    return loss
"""
G_STEP_DRAFT = """def generator_step(G, D, opt_G, z, g_loss):
    fake = G(z).detach()  # the colleague's version, kept to compare
    loss = g_loss(D(fake))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss
"""


def lesson3_students(released: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    solutions = {gid: src for gid, src in solution_sources(L3).items() if not gid.startswith("q_")}
    d = fill(up_to_last_test(released), {**solutions, "Generator": GENERATOR_WITH_HELPER,
             "Discriminator": DISCRIMINATOR_WITH_CLASS, "sample_noise": NOISE_ON_LESSON_DEVICE,
             "discriminator_loss": D_LOSS_WITH_HELPER, "generator_loss": G_LOSS_WITH_HELPER,
             "discriminator_step": D_STEP_PRINTS})  # fmt: skip
    own_cell(d, "Generator", LAYERS_HELPER)
    own_cell(d, "Discriminator", FLATTEN_CLASS)
    copied_cell(d, "generator_step", G_STEP_DRAFT)
    return {"d_helpers": d}


# (lesson, student, test cell, layout)
LAYOUTS = [
    (L1, "a_helpers", "test_make_targets", "constants and a loop-built table"),
    (L1, "a_helpers", "test_inverse_sigmoid", "helper cell"),
    (L1, "a_helpers", "test_backquery", "plotting"),
    (L1, "b_copies", "test_make_targets", "duplicated cell"),
    (L1, "b_copies", "test_inverse_sigmoid", "import cell"),
    (L1, "b_copies", "test_backquery", "printing"),
    (L1, "c_files", "test_make_targets", "scratch file"),
    (L1, "c_files", "test_inverse_sigmoid", "a module and a file beside the notebook"),
    (L1, "c_files", "test_backquery", "slow cell"),
    (L1, "e_magics", "test_make_targets", "written in a new cell below the stub"),
    (L1, "e_magics", "test_inverse_sigmoid", "%%time on the answer cell"),
    (L1, "e_magics", "test_backquery", "%%time on a helper cell, and a helper that calls an exercise"),
    (L3, "d_helpers", "test_Generator", "helper function and lesson variable"),
    (L3, "d_helpers", "test_Discriminator", "helper class"),
    (L3, "d_helpers", "test_sample_noise", "lesson device, and an assert that reads the values"),
    (L3, "d_helpers", "test_generator_loss", "helper in another answer cell"),
    (L3, "d_helpers", "test_discriminator_step", "printing in a step"),
    (L3, "d_helpers", "test_generator_step", "duplicated step"),
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, release):
    """Both lessons' students, submitted and autograded at the same time; ``{lesson: (course, log)}``."""
    require_bwrap("honest layouts must be graded as the instructor grades them")
    tmp = tmp_path_factory.mktemp("honest")
    courses = {lesson: release(lesson, tmp / lesson) for lesson in (L1, L3)}
    for lesson, students in ((L1, lesson1_students), (L3, lesson3_students)):
        released = read(courses[lesson] / "notebooks" / lesson / f"{lesson}.ipynb")
        for student, notebook in students(released).items():
            submit(courses[lesson], student, lesson, notebook)
    for name, text in BESIDE.items():
        (courses[L1] / "submitted" / "c_files" / L1 / name).write_text(text)
    start, runs = time.perf_counter(), {}
    for lesson, course in courses.items():
        with open(course / "autograde.log", "w") as log:
            runs[lesson] = subprocess.Popen(
                [sys.executable, "-m", "nbgrader", "autograde", lesson, "--create", "--force"],
                cwd=course,
                env=nbgrader_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    for process in runs.values():
        process.wait(timeout=1200)
    print(f"\nautograde {L1} and {L3} at the same time: {time.perf_counter() - start:.0f} s")
    return {
        lesson: (course, (course / "autograde.log").read_text(errors="replace")) for lesson, course in courses.items()
    }


@pytest.mark.parametrize(("lesson", "student", "test", "layout"), LAYOUTS, ids=[layout for *_, layout in LAYOUTS])
def test_an_honest_layout_gets_full_marks(graded, lesson, student, test, layout):
    course, log = graded[lesson]
    try:
        score, top, _ = scores(course, lesson, student)[test]
    except Exception as error:  # noqa: BLE001 - the notebook was not graded at all
        pytest.fail(f"{lesson}/{student} ({layout}) was not graded ({error}):\n{log[-3000:]}")
    verdict = output_text(autograded_output(course, lesson, student), test)
    assert score == top, f"{lesson}/{student}: {layout} lost points on {test}: {score}/{top}\n{verdict}"


def test_every_other_exercise_of_the_honest_students_keeps_full_marks(graded):
    lost = []
    for lesson, (course, _) in graded.items():
        for folder in sorted((course / "submitted").iterdir()):
            for test, (score, top, _) in scores(course, lesson, folder.name).items():
                if test.startswith("test_") and score != top:
                    lost.append(f"{lesson}/{folder.name}: {test} {score}/{top}")
    assert not lost, lost


def test_the_log_says_which_copy_of_a_pasted_cell_is_graded(graded):
    for lesson, student, gid in ((L1, "b_copies", "make_targets"), (L3, "d_helpers", "generator_step")):
        _, log = graded[lesson]
        assert f"Student {student}: cell {gid} appears more than once: the last copy is graded" in log, log[-3000:]


def test_scratch_files_stay_in_the_sandbox(graded):
    course, _ = graded[L1]
    written = [p for p in Path(course).rglob("*") if p.name in ("notes.txt", "targets-scratch.txt")]
    assert not written, f"a scratch file reached the course folder: {written}"
    output = autograded_output(course, L1, "c_files")
    kernel = output_text(output, "make_targets")
    assert "Error" not in kernel, f"the scratch file failed in the grading kernel: {kernel}"
