"""Benchmarks on a finished run, queued (`python -m spooler benchmark JOB_ID --suite NAME`, the details page's
button): a request pointer of kind "benchmark" in spool/requests/, scheduled on a slot as an export is
(jobs.use.requests: the pointer, claim and close; spooler/runners/benchmark_request.py: the launch), and answered by
`python -m trainer.benchmarks RUN_DIR --request ID`, which merges the scores into the run's evaluation.json.

    runs/<job_id>/benchmark/status.json    the request (suites, limit), then its status: waiting, scoring, done, failed
    runs/<job_id>/benchmark/benchmark.log  the worker's output
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path

from jobs.state import new_job_id, now_iso, read_spec, read_state
from jobs.use.requests import RequestError, _point, answerable, claim, close, existing_run, read_status, write_status
from jobs.workspace import Workspace


class BenchStatus(str, Enum):
    WAITING = "waiting"
    SCORING = "scoring"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"   # taken back before a slot picked it up (`spooler benchmark --cancel`, the page)


FINAL_BENCH = (BenchStatus.DONE.value, BenchStatus.FAILED.value, BenchStatus.CANCELLED.value)
BENCH_DIR = "benchmark"       # runs/<job_id>/benchmark/: status.json (the request, then its status), benchmark.log
BENCH_STATUS = "status.json"
BENCH_LOG = "benchmark.log"
BENCH_KIND = "benchmark"      # a request pointer's kind: suites scored on a finished run, on a slot like an export
MAX_BENCH_SUITES = 20         # suites in one benchmark request
CANCEL_NOTE = "cancel"        # the audit detail of a cancelled request: it is checked and audited as `benchmark`


def bench_dir(run_dir: Path) -> Path:
    return Path(run_dir) / BENCH_DIR


def benchmark_state(run_dir: Path) -> dict:
    return read_status(bench_dir(run_dir) / BENCH_STATUS)


def write_benchmark_state(run_dir: Path, reset: bool = False, **fields) -> dict:
    return write_status(bench_dir(run_dir) / BENCH_STATUS, reset, **fields)


def benchmark_open(run_dir: Path) -> bool:
    """A benchmark request of this run is waiting or scoring (its results are not all in evaluation.json yet)."""
    return benchmark_state(run_dir).get("status") in (BenchStatus.WAITING.value, BenchStatus.SCORING.value)


def check_suites(ws: Workspace, suites) -> list[str]:
    """The suites of a benchmark request, each once: a workspace benchmark (jobs.benchmarks.list_suites) or the name
    of an lm-eval task or group. RequestError naming the value and what is allowed otherwise. (Whether lm-eval knows
    a name is checked when the request runs: its task index takes minutes to build on a busy machine.)"""
    from jobs import benchmarks
    if isinstance(suites, str):
        suites = [suites]
    registered = [s.name for s in benchmarks.list_suites(ws)]
    allowed = (f"a workspace benchmark ({', '.join(registered)})" if registered
               else "a workspace benchmark (none registered: python -m jobs benchmark add)") + \
        " or an lm-eval task or group name (gsm8k, mmlu, arc_easy, ...: letters, digits, '_', '-' and '.')"
    if not isinstance(suites, (list, tuple)) or not suites:
        raise RequestError(f"suites: name at least one suite (got none); allowed: {allowed}")
    out = []
    for s in suites:
        if not isinstance(s, str) or not benchmarks.SUITE_RE.fullmatch(s):
            raise RequestError(f"suite {str(s)[:80]!r} is not allowed: {allowed}")
        if s not in out:
            out.append(s)
    if len(out) > MAX_BENCH_SUITES:
        raise RequestError(f"suites: at most {MAX_BENCH_SUITES} in one request (got {len(out)})")
    return out


def check_limit(limit) -> int | None:
    from jobs.params import COMMON_PARAMS, P
    p = next(p for p in COMMON_PARAMS if p.name == P.benchmark_limit)
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not p.min <= limit <= p.max:
        raise RequestError(f"limit: must be an integer from {p.min} to {p.max:,} rows per task (got {limit!r})")
    return limit


def benchmark_problem(ws: Workspace, job_id: str) -> str | None:
    """Why the run cannot be benchmarked now (not a finished run with a trained result, one already under way,
    its base model gone), or None."""
    spec, why = answerable(ws, job_id)
    if why:
        return why.replace("can answer", "can be benchmarked")
    run_dir = ws.run_dir(job_id)
    from jobs.status import ACTIVE
    status = (read_state(run_dir) or {}).get("status")
    if status in ACTIVE:
        return f"job {job_id} is {status}; benchmarks run on finished runs (its own `benchmarks` param scores " \
               "suites after training)"
    cur = benchmark_state(run_dir)
    if benchmark_open(run_dir):
        return f"job {job_id}: a benchmark request is already {cur['status']} ({', '.join(cur.get('suites') or [])})"
    from jobs.models.registry import list_models
    base = list_models(ws).get(spec.get("base_model"))
    if base is None or not Path(base).is_dir():
        return f"job {job_id}: its base model {spec.get('base_model')!r} is not registered any more"
    return None


def submit_benchmark(ws: Workspace, job_id: str, suites, limit: int | None = None) -> str:
    """Queue suites scored on a finished run's base and tuned model (`python -m trainer.benchmarks`, on a slot like
    an export); the results merge into its evaluation.json. The suites and limit are kept in benchmark/status.json,
    which the worker reads; returns the request id."""
    suites = check_suites(ws, suites)
    limit = check_limit(limit)
    why = benchmark_problem(ws, job_id)
    if why:
        raise RequestError(why)
    spec = read_spec(ws.run_dir(job_id)) or {}
    limit = limit or (spec.get("params") or {}).get("benchmark_limit") or None
    req = {"request_id": new_job_id(), "kind": BENCH_KIND, "job_id": job_id, "base_model": spec.get("base_model"),
           "created_at": now_iso()}
    write_benchmark_state(ws.run_dir(job_id), reset=True, status=BenchStatus.WAITING.value,
                          request_id=req["request_id"], requested_at=req["created_at"], suites=suites, limit=limit)
    _point(ws, req)
    return req["request_id"]


def cancel_benchmark(ws: Workspace, job_id: str) -> str:
    """Take back a run's waiting benchmark request: its pointer is claimed here, so no slot can start it (the
    rename decides a race with the spooler). One that is already scoring runs to its end. RequestError when there
    is nothing to cancel; returns what happened, in one line."""
    run_dir = existing_run(ws, job_id)
    cur = benchmark_state(run_dir)
    status, rid = cur.get("status"), cur.get("request_id")
    if status == BenchStatus.SCORING.value:
        raise RequestError(f"job {job_id}: its benchmarks are already scoring ({', '.join(cur.get('suites') or [])})"
                           "; they run to the end and cannot be cancelled")
    if status != BenchStatus.WAITING.value or not isinstance(rid, str):
        raise RequestError(f"job {job_id}: no benchmark request is waiting (it is {status or 'not requested'}); "
                           "nothing to cancel")
    if not claim(ws, rid):
        raise RequestError(f"job {job_id}: a slot has just taken its benchmark request; it runs to the end")
    write_benchmark_state(run_dir, status=BenchStatus.CANCELLED.value, finished_at=now_iso(),
                          error="cancelled before a slot took it")
    close(ws, rid)
    return f"{job_id}: benchmark request {rid} cancelled ({', '.join(cur.get('suites') or [])})"
