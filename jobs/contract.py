"""Typed readers for the files of the contract: state.json, spec.json, progress.json, summary.json, outcome.json,
trainer.json and spooler.json.

A file that exists but is not JSON, not an object, or has a field of the wrong type raises `Unreadable`, whose text
is "unreadable: <file>: <reason>". Readers catch it for that one run, show or log the reason, and go on with the rest.
A missing file is None. Keys not declared here are passed through unchecked, so a writer may add fields.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs.status import JobStatus


class Unreadable(ValueError):
    """A contract file with the wrong shape. `reason` is the part after "unreadable: "."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.file = Path(path).name
        self.reason = f"{self.file}: {reason}"
        super().__init__(f"unreadable: {self.reason}")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _iso(v) -> bool:
    if not isinstance(v, str):
        return False
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


class Kind:
    def __init__(self, test: Callable[[Any], bool], what: str, optional: bool = False):
        self.test, self.what, self.optional = test, what, optional

    def ok(self, v) -> bool:
        return (self.optional and v is None) or self.test(v)

    @property
    def opt(self) -> Kind:
        return Kind(self.test, self.what + " or null", True)


STR = Kind(lambda v: isinstance(v, str), "a string")
INT = Kind(_int, "an integer")
NUM = Kind(_num, "a number")
BOOL = Kind(lambda v: isinstance(v, bool), "true or false")
DICT = Kind(lambda v: isinstance(v, dict), "an object")
ISO = Kind(_iso, "an ISO 8601 time string")
STATUS = Kind(lambda v: isinstance(v, str) and v in set(JobStatus), "one of " + ", ".join(JobStatus))
GPU = Kind(lambda v: isinstance(v, str) or _int(v), "a GPU index")
INTS = Kind(lambda v: isinstance(v, list) and all(_int(x) for x in v), "a list of integers")
SLOTS = Kind(lambda v: isinstance(v, list) and all(
    isinstance(s, dict) and _int(s.get("slot")) and (s.get("job") is None or isinstance(s.get("job"), str))
    and (s.get("gpu") is None or GPU.ok(s.get("gpu"))) for s in v), "a list of {slot, gpu, job} objects")

# file -> {field: kind}; fields without ".opt" must be present.
STATE = {"status": STATUS, "error": STR.opt, "created_at": ISO.opt, "started_at": ISO.opt, "finished_at": ISO.opt,
         "updated_at": ISO.opt, "requeued_at": ISO.opt, "heartbeat_at": ISO.opt, "attempt": INT.opt,
         "resume": BOOL.opt, "pid": INT.opt, "pid_create_time": NUM.opt, "host": STR.opt, "slot": INT.opt,
         "gpu": GPU.opt, "queue_position": INT.opt, "daemon_pid": INT.opt, "daemon_create_time": NUM.opt,
         "daemon_host": STR.opt, "exit_code": INT.opt, "source_file": STR.opt, "dataset_sha256": STR.opt,
         "runner": STR.opt, "source": DICT.opt, "priority": INT.opt, "held": BOOL.opt, "held_at": ISO.opt, "steered_at": ISO.opt}
SPEC = {"name": STR, "method": STR, "base_model": STR, "dataset": STR, "priority": INT.opt, "params": DICT,
        "parent_job": STR.opt, "notes": STR.opt, "group": DICT.opt}
PROGRESS = {"step": INT, "total_steps": INT.opt, "percent": NUM.opt, "eta_seconds": NUM.opt,
            "elapsed_seconds": NUM.opt, "updated_at": NUM.opt, "phase": STR.opt, "done": INT.opt, "total": INT.opt}
SUMMARY = {"status": STR.opt, "final_loss": NUM.opt, "best_loss": NUM.opt, "final_eval_loss": NUM.opt,
           "best_eval_loss": NUM.opt, "final_reward": NUM.opt, "total_steps": INT.opt, "epochs": NUM.opt,
           "runtime_seconds": NUM.opt, "train_runtime_this_attempt": NUM.opt, "train_tokens": INT.opt,
           "tokens_per_second": NUM.opt, "rows": DICT.opt, "dataset": STR.opt, "dataset_sha256": STR.opt,
           "base_model": STR.opt, "seed": INT.opt, "device": STR.opt, "adapter": STR.opt, "versions": DICT.opt,
           "peak_memory_bytes": INT.opt, "peak_memory_kind": STR.opt, "world_size": INT.opt,
           "finetuning_type": STR.opt, "sharding": STR.opt, "packing": BOOL.opt, "gradient_checkpointing": BOOL.opt,
           "use_liger_kernel": BOOL.opt, "rank_peak_memory_bytes": INTS.opt, "model": STR.opt, "model_bytes": INT.opt}
OUTCOME = {"exit_code": INT.opt, "status": STATUS, "error": STR.opt, "finished_at": ISO.opt}
TRAINER = {"pid": INT, "pid_create_time": NUM.opt, "host": STR.opt}
SPOOLER = {"daemon_pid": INT.opt, "daemon_create_time": NUM.opt, "daemon_host": STR.opt, "started_at": ISO.opt,
           "updated_at": NUM, "stopped": BOOL.opt, "slots": SLOTS.opt, "accepted": INT.opt, "rejected": INT.opt}
SCHEMAS = {"state.json": STATE, "spec.json": SPEC, "progress.json": PROGRESS, "summary.json": SUMMARY,
           "outcome.json": OUTCOME, "trainer.json": TRAINER, "spooler.json": SPOOLER}


def _shown(v) -> str:
    text = json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def problem(data: Any, schema: dict[str, Kind]) -> str | None:
    """Why `data` does not fit `schema`, or None."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {_shown(data)}"
    for name, kind in schema.items():
        if name not in data:
            if not kind.optional:
                return f"{name} is missing"
            continue
        v = data[name]
        if isinstance(v, float) and not math.isfinite(v) and kind in (INT, INT.opt):
            return f"{name} must be {kind.what}, got {_shown(v)}"
        if not kind.ok(v):
            return f"{name} must be {kind.what}, got {_shown(v)}"
    return None


def read(path: str | os.PathLike, schema: dict[str, Kind] | None = None) -> dict | None:
    """The file's object, checked against its schema (by file name unless given); None when it does not exist."""
    path = Path(path)
    schema = SCHEMAS[path.name] if schema is None else schema
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise Unreadable(path, "is a folder, not a file") from None
    except OSError as e:
        raise Unreadable(path, f"cannot be read ({e.strerror})") from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise Unreadable(path, "nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise Unreadable(path, f"not valid JSON ({getattr(e, 'msg', e)})") from None
    why = problem(data, schema)
    if why:
        raise Unreadable(path, why)
    return data


def read_or_none(path: str | os.PathLike, schema: dict[str, Kind] | None = None) -> dict | None:
    """Like `read`, but an unreadable file counts as missing (for optional extras such as trainer.json)."""
    try:
        return read(path, schema)
    except Unreadable:
        return None
