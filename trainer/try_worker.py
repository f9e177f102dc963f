"""A warm "try it" worker: `python -m trainer.try_worker --home DIR --base MODEL --slot N [--idle S]`.

The spooler starts one per base model on a free slot. It loads the base model once, then answers every try request
for that base: the base model with the adapters disabled, each run with its adapter (loaded once, kept). A run
trained in 4-bit (QLoRA) answers from the base loaded in 4-bit NF4 exactly as the trainer loaded it, so its answers
are those of the model that was trained; the other runs from the base in full precision. It exits after --idle
seconds without a request, or on SIGTERM once the answer in hand is written (the spooler sends that when a training
needs the slot). Memory held: each copy of the base in use (full precision, 4-bit, or both), plus each loaded
adapter (LoRA weights only).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from jobs import logformat
from jobs.atomic import atomic_write_json
from jobs.defaults import TRY_IDLE_SECONDS
from jobs.models import registry
from jobs.rundir import RunDir
from jobs.state import now_iso, read_spec
from jobs.use import requests as rq
from jobs.workspace import Workspace

log = logging.getLogger("tunedeck.try")


@dataclass
class Loaded:
    """One copy of the base model in memory: full precision, or 4-bit NF4 loaded as a QLoRA run trained on it."""
    model: object                     # the PeftModel once an adapter is loaded, else the bare base model
    precision: str                    # "float32", "bfloat16", ... or rq.PRECISION_4BIT
    adapters: dict[str, float] = field(default_factory=dict)   # job id -> adapter mtime when loaded


class Worker:
    def __init__(self, ws: Workspace, base_name: str, slot: int, idle: float):
        self.ws, self.base_name, self.slot, self.idle = ws, base_name, slot, idle
        self.loaded: dict[bool, Loaded] = {}   # keyed by "4-bit": each copy is loaded on first need
        self.tokenizer = None
        self.full_models: dict[str, tuple] = {}   # job id -> (a full fine-tune's model, its config mtime)
        self.scorers: dict[str, tuple] = {}       # job id -> (a reward model's score function, its files' mtime)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.served = 0
        self.loads = 0              # model loads (base + adapters) this worker did
        import psutil
        me = psutil.Process()
        self.ident = {"pid": me.pid, "pid_create_time": me.create_time(), "slot": slot, "base_model": base_name,
                      "started_at": now_iso(), "idle_exit_seconds": idle}
        if os.environ.get("SLURM_JOB_ID"):  # run as a Slurm job: the spooler finds it again by this id
            self.ident["slurm_job_id"] = os.environ["SLURM_JOB_ID"]

    # ------------------------------------------------------------ status seen by the spooler and dashboard
    def publish(self, state: rq.WorkerState) -> None:
        atomic_write_json(rq.worker_file(self.ws, self.slot), {
            **self.ident, "state": state.value, "updated_at": now_iso(), "served": self.served,
            "adapters": [j for v in self.loaded.values() for j in v.adapters] + list(self.scorers),
            "precisions": [v.precision for v in self.loaded.values()], "memory_bytes": _memory_bytes()})

    # ------------------------------------------------------------ models
    def trained_4bit(self, job_id: str) -> bool:
        """Whether the run trained on a 4-bit base (load_in_4bit): its answers then come from the same 4-bit base."""
        params = (read_spec(self.ws.run_dir(job_id)) or {}).get("params") or {}
        return bool(params.get("load_in_4bit"))

    def plan(self, targets: list[str]) -> list[tuple[str, bool]]:
        """Each target with the base copy that answers it: a run on the base as it trained; the base answer in
        4-bit when every run asked about trained in 4-bit (what those runs started from), else full precision."""
        runs = {t: self.trained_4bit(t) for t in targets if t != rq.BASE}
        base_4bit = bool(runs) and all(runs.values())
        return [(t, base_4bit if t == rq.BASE else runs[t]) for t in targets]

    def load_base(self, four_bit: bool) -> Loaded:
        from . import model as model_mod
        path = registry.list_models(self.ws).get(self.base_name)
        if path is None:
            raise RuntimeError(f"base model {self.base_name!r} is not registered")
        t0 = time.perf_counter()
        if self.tokenizer is None:
            self.tokenizer = model_mod.load_tokenizer(path)
        model = model_mod.load_base(path, self.base_name, load_in_4bit=four_bit)  # as the trainer loads it
        model.eval()
        precision = rq.PRECISION_4BIT if four_bit else str(model.dtype).replace("torch.", "")
        self.loaded[four_bit] = Loaded(model, precision)
        self.loads += 1
        log.info("base model %s (%s) loaded in %.2fs", self.base_name, precision, time.perf_counter() - t0)
        return self.loaded[four_bit]

    def ensure_adapter(self, v: Loaded, job_id: str) -> bool:
        """Load (or reload, when the run was retrained) the run's adapter; True when something was loaded."""
        if RunDir(self.ws.run_dir(job_id)).is_full:  # a full fine-tune answers from its own model folder
            return self.ensure_full(job_id)
        from peft import PeftModel
        path = rq.adapter_dir(self.ws.run_dir(job_id))
        mtime = (path / "adapter_config.json").stat().st_mtime
        if v.adapters.get(job_id) == mtime:
            return False
        if job_id in v.adapters:
            v.model.delete_adapter(job_id)
            del v.adapters[job_id]
        if isinstance(v.model, PeftModel):
            v.model.load_adapter(str(path), adapter_name=job_id)
        else:
            v.model = PeftModel.from_pretrained(v.model, str(path), adapter_name=job_id)
        v.model.eval()
        v.adapters[job_id] = mtime
        self.loads += 1
        return True

    def ensure_full(self, job_id: str) -> bool:
        """A full fine-tune's model folder (runs/<id>/model/), loaded once as the trainer loads a base, kept."""
        from . import model as model_mod
        path = RunDir(self.ws.run_dir(job_id)).model
        mtime = (path / "config.json").stat().st_mtime
        if self.full_models.get(job_id, (None, None))[1] == mtime:
            return False
        model = model_mod.load_base(path, f"{job_id} (full fine-tune)", load_in_4bit=False)
        model.eval()
        self.full_models[job_id] = (model, mtime)
        self.loads += 1
        return True

    def generate(self, model, messages: list[dict], settings: dict, cancelled=None) -> tuple[str, int]:
        """The answer and its token count. `cancelled()` is asked after each token: True stops it there."""
        import torch
        from transformers import StoppingCriteriaList
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        device = next(model.parameters()).device
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(device)
        torch.manual_seed(settings["seed"])  # every model answers with the same seed
        kw = {"do_sample": False} if settings["greedy"] else \
            {"do_sample": True, "temperature": settings["temperature"], "top_p": settings["top_p"]}
        if cancelled is not None:
            kw["stopping_criteria"] = StoppingCriteriaList([_stop_when(cancelled)])
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=settings["max_new_tokens"],
                                 pad_token_id=self.tokenizer.pad_token_id, **kw)
        new = ids[0][enc["input_ids"].shape[1]:]
        cut = int(new.shape[0]) >= settings["max_new_tokens"] or bool(cancelled and cancelled())
        return decode_whole_characters(self.tokenizer, new, cut), int(new.shape[0])

    def ensure_scorer(self, job_id: str) -> bool:
        """A reward-model run (its output trait: a scorer): the base with its trained score head and adapter (or a
        full run's model), loaded once as a GRPO job loads it (trainer/rm_reward.py), reloaded when retrained."""
        from jobs.methods import RM_REWARD_PREFIX

        from .rm_reward import _load as load_scorer  # uncached: a retrained run is loaded again
        rd = RunDir(self.ws.run_dir(job_id))
        mtime = max(p.stat().st_mtime for p in (rd.model / "config.json", rd.adapter / "adapter_config.json")
                    if p.exists())
        if self.scorers.get(job_id, (None, None))[1] == mtime:
            return False
        params = (read_spec(rd.path) or {}).get("params") or {}
        fn = load_scorer(f"{RM_REWARD_PREFIX}{job_id}", self.ws, int(params.get("max_seq_length") or 1024))
        self.scorers[job_id] = (fn, mtime)
        self.loads += 1
        return True

    def score(self, run_dir: Path, rid: str, req: dict, worker: dict) -> None:
        """A reward-model request: each run's score of every completion after the prompt (and system prompt)."""
        loads_before = self.loads
        t_load = time.perf_counter()
        for target in req["targets"]:
            spec = read_spec(self.ws.run_dir(target)) or {}
            if not rq.scores(self.ws, spec):
                raise RuntimeError(f"completions: job {target} (method {spec.get('method')!r}) writes answers "
                                   "instead of scoring them; only reward-model runs score completions")
        if any(t not in self.scorers for t in req["targets"]):
            rq.write_answer(run_dir, rid, status=rq.TryStatus.LOADING.value, worker=worker, started_at=now_iso())
            self.publish(rq.WorkerState.LOADING)
        for target in req["targets"]:
            self.ensure_scorer(target)
        load_seconds = time.perf_counter() - t_load
        self.publish(rq.WorkerState.BUSY)
        rq.write_answer(run_dir, rid, status=rq.TryStatus.GENERATING.value, worker=worker, waiting_for=None)
        prompt = ([{"role": "system", "content": req["system"]}] if req.get("system") else []) + \
            [{"role": "user", "content": req["prompt"]}]
        answers = []
        stop = self.cancel_check(run_dir, rid)
        for target in req["targets"]:
            if stop():
                self.cancelled(run_dir, rid, answers, worker)
                return
            t0 = time.perf_counter()
            got = self.scorers[target][0]([prompt] * len(req["completions"]), req["completions"])
            answers.append({"target": target, "scores": [round(float(x), 6) for x in got], "text": "", "tokens": 0,
                            "seconds": round(time.perf_counter() - t0, 4)})
            rq.write_answer(run_dir, rid, answers=answers)
        self.served += 1
        rq.write_answer(run_dir, rid, status=rq.TryStatus.DONE.value, answers=answers, finished_at=now_iso(),
                        loaded_model=self.loads > loads_before, load_seconds=round(load_seconds, 4),
                        worker={**worker, "served": self.served})
        log.info("scored %s for %s (%d model(s))", rid, run_dir.name, len(answers))

    # ------------------------------------------------------------ requests
    def answer(self, ptr: dict) -> None:
        run_dir = self.ws.existing_run(ptr["job_id"])
        rid = ptr["request_id"]
        worker = {"pid": self.ident["pid"], "slot": self.slot}
        try:  # the same limits as the CLI and the page: a file written straight into try/ never met them
            req = rq.load_try_request(run_dir, rid)
        except rq.RequestError as e:
            log.warning("request %s refused: %s", rid, e)
            rq.write_answer(run_dir, rid, status=rq.TryStatus.FAILED.value, error=f"refused: {e}",
                            finished_at=now_iso(), worker=worker, waiting_for=None)
            return
        if req is None:
            log.warning("request %s has no request file; dropped", rid)
            return
        if rq.cancel_requested(run_dir, rid):
            self.cancelled(run_dir, rid, [], worker)
            return
        if req.get("completions") is not None:  # answers for reward models to score, not a prompt to answer
            self.score(run_dir, rid, req, worker)
            return
        loads_before = self.loads
        t_load = time.perf_counter()
        plan = self.plan(req["targets"])
        if any(q not in self.loaded or (t != rq.BASE and t not in self.loaded[q].adapters) for t, q in plan):
            rq.write_answer(run_dir, rid, status=rq.TryStatus.LOADING.value, worker=worker, started_at=now_iso())
            self.publish(rq.WorkerState.LOADING)
        for target, q in plan:
            v = self.loaded.get(q) or self.load_base(q)
            if target != rq.BASE:
                self.ensure_adapter(v, target)
        load_seconds = time.perf_counter() - t_load
        self.publish(rq.WorkerState.BUSY)
        rq.write_answer(run_dir, rid, status=rq.TryStatus.GENERATING.value, worker=worker, waiting_for=None)
        messages = ([{"role": "system", "content": req["system"]}] if req.get("system") else []) + \
            [{"role": "user", "content": req["prompt"]}]
        answers = []
        stop = self.cancel_check(run_dir, rid)
        for target, q in plan:
            if stop():
                self.cancelled(run_dir, rid, answers, worker)
                return
            v = self.loaded[q]
            t0 = time.perf_counter()
            if target == rq.BASE:
                if v.adapters:
                    with v.model.disable_adapter():
                        text, n = self.generate(v.model, messages, req["settings"], stop)
                else:
                    text, n = self.generate(v.model, messages, req["settings"], stop)
            elif target in self.full_models:  # a full fine-tune: its own model, no adapter
                text, n = self.generate(self.full_models[target][0], messages, req["settings"], stop)
            else:
                v.model.set_adapter(target)
                text, n = self.generate(v.model, messages, req["settings"], stop)
            answers.append({"target": target, "text": text, "tokens": n, "precision": v.precision,
                            "seconds": round(time.perf_counter() - t0, 4)})
            rq.write_answer(run_dir, rid, answers=answers)  # columns fill in as each model answers
        if stop():
            self.cancelled(run_dir, rid, answers, worker)
            return
        self.served += 1
        rq.write_answer(run_dir, rid, status=rq.TryStatus.DONE.value, answers=answers, finished_at=now_iso(),
                        loaded_model=self.loads > loads_before, load_seconds=round(load_seconds, 4),
                        worker={**worker, "served": self.served})
        log.info("answered %s for %s (%d model(s))", rid, ptr["job_id"], len(answers))

    @staticmethod
    def cancel_check(run_dir: Path, rid: str):
        """The question the token loop asks: whether the request was cancelled. One stat per token (microseconds,
        against a forward pass of a millisecond or more); once cancelled it stays so."""
        seen = {"yes": False}

        def stop() -> bool:
            seen["yes"] = seen["yes"] or rq.cancel_requested(run_dir, rid)
            return seen["yes"]
        return stop

    def cancelled(self, run_dir: Path, rid: str, answers: list, worker: dict) -> None:
        rq.write_answer(run_dir, rid, status=rq.TryStatus.CANCELLED.value, answers=answers, finished_at=now_iso(),
                        worker=worker, waiting_for=None, error="cancelled while it was being answered")
        log.info("request %s cancelled after %d answer(s)", rid, len(answers))

    def mine(self) -> list[dict]:
        return [p for p in rq.pending(self.ws) if p.get("kind") == "try" and p.get("base_model") == self.base_name]

    def loop(self) -> int:
        observer = _watch(rq.inbox(self.ws), self.wake)
        self.publish(rq.WorkerState.IDLE)
        last = time.monotonic()
        try:
            while not self.stop.is_set():
                did = False
                for ptr in self.mine():
                    if self.stop.is_set():
                        break
                    if not rq.claim(self.ws, ptr["request_id"]):
                        continue
                    did = True
                    try:
                        self.answer(ptr)
                    except Exception as e:  # noqa: BLE001 - one bad request must not end the worker
                        log.error("request %s failed\n%s", ptr["request_id"], traceback.format_exc())
                        rq.write_answer(self.ws.run_dir(ptr["job_id"]), ptr["request_id"],
                                        status=rq.TryStatus.FAILED.value, error=_explain(e), finished_at=now_iso())
                    finally:
                        rq.close(self.ws, ptr["request_id"])
                if did:
                    last = time.monotonic()
                    self.publish(rq.WorkerState.IDLE)
                    continue
                if time.monotonic() - last >= self.idle:
                    log.info("idle for %.0fs: exiting to free the slot", self.idle)
                    break
                self.wake.wait(0.5)
                self.wake.clear()
        finally:
            if observer is not None:
                observer.stop()
            rq.worker_file(self.ws, self.slot).unlink(missing_ok=True)
        return 0


