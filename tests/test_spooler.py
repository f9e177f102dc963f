"""The spooler daemon against a fast fake trainer (same files, locks and exit codes as the real one)."""
import json
import os
import signal
import subprocess
import sys
import time

from jobs.queue.spool import submit
from jobs.state import queue_positions, read_state
from tests.conftest import REPO
from tests.spool_helpers import Spooler, all_final, drop, gone, spec, starts, statuses, wait_for, wait_for_passes


def test_pickup_by_rename_and_by_in_place_write(ws):
    with Spooler(ws, "--settle", "1.5") as sp:
        drop(ws, "renamed.json", spec("renamed"))
        slow = ws.incoming / "slow.json"
        text = json.dumps(spec("slow"))
        with open(slow, "w") as fh:  # written in place, in two halves, 0.6 s apart
            fh.write(text[:20])
            fh.flush()
            time.sleep(0.6)
            fh.write(text[20:])
        wait_for(lambda: all_final(ws, 2))
        names = {json.loads((d / "spec.json").read_text())["name"] for d in ws.runs.iterdir()}
        assert names == {"renamed", "slow"}
        assert set(statuses(ws).values()) == {"succeeded"}
        assert list(ws.rejected.iterdir()) == [] and list(ws.incoming.iterdir()) == []
        sp.stop()


def test_200_specs_each_picked_up_exactly_once(ws):
    with Spooler(ws) as sp:
        for i in range(200):
            drop(ws, f"bulk-{i:03d}.json", spec(f"bulk-{i}", notes="sleep=0.01"))
        wait_for(lambda: len(statuses(ws)) >= 200 and not list(ws.incoming.iterdir()), 60)
        wait_for_passes(ws, 3)  # more passes over an empty spool create nothing more
        runs = [d for d in ws.runs.iterdir() if not d.name.startswith(".")]
        assert len(runs) == 200
        sources = sorted(json.loads((d / "state.json").read_text())["source_file"] for d in runs)
        assert sources == [f"bulk-{i:03d}.json" for i in range(200)]
        sp.stop()


def test_invalid_specs_and_bad_files_are_rejected_with_reasons(ws):
    good = spec("good")
    corpus = {
        "not-json.json": "this is not json",
        "empty.json": "",
        "array.json": "[1, 2, 3]",
        "bad-param.json": json.dumps(spec(lora_rank=0)),
        "unknown.json": json.dumps({**good, "params": {"lerning_rate": 0.1}}),
        "path.json": json.dumps({**good, "base_model": "/etc/passwd"}),
        "outdir.json": json.dumps({**good, "output_dir": "/tmp/x"}),
        "notes.txt": "hello",
        "big.json": "{" + " " * (1 << 20) + "}",
        "odd name!.json": json.dumps(good),
        "binary.json": b"\x00\xff\xfe garbage",
        "deep.json": "[" * 100000 + "]" * 100000,
        "nan.json": json.dumps(spec(learning_rate=1)).replace("1}", "NaN}"),
        "bom.json": "\ufeff" + json.dumps(spec("bom")),
    }
    with Spooler(ws) as sp:
        for name, content in corpus.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(ws.incoming / name, mode) as fh:
                fh.write(content)
        (ws.incoming / "folder.json").mkdir()
        os.symlink("/etc/passwd", ws.incoming / "link.json")
        os.mkfifo(ws.incoming / "fifo.json")
        drop(ws, "good.json", good)
        expected = len(corpus) + 3 - 1  # everything but bom.json
        wait_for(lambda: len(list(ws.rejected.glob("*.error.txt"))) == expected, 30)
        reasons = {p.name[: -len(".error.txt")]: p.read_text() for p in ws.rejected.glob("*.error.txt")}
        assert "not valid JSON" in reasons["not-json.json"]
        assert "empty" in reasons["empty.json"]
        assert "JSON object" in reasons["array.json"]
        assert "params.lora_rank" in reasons["bad-param.json"]
        assert "did you mean 'learning_rate'" in reasons["unknown.json"]
        assert "never a path" in reasons["path.json"]
        assert "managed by Tunedeck" in reasons["outdir.json"]
        assert "*.json" in reasons["notes.txt"]
        assert "1 MiB" in reasons["big.json"]
        assert "characters" in reasons["odd_name_.json"]
        assert "folder" in reasons["folder.json"] and "symlink" in reasons["link.json"]
        assert "regular file" in reasons["fifo.json"]
        assert "nested too deeply" in reasons["deep.json"]
        assert "params.learning_rate" in reasons["nan.json"]
        assert "bom.json" not in reasons  # a UTF-8 byte-order mark is fine
        assert os.path.exists("/etc/passwd")
        wait_for(lambda: all_final(ws, 2))
        assert sp.p.poll() is None  # still alive
        assert list(ws.incoming.iterdir()) == []
        sp.stop()


