"""A full fine-tune used like an adapter run: Try it answers from runs/<id>/model/, export's merged model is that
folder, and it registers as a new base model."""
import subprocess
import sys

import pytest

from jobs.models.registry import list_models
from jobs.rundir import RunDir
from jobs.spec import editable_spec
from jobs.state import read_spec
from jobs.use import requests as rq
from tests.conftest import REPO, demo_workspace
from tests.helpers import greedy
from tests.spool_helpers import FAKE, Spooler, wait_for
from tests.trainer_helpers import make_run, run

GREEDY = {"greedy": True, "max_new_tokens": 12}


@pytest.fixture(scope="module")
def full(tmp_path_factory, demo_home):
    ws = demo_workspace(tmp_path_factory.mktemp("full-use") / "ws", demo_home)
    run_dir = make_run(ws, finetuning_type="full", max_steps=6, learning_rate=5e-3, eval_ratio=0,
                       num_sample_prompts=0)
    assert run(run_dir) == 0 and RunDir(run_dir).is_full
    return ws, run_dir


def test_try_it_answers_from_the_full_runs_model_folder(full):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    ws, run_dir = full
    assert rq.has_adapter(run_dir)  # a trained result Try it and export accept
    with Spooler(ws, "--try-idle", "60", trainer=FAKE) as sp:
        rid = rq.submit_try(ws, [run_dir.name], "Say hello", include_base=True, settings=GREEDY)
        wait_for(lambda: rq.read_try(ws, run_dir.name, rid)["status"] in rq.FINAL_TRY, 120, 0.1)
        r = rq.read_try(ws, run_dir.name, rid)
        assert r["status"] == "done", r.get("error")
        assert [a["target"] for a in r["answers"]] == ["base", run_dir.name]
        sp.stop()
    model = AutoModelForCausalLM.from_pretrained(RunDir(run_dir).model)
    tok = AutoTokenizer.from_pretrained(RunDir(run_dir).model)
    expect = tok.decode(greedy(model, tok, "Say hello")[len(tok.apply_chat_template(
        [{"role": "user", "content": "Say hello"}], tokenize=True, add_generation_prompt=True)["input_ids"]):][:12],
        skip_special_tokens=True).strip()
    assert r["answers"][1]["text"] == expect  # the model folder's own greedy answer


def test_export_of_a_full_run_is_its_model_folder_and_registers_as_a_base(full):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    ws, run_dir = full
    with Spooler(ws, trainer=FAKE) as sp:
        out = subprocess.run([sys.executable, "-m", "spooler", "export", run_dir.name, "--home", str(ws.home),
                              "--wait", "--timeout", "240"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr + sp.text()
        sp.stop()
    st = rq.export_state(run_dir)
    merged = rq.export_dir(run_dir) / rq.MERGED_DIR
    assert st["status"] == "done", st
    m, own = AutoModelForCausalLM.from_pretrained(merged), AutoModelForCausalLM.from_pretrained(RunDir(run_dir).model)
    tok = AutoTokenizer.from_pretrained(merged)
    assert all(greedy(m, tok, p) == greedy(own, tok, p) for p in ("Say hello", "What is 2+3?"))
    vllm = (rq.export_dir(run_dir) / rq.VLLM_SCRIPT).read_text()
    assert f"vllm serve {RunDir(run_dir).model.resolve()}" in vllm and "--enable-lora" not in vllm
    compile((rq.export_dir(run_dir) / rq.PEFT_SNIPPET).read_text(), "load.py", "exec")
    rq.register_merged(ws, run_dir.name, "full-tuned")
    assert "full-tuned" in list_models(ws)
    assert editable_spec(read_spec(run_dir))["params"]["finetuning_type"] == "full"  # Copy keeps it
