"""One submission never affects another or the run: what nbgrader's ``autograde`` and ``collect`` may copy, and what a
malformed notebook costs.

nbgrader copies a submission with ``shutil.copy``/``shutil.copytree``, which follow symbolic links: a link in a
student's folder (or in the exchange's inbound folder, which every account may write) arrives as the file it points
to (the gradebook, the solutions, ``/proc/self/environ`` of the grader), where the student's sandboxed kernel can
print it into its outputs and feedback; a FIFO or a link to one stops the copy for good, and a link to ``/dev/zero``
fills the disk. And an nbgrader metadata schema error in one notebook (``SchemaTooNewError``/``SchemaTooOldError``)
ends a whole ``nbgrader autograde <lesson>`` for every student after it.

So a submission holds regular files and folders only, each file with a single name (:func:`unsafe_entries`); anything
else (a symbolic link, a hard link, a device, a FIFO, a socket) refuses the whole submission before anything is copied,
with a line in the log that names the file and what to do, and the other students are collected and graded:

- :class:`SafeAutograde` -- nbgrader's Autograde converter, checking ``submitted/<student>/<lesson>/`` before nbgrader
  copies it, and reporting a schema error as that student's error (nbgrader's own error for any other exception);
- :class:`SafeExchangeCollect` -- nbgrader's collect, checking each inbound submission and copying it without ever
  following a link (:func:`copy_regular_tree`, safe against a student who swaps files during the copy);
- :func:`grader.grade_class.make_worker` checks and copies the same way.

Hard links: a file with several names (``st_nlink > 1``) is refused unless all its names are in the same submission.
A student can hard-link a file they may not read into the exchange where protected hard links are off, and a link
out of ``submitted/`` would be read by the grader; nbgrader's submit and collect and Jupyter's uploads always write
new files, so no honest submission has one. Copy submissions, never hard-link them (``cp -al`` or ``rsync
--link-dest`` snapshots of ``submitted/`` make every file a hard link: grade from the original folder).

Why a subclass and one patch: ``nbgrader collect`` takes its class from the configuration
(``c.ExchangeFactory.collect``), but ``nbgrader autograde`` builds ``Autograde`` by name in
``nbgrader.apps.autogradeapp`` and has no hook that runs per student before the copy (``pre_convert_hook`` gets the
command's glob, not the student, and its exceptions are only logged). :func:`install` points that name, and the
formgrader's (``nbgrader.apps.api``), at :class:`SafeAutograde`; ``nbgrader_config.py`` calls it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from nbgrader.converters import Autograde
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.nbgraderformat import SchemaTooNewError, SchemaTooOldError
from nbgrader.utils import ignore_patterns

try:
    import pwd
except ImportError:  # Windows: no accounts to check a submission's owner against
    pwd = None

WHAT_TO_DO = (
    "a submission may hold regular files and folders only: replace the link or special file by a copy of the file "
    "(or delete it), then submit again"
)


class RefusedSubmission(Exception):
    """A submission that is not graded or collected: the message names the files and says what to do."""


class MalformedNotebook(Exception):
    """A student's notebook nbgrader cannot read as the lesson's: that student's error, never the run's."""


def _kind(mode: int) -> str | None:
    """What a file that is neither a regular file nor a folder is, in words; None for those two."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file or folder"


def _scan(folder: Path) -> tuple[list[str], dict[tuple[int, int], int]]:
    """(problems, names): every entry under ``folder`` (and ``folder`` itself) that is not a regular file or folder,
    as "path: what it is", and the number of names each regular file (device, inode) has in ``folder``."""
    problems: list[str] = []
    names: dict[tuple[int, int], int] = {}
    links: dict[tuple[int, int], tuple[Path, int]] = {}

    def visit(path: Path) -> None:
        try:
            info = os.lstat(path)
        except OSError as error:
            problems.append(f"{path}: cannot be read ({error.strerror})")
            return
        kind = _kind(info.st_mode)
        if kind is not None:
            target = f" to {os.readlink(path)}" if stat.S_ISLNK(info.st_mode) else ""
            problems.append(f"{path}: {kind}{target}")
        elif stat.S_ISDIR(info.st_mode):
            try:
                entries = sorted(os.listdir(path))
            except OSError as error:
                problems.append(f"{path}: cannot be read ({error.strerror})")
                return
            for name in entries:
                visit(path / name)
        else:
            key = (info.st_dev, info.st_ino)
            names[key] = names.get(key, 0) + 1
            if info.st_nlink > 1:
                links.setdefault(key, (path, info.st_nlink))

    visit(Path(folder))
    for key, (path, count) in links.items():
        if count > names[key]:
            problems.append(f"{path}: a hard link ({count} names, {count - names[key]} outside this submission)")
    return problems, names


