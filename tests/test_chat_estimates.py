"""Truncation of conversations shown before a run: the New training form's "rows cut" line for chat data (the same
counts training then reports), and the Datasets page's token stats under the model new trainings will use."""
import json
import random
import shutil

import pytest

from tests.conftest import write_jsonl
from tests.helpers import open_page, text_of


@pytest.fixture
def home(ws, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    return ws


def chat_rows(n=30):
    """Short conversations, long ones (many turns) and some whose last exchange alone is very long."""
    rng = random.Random(2)
    rows = []
    for i in range(n):
        turns = 40 if i % 3 == 0 else 4
        msgs = [{"role": "system", "content": "Answer briefly."}]
        for k in range(turns):
            msgs.append({"role": "user" if k % 2 == 0 else "assistant",
                         "content": " ".join(rng.choice(["sky", "blue", "grass", "green", "why"]) for _ in range(12))})
        if i % 10 == 4:
            msgs[-1]["content"] += " long" * 700
        rows.append({"messages": msgs})
    return rows


def trained_counts(ws, rows, msl):
    """What the trainer's preparation cuts and drops, on the same rows and the same tokenizer."""
    from jobs.models.registry import list_models
    from trainer import model as model_mod
    from trainer.chat_data import prepare_conversations
    tok = model_mod.load_tokenizer(list_models(ws)["tiny-demo"])
    _, truncated, dropped = prepare_conversations(rows, {"max_seq_length": msl, "system_prompt": None}, tok,
                                                  "prompt_completion", "messages", "chat")
    return truncated, dropped


def test_new_form_estimates_cut_and_dropped_conversations(home):
    rows = chat_rows()
    write_jsonl(home.datasets / "chat.jsonl", rows)
    at = open_page("new")
    at.selectbox(key="m_dataset").set_value("chat").run()
    at.number_input(key="p_max_input_length").set_value(128).run()
    at.number_input(key="p_max_seq_length").set_value(256).run()
    line = next((c.value for c in at.caption if c.value.startswith("✂️")), None)
    assert line, "no rows-cut estimate for conversation data"
    cut, dropped = trained_counts(home, rows, 256)
    assert cut and dropped
    assert f"About {cut} of the first {len(rows)} conversations" in line and f"{dropped} would be dropped" in line, line
    at.number_input(key="p_max_seq_length").set_value(8192).run()
    assert any(c.value.startswith("✂️ No conversation is cut") for c in at.caption)


def test_datasets_page_counts_tokens_under_the_registered_real_model(home):
    from dashboard.token_panel import default_model
    src = home.models / "my-model"
    tiny = json.loads((home.models / "tiny-demo.json").read_text())["path"]
    shutil.copytree(tiny, src)  # a second, user-registered model (a folder under models/)
    cfg = json.loads((src / "config.json").read_text())
    cfg["max_position_embeddings"] = 512
    (src / "config.json").write_text(json.dumps(cfg))
    assert default_model(home, ["tiny-demo", "my-model"]) == "my-model"
    write_jsonl(home.datasets / "chat.jsonl", chat_rows())
    at = open_page("datasets")
    txt = text_of(at)
    assert "under my-model's chat template" in txt, txt
    assert "exceed the model's context (512 tokens)" in txt
    assert "longer than max_seq_length's default (1024)" in txt
