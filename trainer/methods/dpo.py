"""DPO: TRL's DPOTrainer on prompt / chosen / rejected; the reference model is the base without the adapter."""
DATA = "preference"


def build(job):
    from trl import DPOConfig, DPOTrainer

    config = DPOConfig(**job.common_args(), beta=job.params["beta"], max_length=job.params["max_seq_length"])
    cols = ("prompt", "chosen", "rejected")
    return DPOTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                      train_dataset=job.train_dataset(*cols), eval_dataset=job.eval_dataset(*cols))
