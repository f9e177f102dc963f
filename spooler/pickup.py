"""Turn files in spool/incoming/ into queued runs, or reject them with a reason.

A file leaves incoming/ only after its run folder is complete on disk. The job id is
the file's own name when `submit` wrote it, otherwise derived from the file's mtime
and content, so a crash between "run created" and "file removed" never queues it twice.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import queue
import re
import stat
import threading
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from jobs import contract
from jobs.atomic import atomic_write_text
from jobs.display_text import escape_invisible
from jobs.models import registry
from jobs.queue.sweep import CHECK_BUDGET, Expansion, expand, group_id_for_file, is_sweep_data
from jobs.spec import MAX_SPEC_BYTES
from jobs.state import create_run, is_job_id, new_job_id
from jobs.team import audit, auth, quotas
from jobs.workspace import Workspace

log = logging.getLogger("tunedeck.spooler")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")
# Names that editors, browsers and rsync use while a file is still being written; they get their settle time
# (the final rename may still come), then are rejected with a reason.
IN_FLIGHT_SUFFIXES = (".tmp", ".part", ".partial", ".swp", ".crdownload", "~")
# A file named after a job id keeps that id only when the id's time is close to the file's arrival (ctime, which a
# writer cannot set), so a name cannot pick an id that sorts before jobs submitted earlier.
ID_BEFORE_ARRIVAL = 600.0
ID_AFTER_ARRIVAL = 60.0
# Derived names in rejected/ stay well under the 255-byte name limit, with room for ".error.txt" and a temp suffix.
MAX_DERIVED_NAME = 120
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def in_flight_name(name: str) -> bool:
    return name.startswith(".") or name.endswith(IN_FLIGHT_SUFFIXES)


def short_name(name: str, limit: int = MAX_DERIVED_NAME) -> str:
    """A safe file name for `name`: odd characters replaced, and a long tail replaced by a hash of the whole name."""
    safe = re.sub(r"[^A-Za-z0-9._\-]", "_", name).lstrip(".") or "unnamed"
    if len(safe) <= limit:
        return safe
    return f"{safe[:limit - 17]}-{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"


def _id_time(job_id: str) -> float | None:
    try:
        dt = datetime.strptime(job_id[:22], "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    return dt.timestamp()


def _arrival(entry: os.DirEntry) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_ctime_ns
    except OSError:
        return 0


class Pickup:
    """`scan()` runs on the daemon's only thread, so nothing in it may take long: a sweep, whose every value and run
    is validated, is checked in a worker thread (bounded by sweep.CHECK_BUDGET) and accepted or rejected by the scan
    after it is done; plain specs, at most 1 MiB, are checked in place. `wake` is set when a check is done."""

    def __init__(self, ws: Workspace, settle: float = 2.0, wake: threading.Event | None = None,
                 budget: float = CHECK_BUDGET):
        self.ws = ws
        self.settle = settle
        self.wake = wake
        self.budget = budget
        self.pending: dict[str, tuple] = {}   # name -> (size, mtime_ns, stable_since)
        self.failed: set[str] = set()          # names whose processing raised; logged once
        self.checking: dict[str, tuple[tuple, Future]] = {}  # sweep file name -> (file signature, its check)
        self._todo: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self.accepted = 0
        self.rejected = 0

    def _work(self) -> None:
        """The sweep checker: one check at a time, in order. A daemon thread, so it never holds up the exit."""
        while True:
            fut, args, kwargs = self._todo.get()
            if not fut.set_running_or_notify_cancel():
                continue  # its file went away before the check began
            try:
                fut.set_result(expand(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - handed to scan(), which rejects the file with it
                fut.set_exception(e)

    def _expand(self, name: str, data: bytes, st: os.stat_result, group_id: str) -> Expansion | None:
        """A sweep's expansion once the worker has done it; None while it is under way (started here if need be)."""
        sig = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        got = self.checking.get(name)
        if got is not None and got[0] == sig:
            if not got[1].done():
                return None
            del self.checking[name]
            try:
                return got[1].result()
            except Exception as e:  # noqa: BLE001 - reported as the file's problem by scan()
                raise RuntimeError(f"the sweep could not be checked: {e}") from e
        if got is not None:
            got[1].cancel()  # the file changed since: check it again
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="sweep-check", daemon=True)
            self._worker.start()
        fut: Future = Future()
        self._todo.put((fut, (data, self.ws), {"group_id": group_id, "budget": self.budget}))
        if self.wake is not None:
            fut.add_done_callback(lambda _f: self.wake.set())
        self.checking[name] = (sig, fut)
        return None

    def scan(self) -> list[str]:
        """Process every entry in incoming/ once, in order of arrival. Returns the ids of newly queued jobs."""
        new = []
        try:
            with os.scandir(self.ws.incoming) as it:
                entries = sorted(it, key=lambda e: (_arrival(e), e.name))
        except FileNotFoundError:
            self.ws.ensure()
            return new
        seen = set()
        for entry in entries:
            seen.add(entry.name)
            try:
                job = self._one(entry)
            except Exception as e:  # noqa: BLE001 - one bad file must never stop the daemon
                if entry.name not in self.failed:  # one traceback per file, not one per rescan
                    self.failed.add(entry.name)
                    log.exception("could not process %s: %s", escape_invisible(repr(entry.name)), e)
                job = self._reject_safely(Path(entry.path), f"could not be processed: {type(e).__name__}")
            if job:
                new.extend(job if isinstance(job, list) else [job])
        for gone in set(self.pending) - seen:
            self.pending.pop(gone, None)
        for gone in set(self.checking) - seen:
            self.checking.pop(gone)[1].cancel()
        self.failed &= seen
        return new

    def _one(self, entry: os.DirEntry) -> str | list[str] | None:
        name = entry.name
        path = Path(entry.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if in_flight_name(name):
            if not self._settled(name, st):
                return None  # an editor's or copier's file in flight; the final rename may still come
            what = "hidden" if name.startswith(".") else "temporary-looking"
            return self._reject(path, f"a {what} file name is not a spec: name the file <something>.json, "
                                      "without a leading '.' (files in flight are left alone while they change)")
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
        busy = self.checking.get(name)
        if busy and busy[0] == (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) and not busy[1].done():
            return None  # its sweep is being checked
        got = self._read(path)
        if got is None:
            return None
        if isinstance(got, str):
            return self._reject(path, got)
        data, st = got
        gid = group_id_for_file(path.stem, path.name.encode() + b"\0" + data, st.st_ctime)
        if is_sweep_data(data):  # checked in the worker: the daemon's loop never waits for it
            x = self._expand(name, data, st, gid)
            if x is None:
                return None
        else:
            x = expand(data, self.ws, group_id=gid)
        v = x.as_validation()
        parse_error = v.errors and v.errors[0].field == "spec" and v.spec is None and (
            not data.strip() or "not valid JSON" in v.errors[0].message)
        if parse_error and not self._settled(name, st):
            return None  # maybe still being written in place: wait until size and mtime hold still
        self.pending.pop(name, None)
        if not data.strip():
            return self._reject(path, "the file is empty")
        if not v.ok:
            if st.st_uid != os.geteuid():  # quote nothing from a file someone else owns
                return self._reject(path, f"the spec has {len(v.errors)} problem(s); they are not quoted because "
                                          "the file belongs to another user: check it with python -m jobs validate")
            return self._reject(path, "\n".join(str(p) for p in v.errors))
        specs = x.specs if "group" in x.specs[0] else [v.spec]
        why = self._own(specs, st)
        if why:
            return self._reject(path, why)
        if "group" in x.specs[0]:
            return self._accept_group(path, x.specs)
        return self._accept(path, data, st, v.spec)

    def _own(self, specs: list[dict], st: os.stat_result) -> str | None:
        """Give each spec its owner: the file's owner, or the owner it names when the dropper may (an admin or a
        service account). The reason when it may not, or when the owner's max_queued quota is full."""
        dropper = auth.os_user(st.st_uid)
        owner, why = auth.owner_for_drop(auth.load(self.ws), dropper, specs[0].get("owner"))
        why = why or quotas.queued_problem(self.ws, owner, len(specs))
        if why:
            audit.record(self.ws, dropper, "spool", "submit", allowed=False, detail=why)
            return why
        for s in specs:
            s["owner"] = owner
        return None

    def _read(self, path: Path) -> tuple[bytes, os.stat_result] | str | None:
        """(content, fstat) of a regular file linked once; a reason string to reject it; None when it is gone.

        O_NONBLOCK and O_NOFOLLOW: a FIFO or symlink swapped in after the lstat can neither block nor redirect the
        open, and the descriptor's own fstat decides what was opened.
        """
        try:
            fd = os.open(path, OPEN_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:
                return "symlinks are not accepted; copy the spec file into incoming/ instead"
            if e.errno in (errno.EACCES, errno.EPERM):
                return "the file cannot be read (permission denied)"
            return f"the file cannot be read ({e.strerror})"
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return "not a regular file"
            if st.st_nlink == 0:  # another daemon accepted it and unlinked it while we opened it
                return None
            if st.st_nlink > 1:  # a hard link may be someone's private file: never read or quote it
                return (f"the file has {st.st_nlink} hard links; hard links are not accepted, "
                        "copy the spec into incoming/ instead")
            if st.st_size > MAX_SPEC_BYTES:
                return f"the file is {st.st_size} bytes; a spec may be at most 1 MiB"
            chunks, size = [], 0
            while size <= MAX_SPEC_BYTES:
                try:
                    chunk = os.read(fd, MAX_SPEC_BYTES + 1 - size)
                except BlockingIOError:
                    return "not a regular file"
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks), st
        finally:
            os.close(fd)

    def _settled(self, name: str, st: os.stat_result) -> bool:
        key = (st.st_size, st.st_mtime_ns)
        prev = self.pending.get(name)
        now = time.monotonic()
        if prev is None or prev[:2] != key:
            self.pending[name] = (*key, now)
            return False
        return now - prev[2] >= self.settle

    def _job_id(self, path: Path, data: bytes, st: os.stat_result) -> str:
        """The file's own name when it is a job id from about the time the file arrived (how `submit` names
        files); otherwise derived from the arrival time (ctime), name and content, the same after a crash."""
        stem = path.stem
        if is_job_id(stem):
            t = _id_time(stem)
            arrived = st.st_ctime
            if t is not None and arrived - ID_BEFORE_ARRIVAL <= t <= arrived + ID_AFTER_ARRIVAL:
                return stem
        return new_job_id(st.st_ctime, salt=path.name.encode() + b"\0" + data)

    def _accept(self, path: Path, data: bytes, st: os.stat_result, spec: dict) -> str | None:
        source = {"inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}
        try:
            named = path.stem if is_job_id(path.stem) and os.path.isdir(self.ws.run_dir(path.stem)) else None
        except KeyError as e:  # runs/<its name> is a symlink or a file (jobs.job_ids.NotARunFolder)
            return self._reject(path, e.args[0])
        job_id = named or self._job_id(path, data, st)
        made = False
        if named is None:
            ds = registry.list_datasets(self.ws).get(spec["dataset"])
            sha = registry.dataset_info(ds)["sha256"] if ds else None
            made = create_run(self.ws, job_id, spec, source_file=path.name, source=source, dataset_sha256=sha)
        if not made:
            existing = contract.read_or_none(self.ws.run(job_id).state) or {}
            if existing.get("source") != source:  # not this very file after a crash: a resubmission
                old = contract.read_or_none(self.ws.run(job_id).spec) or {}
                return self._reject(path, (
                    f"job {job_id} already exists ({escape_invisible(str(old.get('name')))!r}, "
                    f"{existing.get('status') or 'unknown status'}, created {existing.get('created_at') or '?'}); "
                    f"a spec file is never run under an existing job id. To run that job again: "
                    f"python -m spooler retry {job_id}; to submit a new job, give the file another name"))
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        if made:
            self.accepted += 1
            audit.record(self.ws, spec.get("owner"), "spool", "submit", job_id)
            log.info("queued %s (%s, %s on %s) from %s", job_id, escape_invisible(spec["name"]), spec["method"],
                     spec["base_model"], escape_invisible(path.name))
            return job_id
        log.info("%s was already queued as %s before a restart; removed it from incoming/",
                 escape_invisible(path.name), job_id)
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
        for job_id in made:
            audit.record(self.ws, specs[0].get("owner"), "spool", "submit", job_id)
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
        safe = short_name(path.name)
        target = self.ws.rejected / safe
        n = 1
        while target.exists() or target.is_symlink() or (self.ws.rejected / f"{target.name}.error.txt").exists():
            target = self.ws.rejected / f"{safe}.{n}"
            n += 1
        atomic_write_text(self.ws.rejected / f"{target.name}.error.txt",
                          f"{escape_invisible(path.name)} was rejected:\n{reason}\n")
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        except OSError as e:
            log.error("could not move %s to rejected/: %s", escape_invisible(repr(path.name)), e)
            return None
        self.rejected += 1
        log.warning("rejected %s: %s", escape_invisible(path.name), reason.splitlines()[0])
        return None