def unsafe_entries(folder: str | os.PathLike) -> list[str]:
    """Everything in the submission ``folder`` that nbgrader must not copy, as "path: what it is" (empty: safe).

    Safe are regular files and folders, ``folder`` included; each file's names all in ``folder``."""
    return _scan(Path(folder))[0]


def refusal(problems: list[str]) -> str:
    """Why a submission is refused, and what to do: the log line after the student's name."""
    shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
    return f"the submission holds links or special files ({shown}): {WHAT_TO_DO}"


def copy_regular_tree(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    ignore: Callable[[str, list[str]], list[str]] | None = None,
) -> None:
    """Copy the submission ``source`` to ``destination`` (which must not exist), regular files and folders only.

    Checks first (:func:`unsafe_entries`: raises :class:`RefusedSubmission` naming every problem, before copying
    anything), then copies without following a link anywhere: every folder and file is opened relative to its parent
    with ``O_NOFOLLOW``, and a file must be one the check saw, with no more names. A student who swaps a file for a
    link or a FIFO while the copy runs gets a refusal, never the target. ``ignore`` is ``shutil.copytree``'s.
    Permissions are the files' own (``shutil.copymode``); a partial copy is removed on failure."""
    source, destination = Path(source), Path(destination)
    problems, names = _scan(source)
    if problems:
        raise RefusedSubmission(refusal(problems))
    folder_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    file_flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

    def changed(path: Path, why: str) -> RefusedSubmission:
        return RefusedSubmission(refusal([f"{path}: {why} (it changed during the copy)"]))

    def copy_folder(fd: int, shown: Path, target: Path) -> None:
        target.mkdir()
        entries = sorted(os.listdir(fd))
        skipped = set(ignore(str(shown), entries)) if ignore else set()
        for name in entries:
            if name in skipped:
                continue
            path = shown / name
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    child = os.open(name, folder_flags, dir_fd=fd)
                    try:
                        copy_folder(child, path, target / name)
                    finally:
                        os.close(child)
                    continue
                child = os.open(name, file_flags, dir_fd=fd)
            except OSError as error:
                raise changed(path, f"cannot be opened as a file or folder ({error.strerror})") from None
            try:
                info = os.fstat(child)
                key = (info.st_dev, info.st_ino)
                if not stat.S_ISREG(info.st_mode):
                    raise changed(path, _kind(info.st_mode) or "not a regular file")
                if key not in names or info.st_nlink > names[key]:
                    raise changed(path, "a file the check did not see, or a hard link")
                with os.fdopen(os.dup(child), "rb") as reader, open(target / name, "xb") as writer:
                    shutil.copyfileobj(reader, writer)
                os.chmod(target / name, stat.S_IMODE(info.st_mode) | stat.S_IRUSR | stat.S_IWUSR)
                os.utime(target / name, ns=(info.st_atime_ns, info.st_mtime_ns))
            finally:
                os.close(child)

    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(source, folder_flags)
    except OSError as error:
        raise changed(source, f"cannot be opened as a folder ({error.strerror})") from None
    try:
        copy_folder(fd, source, destination)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    finally:
        os.close(fd)


class SafeAutograde(Autograde):
    """nbgrader's Autograde converter: a submission with links or special files is refused before nbgrader copies
    anything from it, and a notebook whose nbgrader metadata has the wrong schema version is that student's error.

    Either raises an exception nbgrader treats as one submission's failure: it logs it, grades every other student,
    and ends with exit status 1 (nbgrader's own handling ends the whole run on a schema error)."""

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        # submitted/<student>/<lesson>/ (it and the student's folder above it never followed)
        folder = Path(self.coursedir.format_path(self.coursedir.submitted_directory, student_id, assignment_id))
        problems = unsafe_entries(folder)
        if os.path.islink(folder.parent):
            problems.insert(0, f"{folder.parent}: a symbolic link to {os.readlink(folder.parent)}")
        if problems:
            message = f"{student_id} ({assignment_id}): not graded, {refusal(problems)}"
            self.log.error(message)
            raise RefusedSubmission(message)
        super().init_assignment(assignment_id, student_id)

    def convert_single_notebook(self, notebook_filename: str) -> None:
        try:
            super().convert_single_notebook(notebook_filename)
        except (SchemaTooOldError, SchemaTooNewError) as error:
            message = (
                f"{notebook_filename}: not graded, its nbgrader cell metadata does not fit this nbgrader ({error}): "
                "the student must submit the lesson's own notebook (fetch it again and copy the answers over)"
            )
            self.log.error(message)
            raise MalformedNotebook(message) from None


