"""Try it: prompts answered by the base model and trained runs through the spooler's warm try worker."""
import json
import subprocess
import sys

import pytest

from jobs.state import read_spec
from jobs.use import requests as rq
from tests.conftest import REPO, demo_workspace
from tests.spool_helpers import FAKE, Spooler, drop, gone, spec, statuses, wait_for
from tests.trainer_helpers import make_run, run

GREEDY = {"greedy": True, "max_new_tokens": 12}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_home):
    """One workspace with one real SFT run (tiny-demo, a few steps) shared by this module's tests."""
    ws = demo_workspace(tmp_path_factory.mktemp("try") / "ws", demo_home)
    run_dir = make_run(ws, max_steps=4, learning_rate=5e-3, eval_ratio=0, num_sample_prompts=0)
    assert run(run_dir) == 0
    return ws, run_dir.name


def wait_answer(ws, owner, rid, timeout=120):
    wait_for(lambda: rq.read_try(ws, owner, rid)["status"] in rq.FINAL_TRY, timeout, 0.1)
    r = rq.read_try(ws, owner, rid)
    assert r["status"] == "done", r.get("error")
    return r


def test_request_answered_by_base_and_run_then_warm_worker_reuses_the_model(trained):
    ws, job = trained
    with Spooler(ws, "--try-idle", "60", trainer=FAKE) as sp:
        rid = rq.submit_try(ws, [job], "Say hello", include_base=True, settings=GREEDY)
        assert rq.read_try(ws, job, rid)["status"] == "waiting"
        first = wait_answer(ws, job, rid)
        assert [a["target"] for a in first["answers"]] == ["base", job]
        assert all(a["seconds"] > 0 and a["tokens"] > 0 for a in first["answers"])
        assert first["loaded_model"] is True

        rid2 = rq.submit_try(ws, [job], "Say hello", include_base=True, settings=GREEDY)
        second = wait_answer(ws, job, rid2)
        assert second["worker"]["pid"] == first["worker"]["pid"]       # the same warm worker
        assert second["loaded_model"] is False and second["load_seconds"] < first["load_seconds"]
        # greedy answers are deterministic: the warm model answers exactly as the freshly loaded one did
        assert [a["text"] for a in second["answers"]] == [a["text"] for a in first["answers"]]

        status = subprocess.run([sys.executable, "-m", "spooler", "status", "--home", str(ws.home)], cwd=REPO,
                                capture_output=True, text=True, timeout=60).stdout
        assert f"slot 0: try worker for tiny-demo (idle, pid {first['worker']['pid']}" in status

        hist = rq.try_history(ws, job)
        assert [h["request_id"] for h in hist] == [rid2, rid]            # newest first
        lines = [json.loads(x) for x in rq.history_jsonl(ws, job).splitlines()]
        assert [x["request_id"] for x in lines] == [rid2, rid] and lines[0]["answers"][1]["target"] == job
        assert not rq.pending(ws) and not rq.taken(ws)
        sp.stop()
    wait_for(lambda: gone(first["worker"]["pid"]), 30)  # the spooler's stop takes the warm worker with it


def test_training_takes_the_slot_of_an_idle_try_worker(trained):
    ws, job = trained
    with Spooler(ws, "--try-idle", "300", trainer=FAKE) as sp:
        r = wait_answer(ws, job, rq.submit_try(ws, [job], "2+2?", include_base=False, settings=GREEDY))
        pid = r["worker"]["pid"]
        assert rq.list_workers(ws)[0]["state"] == "idle"
        drop(ws, "train.json", spec("after-try"))
        wait_for(lambda: "succeeded" in [s for d, s in statuses(ws).items() if d != job], 60)
        wait_for(lambda: gone(pid), 30)                               # it yielded long before its 300 s idle time
        assert "asked to exit: the slot is needed" in sp.text()
        sp.stop()


