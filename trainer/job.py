"""What a recipe gets: the loaded model, tokenizer, prepared data and the common training arguments."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.methods import Method
from jobs.params import P
from jobs.rundir import RunDir
from jobs.settings import trackers

from .data import Prepared, to_dataset, to_iterable_dataset

STREAM_ROWS = 50_000  # a streaming method (SFT) on more training rows than this streams them to TRL (tokenized as trained)


@dataclass
class Job:
    run_dir: Path
    spec: dict
    params: dict
    model: Any
    tokenizer: Any
    data: Prepared
    kind: str
    device: str
    custom_rewards: dict = field(default_factory=dict)
    method: Method | None = None          # the declaration: its traits (streams, ...) shape the training data
    ws: Any = None                        # the workspace (a GRPO reward rm:<job id> is a run in it)

    @property
    def conversational(self) -> bool:
        """Multi-turn rows, already tokenized with assistant masks."""
        return bool(self.data.train) and "input_ids" in self.data.train[0]

    def eval_every(self) -> float | int:
        """eval_steps, else four evaluations per run, never closer than 10 steps (an eval is not free): a run under
        40 steps evaluates once, at its last step."""
        if self.params.get("eval_steps"):
            return self.params["eval_steps"]
        total = self.total_steps()
        return max(10, total // 4) if total >= 40 else max(total, 1)

    @property
    def streams(self) -> bool:
        return bool(self.method and self.method.streams) and len(self.data.train) > STREAM_ROWS

    def total_steps(self) -> int:
        p = self.params
        return p["max_steps"] or p["epochs"] * -(-len(self.data.train) // (p["batch_size"] * p["grad_accum_steps"]))

    def train_dataset(self, *columns: str):
        if self.streams:
            return to_iterable_dataset(self.data.train, self.kind, columns, self.params["seed"])
        return to_dataset(self.data.train, self.kind, columns)

    def eval_dataset(self, *columns: str):
        return to_dataset(self.data.eval, self.kind, columns) if self.data.eval else None

    def common_args(self, evaluate: bool = True) -> dict:
        """Every common param mapped onto transformers' TrainingArguments, shared by all recipes."""
        import torch

        p = self.params
        has_eval = evaluate and bool(self.data.eval)
        # transformers reads warmup_steps < 1 as a ratio of the total steps.
        warmup = p["warmup_steps"] if p["warmup_steps"] is not None else float(p["warmup_ratio"])
        on_gpu = self.device == "cuda"
        args = dict(
            output_dir=str(RunDir(self.run_dir).checkpoints),
            num_train_epochs=p["epochs"],
            max_steps=p["max_steps"] or (self.total_steps() if self.streams else -1),  # a stream has no length
            per_device_train_batch_size=p["batch_size"],
            per_device_eval_batch_size=p["batch_size"],
            gradient_accumulation_steps=p["grad_accum_steps"],
            learning_rate=p[P.learning_rate],
            warmup_steps=warmup,
            max_grad_norm=p["max_grad_norm"],
            lr_scheduler_type="linear",
            logging_steps=p["logging_steps"],
            save_strategy="steps",
            save_steps=p["checkpoint_steps"],
            save_total_limit=p["save_total_limit"],
            eval_strategy="steps" if has_eval else "no",
            eval_steps=self.eval_every() if has_eval else None,
            seed=p["seed"],
            data_seed=p["seed"],
            use_cpu=not on_gpu,
            bf16=on_gpu and torch.cuda.is_bf16_supported(),
            disable_tqdm=True,
            include_num_input_tokens_seen=True,
            dataloader_num_workers=0,
            logging_nan_inf_filter=False,  # a NaN loss must reach metrics.csv and fail the job
        )
        args.update(trackers.training_args(p.get("report_to"), self.run_dir, self.spec.get("name") or self.run_dir.name))
        # gradient_checkpointing (TRL's default, on, is replaced by the param), FSDP sharding, Liger kernels
        from .full_model import training_args
        args.update(training_args(p, self.device, self.model))
        return args
