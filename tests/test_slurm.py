"""The Slurm runner against a real single-node Slurm (Debian's packages) that these tests start and stop.

Without Slurm installed (or without root to run its daemons) every test here skips with the reason.
"""
import csv
import json
import os
import subprocess
import sys

import pytest

from jobs.queue.spool import submit
from jobs.state import create_run, new_job_id, read_state
from tests.conftest import REPO
from tests.spool_helpers import FAKE, Spooler, all_final, spec, starts, statuses, wait_for


def state(ws, job) -> dict:
    return read_state(ws.run_dir(job)) or {}  # {} until the spooler has picked the spec up


def slurm_id(ws, job):
    return state(ws, job).get("slurm_job_id")


def test_jobs_run_via_sbatch_each_with_its_own_gpus_and_a_two_gpu_job_waits(ws, cluster):
    with Spooler(ws, "--runner", "slurm") as sp:
        a, _ = submit(ws, spec("a", notes="sleep=4"))
        b, _ = submit(ws, spec("b", notes="sleep=4"))
        wait_for(lambda: starts(ws.run_dir(a)) and starts(ws.run_dir(b)), 60)
        pair, _ = submit(ws, spec("pair", notes="sleep=0.3", num_gpus=2))
        wait_for(lambda: state(ws, pair).get("slurm_reason") == "Resources", 30)
        st = read_state(ws.run_dir(pair))
        assert st["runner"] == "slurm" and st["slurm_state"] == "PENDING" and not starts(ws.run_dir(pair))
        assert cluster.squeue("--name", a, "-o", "%j").split() == [a]  # the Slurm job is named by the job id
        gpus = {starts(ws.run_dir(j))[0].split()[1] for j in (a, b)}
        assert gpus == {"gpu=0", "gpu=1"}  # Slurm gave each job its own GPU
        wait_for(lambda: all_final(ws, 3), 90)
        assert set(statuses(ws).values()) == {"succeeded"}
        assert sorted(line.split()[1] + " " + line.split()[-1] for line in starts(ws.run_dir(pair))) == \
            ["gpu=0,1 rank=0/2", "gpu=0,1 rank=1/2"]  # torchrun, two ranks, both GPUs
        for j in (a, b, pair):
            st = read_state(ws.run_dir(j))
            assert st["slurm_nodes"] == cluster.node and st["slurm_job_id"]
            assert f"slurm job {st['slurm_job_id']} on {cluster.node}" in (ws.run_dir(j) / "train.log").read_text()
        sp.stop()


