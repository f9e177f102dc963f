"""One recipe per built-in method, named as its declaration in jobs/methods.py (tests/test_method_traits.py checks
that every declaration has a recipe and every recipe a declaration).

A recipe module holds:
- DATA: the record shape its trainer reads ("prompt_completion", "preference", "unpaired_preference", "text");
- build(job) -> a TRL trainer (job: trainer.job.Job, with the model, tokenizer, prepared data and common args);
and optionally, where the method differs from prompt → answer training on a causal LM:
- prepare(rows, params, tokenizer, fmt, dataset_name, should_stop) -> trainer.data.Prepared;
- load_model(path, name, params) -> the base model (a reward model loads a sequence-classification head);
- add_adapter(model, params) -> the model with its trainable adapter.
Everything else (formats, evaluation, samples, reference model) is a trait of the declaration.
"""
