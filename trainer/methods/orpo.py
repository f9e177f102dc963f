"""ORPO: TRL's ORPOTrainer on prompt / chosen / rejected; the SFT loss plus an odds-ratio term, no reference model."""
DATA = "preference"


def build(job):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    config = ORPOConfig(**job.common_args(), beta=job.params["beta"], max_length=job.params["max_seq_length"])
    cols = ("prompt", "chosen", "rejected")
    return ORPOTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                       train_dataset=job.train_dataset(*cols), eval_dataset=job.eval_dataset(*cols))
