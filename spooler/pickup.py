"""Turn files in spool/incoming/ into queued runs, or reject them with a reason.

A file leaves incoming/ only after its run folder is complete on disk. The job id is
the file's own name when `submit` wrote it, otherwise derived from the file's mtime
and content, so a crash between "run created" and "file removed" never queues it twice.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import time
from pathlib import Path

from jobs import registry
from jobs.atomic import atomic_write_text
from jobs.spec import MAX_SPEC_BYTES
from jobs.sweep import expand, group_id_for_file
from jobs.state import create_run, is_job_id, new_job_id, read_spec
from jobs.workspace import Workspace

log = logging.getLogger("tunedeck.spooler")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,150}")
IGNORED_SUFFIXES = (".tmp", ".part", ".swp", "~")


class Pickup:
    def __init__(self, ws: Workspace, settle: float = 2.0):
        self.ws = ws
        self.settle = settle
        self.pending: dict[str, tuple] = {}   # name -> (size, mtime_ns, stable_since)
        self.accepted = 0
        self.rejected = 0

    def scan(self) -> list[str]:
        """Process every entry in incoming/ once. Returns the ids of newly queued jobs."""
        new = []
        try:
            entries = sorted(os.scandir(self.ws.incoming), key=lambda e: e.name)
        except FileNotFoundError:
            self.ws.ensure()
            return new
        seen = set()
        for entry in entries:
            seen.add(entry.name)
            try:
                job = self._one(entry)
            except Exception as e:  # noqa: BLE001 - one bad file must never stop the daemon
                log.exception("could not process %r: %s", entry.name, e)
                job = self._reject_safely(Path(entry.path), f"could not be processed: {type(e).__name__}: {e}")
            if job:
                new.extend(job if isinstance(job, list) else [job])
        for gone in set(self.pending) - seen:
            self.pending.pop(gone, None)
        return new

    def _one(self, entry: os.DirEntry) -> str | list[str] | None:
        name = entry.name
        if name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
            return None  # an editor's or copier's temp file; it gets renamed when done
        path = Path(entry.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return self._reject(path, "symlinks are not accepted; copy the spec file into incoming/ instead")
        if stat.S_ISDIR(st.st_mode):
            return self._reject(path, "a folder is not a spec; put one JSON file per job in incoming/")
        if not stat.S_ISREG(st.st_mode):
            return self._reject(path, "not a regular file")
        if not SAFE_NAME.fullmatch(name) or not name.endswith(".json"):
            why = ("only *.json spec files belong in incoming/" if SAFE_NAME.fullmatch(name)
                   else "the file name has characters other than letters, digits, '.', '_' and '-'")
            return self._reject(path, why)
        if st.st_size > MAX_SPEC_BYTES:
            return self._reject(path, f"the file is {st.st_size} bytes; a spec may be at most 1 MiB")
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_SPEC_BYTES + 1)
        except PermissionError:
            return self._reject(path, "the file cannot be read (permission denied)")
        except FileNotFoundError:
            return None
        except OSError as e:
            return self._reject(path, f"the file cannot be read ({e.strerror})")
        x = expand(data, self.ws, group_id=group_id_for_file(path.stem, path.name.encode() + b"\0" + data,
                                                             st.st_mtime))
        v = x.as_validation()
        parse_error = v.errors and v.errors[0].field == "spec" and v.spec is None and (
            not data.strip() or "not valid JSON" in v.errors[0].message)
        if parse_error and not self._settled(name, st):
            return None  # maybe still being written in place: wait until size and mtime hold still
        self.pending.pop(name, None)
        if not data.strip():
            return self._reject(path, "the file is empty")
        if not v.ok:
            return self._reject(path, "\n".join(str(p) for p in v.errors))
        if "group" in x.specs[0]:
            return self._accept_group(path, x.specs)
        return self._accept(path, data, st, v.spec)

    def _settled(self, name: str, st: os.stat_result) -> bool:
        key = (st.st_size, st.st_mtime_ns)
        prev = self.pending.get(name)
        now = time.monotonic()
        if prev is None or prev[:2] != key:
            self.pending[name] = (*key, now)
            return False
        return now - prev[2] >= self.settle

    def _accept(self, path: Path, data: bytes, st: os.stat_result, spec: dict) -> str | None:
        stem = path.stem
        job_id = stem if is_job_id(stem) else new_job_id(st.st_mtime, salt=path.name.encode() + b"\0" + data)
        ds = registry.list_datasets(self.ws).get(spec["dataset"])
        sha = registry.dataset_info(ds)["sha256"] if ds else None
        made = create_run(self.ws, job_id, spec, source_file=path.name, dataset_sha256=sha)
        if not made:
            existing = read_spec(self.ws.run_dir(job_id))
            if existing != spec:  # a different spec that happens to reuse a job id as its name
                job_id = new_job_id()
                made = create_run(self.ws, job_id, spec, source_file=path.name, dataset_sha256=sha)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        if made:
            self.accepted += 1
            log.info("queued %s (%s, %s on %s) from %s", job_id, spec["name"], spec["method"], spec["base_model"],
                     path.name)
            return job_id
        return None

    def _accept_group(self, path: Path, specs: list[dict]) -> list[str]:
        """A sweep: one run per combination, ids derived from the group id, so a crash mid-way never doubles one."""
        ds = registry.list_datasets(self.ws).get(specs[0]["dataset"])
        sha = registry.dataset_info(ds)["sha256"] if ds else None
        made = [s["group"]["job_id"] for s in specs
                if create_run(self.ws, s["group"]["job_id"], s, source_file=path.name, dataset_sha256=sha)]
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.accepted += len(made)
        if made:
            log.info("queued sweep %s: %d run(s) of %s from %s", specs[0]["group"]["id"], len(made),
                     specs[0]["group"]["name"], path.name)
        return made

    def _reject_safely(self, path: Path, reason: str) -> None:
        try:
            self._reject(path, reason)
        except Exception:  # noqa: BLE001 - e.g. a full disk; the next rescan tries again
            log.exception("could not reject %r", path.name)

    def _reject(self, path: Path, reason: str) -> None:
        self.pending.pop(path.name, None)
        safe = re.sub(r"[^A-Za-z0-9._\-]", "_", path.name).lstrip(".") or "unnamed"
        target = self.ws.rejected / safe
        n = 1
        while target.exists() or target.is_symlink() or (self.ws.rejected / f"{target.name}.error.txt").exists():
            target = self.ws.rejected / f"{safe}.{n}"
            n += 1
        atomic_write_text(self.ws.rejected / f"{target.name}.error.txt",
                          f"{path.name} was rejected:\n{reason}\n")
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        except OSError as e:
            log.error("could not move %r to rejected/: %s", path.name, e)
            return None
        self.rejected += 1
        log.warning("rejected %s: %s", path.name, reason.splitlines()[0])
        return None
