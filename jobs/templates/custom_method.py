"""Template for a custom Tunedeck training method.

Copy this file to workspace/methods/<name>.py; <name> becomes the method name that a
spec's "method" field uses. The validator and the New training form read DESCRIPTION,
PARAMS and DEFAULT_COLUMNS; the trainer calls build_trainer(). Keep heavy imports
(torch, trl) inside build_trainer so the dashboard can read the declaration quickly.

The trainer has already:
  * loaded `model` (LoRA-wrapped, 4-bit when load_in_4bit) and `tokenizer`;
  * mapped the dataset to conversational columns "prompt" and "completion"
    (from prompt_input_column / prompt_output_column), truncated to the length caps;
  * filled `config`, a trl.SFTConfig with every common param applied (steps, batch size,
    learning rate, warmup, clipping, logging, checkpoints, seed, CPU/GPU precision).
Return a transformers Trainer (any TRL trainer). The trainer adds the metrics, stop and
checkpoint callbacks and calls train(). If this file raises, the traceback goes to
train.log and a one-line reason to state.json.

A file may also define REWARD_FUNCTIONS = {"name": fn} to add GRPO reward functions;
fn(prompts, completions, reference, **kw) -> list[float].

Traits (optional; the values below are the defaults, as jobs/methods.py declares them for built-in methods):
  FORMATS          dataset formats it trains on: column, alpaca, messages, sharegpt, preference,
                   unpaired_preference, text. Preference formats reach build_trainer as prompt / chosen /
                   rejected (the method gets chosen_column / rejected_column params); the others as
                   prompt / completion. Validation refuses any other format.
  COLUMNS          params naming the dataset columns it reads (the form shows those pickers).
  OUTPUT           "generator" (an adapter that answers) or "scorer".
  EVALUATION       the held-out evaluation: "text" (greedy answers vs the reference: exact match, ROUGE-L,
                   chrF, BLEU, perplexity), "rewards", "preference", "unpaired", "perplexity" or "pairwise".
  EVAL_METRICS     extra metrics {name: fn(prompts, completions, references) -> list[float]};
  EVAL_METRICS_BETTER  {name: "higher" | "lower"} (higher when not given).
  HEADLINE         the metric the Trainings list and Compare lead with, in order of preference.
  SAMPLES          "generate" (base and tuned answers to held-out prompts) or "none".
  REFERENCE_MODEL  "base" when the loss compares against the base without the adapter, else None.
"""
from jobs.params import Param

DESCRIPTION = "SFT with the loss on the whole sequence (prompt and answer), not only the answer."
DEFAULT_COLUMNS = {"prompt_input_column": "instruction", "prompt_output_column": "output"}
PARAMS = [
    Param("neftune_noise_alpha", "float", None, "NEFTune embedding noise; null turns it off.",
          min=0, max=50, nullable=True, typical=(1, 15), typical_text="5–10"),
]
FORMATS = ("column", "alpaca", "messages", "sharegpt")
COLUMNS = ("prompt_input_column", "prompt_output_column")
OUTPUT = "generator"
EVALUATION = "text"
HEADLINE = ("rouge_l",)
SAMPLES = "generate"
REFERENCE_MODEL = None


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config, params):
    from trl import SFTTrainer

    config.completion_only_loss = False
    config.neftune_noise_alpha = params["neftune_noise_alpha"]
    return SFTTrainer(model=model, args=config, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      processing_class=tokenizer)


def brevity(prompts, completions, reference=None, **kw):
    """Example reward: shorter completions score higher."""
    return [1.0 / (1.0 + len(str(c)) / 50) for c in completions]


REWARD_FUNCTIONS = {"brevity": brevity}
