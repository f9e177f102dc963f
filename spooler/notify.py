"""Notifications: POST once when a job (or a whole sweep) reaches a terminal state, on a background thread; and,
to targets that list `regressed`, once when a finished run's benchmarks show a drop (the forgetting alarm's rule),
after its training or after a queued benchmark request (`python -m spooler benchmark`) has scored all its suites.

Every delivery is first claimed by linking notify/claims/<key>.json into place, complete with its message (so it
exists whole or not at all), the key naming the job, its attempt, the state and the target. So a restart, or a second
daemon on the same workspace, never sends it again, and a crash never leaves one that cannot be sent. A failing target
is retried with backoff for a bounded time (`notify_retry_seconds`); a claim left pending by a daemon that died is
taken over, under a lock, by the next one, unless its target was removed from config.json (then it is dropped). Each
POST has a total deadline and runs in its own thread, one at a time per target: a slow target delays nobody else.
Scheduling never waits for any of this.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from filelock import FileLock

from jobs import contract
from jobs.atomic import atomic_write_json, read_json
from jobs.benchmarks_requests import BENCH_DIR, BENCH_STATUS, benchmark_open
from jobs.contract import Unreadable
from jobs.evaluation import EVALUATION_FILE, read_evaluation
from jobs.metrics import S
from jobs.queue.overview import forgotten, job_summary
from jobs.queue.sweep import group_of
from jobs.ranking import best_run, headline_text
from jobs.rundir import RunDir
from jobs.settings.notify_config import (
    DEFAULT_DASHBOARD_URL,
    REGRESSED,
    NotifyConfig,
    append_log,
    load_config,
    notify_dir,
    scrub,
    shown_url,
)
from jobs.state import FINAL, list_run_dirs, now_iso, read_spec, read_state
from jobs.status import JobStatus
from jobs.workspace import Workspace

from .runners import procs

log = logging.getLogger("tunedeck.spooler")
POST_DEADLINE = 10.0   # seconds one POST may take in all (connect, send, the whole answer), however the target trickles
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
    result: tuple | None = None          # (ok, detail) once its POST in flight has returned
    sending: threading.Thread | None = None


class Notifier:
    """Finds what to announce, claims it, and POSTs it. Each POST runs in a thread of its own with a total deadline,
    at most one at a time per target, so one slow or dead target never holds up another, nor scheduling."""

    def __init__(self, ws: Workspace, ident: dict, interval: float = 1.0):
        self.ws = ws
        self.ident = ident
        self.interval = interval
        self.stopping = threading.Event()
        self.pending: list[Delivery] = []
        self._seen: dict[str, tuple] = {}       # job id -> (state.json signature, handled)
        self._specs: dict[str, dict] = {}
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self._failed_build: set[str] = set()

    # ------------------------------------------------------------ thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(self.interval + 2)

    def _loop(self) -> None:
        resumed = False
        while not self.stopping.is_set():
            try:
                cfg = load_config(self.ws)
                self._report(cfg.problems)
                if cfg.parse_error is None:
                    if not resumed:
                        self.resume_pending(cfg)
                        resumed = True
                    self.drop_removed(cfg)
                    if cfg.entries:
                        self.scan(cfg.entries, cfg)
                self.deliver_due(cfg)
            except Exception:  # noqa: BLE001 - the notifier must never take the daemon down
                log.exception("notifications pass failed")
            self.stopping.wait(self.interval)

    def _report(self, problems: list[str]) -> None:
        """One log line per problem of config.json, when it first appears (Settings shows them all the time)."""
        for p in problems:
            if p not in self._warned:
                log.warning("config.json: %s", p)
        if problems and not set(problems) <= self._warned:
            log.warning("notifications: %d problem(s) in config.json; entries with a problem are not used until "
                        "fixed (see Settings)", len(problems))
        self._warned = set(problems)

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

    def scan(self, entries: list[dict], cfg: NotifyConfig) -> None:
        since = self._since()
        links = {"dashboard_url": cfg.dashboard_url}
        for d in list_run_dirs(self.ws):
            sig = _signature(d)
            if sig[0] is None:
                continue
            if self._seen.get(d.name) == sig:
                continue
            self._seen[d.name] = sig
            try:
                st = read_state(d) or {}
                self._spec(d)
            except Unreadable:  # the daemon logs it; nothing to announce for this run
                continue
            if st.get("status") not in FINAL:
                continue
            spec = self._spec(d)
            built = True
            ended_since = (st.get("finished_at") or "") >= since
            for e in entries:
                if REGRESSED in e["on"]:
                    built = self._regressed(d, st, spec, e, links, since) and built
                if not ended_since:
                    continue
                if e["per"] == "group" and group_of(spec):
                    done = self._group(d, spec, e, links)
                elif st["status"] in e["on"]:
                    key = f"{d.name}.{st.get('attempt') or 1}.{st['status']}.{_h(e['url'] + e['format'])}"
                    done = self._claim(key, e, lambda d=d, st=st, spec=spec, e=e: job_payload(
                        d, st, spec, e["format"], links))
                else:
                    done = True
                built = built and done
            if not built:
                self._seen.pop(d.name, None)  # a message could not be built: the next pass tries again

    def _regressed(self, d: Path, st: dict, spec: dict, e: dict, links: dict, since: str) -> bool:
        """One message per run (and attempt) and set of suites that dropped, once no benchmark request of the run
        is still scoring; runs whose evaluation was written before notifications were configured are not told."""
        if benchmark_open(d):
            return True  # its status.json changes when the request ends: looked at again then
        try:
            written = datetime.fromtimestamp(os.stat(d / EVALUATION_FILE).st_mtime, UTC).isoformat(
                timespec="milliseconds")
        except OSError:
            return True
        if max(written, st.get("finished_at") or "") < since:
            return True
        hits = forgotten(RunDir(d), read_evaluation(d))
        if not hits:
            return True
        suites = ",".join(sorted({str(h["suite"]) for h in hits}))
        key = f"{d.name}.{st.get('attempt') or 1}.{REGRESSED}.{_h(suites)}.{_h(e['url'] + e['format'])}"
        return self._claim(key, e, lambda: regressed_payload(d, st, spec, hits, e["format"], links))

    def _spec(self, d: Path) -> dict:
        if d.name not in self._specs:
            self._specs[d.name] = read_spec(d) or {}
        return self._specs[d.name]

    def _group(self, d: Path, spec: dict, e: dict, links: dict) -> bool:
        g = group_of(spec)
        members = [r for r in list_run_dirs(self.ws) if (group_of(self._spec(r)) or {}).get("id") == g["id"]]
        states = {r.name: read_state(r) or {} for r in members}
        if len(members) < int(g.get("size") or 0) or any(s.get("status") not in FINAL for s in states.values()):
            return True  # not the last run yet
        if not any(s.get("status") in e["on"] for s in states.values()):
            return True
        ended = ",".join(f"{j}:{s.get('attempt')}:{s.get('status')}" for j, s in sorted(states.items()))
        key = f"group-{g['id']}.{_h(ended)}.{_h(e['url'] + e['format'])}"
        return self._claim(key, e, lambda: group_payload(g, members, e["format"], links))

    def _claim(self, key: str, e: dict, payload) -> bool:
        """Build the message, then claim the delivery with a claim file that already holds it (linked into place,
        so it exists complete or not at all): a crash at any point leaves either nothing (the scan after a restart
        claims it again) or a claim that can be sent. False when the message could not be built."""
        path = notify_dir(self.ws) / "claims" / f"{key}.json"
        if path.exists():
            return True  # this delivery is already someone's (or done)
        try:
            body = payload()
        except Exception as ex:  # noqa: BLE001 - e.g. a summary that cannot be read yet: tried again next pass
            if key not in self._failed_build:
                self._failed_build.add(key)
                log.warning("notification %s: the message could not be built (%s: %s); trying again",
                            key, type(ex).__name__, ex)
            return False
        self._failed_build.discard(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        claim = {"state": "pending", "url": e["url"], "format": e["format"], "payload": body,
                 "claimed_at": now_iso(), **self.ident}
        tmp = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        atomic_write_json(tmp, claim)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return True  # another daemon claimed it first
        finally:
            tmp.unlink(missing_ok=True)
        self.pending.append(Delivery(key, e["url"], e["format"], body))
        return True

    def resume_pending(self, cfg: NotifyConfig) -> None:
        """Take over deliveries left pending by a daemon that is gone (this one before a restart, or another).
        A claim for a target no longer in config.json is dropped; an empty or broken claim (left by a crash
        while an older version made it) is removed, so the scan claims that delivery again."""
        folder = notify_dir(self.ws) / "claims"
        if not folder.is_dir():
            return
        for path in folder.glob("*.json"):
            with FileLock(str(path) + ".lock", timeout=10):
                c = read_json(path)
                if not isinstance(c, dict) or not all(k in c for k in ("url", "format", "payload")):
                    path.unlink(missing_ok=True)
                    log.warning("notification %s: its claim was empty or broken (a crash while it was made); "
                                "removed, so it is claimed and sent again", path.stem)
                    continue
                if c.get("state") != "pending":
                    continue
                mine = c.get("daemon_pid") == self.ident["daemon_pid"] and \
                    c.get("daemon_create_time") == self.ident["daemon_create_time"]
                if not mine and not self._gone(c):
                    continue
                if c["url"] not in cfg.urls:
                    atomic_write_json(path, {**c, "state": "dropped", "settled_at": now_iso(),
                                             "reason": "target removed from config.json"})
                    log.warning("notification %s: its target %s was removed from config.json; dropped",
                                path.stem, shown_url(c["url"]))
                    continue
                atomic_write_json(path, {**c, **self.ident, "taken_over_at": now_iso()})
            if not any(d.key == path.stem for d in self.pending):
                self.pending.append(Delivery(path.stem, c["url"], c["format"], c["payload"], next_at=0.0))
                log.info("notification %s: resuming a delivery left pending", path.stem)

    def _gone(self, c: dict) -> bool:
        """Whether the daemon that holds a claim is known to be gone (only this host can tell for its own)."""
        if c.get("daemon_host") != self.ident["daemon_host"]:
            return False
        return not procs.alive(c.get("daemon_pid"), c.get("daemon_create_time"))

    def drop_removed(self, cfg: NotifyConfig) -> None:
        """Pending deliveries whose target is no longer in config.json: dropped, and logged."""
        for d in [d for d in self.pending if d.url not in cfg.urls and d.sending is None]:
            log.warning("notification %s: its target %s was removed from config.json; dropped", d.key,
                        shown_url(d.url))
            self._settle(d, "dropped")

    # ------------------------------------------------------------ sending
    def deliver_due(self, cfg: NotifyConfig) -> None:
        """Record the POSTs that returned, then start the due ones: one thread per POST, one POST per target."""
        for d in [d for d in self.pending if d.result is not None]:
            ok, detail = d.result
            d.result, d.sending = None, None
            self._record(d, ok, scrub(detail, d.url), cfg.retry_seconds)
        busy = {d.url for d in self.pending if d.sending is not None}
        now = time.time()
        for d in self.pending:
            if self.stopping.is_set():
                return
            if d.sending is not None or d.next_at > now or d.url in busy:
                continue
            busy.add(d.url)
            d.tries += 1
            d.sending = threading.Thread(target=self._send, args=(d,), name="notify-post", daemon=True)
            d.sending.start()

    @staticmethod
    def _send(d: Delivery) -> None:
        try:
            d.result = post(d.url, d.payload)
        except Exception as e:  # noqa: BLE001 - recorded as a failed try
            d.result = (False, f"{type(e).__name__}: {e}")

    def _record(self, d: Delivery, ok: bool, detail: str, retry_for: float) -> None:
        append_log(self.ws, {"at": now_iso(), "key": d.key, "target": shown_url(d.url), "format": d.format,
                             "subject": d.payload.get("_subject"), "try": d.tries, "ok": ok, "detail": detail})
        if ok:
            log.info("notification %s delivered to %s (try %d)", d.key, shown_url(d.url), d.tries)
            self._settle(d, "delivered")
        elif time.time() - d.first_at >= retry_for:
            log.warning("notification %s to %s given up after %d tries: %s", d.key, shown_url(d.url), d.tries, detail)
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


def _signature(d: Path) -> tuple:
    """state.json, evaluation.json and a benchmark request's status.json as (mtime, size), None when absent: a run
    is looked at again when any of them changes (on-demand benchmarks change the last two only)."""
    out = []
    for f in (RunDir(d).state, d / EVALUATION_FILE, d / BENCH_DIR / BENCH_STATUS):
        try:
            s = os.stat(f)
            out.append((s.st_mtime_ns, s.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def post(url: str, payload: dict, deadline: float = POST_DEADLINE) -> tuple[bool, str]:
    """POST the payload as JSON; (delivered, what happened). The whole exchange gets `deadline` seconds: a timer
    shuts the socket when it runs out, so a target that trickles its answer a byte at a time cannot hold it.
    Redirects are not followed (a 3xx is a failure), and user info in the URL is sent as basic auth."""
    body = json.dumps({k: v for k, v in payload.items() if not k.startswith("_")}, ensure_ascii=False).encode()
    try:
        p = urlsplit(url)
        port = p.port
    except ValueError as e:
        return False, f"not a valid address: {e}"
    if p.scheme not in ("http", "https") or not p.hostname:
        return False, "not an http:// or https:// address"
    headers = {"Content-Type": "application/json", "User-Agent": "tunedeck-spooler"}
    if p.username is not None:
        cred = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
    cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
    conn = cls(p.hostname, port, timeout=deadline)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    timer = threading.Timer(deadline, cut)
    timer.daemon = True
    timer.start()
    try:
        conn.request("POST", (p.path or "/") + (f"?{p.query}" if p.query else ""), body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(1 << 16)
        if 300 <= resp.status < 400:
            where = resp.getheader("Location") or "?"
            return False, (f"HTTP {resp.status}: a redirect (to {shown_url(where) if '://' in where else '…'}) is "
                           "not followed; put the final address in config.json")
        return 200 <= resp.status < 300, f"HTTP {resp.status}"
    except (OSError, http.client.HTTPException, ValueError) as e:
        if expired.is_set():
            return False, f"no complete answer within {deadline:g} s"
        return False, str(getattr(e, "reason", None) or e or type(e).__name__)[:200]
    finally:
        timer.cancel()
        conn.close()


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
        owner = f" ({spec['owner']})" if spec.get("owner") else ""
        bits = [f"{icon} Tunedeck job *{row['name']}*{owner} {st['status']} after {_duration(row['duration_seconds'])}"]
        if headline_text(row):
            bits.append(headline_text(row))
        if st["status"] == JobStatus.FAILED and st.get("error"):
            bits.append(str(st["error"])[:200])
        return {"text": " · ".join(bits) + f" · <{url}|details>", "_subject": d.name}
    summary = contract.read_or_none(RunDir(d).summary) or {}
    return {"event": f"job.{st['status']}", "job_id": d.name, "name": row["name"], "owner": spec.get("owner"),
            "status": st["status"], "duration_seconds": row["duration_seconds"], "headline": headline_text(row) or None, "url": url,
            "group": (group_of(spec) or {}).get("id"), "state": st, "summary": summary, "_subject": d.name}


def regressed_payload(d: Path, st: dict, spec: dict, hits: list[dict], fmt: str, cfg: dict) -> dict:
    """The forgetting alarm of one run: each suite and metric that dropped, from what to what, largest drop first."""
    url = f"{(cfg.get('dashboard_url') or DEFAULT_DASHBOARD_URL).rstrip('/')}/training?id={d.name}"
    name = spec.get("name") or d.name
    drops = [f"{h['suite']} {h['metric']} {h['base']:.4g} → {h['tuned']:.4g} (−{h['drop']:.4g})" for h in hits]
    if fmt == "slack":
        owner = f" ({spec['owner']})" if spec.get("owner") else ""
        return {"text": f":warning: Tunedeck job *{name}*{owner} regressed on benchmarks: " + "; ".join(drops)
                        + f" · <{url}|details>", "_subject": d.name}
    return {"event": f"job.{REGRESSED}", "job_id": d.name, "name": name, "owner": spec.get("owner"),
            "status": st.get("status"), "regressed": hits, "text": "; ".join(drops), "url": url, "_subject": d.name}


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
            "owner": rows[0].get("owner") if rows else None,  # a sweep belongs to its submitter
            "best": best and {"job_id": best["job_id"], "name": best["name"], S.final_loss: best[S.final_loss],
                              "headline": headline_text(best)},
            "runs": [{"job_id": r["job_id"], "name": r["name"], "status": r["status"], S.final_loss: r[S.final_loss]}
                     for r in rows], "url": url, "_subject": f"group {g['id']}"}
