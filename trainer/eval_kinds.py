"""The held-out evaluations of the methods that neither generate answers to score against a reference nor compare
chosen and rejected log-probabilities (those live in trainer/evaluate.py):

- EVAL_UNPAIRED (kto): the implicit reward beta * (log pi - log pi_ref) of each good or bad answer, the base being
  the reference; label_accuracy = share of rows whose reward has the label's sign, reward_margin = mean reward of
  good answers minus that of bad ones. The base is its own reference, so its rewards are 0.
- EVAL_PERPLEXITY (cpt): the perplexity of held-out text, every token, as continued pre-training trains it.
- EVAL_PAIRWISE (rm): the score head's scores of chosen and rejected answers; pairwise_accuracy = share of pairs
  ranked right, score_margin = mean score(chosen) - score(rejected). The base's head is untrained (random, seeded).

Each kind has decoding(setup), score(model, tokenizer, setup, ...) -> raw result, per_row(setup, result, base) and
aggregate(setup, result, base). A raw result always has "answers" (empty strings: nothing is generated).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from jobs.methods import EVAL_PAIRWISE, EVAL_PERPLEXITY, EVAL_UNPAIRED
from jobs.metrics import M

from . import prompt_context, scores
from .errors import Stopped
from .logprobs import answer_logprobs

ROW_KEYS = ("completion", "label", "text")   # what these kinds read from a held-out item
BATCH = 8


def _batches(n: int, should_stop, report):
    for start in range(0, n, BATCH):
        if should_stop and should_stop():
            raise Stopped()
        yield start, min(start + BATCH, n)
        if report:
            report(min(start + BATCH, n), n)


class Unpaired:
    @staticmethod
    def decoding(setup) -> dict:
        return {"kind": "log-probabilities of good and bad answers", "max_length": setup.max_length}

    @staticmethod
    def score(model, tokenizer, setup, *, should_stop: Callable[[], bool] | None = None, report=None) -> dict:
        pairs = [(prompt_context.of_row(r), r["completion"]) for r in setup.rows]
        lp = answer_logprobs(model, tokenizer, pairs, setup.max_length, should_stop=should_stop,
                             on_batch=lambda d: report and report(d, len(pairs)))
        return {"answers": [""] * len(pairs), "logp": [s for s, _ in lp]}

    @staticmethod
    def per_row(setup, result, base=None) -> dict:
        ref = (base or result)["logp"]
        rewards = [setup.beta * (lp - r) for lp, r in zip(result["logp"], ref, strict=False)]
        labels = [bool(r["label"]) for r in setup.rows]
        return {"implicit_reward": rewards,
                "label_accuracy": [float(rw > 0 if lb else rw < 0) for rw, lb in zip(rewards, labels, strict=False)]}

    @classmethod
    def aggregate(cls, setup, result, base=None) -> dict:
        rows = cls.per_row(setup, result, base)
        good = [rw for rw, r in zip(rows["implicit_reward"], setup.rows, strict=False) if r["label"]]
        bad = [rw for rw, r in zip(rows["implicit_reward"], setup.rows, strict=False) if not r["label"]]
        margin = (scores.mean(good) or 0.0) - (scores.mean(bad) or 0.0) if good and bad else None
        return {"label_accuracy": scores.mean(rows["label_accuracy"]), M.reward_margin: margin}


class Perplexity:
    @staticmethod
    def decoding(setup) -> dict:
        return {"kind": "negative log-likelihood of every token of held-out text", "max_length": setup.max_length}

    @staticmethod
    def score(model, tokenizer, setup, *, should_stop: Callable[[], bool] | None = None, report=None) -> dict:
        import torch

        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        enc = [(bos + tokenizer(r["text"], add_special_tokens=False)["input_ids"])[:setup.max_length]
               for r in setup.rows]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        nll: list[list[float]] = []
        try:
            for a, b in _batches(len(enc), should_stop, report):
                batch = enc[a:b]
                width = max(len(x) for x in batch)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for i, seq in enumerate(batch):
                    ids[i, :len(seq)] = torch.tensor(seq)
                    mask[i, :len(seq)] = 1
                ids, mask = ids.to(device), mask.to(device)
                with torch.no_grad():
                    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
                keep = mask[:, 1:].bool()
                nll += [[-float(s), int(c)] for s, c in zip((logp * keep).sum(-1).tolist(), keep.sum(-1).tolist(),
                                                             strict=False)]
        finally:
            if was_training:
                model.train()
        return {"answers": [""] * len(enc), "nll": nll}

    @staticmethod
    def per_row(setup, result, base=None) -> dict:
        return {"perplexity": [math.exp(s / c) if c else None for s, c in result["nll"]]}

    @staticmethod
    def aggregate(setup, result, base=None) -> dict:
        tokens = sum(c for _, c in result["nll"])
        return {"perplexity": math.exp(sum(s for s, _ in result["nll"]) / tokens) if tokens else None}


def answer_scores(model, tokenizer, convs: list, answers: list[str], max_length: int, *,
                  should_stop: Callable[[], bool] | None = None, report=None) -> list[float]:
    """A reward model's score of each (prompt conversation, answer), rendered by the chat template as RewardTrainer
    renders a conversational pair: the prompt messages, then the answer as the assistant turn."""
    import torch

    from .generate import messages_of

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    texts = []
    for conv, answer in zip(convs, answers, strict=True):
        msgs, tools = messages_of(conv)
        kw = {"tools": tools} if tools else {}
        texts.append(tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": answer}],
                                                   tokenize=False, **kw))
    out: list[float] = []
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        for a, b in _batches(len(texts), should_stop, report):
            enc = tokenizer(texts[a:b], return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                            add_special_tokens=False).to(device)
            with torch.no_grad():
                out += [float(x) for x in model(**enc).logits[:, 0].float().tolist()]
    finally:
        tokenizer.padding_side = old_side
        if was_training:
            model.train()
    return out


class Pairwise:
    @staticmethod
    def decoding(setup) -> dict:
        return {"kind": "score-head scores of chosen and rejected answers", "max_length": setup.max_length,
                "head_seed": setup.seed}

    @staticmethod
    def score(model, tokenizer, setup, *, should_stop: Callable[[], bool] | None = None, report=None) -> dict:
        convs = [prompt_context.of_row(r) for r in setup.rows]
        n = len(convs)
        both = answer_scores(model, tokenizer, convs + convs, [r["chosen"] for r in setup.rows]
                             + [r["rejected"] for r in setup.rows], setup.max_length, should_stop=should_stop,
                             report=lambda d, t: report and report(min(d, t) // 2, n))
        return {"answers": [""] * n, "chosen_score": both[:n], "rejected_score": both[n:]}

    @staticmethod
    def per_row(setup, result, base=None) -> dict:
        margins = [c - r for c, r in zip(result["chosen_score"], result["rejected_score"], strict=False)]
        return {"score_margin": margins, "pairwise_accuracy": [float(m > 0) for m in margins],
                "chosen_score": result["chosen_score"], "rejected_score": result["rejected_score"]}

    @classmethod
    def aggregate(cls, setup, result, base=None) -> dict:
        rows = cls.per_row(setup, result, base)
        return {"pairwise_accuracy": scores.mean(rows["pairwise_accuracy"]),
                "score_margin": scores.mean(rows["score_margin"])}


KINDS = {EVAL_UNPAIRED: Unpaired, EVAL_PERPLEXITY: Perplexity, EVAL_PAIRWISE: Pairwise}