def account(student: str):
    """The account named ``student`` on this machine (``pwd.struct_passwd``, whose uid :func:`forged_owner` checks),
    or None."""
    try:
        return pwd.getpwnam(student)
    except (KeyError, AttributeError):  # no such account, or no pwd module (Windows)
        return None


def forged_owner(folder: Path, student: str) -> str | None:
    """Why the inbound submission ``folder`` cannot be ``student``'s, or None: where ``student`` is an account on this
    machine (a JupyterHub with local accounts), ``nbgrader submit`` ran as that account and the folder is theirs; a
    folder of that name that another account made is a classmate's forgery (the inbound folder is writable by all).
    Where no account has the student's name (one shared uid, as in a container per user), ownership tells nothing."""
    theirs = account(student)
    if theirs is None:
        return None
    owner = folder.lstat().st_uid
    if owner == theirs.pw_uid:
        return None
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = f"uid {owner}"
    return (
        f"its folder {folder.name!r} was made by the account {name!r}, not by {student!r}: another account wrote it "
        f"in the exchange under {student}'s name (set CollectApp.check_owner = False only where every student "
        f"submits through one shared account)"
    )


class SafeExchangeCollect(ExchangeCollect):
    """nbgrader's collect: an inbound submission with links or special files, or one that another account made under
    a student's name (:func:`forged_owner`; nbgrader itself only warns), is not collected (an error in the log names it
    and the student; the student's earlier collected submission, if any, stays), and every other one is copied without
    following links (:func:`copy_regular_tree`), then by nbgrader's own copy (its ignore patterns, size limits and
    permissions) from that copy. ``nbgrader_config.py``: ``c.ExchangeFactory.collect``."""

    def init_src(self):
        super().init_src()
        kept, unverifiable = [], []
        for record in self.src_records:
            folder = Path(self.inbound_path, record["filename"])
            who = f"{record['username']} ({self.coursedir.assignment_id})"
            problems = unsafe_entries(folder)
            forged = forged_owner(folder, record["username"]) if self.check_owner else None
            if problems:
                self.log.error("%s: not collected, %s", who, refusal(problems))
            elif forged:
                self.log.error("%s: not collected, %s", who, forged)
            else:
                kept.append(record)
                if self.check_owner and account(record["username"]) is None:
                    unverifiable.append(record["username"])
        self.src_records = kept
        if unverifiable:
            names = sorted(set(unverifiable))
            self.log.warning(
                "%d collected submission(s) are of students with no account on this machine (%s): a folder's owner "
                "cannot show that a classmate made it under their name (one shared uid, as with a container per user). "
                "Where that matters, give each student an account of their own (a hub's local accounts), whose "
                "folders the collect checks.",
                len(unverifiable),
                ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else ""),
            )

    def do_copy(self, src, dest, log=None):
        limit = 1000 * self.coursedir.max_dir_size
        size = sum(os.lstat(os.path.join(folder, name)).st_size for folder, _, files in os.walk(src) for name in files)
        if size > limit:
            self.log.error(
                "%s: not collected, %d bytes: more than the limit of %d (CourseDirectory.max_dir_size)",
                src,
                size,
                limit,
            )
            return
        with tempfile.TemporaryDirectory(prefix=".collecting-", dir=os.path.dirname(dest)) as staging:
            checked = os.path.join(staging, "submission")
            try:
                copy_regular_tree(
                    src,
                    checked,
                    ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include, log=self.log),
                )
            except RefusedSubmission as error:
                self.log.error("%s: not collected, %s", src, error)
                return
            super().do_copy(checked, dest, log)


def install() -> None:
    """Make ``nbgrader autograde`` and the formgrader's autograde use :class:`SafeAutograde` (module docstring: why a
    patch); for ``nbgrader_config.py``. Fails loudly if nbgrader no longer builds its converter by that name."""
    import nbgrader.apps.api as api
    import nbgrader.apps.autogradeapp as app

    for module in (app, api):
        if getattr(module, "Autograde", None) not in (Autograde, SafeAutograde):
            raise RuntimeError(
                f"{module.__name__} no longer builds Autograde by name: update grader/submission_guard.py"
            )
        module.Autograde = SafeAutograde
