"""Callbacks that turn TRL's logs into metrics.csv and progress.json, and stop on request."""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from pathlib import Path

from transformers import TrainerCallback

from jobs import logformat
from jobs.atomic import atomic_write_text
from jobs.changes import bump_run
from jobs.evaluation import EVAL_LOSS_PHASE
from jobs.metrics import CSV_BASE_COLUMNS as BASE_COLUMNS
from jobs.metrics import ELAPSED, EPOCH, LOWER, METRICS, STEP, TOKENS_SEEN, M, S, better, from_trl
from jobs.rundir import RunDir

from .dist import any_rank

log = logging.getLogger("tunedeck.metrics")

LOGGED = tuple(m.name for m in METRICS.values() if m.in_log)  # the metrics on each step line of train.log
PROGRESS_MIN_INTERVAL = 0.2  # seconds
metric_name = from_trl  # TRL's log key -> our metrics.csv column
CHECK_INTERVAL = 0.2  # seconds between looks at the stop/cancel files outside training steps


class MetricsWriter:
    """Appends rows to metrics.csv and flushes each one. A new column rewrites the file atomically.

    The rows live in the file, not in memory; `rows` holds only those kept when the file was opened (a resume).
    """

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        self.columns = list(BASE_COLUMNS)
        self.rows: list[dict] = []
        if path.exists():
            columns, rows = self._read()
            self.columns = columns or self.columns
            self.rows = [r for r in rows if resume_step is not None and _int(r.get("step")) <= resume_step]
        self._rewrite(self.rows)

    def _read(self) -> tuple[list[str], list[dict]]:
        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return list(reader.fieldnames or []), list(reader)

    def _rewrite(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())
        self.fh = open(self.path, "a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.fh, fieldnames=self.columns, extrasaction="ignore")

    def write(self, row: dict) -> None:
        new = [k for k in row if k not in self.columns]
        if new:  # rare (a metric's first appearance): re-read what is on disk and rewrite it with the new header
            self.fh.close()
            _, rows = self._read()
            self.columns += new
            self._rewrite(rows + [row])
        else:
            self.writer.writerow(row)
            self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _rows(dataloader) -> int | None:
    """Rows an eval pass scores: its dataset's length (None when the loader cannot tell)."""
    try:
        return len(dataloader.dataset)
    except (AttributeError, TypeError):
        return None


def _int(v) -> int:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return 0


class MetricsCallback(TrainerCallback):
    """Rank 0 of a torchrun job writes the files (`main`); other ranks only watch for a NaN loss, in step."""

    def __init__(self, run_dir: Path, resume_step: int | None = None, main: bool = True):
        self.run_dir = run_dir
        self.main = main
        self.writer = MetricsWriter(RunDir(run_dir).metrics, resume_step) if main else _NoWriter()
        self.t0 = time.time()
        self.offset = 0.0  # elapsed time carried over from before a resume
        if self.writer.rows:
            self.offset = float(self.writer.rows[-1].get(ELAPSED) or 0)
        evals = [_int(r.get("step")) for r in self.writer.rows if r.get(M.eval_loss) not in (None, "")]
        self.last_tokens = None
        self.last_t = None
        self.total_steps = 0
        self.first_step = None
        self.nan_step: int | None = None
        self.best = {}
        self.last = {}
        self.tokens_seen = 0
        self.last_eval_step = evals[-1] if evals else None  # a resume at the final step needs no extra eval
        self._progress_at = 0.0
        self._eval: list | None = None  # [rows scored, rows] while an eval_loss pass runs

    def elapsed(self) -> float:
        return self.offset + time.time() - self.t0

    def on_train_begin(self, args, state, control, **kw):
        self.total_steps = state.max_steps
        self.t0 = time.time()
        self.first_step = state.global_step

    def on_step_end(self, args, state, control, **kw):
        now = time.time()
        last = state.global_step >= self.total_steps
        if last or now - self._progress_at >= PROGRESS_MIN_INTERVAL:  # readers poll far slower than this
            self._progress_at = now
            self.write_progress(state)

    def on_train_end(self, args, state, control, **kw):
        self.write_progress(state)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kw):
        """The eval_loss pass as its own phase: held-out rows scored so far of the rows it scores."""
        if self._eval is None:
            total = _rows(eval_dataloader)
            self._eval = [0, total]
        batch = args.per_device_eval_batch_size * max(args.world_size, 1)
        self._eval[0] += batch
        done, total = self._eval
        now = time.time()
        if total and (done >= total or now - self._progress_at >= PROGRESS_MIN_INTERVAL):
            self._progress_at = now
            self.write_progress(state, phase=EVAL_LOSS_PHASE, done=min(done, total), total=total)

    def on_evaluate(self, args, state, control, **kw):
        self._eval = None
        self.write_progress(state)  # back to the training phase

    def write_progress(self, state, phase: str = "training", done: int | None = None, total: int | None = None) -> None:
        if not self.main:
            return
        if phase == "training" and self._eval is not None:
            phase, done, total = EVAL_LOSS_PHASE, min(self._eval[0], self._eval[1] or 0), self._eval[1]
        steps = state.global_step - (self.first_step or 0)
        rate = (time.time() - self.t0) / steps if steps > 0 else None
        left = max(self.total_steps - state.global_step, 0)
        progress = {"phase": phase, "done": done, "total": total, "step": state.global_step, S.total_steps: self.total_steps,
                    "percent": round(100 * state.global_step / max(self.total_steps, 1), 2),
                    "eta_seconds": round(rate * left, 1) if rate else None,
                    "elapsed_seconds": round(self.elapsed(), 2), "updated_at": time.time()}
        atomic_write_text(RunDir(self.run_dir).progress, json.dumps(progress) + "\n", durable=False)
        bump_run(self.run_dir)  # open dashboards re-read the run only when the stamp moved

    def on_log(self, args, state, control, logs=None, **kw):
        if not logs:
            return
        now = time.time()
        row = {STEP: state.global_step, EPOCH: round(state.epoch or 0, 4), ELAPSED: round(self.elapsed(), 3)}
        for k, v in logs.items():
            name = metric_name(k)
            if name and isinstance(v, (int, float)):
                row[name] = v
        tokens = logs.get("num_tokens") or getattr(state, "num_input_tokens_seen", 0) or 0
        if tokens and M.loss in logs:
            if self.last_tokens is not None and now > self.last_t:
                row[M.tokens_per_second] = round((tokens - self.last_tokens) / (now - self.last_t), 1)
            elif now > self.t0:
                row[M.tokens_per_second] = round(tokens / (now - self.t0), 1)
            self.last_tokens, self.last_t = tokens, now
            self.tokens_seen = tokens
        if not set(row) - {STEP, EPOCH, ELAPSED, TOKENS_SEEN}:
            return  # the end-of-training summary log: nothing to chart
        if self.main:
            log.info("%s", logformat.step_message(state.global_step, self.total_steps, row, LOGGED))
        bad = [row.get(k) for k in (M.loss, M.eval_loss) if isinstance(row.get(k), float)]
        if any(not math.isfinite(x) for x in bad) and self.nan_step is None:
            self.nan_step = state.global_step
            control.should_training_stop = True
        for k, v in row.items():
            if k in (STEP, EPOCH, ELAPSED):
                continue
            self.last[k] = v
            direction = better(k)  # best so far, in the sense jobs.metrics declares for this metric
            if direction and isinstance(v, (int, float)) and math.isfinite(v):
                self.best[k] = (min if direction == LOWER else max)(self.best.get(k, v), v)
        if M.eval_loss in row:
            self.last_eval_step = state.global_step
        self.writer.write(row)



class _NoWriter:
    """Stands in for MetricsWriter on ranks other than 0: metrics.csv has one writer, so one row per step."""
    rows: list = []

    def write(self, row: dict) -> None:
        pass

    def close(self) -> None:
        pass


class StopCallback(TrainerCallback):
    """Finish the current step, save a checkpoint, then stop: on SIGTERM or a stop/cancel file."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.requested = False
        self._checked_at = 0.0

    def request(self, *_):
        self.requested = True

    def check(self) -> bool:
        """Whether a stop was requested; the evaluation, generation and data loops ask this between batches and
        tokens, so the request files are looked at most every CHECK_INTERVAL seconds (a signal counts at once)."""
        now = time.monotonic()
        if self.requested or now - self._checked_at < CHECK_INTERVAL:
            return self.requested
        self._checked_at = now
        return self._check()

    def _check(self) -> bool:
        rd = RunDir(self.run_dir)
        if not self.requested and (rd.stop_request.exists() or rd.cancel_request.exists()):
            self.requested = True
        return self.requested

    def on_step_end(self, args, state, control, **kw):
        self.requested = any_rank(self._check())  # every rank stops at the same step, or DDP would hang
        if self.requested:
            control.should_training_stop = True
            control.should_save = True
