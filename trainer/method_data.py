"""Data preparation for the methods whose rows are not prompt → answer or preference pairs: KTO's unpaired
answers (prompt / completion / label) and continued pre-training's raw text. Same contract as data.prepare: rows
in, a Prepared with train / eval / sample items out, truncated to the token caps and split with the job's seed."""
from __future__ import annotations

from jobs.data import formats

from .data import Prepared, Truncator, _split
from .errors import Stopped, TrainerError

STOP_CHECK_ROWS = 256


def _stop(n: int, should_stop) -> None:
    if should_stop is not None and n % STOP_CHECK_ROWS == 0 and should_stop():
        raise Stopped()


def _last_user(msgs: list[dict]) -> str:
    users = [m["content"] for m in msgs if m["role"] == "user"]
    return users[-1] if users else ""


def unpaired(rows: list[dict], params: dict, tokenizer, fmt: str, dataset_name: str, should_stop=None) -> Prepared:
    """KTO items {prompt, prompt_messages, completion, label, reference}: unpaired rows as they are; preference
    pairs as two items, chosen → desirable (label true), rejected → undesirable (label false)."""
    tr = Truncator(tokenizer)
    out, truncated, dropped = [], 0, 0
    for n, row in enumerate(rows, 1):
        _stop(n - 1, should_stop)
        try:
            if fmt == "preference":
                pair = formats.preference(row, params)
                answers = [(pair["chosen"], True), (pair["rejected"], False)]
                prompt_msgs = pair["prompt"]
            else:
                one = formats.unpaired(row, params)
                answers, prompt_msgs = [(one["completion"], one["label"])], one["prompt"]
        except formats.FormatError as e:
            raise TrainerError(f"dataset {dataset_name!r}, row {n}: {e}") from None
        prompt, cut_p, n_prompt = tr.cut(_last_user(prompt_msgs), params["max_input_length"])
        if not prompt:
            dropped += 1
            continue
        prompt_msgs = [*prompt_msgs[:-1], {**prompt_msgs[-1], "content": prompt}] if prompt_msgs[-1]["role"] == "user" \
            else prompt_msgs
        budget = min(params["max_content_length"], params["max_seq_length"] - n_prompt - 8)
        for msgs, label in answers:
            text, cut_a, _ = tr.cut(msgs[-1]["content"], max(budget, 0))
            if not text:
                dropped += 1
                continue
            truncated += cut_p or cut_a
            out.append({"prompt": prompt, "prompt_messages": prompt_msgs, "completion": text, "label": bool(label),
                        "reference": text})
    prepared = _split(out, rows, truncated, dropped, params, dataset_name)
    # the sample prompts are answered freely: a good (label true) row's answer is the reference worth showing
    prepared.samples = [s for s in prepared.samples if s["label"]] or prepared.samples
    return prepared


def text(rows: list[dict], params: dict, tokenizer, fmt: str, dataset_name: str, should_stop=None) -> Prepared:
    """Continued pre-training items {text, prompt, reference}: the text_column of each row, cut to max_seq_length
    tokens (the loss covers every token, so there is no prompt/answer split)."""
    col = params.get("text_column") or "text"
    tr = Truncator(tokenizer)
    texts = []
    for n, row in enumerate(rows, 1):
        _stop(n - 1, should_stop)
        v = row.get(col) if isinstance(row, dict) else None
        if v is not None and not isinstance(v, str):
            raise TrainerError(f"dataset {dataset_name!r}, row {n}: {col} is {type(v).__name__}, not text; "
                               f"set text_column to a string column")
        texts.append((v or "").strip())
    if not any(texts):
        raise TrainerError(f"column {col!r} holds no text in dataset {dataset_name!r}; its columns are: "
                           f"{', '.join(rows[0]) if isinstance(rows[0], dict) else '?'}. Set text_column")
    lengths = tr.lengths(texts)
    out, truncated, dropped = [], 0, 0
    for t, known in zip(texts, lengths, strict=True):
        if not t:
            dropped += 1
            continue
        cut, was_cut, _ = tr.cut(t, params["max_seq_length"], known)
        truncated += was_cut
        out.append({"text": cut, "prompt": cut[:80], "reference": cut})
    return _split(out, rows, truncated, dropped, params, dataset_name)


def records(items: list[dict], columns: tuple[str, ...]) -> list[dict]:
    """TRL records: conversational prompt / completion for unpaired items, plain columns otherwise."""
    out = []
    for item in items:
        rec = {}
        for c in columns:
            if c == "prompt" and "prompt_messages" in item:
                rec[c] = item["prompt_messages"]
            elif c == "completion":
                rec[c] = [{"role": "assistant", "content": item["completion"]}]
            else:
                rec[c] = item[c]
        out.append(rec)
    return out


def dataset(items: list[dict], columns: tuple[str, ...]):
    from datasets import Dataset
    return Dataset.from_list(records(items, columns)) if items else None
