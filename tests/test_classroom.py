"""A class on a real JupyterHub, end to end, on 127.0.0.1 only (``classroom/``; docs/instructors.md, "Running a class").

One instructor, two students and the grader account are real Unix accounts made by ``classroom/setup_class.py``;
JupyterHub (PyPI ``jupyterhub``) runs ``classroom/jupyterhub_config.py`` behind ``configurable-http-proxy`` (npm),
spawning each student's JupyterLab as that student. The instructor's commands are those of docs/instructors.md, run as
the grader account; the students' servers are started and their notebooks edited through the hub's REST API (the Jupyter
contents API, as the browser does); fetch, submit and fetch_feedback are nbgrader's commands run as each student.
One student submits the lesson's complete answers (lesson 1 through the Assignments tab in real Chromium, lesson 2
with nbgrader's commands), the other a typical mistake in every exercise (through the Assignments tab's API).

Needs root (accounts, a hub that spawns as other users), ``configurable-http-proxy`` on PATH and bubblewrap
(grading is sandboxed as in class); ``.ci/run`` installs both. Elsewhere the test is skipped with the reason.

The host is left as the test found it. The accounts, their homes and groups, the class folder in /tmp and every
process the accounts ran are removed afterwards, even when the test fails (teardown fails when one remains). The
accounts run the course's environment where it is, often under a private home such as /root: the hub and every
command run as an account live in a mount namespace of the test's own (bubblewrap, :func:`class_namespace`) in which
each folder on the way that other accounts cannot enter is an empty tmpfs they can traverse, holding only the
environment's folders, bound from the host. No folder of the host changes mode, and the namespace goes with its
processes.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from course import ROOT, fill, grade_id, load_catalogue, read, require_bwrap, solution_sources

from grader import sandbox

pytestmark = pytest.mark.slow
LESSONS = ["01_backquery", "02_simple_pattern_gan"]
PASSWORD = secrets.token_urlsafe(12)
TOKEN = secrets.token_hex(24)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root: it creates Unix accounts and a hub that starts servers as them"
    if not shutil.which("configurable-http-proxy"):
        return "configurable-http-proxy is not on PATH (npm install -g configurable-http-proxy; .ci/run installs it)"
    from test_browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (one student uses the Assignments tab in it; .ci/run installs chromium)"
    if not shutil.which("runuser") or not shutil.which("useradd"):
        return "runuser/useradd missing"
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed (pip install -e '.[dev]')"
    return None


def closed_to_others(folder: Path) -> bool:
    """Whether accounts other than the owner (and its group) cannot enter ``folder`` (no execute bit for others)."""
    return not folder.stat().st_mode & 0o001


@functools.cache
def class_namespace() -> tuple[str, ...]:
    """bwrap arguments (before ``--`` and the command) for the mount namespace the hub and the accounts run in.

    Everything is the host's (``/`` bound as it is, the same network, processes and users), but for each folder that
    others cannot enter on the way to what they must reach: the course's environment (the interpreter, its packages,
    ``helpers/`` and ``grader/``) and, for the hub (root), ``classroom/``, the proxy and node. In the namespace such a
    folder (``/root``, say) is an empty tmpfs with its own mode plus o+x (enter, no listing), holding only those paths,
    bound from the host. The host's folders keep their modes; the namespace goes when its last process ends.
    """
    needed = [*sandbox.python_roots(sys.executable), *sandbox.editable_paths(), ROOT / "classroom"]
    for program in ("configurable-http-proxy", "node"):
        found = shutil.which(program)
        if found:
            real = Path(found).resolve()
            modules = next((p for p in real.parents if p.name == "node_modules"), None)
            needed += [Path(found).parent, modules or real.parent.parent]
    args = ["--dev-bind", "/", "/"]
    covers: dict[Path, list[Path]] = {}
    for path in sandbox.outermost([q for p in needed for q in {Path(os.path.abspath(p)), Path(p).resolve()}]):
        closed = next((a for a in reversed(path.parents) if a != Path("/") and closed_to_others(a)), None)
        if closed is not None:
            covers.setdefault(closed, []).append(path)
    for folder, paths in sorted(covers.items()):
        args += ["--perms", f"{folder.stat().st_mode & 0o7777 | 0o001:04o}", "--tmpfs", str(folder)]
        made = set()
        for path in paths:
            for between in reversed(path.relative_to(folder).parents[:-1]):  # the folders between, enter only
                if folder / between not in made:
                    made.add(folder / between)
                    args += ["--perms", "0711", "--dir", str(folder / between)]
            args += ["--dev-bind", str(path), str(path)]
    return ("bwrap", *args)


def run_as(user: str, *command: str, cwd: str | None = None, check: bool = True, timeout: float = 900):
    """``command`` run as the Unix account ``user`` (its HOME, the course's environment first on PATH), in the class
    namespace (:func:`class_namespace`)."""
    home = pwd.getpwnam(user).pw_dir
    env = {
        "HOME": home,
        "USER": user,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
    }
    result = subprocess.run(
        [*class_namespace(), "--die-with-parent", "--", shutil.which("runuser"), "-u", user, "--", *command],
        cwd=cwd or home,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} as {user} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


class Hub:
    """The running hub: REST calls with the test's service token (admin scopes on users and servers)."""

    def __init__(self, url: str):
        import requests

        self.url, self.session = url.rstrip("/"), requests.Session()
        self.session.headers["Authorization"] = f"token {TOKEN}"

    def api(self, method: str, path: str, token: str | None = None, **kw):
        headers = {"Authorization": f"token {token}"} if token else {}
        return self.session.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kw)

    def wait_ready(self, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the hub exited ({process.returncode}):\n{log.read_text()[-4000:]}")
            try:
                if self.api("GET", "/hub/api/").status_code == 200:
                    return
            except Exception:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer in {timeout} s:\n{log.read_text()[-4000:]}")

    def start_server(self, user: str, timeout: float = 180) -> str:
        """Start ``user``'s server; returns a token of that user for its server's API."""
        response = self.api("POST", f"/hub/api/users/{user}/server")
        assert response.status_code in (201, 202), f"starting {user}'s server: {response.status_code} {response.text}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/hub/api/users/{user}").json()
            if model.get("servers", {}).get("", {}).get("ready"):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"{user}'s server did not start in {timeout} s")
        token = self.api("POST", f"/hub/api/users/{user}/tokens", json={"note": "class test"})
        assert token.status_code in (200, 201), token.text
        return token.json()["token"]


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    missing = requirements()
    if missing:
        pytest.skip(missing)
    require_bwrap("the grader account's autograde runs each kernel in the sandbox")
    reachable = subprocess.run(
        [
            *class_namespace(),
            "--die-with-parent",
            "--",
            shutil.which("runuser"),
            "-u",
            "nobody",
            "--",
            sys.executable,
            "-c",
            "import helpers, grader, nbgrader, jupyterhub",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if reachable.returncode != 0:
        pytest.fail(
            f"other accounts cannot run the course environment ({sys.executable}) in the class namespace "
            f"{' '.join(class_namespace())}: {reachable.stderr.strip()[-500:]}"
        )
    tag = secrets.token_hex(3)
    accounts = {"instructor": f"gi{tag}", "students": [f"gs{tag}a", f"gs{tag}b"], "grader": f"gg{tag}"}
    base = Path(f"/tmp/gan-class-{tag}")
    base.mkdir(mode=0o755)
    settings = {
        "course_id": "gan-course",
        "instructors": [accounts["instructor"]],
        "students": accounts["students"],
        "grader_account": accounts["grader"],
        "bind_url": f"http://127.0.0.1:{free_port()}",
        "formgrader_port": free_port(),
        "exchange": str(base / "exchange"),
        "state_dir": str(base / "state"),
        "authenticator": "shared-password",
        "python": sys.executable,
        "proxy": shutil.which("configurable-http-proxy"),
    }
    class_file = base / "class.json"
    class_file.write_text(json.dumps(settings, indent=1))
    hub_process, hub_pid = None, None
    try:
        start = time.monotonic()
        made = subprocess.run(
            [sys.executable, str(ROOT / "classroom" / "setup_class.py"), str(class_file)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert made.returncode == 0, f"setup_class.py failed:\n{made.stdout[-3000:]}\n{made.stderr[-3000:]}"
        state = Path(settings["state_dir"])
        site = state / "site_config.py"
        site.write_text(
            f"load_subconfig({str(ROOT / 'classroom' / 'jupyterhub_config.py')!r})\n"
            f"c.SharedPasswordAuthenticator.user_password = {PASSWORD!r}\n"
            f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{free_port()}'\n"
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'\n"
            f"c.JupyterHub.services.append({{'name': 'class-test', 'api_token': {TOKEN!r}}})\n"
            f"c.JupyterHub.load_roles.append({{'name': 'class-test', 'services': ['class-test'], 'scopes': "
            f"['admin:users', 'admin:servers', 'tokens', 'list:users', 'read:users', 'access:servers', "
            f"'read:groups', 'list:groups', 'list:services', 'read:services']}})\n"
        )
        log = state / "hub.log"
        env = {
            **os.environ,
            "GAN_CLASS_SETTINGS": str(state / "class.json"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        # bwrap stays the hub's parent (it reaps it); --info-fd tells the hub's own pid, for a graceful stop
        info_read, info_write = os.pipe()
        with log.open("w") as out:
            hub_process = subprocess.Popen(
                [
                    *class_namespace(),
                    "--info-fd",
                    str(info_write),
                    "--",
                    str(Path(sys.executable).parent / "jupyterhub"),
                    "-f",
                    str(site),
                ],
                cwd=state,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(info_write,),
            )
        os.close(info_write)
        with os.fdopen(info_read, "rb") as info:
            hub_pid = json.loads(info.read() or b"{}").get("child-pid")
        hub = Hub(settings["bind_url"])
        hub.wait_ready(hub_process, log)
        print(f"\nclass set up and hub answering after {time.monotonic() - start:.0f} s")
        yield {"settings": settings, "accounts": accounts, "hub": hub, "base": base, "log": log, "start": start}
    finally:
        if hub_process is not None and hub_process.poll() is None:
            try:  # the hub stops its proxy and the servers it spawned
                if hub_pid:
                    os.kill(hub_pid, signal.SIGTERM)
                else:
                    os.killpg(hub_process.pid, signal.SIGTERM)
                hub_process.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(hub_process.pid, signal.SIGKILL)
                hub_process.wait(30)
        left = remove_accounts([accounts["instructor"], *accounts["students"], accounts["grader"]])
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"the class test left behind: {', '.join(left)}"


def remove_accounts(users: list[str]) -> list[str]:
    """Kill every process of ``users`` and delete the accounts with their homes, mail and groups; returns what is
    still there (an account, a group or a home folder)."""
    left = []
    for user in users:
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            home = None
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        subprocess.run(["userdel", "-r", "-f", user], capture_output=True)
        if known("group", user):  # useradd made it; userdel keeps it only when another account is in it
            subprocess.run(["groupdel", user], capture_output=True)
        left += [f"{database} entry {user}" for database in ("passwd", "group") if known(database, user)]
        if home and Path(home).exists():
            left.append(home)
    return left


def known(database: str, name: str) -> bool:
    """Whether ``name`` is in the system's ``database`` (``passwd``, ``group``)."""
    return subprocess.run(["getent", database, name], capture_output=True).returncode == 0


def through_the_assignments_tab(hub_url: str, student: str, lesson: str, edit) -> None:
    """Log ``student`` in to the hub in Chromium, open Nbgrader > Assignment List, click Fetch on ``lesson``, run
    ``edit()`` (the student's work), click Submit, and wait until the tab lists the submission."""
    from playwright.sync_api import sync_playwright
    from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        try:
            page.goto(f"{hub_url}/hub/login")
            page.fill("#username_input", student)
            page.fill("#password_input", PASSWORD)
            page.click("#login_submit")
            page.wait_for_selector("#jp-main-dock-panel")
            page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            page.locator("#released_assignments_list .list_item", has_text=lesson).get_by_role(
                "button", name="Fetch"
            ).click()
            fetched = page.locator("#fetched_assignments_list .list_item", has_text=lesson).first
            fetched.wait_for()
            edit()
            fetched.get_by_role("button", name="Submit").first.click()
            page.locator("#submitted_assignments_list .list_item", has_text=lesson).first.wait_for()
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "classroom-assignments-tab.png"))
            browser.close()


def answers(lesson: str, mistaken: bool) -> dict[str, str]:
    """The complete answer set of a lesson, or its first catalogued mistake in every code exercise."""
    if not mistaken:
        return solution_sources(lesson)
    return {gid: next(iter(entry["mistakes"].values()))[1] for gid, entry in load_catalogue(lesson).EXERCISES.items()}


def test_a_class_round_trip_on_a_real_hub(classroom):
    settings, accounts, hub = classroom["settings"], classroom["accounts"], classroom["hub"]
    course, grader = settings["course_id"], accounts["grader"]
    good, careless = accounts["students"]
    course_dir = str(Path(pwd.getpwnam(grader).pw_dir) / course)

    # the hub knows the class: groups, and the formgrader service runs as the grader account
    groups = {g["name"]: g["users"] for g in hub.api("GET", "/hub/api/groups").json()}
    assert sorted(groups[f"nbgrader-{course}"]) == sorted(accounts["students"])
    assert groups[f"formgrade-{course}"] == [accounts["instructor"]]
    tokens = {user: hub.start_server(user) for user in [accounts["instructor"], good, careless]}
    timings = {"servers started": time.monotonic() - classroom["start"]}

    # 1. the instructor releases two lessons (docs/instructors.md, "Running a class")
    for lesson in LESSONS:
        run_as(grader, "nbgrader", "generate_assignment", lesson, "--force", cwd=course_dir)
        run_as(grader, "nbgrader", "release_assignment", lesson, "--force", cwd=course_dir)

    # the instructor tools are the instructors' only: the formgrader service lets an instructor in, not a student,
    # and a student's own server has no formgrader; a student's server has the Assignments tab's API
    service = f"/services/{course}/formgrader"
    opened = hub.api("GET", service, token=tokens[accounts["instructor"]])
    assert opened.status_code == 200 and "/formgrader" in opened.url, (opened.status_code, opened.url)
    refused = hub.api("GET", service, token=tokens[careless])
    assert refused.status_code == 403, f"a student opened the formgrader service: {refused.status_code} {refused.url}"
    own = hub.api("GET", f"/user/{careless}/formgrader", token=tokens[careless])
    assert own.status_code == 404, f"a student's own server has a formgrader: {own.status_code} {own.url}"

    # 2. each student fetches, edits through their own server's contents API, and submits: one with nbgrader's
    # commands, the other through the Assignments tab's API (what its Fetch and Submit buttons call)
    def tab(student: str, action: str, lesson: str | None = None):
        if action == "list":
            reply = hub.api("GET", f"/user/{student}/assignments?course_id={course}", token=tokens[student])
        else:
            reply = hub.api(
                "POST",
                f"/user/{student}/assignments/{action}",
                token=tokens[student],
                json={"course_id": course, "assignment_id": lesson},
            )
        assert reply.status_code == 200, f"Assignments tab, {action} {lesson}: {reply.status_code} {reply.text[:500]}"
        body = reply.json()
        assert body.get("success", True), f"Assignments tab, {action} {lesson}: {body}"
        return body

    listed = run_as(good, "nbgrader", "list", "--course", course)
    assert all(lesson in listed.stdout + listed.stderr for lesson in LESSONS), listed.stdout + listed.stderr
    released = {a["assignment_id"] for a in tab(careless, "list")["value"] if a["status"] == "released"}
    assert released == set(LESSONS), f"the Assignments tab lists {released}"

    def edit(student: str, lesson: str, mistaken: bool) -> None:
        path = f"/user/{student}/api/contents/{lesson}/{lesson}.ipynb"
        got = hub.api("GET", path, token=tokens[student])
        assert got.status_code == 200, f"{student} cannot open {lesson} in their server: {got.status_code}"
        notebook = fill(nbformat.from_dict(got.json()["content"]), answers(lesson, mistaken))
        put = hub.api("PUT", path, token=tokens[student], json={"type": "notebook", "content": notebook})
        assert put.status_code == 200, put.text

    # the first student: lesson 1 in Chromium's Assignments tab, lesson 2 with nbgrader's commands
    through_the_assignments_tab(hub.url, good, LESSONS[0], lambda: edit(good, LESSONS[0], False))
    for lesson in LESSONS[1:]:
        run_as(good, "nbgrader", "fetch_assignment", lesson, "--course", course)
        edit(good, lesson, False)
        run_as(good, "nbgrader", "submit", lesson, "--course", course)
    # the second student: the Assignments tab's API, what its buttons call
    for lesson in LESSONS:
        tab(careless, "fetch", lesson)
        edit(careless, lesson, True)
        tab(careless, "submit", lesson)

    timings["released, fetched, edited, submitted"] = time.monotonic() - classroom["start"]

    # 3. nobody reads what is not theirs
    other_home = pwd.getpwnam(good).pw_dir
    inbound = Path(settings["exchange"], course, "inbound")
    for attempt in (
        ["cat", f"{other_home}/{LESSONS[0]}/{LESSONS[0]}.ipynb"],
        ["ls", str(inbound)],
        ["cat", f"{course_dir}/solutions/{LESSONS[0]}/{LESSONS[0]}.ipynb"],
        ["ls", course_dir],
    ):
        denied = run_as(careless, *attempt, check=False)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, (
            f"{careless} could run {' '.join(attempt)}: {denied.stdout[:300]}"
        )
    foreign = hub.api("GET", f"/user/{good}/api/contents/{LESSONS[0]}/{LESSONS[0]}.ipynb", token=tokens[careless])
    assert foreign.status_code in (403, 404) or "login" in foreign.url, (
        f"{careless}'s token opened {good}'s notebook through the hub ({foreign.status_code})"
    )

    # 4. the instructor collects, autogrades (sandboxed), writes and releases feedback, exports the grades
    for lesson in LESSONS:
        for step in (
            ["collect", lesson],
            ["autograde", lesson],
            ["generate_feedback", lesson],
            ["release_feedback", lesson],
        ):
            run_as(grader, "nbgrader", *step, cwd=course_dir, timeout=1800)
    export = Path(course_dir) / "grades.csv"
    run_as(grader, "nbgrader", "export", cwd=course_dir)
    timings["collected, autograded, feedback released"] = time.monotonic() - classroom["start"]
    rows = list(csv.DictReader(export.open()))
    by = {(r["assignment"], r["student_id"]): r for r in rows}

    # the scores are right: the complete answers get every autograded point; each mistake costs its exercise
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir}/gradebook.db") as gradebook:
        for lesson in LESSONS:
            tests = {
                grade_id(c)
                for c in read(ROOT / "solutions" / lesson / f"{lesson}.ipynb").cells
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            }
            for student in (good, careless):
                grades = {g.name: g for g in gradebook.find_submission_notebook(lesson, lesson, student).grades}
                auto = {name: (g.auto_score, g.max_score) for name, g in grades.items() if name in tests}
                if student == good:
                    assert all(score == top for score, top in auto.values()), f"{lesson}, complete answers: {auto}"
                else:
                    lost = [name for name, (score, top) in auto.items() if score < top]
                    assert lost, f"{lesson}: a mistake in every exercise lost no points: {auto}"
                assert (lesson, student) in by, f"{lesson}/{student} missing from the exported grades"

    # 5. each student fetches their own feedback
    for student in (good, careless):
        for lesson in LESSONS:
            if student == good:
                run_as(student, "nbgrader", "fetch_feedback", lesson, "--course", course)
            else:
                tab(student, "fetch_feedback", lesson)
            home = Path(pwd.getpwnam(student).pw_dir)
            pages = list((home / lesson / "feedback").glob(f"*/{lesson}.html"))
            assert pages, f"{student} got no feedback for {lesson}"
            text = pages[0].read_text()
            assert "Score" in text or "score" in text
    timings["feedback fetched (the whole round trip)"] = time.monotonic() - classroom["start"]
    print(
        "\nclass round trip, 2 lessons x 2 students, seconds since setup began (load average "
        f"{os.getloadavg()[0]:.1f}):"
    )
    for what, seconds in timings.items():
        print(f"  {seconds:7.0f}  {what}")