def test_priority_then_fifo(ws):
    with Spooler(ws) as sp:
        drop(ws, "blocker.json", spec("blocker", notes="sleep=1.5"))
        wait_for(lambda: "running" in statuses(ws).values())
        for name, prio in (("low-1", 0), ("high", 5), ("low-2", 0), ("higher", 9)):
            submit(ws, spec(name, priority=prio, notes="sleep=0.05"))
            time.sleep(0.01)
        wait_for(lambda: sorted(queue_positions(ws).values()) == [1, 2, 3, 4], 10)
        wait_for(lambda: all_final(ws, 5), 30)
        order = sorted((read_state(d)["started_at"], json.loads((d / "spec.json").read_text())["name"])
                       for d in ws.runs.iterdir())
        assert [n for _, n in order] == ["blocker", "higher", "high", "low-1", "low-2"]
        sp.stop()


def test_cancel_queued_and_running(ws):
    with Spooler(ws) as sp:
        running_id, _ = submit(ws, spec("runs", notes="sleep=30"))
        queued_id, _ = submit(ws, spec("waits", notes="sleep=30"))
        wait_for(lambda: statuses(ws).get(running_id) == "running" and statuses(ws).get(queued_id) == "queued")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        r = subprocess.run([sys.executable, "-m", "spooler", "cancel", queued_id, "--home", str(ws.home)],
                           capture_output=True, text=True, env=env, cwd=REPO)
        assert r.returncode == 0 and "cancelled" in r.stdout
        assert statuses(ws)[queued_id] == "cancelled"
        r = subprocess.run([sys.executable, "-m", "spooler", "cancel", running_id, "--home", str(ws.home)],
                           capture_output=True, text=True, env=env, cwd=REPO)
        assert r.returncode == 0 and "stop requested" in r.stdout
        wait_for(lambda: statuses(ws)[running_id] == "cancelled", 15)
        assert starts(ws.run_dir(queued_id)) == []
        sp.stop()


def test_cancel_escalates_to_sigkill_when_trainer_ignores_stop(ws):
    with Spooler(ws) as sp:
        job, _ = submit(ws, spec("stubborn", notes="sleep=60;ignore_stop"))
        wait_for(lambda: statuses(ws).get(job) == "running")
        pid = read_state(ws.run_dir(job))["pid"]
        (ws.run_dir(job) / "cancel").write_text("{}")
        wait_for(lambda: statuses(ws)[job] == "cancelled", 15)
        assert "SIGTERM" in sp.text() and "SIGKILL" in sp.text()
        wait_for(lambda: gone(pid), 5)
        sp.stop()


