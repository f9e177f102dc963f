"""Continued pre-training: TRL's SFTTrainer on raw text, the language-model loss on every token."""
from .. import method_data

DATA = "text"
prepare = method_data.text


def build(job):
    from trl import SFTConfig, SFTTrainer

    p = job.params
    config = SFTConfig(**job.common_args(), max_length=p["max_seq_length"], completion_only_loss=False,
                       dataset_text_field="text", packing=bool(p.get("packing", False)))
    return SFTTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                      train_dataset=method_data.dataset(job.data.train, ("text",)),
                      eval_dataset=method_data.dataset(job.data.eval, ("text",)))
