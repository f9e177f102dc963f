"""Export: merge an adapter into its base, write the serving files, register the result as a new base model."""
import json
import subprocess
import sys

import pytest

from jobs.atomic import atomic_write_json
from jobs.models.registry import RegistryError, list_models
from jobs.spec import validate
from jobs.state import create_run, new_job_id
from jobs.use import requests as rq
from tests.conftest import REPO, demo_workspace
from tests.helpers import greedy
from tests.spool_helpers import FAKE, Spooler
from tests.trainer_helpers import make_run, run, summary

PROMPTS = ["Say hello", "What is 2+3?", "写一首诗"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_home):
    ws = demo_workspace(tmp_path_factory.mktemp("export") / "ws", demo_home)
    run_dir = make_run(ws, max_steps=4, learning_rate=5e-3, eval_ratio=0, num_sample_prompts=0, lora_rank=32)
    assert run(run_dir) == 0
    return ws, run_dir


def test_export_through_the_spooler_matches_base_plus_adapter(trained):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    ws, run_dir = trained
    with Spooler(ws, trainer=FAKE) as sp:
        out = subprocess.run([sys.executable, "-m", "spooler", "export", run_dir.name, "--home", str(ws.home),
                              "--wait", "--timeout", "240"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr + sp.text()
        sp.stop()
    st = rq.export_state(run_dir)
    merged = rq.export_dir(run_dir) / rq.MERGED_DIR
    assert st["status"] == "done" and st["merged"] == str(merged.resolve()) and st["dtype"] == "float32"
    assert f"merged model: {merged.resolve()}" in out.stdout
    names = {p.name for p in merged.iterdir()}
    assert "model.safetensors" in names and "config.json" in names and "tokenizer.json" in names
    assert "chat_template.jinja" in names or "chat_template" in json.loads((merged / "tokenizer_config.json").read_text())

    m = AutoModelForCausalLM.from_pretrained(merged)
    tok = AutoTokenizer.from_pretrained(merged)
    base = AutoModelForCausalLM.from_pretrained(st["base_path"])
    peft = PeftModel.from_pretrained(base, str(run_dir / "adapter"))
    plain = AutoModelForCausalLM.from_pretrained(st["base_path"])
    outs = [(greedy(m, tok, p), greedy(peft, tok, p), greedy(plain, tok, p)) for p in PROMPTS]
    assert all(a == b for a, b, _ in outs)                 # merged == base + adapter, token for token
    assert any(a != c for a, _, c in outs)                 # and the adapter changed something

    modelfile = (rq.export_dir(run_dir) / rq.MODELFILE).read_text()
    assert modelfile.startswith("FROM ./merged\n")
    # a whole conversation, ChatML per message (rendered in Go in tests/test_gguf_export.py)
    assert 'TEMPLATE """{{ $last := "" }}{{ range .Messages }}{{ $last = .Role }}{{ if eq .Role "system" }}' \
           '<|im_start|>system\n{{ .Content }}<|im_end|>\n{{ else if eq .Role "user" }}<|im_start|>user\n' \
           '{{ .Content }}<|im_end|>\n' in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    vllm = (rq.export_dir(run_dir) / rq.VLLM_SCRIPT).read_text()
    assert f"vllm serve {st['base_path']} --enable-lora --lora-modules t-sft={(run_dir / 'adapter').resolve()}" in vllm
    assert "--max-lora-rank 32" in vllm                    # rank 32 is above vLLM's default of 16
    snippet = (rq.export_dir(run_dir) / rq.PEFT_SNIPPET).read_text()
    compile(snippet, "load_with_peft.py", "exec")
    assert "PeftModel.from_pretrained(base, " in snippet and str((run_dir / "adapter").resolve()) in snippet


def test_register_merged_as_base_then_dpo_on_it(trained):
    ws, run_dir = trained
    if rq.export_state(run_dir).get("status") != "done":
        from trainer.export import main
        assert main([str(run_dir)]) == 0
    rq.register_merged(ws, run_dir.name, "tiny-sft")
    stored, merged = ws.models / "tiny-sft", rq.export_dir(run_dir) / rq.MERGED_DIR
    assert list_models(ws)["tiny-sft"] == stored                       # in the workspace, not in the run folder
    for f in merged.iterdir():                                          # hard links: no second copy on disk
        assert (stored / f.name).stat().st_ino == f.stat().st_ino
    chain = rq.model_lineage(ws, "tiny-sft")
    assert [(c["model"], c["job_id"], c["method"], c["base_model"]) for c in chain] == \
        [("tiny-sft", run_dir.name, "sft", "tiny-demo")]
    with pytest.raises(RegistryError, match="already registered"):
        rq.register_merged(ws, run_dir.name, "tiny-sft")

    v = validate({"name": "dpo-on-sft", "method": "dpo", "base_model": "tiny-sft", "dataset": "demo-prefs",
                  "params": {"max_steps": 2, "batch_size": 2, "num_sample_prompts": 1, "max_content_length": 16}}, ws)
    assert v.ok, v.errors
    job = new_job_id()
    assert create_run(ws, job, v.spec)
    assert run(ws.run_dir(job)) == 0
    assert summary(ws.run_dir(job))["total_steps"] == 2 and rq.has_adapter(ws.run_dir(job))


def test_qlora_run_merges_into_the_original_dtype(trained):
    from safetensors import safe_open

    from trainer.export import main
    ws, _ = trained
    q = make_run(ws, max_steps=2, load_in_4bit=True, num_sample_prompts=0)
    assert run(q) == 0
    assert main([str(q)]) == 0
    st = rq.export_state(q)
    assert st["dtype"] == "float32" and "4-bit" in st["note"] and "original float32" in st["note"]
    merged = rq.export_dir(q) / rq.MERGED_DIR
    assert "quantization_config" not in json.loads((merged / "config.json").read_text())
    with safe_open(str(merged / "model.safetensors"), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float32"}


def test_export_guards(trained, ws):
    tws, run_dir = trained
    never = make_run(ws)
    with pytest.raises(rq.RequestError, match="has no adapter yet"):
        rq.submit_export(ws, never.name)
    why = rq.export_problem(tws, run_dir.name, free_bytes=1024)
    assert why.startswith("not enough disk space for the merged model: it needs about ")
    with pytest.raises(rq.RequestError, match="not enough disk space"):
        rq.submit_export(tws, run_dir.name, free_bytes=1024)
    with pytest.raises(RegistryError, match="export it first"):
        rq.register_merged(ws, never.name, "nope")
    with pytest.raises(RegistryError, match="is not a job id"):
        rq.register_merged(ws, "../" + never.name, "nope")
    with pytest.raises(RegistryError, match="no such job"):
        rq.register_merged(ws, never.name[:-6] + "abcdef", "nope")
    assert not (ws.models / "nope").exists()


def test_a_registered_merged_model_outlives_its_job(trained, monkeypatch):
    """Deleting the job (dashboard or CLI) leaves the registered model loadable with its lineage. A model registered
    by path straight into a run folder (as registration used to do) blocks the delete, naming the model."""
    import shutil

    from transformers import AutoModelForCausalLM

    from tests.helpers import open_page, text_of
    ws, run_dir = trained
    if "tiny-sft" not in list_models(ws):
        if rq.export_state(run_dir).get("status") != "done":
            from trainer.export import main
            assert main([str(run_dir)]) == 0
        rq.register_merged(ws, run_dir.name, "tiny-sft")
    copy = ws.runs / new_job_id()                          # a second finished, exported run for the CLI delete
    shutil.copytree(run_dir, copy)
    rq.register_merged(ws, copy.name, "tiny-sft-2")
    atomic_write_json(ws.models / "by-path.json", {"path": str(rq.export_dir(run_dir) / rq.MERGED_DIR)})

    cli = [sys.executable, "-m", "spooler", "delete", "--home", str(ws.home)]
    out = subprocess.run([*cli, run_dir.name], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stderr.startswith(f"error: job {run_dir.name} cannot be deleted: base model "
                                                          "by-path is registered from its files")
    out = subprocess.run([*cli, copy.name], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"{copy.name}: deleted" and not copy.exists()

    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    at = open_page("trainings")
    at.session_state["selected_jobs"] = [run_dir.name]
    at.run()
    at.toggle(key="del_toggle").set_value(True).run()
    at.button(key="btn_delete_yes").click().run()
    assert run_dir.is_dir() and "base model by-path is registered from its files" in text_of(at)
    assert at.session_state["selected_jobs"] == [run_dir.name]  # the refused job stays ticked beside its reason
    from jobs.models.registry import unregister_model
    unregister_model(ws, "by-path")
    at.run()
    at.toggle(key="del_toggle").set_value(True).run()
    at.button(key="btn_delete_yes").click().run()
    assert not run_dir.exists()

    for name, job in (("tiny-sft", run_dir.name), ("tiny-sft-2", copy.name)):
        assert AutoModelForCausalLM.from_pretrained(list_models(ws)[name]) is not None
        assert [(c["model"], c["job_id"], c["method"]) for c in rq.model_lineage(ws, name)] == [(name, job, "sft")]
    assert validate({"name": "after", "method": "sft", "base_model": "tiny-sft", "dataset": "demo-instruct"}, ws).ok
