"""Each parameter is honoured: proven on real runs, observed through a probe callback."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from jobs.atomic import read_json
from tests.conftest import REPO, write_jsonl
from tests.trainer_helpers import Probe, make_run, run, state, summary, train_rows


def test_max_steps_wins_over_epochs(ws, monkeypatch):
    run_dir = make_run(ws, max_steps=3, epochs=5)
    assert run(run_dir) == 0
    assert summary(run_dir)["total_steps"] == 3


def test_epochs_when_max_steps_unset(ws):
    write_jsonl(ws.datasets / "eight.jsonl", [{"instruction": f"say {i}", "output": str(i)} for i in range(8)])
    run_dir = make_run(ws, dataset="eight", max_steps=None, epochs=2, batch_size=2, eval_ratio=0)
    assert run(run_dir) == 0
    s = summary(run_dir)
    assert s["total_steps"] == 8 and math.isclose(s["epochs"], 2.0)


def test_batch_size_and_grad_accum(ws, monkeypatch):
    probe = Probe()
    run_dir = make_run(ws, max_steps=2, batch_size=3, grad_accum_steps=4)
    assert run(run_dir, monkeypatch, probe) == 0
    assert probe.batch_rows == [3] * 8  # 2 optimizer steps × 4 micro-batches of 3 rows
    assert len(probe.grad_norms) == 2


def test_max_grad_norm_clips(ws, monkeypatch):
    probe = Probe()
    run_dir = make_run(ws, max_steps=3, max_grad_norm=0.01, learning_rate=1e-2)
    assert run(run_dir, monkeypatch, probe) == 0
    logged = [float(r["grad_norm"]) for r in train_rows(run_dir)]
    assert max(logged) > 0.01  # the raw norm is larger ...
    assert all(g <= 0.01 * 1.001 for g in probe.grad_norms)  # ... and what the optimizer sees is clipped


def test_learning_rate_and_warmup_steps(ws, monkeypatch):
    probe = Probe()
    run_dir = make_run(ws, max_steps=8, learning_rate=4e-3, warmup_steps=4, warmup_ratio=0.5)
    assert run(run_dir, monkeypatch, probe) == 0
    lrs = probe.lrs  # lr used by each optimizer step: linear warmup over 4 steps, then linear decay
    assert lrs[0] == 0.0 and math.isclose(lrs[2], 2e-3) and math.isclose(lrs[4], 4e-3)
    assert lrs[5] < lrs[4]


def test_warmup_ratio(ws, monkeypatch):
    probe = Probe()
    run_dir = make_run(ws, max_steps=10, learning_rate=1e-3, warmup_ratio=0.2)
    assert run(run_dir, monkeypatch, probe) == 0
    assert probe.lrs[0] == 0 and math.isclose(probe.lrs[1], 5e-4) and math.isclose(probe.lrs[2], 1e-3)


def test_lora_rank_in_saved_adapter(ws):
    run_dir = make_run(ws, max_steps=1, lora_rank=4, lora_alpha=16)
    assert run(run_dir) == 0
    cfg = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 16


def test_load_in_4bit_uses_bitsandbytes_nf4(ws, monkeypatch):
    probe = Probe()
    run_dir = make_run(ws, max_steps=2, load_in_4bit=True)
    assert run(run_dir, monkeypatch, probe) == 0
    assert probe.linear4bit and probe.linear4bit >= 14  # every linear layer of the 2-layer model
    assert state(run_dir)["status"] == "succeeded"
    plain = Probe()
    run_dir = make_run(ws, max_steps=1, load_in_4bit="false")
    assert run(run_dir, monkeypatch, plain) == 0 and plain.linear4bit == 0


def test_max_samples_limits_rows(ws):
    run_dir = make_run(ws, max_samples=20, max_steps=1)
    assert run(run_dir) == 0
    rows = summary(run_dir)["rows"]
    assert rows["read"] == 20 and rows["train"] + rows["eval"] + rows["dropped"] == 20


def test_length_limits_in_tokens(ws, monkeypatch):
    from transformers import AutoTokenizer

    from trainer.data import prepare
    long = [{"instruction": "word " * 300, "output": "answer " * 300} for _ in range(6)]
    write_jsonl(ws.datasets / "long.jsonl", long)
    tok = AutoTokenizer.from_pretrained(json.loads((ws.models / "tiny-demo.json").read_text())["path"])
    params = {"prompt_input_column": "instruction", "prompt_output_column": "output", "prompt_context_column": None,
              "max_input_length": 40, "max_content_length": 30, "max_seq_length": 64, "seed": 1,
              "eval_ratio": 0, "num_sample_prompts": 2}
    prep = prepare(long, params, tok, "prompt_completion", "long")
    assert prep.truncated == 6 and prep.dropped == 0
    for item in prep.train:
        assert len(tok(item["prompt"], add_special_tokens=False)["input_ids"]) <= 40
        assert len(tok(item["completion"], add_special_tokens=False)["input_ids"]) <= 30
    probe = Probe()
    run_dir = make_run(ws, dataset="long", max_input_length=40, max_content_length=30, max_seq_length=64,
                       max_steps=2, eval_ratio=0)
    assert run(run_dir, monkeypatch, probe) == 0
    assert probe.seq_lens and max(probe.seq_lens) <= 64
    assert "6 truncated" in (run_dir / "train.log").read_text()


def test_column_mapping(ws):
    write_jsonl(ws.datasets / "qa.jsonl", [{"q": f"What is {i} plus 1?", "a": f"It is {i + 1}.", "x": "noise"}
                                           for i in range(20)])
    run_dir = make_run(ws, dataset="qa", prompt_input_column="q", prompt_output_column="a", max_steps=1)
    assert run(run_dir) == 0
    for line in (run_dir / "samples.jsonl").read_text().splitlines():
        s = json.loads(line)
        assert s["prompt"].startswith("What is") and s["reference"].startswith("It is")


def test_same_seed_same_losses(ws):
    a, b = make_run(ws, max_steps=4), make_run(ws, max_steps=4)
    assert run(a) == 0 and run(b) == 0
    assert [r["loss"] for r in train_rows(a)] == [r["loss"] for r in train_rows(b)]


def test_stop_file_saves_adapter_and_checkpoint(ws, monkeypatch):
    run_dir = make_run(ws, max_steps=50)

    class StopAfterFirstStep(Probe):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 1:
                (run_dir / "stop").touch()

    from jobs.state import EXIT_STOPPED, latest_checkpoint
    assert run(run_dir, monkeypatch, StopAfterFirstStep()) == EXIT_STOPPED
    st = state(run_dir)
    assert st["status"] == "cancelled" and (run_dir / "adapter" / "adapter_config.json").exists()
    assert latest_checkpoint(run_dir) is not None
    assert 1 <= summary(run_dir)["total_steps"] <= 2


def test_stop_before_training_ends_at_once_and_keeps_nothing(ws):
    """A stop already requested ends the job during data preparation: no step, no adapter, a reason that says so."""
    run_dir = make_run(ws, max_steps=50)
    (run_dir / "stop").touch()
    from jobs.state import EXIT_STOPPED, latest_checkpoint
    assert run(run_dir) == EXIT_STOPPED
    st = state(run_dir)
    assert st["status"] == "cancelled" and "before training started" in (st.get("error") or "")
    assert not (run_dir / "adapter").exists() and latest_checkpoint(run_dir) is None


@pytest.mark.parametrize("case", ["missing_column", "empty", "bad_json_line", "not_a_model", "nan_loss",
                                  "custom_import"])
def test_bad_input_fails_clearly(ws, case):
    from jobs.atomic import atomic_write_json
    params = {"max_steps": 2}

    if case == "missing_column":
        write_jsonl(ws.datasets / "cols.jsonl", [{"instruction": "a", "output": "b"}])
        run_dir = make_run(ws, dataset="cols", **params)
        write_jsonl(ws.datasets / "cols.jsonl", [{"prompt": "a", "answer": "b"}])  # changed after submission
        expect = "columns are: prompt, answer"
    elif case == "empty":
        write_jsonl(ws.datasets / "e.jsonl", [{"instruction": "a", "output": "b"}])
        run_dir = make_run(ws, dataset="e", **params)
        (ws.datasets / "e.jsonl").write_text("")
        expect = "empty"
    elif case == "bad_json_line":
        (ws.datasets / "j.jsonl").write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "d"}\n{oops\n')
        run_dir = make_run(ws, dataset="j", **params)
        expect = "line 3: invalid JSON"
    elif case == "not_a_model":
        run_dir = make_run(ws, **params)
        folder = ws.home / "empty-folder"
        folder.mkdir()
        atomic_write_json(ws.models / "tiny-demo.json", {"path": str(folder)})
        expect = "not a loadable model folder"
    elif case == "custom_import":
        (ws.methods / "fragile.py").write_text(
            "DESCRIPTION='ok'\nPARAMS=[]\n"
            "DEFAULT_COLUMNS={'prompt_input_column': 'instruction', 'prompt_output_column': 'output'}\n"
            "def build_trainer(*a):\n    pass\n")
        run_dir = make_run(ws, method="fragile", **params)
        import time as _t
        _t.sleep(0.01)
        (ws.methods / "fragile.py").write_text("import no_such_package_abc\n")  # broken after submission
        expect = "no_such_package_abc"
    else:
        (ws.methods / "nanloss.py").write_text(
            "DESCRIPTION='nan'\nPARAMS=[]\n"
            "DEFAULT_COLUMNS={'prompt_input_column': 'instruction', 'prompt_output_column': 'output'}\n"
            "def build_trainer(model, tokenizer, train, eval, config, params):\n"
            "    from trl import SFTTrainer\n"
            "    class T(SFTTrainer):\n"
            "        def compute_loss(self, *a, **k):\n"
            "            out = super().compute_loss(*a, **k)\n"
            "            return out * float('nan') if not isinstance(out, tuple) else out\n"
            "    return T(model=model, args=config, train_dataset=train, eval_dataset=eval, processing_class=tokenizer)\n")
        run_dir = make_run(ws, method="nanloss", **params)
        expect = "NaN"
    assert run(run_dir) == 1
    st = state(run_dir)
    assert st["status"] == "failed" and expect in st["error"], st["error"]
    assert "\n" not in st["error"]
    assert expect in (run_dir / "train.log").read_text()
    assert not (run_dir / "adapter").exists()


def test_oom_message_suggests_fixes():
    import torch

    from trainer.run import _explain
    msg = _explain(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert "batch_size" in msg and "load_in_4bit" in msg


def test_resume_after_sigkill_continues_the_curve(ws):
    run_dir = make_run(ws, max_steps=300, checkpoint_steps=20, save_total_limit=2, eval_ratio=0,
                       num_sample_prompts=0, logging_steps=1)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = open(run_dir / "train.log", "ab")
    p = subprocess.Popen([sys.executable, "-m", "trainer", str(run_dir)], cwd=REPO, env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((run_dir / "checkpoints").glob("checkpoint-40")):
        time.sleep(0.05)
        assert p.poll() is None, (run_dir / "train.log").read_text()[-2000:]
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    killed_at = max(int(r["step"]) for r in train_rows(run_dir))
    assert killed_at < 300 and not (run_dir / "adapter").exists()
    r = subprocess.run([sys.executable, "-m", "trainer", str(run_dir), "--resume"], cwd=REPO, env=env,
                       stdout=log, stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, (run_dir / "train.log").read_text()[-2000:]
    steps = [int(r["step"]) for r in train_rows(run_dir)]
    assert steps == list(range(1, 301))  # continuous: no gap, no step twice
    assert "resuming from checkpoint-" in (run_dir / "train.log").read_text()
    assert state(run_dir)["status"] == "succeeded" and summary(run_dir)["total_steps"] == 300
    elapsed = [float(r["elapsed_seconds"]) for r in train_rows(run_dir)]
    assert elapsed == sorted(elapsed)


def test_sigterm_stops_cleanly_with_adapter(ws):
    run_dir = make_run(ws, max_steps=2000, checkpoint_steps=1000, eval_ratio=0, num_sample_prompts=0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-m", "trainer", str(run_dir)], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (read_json(run_dir / "progress.json") or {}).get("phase") != "training":
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    from jobs.state import EXIT_STOPPED, latest_checkpoint
    assert p.wait(120) == EXIT_STOPPED
    st = state(run_dir)
    assert st["status"] == "cancelled" and "stopped on request" in st["error"]
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists() and latest_checkpoint(run_dir)
    assert summary(run_dir)["total_steps"] < 2000


def test_tokenizer_without_chat_template_uses_chatml_fallback(ws):
    import shutil

    from jobs.models.registry import list_models
    src = list_models(ws)["tiny-demo"]
    dst = ws.models / "no-template"
    shutil.copytree(src, dst)
    (dst / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((dst / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    from jobs.spec import validate
    from jobs.state import create_run, new_job_id
    raw = {"method": "sft", "base_model": "no-template", "dataset": "demo-instruct",
           "params": {"max_steps": 1, "num_sample_prompts": 1}}
    job = new_job_id()
    create_run(ws, job, validate(raw, ws).spec)
    assert run(ws.run_dir(job)) == 0
    assert "ChatML fallback" in (ws.run_dir(job) / "train.log").read_text()


def test_metrics_column_appearing_mid_run_keeps_the_file_valid(tmp_path):
    import csv as _csv

    from trainer.callbacks import MetricsWriter
    w = MetricsWriter(tmp_path / "metrics.csv")
    w.write({"step": 1, "loss": 2.0})
    w.write({"step": 2, "loss": 1.5})
    w.write({"step": 2, "eval_loss": 1.7})  # a new column mid-run
    w.write({"step": 3, "loss": 1.2})
    w.close()
    rows = list(_csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [r["step"] for r in rows] == ["1", "2", "2", "3"]
    assert rows[2]["eval_loss"] == "1.7" and rows[0]["eval_loss"] == "" and rows[3]["loss"] == "1.2"
    resumed = MetricsWriter(tmp_path / "metrics.csv", resume_step=2)  # a resume drops steps after the checkpoint
    assert [r["step"] for r in resumed.rows] == ["1", "2", "2"]
    resumed.close()
