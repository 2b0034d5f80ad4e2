"""grader/submission_guard.py without nbgrader runs: what a submission may hold, the copy that never follows a link
(also when the student swaps a file during the copy), and the converter the shipped configuration installs.
tests/test_hostile_submissions.py runs the same through real nbgrader collect and autograde."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grader.submission_guard import RefusedSubmission, SafeAutograde, copy_regular_tree, install, unsafe_entries


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted" / "student" / "lesson"
    (folder / "sub").mkdir(parents=True)
    (folder / "lesson.ipynb").write_text("{}")
    (folder / "sub" / "data.txt").write_text("mine")
    return folder


def test_regular_files_and_folders_are_safe_and_copied(submission, tmp_path):
    os.link(submission / "sub" / "data.txt", submission / "again.txt")  # both names inside: harmless
    assert unsafe_entries(submission) == []
    copy_regular_tree(submission, tmp_path / "copy" / "lesson")
    assert (tmp_path / "copy" / "lesson" / "sub" / "data.txt").read_text() == "mine"
    assert (tmp_path / "copy" / "lesson" / "again.txt").read_text() == "mine"


@pytest.mark.parametrize("kind", ["symlink", "folder link", "hard link", "fifo", "device"])
def test_links_and_special_files_refuse_the_submission_before_any_copy(submission, tmp_path, kind):
    secret = tmp_path / "gradebook.db"
    secret.write_text("SECRET")
    if kind == "symlink":
        os.symlink(secret, submission / "stolen")
    elif kind == "folder link":
        os.symlink(tmp_path, submission / "sub" / "course")
    elif kind == "hard link":
        os.link(secret, submission / "stolen")
    elif kind == "fifo":
        os.mkfifo(submission / "stolen")
    else:
        if os.geteuid() != 0:
            pytest.skip("only root makes device files")
        os.mknod(submission / "stolen", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    problems = unsafe_entries(submission)
    assert len(problems) == 1 and ("stolen" in problems[0] or "course" in problems[0]), problems
    with pytest.raises(RefusedSubmission, match="regular files and folders only"):
        copy_regular_tree(submission, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_the_submission_folder_itself_may_not_be_a_link(submission, tmp_path):
    os.symlink(submission, tmp_path / "linked")
    assert "a symbolic link" in unsafe_entries(tmp_path / "linked")[0]


@pytest.mark.parametrize("swap", ["symlink", "fifo", "hard link"])
def test_a_file_swapped_during_the_copy_is_refused_never_followed(submission, tmp_path, swap):
    """The copy opens every file without following links and takes only files the check saw: a student who swaps a
    checked file between the check and the copy gets a refusal, never the target."""
    secret = tmp_path / "gradebook.db"
    secret.write_text("SECRET")
    target = submission / "sub" / "data.txt"

    def swap_after_the_check(folder, names):  # copytree's ignore: called as the copy enters each folder
        if folder.endswith("sub"):
            target.unlink()
            if swap == "symlink":
                os.symlink(secret, target)
            elif swap == "fifo":
                os.mkfifo(target)
            else:
                os.link(secret, target)
        return []

    with pytest.raises(RefusedSubmission, match="changed during the copy"):
        copy_regular_tree(submission, tmp_path / "copy", ignore=swap_after_the_check)
    assert not (tmp_path / "copy").exists()


def test_the_shipped_configuration_installs_the_guarded_autograde_for_the_command_line_and_the_formgrader():
    import nbgrader.apps.api as api
    import nbgrader.apps.autogradeapp as app

    install()
    assert app.Autograde is SafeAutograde and api.Autograde is SafeAutograde
    config = (Path(__file__).resolve().parents[1] / "nbgrader_config.py").read_text()
    assert "install()" in config and "grader.submission_guard.SafeExchangeCollect" in config
