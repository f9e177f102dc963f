"""Benchmarks on finished runs, queued (`python -m spooler benchmark`) and scored by a real daemon on a slot with real
lm-eval; the details page's button; the `regressed` notification against a real HTTP server on 127.0.0.1."""
import html
import time

import pytest

from jobs import benchmarks_requests as br
from jobs.__main__ import main as jobs_main
from jobs.atomic import atomic_write_json, read_json
from jobs.evaluation import EVALUATION_FILE
from jobs.queue.spool import submit
from jobs.state import update_state
from jobs.status import JobStatus
from jobs.team import audit
from jobs.use import requests as rq
from spooler.__main__ import main as spooler_main
from tests.benchmark_data import register_arith
from tests.conftest import REPO
from tests.helpers import Hook
from tests.spool_helpers import Spooler, spec, statuses, wait_for, wait_for_passes
from tests.trainer_helpers import make_run, run

APP = str(REPO / "dashboard" / "app.py")


def open_page(page: str, **query):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> str:
    """Every text on the page; user text arrives as character references (dashboard.safe.md): read it back."""
    return html.unescape("\n".join(str(x.value) for kind in ("markdown", "caption", "error", "info", "success", "subheader",
                                                "warning") for x in getattr(at, kind)))


def finished_run(ws, name="done", **params):
    """A finished run as the spooler leaves it (fake trainer), with an adapter folder: one that can be benchmarked."""
    job, _ = submit(ws, spec(name, **params))
    rd = ws.run_dir(job)
    wait_for(lambda: statuses(ws).get(job) == JobStatus.SUCCEEDED, 60)
    (rd / "adapter").mkdir(exist_ok=True)
    (rd / "adapter" / "adapter_config.json").write_text("{}")
    return job


def test_cli_refuses_bad_suites_and_runs_that_cannot_be_benchmarked(ws, tmp_path, capsys):
    register_arith(ws, tmp_path)
    home = ["--home", str(ws.home)]
    job = make_run(ws, "sft", max_steps=1).name  # queued, never run
    assert spooler_main(["benchmark", *home, job, "--suite", "arith-mc", "--suite", "no good!"]) == 2
    err = capsys.readouterr().err
    assert "suite 'no good!' is not allowed: a workspace benchmark (arith-em, arith-mc) or an lm-eval task" in err
    assert spooler_main(["benchmark", *home, job, "--suite", "arith-mc", "--limit", "0"]) == 2
    assert "limit: must be an integer from 1 to 1,000,000 rows per task (got 0)" in capsys.readouterr().err
    assert spooler_main(["benchmark", *home, job, "--suite", "arith-mc"]) == 1
    err = capsys.readouterr().err
    assert f"job {job} has no adapter yet (it is queued)" in err and "nothing was queued" in err
    (ws.run_dir(job) / "adapter").mkdir()
    (ws.run_dir(job) / "adapter" / "adapter_config.json").write_text("{}")
    assert spooler_main(["benchmark", *home, job, "--suite", "arith-mc"]) == 1
    assert f"job {job} is queued; benchmarks run on finished runs" in capsys.readouterr().err
    update_state(ws.run(job), status=JobStatus.SUCCEEDED)
    assert spooler_main(["benchmark", *home, job, "20990101-000000-000000-abcdef", "--suite", "arith-mc"]) == 1
    assert "no such job" in capsys.readouterr().err
    assert not rq.pending(ws) and not br.benchmark_state(ws.run_dir(job))  # all or none: nothing was queued
    assert spooler_main(["benchmark", *home, job, "--suite", "arith-mc", "--suite", "gsm8k"]) == 0
    out = capsys.readouterr()
    assert f"{job}: benchmarks queued" in out.out and "'gsm8k' is not a workspace benchmark" in out.err
    assert [p["kind"] for p in rq.pending(ws)] == [br.BENCH_KIND]
    st = br.benchmark_state(ws.run_dir(job))
    assert st["status"] == "waiting" and st["suites"] == ["arith-mc", "gsm8k"] and st["limit"] == 100
    assert spooler_main(["benchmark", *home, job, "--suite", "arith-mc"]) == 1
    assert "a benchmark request is already waiting (arith-mc, gsm8k)" in capsys.readouterr().err


