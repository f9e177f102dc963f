"""What an export writes beside the merged model so other tools can serve it: the vLLM command that serves the
adapter without merging, the PEFT snippet that loads base + adapter, and the one-turn Ollama TEMPLATE that
trainer/ollama_template.py falls back to for the Modelfile."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

SYS, USER = "\x00SYSTEM\x00", "\x00PROMPT\x00"


def lora_name(job_name: str, job_id: str) -> str:
    """A LoRA module name vLLM accepts: the job's name reduced to safe characters."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", job_name or "").strip("-.")
    return name or job_id


def vllm_command(base_path: Path, adapter: Path, name: str, rank: int) -> str:
    # vLLM refuses adapters above --max-lora-rank (16 by default), so the command raises it when needed.
    cmd = ["vllm", "serve", str(base_path), "--enable-lora", "--lora-modules", f"{name}={adapter}"]
    if rank > 16:
        cmd += ["--max-lora-rank", str(next(r for r in (32, 64, 128, 256, 512) if r >= rank) if rank <= 512 else rank)]
    return shlex.join(cmd)


def peft_snippet(base_path: Path, adapter: Path) -> str:
    return (
        "from peft import PeftModel\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f"base = AutoModelForCausalLM.from_pretrained({str(base_path)!r}, dtype=\"auto\")\n"
        f"tokenizer = AutoTokenizer.from_pretrained({str(adapter)!r})\n"
        f"model = PeftModel.from_pretrained(base, {str(adapter)!r})\n"
        "messages = [{\"role\": \"user\", \"content\": \"Hello!\"}]\n"
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\",\n"
        "                                       return_dict=True)\n"
        "out = model.generate(**inputs, max_new_tokens=128)\n"
        "print(tokenizer.decode(out[0][inputs[\"input_ids\"].shape[1]:], skip_special_tokens=True))\n"
    )


def ollama_template(tokenizer) -> str:
    """The tokenizer's Jinja chat template as an Ollama (Go) TEMPLATE for one system + one user turn.

    Rendered with placeholder messages, then the placeholders become {{ .System }} and {{ .Prompt }}; the system
    part is wrapped in {{ if .System }} when the template renders it as a separable block.
    """
    def render(msgs):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    with_sys = render([{"role": "system", "content": SYS}, {"role": "user", "content": USER}])
    no_sys = render([{"role": "user", "content": USER}])
    pre = 0
    while pre < min(len(with_sys), len(no_sys)) and with_sys[pre] == no_sys[pre]:
        pre += 1
    post = 0
    while post < min(len(with_sys), len(no_sys)) - pre and with_sys[-1 - post] == no_sys[-1 - post]:
        post += 1
    n = len(with_sys) - post - pre
    while pre > 0 and n > 0 and with_sys[pre - 1] == with_sys[pre + n - 1]:
        pre, post = pre - 1, post + 1  # slide the system block back to where its turn starts ("<|im_start|>system")
    block = with_sys[pre:len(with_sys) - post]
    if SYS in block and with_sys[:pre] + with_sys[len(with_sys) - post:] == no_sys:
        out = with_sys[:pre] + "{{ if .System }}" + block + "{{ end }}" + with_sys[len(with_sys) - post:]
    else:
        out = with_sys
    return out.replace(SYS, "{{ .System }}").replace(USER, "{{ .Prompt }}")

