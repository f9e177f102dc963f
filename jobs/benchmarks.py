"""Benchmark suites: workspace benchmarks (lm-eval task YAML over local JSONL), their registration, the names the
trainer and the dashboard share, and the forgetting alarm.

A suite is either a workspace benchmark, workspace/benchmarks/<name>/ holding lm-eval task YAML (written by
`python -m jobs benchmark add` or by hand), or the name of an lm-eval task or group (gsm8k, mmlu, arc_easy, ...)
whose data lm-eval can load (a reachable hub or a local HF datasets cache). The trainer runs them with lm-eval; this
module never imports it.

evaluation.json's "benchmarks": {suite: {metric: {"base", "tuned", "stderr", "better", ...}}}, "benchmarks_meta":
{"lm_eval_version", "limit", "suites": {suite: {"config_hash", "tasks"}}}, "benchmark_errors": {suite: reason}.
"""
from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from jobs.atomic import atomic_write_json, atomic_write_text, read_json
from jobs.data import jsonl
from jobs.workspace import Workspace

BENCHMARKS_DIR = "benchmarks"            # workspace/benchmarks/<name>/
TASK_FILE = "task.yaml"
DATA_FILE = "data.jsonl"
INFO_FILE = "benchmark.json"             # what `benchmark add` was told: kind, columns, rows, few-shot
BASE_BENCHMARKS_FILE = "benchmarks_base.json"   # the run's own copy of the base scores, so a rerun skips them
CACHE_KIND = "benchmarks"                # workspace/cache/benchmarks/<key>.json: base scores shared by copies
KINDS = ("multiple_choice", "exact_match")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
# a suite as asked for: a workspace benchmark's name or an lm-eval task or group name (every name lm-eval ships fits)
SUITE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
COLUMN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DEFAULT_LIMIT = 100
ALARM_KEY = "benchmark_alarm_threshold"  # workspace/config.json: a drop larger than this (score units) is an alarm
GSM8K_MARK = "####"
MAX_GEN_TOKS = 256


class BenchmarkError(ValueError):
    """A benchmark that cannot be registered or read; str() names the field, the value and what is allowed."""


def root(ws: Workspace) -> Path:
    return ws.home / BENCHMARKS_DIR


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BenchmarkError(f"benchmark name {name!r} is not allowed: use 1-64 lower-case letters, digits, '_', '.' "
                             "or '-', starting with a letter or digit")
    return name


def folder(ws: Workspace, name: str) -> Path:
    return root(ws) / check_name(name)


def is_workspace_suite(ws: Workspace, name: str) -> bool:
    return bool(NAME_RE.fullmatch(name or "")) and any((root(ws) / name).glob("*.yaml"))


@dataclass
class Suite:
    name: str
    path: Path
    kind: str            # multiple_choice, exact_match or "custom" (hand-written YAML)
    rows: int | None
    few_shot: int | None


def list_suites(ws: Workspace) -> list[Suite]:
    """The workspace benchmarks, by name."""
    out = []
    base = root(ws)
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        if d.is_dir() and NAME_RE.fullmatch(d.name) and any(d.glob("*.yaml")):
            info = read_json(d / INFO_FILE, {}) or {}
            info = info if isinstance(info, dict) else {}
            out.append(Suite(d.name, d, info.get("kind", "custom"), info.get("rows"), info.get("few_shot")))
    return out


# ---------------------------------------------------------------- registration
def _column(rows: list[dict], name: str, option: str, path: Path) -> str:
    if not COLUMN_RE.fullmatch(name or ""):
        raise BenchmarkError(f"{option} {name!r} is not allowed: a column name of letters, digits and '_' "
                             "(lm-eval's prompt templates name the column)")
    if not any(name in r for r in rows):
        cols = sorted({k for r in rows[:50] for k in r})
        raise BenchmarkError(f"{path.name} has no column {name!r} ({option}); its columns are "
                             f"{', '.join(cols) or 'none'}")
    return name


