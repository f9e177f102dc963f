"""Try it against trainings and forged input (issue #25): trainings go first, the worker checks what it reads,
requests can be cancelled, broken pointers leave the spool, answers end in whole characters, and no command follows
a symlink planted in runs/."""
import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from jobs.atomic import atomic_write_json
from jobs.state import read_state
from jobs.use import requests as rq
from tests.conftest import REPO, demo_workspace
from tests.spool_helpers import FAKE, Spooler, drop, spec, statuses, wait_for
from tests.trainer_helpers import make_run, run

GREEDY = {"greedy": True, "max_new_tokens": 24}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_home):
    """One workspace with one real SFT run (tiny-demo, a few steps) shared by this module's tests."""
    ws = demo_workspace(tmp_path_factory.mktemp("trysched") / "ws", demo_home)
    run_dir = make_run(ws, max_steps=4, learning_rate=5e-3, eval_ratio=0, num_sample_prompts=0)
    assert run(run_dir) == 0
    return ws, run_dir.name


def _answers(ws, owner, rids):
    return [rq.read_try(ws, owner, r) for r in rids]


def _trainings(ws, job):
    return {d: s for d, s in statuses(ws).items() if d != job}


# ---------------------------------------------------------------- 1. trainings go first
def test_a_stream_of_prompts_gives_way_to_waiting_trainings(trained):
    """A busy warm worker finishes the answer in hand and yields to a waiting training; the prompts left wait,
    say that they wait for a training, and are answered once the trainings have run."""
    ws, job = trained
    n = 40
    with Spooler(ws, "--try-idle", "60", trainer=FAKE) as sp:
        rids = [rq.submit_try(ws, [job], f"Count to {i}", include_base=True, settings=GREEDY) for i in range(n)]
        wait_for(lambda: rq.read_try(ws, job, rids[0])["status"] == "done", 120, 0.1)   # warm and busy now
        drop(ws, "first.json", spec("first", notes="sleep=3"))
        drop(ws, "second.json", spec("second", notes="sleep=1"))
        wait_for(lambda: len(_trainings(ws, job)) == 2 and any(
            s != "queued" for s in _trainings(ws, job).values()), 60, 0.05)
        done_at_start = sum(r["status"] == "done" for r in _answers(ws, job, rids))
        # the answer in hand, and at most one the worker had already claimed when the training arrived
        assert done_at_start <= 4, f"{done_at_start} of {n} prompts were answered before the training started"
        wait_for(lambda: any(r["waiting_for"] == rq.WAITING_FOR_TRAINING for r in _answers(ws, job, rids)), 30, 0.1)
        out = subprocess.run([sys.executable, "-m", "spooler", "status", "--home", str(ws.home)], cwd=REPO,
                             capture_output=True, text=True, timeout=60).stdout
        assert "try worker" not in out                  # its slot went to the training
        wait_for(lambda: set(_trainings(ws, job).values()) == {"succeeded"}, 60)
        wait_for(lambda: all(r["status"] in rq.FINAL_TRY for r in _answers(ws, job, rids)), 240, 0.2)
        final = _answers(ws, job, rids)
        assert {r["status"] for r in final} == {"done"}
        assert all(r["waiting_for"] is None for r in final)
        assert "asked to exit: the slot is needed" in sp.text()
        sp.stop()


# ---------------------------------------------------------------- 2. the worker applies the limits
def _forge(ws, job, rid, **req):
    """A request written straight into runs/<job>/try/ and the spool, as a script could, bypassing build_try."""
    body = {"request_id": rid, "kind": "try", "job_id": job, "base_model": "tiny-demo", "targets": ["base"],
            "prompt": "hi", "system": "", "settings": {"greedy": True, "max_new_tokens": 4}, **req}
    atomic_write_json(rq.try_dir(ws.run_dir(job)) / f"{rid}.json", body)
    atomic_write_json(rq.inbox(ws) / f"{rid}.json", {k: body[k] for k in ("request_id", "kind", "job_id", "base_model")})


FORGED = {
    "20260101-000000-000001-aaaaaa": ({"prompt": "x" * 5_000_000, "settings": {"max_new_tokens": 10**9}},
                                      "refused: request: the file is 5,000,"),
    "20260101-000000-000002-aaaaaa": ({"prompt": "y" * (rq.MAX_PROMPT_CHARS + 1)},
                                      f"refused: prompt: at most {rq.MAX_PROMPT_CHARS} characters"),
    "20260101-000000-000003-aaaaaa": ({"settings": {"max_new_tokens": 10**9}},
                                      "refused: max_new_tokens: must be an integer from 1 to 4096 (got 1000000000)"),
    "20260101-000000-000004-aaaaaa": ({"settings": {"temperature": 50}},
                                      "refused: temperature: must be a number from 0 to 2 (got 50)"),
    "20260101-000000-000005-aaaaaa": ({"targets": ["base", "../../etc"]},
                                      "refused: targets: '../../etc' is neither 'base' nor a job id"),
    "20260101-000000-000006-aaaaaa": ({"targets": ["base"] * 11}, "refused: targets: from 1 to 10 models"),
    "20260101-000000-000007-aaaaaa": ({"system": {"a": 1}}, "refused: system: must be a text"),
}


