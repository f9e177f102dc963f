"""report_to: the run's metrics also go to the team's experiment tracker; TensorBoard for real."""
import pytest

from jobs import trackers
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
