"""SimPO: TRL's CPOTrainer with loss_type="simpo" and no behaviour-cloning term (cpo_alpha 0): a length-normalised
reward margin with a target gap, no reference model."""
DATA = "preference"


def build(job):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    p = job.params
    config = CPOConfig(**job.common_args(), loss_type="simpo", cpo_alpha=0.0, beta=p["beta"],
                       simpo_gamma=p["simpo_gamma"], max_length=p["max_seq_length"])
    cols = ("prompt", "chosen", "rejected")
    return CPOTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                      train_dataset=job.train_dataset(*cols), eval_dataset=job.eval_dataset(*cols))
