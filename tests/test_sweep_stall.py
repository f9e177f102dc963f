"""A sweep spec never stalls the spooler, and every entry point expands sweeps the same way (issue #25)."""
import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from jobs.atomic import read_json
from jobs.queue.sweep import MAX_LISTED_VALUES, expand
from spooler.pickup import Pickup
from tests.conftest import REPO
from tests.spool_helpers import Spooler, drop, spec, statuses, wait_for


def _started_at(ws, job_dir_name=None):
    for d in ws.runs.iterdir():
        st = read_json(d / "state.json") or {}
        if st.get("started_at") and (job_dir_name is None or d.name == job_dir_name):
            return st
    return None


def test_a_993kb_sweep_of_138000_seeds_never_stalls_the_daemon(ws):
    """Before: the daemon validated every listed seed on its only thread (over 400 s blocked here, 207 s reported)."""
    huge = {**spec("seeds"), "sweep": {"seed": list(range(138_000))}}
    assert 990_000 < len(json.dumps(huge)) < 1 << 20
    with Spooler(ws, "--stop-jobs") as sp:
        t0 = time.time()
        drop(ws, "huge.json", huge)
        drop(ws, "small.json", spec("small", notes="sleep=30"))
        worst, started = 0.0, None
        while time.time() - t0 < 6:
            hb = read_json(ws.spooler_heartbeat) or {}
            worst = max(worst, time.time() - float(hb.get("updated_at") or 0))
            st = started or _started_at(ws)
            if st and not started:
                started = st
            time.sleep(0.05)
        assert started is not None, "the valid job did not start while the big sweep was checked"
        assert datetime.fromisoformat(started["started_at"]).timestamp() - t0 < 1.0  # within a second of the drop
        assert worst < 3.0  # the heartbeat is rewritten at least every 2 s: never stale
        reason = (ws.rejected / "huge.json.error.txt").read_text()
        assert "the grid has 138000 runs, more than the limit of 64" in reason
        sp.stop()


def _slow_sweep():
    """Within every limit, but each of its 900 values is validated: seconds of work."""
    return {**spec("slow"), "sweep_mode": "random", "samples": 2, "sweep": {"seed": list(range(900))}}


def test_a_slow_sweep_is_checked_beside_the_scan_and_then_queued(ws):
    drop(ws, "slow.json", _slow_sweep())
    drop(ws, "small.json", spec("small"))
    p = Pickup(ws, settle=0)
    t = time.monotonic()
    first = p.scan()
    assert time.monotonic() - t < 1.0  # the scan did not wait for the sweep's checks
    assert len(first) == 1 and set(statuses(ws).values()) == {"queued"}
    assert (ws.incoming / "slow.json").exists()
    got: list = []
    wait_for(lambda: got.extend(p.scan()) or len(got) == 2, 120, step=0.2)
    assert not (ws.incoming / "slow.json").exists() and len(statuses(ws)) == 3


def test_a_sweep_over_its_time_budget_is_rejected_with_the_reason(ws):
    drop(ws, "slow.json", _slow_sweep())
    p = Pickup(ws, settle=0, budget=0.2)
    wait_for(lambda: p.scan() is not None and (ws.rejected / "slow.json.error.txt").exists(), 60, step=0.1)
    assert "took longer than 0.2 s, the limit; split it into smaller sweeps" in \
        (ws.rejected / "slow.json.error.txt").read_text()
    assert statuses(ws) == {}


def test_runs_and_listed_values_are_counted_before_any_value_is_checked(ws):
    t = time.monotonic()
    x = expand({**spec("many"), "sweep_mode": "random", "samples": 2, "sweep": {"seed": list(range(50_000))}}, ws)
    assert time.monotonic() - t < 2.0
    assert [str(e) for e in x.errors] == [
        f'sweep: the sweep lists 50000 values; at most {MAX_LISTED_VALUES} are allowed (got "50000 values")']


def _submit(ws, path):
    return subprocess.run([sys.executable, "-m", "spooler", "submit", "--home", str(ws.home), str(path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_nan_or_infinity_in_a_range_is_rejected_naming_the_field(ws, tmp_path):
    for bad, shown in (("NaN", "min must be a finite number (got nan)"),
                       ("-Infinity", "min must be a finite number (got -inf)")):
        f = tmp_path / "nan.json"
        f.write_text(json.dumps({**spec("n"), "sweep_mode": "random", "samples": 2,
                                 "sweep": {"lora_rank": {"min": "BAD", "max": 16}}}).replace('"BAD"', bad))
        r = _submit(ws, f)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"sweep.lora_rank: {shown}; NaN and Infinity are not allowed" in r.stderr


def _documented_sweep() -> dict:
    """The sweep example of the docs (README.md, or docs/ where it moved)."""
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```json\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            if '"sweep"' in block:
                return json.loads(block)
    raise AssertionError("no sweep example in README.md or docs/")


def test_jobs_validate_and_spooler_submit_agree_on_the_documented_sweep(ws, tmp_path):
    f = tmp_path / "sweep.json"
    f.write_text(json.dumps(_documented_sweep()))
    v = subprocess.run([sys.executable, "-m", "jobs", "validate", "--home", str(ws.home), str(f)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert v.returncode == 0, v.stderr
    runs = json.loads(v.stdout)
    assert [r["name"] for r in runs][:2] == ["lr-rank-lr2e-4-r8", "lr-rank-lr2e-4-r16"] and len(runs) == 6
    s = _submit(ws, f)
    assert s.returncode == 0 and len(s.stdout.split()) == 6, s.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**_documented_sweep(), "sweep": {"lora_rank": [8, 0]}}))
    v = subprocess.run([sys.executable, "-m", "jobs", "validate", "--home", str(ws.home), str(bad)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert v.returncode == 1 and "sweep.lora_rank[1]:" in v.stderr and Path(bad).exists()
