"""Steering the queue: priority, move to top, hold and release, through the CLI against a live spooler."""
import json
import subprocess
import sys

from jobs.queue.spool import submit
from jobs.queue.steer import hold, move_to_top, release, set_priority
from jobs.spec import validate
from jobs.state import create_run, new_job_id, queue_positions, read_state, update_state
from tests.conftest import REPO
from tests.spool_helpers import Spooler, all_final, spec, starts, wait_for, wait_for_passes


def cli(ws, *args):
    return subprocess.run([sys.executable, "-m", "spooler", *args, "--home", str(ws.home)], cwd=REPO,
                          capture_output=True, text=True)


def queue(ws):
    data = json.loads(cli(ws, "status", "--json").stdout)
    return [(q["job_id"], q["held"]) for q in data["queue"]]


def state(ws, job):
    return read_state(ws.run_dir(job)) or {}


def test_priority_and_hold_reorder_the_queue_as_shown(ws):
    with Spooler(ws) as sp:
        blocker, _ = submit(ws, spec("blocker", notes="sleep=4"))
        wait_for(lambda: state(ws, blocker).get("status") == "running")
        a, b, c = (submit(ws, spec(n, notes="sleep=0.1"))[0] for n in "abc")
        wait_for(lambda: [queue_positions(ws).get(j) for j in (a, b, c)] == [1, 2, 3])

        out = cli(ws, "priority", c, "top")
        assert out.returncode == 0 and "queue position 1" in out.stdout, out.stderr
        assert cli(ws, "hold", a).returncode == 0
        assert queue(ws) == [(c, False), (a, True), (b, False)]
        wait_for(lambda: [queue_positions(ws).get(j) for j in (c, a, b)] == [1, 2, 3])  # as shown
        assert "HELD" in cli(ws, "status").stdout

        wait_for(lambda: state(ws, b).get("status") == "succeeded", 30)
        assert state(ws, a)["status"] == "queued" and not starts(ws.run_dir(a))
        wait_for(lambda: queue_positions(ws) == {a: 1})
        assert state(ws, c)["started_at"] < state(ws, b)["started_at"]
        wait_for_passes(ws, 3)  # a held job stays queued with a free slot
        assert state(ws, a)["status"] == "queued"

        out = cli(ws, "release", a)
        assert out.returncode == 0, out.stderr
        wait_for(lambda: all_final(ws, 4), 30)
        assert state(ws, a)["started_at"] > state(ws, b)["started_at"] and len(starts(ws.run_dir(a))) == 1

        bad = cli(ws, "priority", a, "5")
        assert bad.returncode == 1 and "only queued jobs" in bad.stderr
        sp.stop()
    d = new_job_id()
    create_run(ws, d, validate(spec("d"), ws).spec)  # queued, with no spooler running
    assert cli(ws, "priority", d, "5000").stderr.strip() == \
        "error: priority: must be an integer from -1000 to 1000 (higher runs sooner) (got 5000)"
    assert "or 'top'" in cli(ws, "priority", d, "soon").stderr
    assert "is not held" in cli(ws, "release", d).stderr
    assert "no job" in cli(ws, "hold", "20990101-000000-000000-abcdef").stderr


def test_move_to_top_and_a_held_job_is_never_claimed_by_two_daemons(ws):
    jobs = [new_job_id() for _ in range(4)]
    for i, j in enumerate(jobs):  # queued while no spooler runs
        create_run(ws, j, validate(spec(f"j{i}", priority=i, notes="sleep=0.2"), ws).spec)
    held = jobs[3]                      # highest priority: it would run first
    hold(ws, held)
    set_priority(ws, jobs[0], 7)
    assert move_to_top(ws, jobs[1])["priority"] == 8
    with Spooler(ws, "--slots", "2") as one, Spooler(ws, "--slots", "2") as two:
        wait_for(lambda: all(state(ws, j).get("status") == "succeeded" for j in jobs[:3]), 30)
        wait_for_passes(ws, 3)  # both daemons pass over the held job (the heartbeat is either one's)
        assert state(ws, held)["status"] == "queued" and not starts(ws.run_dir(held))
        order = sorted(jobs[:3], key=lambda j: state(ws, j)["started_at"])
        assert order[0] == jobs[1]       # moved to the top
        release(ws, held)
        wait_for(lambda: state(ws, held).get("status") == "succeeded", 30)
        assert all(len(starts(ws.run_dir(j))) == 1 for j in jobs)  # nothing ran twice
        one.stop()
        two.stop()


def test_a_job_already_in_slurms_queue_is_steered_there(ws):
    """A job handed to a backend that queues itself: the request goes to the daemon, which asks the runner."""
    from spooler.runners.base import Handle, Runner
    from spooler.runners.steering import apply_requests, scontrol_commands
    job = new_job_id()
    create_run(ws, job, validate(spec("in-slurm"), ws).spec)
    update_state(ws.run_dir(job), status="running", runner="slurm", slurm_job_id="4242", started_at=None)
    set_priority(ws, job, 5)
    hold(ws, job)
    assert json.loads((ws.run_dir(job) / "steer.json").read_text()).items() >= {"priority": 5, "held": True}.items()
    assert state(ws, job)["status"] == "running" and "priority" not in state(ws, job)

    class Recording(Runner):  # stands in for the Slurm runner, which turns requests into these commands
        name = "slurm"
        queues_itself = True
        asked: list = []

        def steer(self, h, request):
            self.asked.append(scontrol_commands("4242", request))
            return ["scontrol …"]

    runner = Recording()
    apply_requests({job: Handle(job, ws.run_dir(job), external_id="4242")}, runner)
    assert runner.asked == [[["scontrol", "update", "JobId=4242", "Nice=-5"], ["scontrol", "hold", "4242"]]]
    assert not (ws.run_dir(job) / "steer.json").exists()
    assert state(ws, job)["priority"] == 5 and state(ws, job)["held"] is True
    release(ws, job)
    apply_requests({job: Handle(job, ws.run_dir(job), external_id="4242")}, runner)
    assert runner.asked[-1] == [["scontrol", "release", "4242"]]
    update_state(ws.run_dir(job), started_at="2026-11-28T06:00:00+00:00")  # now running in Slurm: too late
    assert "only queued jobs" in cli(ws, "hold", job).stderr
    assert Runner().steer(None, {"held": True}) == ["the base runner cannot steer a job it has already been given"]
