"""Experiment trackers a run can also report to (the `report_to` param), and which of them are installed."""
from __future__ import annotations

import importlib.util

# tracker -> (the package transformers needs for it, how to install it)
TRACKERS = {
    "tensorboard": ("tensorboard", "pip install tensorboard"),
    "mlflow": ("mlflow", "pip install mlflow"),
    "wandb": ("wandb", "pip install wandb"),
}
NONE = "none"
CHOICES = (NONE, *TRACKERS)
TB_DIR = "tb"  # runs/<job_id>/tb/: TensorBoard event files


def installed() -> list[str]:
    """What the form offers: none, plus every tracker whose package imports here."""
    return [NONE] + [t for t, (mod, _) in TRACKERS.items() if importlib.util.find_spec(mod) is not None]


def problems(values: list[str] | None) -> list[str]:
    """Why a report_to list cannot run here, one message per problem."""
    values = values or [NONE]
    out = []
    if NONE in values and len(values) > 1:
        out.append("none cannot be combined with a tracker; give either none or trackers")
    have = installed()
    for v in values:
        if v in TRACKERS and v not in have:
            out.append(f"{v} is not installed here ({TRACKERS[v][1]}); installed: {', '.join(have)}")
    return out


def training_args(values: list[str] | None, run_dir, run_name: str) -> dict:
    """TrainingArguments for the chosen trackers; each writes inside the run folder unless told otherwise."""
    import os
    chosen = [v for v in (values or []) if v != NONE]
    if "tensorboard" in chosen:  # transformers' TensorBoard callback reads its folder from this variable
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TB_DIR)
    if "mlflow" in chosen:
        os.environ.setdefault("MLFLOW_TRACKING_URI", (run_dir / "mlruns").resolve().as_uri())
        if os.environ["MLFLOW_TRACKING_URI"].startswith("file:"):
            # MLflow 3 refuses a folder store unless allowed; a local folder is what the run asked for (and the
            # default here, which needs no database package)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if "wandb" in chosen:
        os.environ.setdefault("WANDB_DIR", str(run_dir))
    return {"report_to": chosen or "none", "run_name": run_name}
