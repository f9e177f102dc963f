"""GRPO on conversations with tools: every prompt reaches the model rendered with its row's tools."""
import json

from jobs.spec import validate
from tests.conftest import write_jsonl
from tests.helpers import tool_rows
from tests.trainer_helpers import make_run, run
from trainer.generate import chat_text


def test_grpo_prompts_carry_each_rows_tools_through_the_chat_template(ws, monkeypatch):
    from trainer import run as trainer_run
    from trainer.model import load_tokenizer
    seen = []  # (prompts, prompt_ids) as TRL's GRPOTrainer tokenized them for generation
    original = trainer_run.recipe_for

    def recipe_for(name, w):
        kind, build = original(name, w)

        def observed(job):
            trainer = build(job)
            real = trainer._tokenize_prompts

            def tokenize(prompts):
                out = real(prompts)
                seen.append((list(prompts), [list(ids) for ids in out[0]]))
                return out
            trainer._tokenize_prompts = tokenize
            return trainer
        return kind, observed
    monkeypatch.setattr(trainer_run, "recipe_for", recipe_for)
    write_jsonl(ws.datasets / "weather.jsonl", tool_rows())
    run_dir = make_run(ws, "grpo", dataset="weather", max_steps=2, batch_size=2, num_generations=2,
                       max_content_length=8, reward_functions=["length_penalty"], max_seq_length=2048,
                       eval_ratio=0, num_sample_prompts=1, system_prompt="You can call functions.")
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-2000:]
    tok = load_tokenizer(json.loads((ws.models / "tiny-demo.json").read_text())["path"])
    from jobs.data import formats
    expected = {}
    for row in tool_rows():
        conv = formats.conversation(row, "messages", {"system_prompt": "You can call functions."})
        msgs, _ = formats.prompt_and_reference(conv)
        expected[chat_text(tok, {"messages": msgs, "tools": conv["tools"]})] = conv["tools"]
    prompts = [p for batch, _ in seen for p in batch]
    assert prompts and all(isinstance(p, str) and p in expected for p in prompts)
    assert any(expected[p] for p in prompts), "a row with tools was trained"
    for p in prompts:
        assert p.startswith("<|im_start|>system\nYou can call functions.")
        assert ("# Tools" in p and '"name": "get_weather"' in p) == bool(expected[p])  # each row's own tools
    for batch, ids in seen:  # and TRL tokenized exactly that text
        assert ids == [tok(p)["input_ids"] for p in batch]


def test_grpo_with_tools_on_a_model_whose_template_cannot_render_them_is_refused(smollm2_home):
    from jobs.models.smollm2 import NAME
    from jobs.workspace import Workspace
    w = Workspace(smollm2_home)
    write_jsonl(w.datasets / "weather.jsonl", tool_rows())
    v = validate({"method": "grpo", "base_model": NAME, "dataset": "weather"}, w)
    assert [(e.field, e.message) for e in v.errors] == [
        ("base_model", f"the chat template of {NAME} does not render tools; pick a model whose template does, "
                       "or drop the tool turns")]
