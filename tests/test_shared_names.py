"""Names the three processes share are declared once in jobs/: statuses, run-folder files, metrics, the log format."""
import json
import logging
import os
import re

from jobs import metrics as m
from jobs.logformat import formatter, level_of
from jobs.rundir import RunDir
from jobs.state import cancel_job, create_run, new_job_id, read_state, retry_job, update_state
from jobs.status import ACTIVE, CANCELLABLE, FINAL, RETRYABLE, JobStatus
from jobs.workspace import Workspace
from tests.conftest import REPO

_S = r"""["'](?:queued|running|succeeded|failed|cancelled)["']"""
# A status compared, assigned or grouped as a literal (a dict key such as "running": [...] in a report is fine).
STATUS_LITERAL = re.compile(rf"(?:==|!=|\bstatus\s*=|\bin\s*[(\[{{]|[({{])\s*{_S}\s*[,)}}]|(?:==|!=)\s*{_S}")
RUN_FILE_LITERAL = re.compile(r"""/\s*["'](cancel|stop|outcome\.json|run\.lock|state\.json|spec\.json|progress\.json|"""
                              r"""summary\.json|metrics\.csv|train\.log|samples\.jsonl|trainer\.json|adapter|"""
                              r"""checkpoints|\.state\.lock)["']""")


def test_status_groups_partition_the_statuses():
    assert [s.value for s in JobStatus] == ["queued", "running", "succeeded", "failed", "cancelled"]
    assert ACTIVE | FINAL == set(JobStatus) and not ACTIVE & FINAL
    assert CANCELLABLE == {"queued", "running"} and RETRYABLE == {"failed", "cancelled"}
    # raw JSON strings test against the sets, through the enum's own attributes too
    assert "succeeded" in JobStatus.FINAL and "queued" not in JobStatus.FINAL and "running" in JobStatus.ACTIVE
    assert set(JobStatus.FINAL) == {"succeeded", "failed", "cancelled"}


def test_state_json_keeps_plain_strings_and_run_files_are_named(tmp_path):
    ws = Workspace(tmp_path).ensure()
    job = new_job_id()
    assert create_run(ws, job, {"name": "x"})
    rd = ws.run(job)
    assert Workspace.of_run(rd) == ws and Workspace.of_run(rd.path / ".." / job) == ws
    assert json.loads(rd.state.read_text())["status"] == "queued" and rd.spec.is_file()
    update_state(rd, status=JobStatus.RUNNING)
    assert '"status": "running"' in rd.state.read_text()
    assert cancel_job(ws, job) == "stop requested" and rd.cancel_request.is_file()
    update_state(rd, status=JobStatus.FAILED)
    rd.stop_request.touch()
    rd.outcome.write_text("{}")
    retry_job(ws, job)
    assert not any(p.exists() for p in rd.retry_leftovers) and read_state(rd)["status"] == JobStatus.QUEUED
    with rd.run_lock():
        assert rd.run_lock_path.exists()


def test_no_package_retypes_a_status_or_a_run_file_name():
    offenders = []
    for pkg in ("jobs", "spooler", "trainer", "dashboard", "bench"):  # tests may spell the contract out, to check it
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in ("jobs/status.py", "jobs/rundir.py", "dashboard/i18n.py"):
                continue
            text = path.read_text(encoding="utf-8")
            offenders += [f"{rel}: {x.group(0)}" for x in STATUS_LITERAL.finditer(text)]
            offenders += [f"{rel}: {x.group(0)}" for x in RUN_FILE_LITERAL.finditer(text)]
    assert not offenders, offenders


def test_metric_directions_are_declared_once():
    assert m.better("loss") == m.better("eval_loss") == m.better("final_loss") == m.better("best_eval_loss") == m.LOWER
    assert m.better("reward") == m.better("final_reward") == m.better("reward_accuracy") == m.HIGHER
    assert m.better("reward_correctness") == m.HIGHER and m.better("reward_correctness_std") is None
    assert m.better("learning_rate") is None and m.better("kl") is None and m.better("total_steps") is None
    assert m.charted(["step", "reward_format", "learning_rate", "loss", "reward_std", "elapsed_seconds"]) == \
        ["loss", "learning_rate", "reward_std", "reward_format"]
    assert m.from_trl("rewards/format/mean") == "reward_format" and m.from_trl("rewards/margins") == "reward_margin"
    assert m.from_trl("train_runtime") is None


