"""`python -m jobs init`: create the workspace with the embedded default. Idempotent and offline."""
from __future__ import annotations

import json

from jobs.atomic import atomic_write_text
from jobs.data.demo_data import instruct_rows, math_rows, prefs_rows
from jobs.models.registry import model_problem
from jobs.workspace import Workspace

DEMO_MODEL = "tiny-demo"
DEMO_DATASETS = {"demo-instruct": instruct_rows, "demo-math": math_rows, "demo-prefs": prefs_rows}


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def init_workspace(ws: Workspace, log=print) -> Workspace:
    ws.ensure()
    for name, make in DEMO_DATASETS.items():
        path = ws.datasets / f"{name}.jsonl"
        if not path.exists():
            atomic_write_text(path, _jsonl(make()))
            log(f"dataset {name}: {path}")
    model_dir = ws.models / DEMO_MODEL
    if model_problem(model_dir) is not None:
        from jobs.models.demo_model import build_model  # torch only when the model must be built

        tmp = ws.models / f".{DEMO_MODEL}.building"
        if tmp.exists():
            import shutil
            shutil.rmtree(tmp)
        build_model(tmp)
        if model_dir.exists():
            import shutil
            shutil.rmtree(model_dir)
        tmp.rename(model_dir)  # appears complete or not at all
        log(f"model {DEMO_MODEL}: {model_dir}")
    readme = ws.methods / "README.txt"
    if not readme.exists():
        atomic_write_text(readme, "Custom training methods: one <name>.py per method. Start from "
                          "jobs/templates/custom_method.py in the Tunedeck repository.\n")
    log(f"workspace ready: {ws.home}")
    return ws
