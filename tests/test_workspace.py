import json
import os
import socket
import subprocess
import sys

import pytest

from jobs.atomic import atomic_write_json, atomic_write_text, read_json
from jobs.init import init_workspace
from jobs.models import registry
from jobs.workspace import Workspace, resolve_home
from tests.conftest import REPO


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "中文": "好"})
    assert read_json(target) == {"a": 2, "中文": "好"}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path):
    target = tmp_path / "s.json"
    atomic_write_json(target, {"ok": True})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert read_json(target) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_atomic_write_under_concurrent_readers(tmp_path):
    """A reader polling the file never sees a partial write."""
    target = tmp_path / "big.json"
    atomic_write_text(target, json.dumps({"v": "x" * 100000}))
    code = (f"import json,time\nbad=0\nend=time.time()+1.5\n"
            f"while time.time()<end:\n  s=open({str(target)!r}).read()\n  json.loads(s)\n")
    reader = subprocess.Popen([sys.executable, "-c", code])
    for i in range(200):
        atomic_write_text(target, json.dumps({"v": str(i) * 50000}))
    assert reader.wait(10) == 0


def test_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(tmp_path / "env"))
    assert resolve_home() == tmp_path / "env"
    assert resolve_home(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("TUNEDECK_HOME")
    monkeypatch.chdir(tmp_path)
    assert resolve_home() == tmp_path / "workspace"


def test_register_and_unregister_model_never_deletes_user_files(ws, demo_home, tmp_path):
    src = demo_home / "models" / "tiny-demo"
    registry.register_model(ws, "my-model", src)
    assert registry.list_models(ws)["my-model"] == src
    with pytest.raises(registry.RegistryError, match="already registered"):
        registry.register_model(ws, "my-model", src)
    registry.unregister_model(ws, "my-model")
    assert "my-model" not in registry.list_models(ws)
    assert (src / "model.safetensors").exists()
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(registry.RegistryError, match="config.json"):
        registry.register_model(ws, "x", tmp_path / "notamodel")
    with pytest.raises(registry.RegistryError, match="not allowed"):
        registry.register_model(ws, "../evil", src)
    info = registry.model_info(src)
    assert info["architecture"] == "Qwen2ForCausalLM" and info["chat_template"] and info["parameters"] > 50000


def test_dataset_checks_name_line_numbers(ws):
    good = "\n".join(json.dumps({"q": f"问题 {i}", "a": str(i)}, ensure_ascii=False) for i in range(3)).encode()
    assert registry.check_jsonl(good).errors == [] and registry.check_jsonl(good).columns == ["q", "a"]
    bad = b'{"q": 1, "a": 2}\n{"q": 1}\nnot json\n[1]\n'
    errs = registry.check_jsonl(bad).errors
    assert any(e.startswith("line 2:") and "a" in e for e in errs)
    assert any(e.startswith("line 3:") and "invalid JSON" in e for e in errs)
    assert any(e.startswith("line 4:") for e in errs)
    assert "line 2" in registry.check_jsonl(b'{"a": 1}\n\xff\xfe\n').errors[0]
    with pytest.raises(registry.RegistryError, match="line 3"):
        registry.register_dataset(ws, "bad", bad)
    registry.register_dataset(ws, "zh", good)
    info = registry.dataset_info(registry.list_datasets(ws)["zh"])
    assert info["rows"] == 3 and info["columns"] == ["q", "a"] and len(info["sha256"]) == 64
    registry.unregister_dataset(ws, "zh")
    assert "zh" not in registry.list_datasets(ws)


def test_init_is_idempotent_and_offline(tmp_path, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("jobs init tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    ws = Workspace(tmp_path / "w")
    init_workspace(ws, log=lambda *_: None)
    model = ws.models / "tiny-demo" / "model.safetensors"
    before = {p: p.stat().st_mtime_ns for p in [model, *ws.datasets.glob("*.jsonl")]}
    assert set(registry.list_datasets(ws)) == {"demo-instruct", "demo-math", "demo-prefs"}
    assert registry.model_problem(ws.models / "tiny-demo") is None
    assert model.stat().st_size < 5 * 1024 * 1024
    init_workspace(ws, log=lambda *_: None)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    math_row = json.loads((ws.datasets / "demo-math.jsonl").read_text().splitlines()[0])
    assert "####" in math_row["answer"]


def test_cli_validate_and_schema(ws, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                               "params": {"lora_rank": 0, "lerning_rate": 1}}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "jobs", "validate", str(bad), "--home", str(ws.home)],
                       capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode == 1 and "params.lora_rank" in r.stderr and "learning_rate" in r.stderr
    r = subprocess.run([sys.executable, "-m", "jobs", "validate", str(REPO / "jobs/examples/sft.json"),
                        "--home", str(ws.home)], capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode == 0 and json.loads(r.stdout)["params"]["lora_rank"] == 8
    r = subprocess.run([sys.executable, "-m", "jobs", "schema"], capture_output=True, text=True, env=env, cwd=REPO)
    assert "max_content_length" in json.loads(r.stdout)["properties"]["params"]["properties"]


def test_register_checks_the_model_loads(ws, demo_home, tmp_path):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(demo_home / "models" / "tiny-demo", broken)
    (broken / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(registry.RegistryError, match="not a loadable model"):
        registry.register_model(ws, "broken", broken)
    assert "broken" not in registry.list_models(ws)


def test_delete_job_refuses_running_and_removes_others(ws):
    from jobs.spec import validate
    from jobs.state import create_run, delete_job, new_job_id, update_state
    raw = {"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct"}
    a, b = new_job_id(), new_job_id()
    for j in (a, b):
        create_run(ws, j, validate(raw, ws).spec)
    update_state(ws.run_dir(a), status="running")
    with pytest.raises(ValueError, match="running; cancel it first"):
        delete_job(ws, a)
    delete_job(ws, b)
    assert ws.run_dir(a).is_dir() and not ws.run_dir(b).exists()
    assert [p.name for p in ws.runs.iterdir()] == [a]


def test_a_checkpoint_killed_while_saved_is_passed_over_for_the_one_before(tmp_path):
    """kill -9 while transformers saves checkpoint-8 leaves its trainer_state.json (written last) empty or cut short;
    a resume from it failed with a JSONDecodeError. The newest complete checkpoint is checkpoint-4."""
    from jobs.state import latest_checkpoint
    ck = tmp_path / "run" / "checkpoints"
    for step, text in ((4, json.dumps({"global_step": 4})), (8, ""), (12, '{"global_step": 1'), (16, None)):
        (ck / f"checkpoint-{step}").mkdir(parents=True)
        if text is not None:
            (ck / f"checkpoint-{step}" / "trainer_state.json").write_text(text)
    assert latest_checkpoint(tmp_path / "run") == ck / "checkpoint-4"
    (ck / "checkpoint-4" / "trainer_state.json").write_text("[]")
    assert latest_checkpoint(tmp_path / "run") is None