def test_a_waiting_request_can_be_cancelled_and_one_a_slot_took_cannot(ws, tmp_path, capsys):
    register_arith(ws, tmp_path)
    home = ["--home", str(ws.home)]
    job = make_run(ws, "sft", max_steps=1).name
    (ws.run_dir(job) / "adapter").mkdir()
    (ws.run_dir(job) / "adapter" / "adapter_config.json").write_text("{}")
    update_state(ws.run(job), status=JobStatus.SUCCEEDED)
    assert spooler_main(["benchmark", *home, job]) == 2
    assert "--suite: name at least one suite" in capsys.readouterr().err
    assert spooler_main(["benchmark", *home, job, "--cancel"]) == 1
    assert f"job {job}: no benchmark request is waiting (it is not requested); nothing to cancel" in \
        capsys.readouterr().err

    assert spooler_main(["benchmark", *home, job, "--suite", "arith-mc"]) == 0
    rid = br.benchmark_state(ws.run_dir(job))["request_id"]
    assert spooler_main(["benchmark", *home, job, "--cancel", "--suite", "arith-mc"]) == 2
    assert spooler_main(["benchmark", *home, job, "--cancel"]) == 0
    assert f"{job}: benchmark request {rid} cancelled (arith-mc)" in capsys.readouterr().out
    assert [(r["action"], r.get("detail")) for r in audit.recent(ws, job=job)][-2:] == [("benchmark", None),
                                                                                       ("benchmark", "cancel")]
    st = br.benchmark_state(ws.run_dir(job))
    assert st["status"] == "cancelled" and st["finished_at"] and not rq.pending(ws) and not rq.taken(ws)
    assert spooler_main(["benchmark", *home, job, "--cancel"]) == 1  # once only
    assert "(it is cancelled); nothing to cancel" in capsys.readouterr().err

    # queued again; this time the spooler's claim (the same rename) wins the race: the request runs to its end
    assert spooler_main(["benchmark", *home, job, "--suite", "arith-em"]) == 0
    rid = br.benchmark_state(ws.run_dir(job))["request_id"]
    assert rq.claim(ws, rid)
    with pytest.raises(br.RequestError, match="a slot has just taken its benchmark request"):
        br.cancel_benchmark(ws, job)
    assert br.benchmark_state(ws.run_dir(job))["status"] == "waiting" and rq.taken(ws)
    br.write_benchmark_state(ws.run_dir(job), status="scoring")
    assert spooler_main(["benchmark", *home, job, "--cancel"]) == 1
    assert "already scoring (arith-em); they run to the end and cannot be cancelled" in capsys.readouterr().err
    assert spooler_main(["benchmark", *home, "../etc", "--cancel"]) == 1
    assert "not a job id" in capsys.readouterr().err


