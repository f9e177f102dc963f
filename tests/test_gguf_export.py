"""GGUF export: llama.cpp's converter and quantizer write f16 / q8_0 / q4_k_m files, llama.cpp loads each and answers
like the merged model, the Modelfile's multi-turn TEMPLATE renders (in Go) like the chat template, a killed
quantization leaves nothing offered, and a GGUF goes back in as a base model and trains again."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.use import requests as rq
from tests.conftest import REPO, demo_workspace
from tests.spool_helpers import FAKE, Spooler
from tests.trainer_helpers import make_run, run

ALL = "f16,q8_0,q4_k_m"


@pytest.fixture(scope="module")
def gguf_tools():
    """llama-cpp-python (requirements.txt) and llama.cpp's converter, extracted from its sdist once per venv."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (requirements.txt installs it)")
    from trainer import gguf_export
    if gguf_export.tools_problem():
        try:
            gguf_export.install_converter()
        except gguf_export.GGUFError as e:
            pytest.skip(f"llama.cpp's converter could not be installed: {e}")
    assert gguf_export.tools_problem() is None


def export_cli(ws, job, gguf=ALL, timeout=900):
    with Spooler(ws, trainer=FAKE) as sp:
        out = subprocess.run([sys.executable, "-m", "spooler", "export", job, "--home", str(ws.home), "--gguf", gguf,
                              "--wait", "--timeout", str(timeout)], cwd=REPO, capture_output=True, text=True,
                             timeout=timeout + 60)
        sp.stop()
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, demo_home, gguf_tools):
    ws = demo_workspace(tmp_path_factory.mktemp("gguf") / "ws", demo_home)
    run_dir = make_run(ws, max_steps=4, learning_rate=5e-3, eval_ratio=0, num_sample_prompts=3, lora_rank=16)
    assert run(run_dir) == 0
    out = export_cli(ws, run_dir.name)
    return ws, run_dir, out


def entries(run_dir):
    return {g["quant"]: g for g in rq.export_state(run_dir)["gguf"]}


def test_tiny_demo_exports_gguf_that_llama_cpp_loads_and_answers(tiny):
    ws, run_dir, out = tiny
    assert out.returncode == 0, out.stdout + out.stderr
    st = rq.export_state(run_dir)
    assert st["status"] == "done" and st["gguf_error"] is None and st["gguf_prompts"] == "samples.jsonl"
    got = entries(run_dir)
    assert list(got) == ["f16", "q8_0", "q4_k_m"]
    for quant, g in got.items():
        path = Path(g["file"])
        assert path == (rq.export_dir(run_dir) / "gguf" / f"t-sft-{quant}.gguf").resolve() and path.is_file()
        assert g["size_bytes"] == path.stat().st_size and stat.S_IMODE(path.stat().st_mode) == 0o644
        assert g["load_seconds"] > 0 and g["tokens_per_second"] > 0 and len(g["match_per_prompt"]) == 3
        assert g["prompt_tokens_agree"]             # llama.cpp tokenizes the chat-rendered prompts as transformers does
        assert f"  {quant:7} " in out.stdout
    assert got["f16"]["match"] == 1.0              # f16 answers token for token like the merged model
    assert got["f16"]["tensor_types"].keys() <= {"F16", "F32"}
    assert "Q8_0" in got["q8_0"]["tensor_types"]
    # tiny-demo's rows are 64 or 128 values wide: not a multiple of 256, so llama.cpp stores q4_k_m's tensors with
    # its fallback types instead of k-quants. The file is still written, loads and answers.
    assert "Q4_K" not in got["q4_k_m"]["tensor_types"]
    assert got["f16"]["size_bytes"] > got["q8_0"]["size_bytes"]
    modelfile = (rq.export_dir(run_dir) / rq.MODELFILE).read_text()
    assert modelfile.startswith("FROM ./gguf/t-sft-q4_k_m.gguf\n") and st["modelfile_from"] == "./gguf/t-sft-q4_k_m.gguf"
    assert f"ollama create NAME -f {rq.export_dir(run_dir).resolve() / 'Modelfile'}" in out.stdout


