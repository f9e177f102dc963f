"""The normalized spec keeps only params the dataset's format reads: a conversation run stores no column params."""
from jobs.data.format_check import COLUMN_PARAMS
from jobs.spec import validate
from tests.conftest import write_jsonl

CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}


def test_conversation_specs_store_no_column_params(ws):
    write_jsonl(ws.datasets / "chat.jsonl", [CHAT] * 4)
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "chat"}, ws)
    assert v.ok, v.errors
    assert not set(COLUMN_PARAMS) & set(v.spec["params"])
    assert validate(v.spec, ws).spec == v.spec  # stored, re-validated (the trainer does), the same spec
    # a stated format needs no dataset look-up
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "chat",
                  "params": {"dataset_format": "sharegpt"}}, ws, check_refs=False)
    assert v.ok and not set(COLUMN_PARAMS) & set(v.spec["params"])


def test_column_specs_keep_their_column_params(ws):
    write_jsonl(ws.datasets / "cols.jsonl", [{"question": "q", "answer": "a"}] * 4)
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "cols",
                  "params": {"prompt_input_column": "question", "prompt_output_column": "answer"}}, ws)
    assert v.ok, v.errors
    assert v.spec["params"]["prompt_input_column"] == "question"
    assert v.spec["params"]["prompt_output_column"] == "answer"
    assert "prompt_context_column" in v.spec["params"]