def test_a_queued_request_is_scored_by_the_daemon_on_a_slot_and_merged(ws, tmp_path, capsys):
    """A real tiny-demo run scored arith-mc in training; the queued request adds arith-em (and an unknown suite,
    which fails with its reason) through a real daemon and `python -m trainer.benchmarks --request`."""
    register_arith(ws, tmp_path)
    run_dir = make_run(ws, "sft", max_steps=1, eval_max_rows=0, benchmarks=["arith-mc"], benchmark_limit=4)
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-3000:]
    trained = read_json(run_dir / EVALUATION_FILE)["benchmarks"]["arith-mc"]
    with Spooler(ws) as sp:
        code = spooler_main(["benchmark", "--home", str(ws.home), run_dir.name, "--suite", "arith-em", "--limit", "3",
                             "--wait", "--timeout", "600"])
        out = capsys.readouterr()
        assert code == 0, (out, sp.text()[-3000:], (br.bench_dir(run_dir) / br.BENCH_LOG).read_text()[-3000:])
        assert f"{run_dir.name} arith-em exact_match (final_number): base" in out.out
        st = br.benchmark_state(run_dir)
        assert st["status"] == "done" and st["scored"] == ["arith-em"] and "slot" in st and st["pid"]
        ev = read_json(run_dir / EVALUATION_FILE)
        assert set(ev["benchmarks"]) == {"arith-mc", "arith-em"} and ev["benchmarks"]["arith-mc"] == trained
        assert ev["benchmarks_meta"]["limit"] == 3 and "arith-em" in ev["benchmarks_meta"]["suites"]
        wait_for(lambda: not rq.pending(ws) and not rq.taken(ws), 30)  # the pointer is closed once it is reaped
        wait_for(lambda: "started the benchmark of" in sp.text() and f"benchmarks of {run_dir.name} done" in sp.text())

        # a suite whose data is gone: the request fails with the suite, the task and the file; the scores stay
        assert jobs_main(["benchmark", "add", "arith-gone", "--jsonl", str(tmp_path / "mc.jsonl"), "--kind",
                          "multiple_choice", "--question-column", "q", "--choices-column", "options",
                          "--answer-column", "gold", "--home", str(ws.home)]) == 0
        (ws.home / "benchmarks" / "arith-gone" / "data.jsonl").unlink()
        assert spooler_main(["benchmark", "--home", str(ws.home), run_dir.name, "--suite", "arith-gone", "--wait",
                             "--timeout", "600"]) == 1
        err = capsys.readouterr().err
        assert "suite 'arith-gone': task arith-gone could not be loaded" in err and "data.jsonl" in err, err
        st = br.benchmark_state(run_dir)
        assert st["status"] == "failed" and "arith-gone" in st["error"] and st["scored"] == []
        assert set(read_json(run_dir / EVALUATION_FILE)["benchmarks"]) == {"arith-mc", "arith-em"}


