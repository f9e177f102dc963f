"""The train.log line format: the trainer writes it, the dashboard's Logs tab parses it.

    2026-11-28 05:00:00 INFO tunedeck.metrics: step 3/10 loss=2.31 learning_rate=0.0002
"""
from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LEVEL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def formatter() -> logging.Formatter:
    return logging.Formatter(FORMAT, DATEFMT)


def level_of(line: str) -> str | None:
    """The level of one of our log lines; None for anything else (tqdm bars, raw stderr, traceback lines)."""
    m = _LEVEL.match(line)
    return m.group(1) if m else None


def step_message(step: int, total: int, row: dict, names) -> str:
    """The message of a per-step metrics line."""
    return f"step {step}/{total} " + " ".join(f"{k}={row[k]:.4g}" for k in names
                                               if isinstance(row.get(k), (int, float)))


def configure(level: int = logging.INFO) -> None:
    """Root logging in this line format: the spooler, the export and the try worker log like the trainer."""
    logging.basicConfig(level=level, format=FORMAT, datefmt=DATEFMT)