def _stop_when(cancelled):
    """A transformers StoppingCriteria that stops every sequence once `cancelled()` says so."""
    from transformers import StoppingCriteria

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            import torch
            return torch.full((input_ids.shape[0],), bool(cancelled()), dtype=torch.bool, device=input_ids.device)
    return Cancelled()


REPLACEMENT = "\ufffd"   # what decoding puts where a character's bytes are incomplete


def decode_whole_characters(tokenizer, ids, cut: bool = True) -> str:
    """The answer's text. When generation was cut (max_new_tokens, or a cancel) in the middle of a character made
    of several byte tokens, decoding ends in U+FFFD: the tokens of that incomplete character (at most 3, a character
    has at most 4 bytes) are dropped. An answer that ended by itself is left as decoded."""
    ids = list(ids)
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if cut and text.endswith(REPLACEMENT):
        for k in range(1, min(3, len(ids)) + 1):
            shorter = tokenizer.decode(ids[:-k], skip_special_tokens=True)
            if not shorter.endswith(REPLACEMENT):
                return shorter.strip()
    return text.strip()


def _watch(folder: Path, event: threading.Event):
    """Wake on new pointers at once; the 0.5 s wait above still finds them if no watcher can start."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Wake(FileSystemEventHandler):
        def on_any_event(self, e):
            event.set()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        obs = Observer()
        obs.schedule(Wake(), str(folder), recursive=False)
        obs.start()
        return obs
    except Exception:  # noqa: BLE001
        return None


def _memory_bytes() -> int:
    import psutil
    rss = psutil.Process().memory_info().rss
    try:
        import torch
        if torch.cuda.is_available():
            return int(torch.cuda.memory_allocated())
    except Exception:  # noqa: BLE001
        pass
    return int(rss)


def _explain(e: Exception) -> str:
    text = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.try_worker", description="Answer try-it requests.")
    ap.add_argument("--home", required=True)
    ap.add_argument("--base", required=True, help="registered base model this worker serves")
    ap.add_argument("--slot", type=int, required=True)
    ap.add_argument("--idle", type=float, default=TRY_IDLE_SECONDS, help="seconds without a request before exiting")
    args = ap.parse_args(argv)
    logformat.configure()
    for noisy in ("httpx", "urllib3", "filelock", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    w = Worker(Workspace(Path(args.home).resolve()), args.base, args.slot, args.idle)
    signal.signal(signal.SIGTERM, lambda *_: (w.stop.set(), w.wake.set()))
    signal.signal(signal.SIGINT, lambda *_: (w.stop.set(), w.wake.set()))
    log.info("try worker for %s on slot %d (pid %d, gpu %s), exits after %.0fs idle", args.base, args.slot,
             os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES") or "none", args.idle)
    return w.loop()


if __name__ == "__main__":
    sys.exit(main())
