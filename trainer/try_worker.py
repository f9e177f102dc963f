"""A warm "try it" worker: `python -m trainer.try_worker --home DIR --base MODEL --slot N [--idle S]`.

The spooler starts one per base model on a free slot. It loads the base model once, then answers every try request
for that base: the base model with the adapters disabled, each run with its adapter (loaded once, kept). It exits
after --idle seconds without a request, or on SIGTERM once the answer in hand is written (the spooler sends that
when a training needs the slot). Memory held: the base model once, plus each loaded adapter (LoRA weights only).
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
from pathlib import Path

from jobs import registry
from jobs import requests as rq
from jobs.atomic import atomic_write_json, read_json
from jobs.state import now_iso
from jobs.workspace import Workspace

log = logging.getLogger("tunedeck.try")


class Worker:
    def __init__(self, ws: Workspace, base_name: str, slot: int, idle: float):
        self.ws, self.base_name, self.slot, self.idle = ws, base_name, slot, idle
        self.model = None           # the PeftModel once an adapter is loaded, else the bare base model
        self.tokenizer = None
        self.adapters: dict[str, float] = {}   # job id -> adapter mtime when loaded
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.served = 0
        self.loads = 0              # model loads (base + adapters) this worker did
        import psutil
        me = psutil.Process()
        self.ident = {"pid": me.pid, "pid_create_time": me.create_time(), "slot": slot, "base_model": base_name,
                      "started_at": now_iso(), "idle_exit_seconds": idle}

    # ------------------------------------------------------------ status seen by the spooler and dashboard
    def publish(self, state: rq.WorkerState) -> None:
        atomic_write_json(rq.worker_file(self.ws, self.slot), {
            **self.ident, "state": state.value, "updated_at": now_iso(), "served": self.served,
            "adapters": list(self.adapters), "memory_bytes": _memory_bytes()})

    # ------------------------------------------------------------ models
    def load_base(self) -> None:
        from . import model as model_mod
        path = registry.list_models(self.ws).get(self.base_name)
        if path is None:
            raise RuntimeError(f"base model {self.base_name!r} is not registered")
        t0 = time.perf_counter()
        self.tokenizer = model_mod.load_tokenizer(path)
        # Full precision even for runs trained on a 4-bit base: LoRA weights apply to either.
        self.model = model_mod.load_base(path, self.base_name, load_in_4bit=False)
        self.model.eval()
        self.loads += 1
        log.info("base model %s loaded in %.2fs", self.base_name, time.perf_counter() - t0)

    def ensure_adapter(self, job_id: str) -> bool:
        """Load (or reload, when the run was retrained) the run's adapter; True when something was loaded."""
        from peft import PeftModel
        path = rq.adapter_dir(self.ws.run_dir(job_id))
        mtime = (path / "adapter_config.json").stat().st_mtime
        if self.adapters.get(job_id) == mtime:
            return False
        if job_id in self.adapters:
            self.model.delete_adapter(job_id)
            del self.adapters[job_id]
        if isinstance(self.model, PeftModel):
            self.model.load_adapter(str(path), adapter_name=job_id)
        else:
            self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=job_id)
        self.model.eval()
        self.adapters[job_id] = mtime
        self.loads += 1
        return True

    def generate(self, messages: list[dict], settings: dict) -> tuple[str, int]:
        import torch
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        device = next(self.model.parameters()).device
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(device)
        torch.manual_seed(settings["seed"])  # every model answers with the same seed
        kw = {"do_sample": False} if settings["greedy"] else \
            {"do_sample": True, "temperature": settings["temperature"], "top_p": settings["top_p"]}
        with torch.no_grad():
            ids = self.model.generate(**enc, max_new_tokens=settings["max_new_tokens"],
                                      pad_token_id=self.tokenizer.pad_token_id, **kw)
        new = ids[0][enc["input_ids"].shape[1]:]
        return self.tokenizer.decode(new, skip_special_tokens=True).strip(), int(new.shape[0])

    # ------------------------------------------------------------ requests
    def answer(self, ptr: dict) -> None:
        run_dir = self.ws.run_dir(ptr["job_id"])
        rid = ptr["request_id"]
        req = read_json(rq.try_dir(run_dir) / f"{rid}.json")
        worker = {"pid": self.ident["pid"], "slot": self.slot}
        if not isinstance(req, dict):
            log.warning("request %s has no request file; dropped", rid)
            return
        loads_before = self.loads
        t_load = time.perf_counter()
        need = [t for t in req["targets"] if t != rq.BASE and self.adapters.get(t) is None]
        if self.model is None or need:
            rq.write_answer(run_dir, rid, status=rq.TryStatus.LOADING.value, worker=worker, started_at=now_iso())
            self.publish(rq.WorkerState.LOADING)
        if self.model is None:
            self.load_base()
        for target in req["targets"]:
            if target != rq.BASE:
                self.ensure_adapter(target)
        load_seconds = time.perf_counter() - t_load
        self.publish(rq.WorkerState.BUSY)
        rq.write_answer(run_dir, rid, status=rq.TryStatus.GENERATING.value, worker=worker)
        messages = ([{"role": "system", "content": req["system"]}] if req.get("system") else []) + \
            [{"role": "user", "content": req["prompt"]}]
        answers = []
        for target in req["targets"]:
            t0 = time.perf_counter()
            if target == rq.BASE:
                if self.adapters:
                    with self.model.disable_adapter():
                        text, n = self.generate(messages, req["settings"])
                else:
                    text, n = self.generate(messages, req["settings"])
            else:
                self.model.set_adapter(target)
                text, n = self.generate(messages, req["settings"])
            answers.append({"target": target, "text": text, "tokens": n,
                            "seconds": round(time.perf_counter() - t0, 4)})
            rq.write_answer(run_dir, rid, answers=answers)  # columns fill in as each model answers
        self.served += 1
        rq.write_answer(run_dir, rid, status=rq.TryStatus.DONE.value, answers=answers, finished_at=now_iso(),
                        loaded_model=self.loads > loads_before, load_seconds=round(load_seconds, 4),
                        worker={**worker, "served": self.served})
        log.info("answered %s for %s (%d model(s))", rid, ptr["job_id"], len(answers))

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
    ap.add_argument("--idle", type=float, default=180.0, help="seconds without a request before exiting")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
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
