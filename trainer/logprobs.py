"""Log-probabilities of given answers under a model, batched: for perplexity and DPO's implicit rewards."""
from __future__ import annotations

from collections.abc import Callable

from .errors import Stopped
from .generate import chat_text, messages_of

SCORE_BATCH = 8


def _answer_text(tokenizer, prompt: str | dict, answer: str) -> tuple[str, str]:
    """The chat-formatted prompt (a text or a prompt conversation, see trainer.generate) and the assistant turn as
    the chat template writes it (with its end token)."""
    head = chat_text(tokenizer, prompt)
    msgs, tools = messages_of(prompt)
    kw = {"tools": tools} if tools else {}
    full = tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": answer}], tokenize=False, **kw)
    if full.startswith(head):
        return head, full[len(head):]
    return head, answer + (tokenizer.eos_token or "")


def answer_logprobs(model, tokenizer, pairs: list[tuple[str | dict, str]], max_length: int, *,
                    should_stop: Callable[[], bool] | None = None,
                    on_batch: Callable[[int], None] | None = None,
                    max_answer_tokens: int | None = None) -> list[tuple[float, int]]:
    """Per (prompt, answer): (sum of the answer tokens' log-probabilities, number of answer tokens).

    max_answer_tokens scores only each answer's first tokens: a reference as long as the answer budget costs one
    forward pass like a prompt's, where a 1,000-token reference would cost more than generating every answer."""
    import torch

    if not pairs:
        return []
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    encoded = []
    for prompt, answer in pairs:
        head, tail = _answer_text(tokenizer, prompt, answer)
        p = tokenizer(head, add_special_tokens=False)["input_ids"]
        a = tokenizer(tail, add_special_tokens=False)["input_ids"][:max_answer_tokens]
        ids = (p + a)[:max_length]
        encoded.append((ids, min(len(p), len(ids))))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[tuple[float, int]] = []
    try:
        for start in range(0, len(encoded), SCORE_BATCH):
            if should_stop and should_stop():
                raise Stopped()
            batch = encoded[start:start + SCORE_BATCH]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            answer = torch.zeros((len(batch), width), dtype=torch.bool)
            for r, (seq, n_prompt) in enumerate(batch):
                ids[r, :len(seq)] = torch.tensor(seq)
                mask[r, :len(seq)] = 1
                answer[r, n_prompt:len(seq)] = True
            ids, mask, answer = ids.to(device), mask.to(device), answer.to(device)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            keep = answer[:, 1:]
            sums = (logp * keep).sum(-1)
            counts = keep.sum(-1)
            out += [(float(s), int(c)) for s, c in zip(sums.tolist(), counts.tolist(), strict=False)]
            if on_batch:
                on_batch(len(out))
    finally:
        if was_training:
            model.train()
    return out