def _answer_index(value, n_choices: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < n_choices else None
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in LETTERS[:n_choices]:
        return LETTERS.index(value.strip().upper())
    return None


def check_rows(rows: list[dict], kind: str, question: str, choices: str | None, answer: str) -> list[str]:
    """One problem per bad row (at most 10), each naming the row, the field, the value and what is allowed."""
    problems = []
    for i, r in enumerate(rows, 1):
        q = r.get(question)
        if not isinstance(q, str) or not q.strip():
            problems.append(f"row {i}: {question} = {q!r}: must be a non-empty string")
        if kind == "multiple_choice":
            c = r.get(choices)
            if not isinstance(c, list) or len(c) < 2 or not all(isinstance(x, (str, int, float)) and
                                                                not isinstance(x, bool) for x in c):
                problems.append(f"row {i}: {choices} = {c!r}: must be a list of at least 2 texts")
                continue
            a = r.get(answer)
            if _answer_index(a, len(c)) is None:
                problems.append(f"row {i}: {answer} = {a!r}: must be the index of the right choice (0 to {len(c) - 1}) "
                                f"or its letter (A to {LETTERS[len(c) - 1]})")
        else:
            a = r.get(answer)
            if isinstance(a, bool) or not isinstance(a, (str, int, float)) or not str(a).strip():
                problems.append(f"row {i}: {answer} = {a!r}: must be a non-empty text or number")
        if len(problems) >= 10:
            break
    return problems


def task_config(name: str, kind: str, data_path: Path, question: str, choices: str | None, answer: str,
                few_shot: int, gsm8k: bool) -> dict:
    """The lm-eval task config for one of the two common shapes, over a local JSONL file."""
    cfg: dict = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_path)}},
        "test_split": "test",
        "fewshot_split": "test",
        "num_fewshot": int(few_shot),
        "doc_to_text": "Question: {{" + question + "}}\nAnswer:",
    }
    if kind == "multiple_choice":
        cfg.update({
            "output_type": "multiple_choice",
            "doc_to_choice": "{{" + choices + "}}",
            # the answer as an index, or as a letter A, B, ...
            "doc_to_target": "{{ " + answer + " if " + answer + " is number else '" + LETTERS + "'.index(("
                             + answer + "|string|trim|upper)) }}",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        })
    else:
        ignore = [",", "\\$", "\\.$"] + (["(?s).*#### "] if gsm8k else [])
        cfg.update({
            "output_type": "generate_until",
            "doc_to_target": "{{" + answer + "}}",
            "generation_kwargs": {"until": ["\n\n", "Question:", "</s>", "<|im_end|>"], "do_sample": False,
                                  "max_gen_toks": MAX_GEN_TOKS},
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                             "ignore_case": True, "ignore_punctuation": not gsm8k, "regexes_to_ignore": ignore}],
        })
        if gsm8k:  # GSM8K-style "... #### 72": the final number of the answer is compared
            cfg["filter_list"] = [{"name": "final_number", "filter": [
                {"function": "regex", "group_select": -1, "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)"},
                {"function": "take_first"}]}]
    cfg["metadata"] = {"version": 1.0, "tunedeck_kind": kind}
    return cfg


