"""Samples and evaluation answer the whole prompt conversation (system turn, earlier turns, tools), as trained."""
import json

import pytest

from dashboard import prompt_context
from jobs.evaluation import read_rows
from jobs.models import registry
from jobs.spec import validate
from tests.conftest import write_jsonl
from tests.helpers import tool_rows
from tests.trainer_helpers import make_run, run
from trainer.generate import chat_text  # the real one: the fixture below records what the trainer renders


def samples(run_dir):
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


@pytest.fixture
def rendered(monkeypatch):
    """Every prompt text the generation step hands to the model, as the chat template rendered it."""
    from trainer import generate
    seen = []
    real = generate.chat_text

    def chat_text(tokenizer, prompt):
        text = real(tokenizer, prompt)
        seen.append(text)
        return text
    monkeypatch.setattr(generate, "chat_text", chat_text)
    return seen


def tokenizer_of(ws):
    from trainer.model import load_tokenizer
    return load_tokenizer(registry.list_models(ws)["tiny-demo"])


def test_a_tool_conversation_is_answered_with_its_earlier_turns_system_and_tools(ws, rendered):
    write_jsonl(ws.datasets / "weather.jsonl", tool_rows())
    run_dir = make_run(ws, "sft", dataset="weather", max_steps=1, max_seq_length=2048, max_content_length=8,
                       eval_ratio=0.5, eval_max_rows=3, num_sample_prompts=3, system_prompt="You can call functions.")
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-2000:]
    tok = tokenizer_of(ws)
    shown = samples(run_dir) + read_rows(run_dir)
    assert len(shown) == 6
    for s in shown:
        msgs = s["messages"]
        assert msgs[0]["role"] == "system"
        assert [m for m in msgs if m["role"] == "user"][-1]["content"] == s["prompt"]  # the readable prompt
        text = chat_text(tok, {"messages": msgs, "tools": s.get("tools")})
        assert text in rendered  # the model saw the whole conversation, not the bare last user turn
        for m in msgs:
            assert (m.get("content") or "")[:40] in text
    assert any(len([m for m in s["messages"] if m["role"] == "user"]) > 1 for s in shown)
    with_tools = [s for s in shown if s.get("tools")]
    assert with_tools, "the tool rows carry their tools"
    for s in with_tools:
        text = chat_text(tok, {"messages": s["messages"], "tools": s["tools"]})
        assert "# Tools" in text and s["tools"][0]["function"]["name"] in text
        # the details page shows that conversation as text: turns, the tool call and the tools offered
        shown_text = prompt_context.text(s)
        assert shown_text.startswith("system: You can call functions.\nuser: Hello, I am traveller")
        assert '→ get_weather({"city": ' in shown_text and shown_text.endswith("tools: get_weather")
    # no generation ran on a bare user turn
    assert not any(chat_text(tok, s["prompt"]) in rendered for s in shown)


def test_system_prompt_reaches_samples_and_evaluation_of_column_data(ws, rendered):
    run_dir = make_run(ws, "sft", max_steps=1, max_content_length=8, eval_max_rows=2, num_sample_prompts=2,
                       system_prompt="Reply in one word.")
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-2000:]
    for s in samples(run_dir) + read_rows(run_dir):
        assert s["messages"] == [{"role": "system", "content": "Reply in one word."},
                                 {"role": "user", "content": s["prompt"]}]
    assert rendered and all("Reply in one word." in t for t in rendered)


def _keys(ws, tok, **params):
    """The base-answer cache keys a run would use for its evaluation and its sample prompts."""
    from trainer import base_cache, data, evaluate, samples
    from trainer.prompt_context import of_item
    spec = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                     "params": {"max_samples": 40, **params}}, ws).spec
    p = spec["params"]
    rows = data.read_jsonl(registry.list_datasets(ws)["demo-instruct"], p["max_samples"], "demo-instruct")
    prep = data.prepare(rows, p, tok, "prompt_completion", "demo-instruct")
    model = registry.list_models(ws)["tiny-demo"]
    setup = evaluate.setup_for("sft", p, prep.eval)
    prompts = [of_item(s) for s in prep.samples]
    return (base_cache.key(model, False, setup.cache_parts()),
            base_cache.key(model, False, {"prompts": prompts, **samples.settings(p)}), setup)


def test_a_changed_system_prompt_does_not_reuse_cached_base_answers(ws):
    tok = tokenizer_of(ws)
    plain = _keys(ws, tok)
    a, a_again, b = _keys(ws, tok, system_prompt="Be brief."), _keys(ws, tok, system_prompt="Be brief."), \
        _keys(ws, tok, system_prompt="Be thorough.")
    assert a[:2] == a_again[:2]
    for one, other in ((a, b), (plain, a)):
        assert one[0] != other[0] and one[1] != other[1]
    # rows without any context keep the bare prompt, so older cache entries stay valid for them
    assert not any("conversation" in r for r in plain[2].rows)
    assert all(r["conversation"]["messages"][0]["content"] == "Be thorough." for r in b[2].rows)
