"""`spooler status` names the phase a running job is in, with the phase's own progress."""
from jobs.atomic import atomic_write_json
from jobs.rundir import RunDir
from jobs.state import create_run, new_job_id, update_state
from jobs.status import JobStatus
from jobs.workspace import Workspace
from spooler import cli


def test_status_shows_the_phase_of_a_running_job(tmp_path, capsys):
    ws = Workspace(tmp_path).ensure()
    job = new_job_id()
    create_run(ws, job, {"name": "evaluating", "method": "sft", "base_model": "tiny-demo", "dataset": "d",
                         "params": {}})
    update_state(ws.run_dir(job), status=JobStatus.RUNNING)
    atomic_write_json(RunDir(ws.run_dir(job)).progress, {"step": 10, "total_steps": 10, "percent": 100,
                                                         "phase": "tuned_evaluation", "done": 12, "total": 50})
    data = cli.status_data(ws)
    assert data["running"][0]["phase"] == "tuned_evaluation"
    cli.print_status(data)
    line = next(li for li in capsys.readouterr().out.splitlines() if job in li)
    assert "step 10/10" in line and line.endswith("tuned evaluation 12/50")
