"""A custom method from workspace/methods/<name>.py: its build_trainer() gets an SFTConfig with every common param.

Its data shape follows its FORMATS trait: preference formats arrive as prompt / chosen / rejected, anything else as
prompt / completion."""
from jobs.methods import PAIR_FORMATS

DATA = "prompt_completion"


def data_kind(method) -> str:
    return "preference" if set(method.formats) <= set(PAIR_FORMATS) else DATA


def builder(method):
    def build(job):
        from trl import SFTConfig

        config = SFTConfig(**job.common_args(), max_length=job.params["max_seq_length"])
        cols = ("prompt", "chosen", "rejected") if job.kind == "preference" else ("prompt", "completion")
        return method.module.build_trainer(job.model, job.tokenizer, job.train_dataset(*cols),
                                           job.eval_dataset(*cols), config, job.params)
    return build
