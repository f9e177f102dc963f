"""GRPO: TRL's GRPOTrainer; num_generations samples per prompt scored by the chosen reward functions."""
from .. import rewards

DATA = "prompt_completion"


def build(job):
    from trl import GRPOConfig, GRPOTrainer

    p = job.params
    # Eval would sample every eval prompt num_generations times; the held-out prompts feed samples.jsonl instead.
    config = GRPOConfig(**job.common_args(evaluate=False), num_generations=p["num_generations"],
                        max_completion_length=p["max_content_length"], beta=p["beta"],
                        temperature=p["temperature"], reward_weights=p["reward_weights"], log_completions=False)
    funcs = rewards.build(p["reward_functions"], job.custom_rewards, p["max_content_length"])
    return GRPOTrainer(model=job.model, reward_funcs=funcs, args=config, processing_class=job.tokenizer,
                       train_dataset=job.train_dataset("prompt", "reference"))
