"""The files of one run folder, named once. The spooler, the trainer and the dashboard meet in these files."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

STATE_FILE = "state.json"  # also spelled out for the queue scan, which stats thousands of them without a RunDir


@dataclass(frozen=True)
class RunDir:
    """runs/<job_id>/ and every file in it. `RunDir(path)`, or `Workspace.run(job_id)`."""

    path: Path
    STEER_REQUEST = "steer.json"

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def job_id(self) -> str:
        return self.path.name

    # --- the contract: written by the spooler or the dashboard
    @property
    def spec(self) -> Path:
        """The normalized spec; written once at acceptance, never changed."""
        return self.path / "spec.json"

    @property
    def state(self) -> Path:
        """status, error, timestamps, pid, host, attempt; changed only under `state_lock`."""
        return self.path / STATE_FILE

    @property
    def state_lock(self) -> Path:
        return self.path / ".state.lock"

    @property
    def cancel_request(self) -> Path:
        """Written by `cancel` (CLI or dashboard); the spooler turns it into a stop request or a cancelled state."""
        return self.path / "cancel"

    @property
    def stop_request(self) -> Path:
        """Touched by the spooler; the trainer finishes its step, saves and exits."""
        return self.path / "stop"

    @property
    def steer_request(self) -> Path:
        """Priority or hold for a job already waiting in a backend queue (Slurm); the daemon applies it there."""
        return self.path / self.STEER_REQUEST

    # --- written by the trainer
    @property
    def trainer_info(self) -> Path:
        """The trainer's pid, start time and host, written first thing, so a restarted spooler can find it."""
        return self.path / "trainer.json"

    @property
    def outcome(self) -> Path:
        """The trainer's own verdict (exit code, status, error), written last."""
        return self.path / "outcome.json"

    @property
    def run_lock_path(self) -> Path:
        return self.path / "run.lock"

    def run_lock(self) -> FileLock:
        """Held by the trainer for its whole life: one trainer per job, and a way to see that one is alive."""
        return FileLock(str(self.run_lock_path))

    @property
    def metrics(self) -> Path:
        """metrics.csv: a row per logging step; columns are declared in jobs.metrics."""
        return self.path / "metrics.csv"

    @property
    def progress(self) -> Path:
        return self.path / "progress.json"

    @property
    def log(self) -> Path:
        """train.log: the trainer's stdout and stderr, in the line format of jobs.logformat."""
        return self.path / "train.log"

    @property
    def samples(self) -> Path:
        """samples.jsonl: held-out prompts answered by the base model before and the tuned model after."""
        return self.path / "samples.jsonl"

    @property
    def samples_before(self) -> Path:
        """The base model's answers, kept so a resumed run does not generate them again."""
        return self.path / "samples_before.json"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def adapter(self) -> Path:
        """The final LoRA adapter, present only when training finished or stopped cleanly."""
        return self.path / "adapter"

    @property
    def adapter_tmp(self) -> Path:
        return self.path / ".adapter.tmp"

    @property
    def adapter_old(self) -> Path:
        return self.path / ".adapter.old"

    @property
    def model(self) -> Path:
        """A full fine-tune's model folder (finetuning_type=full): safetensors, config, tokenizer, chat template,
        loadable by AutoModelForCausalLM.from_pretrained. Present only when training finished or stopped cleanly."""
        return self.path / "model"

    @property
    def model_tmp(self) -> Path:
        return self.path / ".model.tmp"

    @property
    def model_old(self) -> Path:
        return self.path / ".model.old"

    @property
    def is_full(self) -> bool:
        """A full fine-tune's result: the run's own model folder, not an adapter on its base."""
        return (self.model / "config.json").is_file()

    @property
    def trained(self) -> Path:
        """What training produced: model/ for a full fine-tune, adapter/ otherwise (it may not exist yet)."""
        return self.model if self.is_full else self.adapter

    @property
    def has_trained(self) -> bool:
        """A finished result to answer from or export: a full run's model folder or a LoRA adapter."""
        return self.is_full or (self.adapter / "adapter_config.json").is_file()

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def start_leftovers(self) -> tuple[Path, ...]:
        """What a previous attempt leaves that a new start must not read: requests, outcome, trainer identity."""
        return (self.stop_request, self.cancel_request, self.outcome, self.trainer_info)

    @property
    def retry_leftovers(self) -> tuple[Path, ...]:
        return (self.cancel_request, self.stop_request, self.outcome)

    @property
    def live_files(self) -> tuple[Path, ...]:
        """The files a job list reads; their mtimes and sizes tell whether a cached row is stale."""
        return (self.state, self.progress, self.summary, self.spec)

    def clear(self, paths) -> None:
        for p in paths:
            p.unlink(missing_ok=True)


def as_run_dir(run_dir) -> RunDir:
    """Accept a RunDir or a path to one."""
    return run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
