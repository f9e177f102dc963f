"""Which dataset column a column parameter starts on when its current value is not a column of the dataset."""
from __future__ import annotations

# What each column parameter usually holds, best guess first (Alpaca, GSM8K, preference and chat-style names).
LIKELY = {
    "prompt_input_column": ("instruction", "question", "prompt", "query", "problem", "input", "text"),
    "prompt_output_column": ("output", "answer", "response", "completion", "solution", "chosen", "target"),
    "prompt_context_column": ("input", "context"),
    "chosen_column": ("chosen",),
    "rejected_column": ("rejected",),
    "text_column": ("text", "content", "body", "output", "document"),
    "completion_column": ("completion", "response", "answer", "output"),
    "label_column": ("label", "desirable", "good", "thumbs_up"),
}


def best_column(param: str, method_default, columns: list[str], taken: set[str]) -> str | None:
    """The method's own default when the dataset has it, else a column named like what the parameter holds,
    else the first column no other column parameter uses. Never silently the same column as another one."""
    if not columns:
        return None
    lower = {c.lower(): c for c in columns}
    for name in (method_default, *LIKELY.get(param, ())):
        if isinstance(name, str) and name.lower() in lower and lower[name.lower()] not in taken:
            return lower[name.lower()]
    free = [c for c in columns if c not in taken]
    return free[0] if free else columns[0]
