"""Loss masks for conversations: every assistant turn is trained, no other turn is (tiny-demo and SmolLM2)."""
import json

from jobs.data import formats
from tests.conftest import shared_dataset
from trainer.chat_data import tokenize_with_mask, truncate_left

CHAT = {"messages": [{"role": "system", "content": "You answer in one word."},
                     {"role": "user", "content": "Colour of the sky?"}, {"role": "assistant", "content": "Blue."},
                     {"role": "user", "content": "Colour of grass?"}, {"role": "assistant", "content": "Green."},
                     {"role": "user", "content": "Colour of snow?"}, {"role": "assistant", "content": "White."}]}


def tokenizer(path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(path)


def spans(tok, ids, mask):
    """The trained text and the masked text, each as the decoded runs of consecutive tokens."""
    runs, cur, flag = {0: [], 1: []}, [], None
    for i, m in zip(ids, mask, strict=False):
        if m != flag and cur:
            runs[flag].append(tok.decode(cur))
            cur = []
        cur.append(i)
        flag = m
    runs[flag].append(tok.decode(cur))
    return runs[1], runs[0]


def check(tok, conv):
    ids, mask = tokenize_with_mask(tok, conv["messages"], conv["tools"])
    assert len(ids) == len(mask) and 0 < sum(mask) < len(mask)
    trained, masked = spans(tok, ids, mask)
    trained_text, masked_text = "".join(trained), "".join(masked)
    answers = [m for m in conv["messages"] if m["role"] == "assistant"]
    # one trained run per assistant turn, in order, holding exactly that turn (plus the end-of-turn marker)
    assert len(trained) == len(answers)
    for run, m in zip(trained, answers, strict=False):
        assert run.strip().startswith(m["content"].strip()[:40]) if m["content"] else True
        for call in m.get("tool_calls", []):
            assert call["function"]["name"] in run
        assert "<|im_end|>" in run
    for m in conv["messages"]:
        if m["role"] != "assistant":
            assert m["content"][:60] not in trained_text
            assert m["content"][:60] in masked_text
    return ids, mask


def test_masks_on_tiny_demo_with_and_without_tools(demo_home):
    tok = tokenizer(demo_home / "models" / "tiny-demo")
    check(tok, formats.conversation(CHAT, "messages"))
    rows = [json.loads(x) for x in shared_dataset("sharegpt_en_toolcall.jsonl").read_text().splitlines()]
    with_tools = [formats.conversation(r, "sharegpt") for r in rows[:40]]
    with_tools = [c for c in with_tools if any(m.get("tool_calls") for m in c["messages"])][:5]
    assert with_tools
    for conv in with_tools:
        ids, _ = check(tok, conv)
        assert conv["tools"][0]["function"]["name"] in tok.decode(ids)  # the schemas are in the prompt


def test_masks_on_smollm2_template(smollm2_home):
    from jobs.models import smollm2
    from jobs.models.registry import list_models
    from jobs.workspace import Workspace
    tok = tokenizer(list_models(Workspace(smollm2_home))[smollm2.NAME])
    check(tok, formats.conversation(CHAT, "messages"))
    # SmolLM2 adds its own system turn when a row has none: masked like any system turn
    no_system = {"messages": CHAT["messages"][1:]}
    ids, mask = check(tok, formats.conversation(no_system, "messages"))
    assert "SmolLM" in tok.decode([i for i, m in zip(ids, mask, strict=False) if not m])
    rows = [json.loads(x) for x in shared_dataset("messages_en_multiturn.jsonl").read_text().splitlines()]
    for r in rows[:5]:
        check(tok, formats.conversation(r, "messages"))


def test_truncation_drops_whole_early_turns_and_keeps_the_system_turn(demo_home):
    tok = tokenizer(demo_home / "models" / "tiny-demo")
    conv = formats.conversation(CHAT, "messages")
    full = len(tokenize_with_mask(tok, conv["messages"], None)[0])
    cut, was_cut = truncate_left(tok, conv, full - 1)
    assert was_cut and cut["messages"][0]["role"] == "system"
    assert [m["content"] for m in cut["messages"][1:]] == ["Colour of grass?", "Green.", "Colour of snow?", "White."]
    kept, was_cut = truncate_left(tok, conv, full)
    assert not was_cut and kept["messages"] == conv["messages"]
    assert truncate_left(tok, conv, 5) == (None, True)


def test_validator_refuses_tools_for_a_template_that_cannot_render_them(smollm2_home):
    import shutil

    from jobs.spec import validate
    from jobs.workspace import Workspace
    ws = Workspace(smollm2_home)
    shutil.copy(shared_dataset("sharegpt_en_toolcall.jsonl"), ws.datasets / "toolcall.jsonl")
    raw = {"method": "sft", "base_model": "smollm2-135m-instruct", "dataset": "toolcall"}
    v = validate(raw, ws)
    assert [str(e) for e in v.errors] == [
        'base_model: the chat template of smollm2-135m-instruct does not render tools; pick a model whose template '
        'does, or drop the tool turns (got "smollm2-135m-instruct")']
    assert validate(dict(raw, base_model="tiny-demo"), ws).ok