def test_export_files_are_readable_and_vllm_sh_runs(tiny):
    """Issue #25: export files were 0600 (atomic writes), so ./vllm.sh said "Permission denied"."""
    _, run_dir, _ = tiny
    out = rq.export_dir(run_dir)
    assert stat.S_IMODE((out / rq.VLLM_SCRIPT).stat().st_mode) == 0o755
    assert stat.S_IMODE((out / rq.MODELFILE).stat().st_mode) == 0o644
    assert stat.S_IMODE((out / rq.PEFT_SNIPPET).stat().st_mode) == 0o644
    res = subprocess.run(["./" + rq.VLLM_SCRIPT], cwd=out, capture_output=True, text=True,
                         env={**os.environ, "PATH": "/nonexistent"})
    assert "Permission denied" not in res.stderr and res.returncode == 127  # it runs; only vllm itself is missing


def test_details_page_shows_the_gguf_table_and_a_copyable_path(tiny, monkeypatch):
    from tests.helpers import open_page, text_of
    ws, run_dir, _ = tiny
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    at = open_page("details", id=run_dir.name)
    merged = str((rq.export_dir(run_dir) / rq.MERGED_DIR).resolve())
    assert merged in [c.value for c in at.code]    # as text in a code block (copy button), no &#47; entities
    assert not any("&#47;" in c.value for c in at.code)
    table = next(d.value for d in at.dataframe if "Greedy match" in d.value.columns)
    assert list(table["Quantization"]) == ["f16", "q8_0", "q4_k_m"] and table["Greedy match"][0] == "100 %"
    assert "Share of the first 32 greedy tokens equal to the merged model's" in text_of(at)
    assert "q4_k_m: some tensors are not a multiple of 256 values wide" in text_of(at)
    at.sidebar.selectbox[0].set_value("zh").run()
    assert "GGUF 文件" in text_of(at)


def go_render(template: str, messages: list[dict], tmp_path: Path) -> str:
    """Render an Ollama TEMPLATE with Go's text/template, given the values Ollama gives it (template.go: collate
    joins the system messages into .System and keeps them in .Messages; consecutive turns of one role merge)."""
    if not shutil.which("go"):
        pytest.skip("Go is not installed (Debian: apt-get install golang-go)")
    src = tmp_path / "render.go"
    src.write_text(GO_RENDER)
    (tmp_path / "t.tmpl").write_text(template)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "off", "GOCACHE": str(Path.home() / ".cache/go-build")}
    res = subprocess.run(["go", "run", str(src), str(tmp_path / "t.tmpl")], input=json.dumps(messages),
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout


GO_RENDER = r'''package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type Function struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}
type ToolCall struct {
	Function Function `json:"function"`
}
type Message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

func main() {
	src, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var msgs []Message
	if err := json.NewDecoder(os.Stdin).Decode(&msgs); err != nil {
		panic(err)
	}
	funcs := template.FuncMap{"json": func(v any) string { b, _ := json.Marshal(v); return string(b) }}
	t := template.Must(template.New("").Option("missingkey=zero").Funcs(funcs).Parse(string(src)))
	var system []string
	var collated []*Message
	for i := range msgs {
		if msgs[i].Role == "system" {
			system = append(system, msgs[i].Content)
		}
		if len(collated) > 0 && collated[len(collated)-1].Role == msgs[i].Role && msgs[i].Role != "tool" {
			collated[len(collated)-1].Content += "\n\n" + msgs[i].Content
		} else {
			collated = append(collated, &msgs[i])
		}
	}
	vals := map[string]any{"System": strings.Join(system, "\n\n"), "Messages": collated, "Tools": nil, "Response": ""}
	if err := t.Execute(os.Stdout, vals); err != nil {
		panic(err)
	}
}
'''

THREE_TURNS = [{"role": "system", "content": "You answer in one line."},
               {"role": "user", "content": "Hi {{ .System }} <b>"}, {"role": "assistant", "content": "Hello!"},
               {"role": "user", "content": "What is 2+3?"}, {"role": "assistant", "content": "5"},
               {"role": "user", "content": "And 3+4?"}]


def check_template(tok, tmp_path, tools=False):
    from trainer.ollama_template import ollama_template
    template = ollama_template(tok)
    convs = [THREE_TURNS, THREE_TURNS[1:], THREE_TURNS[:5]]
    if tools:
        call = {"role": "assistant", "content": "",
                "tool_calls": [{"type": "function", "function": {"name": "weather", "arguments": {}}},
                               {"type": "function", "function": {"name": "time", "arguments": {}}}]}
        convs.append([THREE_TURNS[0], {"role": "user", "content": "Weather?"}, call,
                      {"role": "tool", "content": "sunny"}, {"role": "tool", "content": "noon"}])
    for conv in convs:
        want = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=conv[-1]["role"] != "assistant")
        assert go_render(template, conv, tmp_path) == want, conv
    return template