def test_dashboard_best_marks_follow_the_declaration():
    import pandas as pd

    from dashboard.compare_data import final_metrics
    jobs = [{"label": "a", "spec": {"method": "grpo"}, "summary": {"final_loss": 1.0, "final_reward": 0.2}},
            {"label": "b", "spec": {"method": "grpo"}, "summary": {"final_loss": 2.0, "final_reward": 0.9}}]
    _, best = final_metrics(jobs, {"a": pd.DataFrame(), "b": pd.DataFrame()})
    assert best["final_loss"] == {"a"} and best["final_reward"] == {"b"} and "total_steps" not in best


def test_log_lines_the_trainer_writes_parse_by_level():
    rec = logging.LogRecord("tunedeck.metrics", logging.WARNING, __file__, 1, "step %d/%d loss=2", (3, 10), None)
    line = formatter().format(rec)
    assert level_of(line) == "WARNING"
    assert level_of(" 40%|████      | 4/10 [00:01<00:02, INFO ]") is None
    assert level_of("Traceback (most recent call last):") is None


def test_run_dir_accepts_paths_and_is_a_path_like(tmp_path):
    rd = RunDir(str(tmp_path / "runs" / "j"))
    assert rd.job_id == "j" and rd.log.name == "train.log" and (rd / "x") == tmp_path / "runs" / "j" / "x"
    assert os.fspath(rd) == str(tmp_path / "runs" / "j") and RunDir(rd.path) == rd


def test_compare_and_logs_take_their_lists_from_jobs():
    """Compare's x axes are jobs.metrics.X_AXES; the Logs filter's levels are jobs.logformat's."""
    from dashboard import log_view
    from dashboard.views import compare
    from jobs import logformat
    from jobs import metrics as mt
    assert set(compare.X_LABELS) == set(mt.X_AXES)
    assert set(log_view.LEVELS) | {"CRITICAL"} == set(logformat.LEVELS)
    line = logformat.formatter().format(logging.LogRecord("tunedeck", logging.CRITICAL, "", 0, "disk", None, None))
    assert log_view.filter_lines([line, "  a traceback line"], ["ERROR"]) == [line, "  a traceback line"]


def declared_names() -> set[str]:
    """Names declared once in jobs/: statuses, metrics.csv columns, summary.json figures and run-folder file names.
    One-word run entries that are everyday words (adapter, model, stop, cancel) are left to RunDir's use: a literal
    "model" is as often a dict key of something else. A line marked `# prose, not a name` uses the word as a word."""
    rd = RunDir("/r")
    files = set()
    for attr in dir(RunDir):
        try:
            v = getattr(rd, attr)
        except Exception:  # noqa: BLE001 - methods that need arguments
            continue
        if isinstance(v, os.PathLike) and os.fspath(v).startswith("/r/") and ("." in v.name or "_" in v.name):
            files.add(v.name)
    return {s.value for s in JobStatus} | set(m.METRICS) | set(m.SUMMARY) | files


def literal_offenders(root=REPO) -> list[str]:
    import ast
    names = declared_names()
    out = []
    for pkg in ("spooler", "trainer", "dashboard", "tunedeck"):  # bench/ speaks bare TRL's names on purpose
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith("dashboard/i18n"):  # the catalogs are keyed by text, not by names
                continue
            source = path.read_text(encoding="utf-8")
            prose = {i for i, line in enumerate(source.splitlines(), 1) if "# prose, not a name" in line}
            tree = ast.parse(source)
            text_parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
            for node in ast.walk(tree):  # the text pieces of an f-string are prose, not names
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names \
                        and id(node) not in text_parts and node.lineno not in prose:
                    out.append(f"{rel}:{node.lineno}: {node.value!r}")
    return out


def test_no_literal_outside_jobs_equals_a_declared_name():
    offenders = literal_offenders()
    assert not offenders, ("use jobs.status.JobStatus, jobs.metrics.M / S or jobs.rundir.RunDir instead of:\n"
                           + "\n".join(offenders))


def test_the_literal_guard_can_fail(tmp_path):
    (tmp_path / "spooler").mkdir()
    (tmp_path / "spooler" / "x.py").write_text('row["final_loss"]\nstatus == "running"\nopen("summary.json")\n')
    assert len(literal_offenders(tmp_path)) == 3