def test_the_worker_refuses_a_forged_request_without_loading_a_model(trained):
    from trainer.try_worker import Worker
    ws, job = trained
    for rid, (req, _) in FORGED.items():
        _forge(ws, job, rid, **req)
    w = Worker(ws, "tiny-demo", slot=7, idle=0.5)
    assert w.loop() == 0
    for rid, (_, why) in FORGED.items():
        ans = json.loads((rq.try_dir(ws.run_dir(job)) / f"{rid}{rq.ANSWER_SUFFIX}").read_text())
        assert ans["status"] == "failed" and ans["error"].startswith(why), (rid, ans["error"][:200])
    assert w.loads == 0 and not w.loaded        # refused before any model was loaded
    assert not rq.pending(ws) and not rq.taken(ws)


# ---------------------------------------------------------------- 3. cancel
def _cli(ws, *args):
    return subprocess.run([sys.executable, "-m", "spooler", "try", "--home", str(ws.home), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_cancel_a_waiting_request_from_the_command_line(trained):
    ws, job = trained
    rid = rq.submit_try(ws, [job], "never answered", settings=GREEDY)
    out = _cli(ws, "--cancel", rid)
    assert out.returncode == 0 and out.stdout.strip() == f"request {rid}: cancelled before a worker took it"
    r = rq.read_try(ws, job, rid)
    assert r["status"] == "cancelled" and rid not in {p["request_id"] for p in rq.pending(ws) + rq.taken(ws)}
    again = _cli(ws, "--cancel", rid)
    assert again.returncode == 1 and again.stderr.strip() == f"error: request {rid} is already cancelled; nothing to cancel"
    for bad, why in (("../x", "is not a request id"), ("20260101-000000-000000-bbbbbb", "no such try request")):
        out = _cli(ws, "--cancel", bad)
        assert out.returncode == 1 and why in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert _cli(ws, job).returncode == 2          # neither a prompt nor --cancel


def test_cancel_stops_an_answer_being_generated(trained):
    """The cancel arrives while the base model generates (the click is placed there, since tiny-demo answers in a
    blink): it stops after the next token, keeps what was written, and the run's model never starts."""
    from trainer.try_worker import Worker
    ws, job = trained
    rid = rq.submit_try(ws, [job], "Write a very long story", include_base=True,
                        settings={"greedy": True, "max_new_tokens": 4096})
    said = []

    class ClickDuringGeneration(Worker):
        def generate(self, model, messages, settings, cancelled=None):
            if not said:  # the user's click, while the request is generating
                assert rq.read_try(ws, job, rid)["status"] == "generating"
                said.append(rq.cancel_try(ws, rid))
            return super().generate(model, messages, settings, cancelled)
    w = ClickDuringGeneration(ws, "tiny-demo", slot=8, idle=0.5)
    assert w.loop() == 0
    assert said == [f"request {rid}: cancel requested; the worker stops it at its next token"]
    r = rq.read_try(ws, job, rid)
    assert r["status"] == "cancelled" and r["error"] == "cancelled while it was being answered"
    assert [(a["target"], a["tokens"]) for a in r["answers"]] == [("base", 1)]   # stopped at its first token
    assert not rq.taken(ws) and not rq.pending(ws)
    with pytest.raises(rq.RequestError, match="already cancelled"):
        rq.cancel_try(ws, rid)


# ---------------------------------------------------------------- 4. forged pointers leave the spool
def test_a_forged_pointer_is_moved_to_rejected_with_its_reason(trained, tmp_path):
    ws, job = trained
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    linked = "20260101-000000-000000-5e11ed"
    os.symlink(outside, ws.runs / linked)
    try:
        forged = {"20260102-000000-000001-cccccc": ("../../elsewhere/run", "job_id: '../../elsewhere/run' is not a job id"),
                  "20260102-000000-000002-cccccc": (linked, f"runs/{linked} is a symlink, not a run folder"),
                  "20260102-000000-000003-cccccc": (None, "job_id: 'None' is not a job id")}
        rq.taken_dir(ws).mkdir(parents=True, exist_ok=True)
        for i, (rid, (jid, _)) in enumerate(forged.items()):
            folder = rq.taken_dir(ws) if i == 2 else rq.inbox(ws)
            atomic_write_json(folder / f"{rid}.json", {"request_id": rid, "kind": "try", "job_id": jid,
                                                       "base_model": "tiny-demo"})
        with Spooler(ws, trainer=FAKE) as sp:
            wait_for(lambda: not list(rq.inbox(ws).glob("*.json")) and not list(rq.taken_dir(ws).glob("*.json")), 30)
            sp.stop()
        for rid, (_, why) in forged.items():
            assert (ws.rejected / f"request-{rid}.json").is_file()
            assert why in (ws.rejected / f"request-{rid}.json.error.txt").read_text()
        assert not any(outside.iterdir())
    finally:
        os.unlink(ws.runs / linked)


# ---------------------------------------------------------------- 5. whole characters
def test_an_answer_cut_by_max_new_tokens_ends_in_a_whole_character(demo_home):
    from transformers import AutoTokenizer

    from trainer.try_worker import decode_whole_characters
    tok = AutoTokenizer.from_pretrained(demo_home / "models" / "tiny-demo")
    text = "héllo 你好 wörld 😀"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    cut_mid_character = 0
    for k in range(1, len(ids) + 1):
        cut_mid_character += tok.decode(ids[:k]).endswith("\ufffd")
        got = decode_whole_characters(tok, ids[:k], cut=True)
        assert "\ufffd" not in got and text.startswith(got), (k, got)
    assert cut_mid_character >= 4                     # the tokenizer does cut characters: the test means something
    assert decode_whole_characters(tok, ids, cut=True) == text


# ---------------------------------------------------------------- 6. one rule for run folders
def _tree(path):
    """Every file under path with its content hash: what a command must leave as it was."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(path.rglob("*"))}


def test_every_command_refuses_a_run_folder_that_is_a_symlink(trained, tmp_path, capsys):
    """runs/<valid id> planted as a symlink to a run-like folder outside the workspace (queued, with an adapter and
    a finished export): no command reads, writes or deletes anything through it."""
    from jobs.models.registry import RegistryError
    from spooler import commands
    from spooler.__main__ import main as spooler_main
    ws, job = trained
    linked = "20260103-000000-000000-5e11ed"
    outside = tmp_path / "elsewhere" / "run"
    (outside / "adapter").mkdir(parents=True)
    for f in (ws.run_dir(job) / "adapter").iterdir():
        (outside / "adapter" / f.name).write_bytes(f.read_bytes())
    (outside / "spec.json").write_bytes((ws.run_dir(job) / "spec.json").read_bytes())
    atomic_write_json(outside / "state.json", {"status": "queued", "created_at": "2026-01-03T00:00:00Z"})
    (outside / "export" / "merged").mkdir(parents=True)
    atomic_write_json(outside / "export" / "status.json", {"status": "done"})
    before = _tree(outside)
    os.symlink(outside, ws.runs / linked)
    try:
        home = ["--home", str(ws.home)]
        cmds = [["try", linked, "--prompt", "hi"], ["export", linked], ["hold", linked], ["release", linked],
                ["priority", linked, "5"], ["priority", linked, "top"], ["cancel", linked], ["retry", linked],
                ["delete", linked]]
        if "benchmark" in commands.NAMES:
            cmds += [["benchmark", linked, "--suite", "arith-mc"], ["benchmark", linked, "--cancel"]]
        for cmd in cmds:
            assert spooler_main([cmd[0], *home, *cmd[1:]]) == 1, cmd
            err = capsys.readouterr().err
            assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, (cmd, err)
            assert "symlink" in err or "no job" in err, (cmd, err)
        with pytest.raises(RegistryError, match="is a symlink, not a run folder"):
            rq.register_merged(ws, linked, "through-a-link")
        assert not (ws.models / "through-a-link").exists()
        # the daemon never follows it either: a pointer naming it is rejected, a queued run there never starts
        rid = "20260103-000000-000001-dddddd"
        atomic_write_json(rq.inbox(ws) / f"{rid}.json", {"request_id": rid, "kind": "export", "job_id": linked,
                                                          "base_model": "tiny-demo"})
        with Spooler(ws, trainer=FAKE) as sp:
            wait_for(lambda: (ws.rejected / f"request-{rid}.json").is_file(), 30)
            time.sleep(1.0)
            sp.stop()
        assert (read_state(outside) or {}).get("status") == "queued"
        assert _tree(outside) == before
    finally:
        os.unlink(ws.runs / linked)
