"""A full disk, on a real 20 MB tmpfs: the trainer stops before a checkpoint that will not fit, and the daemon stays
visibly alive and records "no space left on device" for a job whose trainer died of it, as soon as it can write."""
import errno
import os
import subprocess
import time

import pytest

from jobs.atomic import atomic_write_json
from jobs.disk import NO_SPACE, RESERVE_BYTES, free_bytes
from jobs.state import read_state, spooler_alive
from tests.light_workspace import light_workspace
from tests.spool_helpers import Spooler, drop, spec, statuses, wait_for


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder, leave: int = 0) -> list:
    """Fill the filesystem until only about `leave` bytes are free; returns the filler files."""
    files, i = [], 0
    for chunk in (1 << 20, 64 << 10, 4 << 10):
        while free_bytes(folder) - chunk >= leave:
            f = folder / f"filler-{i}"
            i += 1
            try:
                with open(f, "wb") as fh:
                    fh.write(b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
                break
            finally:
                files.append(f)
    return files


def test_daemon_records_no_space_for_a_trainer_that_died_of_it(small_disk):
    ws = light_workspace(small_disk)
    with Spooler(ws) as sp:
        drop(ws, "victim.json", spec("victim", notes="sleep=2"))
        wait_for(lambda: "running" in statuses(ws).values(), 30)
        [job] = statuses(ws)
        filler = fill(small_disk)  # the disk fills up while the job runs
        time.sleep(4)  # the trainer ends now and cannot write its outcome; nor can the daemon
        assert read_state(ws.run_dir(job))["status"] == "running"
        assert spooler_alive(ws), "the spooler must not look down while the disk is full"
        for f in filler:
            f.unlink(missing_ok=True)
        wait_for(lambda: read_state(ws.run_dir(job))["status"] == "failed", 30)
        error = read_state(ws.run_dir(job))["error"]
        assert error.startswith(NO_SPACE) and "interrupted" not in error
        drop(ws, "after.json", spec("after", notes="sleep=0.1"))  # and the spool works again
        wait_for(lambda: sorted(statuses(ws).values()) == ["failed", "succeeded"], 30)
        sp.stop()


def test_trainer_stops_before_a_checkpoint_that_would_not_fit(small_disk, demo_home):
    from tests.trainer_helpers import make_run, run
    ws = light_workspace(small_disk)
    atomic_write_json(ws.models / "tiny-demo.json", {"path": str(demo_home / "models" / "tiny-demo")})
    run_dir = make_run(ws, max_steps=4, checkpoint_steps=1, num_sample_prompts=1)
    fill(small_disk, leave=RESERVE_BYTES + (256 << 10))  # room for logs and state, not for a checkpoint
    t0 = time.time()
    code = run(run_dir)
    st = read_state(run_dir)
    assert st["status"] == "failed" and st["error"].startswith(NO_SPACE), st
    assert "checkpoint at step 1" in st["error"] and code != 0
    assert not list((run_dir / "checkpoints").glob("checkpoint-*/*.safetensors"))
    assert time.time() - t0 < 300
    log = (run_dir / "train.log").read_text()
    assert NO_SPACE in log and os.path.exists(run_dir / "outcome.json")
