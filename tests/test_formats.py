"""Dataset formats: detection, override, conversion to messages, and checks that name the true line."""
import io
import json

import pytest

from jobs.data import formats
from jobs.data.dataset_scan import scan
from jobs.models import registry
from jobs.workspace import Workspace
from tests.conftest import shared_dataset

SHAREGPT = {"conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"},
                              {"from": "human", "value": "And times 3?"}, {"from": "gpt", "value": "12"}],
            "system": "Be brief."}
TOOLS = {"conversations": [{"from": "human", "value": "Weather in Paris?"},
                           {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
                           {"from": "observation", "value": '{"temp": 21}'},
                           {"from": "gpt", "value": "It is 21 degrees."}],
         "tools": json.dumps([{"name": "weather", "description": "Current weather",
                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}])}
MESSAGES = {"messages": [{"role": "system", "content": "You are kind."}, {"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "Hello!"}]}
ALPACA = {"instruction": "Translate", "input": "chat", "output": "cat", "history": [["hi", "hello"]]}
PREF = {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}


def jsonl(*rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@pytest.mark.parametrize("row, fmt", [(SHAREGPT, "sharegpt"), (TOOLS, "sharegpt"), (MESSAGES, "messages"),
                                      (ALPACA, "alpaca"), (PREF, "preference"), ({"question": "q", "answer": "a"},
                                                                                  "column")])
def test_detects_each_format(row, fmt):
    assert formats.detect([row, row]) == fmt
    assert scan(io.BytesIO(jsonl(row, row))).format == fmt


def test_sharegpt_with_tools_becomes_openai_messages():
    conv = formats.conversation(TOOLS, "sharegpt")
    roles = [m["role"] for m in conv["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    call = conv["messages"][1]["tool_calls"][0]["function"]
    assert call == {"name": "weather", "arguments": {"city": "Paris"}}
    assert conv["tools"][0]["type"] == "function" and conv["tools"][0]["function"]["name"] == "weather"
    assert formats.has_tools(conv)
    prompt, reference = formats.prompt_and_reference(conv)
    # the prompt is the conversation up to the last assistant turn: the tool result the answer builds on is in it
    assert [m["role"] for m in prompt] == ["user", "assistant", "tool"] and reference == "It is 21 degrees."


def test_alpaca_history_and_system_prompt():
    conv = formats.conversation(ALPACA, "alpaca", {"system_prompt": "Be exact."})
    assert [m["role"] for m in conv["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert conv["messages"][3]["content"] == "Translate\n\nchat"
    # a row with its own system turn keeps it
    assert formats.conversation(MESSAGES, "messages", {"system_prompt": "X"})["messages"][0]["content"] == "You are kind."


def test_errors_name_the_line_and_the_turn():
    bad = {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                             {"from": "gpt", "value": "c"}]}
    rep = scan(io.BytesIO(jsonl(*[SHAREGPT] * 811, bad)))
    assert rep.format == "sharegpt"
    assert rep.errors == ["line 812: turn 3 has role 'gpt' after 'gpt'; turns must alternate "
                          "(human or observation, then gpt or function_call)"]
    rep = scan(io.BytesIO(jsonl(MESSAGES, {"messages": [{"role": "user", "content": "hi"}]})))
    assert rep.errors == ["line 2: the last turn has role 'user'; a conversation must end with an assistant turn"]
    rep = scan(io.BytesIO(jsonl(MESSAGES, {"messages": [{"role": "robot", "content": "x"}]})))
    assert rep.errors[0].startswith("line 2: turn 1 has role 'robot'; allowed: system, user, assistant, tool")


def test_invalid_utf8_is_reported_on_its_true_line(tmp_path):
    data = jsonl(PREF, PREF) + b'{"prompt": "\xff", "chosen": "a", "rejected": "b"}\n' + jsonl(PREF)
    assert scan(io.BytesIO(data)).errors[0].startswith("line 3: not UTF-8 text")
    far = jsonl(*[PREF] * 4999) + b'{"prompt": "\xfe"}\n'
    assert scan(io.BytesIO(far)).errors[0].startswith("line 5000: not UTF-8 text")
    # the validator's "columns unknown" message names the real line too
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"\n\n" + b'{"a": "\xff"}\n')
    assert registry.first_row_problem(p).startswith("line 3:")


def test_line_length_cap_is_a_clear_error_and_the_scan_goes_on():
    long_row = json.dumps({"prompt": "x" * 5000, "chosen": "a", "rejected": "b"}).encode() + b"\n"
    rep = scan(io.BytesIO(jsonl(PREF) + long_row + b"[1]\n"), max_line_bytes=1000)
    assert rep.errors[0] == "line 2: longer than 0.000953674 MiB, the cap for one row; split or shorten it"
    assert rep.errors[1].startswith("line 3: expected a JSON object")


def test_override_checks_rows_in_the_chosen_format(tmp_path):
    ws = Workspace(tmp_path).ensure()
    # keys that look like preference data, but the user says it is plain column data
    rows = [{"prompt": "p", "chosen": "c", "rejected": "r", "score": 1}] * 3
    rep = registry.register_dataset(ws, "d", jsonl(*rows), fmt="column")
    assert rep.format == "column" and registry.dataset_meta(ws, "d")["override"] == "column"
    assert registry.dataset_meta(ws, "d")["detected"] == "preference"
    with pytest.raises(registry.JsonlError, match="line 1: conversations must be a non-empty list"):
        registry.set_dataset_format(ws, "d", "sharegpt")
    assert registry.set_dataset_format(ws, "d", "auto")["format"] == "preference"
    registry.unregister_dataset(ws, "d")
    assert not registry.meta_path(ws, "d").exists()


def test_stats_of_the_real_toolcall_and_multiturn_files(tmp_path):
    ws = Workspace(tmp_path).ensure()
    with open(shared_dataset("sharegpt_en_toolcall.jsonl"), "rb") as fh:
        rep = registry.register_dataset(ws, "tools", fh)
    s = rep.stats
    assert s["format"] == "sharegpt" and s["rows"] == 300 and s["tool_rows"] > 0
    assert s["turns"]["min"] >= 2 and s["turns"]["min"] <= s["turns"]["median"] <= s["turns"]["max"]
    assert {"user", "assistant", "tool"} <= set(s["roles"])
    with open(shared_dataset("messages_en_multiturn.jsonl"), "rb") as fh:
        s = registry.register_dataset(ws, "chat", fh).stats
    assert s["format"] == "messages" and s["tool_rows"] == 0 and "system" in s["roles"]
    assert s["turns"]["max"] > 3


def test_a_failed_upload_leaves_nothing_behind(tmp_path):
    ws = Workspace(tmp_path).ensure()
    with pytest.raises(registry.JsonlError):
        registry.register_dataset(ws, "x", jsonl(SHAREGPT) + b"nope\n")
    assert list(ws.datasets.iterdir()) == []