def add(ws: Workspace, name: str, source: Path, kind: str, question: str = "question", choices: str | None = "choices",
        answer: str = "answer", few_shot: int = 0, replace: bool = False) -> Path:
    """Validate the JSONL and write workspace/benchmarks/<name>/ (data.jsonl, task.yaml, benchmark.json) in one
    rename, so a half-registered benchmark is never listed."""
    import yaml

    check_name(name)
    if kind not in KINDS:
        raise BenchmarkError(f"--kind {kind!r} is not allowed: one of {', '.join(KINDS)}")
    if not isinstance(few_shot, int) or isinstance(few_shot, bool) or not 0 <= few_shot <= 64:
        raise BenchmarkError(f"--few-shot {few_shot!r} is not allowed: an integer from 0 to 64")
    source = Path(source)
    if not source.is_file():
        raise BenchmarkError(f"--jsonl {str(source)!r}: no such file")
    try:
        rows = jsonl.read(source)
    except jsonl.BadLine as e:
        raise BenchmarkError(f"{source.name}: {e}") from None
    if not rows:
        raise BenchmarkError(f"{source.name} has no rows")
    if few_shot >= len(rows):
        raise BenchmarkError(f"--few-shot {few_shot} is not allowed: {source.name} has {len(rows)} rows, and the "
                             "few-shot examples come from the other rows (at most rows - 1)")
    question = _column(rows, question, "--question-column", source)
    answer = _column(rows, answer, "--answer-column", source)
    if kind == "multiple_choice":
        choices = _column(rows, choices or "choices", "--choices-column", source)
    problems = check_rows(rows, kind, question, choices, answer)
    if problems:
        raise BenchmarkError(f"{source.name} is not a {kind} benchmark:\n  - " + "\n  - ".join(problems))
    gsm8k = kind == "exact_match" and all(GSM8K_MARK in str(r[answer]) for r in rows)
    dest = folder(ws, name)
    if dest.exists() and not replace:
        raise BenchmarkError(f"benchmark {name!r} already exists ({dest}); pass --replace to overwrite it")
    tmp = dest.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(source, tmp / DATA_FILE)
    cfg = task_config(name, kind, dest / DATA_FILE, question, choices, answer, few_shot, gsm8k)
    atomic_write_text(tmp / TASK_FILE, "# written by `python -m jobs benchmark add`; lm-eval task config\n"
                      + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    atomic_write_json(tmp / INFO_FILE, {"kind": kind, "rows": len(rows), "few_shot": few_shot, "source": source.name,
                                        "columns": {"question": question, "choices": choices if kind ==
                                                    "multiple_choice" else None, "answer": answer},
                                        "final_number": gsm8k})
    if dest.exists():
        old = dest.with_name(f".{name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(dest)
    return dest


def suite_warnings(suites: list[str], ws: Workspace, warn) -> None:
    """A suite that is not a workspace benchmark runs as an lm-eval task or group: say where its data must come from.
    (Whether lm-eval knows the name is checked when the job runs: its task index takes seconds to build.)"""
    for i, s in enumerate(suites):
        if not is_workspace_suite(ws, s):
            warn(f"params.benchmarks[{i}]", s, f"{s!r} is not a workspace benchmark (python -m jobs benchmark list); "
                 "it runs as an lm-eval task, whose data must come from a reachable hub or the local HF datasets cache")


# ---------------------------------------------------------------- results and the forgetting alarm
def read_results(evaluation: dict | None) -> dict:
    """evaluation.json's "benchmarks", only the well-formed entries: {suite: {metric: entry}}."""
    data = (evaluation or {}).get("benchmarks")
    if not isinstance(data, dict):
        return {}
    return {s: {m: e for m, e in v.items() if isinstance(e, dict)} for s, v in data.items() if isinstance(v, dict)}


def alarm_threshold(ws: Workspace | None) -> float | None:
    """The drop set in workspace/config.json, or None: then a drop larger than the stderr is an alarm."""
    if ws is None:
        return None
    cfg = read_json(ws.home / "config.json", {}) or {}
    v = cfg.get(ALARM_KEY) if isinstance(cfg, dict) else None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0:
        return float(v)
    return None


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def drop(entry: dict) -> float | None:
    """How much worse tuned is than base, in the metric's direction (positive = worse); None when unknown."""
    b, t = entry.get("base"), entry.get("tuned")
    if not _num(b) or not _num(t):
        return None
    d = float(b) - float(t)
    return d if entry.get("better", "higher") != "lower" else -d


def regressions(evaluation: dict | None, threshold: float | None = None) -> list[dict]:
    """The metrics whose tuned score fell below the base's by more than `threshold`, or by more than the entry's
    stderr when no threshold is set: [{"suite", "metric", "base", "tuned", "drop", "limit"}], largest drop first."""
    out = []
    for suite, metrics in read_results(evaluation).items():
        for metric, entry in metrics.items():
            d = drop(entry)
            if d is None:
                continue
            limit = threshold if threshold is not None else (entry["stderr"] if _num(entry.get("stderr")) else 0.0)
            if d > limit:
                out.append({"suite": suite, "metric": metric, "base": entry["base"], "tuned": entry["tuned"],
                            "drop": round(d, 6), "limit": round(float(limit), 6)})
    return sorted(out, key=lambda r: -r["drop"])
