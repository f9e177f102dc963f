"""Job ids: the one check that every id from a URL, a request file, a spec or the command line goes through.

A job id (`20261128-053347-301791-b21ccd`) names the folder runs/<job_id>/. Anything that is not exactly that
pattern (`..`, `a/b`, an absolute path, an empty string, a number) is refused before it touches the disk, and a
run folder that is a symlink (which could point outside the workspace) is refused too.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

JOB_ID_RE = re.compile(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{6}")
JOB_ID_FORM = "YYYYMMDD-HHMMSS-ffffff-xxxxxx (digits and 6 lowercase hex characters)"


class BadJobId(ValueError):
    """A value that is not a job id; its message is one line naming the value and the expected form."""


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and bool(JOB_ID_RE.fullmatch(value))


def check_job_id(value: object) -> str:
    """The value itself when it is a job id, else BadJobId."""
    if is_job_id(value):
        return value  # type: ignore[return-value]
    shown = repr(value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "...")
    raise BadJobId(f"job id {shown} is not a job id; expected {JOB_ID_FORM}")


class NotARunFolder(KeyError, ValueError):
    """runs/<job_id> exists but is not a real folder (a symlink, which could point outside the workspace, or a
    file): no job lives there. A KeyError ("no such job") and a ValueError (a refused value) at once, so every caller
    that refuses either refuses it, with its one-line reason in args[0]."""


def run_path(runs: Path, job_id: object) -> Path:
    """runs/<job_id> for a checked id: the one way from a job id to its folder. The path may not exist yet (a run
    being created); when something is there it must be a real folder directly inside runs/, else NotARunFolder,
    so no reader or writer ever follows a symlink planted in runs/."""
    path = Path(runs) / check_job_id(job_id)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as e:
        raise NotARunFolder(f"job {job_id}: runs/{job_id} cannot be read ({e.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a folder"
        raise NotARunFolder(f"job {job_id}: runs/{job_id} is {what}, not a run folder; refused")
    return path


def existing_run(runs: Path, job_id: object) -> Path:
    """The run folder of an existing job: a real folder directly inside runs/ (not a symlink), else KeyError."""
    path = run_path(runs, job_id)
    if not path.is_dir():
        raise KeyError(f"no job {job_id!r}")
    return path
