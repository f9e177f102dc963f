"""Load a registered JSONL dataset, map its columns, truncate to the token caps and split off eval rows."""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from jobs.data import jsonl

from .errors import Stopped, TrainerError

log = logging.getLogger("tunedeck.data")
STOP_CHECK_ROWS = 256


@dataclass
class Prepared:
    train: list[dict]
    eval: list[dict]
    samples: list[dict]           # fixed held-out prompts for samples.jsonl
    rows_read: int
    truncated: int
    dropped: int
    stats: dict = field(default_factory=dict)


def read_jsonl(path: Path, limit: int, name: str) -> list[dict]:
    """The dataset's rows through jobs.data.jsonl; the first bad line ends the job with its true line number."""
    try:
        rows = jsonl.read(path, limit=limit if limit > 0 else None)
    except OSError as e:
        raise TrainerError(f"dataset {name!r} cannot be read ({e.strerror}); re-upload it on the Datasets page") from e
    except jsonl.BadLine as e:
        raise TrainerError(f"dataset {name!r}: {e}; fix or remove that line") from None
    if not rows:
        raise TrainerError(f"dataset {name!r} is empty; upload a JSONL file with at least one row")
    return rows


def _as_text(v) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


class Truncator:
    def __init__(self, tokenizer):
        self.tok = tokenizer

    def count(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def lengths(self, texts: list[str]) -> list[int]:
        """Token counts in batches: the fast tokenizer's own loop, not one Python call per row (1M rows: minutes)."""
        out: list[int] = []
        for i in range(0, len(texts), 10000):
            out += [len(ids) for ids in self.tok(texts[i:i + 10000], add_special_tokens=False)["input_ids"]]
        return out

    def cut(self, text: str, limit: int, known: int | None = None) -> tuple[str, bool, int]:
        """The text within `limit` tokens, whether it was cut, and its token count (`known`: counted already)."""
        if known is not None and known <= limit:
            return text, False, known
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= limit:
            return text, False, len(ids)
        for keep in range(limit, 0, -1):  # re-encoding decoded text may differ by a token; shrink until it fits
            out = self.tok.decode(ids[:keep], skip_special_tokens=False)
            n = self.count(out)
            if n <= limit:
                return out, True, n
        return "", True, 0


def prepare(rows: list[dict], params: dict, tokenizer, kind: str, dataset_name: str, fmt: str = "column",
            should_stop=None) -> Prepared:
    """kind: 'prompt_completion' (sft, grpo, custom) or 'preference' (dpo); fmt: the dataset's format.

    should_stop() is asked every STOP_CHECK_ROWS rows, so a stop request during a long preparation is honoured."""
    from jobs.data import formats

    multi_turn = fmt in ("messages", "sharegpt") or (fmt == "alpaca" and any(r.get("history") for r in rows))
    if multi_turn and kind != "preference":
        from .chat_data import prepare_conversations
        out, truncated, dropped = prepare_conversations(rows, params, tokenizer, kind, fmt, dataset_name,
                                                        should_stop=should_stop)
        return _split(out, rows, truncated, dropped, params, dataset_name)
    if kind == "preference" and any(isinstance(rows[0].get(k), list) for k in ("prompt", "chosen", "rejected")):
        out, dropped = _preference_messages(rows, params, dataset_name)
        return _split(out, rows, 0, dropped, params, dataset_name)
    cols = list(rows[0])
    need = [params["prompt_input_column"], params["prompt_output_column"]]
    if kind == "preference":
        need += [params["chosen_column"], params["rejected_column"]]
    for c in need:
        if c not in cols:
            raise TrainerError(f"column {c!r} is not in dataset {dataset_name!r}; its columns are: {', '.join(cols)}. "
                               "Set prompt_input_column / prompt_output_column to one of them")
    ctx_col = params.get("prompt_context_column")
    tr = Truncator(tokenizer)
    out, truncated, dropped = [], 0, 0
    answers = ["chosen", "rejected"] if kind == "preference" else ["completion"]
    sources = {k: params[f"{k}_column"] if kind == "preference" else params["prompt_output_column"] for k in answers}
    prompts = []
    for n, row in enumerate(rows):
        if should_stop is not None and n % STOP_CHECK_ROWS == 0 and should_stop():
            raise Stopped()
        prompt = _as_text(row.get(params["prompt_input_column"])).strip()
        context = _as_text(row.get(ctx_col)).strip() if ctx_col else ""
        prompts.append(f"{prompt}\n\n{context}" if context else prompt)
    texts = {k: [_as_text(row.get(src)).strip() for row in rows] for k, src in sources.items()}
    prompt_lens = tr.lengths(prompts)
    text_lens = {k: tr.lengths(v) for k, v in texts.items()}
    for i, row in enumerate(rows):
        prompt, cut_p, prompt_tokens = tr.cut(prompts[i], params["max_input_length"], prompt_lens[i])
        if not prompt:
            dropped += 1
            continue
        reference = _as_text(row.get(params["prompt_output_column"])).strip()
        item = {"prompt": prompt, "reference": reference}
        cut_any = cut_p
        budget = params["max_seq_length"] - prompt_tokens - 8  # room for the chat template's tokens
        ok = budget > 0
        for key in answers:
            text, c1, _ = tr.cut(texts[key][i], min(params["max_content_length"], max(budget, 0)), text_lens[key][i])
            cut_any |= c1
            if not text:
                ok = False
            item[key] = text
        if not ok:
            dropped += 1
            continue
        truncated += cut_any
        # every item carries its prompt conversation: training, samples and evaluation all render this one
        system = _as_text(row.get("system")).strip() if fmt == "alpaca" else ""
        item["prompt_messages"] = formats.with_system([{"role": "user", "content": prompt}],
                                                      system or params.get("system_prompt"))
        out.append(item)
    return _split(out, rows, truncated, dropped, params, dataset_name)


def _preference_messages(rows: list[dict], params: dict, dataset_name: str) -> tuple[list[dict], int]:
    """Preference rows whose prompt / chosen / rejected are message lists."""
    from jobs.data import formats

    out, dropped = [], 0
    for n, row in enumerate(rows, 1):
        try:
            pref = formats.preference(row, params)
        except formats.FormatError as e:
            raise TrainerError(f"dataset {dataset_name!r}, row {n}: {e}") from None
        users = [m["content"] for m in pref["prompt"] if m["role"] == "user"]
        out.append({"prompt": users[-1] if users else "", "prompt_messages": pref["prompt"],
                    "chosen_messages": pref["chosen"], "rejected_messages": pref["rejected"],
                    "chosen": pref["chosen"][-1]["content"], "rejected": pref["rejected"][-1]["content"],
                    "reference": pref["chosen"][-1]["content"]})
    return out, dropped


def _split(out: list[dict], rows: list[dict], truncated: int, dropped: int, params: dict,
           dataset_name: str) -> Prepared:
    """Shuffle with the job's seed and hold out eval rows (eval_ratio, at most eval_split_max_rows)."""
    if not out:
        raise TrainerError(f"no usable rows in dataset {dataset_name!r}: all {len(rows)} were dropped "
                           "(empty prompt or answer, or the prompt alone exceeds max_seq_length)")
    log.info("dataset %s: %d rows read, %d truncated, %d dropped", dataset_name, len(rows), truncated, dropped)

    rng = random.Random(params["seed"])
    order = list(range(len(out)))
    rng.shuffle(order)
    n_eval = int(round(len(out) * params["eval_ratio"])) if params["eval_ratio"] > 0 else 0
    if params["eval_ratio"] > 0 and len(out) >= 4:
        n_eval = max(1, min(n_eval, len(out) // 2, params.get("eval_split_max_rows") or n_eval))
    else:
        n_eval = 0
    eval_idx = set(order[:n_eval])
    train = [out[i] for i in range(len(out)) if i not in eval_idx]
    evals = [out[i] for i in sorted(eval_idx)]
    pool = [out[i] for i in order[:n_eval]] or [out[i] for i in order]
    samples = pool[: params["num_sample_prompts"]]
    return Prepared(train, evals, samples, len(rows), truncated, dropped)


def chat(item: dict, kind: str) -> dict:
    """Conversational records for TRL; a conversation item is already token ids with assistant masks."""
    if "input_ids" in item:
        return {"input_ids": item["input_ids"], "assistant_masks": item["assistant_masks"],
                "prompt": item["prompt_messages"], "reference": item["reference"]}
    rec = {"prompt": item.get("prompt_messages") or [{"role": "user", "content": item["prompt"]}]}
    if kind == "preference":
        rec["chosen"] = item.get("chosen_messages") or [{"role": "assistant", "content": item["chosen"]}]
        rec["rejected"] = item.get("rejected_messages") or [{"role": "assistant", "content": item["rejected"]}]
    elif kind == "prompt_completion" and "completion" in item:
        rec["completion"] = [{"role": "assistant", "content": item["completion"]}]
    rec["reference"] = item["reference"]
    return rec


def to_dataset(items: list[dict], kind: str, columns: tuple = ()):
    from datasets import Dataset

    recs = [chat(i, kind) for i in items]
    if columns:
        recs = [{k: r[k] for k in columns} for r in recs]
    return Dataset.from_list(recs) if recs else None


def to_iterable_dataset(items: list[dict], kind: str, columns: tuple, seed: int):
    """The rows as a lazy dataset, in a seeded shuffled order: TRL tokenizes each batch as it is trained, so a
    million-row dataset starts training at once instead of after tokenizing everything."""
    from datasets import IterableDataset

    order = list(range(len(items)))
    random.Random(seed).shuffle(order)

    def rows():
        for i in order:
            rec = chat(items[i], kind)
            yield {k: rec[k] for k in columns} if columns else rec
    return IterableDataset.from_generator(rows)
