"""Leftovers of a kill -9, swept by age: a process killed mid-write leaves its temp file, and a daemon killed
mid-acceptance or mid-delete leaves a hidden .new-*/.trash-* folder in runs/. Nothing else removes them."""
from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

from jobs.job_ids import is_job_id
from jobs.workspace import Workspace

HIDDEN_RUN_FOLDERS = (".new-", ".trash-")


def is_temp_name(name: str) -> bool:
    """The names jobs.atomic gives its temp files: .<target>.<random or pid>.tmp"""
    return name.startswith(".") and name.endswith(".tmp")


def _old(st: os.stat_result, cutoff: float) -> bool:
    return st.st_mtime < cutoff


def _sweep_temp_files(folder: Path, cutoff: float) -> int:
    n = 0
    try:
        it = os.scandir(folder)
    except OSError:
        return 0
    with it:
        for e in it:
            if not is_temp_name(e.name):
                continue
            try:
                st = e.stat(follow_symlinks=False)
                if (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and _old(st, cutoff):
                    os.unlink(e.path)
                    n += 1
            except OSError:
                pass
    return n


def sweep_leftovers(ws: Workspace, min_age: float) -> int:
    """Remove leftovers older than `min_age` seconds; returns how many were removed."""
    cutoff = time.time() - min_age
    n = 0
    for folder in (ws.home, ws.spool_tmp, ws.rejected, ws.runs):
        n += _sweep_temp_files(folder, cutoff)
    try:
        it = os.scandir(ws.runs)
    except OSError:
        return n
    with it:
        for e in it:
            try:
                if e.name.startswith(HIDDEN_RUN_FOLDERS) and e.is_dir(follow_symlinks=False):
                    if _old(e.stat(follow_symlinks=False), cutoff):
                        shutil.rmtree(e.path, ignore_errors=True)
                        n += 1
                elif is_job_id(e.name) and e.is_dir(follow_symlinks=False):
                    n += _sweep_temp_files(Path(e.path), cutoff)
            except OSError:
                pass
    return n