def test_retry_resumes_from_checkpoint(ws):
    with Spooler(ws) as sp:
        job, _ = submit(ws, spec("flaky", notes="sleep=30"))
        wait_for(lambda: statuses(ws).get(job) == "running")
        (ws.run_dir(job) / "cancel").write_text("{}")
        wait_for(lambda: statuses(ws)[job] == "cancelled")
        r = subprocess.run([sys.executable, "-m", "spooler", "retry", job, "--home", str(ws.home)],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
        assert r.returncode == 0 and "attempt 2" in r.stdout and "resumes" in r.stdout
        wait_for(lambda: len(starts(ws.run_dir(job))) == 2)
        assert starts(ws.run_dir(job))[1].endswith("resume")
        st = read_state(ws.run_dir(job))
        assert st["attempt"] == 2
        sp.stop()


def test_failed_trainer_and_killed_trainer_then_queue_goes_on(ws):
    with Spooler(ws) as sp:
        bad, _ = submit(ws, spec("bad", notes="exit=3"))
        victim, _ = submit(ws, spec("victim", notes="sleep=30"))
        after, _ = submit(ws, spec("after"))
        wait_for(lambda: statuses(ws).get(victim) == "running" and read_state(ws.run_dir(victim)).get("pid"), 20)
        assert read_state(ws.run_dir(bad))["error"] == "fake failure 3"
        os.kill(read_state(ws.run_dir(victim))["pid"], signal.SIGKILL)
        wait_for(lambda: statuses(ws).get(after) == "succeeded", 20)
        st = read_state(ws.run_dir(victim))
        assert st["status"] == "failed" and "SIGKILL" in st["error"]
        sp.stop()


def test_kill9_daemon_mid_queue_and_mid_job_loses_nothing(ws):
    ids = []
    with Spooler(ws) as sp:
        for i in range(5):  # the first runs long enough to outlive the daemon's restart
            ids.append(submit(ws, spec(f"k{i}", notes="sleep=6.0" if i == 0 else "sleep=1.0"))[0])
        wait_for(lambda: statuses(ws).get(ids[0]) == "running" and starts(ws.run_dir(ids[0])))
        orphan_pid = read_state(ws.run_dir(ids[0]))["pid"]
        sp.kill9()
    for i in range(5, 8):  # submitted while no daemon runs
        ids.append(submit(ws, spec(f"k{i}", notes="sleep=0.1"))[0])
    with Spooler(ws) as sp2:
        wait_for(lambda: f"re-adopted {ids[0]}" in sp2.text(), 10)
        wait_for(lambda: all_final(ws, 8), 60)
        assert set(statuses(ws).values()) == {"succeeded"}
        for j in ids:
            assert len(starts(ws.run_dir(j))) == 1, j
        assert starts(ws.run_dir(ids[0]))[0].startswith(str(orphan_pid))
        sp2.stop()


def test_dead_orphan_fails_or_auto_resumes(ws):
    with Spooler(ws) as sp:
        a, _ = submit(ws, spec("a", notes="sleep=30"))
        wait_for(lambda: statuses(ws).get(a) == "running" and read_state(ws.run_dir(a)).get("pid"))
        pid = read_state(ws.run_dir(a))["pid"]
        sp.kill9()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: gone(pid), 5)
    with Spooler(ws) as sp:
        wait_for(lambda: statuses(ws)[a] == "failed")
        assert read_state(ws.run_dir(a))["error"] == "interrupted: spooler stopped"
        b, _ = submit(ws, spec("b", notes="sleep=30"))
        wait_for(lambda: statuses(ws).get(b) == "running" and starts(ws.run_dir(b)))
        pid = read_state(ws.run_dir(b))["pid"]
        sp.kill9()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: gone(pid), 5)
    with Spooler(ws, "--auto-resume") as sp:
        wait_for(lambda: len(starts(ws.run_dir(b))) == 2, 20)
        assert starts(ws.run_dir(b))[1].endswith("resume")
        assert read_state(ws.run_dir(b))["attempt"] == 2
        (ws.run_dir(b) / "cancel").write_text("{}")
        wait_for(lambda: statuses(ws)[b] == "cancelled", 10)
        sp.stop()


