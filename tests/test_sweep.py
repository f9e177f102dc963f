"""Sweeps: expansion into a grid or a seeded random sample, naming, per-value validation and limits."""
import json
import subprocess
import sys

from jobs.queue.sweep import expand, fmt_value, run_ids, sweep_spec
from tests.conftest import REPO
from tests.spool_helpers import Spooler, all_final, drop, spec, statuses, wait_for


def sweep(**kw):
    s = spec("lr-rank")
    s.update(kw)
    return s


def test_grid_expands_with_names_group_and_params(ws):
    x = expand(sweep(sweep={"learning_rate": [2e-4, 1e-4, 5e-5], "lora_rank": [8, 16]}), ws)
    assert x.ok, x.errors
    names = [s["name"] for s in x.specs]
    assert names == ["lr-rank-lr2e-4-r8", "lr-rank-lr2e-4-r16", "lr-rank-lr1e-4-r8", "lr-rank-lr1e-4-r16",
                     "lr-rank-lr5e-5-r8", "lr-rank-lr5e-5-r16"]
    assert [(s["params"]["learning_rate"], s["params"]["lora_rank"]) for s in x.specs] == [
        (2e-4, 8), (2e-4, 16), (1e-4, 8), (1e-4, 16), (5e-5, 8), (5e-5, 16)]
    groups = {s["group"]["id"] for s in x.specs}
    assert len(groups) == 1 and x.group["size"] == 6 and x.group["name"] == "lr-rank"
    assert x.group["params"] == ["learning_rate", "lora_rank"]
    ids = [s["group"]["job_id"] for s in x.specs]
    assert ids == sorted(ids) and len(set(ids)) == 6  # queue order follows sweep order
    assert all(s["params"]["max_steps"] == 2 for s in x.specs)  # the rest of the spec is kept


def test_ids_derive_from_the_group_id():
    assert run_ids("20261128-053347-301791-b21ccd", 3) == run_ids("20261128-053347-301791-b21ccd", 3)
    assert run_ids("20261128-053347-301791-b21ccd", 3)[0].startswith("20261128-053347-301792")


def test_value_names():
    assert [fmt_value(v) for v in (2e-4, 1e-4, 5e-5, 0.1, 16, True, 3e-05)] == [
        "2e-4", "1e-4", "5e-5", "0.1", "16", "true", "3e-5"]


def test_aliases_in_sweep_keys(ws):
    x = expand(sweep(sweep={"LORA_RANK": [4, 8]}), ws)
    assert x.ok and [s["params"]["lora_rank"] for s in x.specs] == [4, 8]


def test_a_bad_value_rejects_the_whole_sweep_naming_it(ws):
    x = expand(sweep(sweep={"learning_rate": [2e-4, 2.0], "lora_rank": [8, 0]}), ws)
    assert not x.ok and not x.specs
    text = "\n".join(map(str, x.errors))
    assert "sweep.learning_rate[1]" in text and "(got 2.0)" in text
    assert "sweep.lora_rank[1]" in text and "(got 0)" in text
    assert len(x.errors) == 2


def test_unknown_param_bad_shapes_and_cross_field(ws):
    bad = expand(sweep(sweep={"learnin_rate": [1e-4]}), ws)
    assert "sweep.learnin_rate" in str(bad.errors[0])
    assert "non-empty list" in str(expand(sweep(sweep={"lora_rank": 8}), ws).errors[0])
    assert "needs \"sweep_mode\": \"random\"" in str(
        expand(sweep(sweep={"learning_rate": {"min": 1e-5, "max": 1e-3}}), ws).errors[0])
    assert "sweep_mode" in str(expand(sweep(sweep={"lora_rank": [8]}, sweep_mode="spiral"), ws).errors[0])
    cross = expand(sweep(sweep={"max_seq_length": [64, 1024]}, params={"max_steps": 2, "max_input_length": 512}), ws)
    assert not cross.ok and "max_input_length" in str(cross.errors[0]) and "seq64" in str(cross.errors[0])
    base_bad = expand(sweep(sweep={"lora_rank": [8]}, dataset="nope"), ws)
    assert base_bad.errors[0].field == "dataset"


def test_size_limit_and_max_runs(ws):
    big = {"learning_rate": [1e-4 * (i + 1) for i in range(9)], "lora_rank": list(range(1, 9))}  # 72 runs
    x = expand(sweep(sweep=big), ws)
    assert not x.ok and "72 runs, more than the limit of 64" in str(x.errors[0]) and "max_runs" in str(x.errors[0])
    y = expand(sweep(sweep=big, max_runs=100), ws)
    assert y.ok and len(y.specs) == 72
    assert "max_runs" in str(expand(sweep(sweep=big, max_runs=10**6), ws).errors[0])