def test_modelfile_template_renders_conversations_like_the_chat_template(demo_home, tmp_path):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(demo_home / "models" / "tiny-demo")
    template = check_template(tok, tmp_path, tools=True)
    assert ".ToolCalls" in template and '{{ else if eq .Role "tool" }}' in template


def test_smollm2_template_with_its_default_system_turn(smollm2_home, tmp_path):
    from transformers import AutoTokenizer

    from jobs.models import smollm2
    from jobs.models.registry import list_models
    from jobs.workspace import Workspace
    tok = AutoTokenizer.from_pretrained(list_models(Workspace(smollm2_home))[smollm2.NAME])
    template = check_template(tok, tmp_path)
    assert template.startswith("{{ if not .System }}<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_space_check_counts_the_gguf_files(tiny):
    ws, run_dir, _ = tiny
    base = Path(rq.export_state(run_dir)["base_path"])
    merged_only = rq.merged_size_estimate(base)
    assert rq.export_problem(ws, run_dir.name, free_bytes=merged_only + 1) is None
    why = rq.export_problem(ws, run_dir.name, free_bytes=merged_only + 1, gguf=["f16", "q8_0"])
    assert why.startswith("not enough disk space for the merged model and its GGUF files (f16, q8_0): it needs about")
    with pytest.raises(rq.RequestError, match="gguf: unknown quantization 'q5_k'; allowed: f16, q8_0, q4_k_m"):
        rq.submit_export(ws, run_dir.name, gguf="f16,q5_k")


def test_an_architecture_the_converter_lacks_fails_the_gguf_step_only(tiny, tmp_path):
    from trainer import gguf_export
    _, run_dir, _ = tiny
    odd = tmp_path / "odd"
    shutil.copytree(rq.export_dir(run_dir) / rq.MERGED_DIR, odd)
    cfg = json.loads((odd / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**cfg, "architectures": ["TunedeckToyForCausalLM"]}))
    fake_run = tmp_path / "run"
    (fake_run / "export").mkdir(parents=True)
    found = gguf_export.export_gguf(fake_run, odd, "odd", ["f16"], [], {"prompt_ids": [], "answers": []})
    assert found["gguf"] == [] and found["gguf_error"] == ("llama.cpp's converter (llama-cpp-python "
                                                           f"{gguf_export.llama_cpp_version()}) does not support the "
                                                           "architecture 'TunedeckToyForCausalLM'")
    assert not list((fake_run / "export" / "gguf").iterdir())      # no file, not even a temporary one


