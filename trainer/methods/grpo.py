"""GRPO: TRL's GRPOTrainer; num_generations samples per prompt scored by the chosen reward functions."""
from .. import grpo_prompts, rewards

DATA = "prompt_completion"


def build(job):
    from trl import GRPOConfig, GRPOTrainer

    p = job.params
    # Eval would sample every eval prompt num_generations times; the held-out prompts feed samples.jsonl instead.
    config = GRPOConfig(**job.common_args(evaluate=False), num_generations=p["num_generations"],
                        max_completion_length=p["max_content_length"], beta=p["beta"],
                        temperature=p["temperature"], reward_weights=p["reward_weights"], log_completions=False)
    funcs = rewards.build(p["reward_functions"], job.custom_rewards, p["max_content_length"], ws=job.ws,
                          max_length=p["max_seq_length"])
    # rows with tools: their prompts are rendered with each row's tools here (TRL has no per-row tools)
    data = (grpo_prompts.rendered_dataset(job.tokenizer, job.data.train) if grpo_prompts.has_tools(job.data.train)
            else job.train_dataset("prompt", "reference"))
    return GRPOTrainer(model=job.model, reward_funcs=funcs, args=config, processing_class=job.tokenizer,
                       train_dataset=data)
