"""Prepare a machine for one class of the GAN course (run as root, again after editing the class file).

    sudo python classroom/setup_class.py /srv/gan-course/class.json

What it does, each step skipped when already done:

1. a Unix account for every instructor, student and the grader account, with a private home (mode 700);
2. nbgrader's exchange folder (world-writable with the sticky bit, as nbgrader's release sets it) and the hub's
   state folder (root only, holding the class file, the hub database and its cookie secret);
3. in every account, ``~/.jupyter/nbgrader_config.py`` with the course id and the exchange;
4. for students and instructors, nbgrader's instructor tools switched off in their own servers (formgrader,
   course list, create assignment), in the user-level Jupyter settings that ``jupyter server extension disable
   --user`` and ``jupyter labextension disable --level=user`` write (user settings override the environment's);
   they keep the Assignments tab. Instructors grade in the formgrader service;
5. the grader account's course folder ``~<grader>/<course_id>/``: the course's ``nbgrader_config.py`` and the
   instructor sources ``solutions/`` (existing files are kept: the gradebook and grades are never overwritten).

The class file is ``classroom/class.example.json`` filled in.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_OFF_SERVER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
STUDENT_OFF_LAB = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
)


def ensure_account(name: str) -> pwd.struct_passwd:
    """The Unix account ``name`` (created with a home if missing), its home made private (mode 700)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        account = pwd.getpwnam(name)
    os.chmod(account.pw_dir, 0o700)
    return account


def write_owned(path: Path, text: str, account: pwd.struct_passwd, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    for p in (path.parent, path):
        os.chown(p, account.pw_uid, account.pw_gid)


def shared_nbgrader_config(settings: dict) -> str:
    return (
        f"# written by classroom/setup_class.py: the class's course and exchange\n"
        f"c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {settings['course_id']!r}\n"
        f"c.Exchange.root = {settings['exchange']!r}\n"
        f"# one course per hub: a fetched lesson lands in ~/<lesson>/, not ~/<course>/<lesson>/\n"
        f"c.Exchange.path_includes_course = False\n"
    )


def setup(settings: dict, class_file: Path) -> None:
    exchange = Path(settings["exchange"])
    exchange.mkdir(parents=True, exist_ok=True)
    os.chmod(exchange, 0o777 | stat.S_ISVTX)
    state = Path(settings["state_dir"])
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    if class_file.resolve() != (state / "class.json").resolve():
        shutil.copy(class_file, state / "class.json")
    config = shared_nbgrader_config(settings)
    for name in [*settings["instructors"], *settings["students"], settings["grader_account"]]:
        account = ensure_account(name)
        write_owned(Path(account.pw_dir, ".jupyter", "nbgrader_config.py"), config, account)
        if name != settings["grader_account"]:
            home = Path(account.pw_dir, ".jupyter")
            server = {"ServerApp": {"jpserver_extensions": {extension: False for extension in STUDENT_OFF_SERVER}}}
            write_owned(home / "jupyter_server_config.json", json.dumps(server, indent=2), account)
            lab = {"disabledExtensions": {plugin: True for plugin in STUDENT_OFF_LAB}}
            write_owned(home / "labconfig" / "page_config.json", json.dumps(lab, indent=2), account)
    grader = pwd.getpwnam(settings["grader_account"])
    course = Path(grader.pw_dir, settings["course_id"])
    if not (course / "nbgrader_config.py").exists():
        course.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(ROOT / "solutions", course / "solutions", dirs_exist_ok=True)
        subprocess.run(["chown", "-R", f"{grader.pw_uid}:{grader.pw_gid}", str(course)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("class_file", type=Path, help="the class file (classroom/class.example.json, filled in)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("setup_class.py creates Unix accounts and the exchange folder: run it as root (sudo).")
    setup(json.loads(args.class_file.read_text()), args.class_file)
    print(
        f"class ready; start the hub as root: GAN_CLASS_SETTINGS={args.class_file} "
        f"jupyterhub -f {ROOT / 'classroom' / 'jupyterhub_config.py'}"
    )


if __name__ == "__main__":
    main()