def test_two_daemons_never_run_a_job_twice(ws):
    with Spooler(ws, "--slots", "2") as s1, Spooler(ws, "--slots", "2") as s2:
        for i in range(20):
            drop(ws, f"pair-{i:02d}.json", spec(f"p{i}", notes="sleep=0.05"))
        wait_for(lambda: all_final(ws, 20), 90)
        assert set(statuses(ws).values()) == {"succeeded"}
        for d in ws.runs.iterdir():
            assert len(starts(d)) == 1, d.name
        s1.stop()
        s2.stop()


def test_sigterm_leaves_jobs_running_for_readoption(ws):
    with Spooler(ws) as sp:
        job, _ = submit(ws, spec("survivor", notes="sleep=2"))
        wait_for(lambda: statuses(ws).get(job) == "running")
        sp.stop()
        assert sp.p.returncode == 0
        assert statuses(ws)[job] == "running"
        assert json.loads(ws.spooler_heartbeat.read_text())["stopped"] is True
    with Spooler(ws) as sp:
        wait_for(lambda: statuses(ws)[job] == "succeeded", 20)
        assert len(starts(ws.run_dir(job))) == 1
        sp.stop()


def test_status_and_submit_cli(ws, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec(lora_rank=-1)))
    r = subprocess.run([sys.executable, "-m", "spooler", "submit", str(bad), "--home", str(ws.home)],
                       capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode == 1 and "params.lora_rank" in r.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps(spec("cli")))
    r = subprocess.run([sys.executable, "-m", "spooler", "submit", str(good), "--home", str(ws.home)],
                       capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode == 0
    job = r.stdout.strip()
    assert (ws.incoming / f"{job}.json").exists()
    with Spooler(ws) as sp:
        wait_for(lambda: statuses(ws).get(job) == "succeeded")
        r = subprocess.run([sys.executable, "-m", "spooler", "status", "--json", "--home", str(ws.home)],
                           capture_output=True, text=True, env=env, cwd=REPO)
        data = json.loads(r.stdout)
        assert data["spooler_running"] and data["slots"][0]["gpu"] is None
        r = subprocess.run([sys.executable, "-m", "spooler", "status", "--home", str(ws.home)],
                           capture_output=True, text=True, env=env, cwd=REPO)
        assert "spooler: running" in r.stdout and "queue (0)" in r.stdout
        sp.stop()


def test_real_training_through_the_spool(ws):
    """End to end: a spec dropped into the spool trains tiny-demo for real."""
    with Spooler(ws, trainer=None) as sp:
        drop(ws, "real.json", spec("real", max_steps=5, batch_size=4, learning_rate=2e-3))
        wait_for(lambda: all_final(ws, 1), 180, step=0.5)
        run_dir = next(d for d in ws.runs.iterdir() if not d.name.startswith("."))
        st = read_state(run_dir)
        assert st["status"] == "succeeded", (run_dir / "train.log").read_text()[-3000:]
        assert (run_dir / "adapter" / "adapter_config.json").exists()
        assert json.loads((run_dir / "progress.json").read_text())["step"] == 5
        log = (run_dir / "train.log").read_text()
        assert log.count("generating base-model answers") == 1  # stderr and the log file are not doubled
        sp.stop()


def test_crash_between_run_created_and_spec_removed_queues_once(ws, monkeypatch):
    """The daemon dies after runs/<id>/ is durable but before the spec leaves incoming/: a restart adds nothing."""
    from spooler import pickup as pickup_mod
    drop(ws, "once.json", spec("once"))
    drop(ws, "twice.json", spec("twice"))
    real_unlink = os.unlink

    def crash(path, *a, **k):
        raise KeyboardInterrupt("simulated crash")
    monkeypatch.setattr(pickup_mod.os, "unlink", crash)
    p = pickup_mod.Pickup(ws, settle=0)
    try:
        p.scan()
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(pickup_mod.os, "unlink", real_unlink)
    assert len(list(ws.runs.iterdir())) == 1 and len(list(ws.incoming.iterdir())) == 2
    pickup_mod.Pickup(ws, settle=0).scan()  # the restarted daemon
    runs = [d for d in ws.runs.iterdir() if not d.name.startswith(".")]
    assert sorted(json.loads((d / "spec.json").read_text())["name"] for d in runs) == ["once", "twice"]
    assert list(ws.incoming.iterdir()) == []


def test_running_daemon_takes_over_jobs_of_a_dead_daemon(ws):
    """A daemon that stays up notices, within its recovery sweep, that another one died holding a job."""
    with Spooler(ws) as a:
        job, _ = submit(ws, spec("held", notes="sleep=30"))
        wait_for(lambda: statuses(ws).get(job) == "running" and starts(ws.run_dir(job)))
        pid = read_state(ws.run_dir(job))["pid"]
        with Spooler(ws) as b:  # b starts while a is alive: a's job is not b's to touch
            time.sleep(1.0)
            assert "re-adopted" not in b.text()
            a.kill9()
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: statuses(ws)[job] == "failed", 30)
            assert read_state(ws.run_dir(job))["error"] == "interrupted: spooler stopped"
            b.stop()


