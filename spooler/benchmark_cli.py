"""`python -m spooler benchmark JOB_ID [JOB_ID ...] --suite NAME [--suite NAME ...]`: queue benchmark suites on
finished runs; the spooler scores them on a slot, as it runs an export, and merges them into each evaluation.json.
`python -m spooler benchmark JOB_ID ... --cancel` takes back requests that no slot has taken yet."""
from __future__ import annotations

import argparse
import sys
import time

from jobs import benchmarks
from jobs import benchmarks_requests as br
from jobs.atomic import read_json
from jobs.evaluation import EVALUATION_FILE
from jobs.state import spooler_alive
from jobs.team.auth import os_user
from jobs.team.guard import Refused, authorize
from jobs.workspace import Workspace


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    p.add_argument("--suite", action="append", metavar="NAME",
                   help="a workspace benchmark (python -m jobs benchmark list) or an lm-eval task or group name; "
                        "repeat for more")
    p.add_argument("--limit", type=int, default=None,
                   help="rows per task scored on each model (default: the run's benchmark_limit)")
    p.add_argument("--wait", action="store_true", help="wait for the scores and print them")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait with --wait")
    p.add_argument("--cancel", action="store_true",
                   help="take back the runs' waiting benchmark requests (one already scoring runs to its end)")


def cmd_cancel(ws: Workspace, job_ids: list[str]) -> int:
    code = 0
    for job_id in job_ids:
        try:
            br.existing_run(ws, job_id)
            authorize(ws, os_user(), "cli", "benchmark", job_id, note=br.CANCEL_NOTE)  # as queueing; audited
            print(br.cancel_benchmark(ws, job_id))
        except (Refused, br.RequestError) as e:
            print(f"error: {e}", file=sys.stderr)
            code = 1
    return code


def cmd_benchmark(ws: Workspace, args: argparse.Namespace) -> int:
    job_ids = list(dict.fromkeys(args.job_ids))
    if args.cancel:
        if args.suite:
            print("error: --cancel takes no --suite (it cancels the run's waiting request)", file=sys.stderr)
            return 2
        return cmd_cancel(ws, job_ids)
    if not args.suite:
        print("error: --suite: name at least one suite to score (python -m jobs benchmark list)", file=sys.stderr)
        return 2
    try:
        suites = br.check_suites(ws, args.suite)
        br.check_limit(args.limit)
    except br.RequestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    problems = []
    for job_id in job_ids:  # every run is checked before any is queued: all or none
        why = br.benchmark_problem(ws, job_id)
        if why:
            problems.append(why)
            continue
        try:
            authorize(ws, os_user(), "cli", "benchmark", job_id)  # the owner or an admin (with auth on); audited
        except Refused as e:
            problems.append(f"{job_id}: {e}")
    if problems:
        for p in problems:  # one line per refused run, each saying that nothing was queued
            print(f"error: {p}; nothing was queued", file=sys.stderr)
        return 1
    for s in suites:
        if not benchmarks.is_workspace_suite(ws, s):
            print(f"note: {s!r} is not a workspace benchmark; it runs as an lm-eval task, whose data must come from "
                  "a reachable hub or the local HF datasets cache", file=sys.stderr)
    for job_id in job_ids:
        try:
            rid = br.submit_benchmark(ws, job_id, suites, args.limit)
        except br.RequestError as e:  # e.g. queued from the page meanwhile
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{job_id}: benchmarks queued (request {rid}): {', '.join(suites)}; the scores go into "
              f"{ws.run_dir(job_id) / EVALUATION_FILE}")
    if not spooler_alive(ws):
        print("note: the spooler is not running; the requests wait until it starts (python -m spooler)",
              file=sys.stderr)
    return _wait(ws, job_ids, suites, args.timeout) if args.wait else 0


def _wait(ws: Workspace, job_ids: list[str], suites: list[str], timeout: float) -> int:
    end, left, code = time.time() + timeout, list(job_ids), 0
    while left and time.time() < end:
        for job_id in list(left):
            run_dir = ws.run_dir(job_id)
            st = br.benchmark_state(run_dir)
            if st.get("status") not in br.FINAL_BENCH:
                continue
            left.remove(job_id)
            ev = read_json(run_dir / EVALUATION_FILE, {}) or {}
            for suite, metrics in benchmarks.read_results(ev).items():
                if suite in suites and suite in (st.get("scored") or []):
                    for m, e in metrics.items():
                        print(f"{job_id} {suite} {m}: base {e.get('base')} → tuned {e.get('tuned')} "
                              f"(± {e.get('stderr')})")
            if st["status"] == br.BenchStatus.CANCELLED.value:
                print(f"error: {job_id}: its benchmark request was cancelled", file=sys.stderr)
                code = 1
            if st["status"] == br.BenchStatus.FAILED.value:
                print(f"error: {job_id}: {st.get('error') or st['status']}", file=sys.stderr)
                code = 1
        time.sleep(0.5)
    if left:
        print(f"error: not scored within {timeout:g}s: {', '.join(left)} (they stay queued)", file=sys.stderr)
        return 1
    return code
