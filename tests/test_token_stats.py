"""Token lengths at upload: counted through the chat template under a base model's tokenizer, bounded to the first
rows of a huge file, cached beside the dataset, and shown on the Datasets page without a click."""
import html
import json
import statistics

from jobs.data import formats, token_stats
from jobs.models import registry
from tests.conftest import write_jsonl
from tests.helpers import tool_rows


def tiny(ws):
    return registry.list_models(ws)["tiny-demo"]


def direct_lengths(model_path, convs):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(model_path))
    out = []
    for conv in convs:
        kw = {"tools": conv["tools"]} if conv.get("tools") else {}
        out.append(len(tok.apply_chat_template(conv["messages"], tokenize=True, return_dict=True, **kw)["input_ids"]))
    return out


def test_lengths_of_conversations_with_tools_and_rows_over_the_context(ws):
    rows = tool_rows()
    rows[3]["messages"][0]["content"] += " very long" * 1200  # far past tiny-demo's 2048-token context
    path = write_jsonl(ws.datasets / "weather.jsonl", rows)
    s = token_stats.compute(path, "messages", tiny(ws))
    want = direct_lengths(tiny(ws), [formats.conversation(r, "messages") for r in rows])
    assert (s["min"], s["max"], s["rows"], s["skipped"]) == (min(want), max(want), len(rows), 0)
    assert s["median"] == int(statistics.median(want))
    assert s["context"] == 2048 and s["over_context"] == sum(n > 2048 for n in want) == 1
    assert not s["sampled"]


def test_column_data_counts_prompt_and_answer_as_trained(ws):
    path = registry.list_datasets(ws)["demo-instruct"]
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    s = token_stats.compute(path, "column", tiny(ws), ("instruction", "output"))
    params = {"prompt_input_column": "instruction", "prompt_output_column": "output"}
    want = direct_lengths(tiny(ws), [formats.conversation(r, "column", params) for r in rows])
    assert (s["rows"], s["min"], s["max"]) == (len(rows), min(want), max(want))


def test_a_huge_file_is_counted_on_its_first_rows_and_says_so(ws, monkeypatch):
    monkeypatch.setattr(token_stats, "SAMPLE_ROWS", 40)
    path = write_jsonl(ws.datasets / "many.jsonl", tool_rows() * 30)
    s = token_stats.compute(path, "messages", tiny(ws), total_rows=240)
    assert (s["rows"], s["total_rows"], s["sampled"]) == (40, 240, True)


def test_computed_once_then_read_from_the_sidecar_until_the_file_changes(ws, monkeypatch):
    path = write_jsonl(ws.datasets / "weather.jsonl", tool_rows())
    first = token_stats.cached(path, "messages", "tiny-demo", tiny(ws))
    assert token_stats.sidecar_path(path).name == "weather.tokens.json"
    assert json.loads(token_stats.sidecar_path(path).read_text())["entries"][0]["stats"] == first
    calls = []
    real = token_stats.compute
    monkeypatch.setattr(token_stats, "compute", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert token_stats.cached(path, "messages", "tiny-demo", tiny(ws)) == first and not calls
    write_jsonl(path, tool_rows()[:4])  # re-uploaded: new size and time, counted again
    assert token_stats.cached(path, "messages", "tiny-demo", tiny(ws))["rows"] == 4 and len(calls) == 1
    registry.unregister_dataset(ws, "weather")
    assert not token_stats.sidecar_path(path).exists()


def test_datasets_page_shows_token_lengths_without_a_click(ws, monkeypatch):
    from tests.helpers import open_page, text_of
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    with open(write_jsonl(ws.home / "w.jsonl", tool_rows()), "rb") as fh:
        registry.register_dataset(ws, "weather", fh)
    at = open_page("datasets")
    txt = html.unescape(text_of(at))
    assert "Tokens per row under tiny-demo's chat template: min" in txt
    assert "0 of 8 rows exceed the model's context (2048 tokens)" in txt
    assert token_stats.sidecar_path(ws.datasets / "weather.jsonl").exists()
    at.sidebar.selectbox[0].set_value("zh").run()
    assert "按 tiny-demo 的对话模板，每行词元数" in html.unescape(text_of(at))