@pytest.fixture(scope="module")
def reimported(tiny):
    """The f16 GGUF of the tiny-demo SFT export, registered again as a base model through the GGUF import."""
    from jobs.models.gguf_import import import_gguf
    from jobs.models.registry import list_models
    ws, run_dir, _ = tiny
    import_gguf(ws, "tiny-sft-gguf", entries(run_dir)["f16"]["file"])
    assert "tiny-sft-gguf" in list_models(ws)
    return ws, "tiny-sft-gguf"


def llama_cpp_answers(path: Path, tokenizer_dir: Path, prompt: str, max_tokens: int = 16) -> str:
    """What llama.cpp (llama_cpp.Llama, as a user would load the file) answers greedily to one chat prompt."""
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from trainer.generate import chat_text
    llm = Llama(model_path=str(path), n_ctx=256, n_threads=2, seed=0, verbose=False)
    try:
        text = chat_text(AutoTokenizer.from_pretrained(tokenizer_dir), prompt)
        out = llm.create_completion(text, max_tokens=max_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0)
    finally:
        llm.close()
    return out["choices"][0]["text"]


@pytest.mark.parametrize("method,dataset", [("sft", "demo-instruct"), ("dpo", "demo-prefs")])
def test_gguf_round_trip_trains_again_and_the_result_runs_in_llama_cpp(reimported, method, dataset):
    """The whole round trip: a tiny-demo SFT run's GGUF goes back in as a base model (the GGUF import); an SFT run
    and a DPO run train on it, each is exported to GGUF again, and llama.cpp loads that file and writes text."""
    from jobs.spec import validate
    from jobs.state import create_run, new_job_id
    from trainer.export import main as export_main
    ws, model = reimported
    v = validate({"name": f"again-{method}", "method": method, "base_model": model, "dataset": dataset,
                  "params": {"max_steps": 2, "batch_size": 2, "num_sample_prompts": 1, "eval_ratio": 0,
                             "max_content_length": 16}}, ws)
    assert v.ok, v.errors
    job = new_job_id()
    assert create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    assert run(run_dir) == 0 and rq.has_adapter(run_dir), method
    assert export_main([str(run_dir), "--gguf", "q8_0"]) == 0
    st = rq.export_state(run_dir)
    assert st["status"] == "done" and st["gguf_error"] is None, st
    (g,) = rq.offered_gguf(run_dir)
    assert g["quant"] == "q8_0" and Path(g["file"]).name == f"again-{method}-q8_0.gguf" and g["prompt_tokens_agree"]
    answer = llama_cpp_answers(Path(g["file"]), Path(st["merged"]), "Spell the word backwards: apple")
    assert answer.strip(), f"llama.cpp wrote no text for the {method} run's GGUF"


