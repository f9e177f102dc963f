"""A full disk: one reason for every process ("no space left on device"), a free-space check, and an in-place
rewrite for the few small files that must stay current while an atomic write (which needs a new file) cannot."""
from __future__ import annotations

import errno
import os
from pathlib import Path

NO_SPACE = "no space left on device"
EXIT_NO_SPACE = 28  # the trainer's exit code when it stopped for lack of space (errno ENOSPC is 28 too)
RESERVE_BYTES = 2 << 20  # kept free for the small state, outcome and log writes that end a job


class NoSpace(OSError):
    """Raised before a write that would not fit; str() is the one-line reason shown for the job."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def is_no_space(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def free_bytes(folder: str | os.PathLike) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def tree_bytes(path: str | os.PathLike) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def ensure_space(folder: str | os.PathLike, need: int, what: str) -> None:
    """NoSpace unless `need` bytes plus the reserve are free where `folder` lives."""
    free = free_bytes(folder)
    if free < need + RESERVE_BYTES:
        raise NoSpace(f"{NO_SPACE}: {what} needs about {_mib(need)} MiB and {_mib(RESERVE_BYTES)} MiB are kept "
                      f"in reserve, but only {_mib(free)} MiB are free in {folder}; free some space, then retry "
                      "(it resumes from the last checkpoint)")


def rewrite_in_place(path: str | os.PathLike, data: bytes) -> None:
    """Overwrite an existing small file in place: no new file, so it works on a full disk (not atomic; use it only
    for a file whose readers tolerate a torn read, like the spooler's heartbeat)."""
    with open(Path(path), "r+b") as fh:
        fh.write(data)
        fh.truncate(len(data))


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"
