"""report_to: the run's metrics also go to the team's experiment tracker; TensorBoard for real."""
import pytest

from jobs.settings import trackers
from jobs.spec import validate
from tests.trainer_helpers import make_run, run, train_rows


def spec(**params):
    return {"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "params": params}


def test_tensorboard_event_files_parse_with_tensorboards_reader(ws):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run_dir = make_run(ws, max_steps=3, report_to=["tensorboard"], num_sample_prompts=0)
    assert run(run_dir) == 0
    events = list((run_dir / trackers.TB_DIR).rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file under runs/<id>/tb/"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("train/loss")]
    assert len(losses) == 3
    assert losses == pytest.approx([float(r["loss"]) for r in train_rows(run_dir)], rel=1e-5)


def test_report_to_is_checked(ws):
    assert validate(spec(), ws).spec["params"]["report_to"] == ["none"]
    assert validate(spec(report_to="tensorboard"), ws).spec["params"]["report_to"] == ["tensorboard"]
    bad = validate(spec(report_to=["comet"]), ws)
    assert [str(e) for e in bad.errors] == \
        ['params.report_to: must be a list from: none, tensorboard, mlflow, wandb (got ["comet"])']
    mixed = validate(spec(report_to=["none", "tensorboard"]), ws)
    assert "none cannot be combined" in str(mixed.errors[0])
    for name in ("mlflow", "wandb"):
        v = validate(spec(report_to=[name]), ws)
        if name in trackers.installed():
            assert v.ok
        else:
            assert f"{name} is not installed here (pip install {name})" in str(v.errors[0])
    assert trackers.installed()[:2] == ["none", "tensorboard"]


def test_mlflow_records_the_run_in_a_local_file_store(ws, tmp_path, monkeypatch):
    """report_to=mlflow with MLFLOW_TRACKING_URI=file:...: the run, its params and every loss row land in MLflow."""
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install mlflow-skinny)")
    from mlflow.tracking import MlflowClient
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tunedeck-test")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # MLflow 3 refuses a folder store unless allowed
    assert "mlflow" in trackers.installed()
    run_dir = make_run(ws, max_steps=3, report_to=["mlflow"], num_sample_prompts=0, eval_ratio=0)
    assert run(run_dir) == 0
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("tunedeck-test")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    r = runs[0]
    assert r.data.params["max_steps"] == "3" and r.data.params["learning_rate"]
    losses = [m.value for m in sorted(client.get_metric_history(r.info.run_id, "loss"), key=lambda m: m.step)]
    assert losses == pytest.approx([float(x["loss"]) for x in train_rows(run_dir)], rel=1e-5)

    # Without a tracking URI the run keeps its own store in runs/<id>/mlruns.
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    own = make_run(ws, max_steps=1, report_to=["mlflow"], num_sample_prompts=0, eval_ratio=0)
    assert run(own) == 0
    mine = MlflowClient(tracking_uri=(own / "mlruns").as_uri())
    assert len(mine.search_runs([mine.get_experiment_by_name("tunedeck-test").experiment_id])) == 1
