"""`spooler status` output bounded and quiet on a closed pipe; SIGINT stops `tunedeck start` like SIGTERM (issue #25)."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from jobs.state import create_run, update_state
from spooler.cli import print_status
from tests.conftest import REPO
from tests.helpers import free_port
from tests.spool_helpers import gone, spec, wait_for


def test_a_huge_eta_prints_bounded(capsys):
    row = {"job_id": "j1", "name": "big", "method": "sft", "step": 3, "total_steps": 10, "percent": 1e300,
           "eta_seconds": 10.0 ** 300}
    print_status({"spooler_running": True, "slots": [], "running": [row, {**row, "eta_seconds": 3723.4,
                                                                            "percent": 30.5}],
                  "queue": [], "recent_failures": [], "unreadable": []})
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].endswith("step 3/10 (?%, ETA > 100 d)") and len(lines[2]) < 80
    assert lines[3].endswith("step 3/10 (30.5%, ETA 1h 02m 03s)")


def test_status_into_a_closed_pipe_exits_quietly(ws):
    for i in range(3):
        create_run(ws, f"20261206-000000-00000{i}-abcdef", spec(f"q{i}"))
    p = subprocess.Popen([sys.executable, "-m", "spooler", "status", "--home", str(ws.home)], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    p.stdout.close()  # like `| head` that has read what it wanted
    err = p.stderr.read().decode()
    assert p.wait(60) == 0 and err == "", err


def test_sigint_stops_tunedeck_start_even_when_started_in_the_background(ws):
    """A shell starts `tunedeck start &` with SIGINT ignored; before, `kill -INT` then did nothing."""
    run_dir = ws.run_dir("20261206-000000-000009-abcdef")
    create_run(ws, run_dir.name, spec("held"))
    update_state(run_dir, status="cancelled")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUNEDECK_PORT": str(free_port())}
    log = open(ws.home / "start.log", "w")
    p = subprocess.Popen([sys.executable, "-m", "tunedeck", "start", "--home", str(ws.home), "--slots", "1"],
                         cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{env['TUNEDECK_PORT']}/_stcore/health",
                                                timeout=1).status == 200
                 and json.loads(ws.spooler_heartbeat.read_text())["daemon_pid"] != p.pid, 120)
        spooler_pid = json.loads(ws.spooler_heartbeat.read_text())["daemon_pid"]
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        assert p.wait(45) == 0
        assert json.loads(ws.spooler_heartbeat.read_text())["stopped"] is True and gone(spooler_pid)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        log.close()
