"""Notifications: POST once when a job (or a whole sweep) reaches a terminal state, on a background thread.

Every delivery is first claimed by creating notify/claims/<key>.json with O_EXCL, the key naming the job, its attempt,
the state and the target. So a restart, or a second daemon on the same workspace, never sends it again. A failing
target is retried with backoff for a bounded time (`notify_retry_seconds`); a claim left pending by a daemon that died
is taken over, under a lock, by the next one. Scheduling never waits for any of this.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from jobs import contract
from jobs.atomic import atomic_write_json, read_json
from jobs.contract import Unreadable
from jobs.queue.overview import job_summary
from jobs.queue.sweep import group_of
from jobs.ranking import best_run, headline_text
from jobs.rundir import RunDir
from jobs.settings.notify_config import (
    DEFAULT_DASHBOARD_URL,
    DEFAULT_RETRY_SECONDS,
    append_log,
    check_entries,
    notify_dir,
    read_config,
    shown_url,
)
from jobs.state import FINAL, list_run_dirs, now_iso, read_spec, read_state
from jobs.status import JobStatus
from jobs.workspace import Workspace

from .runners import procs

log = logging.getLogger("tunedeck.spooler")
POST_TIMEOUT = 5.0
MAX_BACKOFF = 60.0


@dataclass
class Delivery:
    key: str
    url: str
    format: str
    payload: dict
    first_at: float = field(default_factory=time.time)
    next_at: float = 0.0
    tries: int = 0


class Notifier:
    def __init__(self, ws: Workspace, ident: dict, interval: float = 1.0):
        self.ws = ws
        self.ident = ident
        self.interval = interval
        self.stopping = threading.Event()
        self.pending: list[Delivery] = []
        self._seen: dict[str, tuple] = {}       # job id -> (state.json signature, handled)
        self._specs: dict[str, dict] = {}
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(POST_TIMEOUT + 1)

    def _loop(self) -> None:
        resumed = False
        while not self.stopping.is_set():
            try:
                cfg = read_config(self.ws)
                entries, problems = check_entries(cfg.get("notify"))
                if problems:
                    self._warn_once("; ".join(problems))
                if entries:
                    if not resumed:
                        self.resume_pending(cfg)
                        resumed = True
                    self.scan(entries, cfg)
                self.deliver_due(cfg)
            except Exception:  # noqa: BLE001 - the notifier must never take the daemon down
                log.exception("notifications pass failed")
            self.stopping.wait(self.interval)

    _warned = ""

    def _warn_once(self, text: str) -> None:
        if text != self._warned:
            self._warned = text
            log.warning("config.json: %s; notifications are off until it is fixed", text)

    # ------------------------------------------------------------ what to send
    def _since(self) -> str:
        """Jobs that ended before notifications were first configured are never announced."""
        path = notify_dir(self.ws) / "since.json"
        since = (read_json(path) or {}).get("since")
        if not since:
            since = now_iso()
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                with os.fdopen(fd, "w") as fh:
                    json.dump({"since": since}, fh)
            except FileExistsError:
                since = (read_json(path) or {}).get("since") or since
        return since

    def scan(self, entries: list[dict], cfg: dict) -> None:
        since = self._since()
        for d in list_run_dirs(self.ws):
            try:
                s = os.stat(RunDir(d).state)
            except OSError:
                continue
            sig = (s.st_mtime_ns, s.st_size)
            if self._seen.get(d.name) == sig:
                continue
            self._seen[d.name] = sig
            try:
                st = read_state(d) or {}
                self._spec(d)
            except Unreadable:  # the daemon logs it; nothing to announce for this run
                continue
            if st.get("status") not in FINAL or (st.get("finished_at") or "") < since:
                continue
            spec = self._spec(d)
            for e in entries:
                if e["per"] == "group" and group_of(spec):
                    self._group(d, spec, e, cfg)
                elif st["status"] in e["on"]:
                    key = f"{d.name}.{st.get('attempt') or 1}.{st['status']}.{_h(e['url'] + e['format'])}"
                    self._claim(key, e, lambda d=d, st=st, spec=spec, e=e: job_payload(d, st, spec, e["format"], cfg))

    def _spec(self, d: Path) -> dict:
        if d.name not in self._specs:
            self._specs[d.name] = read_spec(d) or {}
        return self._specs[d.name]

    def _group(self, d: Path, spec: dict, e: dict, cfg: dict) -> None:
        g = group_of(spec)
        members = [r for r in list_run_dirs(self.ws) if (group_of(self._spec(r)) or {}).get("id") == g["id"]]
        states = {r.name: read_state(r) or {} for r in members}
        if len(members) < int(g.get("size") or 0) or any(s.get("status") not in FINAL for s in states.values()):
            return  # not the last run yet
        if not any(s.get("status") in e["on"] for s in states.values()):
            return
        ended = ",".join(f"{j}:{s.get('attempt')}:{s.get('status')}" for j, s in sorted(states.items()))
        key = f"group-{g['id']}.{_h(ended)}.{_h(e['url'] + e['format'])}"
        self._claim(key, e, lambda: group_payload(g, members, e["format"], cfg))

    def _claim(self, key: str, e: dict, payload) -> None:
        path = notify_dir(self.ws) / "claims" / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return  # this delivery is already someone's (or done)
        body = payload()
        with os.fdopen(fd, "w") as fh:
            json.dump({"state": "pending", "url": e["url"], "format": e["format"], "payload": body,
                       "claimed_at": now_iso(), **self.ident}, fh)
        self.pending.append(Delivery(key, e["url"], e["format"], body))

    def resume_pending(self, cfg: dict) -> None:
        """Take over deliveries left pending by a daemon that is gone (this one before a restart, or another)."""
        folder = notify_dir(self.ws) / "claims"
        if not folder.is_dir():
            return
        for path in folder.glob("*.json"):
            with FileLock(str(path) + ".lock", timeout=10):
                c = read_json(path) or {}
                if c.get("state") != "pending":
                    continue
                mine = c.get("daemon_pid") == self.ident["daemon_pid"] and \
                    c.get("daemon_create_time") == self.ident["daemon_create_time"]
                if not mine and c.get("daemon_host") == self.ident["daemon_host"] and \
                        procs.alive(c.get("daemon_pid"), c.get("daemon_create_time")):
                    continue  # its daemon still runs and still retries it
                if not mine and c.get("daemon_host") != self.ident["daemon_host"]:
                    continue  # another host's: only that host can tell whether its daemon is alive
                atomic_write_json(path, {**c, **self.ident, "taken_over_at": now_iso()})
            self.pending.append(Delivery(path.stem, c["url"], c["format"], c["payload"], next_at=0.0))
            log.info("notification %s: resuming a delivery left pending", path.stem)

    # ------------------------------------------------------------ sending
    def deliver_due(self, cfg: dict) -> None:
        retry_for = float(cfg.get("notify_retry_seconds") or DEFAULT_RETRY_SECONDS)
        now = time.time()
        for d in [d for d in self.pending if d.next_at <= now]:
            if self.stopping.is_set():
                return
            d.tries += 1
            ok, detail = post(d.url, d.payload)
            append_log(self.ws, {"at": now_iso(), "key": d.key, "target": shown_url(d.url), "format": d.format,
                                 "subject": d.payload.get("_subject"), "try": d.tries, "ok": ok, "detail": detail})
            if ok:
                log.info("notification %s delivered to %s (try %d)", d.key, shown_url(d.url), d.tries)
                self._settle(d, "delivered")
            elif time.time() - d.first_at >= retry_for:
                log.warning("notification %s to %s given up after %d tries: %s", d.key, shown_url(d.url), d.tries,
                            detail)
                self._settle(d, "gave_up")
            else:
                d.next_at = time.time() + min(MAX_BACKOFF, 2.0 ** (d.tries - 1))
                log.warning("notification %s to %s failed (try %d, next in %.0fs): %s", d.key, shown_url(d.url),
                            d.tries, d.next_at - time.time(), detail)

    def _settle(self, d: Delivery, state: str) -> None:
        self.pending.remove(d)
        path = notify_dir(self.ws) / "claims" / f"{d.key}.json"
        with FileLock(str(path) + ".lock", timeout=10):
            c = read_json(path) or {}
            atomic_write_json(path, {**c, "state": state, "settled_at": now_iso(), "tries": d.tries})


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def post(url: str, payload: dict) -> tuple[bool, str]:
    body = {k: v for k, v in payload.items() if not k.startswith("_")}
    req = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "tunedeck-spooler"})
    try:
        with urllib.request.urlopen(req, timeout=POST_TIMEOUT) as resp:  # noqa: S310 - http(s) checked in config
            return 200 <= resp.status < 300, f"HTTP {resp.status}"
    except urllib.error.HTTPError as e:
        return False, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, str(getattr(e, "reason", e))[:200]


# ------------------------------------------------------------ messages
def _duration(seconds) -> str:
    if not seconds:
        return "—"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


def job_payload(d: Path, st: dict, spec: dict, fmt: str, cfg: dict) -> dict:
    row = job_summary(d)
    url = f"{(cfg.get('dashboard_url') or DEFAULT_DASHBOARD_URL).rstrip('/')}/training?id={d.name}"
    if fmt == "slack":
        icon = {JobStatus.SUCCEEDED: ":white_check_mark:", JobStatus.FAILED: ":x:",
                JobStatus.CANCELLED: ":no_entry_sign:"}[st["status"]]
        bits = [f"{icon} Tunedeck job *{row['name']}* {st['status']} after {_duration(row['duration_seconds'])}"]
        if headline_text(row):
            bits.append(headline_text(row))
        if st["status"] == JobStatus.FAILED and st.get("error"):
            bits.append(str(st["error"])[:200])
        return {"text": " · ".join(bits) + f" · <{url}|details>", "_subject": d.name}
    summary = contract.read_or_none(RunDir(d).summary) or {}
    return {"event": f"job.{st['status']}", "job_id": d.name, "name": row["name"], "status": st["status"],
            "duration_seconds": row["duration_seconds"], "headline": headline_text(row) or None, "url": url,
            "group": (group_of(spec) or {}).get("id"), "state": st, "summary": summary, "_subject": d.name}


def group_payload(g: dict, members: list[Path], fmt: str, cfg: dict) -> dict:
    rows = [job_summary(m) for m in members]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    best = best_run(rows)
    url = f"{(cfg.get('dashboard_url') or DEFAULT_DASHBOARD_URL).rstrip('/')}/compare?group={g['id']}"
    done = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    if fmt == "slack":
        text = f":bar_chart: Tunedeck sweep *{g.get('name')}* finished: {done}"
        if best:
            text += f" · best {best['name']} ({headline_text(best)})"
        return {"text": text + f" · <{url}|compare>", "_subject": f"group {g['id']}"}
    return {"event": "group.finished", "group": g["id"], "name": g.get("name"), "counts": counts,
            "best": best and {"job_id": best["job_id"], "name": best["name"], "final_loss": best["final_loss"],
                              "headline": headline_text(best)},
            "runs": [{"job_id": r["job_id"], "name": r["name"], "status": r["status"], "final_loss": r["final_loss"]}
                     for r in rows], "url": url, "_subject": f"group {g['id']}"}
