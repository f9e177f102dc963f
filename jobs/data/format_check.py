"""Spec checks that depend on the dataset's format: does the method fit it, and can the model's template render it.

Read from disk only (the first rows, the upload's stats, the model's chat template text); no model is loaded.
"""
from __future__ import annotations

import json
from pathlib import Path

from jobs.atomic import read_json
from jobs.data import formats
from jobs.data.dataset_scan import head_rows

COLUMN_PARAMS = ("prompt_input_column", "prompt_output_column", "prompt_context_column")


def effective_format(param: str | None, ds_path: Path) -> str:
    """The spec's dataset_format, else the override saved with the upload, else detection from the first rows."""
    if param and param != "auto":
        return param
    meta = read_json(ds_path.with_name(ds_path.stem + ".meta.json"), {}) or {}
    if isinstance(meta, dict) and meta.get("override") in formats.FORMATS:
        return meta["override"]
    return formats.detect(head_rows(ds_path))


def uses_columns(fmt: str) -> bool:
    """Whether prompt_input_column / prompt_output_column apply (conversations carry their own roles).

    Alpaca keeps its columns: single-turn rows train as prompt → answer, as before formats were detected."""
    return fmt not in ("messages", "sharegpt", "text")


def check(method, params: dict, fmt: str, ds_path: Path, model_name: str | None,
          model_path: Path | None) -> list[tuple]:
    """(field, value, message) problems. `method` is the jobs.methods.Method declaration: its formats trait says
    which dataset formats it trains on."""
    out = []
    if not method.accepts(fmt):
        name = method.name.upper() if method.builtin else method.name
        out.append(("params.dataset_format", fmt, f"{name} trains on {_formats_text(method.formats)}; this "
                    f"dataset is read as {fmt}. " + _fitting(fmt)))
    rows = head_rows(ds_path)
    if fmt in ("unpaired_preference", "text", "preference") and method.accepts(fmt) and rows:
        n, problem = next(((i, formats.check_row(r, fmt, params)) for i, r in enumerate(rows, 1)
                           if formats.check_row(r, fmt, params)), (0, None))
        if problem:
            out.append(("dataset", ds_path.stem, f"row {n} is not {fmt} data: {problem}"))
    if fmt in formats.CHAT_FORMATS and rows:
        n, problem = next(((i, formats.check_row(r, fmt)) for i, r in enumerate(rows, 1)
                           if formats.check_row(r, fmt)), (0, None))
        if problem:
            out.append(("dataset", ds_path.stem, f"row {n} is not {fmt} data: {problem}"))
    if fmt in formats.CHAT_FORMATS and model_path is not None and _dataset_has_tools(ds_path, fmt, rows):
        template = chat_template_text(model_path)
        if template is not None and not renders_tools(template):
            out.append(("base_model", model_name, f"the chat template of {model_name} does not render tools; pick a "
                        "model whose template does, or drop the tool turns"))
    return out


FORMAT_TEXT = {"column": "prompt → answer columns", "alpaca": "Alpaca rows", "messages": "chat messages",
               "sharegpt": "ShareGPT conversations", "preference": "preference data (prompt / chosen / rejected)",
               "unpaired_preference": "answers marked good or bad (prompt / completion / label)",
               "text": "raw text ({\"text\": ...})"}


def _formats_text(fmts) -> str:
    return " or ".join(FORMAT_TEXT.get(f, f) for f in fmts)


def _fitting(fmt: str) -> str:
    """Which built-in methods train on this format, or how to read the data as another format."""
    from jobs.methods import BUILTINS
    names = [m.name for m in BUILTINS.values() if m.accepts(fmt)]
    fit = f"Pick another method ({', '.join(names)} train on {fmt} data)" if names else "Pick another dataset"
    return fit + ", another dataset, or set dataset_format (text reads any string column as raw text)"


def _dataset_has_tools(ds_path: Path, fmt: str, rows: list[dict]) -> bool:
    meta = read_json(ds_path.with_name(ds_path.stem + ".meta.json"), {}) or {}
    if isinstance(meta, dict) and meta.get("format") == fmt and "tool_rows" in meta:
        return bool(meta["tool_rows"])
    for r in rows:
        try:
            if formats.has_tools(formats.conversation(r, fmt)):
                return True
        except formats.FormatError:
            continue
    return False


def chat_template_text(model_path: Path) -> str | None:
    """The model's chat template as text (tokenizer_config.json or chat_template.jinja), None when it has none."""
    model_path = Path(model_path)
    jinja = model_path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8", errors="replace")
    cfg = read_json(model_path / "tokenizer_config.json", {}) or {}
    tpl = cfg.get("chat_template") if isinstance(cfg, dict) else None
    if isinstance(tpl, list):  # named templates: the default one, or a "tool_use" one
        named = {t.get("name"): t.get("template") for t in tpl if isinstance(t, dict)}
        tpl = named.get("tool_use") or named.get("default")
    return tpl if isinstance(tpl, str) else None


_PROBE_TOOL, _PROBE_CALL = "tunedeck_probe_tool", "tunedeck_probe_call"


def renders_tools(template: str) -> bool:
    """Whether the template writes a tool schema and an assistant tool call into the prompt (rendered in a sandbox)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg):
        raise ValueError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda v, indent=None, **_: json.dumps(v, indent=indent, ensure_ascii=False)
    env.globals["raise_exception"] = raise_exception
    tools = [{"type": "function", "function": {"name": _PROBE_TOOL, "description": "probe",
                                               "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"type": "function", "function": {"name": _PROBE_CALL, "arguments": {}}}]},
                {"role": "tool", "content": "42"}, {"role": "assistant", "content": "ok"}]
    try:
        text = env.from_string(template).render(messages=messages, tools=tools, add_generation_prompt=False,
                                                bos_token="", eos_token="")
    except Exception:  # noqa: BLE001 - a template that fails on tools does not render them
        return False
    return _PROBE_TOOL in text and _PROBE_CALL in text
