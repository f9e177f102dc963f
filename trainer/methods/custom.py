"""A custom method from workspace/methods/<name>.py: its build_trainer() gets an SFTConfig with every common param."""
DATA = "prompt_completion"


def builder(method):
    def build(job):
        from trl import SFTConfig

        config = SFTConfig(**job.common_args(), max_length=job.params["max_seq_length"])
        return method.module.build_trainer(job.model, job.tokenizer, job.train_dataset("prompt", "completion"),
                                           job.eval_dataset("prompt", "completion"), config, job.params)
    return build
