"""The validator's messages in 中文: every message text in jobs/ has a template, and real messages translate fully."""
import ast
import re

from dashboard.i18n_validation import FRAGMENTS_ZH, MESSAGES_ZH, translate_message
from jobs.methods import BUILTINS
from jobs.params import COMMON_PARAMS
from jobs.spec import validate
from tests.conftest import REPO

NOT_MESSAGES = {"deeply nested)", "a number too large to show)"}  # literals in those functions that are values, not message text
# Identifiers, values and the names of things stay as they are inside a Chinese message.
KEPT = re.compile(r"[A-Za-z_][\w.\-]*")
ALLOWED_WORDS = {"null", "true", "false", "JSON", "MiB", "GRPO", "Tunedeck", "Hugging", "Face", "ChatML", "NaN",
                 "path", "abs", "workspace", "models", "datasets", "jsonl", "json", "name", "runs", "job_id", "adapter",
                 "check", "output_dir", "params", "spec", "sft", "grpo", "dpo"}


def _message_literals(path, functions=None) -> set[str]:
    """String pieces (plain or the fixed parts of f-strings) long enough to be message text, docstrings left out."""
    tree = ast.parse(path.read_text())
    nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and (functions is None or n.name in functions)] if functions else [tree]
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Module)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    out = set()
    for root in nodes:
        for n in ast.walk(root):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings:
                text = n.value.strip(" ;:,.(")
                if len(text) >= 12 and " " in text and text not in NOT_MESSAGES:
                    out.add(text)
    return out


def test_every_message_text_in_jobs_has_a_chinese_template():
    templates = [en for en, _ in MESSAGES_ZH] + [f.pattern for f, _ in FRAGMENTS_ZH]
    texts = (_message_literals(REPO / "jobs" / "spec.py")
             | _message_literals(REPO / "jobs" / "params.py", {"coerce"})
             | _message_literals(REPO / "jobs" / "methods.py", {"_check_grpo"})
             | _message_literals(REPO / "jobs" / "display_text.py", {"name_problem"}))
    assert texts
    missing = sorted(t for t in texts if not any(t in en for en in templates))
    assert not missing, missing
    assert all(zh.count("{}") == en.count("{}") for en, zh in MESSAGES_ZH)


def _english_left(zh: str) -> list[str]:
    from jobs.methods import BUILTIN_REWARDS
    names = ({p.name for p in COMMON_PARAMS} | {p.name for m in BUILTINS.values() for p in m.params} | set(BUILTINS)
             | set(BUILTIN_REWARDS) | {str(c) for p in COMMON_PARAMS for c in (p.choices or ())}
             | {"instruction", "input", "output", "question", "answer", "questoin", "nope"})
    zh = re.sub(r"\d(\.\d+)?e[+-]?\d+", "", zh)  # numbers such as 1e+06
    return [w for w in KEPT.findall(zh) if w not in ALLOWED_WORDS and w not in names and not re.fullmatch(r"[a-z_]+(_[a-z]+)+", w)
            and not w.isupper() and not w.startswith(("demo-", "tiny-"))]


def test_real_messages_translate_fully(ws):
    bad = [
        {"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "params": {
            "lora_rank": 0, "learning_rate": 5, "max_seq_length": 100000, "max_input_length": None, "epochs": 3,
            "max_steps": 10, "load_in_4bit": "maybe", "prompt_output_column": "instruction", "lora_rnk": 4}},
        {"method": "grpo", "base_model": "nope", "dataset": "/etc/passwd", "priority": "high", "output_dir": "x",
         "params": {"num_generations": 3, "batch_size": 4, "reward_functions": ["nope"], "reward_weights": [1, 2]}},
        {"method": "xyz", "base_model": "tiny-demo", "dataset": "demo-math", "name": " ", "lora_rank": 4,
         "params": {"prompt_input_column": "questoin"}},
        "", "[1, 2]",  # ("not valid JSON: <reason>" quotes Python's JSON parser, which speaks English)
    ]
    seen = 0
    for raw in bad:
        v = validate(raw, ws)
        for p in v.errors + v.warnings:
            zh = translate_message(p.message)
            assert zh is not None, p.message
            assert not _english_left(zh), (p.message, zh, _english_left(zh))
            seen += 1
    assert seen >= 15


def test_every_declared_limit_reads_in_chinese():
    params = list(COMMON_PARAMS) + [p for m in BUILTINS.values() for p in m.params]
    for p in params:
        zh = translate_message(f"must be {p.limits_text()}")
        assert zh and not _english_left(zh), (p.name, zh)
