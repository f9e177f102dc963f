"""KTO: TRL's KTOTrainer on answers marked good or bad; preference pairs become one good and one bad answer. The
reference model is the base without the adapter."""
from .. import method_data

DATA = "unpaired_preference"
COLUMNS = ("prompt", "completion", "label")
prepare = method_data.unpaired


def build(job):
    from trl import KTOConfig, KTOTrainer

    p = job.params
    config = KTOConfig(**job.common_args(), beta=p["beta"], desirable_weight=p["desirable_weight"],
                       undesirable_weight=p["undesirable_weight"], max_length=p["max_seq_length"])
    return KTOTrainer(model=job.model, args=config, processing_class=job.tokenizer,
                      train_dataset=method_data.dataset(job.data.train, COLUMNS),
                      eval_dataset=method_data.dataset(job.data.eval, COLUMNS))
