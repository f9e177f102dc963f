"""Seconds per training step of every built-in method on one base model, side by side in one run.

python bench/method_cost.py [--model-path DIR] [--steps 6] [--batch-size 2] [--max-seq-length 512]
                            [--max-input-length 256] [--methods sft,dpo,...] [--out FILE]

Each method trains --steps steps of LoRA r8 on SmolLM2-135M-Instruct (by default the folder the tests cache under
~/.cache/tunedeck-tests; `python -m jobs init --with smollm2` makes one) through the real trainer, one after the
other in this process, on its natural data from ../shared/datasets: sft and cpt (the outputs as raw text) on
alpaca_en_demo, grpo on gsm8k_train, dpo, kto, orpo, simpo and rm on dpo_en_demo. Evaluation and sample answers are
off, so the figure is the training step alone: the median of the per-step times after the first step (metrics.csv
elapsed_seconds). Prints a table and, with --out, writes it as JSON, with the date, the command and the machine's
load average before and after (on a shared machine the figures move with the other work on it).
"""
import argparse
import json
import os
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from common import REPO, fresh_workspace  # noqa: E402

from jobs.atomic import atomic_write_json  # noqa: E402
from jobs.methods import BUILTINS  # noqa: E402
from jobs.rundir import RunDir  # noqa: E402
from jobs.spec import validate  # noqa: E402
from jobs.state import create_run, new_job_id, read_state  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
DEFAULT_MODEL = Path.home() / ".cache" / "tunedeck-tests" / "smollm2-135m-instruct"
DATA = {"sft": ("alpaca_en_demo", {}), "cpt": ("alpaca_en_demo", {"dataset_format": "text", "text_column": "output"}),
        "grpo": ("gsm8k_train", {"num_generations": 2, "max_content_length": 64}),
        "dpo": ("dpo_en_demo", {}), "kto": ("dpo_en_demo", {}), "orpo": ("dpo_en_demo", {}),
        "simpo": ("dpo_en_demo", {}), "rm": ("dpo_en_demo", {})}


def step_seconds(run_dir: Path) -> list[float]:
    import csv
    with open(RunDir(run_dir).metrics, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("loss")]
    t = [float(r["elapsed_seconds"]) for r in rows]
    return [b - a for a, b in zip(t, t[1:], strict=False)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-path", default=str(DEFAULT_MODEL))
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--max-seq-length", type=int, default=512)
    ap.add_argument("--max-input-length", type=int, default=256, help="prompt token cap (at most max-seq-length)")
    ap.add_argument("--methods", default=",".join(DATA))
    ap.add_argument("--out")
    args = ap.parse_args()
    if not (Path(args.model_path) / "config.json").is_file():
        print(f"no model folder at {args.model_path}; run `python -m jobs init --with smollm2` or pass --model-path")
        return 2
    started, load_before = datetime.now(UTC).isoformat(timespec="seconds"), os.getloadavg()
    ws = fresh_workspace()
    atomic_write_json(ws.models / "smollm2.json", {"path": str(Path(args.model_path).resolve())})
    for name in {d for d, _ in DATA.values()}:
        src = SHARED / f"{name}.jsonl"
        if not src.is_file():
            print(f"missing {src}")
            return 2
        (ws.datasets / f"{name}.jsonl").write_bytes(src.read_bytes())
    from trainer import run as trainer_run

    out = {}
    for method in args.methods.split(","):
        assert method in BUILTINS, method
        dataset, extra = DATA[method]
        raw = {"method": method, "base_model": "smollm2", "dataset": dataset,
               "params": {"max_steps": args.steps, "batch_size": args.batch_size, "max_samples": 200,
                          "max_seq_length": args.max_seq_length, "eval_ratio": 0,
                          "max_input_length": min(args.max_input_length, args.max_seq_length),
                          "num_sample_prompts": 0, "eval_max_rows": 0, "checkpoint_steps": 10**6,
                          "logging_steps": 1, **extra}}
        v = validate(raw, ws)
        assert v.ok, (method, v.errors)
        job = new_job_id()
        create_run(ws, job, v.spec)
        code = trainer_run.main([str(ws.run_dir(job))])
        if code != 0:
            print(f"{method}: failed ({read_state(ws.run_dir(job)).get('error')})")
            continue
        steps = step_seconds(ws.run_dir(job))
        out[method] = {"seconds_per_step": round(statistics.median(steps), 3), "steps": args.steps,
                       "dataset": dataset}
        print(f"{method:6s} {out[method]['seconds_per_step']:7.3f} s/step  ({dataset})", flush=True)
    base = out.get("sft", {}).get("seconds_per_step")
    print("\nmethod  s/step  × sft")
    for m, r in out.items():
        print(f"{m:6s} {r['seconds_per_step']:7.3f}  {r['seconds_per_step'] / base:5.2f}" if base else m)
    load_after = os.getloadavg()
    print(f"\nstarted {started}; load average (1, 5, 15 min) before {load_before}, after {load_after} "
          f"on {os.cpu_count()} CPUs")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model_path, "batch_size": args.batch_size,
                                              "max_seq_length": args.max_seq_length, "started": started,
                                              "command": " ".join(sys.argv), "cpus": os.cpu_count(),
                                              "load_before": load_before, "load_after": load_after,
                                              "methods": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