def test_cancel_ends_the_slurm_job_pending_or_running(ws, cluster):
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cancel(job):
        r = subprocess.run([sys.executable, "-m", "spooler", "cancel", job, "--home", str(ws.home)],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
        assert r.returncode == 0, r.stderr

    with Spooler(ws, "--runner", "slurm") as sp:
        stubborn, _ = submit(ws, spec("stubborn", notes="sleep=120;ignore_stop"))
        wait_for(lambda: starts(ws.run_dir(stubborn)), 60)
        waiting, _ = submit(ws, spec("waiting", notes="sleep=1", num_gpus=2))
        wait_for(lambda: state(ws, waiting).get("slurm_state") == "PENDING", 30)
        ids = {j: slurm_id(ws, j) for j in (stubborn, waiting)}
        cancel(waiting)
        wait_for(lambda: statuses(ws)[waiting] == "cancelled", 30)
        cancel(stubborn)  # it ignores the stop file and SIGTERM: only scancel (then Slurm's SIGKILL) ends it
        wait_for(lambda: statuses(ws)[stubborn] == "cancelled", 60)
        live = cluster.squeue("--me", "-t", "PD,R", "-o", "%i").split()
        assert not set(ids.values()) & set(live)
        assert f"scancel {ids[stubborn]}" in sp.text() and f"scancel {ids[waiting]}" in sp.text()
        assert starts(ws.run_dir(waiting)) == []
        sp.stop()


def test_kill9_of_the_spooler_then_restart_runs_each_job_exactly_once(ws, cluster):
    with Spooler(ws, "--runner", "slurm") as sp:
        running = [submit(ws, spec(f"r{i}", notes="sleep=5"))[0] for i in range(2)]
        wait_for(lambda: all(starts(ws.run_dir(j)) for j in running), 60)
        pending = [submit(ws, spec("p-pair", notes="sleep=0.5", num_gpus=2))[0],
                   submit(ws, spec("p-one", notes="sleep=0.5"))[0]]
        wait_for(lambda: all(slurm_id(ws, j) for j in pending), 30)
        before = {j: slurm_id(ws, j) for j in running + pending}
        sp.kill9()
    late, _ = submit(ws, spec("late", notes="sleep=0.2"))
    with Spooler(ws, "--runner", "slurm") as sp2:
        wait_for(lambda: all_final(ws, 5), 120)
        assert set(statuses(ws).values()) == {"succeeded"}
        assert sp2.text().count("re-adopted") >= 2
        for j, sid in before.items():
            assert slurm_id(ws, j) == sid, j  # re-adopted by its Slurm id, never submitted again
        for j in running + [pending[1], late]:
            assert len(starts(ws.run_dir(j))) == 1, j
        assert len(starts(ws.run_dir(pending[0]))) == 2  # one line per rank, one run
        sp2.stop()


def test_submit_is_idempotent_by_job_name(ws, cluster):
    """A crash between sbatch and writing the Slurm id: the next submit finds the job by name, not a second one."""
    from spooler.daemon import Options
    from spooler.runners.slurm import SlurmRunner
    job, sp = new_job_id(), spec("once", notes="sleep=30")
    assert create_run(ws, job, sp)
    runner = SlurmRunner(Options(trainer_cmd=FAKE.split()))
    first, _ = runner.submit(job, ws.run_dir(job), False, [], sp)
    again, fields = runner.submit(job, ws.run_dir(job), False, [], sp)
    assert again.external_id == first.external_id == fields["slurm_job_id"]
    assert cluster.squeue("--name", job, "-o", "%i").split() == [first.external_id]


def test_real_two_rank_training_via_slurm(ws, cluster):
    """tiny-demo, num_gpus=2: sbatch runs torchrun with 2 gloo ranks; one metrics row per step."""
    with Spooler(ws, "--runner", "slurm", trainer=None) as sp:
        job, _ = submit(ws, spec("ddp-slurm", max_steps=4, batch_size=2, eval_ratio=0, num_sample_prompts=1,
                                 num_gpus=2))
        wait_for(lambda: statuses(ws)[job] in ("succeeded", "failed", "cancelled"), 400, step=0.5)
        run_dir = ws.run_dir(job)
        assert statuses(ws)[job] == "succeeded", read_state(run_dir)
        steps = [int(r["step"]) for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("loss")]
        assert steps == [1, 2, 3, 4]
        assert json.loads((run_dir / "summary.json").read_text())["world_size"] == 2
        log = (run_dir / "train.log").read_text()
        assert "[rank 1]" in log and f"slurm job {slurm_id(ws, job)}" in log
        sp.stop()


def test_hold_and_release_reach_a_job_waiting_in_slurm(ws, cluster):
    """Steering a job that Slurm already queues: hold and release become scontrol's, and Slurm shows the hold."""
    from jobs.queue.steer import hold, release
    with Spooler(ws, "--runner", "slurm") as sp:
        busy, _ = submit(ws, spec("busy", notes="sleep=30", num_gpus=2))
        wait_for(lambda: starts(ws.run_dir(busy)), 60)
        waiting, _ = submit(ws, spec("waiting", notes="sleep=1"))
        wait_for(lambda: state(ws, waiting).get("slurm_state") == "PENDING", 30)
        sid = slurm_id(ws, waiting)
        hold(ws, waiting)
        wait_for(lambda: "Held" in (state(ws, waiting).get("slurm_reason") or ""), 30)
        assert f"scontrol hold {sid}" in sp.text()
        release(ws, waiting)
        wait_for(lambda: "Held" not in (state(ws, waiting).get("slurm_reason") or ""), 30)
        assert f"scontrol release {sid}" in sp.text()
        sp.stop()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_home):
    """A workspace with one real tiny-demo SFT run (a few steps on this machine) for Try it and export via Slurm."""
    from tests.conftest import demo_workspace
    from tests.trainer_helpers import make_run, run
    ws = demo_workspace(tmp_path_factory.mktemp("slurm-use") / "ws", demo_home)
    run_dir = make_run(ws, max_steps=3, learning_rate=5e-3, eval_ratio=0, num_sample_prompts=0)
    assert run(run_dir) == 0
    return ws, run_dir.name


