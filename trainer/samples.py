"""Generate answers for the fixed held-out prompts, before and after training."""
from __future__ import annotations


def generate(model, tokenizer, prompts: list, max_new_tokens: int, n: int, seed: int) -> list[list[str]]:
    """Per prompt (a string, or a conversation up to its last assistant turn): the greedy answer first, then
    n-1 sampled ones (seeded, so repeatable)."""
    import torch

    if not prompts:
        return []
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for prompt in prompts:
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        enc = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(device)
        answers = []
        for i in range(max(1, n)):
            torch.manual_seed(seed + i)
            kw = {"do_sample": False} if i == 0 else {"do_sample": True, "temperature": 0.8, "top_p": 0.95}
            with torch.no_grad():
                ids = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     **kw)
            answers.append(tokenizer.decode(ids[0][enc["input_ids"].shape[1]:], skip_special_tokens=True).strip())
        out.append(answers)
    if was_training:
        model.train()
    return out


def write(path, prompts: list[dict], before: list[list[str]], after: list[list[str]]) -> None:
    """samples.jsonl: per held-out prompt, the base and tuned answers beside the reference."""
    import json

    from jobs.atomic import atomic_write_text
    lines = [json.dumps({"index": i, "prompt": s["prompt"], "reference": s["reference"],
                         "base": b[0] if b else "", "tuned": a[0] if a else "",
                         "base_samples": b, "tuned_samples": a}, ensure_ascii=False)
             for i, (s, b, a) in enumerate(zip(prompts, before, after))]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
