"""Try it against queued trainings: how long a training waits behind a stream of Try it prompts, with the scheduling
rule of an older commit ("before") and of this checkout ("after"), measured side by side in one run.

python bench/try_vs_training.py [--prompts 200] [--max-new-tokens 16] [--model tiny-demo] [--before 28a771c]

One workspace with one trained run (real trainer, 2 steps). Each round starts the spooler of one code tree (one
slot, --stop-jobs), queues --prompts Try it prompts (base model + the run), waits until the warm worker has answered
the first (it is busy from then on), drops 2 trainings (the fake trainer: the start is what is measured), and times
from the drop until the first training runs; it also counts the prompts answered by then. The "before" tree is
`git archive` of --before (spooler/, jobs/, trainer/ and the fake trainer) in a temporary folder.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, cleanup, fresh_workspace

from jobs.spec import validate
from jobs.state import create_run, new_job_id, read_state
from jobs.status import JobStatus
from jobs.use import requests as rq


def wait(cond, timeout=1800.0, step=0.02):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(step)
    raise SystemExit("timed out")


def old_tree(ref: str, git: Path) -> Path:
    dest = Path(tempfile.mkdtemp(prefix="tunedeck-before-"))
    archive = subprocess.run(["git", "-C", str(git), "archive", ref, "spooler", "jobs", "trainer",
                              "tests/fake_trainer.py"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def one_round(ws, job: str, code: Path, prompts: int, tokens: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    log = open(ws.home / f"spooler-{code.name}.log", "w")
    sp = subprocess.Popen([sys.executable, "-m", "spooler", "--home", str(ws.home), "--slots", "1", "--gpus", "",
                           "--rescan", "0.5", "--settle", "0.2", "--stop-jobs", "--grace", "1", "--try-idle", "60",
                           "--trainer-cmd", f"{sys.executable} -m tests.fake_trainer"],
                          cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        rids = [rq.submit_try(ws, [job], f"Write one sentence about the number {i}.", include_base=True,
                              settings={"greedy": True, "max_new_tokens": tokens}, owner=job) for i in range(prompts)]
        wait(lambda: rq.read_try(ws, job, rids[0])["status"] == "done")
        before = set(p.name for p in ws.runs.iterdir())
        t0 = time.monotonic()
        for name in ("first", "second"):
            spec = {"name": name, "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                    "notes": "sleep=2", "params": {"max_steps": 2}}
            tmp = ws.spool_tmp / f"{name}-{time.time_ns()}.json"
            tmp.write_text(json.dumps(spec))
            os.rename(tmp, ws.incoming / tmp.name)

        def started():
            new = [ws.runs / n for n in os.listdir(ws.runs) if n not in before and not n.startswith(".")]
            return any((read_state(d) or {}).get("status") in (JobStatus.RUNNING, JobStatus.SUCCEEDED) for d in new)
        wait(started, step=0.05)
        waited = time.monotonic() - t0
        answered = sum(rq.read_try(ws, job, r)["status"] == "done" for r in rids)
        waiting_said = sum(rq.read_try(ws, job, r)["waiting_for"] == rq.WAITING_FOR_TRAINING for r in rids) \
            if hasattr(rq, "WAITING_FOR_TRAINING") else 0
        return {"start_s": waited, "answered_first": answered, "said_waiting": waiting_said}
    finally:
        sp.send_signal(signal.SIGTERM)
        sp.wait(120)
        log.close()
        for p in list(rq.inbox(ws).glob("*.json")) + list(rq.taken_dir(ws).glob("*.json")):
            p.unlink(missing_ok=True)   # the next round starts with an empty spool


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--model", default="tiny-demo")
    ap.add_argument("--before", default="28a771c", help="the commit whose scheduling rule is 'before'")
    ap.add_argument("--git", default=str(REPO), help="the git checkout that holds --before (default: this one)")
    args = ap.parse_args()
    ws = fresh_workspace()
    old = old_tree(args.before, Path(args.git))
    try:
        v = validate({"method": "sft", "base_model": args.model, "dataset": "demo-instruct",
                      "params": {"max_steps": 2, "eval_ratio": 0, "num_sample_prompts": 0}}, ws)
        assert v.ok, v.errors
        job = new_job_id()
        create_run(ws, job, v.spec)
        subprocess.run([sys.executable, "-m", "trainer", str(ws.run_dir(job))], cwd=REPO, check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = {"before": one_round(ws, job, old, args.prompts, args.max_new_tokens),
                "after": one_round(ws, job, REPO, args.prompts, args.max_new_tokens)}
        print(f"model {args.model}, 1 slot, {args.prompts} Try it prompts queued (base + 1 run, "
              f"{args.max_new_tokens} greedy tokens each), then 2 trainings; before = {args.before}, after = checkout")
        for name, r in rows.items():
            print(f"{name:>6}: first training started {r['start_s']:7.2f} s after it was queued; "
                  f"{r['answered_first']:>4} prompts answered before it; {r['said_waiting']:>4} said they wait for it")
        print(f"the training starts {rows['before']['start_s'] / rows['after']['start_s']:.0f}x sooner")
    finally:
        cleanup(ws)
        shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    main()