# The exporter with llama.cpp's quantizer stopped halfway: the output is half written (its first half, as a kill
# during the write leaves it) and the process waits there until the test kills it with SIGKILL.
HALFWAY = r"""
import sys, time
from pathlib import Path
import llama_cpp
real = llama_cpp.llama_model_quantize
def halfway(src, dst, params):
    rc = real(src, dst, params)
    out = Path(dst.decode())
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    print("QUANTIZING", out.name, flush=True)
    time.sleep(600)
    return rc
llama_cpp.llama_model_quantize = halfway
from trainer.export import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_halfway_through_quantizing_leaves_nothing_finished_and_the_export_runs_again(tiny):
    """kill -9 while q8_0 is half written: no .gguf under its finished name, nothing offered; exporting again
    clears the leftover and succeeds (tiny-demo; the SmolLM2 test below catches a real quantization instead)."""
    from jobs.state import new_job_id
    ws, src, _ = tiny
    job = new_job_id()
    shutil.copytree(src, ws.run_dir(job), ignore=shutil.ignore_patterns("export"))  # the same trained run, unexported
    run_dir = ws.run_dir(job)
    gdir = rq.export_dir(run_dir) / rq.GGUF_DIR
    proc = subprocess.Popen([sys.executable, "-c", HALFWAY, str(run_dir), "--gguf", "q8_0"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        line = ""
        while not line.startswith("QUANTIZING") and proc.poll() is None:
            line = proc.stdout.readline()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert line.split() == ["QUANTIZING", ".t-sft-q8_0.gguf.part"], "the exporter died before quantizing"
    left = sorted(p.name for p in gdir.iterdir())
    assert left == [".t-sft-q8_0.gguf.part", "t-sft-f16.gguf"]  # half of q8_0, hidden; f16 finished (and renamed)
    assert not (gdir / "t-sft-q8_0.gguf").exists() and rq.offered_gguf(run_dir) == []
    st = rq.export_state(run_dir)
    assert st["status"] == "exporting" and st["step"] == "quantize q8_0" and not st.get("gguf")

    from trainer.export import main as export_main
    assert export_main([str(run_dir), "--gguf", "q8_0"]) == 0  # `python -m trainer.export RUN --gguf q8_0`, again
    assert sorted(p.name for p in gdir.iterdir()) == ["t-sft-q8_0.gguf"]  # leftover cleared, f16 not asked for
    (g,) = rq.offered_gguf(run_dir)
    assert rq.export_state(run_dir)["status"] == "done" and g["quant"] == "q8_0" and g["match"] > 0
    assert "Q8_0" in g["tensor_types"] and g["size_bytes"] == (gdir / "t-sft-q8_0.gguf").stat().st_size


@pytest.fixture(scope="module")
def smol(tmp_path_factory, smollm2_home, gguf_tools):
    from jobs.models import smollm2
    from jobs.spec import validate
    from jobs.state import create_run, new_job_id
    from jobs.workspace import Workspace
    ws = Workspace(smollm2_home)
    v = validate({"name": "smol", "method": "sft", "base_model": smollm2.NAME, "dataset": "demo-instruct",
                  "params": {"max_steps": 2, "batch_size": 2, "eval_ratio": 0, "num_sample_prompts": 3,
                             "max_content_length": 32, "learning_rate": 1e-3}}, ws)
    assert v.ok, v.errors
    job = new_job_id()
    assert create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    assert run(run_dir) == 0
    out = export_cli(ws, run_dir.name)
    return ws, run_dir, out


def test_smollm2_exports_gguf_that_answers_like_the_merged_model(smol):
    _, run_dir, out = smol
    assert out.returncode == 0, out.stdout + out.stderr
    got = entries(run_dir)
    assert list(got) == ["f16", "q8_0", "q4_k_m"] and not any(g.get("error") for g in got.values())
    assert got["f16"]["match"] == 1.0 and all(g["prompt_tokens_agree"] for g in got.values())
    assert got["f16"]["size_bytes"] > got["q8_0"]["size_bytes"] > got["q4_k_m"]["size_bytes"]
    assert "Q4_K" in got["q4_k_m"]["tensor_types"]  # SmolLM2's 1536-wide rows take k-quants (576-wide ones fall back)
    assert all(0 <= g["match"] <= 1 for g in got.values())


def test_kill_9_during_quantization_leaves_no_gguf_that_is_offered(smol, monkeypatch):
    from tests.helpers import open_page
    ws, run_dir, _ = smol
    gdir = rq.export_dir(run_dir) / rq.GGUF_DIR
    proc = subprocess.Popen([sys.executable, "-m", "trainer.export", str(run_dir), "--gguf", "q8_0"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    part = gdir / ".smol-q8_0.gguf.part"
    end = time.time() + 600
    while time.time() < end and not part.exists() and proc.poll() is None:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert part.exists(), "the quantization was not caught while writing"
    assert not (gdir / "smol-q8_0.gguf").exists() and rq.offered_gguf(run_dir) == []
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    at = open_page("details", id=run_dir.name)
    assert not any("Greedy match" in d.value.columns for d in at.dataframe)
    assert not any(".gguf" in c.value for c in at.code)
