"""A finished reward-model run as a GRPO reward function ("rm:<job id>"): its base with the trained score head and
adapter, loaded once on this job's device, scoring each completion after its prompt."""
from __future__ import annotations

import logging

from jobs.models import registry
from jobs.reward_models import job_id_of, problem
from jobs.rundir import RunDir
from jobs.state import read_spec

from .errors import TrainerError

log = logging.getLogger("tunedeck.rewards")
_loaded: dict[tuple, object] = {}   # (workspace, name, max_length) -> score function: the evaluation and the
                                    # trainer of one job share one copy of the reward model


def load(name: str, ws, max_length: int):
    """fn(prompts, completions, **kw) -> scores, for TRL's GRPOTrainer and for the held-out evaluation."""
    key = (str(getattr(ws, "home", None)), name, max_length)
    if key not in _loaded:
        _loaded[key] = _load(name, ws, max_length)
    return _loaded[key]


def _load(name: str, ws, max_length: int):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from . import model as model_mod
    from .eval_kinds import answer_scores
    from .rewards import text_of

    why = problem(name, ws, None) if ws is not None else "no workspace to find the run in"
    if why:
        raise TrainerError(f"reward function {name}: {why}")
    run_dir = ws.run_dir(job_id_of(name))
    spec = read_spec(run_dir)
    base_path = registry.list_models(ws)[spec["base_model"]]
    rd = RunDir(run_dir)
    device, dtype = model_mod.device_and_dtype()
    tok = AutoTokenizer.from_pretrained(rd.trained)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if rd.is_full:  # finetuning_type=full: the whole scorer is the run's model folder
        model = AutoModelForSequenceClassification.from_pretrained(rd.model, num_labels=1, dtype=dtype)
        model.config.pad_token_id = tok.pad_token_id
    else:  # LoRA: the base with a fresh head, then the adapter, which carries the trained head
        base = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=1, dtype=dtype)
        base.config.pad_token_id = tok.pad_token_id
        model = PeftModel.from_pretrained(base, rd.adapter)
    model = model.to(device if device == "cpu" else f"cuda:{model_mod._local_gpu()}")
    model.eval()
    log.info("reward model %s loaded: base %s with the adapter of run %s", name, spec["base_model"], run_dir.name)

    def score(prompts, completions, **kw) -> list[float]:
        convs = [{"messages": p, "tools": None} if isinstance(p, list) else text_of(p) for p in prompts]
        return answer_scores(model, tok, convs, [text_of(c) for c in completions], max_length)
    return score