def test_random_mode_is_seeded_and_draws_log_ranges(ws):
    s = sweep(sweep={"learning_rate": {"min": 1e-5, "max": 1e-3, "log": True}, "lora_rank": [8, 16, 32]},
              sweep_mode="random", samples=12)
    a, b = expand(s, ws), expand(s, ws)
    assert a.ok, a.errors
    drawn = [x["params"]["learning_rate"] for x in a.specs]
    assert drawn == [x["params"]["learning_rate"] for x in b.specs]  # the spec's seed decides
    assert len(a.specs) == 12 and all(1e-5 <= v <= 1e-3 for v in drawn)
    assert min(drawn) < 1e-4 < max(drawn)  # log-uniform reaches both decades
    assert {x["params"]["lora_rank"] for x in a.specs} <= {8, 16, 32}
    other = expand({**s, "params": {**s["params"], "seed": 7}}, ws)
    assert [x["params"]["learning_rate"] for x in other.specs] != drawn
    for x in a.specs:
        assert x["name"].startswith(f"lr-rank-lr{fmt_value(x['params']['learning_rate'])}-r")
    assert "samples" in str(expand({**s, "samples": 0}, ws).errors[0])
    assert "min must be smaller" in str(expand({**s, "sweep": {"learning_rate": {"min": 1, "max": 0.1}}}, ws).errors[0])


def test_copy_of_a_group_is_the_sweep(ws):
    raw = sweep(sweep={"learning_rate": [2e-4, 1e-4], "lora_rank": [8, 16]})
    x = expand(raw, ws)
    again = sweep_spec(x.specs[3])
    assert again["sweep"] == raw["sweep"] and again["name"] == "lr-rank" and "group" not in again
    y = expand(again, ws)
    assert [s["name"] for s in y.specs] == [s["name"] for s in x.specs]
    assert y.group["id"] != x.group["id"]


def test_spooler_queues_a_sweep_once_and_submit_prints_its_ids(ws):
    path = ws.home / "sweep.json"
    path.write_text(json.dumps(sweep(sweep={"learning_rate": [2e-4, 1e-4], "lora_rank": [8, 16]})))
    out = subprocess.run([sys.executable, "-m", "spooler", "submit", str(path), "--home", str(ws.home)],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ids = out.stdout.split()
    assert len(ids) == 4 and "sweep" in out.stderr
    bad = ws.home / "bad.json"
    bad.write_text(json.dumps(sweep(sweep={"learning_rate": [2e-4, 7]})))
    out = subprocess.run([sys.executable, "-m", "spooler", "submit", str(bad), "--home", str(ws.home)],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 1 and "sweep.learning_rate[1]" in out.stderr and not out.stdout
    with Spooler(ws) as sp:
        drop(ws, "dropped.json", sweep(sweep={"lora_rank": [4, 8, 16]}))
        wait_for(lambda: all_final(ws, 7))
        assert set(statuses(ws)) >= set(ids)
        specs = [json.loads((d / "spec.json").read_text()) for d in ws.runs.iterdir()]
        by_group = {}
        for s in specs:
            by_group.setdefault(s["group"]["id"], []).append(s["name"])
        assert sorted(map(len, by_group.values())) == [3, 4]
        assert set(statuses(ws).values()) == {"succeeded"}
        sp.stop()


def test_a_2x2_sweep_trains_for_real_on_tiny_demo(ws):
    raw = {**spec("real-sweep"), "sweep": {"learning_rate": [1e-3, 1e-2], "lora_rank": [2, 4]}}
    raw["params"].update(max_steps=3, eval_ratio=0, num_sample_prompts=1, max_samples=16, logging_steps=1)
    with Spooler(ws, trainer=None) as sp:
        drop(ws, "real.json", raw)
        wait_for(lambda: all_final(ws, 4), 600, step=0.5)
        sp.stop()
    assert set(statuses(ws).values()) == {"succeeded"}
    seen = set()
    for d in ws.runs.iterdir():
        s = json.loads((d / "spec.json").read_text())
        summary = json.loads((d / "summary.json").read_text())
        cfg = json.loads((d / "adapter" / "adapter_config.json").read_text())
        assert cfg["r"] == s["params"]["lora_rank"] and summary["total_steps"] == 3  # each run used its values
        seen.add(s["name"])
    assert seen == {"real-sweep-lr1e-3-r2", "real-sweep-lr1e-3-r4", "real-sweep-lr0.01-r2", "real-sweep-lr0.01-r4"}
