"""Server-side render time of dashboard pages (Streamlit AppTest: the script run, no browser).

python bench/dashboard_render.py
  trainings_500_jobs      the Trainings page with 500 jobs
  evaluation_100k_rows    a Training details page whose metrics.csv has 100k rows
  compare_10x100k         the Compare page with 10 jobs of 100k metric rows each
Each is timed cold (first run, empty caches) and warm (median of 3 reruns, as the live refresh sees it).
"""
import csv
import json
import os
import random
import statistics
import time

from common import REPO, cleanup, fresh_workspace

from jobs.atomic import atomic_write_json
from jobs.spec import validate
from jobs.state import create_run, new_job_id, update_state
from jobs.status import JobStatus


def make_job(ws, i: int, rows: int = 0) -> str:
    raw = {"name": f"job-{i}", "method": ["sft", "dpo", "grpo"][i % 3], "base_model": "tiny-demo",
           "dataset": ["demo-instruct", "demo-prefs", "demo-math"][i % 3],
           "params": {"learning_rate": 1e-4 * (1 + i % 7), "max_steps": max(rows, 10)}}
    v = validate(raw, ws)
    job = new_job_id()
    create_run(ws, job, v.spec)
    run_dir = ws.run(job)
    update_state(run_dir, status=random.choice(list(JobStatus)),
                 started_at="2026-11-28T05:00:00+00:00")
    atomic_write_json(run_dir.progress, {"step": 5, "total_steps": 10, "percent": 50, "eta_seconds": 3})
    atomic_write_json(run_dir.summary, {"final_loss": 1.0 / (i + 1), "total_steps": 10})
    if rows:
        rng = random.Random(i)
        with open(run_dir.metrics, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "elapsed_seconds",
                        "eval_loss", "reward", "kl"])
            for s in range(1, rows + 1):
                w.writerow([s, s / rows, 3 / (1 + s / 1000) + rng.random() * 0.1, 1e-4, 1 + rng.random(), 5000,
                            s * 0.05, (2.5 if s % 500 == 0 else ""), rng.random(), rng.random() * 0.01])
    return job


def timed(page: str, **query) -> tuple[float, float]:
    from streamlit.runtime.caching import cache_data
    from streamlit.testing.v1 import AppTest
    cache_data.clear()
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
    if page != "trainings":  # the first run always renders the default page
        at.run()
        for k, v in query.items():
            at.query_params[k] = v
        at.switch_page(f"views/{page}.py")
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
    return round(cold, 3), round(statistics.median(warm), 3)


def main() -> None:
    ws = fresh_workspace()
    os.environ["TUNEDECK_HOME"] = str(ws.home)
    try:
        for i in range(500):
            make_job(ws, i)
        out = {}
        out["trainings_500_jobs"] = dict(zip(("cold_s", "warm_s"), timed("trainings"), strict=False))
        big = [make_job(ws, 1000 + i, rows=100_000) for i in range(10)]
        out["evaluation_100k_rows"] = dict(zip(("cold_s", "warm_s"), timed("details", id=big[0]), strict=False))
        out["compare_10x100k"] = dict(zip(("cold_s", "warm_s"), timed("compare", jobs=",".join(big)), strict=False))
        print(json.dumps(out, indent=2))
    finally:
        cleanup(ws)


if __name__ == "__main__":
    main()
