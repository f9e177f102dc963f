"""Reward model: TRL's RewardTrainer on prompt / chosen / rejected. The base gets a one-output score head
(sequence classification); LoRA trains the adapter and the head together, and both are saved in adapter/."""
from __future__ import annotations

DATA = "preference"


def load_model(path, name: str, params: dict):
    """The base with a fresh score head: seeded, so the base evaluation and training start from the same head."""
    from transformers import set_seed

    from .. import model as model_mod
    set_seed(params["seed"])
    return model_mod.load_base(path, name, params["load_in_4bit"], head="score")


def add_adapter(model, params: dict):
    from .. import model as model_mod
    return model_mod.add_lora(model, params, task_type="SEQ_CLS")


def build(job):
    from trl import RewardConfig, RewardTrainer

    config = RewardConfig(**job.common_args(), max_length=job.params["max_seq_length"],
                          center_rewards_coefficient=job.params["center_rewards_coefficient"])
    cols = ("prompt", "chosen", "rejected")
    return RewardTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                         train_dataset=job.train_dataset(*cols), eval_dataset=job.eval_dataset(*cols))