def test_one_slot_per_gpu_with_cuda_visible_devices(ws):
    with Spooler(ws, "--gpus", "3,5") as sp:
        a, _ = submit(ws, spec("ga", notes="sleep=1.5"))
        b, _ = submit(ws, spec("gb", notes="sleep=1.5"))
        c, _ = submit(ws, spec("gc", notes="sleep=0.1"))
        wait_for(lambda: statuses(ws).get(a) == "running" and statuses(ws).get(b) == "running"
                 and starts(ws.run_dir(a)) and starts(ws.run_dir(b)))
        assert statuses(ws)[c] == "queued"  # two GPUs, two slots
        gpus = {read_state(ws.run_dir(j))["gpu"] for j in (a, b)}
        assert gpus == {"3", "5"}
        for j in (a, b):
            assert f"gpu={read_state(ws.run_dir(j))['gpu']} " in starts(ws.run_dir(j))[0]
        wait_for(lambda: all_final(ws, 3), 20)
        sp.stop()


def test_real_cancel_then_retry_resumes_from_checkpoint(ws):
    """The real trainer: cancel mid-run (adapter + checkpoint saved), retry, and the curve continues."""
    import csv

    from jobs.state import cancel_job, latest_checkpoint, retry_job
    with Spooler(ws, trainer=None) as sp:
        job, _ = submit(ws, spec("long", max_steps=400, checkpoint_steps=20, batch_size=2, eval_ratio=0,
                                 num_sample_prompts=1, learning_rate=1e-3))
        run_dir = ws.run_dir(job)
        wait_for(lambda: latest_checkpoint(run_dir) is not None, 300, step=0.1)
        assert cancel_job(ws, job) == "stop requested"
        wait_for(lambda: statuses(ws)[job] == "cancelled", 60)
        assert (run_dir / "adapter" / "adapter_config.json").exists()
        stopped_at = json.loads((run_dir / "summary.json").read_text())["total_steps"]
        assert 0 < stopped_at < 400
        st = retry_job(ws, job)
        assert st["resume"] and st["attempt"] == 2
        wait_for(lambda: statuses(ws)[job] == "succeeded", 600, step=0.5)  # an upper bound for a loaded machine
        steps = [int(r["step"]) for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("loss")]
        assert steps == list(range(1, 401))
        assert "resuming from checkpoint-" in (run_dir / "train.log").read_text()
        sp.stop()


def test_poll_mode_picks_up_specs(ws):
    with Spooler(ws, "--poll") as sp:
        drop(ws, "polled.json", spec("polled"))
        wait_for(lambda: all_final(ws, 1), 20)
        assert "polling" in sp.text()
        sp.stop()
