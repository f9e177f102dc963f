"""SFT: TRL's SFTTrainer on prompt → completion pairs (loss on the completion) or on whole conversations (loss on
every assistant turn)."""
DATA = "prompt_completion"


def build(job):
    from trl import SFTConfig, SFTTrainer

    from ..full_model import packing_args
    config = SFTConfig(**job.common_args(), max_length=job.params["max_seq_length"], completion_only_loss=True,
                       **packing_args(job.params))
    # Conversations arrive as token ids with a mask over every assistant turn (trainer/chat_data.py).
    cols = ("input_ids", "assistant_masks") if job.conversational else ("prompt", "completion")
    return SFTTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                      train_dataset=job.train_dataset(*cols), eval_dataset=job.eval_dataset(*cols))
