"""A benchmark request on a slot (`python -m spooler benchmark JOB_ID --suite NAME`): scheduled like an export by
the try/export scheduler (spooler/try_jobs.py), run as `python -m trainer.benchmarks RUN_DIR --request ID`.

runs/<job_id>/benchmark/status.json holds the request (suites, limit), then its status: waiting (submitted),
scoring (on a slot; the worker adds its pid), done or failed (written by the worker; by the spooler when the worker
stopped without a result). The results merge into the run's evaluation.json (trainer/benchmarks.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

from jobs import benchmarks_requests as br
from jobs.state import now_iso
from jobs.use import requests as rq
from jobs.workspace import Workspace

KIND = br.BENCH_KIND


def state(ws: Workspace, job_id: str) -> dict:
    return br.benchmark_state(ws.run_dir(job_id))


def start(ws: Workspace, ptr: dict, slot: int, gpu, host: str) -> tuple[list[str], Path] | None:
    """Claim the request and mark it scoring; (the worker's argv, its log file), or None when it is not ours to run
    (another daemon claimed it, or its status.json does not hold a request that can be run: then it is failed)."""
    run_dir = ws.run_dir(ptr["job_id"])
    if not rq.claim(ws, ptr["request_id"]):
        return None
    st = br.benchmark_state(run_dir)
    try:
        if st.get("request_id") != ptr["request_id"]:
            raise br.RequestError(f"benchmark/status.json holds request {st.get('request_id')!r}, not "
                                  f"{ptr['request_id']!r}; submit it again")
        suites = br.check_suites(ws, st.get("suites"))  # checked again: the file may have been edited by hand
        limit = br.check_limit(st.get("limit"))
    except br.RequestError as e:
        fail(ws, ptr["job_id"], ptr["request_id"], str(e))
        return None
    br.write_benchmark_state(run_dir, status=br.BenchStatus.SCORING.value, started_at=now_iso(), slot=slot, gpu=gpu,
                             host=host)
    argv = [sys.executable, "-m", "trainer.benchmarks", str(run_dir), "--request", ptr["request_id"]]
    for s in suites:
        argv += ["--suite", s]
    if limit:
        argv += ["--limit", str(limit)]
    return argv, br.bench_dir(run_dir) / br.BENCH_LOG


def fail(ws: Workspace, job_id: str, request_id: str | None, error: str) -> None:
    br.write_benchmark_state(ws.run_dir(job_id), status=br.BenchStatus.FAILED.value, error=error,
                             finished_at=now_iso())
    if request_id:
        rq.close(ws, request_id)


def settle(ws: Workspace, job_id: str, request_id: str | None, code) -> str:
    """The worker has exited: a request it left unfinished is failed (with where to look); the pointer is closed.
    Returns the final status."""
    st = state(ws, job_id)
    if st.get("status") not in br.FINAL_BENCH:
        fail(ws, job_id, request_id, f"the benchmark worker stopped without a result (exit code {code}); see "
                                     f"runs/{job_id}/{br.BENCH_DIR}/{br.BENCH_LOG}")
    elif request_id:
        rq.close(ws, request_id)
    return state(ws, job_id).get("status")


def interrupted(ws: Workspace, job_id: str, request_id: str | None) -> None:
    """After a spooler restart, the worker is gone: a request it did not finish is failed; the pointer is closed."""
    if state(ws, job_id).get("status") not in br.FINAL_BENCH:
        fail(ws, job_id, request_id, "interrupted: the spooler stopped while the benchmarks were scored; the suites "
                                     "already scored are kept; run the others again")
    elif request_id:
        rq.close(ws, request_id)
