"""SFT: TRL's SFTTrainer on conversational prompt → completion pairs, loss on the completion only."""
DATA = "prompt_completion"


def build(job):
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(**job.common_args(), max_length=job.params["max_seq_length"], completion_only_loss=True)
    return SFTTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                      train_dataset=job.train_dataset("prompt", "completion"),
                      eval_dataset=job.eval_dataset("prompt", "completion"))