def test_try_it_and_export_run_as_slurm_jobs_ahead_of_a_waiting_training(trained, cluster):
    """Both fake GPUs busy, a training pending: the try worker (a Slurm job with a lower nice) gets the first free
    GPU, answers, then yields it to the pending training; the export is a Slurm job too."""
    from datetime import datetime

    from jobs.rundir import RunDir
    from jobs.use import requests as rq
    ws, job = trained
    with Spooler(ws, "--runner", "slurm", "--try-idle", "300") as sp:
        short, _ = submit(ws, spec("short", notes="sleep=15"))
        long, _ = submit(ws, spec("long", notes="sleep=400"))
        wait_for(lambda: starts(ws.run_dir(short)) and starts(ws.run_dir(long)), 60)
        waiting, _ = submit(ws, spec("waiting", notes="sleep=1"))
        wait_for(lambda: state(ws, waiting).get("slurm_state") == "PENDING", 30)

        rid = rq.submit_try(ws, [job], "Say hello", include_base=True, settings={"greedy": True, "max_new_tokens": 8})
        wait_for(lambda: [w.get("state") for w in rq.list_workers(ws)] == ["starting"], 30)
        worker_sid = rq.list_workers(ws)[0]["slurm_job_id"]
        assert "tunedeck-" in cluster.squeue("-j", worker_sid, "-o", "%j")   # a Slurm job of its own
        status = subprocess.run([sys.executable, "-m", "spooler", "status", "--home", str(ws.home)], cwd=REPO,
                                capture_output=True, text=True, timeout=60).stdout
        assert f"slot 0: try worker for tiny-demo (starting, Slurm job {worker_sid}," in status
        wait_for(lambda: rq.read_try(ws, job, rid)["status"] in rq.FINAL_TRY, 300, 0.2)
        answer = rq.read_try(ws, job, rid)
        assert answer["status"] == "done", answer.get("error")
        assert [a["target"] for a in answer["answers"]] == ["base", job] and all(a["tokens"] for a in answer["answers"])

        # the worker yields its GPU to the pending training, which started only after the worker did
        wait_for(lambda: statuses(ws)[waiting] == "succeeded", 120, 0.2)
        assert "asked to exit: the slot is needed" in sp.text()
        began = RunDir(ws.run_dir(waiting)).trainer_info.stat().st_mtime      # the trainer writes it as it starts
        assert datetime.fromisoformat(answer["answered_at"]).timestamp() < began
        assert statuses(ws)[long] == "running"                          # it was the worker's GPU, not the long job's
        assert f"slurm job {worker_sid}" in (rq.workers_dir(ws) / "slot-0.log").read_text()

        out = subprocess.run([sys.executable, "-m", "spooler", "export", job, "--home", str(ws.home), "--wait",
                              "--timeout", "300"], cwd=REPO, capture_output=True, text=True, timeout=330)
        assert out.returncode == 0, out.stdout + out.stderr + sp.text()
        st = rq.export_state(ws.run_dir(job))
        assert st["status"] == "done" and st["slurm_job_id"]
        assert (rq.export_dir(ws.run_dir(job)) / rq.MERGED_DIR / "config.json").is_file()
        assert f"slurm job {st['slurm_job_id']}" in (rq.export_dir(ws.run_dir(job)) / "export.log").read_text()
        assert "the export of" in sp.text() and f"slurm job {st['slurm_job_id']}" in sp.text()
        sp.stop()


def test_a_restarted_spooler_re_adopts_the_warm_slurm_try_worker(trained, cluster):
    """kill -9 of the spooler: the try worker's Slurm job lives on, the next spooler finds it by its Slurm id, and
    the next prompt is answered by the same warm worker (nothing loaded, nothing submitted twice)."""
    from jobs.use import requests as rq
    ws, job = trained
    greedy = {"greedy": True, "max_new_tokens": 8}

    def answered(rid):
        wait_for(lambda: rq.read_try(ws, job, rid)["status"] in rq.FINAL_TRY, 240, 0.2)
        r = rq.read_try(ws, job, rid)
        assert r["status"] == "done", r.get("error")
        return r

    with Spooler(ws, "--runner", "slurm", "--try-idle", "300") as sp:
        first = answered(rq.submit_try(ws, [job], "Say hello", include_base=False, settings=greedy))
        sid = rq.list_workers(ws)[0]["slurm_job_id"]
        sp.kill9()
    assert sid in cluster.squeue("--me", "-o", "%i").split()          # the worker outlived the spooler
    with Spooler(ws, "--runner", "slurm", "--try-idle", "300") as sp2:
        second = answered(rq.submit_try(ws, [job], "Say hello", include_base=False, settings=greedy))
        assert second["worker"]["pid"] == first["worker"]["pid"] and second["loaded_model"] is False
        assert second["answers"][0]["text"] == first["answers"][0]["text"]
        assert [n for n in cluster.squeue("--me", "-o", "%j").split() if "-try-" in n] == \
            [n for n in cluster.squeue("-j", sid, "-o", "%j").split()]      # one try worker job, the same one
        sp2.stop()
    wait_for(lambda: sid not in cluster.squeue("--me", "-t", "PD,R,CG", "-o", "%i").split(), 30)  # taken along


def test_owner_is_the_slurm_comment_and_max_slots_holds_before_sbatch(ws, cluster):
    from jobs.atomic import atomic_write_json
    from jobs.team import auth
    atomic_write_json(ws.home / "config.json", {"auth": {"service_accounts": [auth.os_user()]},
                                                "quotas": {"tdA": {"max_slots": 1}}})
    a = [submit(ws, {**spec(f"a{i}", notes="sleep=1.5"), "owner": "tdA"})[0] for i in range(3)]
    (b,) = [submit(ws, {**spec("b0", notes="sleep=1.5"), "owner": "tdB"})[0]]
    most = [0]

    def sample() -> bool:  # how many of tdA's jobs are in Slurm now; done when all four are final
        in_slurm = [j for j in a if state(ws, j).get("slurm_job_id") and state(ws, j).get("status") == "running"]
        most[0] = max(most[0], len(in_slurm))
        return all_final(ws, 4)

    with Spooler(ws, "--runner", "slurm") as sp:
        wait_for(lambda: slurm_id(ws, b), 60)
        assert cluster.squeue("--name", b, "-o", "%k").split() == ["tdB"]  # the owner, as the job's comment
        wait_for(sample, 120, step=0.1)
        sp.stop()
    assert most[0] == 1  # never two of tdA's jobs handed to Slurm at once
    assert set(statuses(ws).values()) == {"succeeded"}