def test_cli_prints_the_answers(trained):
    ws, job = trained
    with Spooler(ws, "--try-idle", "30", trainer=FAKE) as sp:
        out = subprocess.run([sys.executable, "-m", "spooler", "try", job, "--home", str(ws.home), "--prompt",
                              "Name a colour", "--base", "--greedy", "--max-new-tokens", "8"],
                             cwd=REPO, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        assert "=== base model" in out.stdout and f"=== {job}" in out.stdout
        bad = subprocess.run([sys.executable, "-m", "spooler", "try", job, "--home", str(ws.home), "--prompt", "x",
                              "--temperature", "5"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and bad.stderr.strip() == "error: temperature: must be a number from 0 to 2 (got 5.0)"
        sp.stop()


def test_bad_requests_are_refused_with_a_reason(trained, ws):
    tws, job = trained
    with pytest.raises(rq.RequestError, match="prompt: must be a non-empty"):
        rq.submit_try(tws, [job], "  ")
    with pytest.raises(rq.RequestError, match="no such job"):
        rq.submit_try(tws, ["20260101-000000-000000-abcdef"], "hi")
    with pytest.raises(rq.RequestError, match="is not a job id"):
        rq.submit_try(tws, ["../../etc"], "hi")
    with pytest.raises(rq.RequestError, match="max_new_tokens: must be an integer from 1 to 4096"):
        rq.submit_try(tws, [job], "hi", settings={"max_new_tokens": 0})
    with pytest.raises(rq.RequestError, match="top_k: unknown generation setting"):
        rq.submit_try(tws, [job], "hi", settings={"top_k": 3})
    queued = make_run(ws)  # never trained: no adapter
    with pytest.raises(rq.RequestError, match="has no adapter yet"):
        rq.submit_try(ws, [queued.name], "hi")


def test_a_4bit_run_answers_from_the_base_loaded_in_4bit_as_it_trained(trained):
    """QLoRA: the worker loads the base in 4-bit NF4 as the trainer did, so the answer is the trained model's, and
    holds no full-precision copy until a full-precision run asks for one."""
    from peft import PeftModel

    from trainer.model import load_base, load_tokenizer
    ws, job = trained
    q = make_run(ws, max_steps=2, load_in_4bit=True, learning_rate=5e-3, eval_ratio=0, num_sample_prompts=0).name
    assert run(ws.run_dir(q)) == 0
    with Spooler(ws, "--try-idle", "60", trainer=FAKE) as sp:
        first = wait_answer(ws, q, rq.submit_try(ws, [q], "Say hello", include_base=True, settings=GREEDY))
        assert [(a["target"], a["precision"]) for a in first["answers"]] == \
            [("base", rq.PRECISION_4BIT), (q, rq.PRECISION_4BIT)]
        assert rq.list_workers(ws)[0]["precisions"] == [rq.PRECISION_4BIT]     # no full-precision copy loaded
        mixed = wait_answer(ws, job, rq.submit_try(ws, [job, q], "Say hello", include_base=True, settings=GREEDY))
        assert [(a["target"], a["precision"]) for a in mixed["answers"]] == \
            [("base", "float32"), (job, "float32"), (q, rq.PRECISION_4BIT)]
        assert mixed["answers"][2]["text"] == first["answers"][1]["text"]     # same 4-bit model, same answer
        assert sorted(rq.list_workers(ws)[0]["precisions"]) == sorted([rq.PRECISION_4BIT, "float32"])
        sp.stop()

    # The trainer's own loading (4-bit NF4 base + the adapter) answers exactly what Try it showed.
    path = ws.home / "models" / "tiny-demo.json"
    base_path = json.loads(path.read_text())["path"]
    tok = load_tokenizer(base_path)
    model = PeftModel.from_pretrained(load_base(base_path, "tiny-demo", load_in_4bit=True),
                                      str(ws.run_dir(q) / "adapter")).eval()
    import torch
    text = tok.apply_chat_template([{"role": "user", "content": "Say hello"}], tokenize=False,
                                   add_generation_prompt=True)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        ids = model.generate(**enc, max_new_tokens=GREEDY["max_new_tokens"], do_sample=False,
                             pad_token_id=tok.pad_token_id)
    assert tok.decode(ids[0][enc["input_ids"].shape[1]:], skip_special_tokens=True).strip() == \
        first["answers"][1]["text"]


@pytest.fixture(scope="module")
def reward_model(trained):
    """A real reward-model run (rm: a score head and LoRA on tiny-demo, a few steps on demo-prefs) in the same
    workspace as the SFT run."""
    ws, _ = trained
    run_dir = make_run(ws, method="rm", dataset="demo-prefs", max_steps=4, learning_rate=5e-3, eval_ratio=0,
                       num_sample_prompts=0)
    assert run(run_dir) == 0
    return run_dir.name


def test_a_reward_model_is_asked_for_scores_and_refuses_prompts_alone(trained, reward_model):
    ws, sft = trained
    with pytest.raises(rq.RequestError, match=r"a reward model \(method 'rm'\) scores answers; send the answers"):
        rq.submit_try(ws, [reward_model], "hi", include_base=False)
    with pytest.raises(rq.RequestError, match="base: a reward model's base is its untrained score head"):
        rq.submit_try(ws, [reward_model], "hi", completions=["an answer"])
    with pytest.raises(rq.RequestError, match=r"completions: from 1 to 2 answers to score \(got 3\)"):
        rq.submit_try(ws, [reward_model], "hi", include_base=False, completions=["a", "b", "c"])
    with pytest.raises(rq.RequestError, match=r"completions\[1\]: must be a non-empty text"):
        rq.submit_try(ws, [reward_model], "hi", include_base=False, completions=["a", "  "])
    with pytest.raises(rq.RequestError, match=f"completions: job {sft} \\(method 'sft'\\) writes answers"):
        rq.submit_try(ws, [sft], "hi", include_base=False, completions=["a"])


def test_the_try_panel_of_a_reward_model_scores_a_prompt_and_two_answers(trained, reward_model, monkeypatch):
    """The details page's Try it of an rm run asks for a prompt and two answers; the spooler's worker scores them
    with the trained head, exactly as a GRPO job's rm:<id> reward scores them, and the page shows which it prefers."""
    from tests.helpers import open_page, text_of
    from trainer.rm_reward import load
    ws, _ = trained
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    job = reward_model
    at = open_page("details", id=job)
    assert "it scores answers instead of writing them" in text_of(at)
    prompt, good, bad = "What is 2 + 2?", "2 + 2 = 4.", "It is 5, probably."
    at.text_area(key=f"try_{job}_prompt").set_value(prompt)
    at.text_area(key=f"try_{job}_answer_a").set_value(good)
    at.text_area(key=f"try_{job}_answer_b").set_value(bad)
    at.button(key=f"FormSubmitter:try_{job}_form-Score").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [req] = rq.try_history(ws, job)
    assert req["targets"] == [job] and req["completions"] == [good, bad] and req["prompt"] == prompt

    with Spooler(ws, "--try-idle", "30", trainer=FAKE) as sp:
        r = wait_answer(ws, job, req["request_id"])
        sp.stop()
    [a] = r["answers"]
    assert a["target"] == job and a["seconds"] > 0 and len(a["scores"]) == 2
    max_len = read_spec(ws.run_dir(job))["params"]["max_seq_length"]
    expected = load(f"rm:{job}", ws, max_len)([[{"role": "user", "content": prompt}]] * 2, [good, bad])
    assert a["scores"] == pytest.approx(expected, abs=1e-4)       # the trained head's scores, not generated text

    at = open_page("details", id=job)
    shown = text_of(at)
    preferred = "Answer A" if a["scores"][0] > a["scores"][1] else "Answer B"
    assert f"Prefers {preferred} by {abs(a['scores'][0] - a['scores'][1]):.4f}" in shown
    assert good in shown and bad in shown
