"""Multi-slot jobs on the local runner: num_gpus=k takes k slots under torchrun, without starving, on the CPU."""
import csv
import json
import os
import subprocess
import sys

from jobs.queue.spool import submit
from jobs.spec import validate
from jobs.state import cancel_job, latest_checkpoint, queue_positions, read_state, retry_job
from tests.conftest import REPO
from tests.spool_helpers import Spooler, all_final, spec, starts, statuses, wait_for, wait_for_passes


def test_two_slot_job_waits_for_both_slots_and_is_not_overtaken(ws):
    with Spooler(ws, "--gpus", "3,5") as sp:
        first, _ = submit(ws, spec("one-slot", notes="sleep=6"))
        wait_for(lambda: starts(ws.run_dir(first)))
        pair, _ = submit(ws, spec("two-slot", notes="sleep=0.5", num_gpus=2))
        small, _ = submit(ws, spec("small-behind", notes="sleep=0.1"))
        wait_for_passes(ws, 3)  # one slot is free all along: the small job must still wait behind the pair
        assert statuses(ws)[pair] == "queued" and statuses(ws)[small] == "queued"
        wait_for(lambda: queue_positions(ws) == {pair: 1, small: 2}, 10)
        wait_for(lambda: all_final(ws, 3), 90)
        assert set(statuses(ws).values()) == {"succeeded"}
        order = sorted((read_state(ws.run_dir(j))["started_at"], j) for j in (first, pair, small))
        assert [j for _, j in order] == [first, pair, small]
        ranks = starts(ws.run_dir(pair))
        assert sorted(line.split()[-1] for line in ranks) == ["rank=0/2", "rank=1/2"]
        assert all(" gpu=3,5 " in line for line in ranks)  # both GPUs, to the torchrun job
        assert read_state(ws.run_dir(pair))["slots"] == [0, 1]
        sp.stop()


def test_validation_knows_the_live_spooler_slots(ws):
    with Spooler(ws, "--slots", "2") as sp:
        assert validate(spec("fits", num_gpus=2), ws).ok
        v = validate(spec("too-big", num_gpus=3), ws)
        assert [(p.field, p.value) for p in v.errors] == [("params.num_gpus", 3)]
        assert "the spooler has 2 slot(s)" in str(v.errors[0])
        v = validate(spec("nodes", num_nodes=2), ws)
        assert [p.field for p in v.errors] == ["params.num_nodes"] and "Slurm runner" in str(v.errors[0])
        sp.stop()
    assert validate(spec("no-spooler", num_gpus=3), ws).ok  # the limit is unknown while no spooler runs


def test_job_bigger_than_the_spooler_fails_with_a_reason(ws):
    job, _ = submit(ws, spec("huge", num_gpus=4))  # accepted while no spooler ran
    with Spooler(ws, "--slots", "2") as sp:
        wait_for(lambda: statuses(ws).get(job) == "failed", 20)
        assert read_state(ws.run_dir(job))["error"].startswith("num_gpus=4 but this spooler has only 2 slot(s)")
        sp.stop()


def test_slurm_runner_refuses_to_start_without_sbatch(ws):
    r = subprocess.run([sys.executable, "-m", "spooler", "--runner", "slurm", "--home", str(ws.home)],
                       capture_output=True, text=True, cwd=REPO, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO), "PATH": "/nonexistent"})
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --runner slurm needs Slurm's commands on PATH; missing: sbatch, squeue, " \
                               "scancel, scontrol"


def test_real_two_rank_training_stops_on_every_rank_and_resumes_with_two(ws):
    """tiny-demo under torchrun with 2 gloo ranks: one metrics row per step, cancel reaches both, resume works."""
    with Spooler(ws, "--slots", "2", trainer=None) as sp:
        job, _ = submit(ws, spec("ddp", max_steps=24, checkpoint_steps=4, batch_size=2, eval_ratio=0,
                                 num_sample_prompts=1, num_gpus=2))
        run_dir = ws.run_dir(job)
        wait_for(lambda: latest_checkpoint(run_dir) is not None, 300, step=0.2)
        assert cancel_job(ws, job) == "stop requested"
        wait_for(lambda: statuses(ws)[job] == "cancelled", 120)
        stopped = json.loads((run_dir / "summary.json").read_text())
        assert stopped["world_size"] == 2 and 0 < stopped["total_steps"] < 24
        assert read_state(run_dir)["error"].startswith("stopped on request")
        log = (run_dir / "train.log").read_text()
        assert "[rank 1]" in log and "ChildFailedError" not in log
        assert retry_job(ws, job)["resume"]
        wait_for(lambda: statuses(ws)[job] == "succeeded", 300, step=0.5)
        steps = [int(r["step"]) for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("loss")]
        assert steps == list(range(1, 25))  # exactly one row per step across both attempts and both ranks
        assert json.loads((run_dir / "summary.json").read_text())["world_size"] == 2
        assert "resuming from checkpoint-" in (run_dir / "train.log").read_text()
        assert (run_dir / "adapter" / "adapter_config.json").exists()
        sp.stop()