def test_the_details_page_queues_benchmarks_with_a_suite_picker(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    register_arith(ws, tmp_path)
    with Spooler(ws) as sp:
        job = finished_run(ws)
        sp.stop()
    at = open_page("details", id=job)
    picker = at.multiselect(key="bench_run_suites")
    assert picker.options == ["arith-em", "arith-mc"]
    button = at.button(key="bench_run")
    assert button.disabled  # no suite picked yet
    picker.set_value(["arith-mc"]).run()
    at.number_input(key="bench_run_limit").set_value(5).run()
    at.button(key="bench_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    st = br.benchmark_state(ws.run_dir(job))
    assert st["status"] == "waiting" and st["suites"] == ["arith-mc"] and st["limit"] == 5
    assert [(p["kind"], p["job_id"]) for p in rq.pending(ws)] == [(br.BENCH_KIND, job)]
    assert "Benchmarks arith-mc: waiting for a free slot." in texts(at)
    assert not any(b.key == "bench_run" for b in at.button)  # no second request while one waits
    audit = (ws.home / "audit.jsonl").read_text()
    assert '"benchmark"' in audit and job in audit
    at.button(key=f"bench_cancel_{job}").click().run()  # taken back before a slot took it
    assert not at.exception, [e.value for e in at.exception]
    assert br.benchmark_state(ws.run_dir(job))["status"] == "cancelled" and not rq.pending(ws)
    assert "Benchmarks arith-mc: cancelled before a slot took them." in texts(at)
    assert at.button(key="bench_run")  # the picker is back

    br.write_benchmark_state(ws.run_dir(job), status="failed", error="suite 'x': boom")
    at = open_page("details", id=job)
    assert "Benchmarks arith-mc failed: suite 'x': boom" in texts(at)
    at.session_state["lang"] = "zh"
    at.run()
    assert "基准测试 arith-mc 失败" in texts(at) and at.button(key="bench_run").label == "排队运行基准测试"


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def dropped(ws, job, **suites):
    """evaluation.json with benchmark scores: suite=(base, tuned), stderr 0.05."""
    ev = read_json(ws.run_dir(job) / EVALUATION_FILE, {}) or {"metrics": {}}
    ev["benchmarks"] = {s: {"acc": {"base": b, "tuned": t, "stderr": 0.05, "better": "higher"}}
                        for s, (b, t) in suites.items()}
    atomic_write_json(ws.run_dir(job) / EVALUATION_FILE, ev)


def test_regressed_is_sent_once_to_the_targets_that_subscribe(ws, hook):
    atomic_write_json(ws.home / "config.json", {"notify": [
        {"url": f"{hook.url}/reg", "on": ["regressed"], "format": "json"},
        {"url": f"{hook.url}/slack", "on": ["succeeded", "regressed"], "format": "slack"},
        {"url": f"{hook.url}/final", "on": ["succeeded"], "format": "json"}]})
    with Spooler(ws) as sp:
        job = finished_run(ws, "forgetful")
        wait_for(lambda: len(hook.bodies("/final")) == 1 and len(hook.bodies("/slack")) == 1, 30)
        assert hook.bodies("/reg") == []  # it ended without benchmarks: nothing dropped

        dropped(ws, job, capitals=(0.94, 0.31), sums=(0.5, 0.52))  # e.g. written by a queued benchmark request
        wait_for(lambda: len(hook.bodies("/reg")) == 1 and len(hook.bodies("/slack")) == 2, 30)
        body = hook.bodies("/reg")[0]
        assert body["event"] == "job.regressed" and body["job_id"] == job and body["name"] == "forgetful"
        assert [(h["suite"], h["metric"], h["drop"]) for h in body["regressed"]] == [("capitals", "acc", 0.63)]
        assert "capitals acc 0.94 → 0.31 (−0.63)" in body["text"] and f"training?id={job}" in body["url"]
        slack = hook.bodies("/slack")[1]["text"]
        assert "*forgetful*" in slack and "regressed on benchmarks: capitals acc 0.94 → 0.31 (−0.63)" in slack

        dropped(ws, job, capitals=(0.94, 0.30), sums=(0.5, 0.52))  # the same suite scored again: no second message
        wait_for_passes(ws, 3)
        time.sleep(1.5)
        assert len(hook.bodies("/reg")) == 1 and len(hook.bodies("/final")) == 1

        # while a request is still scoring, nothing is sent; once it is done, one message names every drop
        br.write_benchmark_state(ws.run_dir(job), status=br.BenchStatus.SCORING.value, suites=["sums"])
        dropped(ws, job, capitals=(0.94, 0.30), sums=(0.5, 0.2))
        wait_for_passes(ws, 3)
        time.sleep(1.5)
        assert len(hook.bodies("/reg")) == 1
        br.write_benchmark_state(ws.run_dir(job), status=br.BenchStatus.DONE.value, scored=["sums"])
        wait_for(lambda: len(hook.bodies("/reg")) == 2, 30)
        assert [h["suite"] for h in hook.bodies("/reg")[1]["regressed"]] == ["capitals", "sums"]
        assert len(hook.bodies("/final")) == 1 and len(hook.bodies("/slack")) == 3
        sp.stop()


def test_regressed_is_an_allowed_event_of_a_target():
    from jobs.settings.notify_config import check_entries
    entries, problems = check_entries([{"url": "http://h/x", "on": "succeeded, regressed"}])
    assert problems == [] and entries[0]["on"] == ["succeeded", "regressed"]


def test_tunedeck_benchmark_reaches_both_commands(ws, tmp_path, capsys):
    """`tunedeck benchmark add|list` registers and lists workspace benchmarks (python -m jobs); `tunedeck benchmark
    JOB_ID ...` queues or cancels on a run (python -m spooler): one name, both commands."""
    from tunedeck.cli import main as tunedeck_main
    from tunedeck.cli import usage
    register_arith(ws, tmp_path)
    capsys.readouterr()
    assert tunedeck_main(["benchmark", "list", "--home", str(ws.home)]) == 0
    out = capsys.readouterr().out
    assert "arith-mc" in out and "arith-em" in out
    job = make_run(ws, "sft", max_steps=1).name
    assert tunedeck_main(["benchmark", job, "--cancel", "--home", str(ws.home)]) == 1
    assert "no benchmark request is waiting" in capsys.readouterr().err
    assert "benchmark add|list" in usage() and "queue benchmark suites" in usage()
