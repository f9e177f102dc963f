"""Training tiny-demo for real on chat-format data: SFT with tools, GRPO on conversations, DPO on message lists."""
import json
import shutil

from jobs.models import registry
from tests.conftest import shared_dataset, write_jsonl
from tests.trainer_helpers import make_run, run, state, summary, train_rows


def samples(run_dir):
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_sft_on_sharegpt_with_tool_calls(ws):
    with open(shared_dataset("sharegpt_en_toolcall.jsonl"), "rb") as fh:
        assert registry.register_dataset(ws, "toolcall", fh).format == "sharegpt"
    run_dir = make_run(ws, "sft", dataset="toolcall", max_samples=24, max_steps=3, max_seq_length=384,
                       max_input_length=256,
                       system_prompt="You can call functions.")
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-2000:]
    assert state(run_dir)["status"] == "succeeded" and train_rows(run_dir)
    s = summary(run_dir)
    assert s["rows"]["read"] == 24
    # the sample prompt is the conversation up to its last assistant turn; its reference is that turn
    rows = [json.loads(x) for x in shared_dataset("sharegpt_en_toolcall.jsonl").read_text().splitlines()[:24]]
    finals = {r["conversations"][-1]["value"] for r in rows}
    assert all(x["reference"] in finals for x in samples(run_dir))


def test_grpo_on_a_chat_dataset_takes_the_last_turns(ws):
    shutil.copy(shared_dataset("messages_en_multiturn.jsonl"), ws.datasets / "chat.jsonl")
    run_dir = make_run(ws, "grpo", dataset="chat", max_samples=8, max_steps=2, batch_size=2, num_generations=2,
                       max_content_length=8, reward_functions=["length_penalty"], max_seq_length=512,
                       max_input_length=512)
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-2000:]
    rows = [json.loads(x) for x in shared_dataset("messages_en_multiturn.jsonl").read_text().splitlines()[:8]]
    last_user = {[m for m in r["messages"] if m["role"] == "user"][-1]["content"] for r in rows}
    last_answer = {r["messages"][-1]["content"] for r in rows}
    assert all(x["prompt"] in last_user and x["reference"] in last_answer for x in samples(run_dir))


def test_dpo_on_message_lists(ws):
    rows = [json.loads(x) for x in (ws.datasets / "demo-prefs.jsonl").read_text().splitlines()]
    chat = [{"prompt": [{"role": "system", "content": "Answer kindly."}, {"role": "user", "content": r["prompt"]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows]
    write_jsonl(ws.datasets / "prefs-chat.jsonl", chat)
    run_dir = make_run(ws, "dpo", dataset="prefs-chat", max_steps=2, batch_size=2, max_samples=12)
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-2000:]
    assert any("rewards/margins" in k or "margin" in k for k in train_rows(run_dir)[0])


def test_method_must_fit_the_format(ws):
    from jobs.spec import validate
    shutil.copy(shared_dataset("messages_en_multiturn.jsonl"), ws.datasets / "chat.jsonl")
    v = validate({"method": "dpo", "base_model": "tiny-demo", "dataset": "chat"}, ws)
    assert any(e.field == "params.dataset_format" and "DPO trains on preference data" in e.message for e in v.errors)
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "demo-prefs"}, ws)
    assert any("preference data" in e.message for e in v.errors)
    # a chat dataset needs no column pickers; a wrong override is caught on the first row
    assert validate({"method": "sft", "base_model": "tiny-demo", "dataset": "chat"}, ws).ok
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "chat",
                  "params": {"dataset_format": "sharegpt"}}, ws)
    assert [e.message for e in v.errors] == ["row 1 is not sharegpt data: turn 1 is not a {from, value} object"]
