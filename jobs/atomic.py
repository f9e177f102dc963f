"""Atomic file writes: every spec and state write in Tunedeck goes through here.

Write to a temp file in the same folder, fsync it, rename over the target, fsync
the folder. A reader sees the old file or the new one, never half of either.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

_UMASK = os.umask(0o022)  # read once: new files get 0o666 & ~umask, as open() would give them (mkstemp gives 0o600)
os.umask(_UMASK)
SHARED_MODE = 0o666  # lock files too: a team's group-shared workspace needs them writable by its members


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True, private: bool = False) -> Path:
    """durable=False skips the fsyncs: still all-or-nothing for readers, for files rewritten every step.
    The file's mode follows the umask, as for any new file; private=True keeps it to its owner (0o600)."""
    path = Path(path)
    if not durable:  # hot path (every training step): one writer per file, so a fixed temp name will do
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if not private:
            os.fchmod(fd, SHARED_MODE & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, durable: bool = True, private: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), durable, private)


def atomic_write_json(path: str | os.PathLike, obj: Any, private: bool = False) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                             private=private)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file; a missing or unparsable file gives `default`."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return default
