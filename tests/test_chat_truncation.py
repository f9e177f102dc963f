"""Long conversations: truncation is linear in the turns and gives what dropping one exchange at a time gives; a stop
request or SIGTERM ends the conversation preparation between rows."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from jobs.atomic import read_json
from tests.conftest import REPO, write_jsonl
from trainer.chat_data import prepare_conversations, render, truncate_left


def tokenizer(path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(path)


def one_at_a_time(tok, conv, max_len):
    """The reference: render the whole conversation, drop the first exchange, again, until it fits."""
    msgs, tools = conv["messages"], conv.get("tools")
    system = msgs[:1] if msgs and msgs[0]["role"] == "system" else []
    body, cut = msgs[len(system):], False
    while True:
        if len(tok(render(tok, system + body, tools), add_special_tokens=False)["input_ids"]) <= max_len:
            return {"messages": system + body, "tools": tools}, cut
        starts = [i for i, m in enumerate(body) if m["role"] == "user" and i > 0]
        if not starts:
            return None, True
        body, cut = body[starts[0]:], True


def conversation(turns, rng, system=True):
    words = "the a sky blue green answer question tool result because and then so many words".split()
    msgs = [{"role": "system", "content": "Be brief."}] if system else []
    for i in range(turns):
        role = "user" if i % 2 == 0 else "assistant"
        msgs.append({"role": role, "content": " ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))})
    return {"messages": msgs, "tools": None}


class CountingTokenizer:
    """The real tokenizer, counting the messages it is asked to render."""

    def __init__(self, tok):
        self.tok, self.rendered = tok, 0

    def apply_chat_template(self, messages, **kw):
        self.rendered += len(messages)
        return self.tok.apply_chat_template(messages, **kw)

    def __call__(self, *a, **kw):
        return self.tok(*a, **kw)


def test_truncation_matches_dropping_one_exchange_at_a_time(demo_home):
    tok = tokenizer(demo_home / "models" / "tiny-demo")
    rng = random.Random(3)
    for trial in range(30):
        conv = conversation(rng.randint(1, 60), rng, system=trial % 2 == 0)
        for max_len in (8, 40, 120, 400, 5000):
            assert truncate_left(tok, conv, max_len) == one_at_a_time(tok, conv, max_len), (trial, max_len)


def test_truncation_renders_each_turn_a_bounded_number_of_times(demo_home):
    tok = CountingTokenizer(tokenizer(demo_home / "models" / "tiny-demo"))
    conv = conversation(2000, random.Random(1))
    kept, cut = truncate_left(tok, conv, 1024)
    assert cut and 2 < len(kept["messages"]) < 400
    # dropping one exchange at a time renders ~n²/4 messages (a million here); a linear cut a few times n at most
    assert tok.rendered <= 2 * len(conv["messages"]), tok.rendered


def test_stop_request_ends_conversation_preparation_between_rows(demo_home):
    from trainer.errors import Stopped
    tok = tokenizer(demo_home / "models" / "tiny-demo")
    rows = [conversation(6, random.Random(i)) for i in range(50)]
    params = {"max_seq_length": 256, "max_content_length": 64, "system_prompt": None}
    asked = []
    with pytest.raises(Stopped):
        prepare_conversations(rows, params, tok, "prompt_completion", "messages", "chat",
                              should_stop=lambda: asked.append(1) or len(asked) > 3)
    assert len(asked) == 4  # asked before each row: stopped at the fourth, not after all 50


def test_sigterm_during_conversation_preparation_stops_the_job(ws):
    """SIGTERM while long conversations are being prepared: the job ends cancelled before the data is split."""
    from jobs.spec import validate
    from jobs.state import EXIT_STOPPED, create_run, new_job_id
    rng = random.Random(5)
    write_jsonl(ws.datasets / "long-chat.jsonl", [conversation(400, rng) for _ in range(300)])
    raw = {"method": "sft", "base_model": "tiny-demo", "dataset": "long-chat",
           "params": {"max_steps": 2, "max_seq_length": 512, "num_sample_prompts": 1, "eval_max_rows": 0}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    job = new_job_id()
    create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    env = {**os.environ, "TUNEDECK_HOME": str(ws.home)}
    p = subprocess.Popen([sys.executable, "-m", "trainer", str(run_dir)], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (read_json(run_dir / "progress.json") or {}).get("phase") != "preparing_data":
            time.sleep(0.05)
        time.sleep(1.0)  # into the rows
        p.send_signal(signal.SIGTERM)
        assert p.wait(300) == EXIT_STOPPED
    finally:
        if p.poll() is None:  # never leave a trainer behind
            p.kill()
            p.wait(30)
    log = (run_dir / "train.log").read_text()
    assert "rows read" not in log  # ended inside the preparation, not after all 300 rows were prepared
    assert json.loads((run_dir / "state.json").read_text())["status"] == "cancelled"
