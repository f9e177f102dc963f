"""Run the real trainer in this test process (one torch import for the whole suite)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from transformers import TrainerCallback

from jobs.spec import validate
from jobs.state import create_run, new_job_id, read_state
from tests.conftest import REPO


def make_run(ws, method="sft", dataset="demo-instruct", **params) -> Path:
    raw = {"name": f"t-{method}", "method": method, "base_model": "tiny-demo", "dataset": dataset,
           "params": {"max_steps": 3, "batch_size": 2, "eval_ratio": 0.1, "num_sample_prompts": 2,
                      "max_content_length": 24, "learning_rate": 1e-3, **params}}
    if method == "grpo":
        raw["params"].setdefault("num_generations", 2)
        raw["params"].setdefault("max_content_length", 12)
    v = validate(raw, ws)
    assert v.ok, v.errors
    job_id = new_job_id()
    assert create_run(ws, job_id, v.spec)
    return ws.run_dir(job_id)


class Probe(TrainerCallback):
    """Observes a real run: batch sizes seen, clipped grad norms, optimizer lr, the model's layer types."""

    def __init__(self):
        self.batch_rows, self.grad_norms, self.lrs, self.linear4bit, self.seq_lens = [], [], [], None, []
        self.trainer = None

    def attach(self, trainer):
        self.trainer = trainer
        original = trainer.training_step

        def training_step(model, inputs, *a, **kw):
            ids = inputs.get("input_ids")
            if ids is not None:
                self.batch_rows.append(int(ids.shape[0]))
                self.seq_lens.append(int(ids.shape[1]))
            return original(model, inputs, *a, **kw)
        trainer.training_step = training_step
        trainer.add_callback(self)
        return trainer

    def on_train_begin(self, args, state, control, model=None, **kw):
        import bitsandbytes as bnb
        self.linear4bit = sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())

    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kw):
        import torch
        grads = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
        self.grad_norms.append(float(torch.norm(torch.stack(grads))) if grads else 0.0)
        if optimizer is not None:
            self.lrs.append(optimizer.param_groups[0]["lr"])


def run(run_dir: Path, monkeypatch=None, probe: Probe | None = None, resume=False) -> int:
    from trainer import run as trainer_run

    if probe is not None:
        original = trainer_run.recipe_for

        def recipe_for(name, ws):
            kind, build = original(name, ws)
            return kind, lambda job: probe.attach(build(job))
        monkeypatch.setattr(trainer_run, "recipe_for", recipe_for)
    return trainer_run.main([str(run_dir)] + (["--resume"] if resume else []))


def _trainer(run_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", str(run_dir), *args]


def kill9_at_checkpoint(run_dir: Path, step: int, timeout: float = 300) -> None:
    """`python -m trainer RUN_DIR` in a session of its own, killed with SIGKILL (its whole process group) as soon as
    checkpoints/checkpoint-<step> exists; its output goes to train.log."""
    with open(run_dir / "train.log", "ab") as log:
        p = subprocess.Popen(_trainer(run_dir), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline and not (run_dir / "checkpoints" / f"checkpoint-{step}").exists():
        time.sleep(0.05)
        assert p.poll() is None, (run_dir / "train.log").read_text()[-3000:]
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def resume(run_dir: Path, timeout: float = 600) -> int:
    """`python -m trainer RUN_DIR --resume` to its end, its output appended to train.log; its exit code."""
    with open(run_dir / "train.log", "ab") as log:
        return subprocess.run(_trainer(run_dir, "--resume"), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode


def metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def train_rows(run_dir: Path) -> list[dict]:
    return [r for r in metrics(run_dir) if r.get("loss")]


def state(run_dir: Path) -> dict:
    return read_state(run_dir)


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())
