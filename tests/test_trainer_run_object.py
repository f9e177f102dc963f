"""The trainer's run object: typed fields, every exit code named in the module's docstring, and the signal
handlers restored on every path out of a run, a raise included."""
import errno
import signal
import typing

import pytest

from tests.trainer_helpers import make_run


def test_run_fields_are_typed():
    from trainer import run as trainer_run
    hints = typing.get_type_hints(trainer_run.Run, vars(trainer_run) | _type_checking_names())
    untyped = [name for name, hint in hints.items() if hint is typing.Any]
    assert not untyped, untyped


def _type_checking_names() -> dict:
    from collections.abc import Callable
    from types import ModuleType

    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

    from trainer.callbacks import MetricsCallback, StopCallback
    from trainer.data import Prepared
    from trainer.eval_run import EvalRun
    from trainer.job import Job
    from trainer.phases import Phases
    return dict(Callable=Callable, ModuleType=ModuleType, PreTrainedModel=PreTrainedModel,
                PreTrainedTokenizerBase=PreTrainedTokenizerBase, Trainer=Trainer, MetricsCallback=MetricsCallback,
                StopCallback=StopCallback, Prepared=Prepared, EvalRun=EvalRun, Job=Job, Phases=Phases)


def test_every_exit_code_is_in_the_docstring():
    from jobs.disk import EXIT_NO_SPACE
    from jobs.state import EXIT_BUSY, EXIT_OK, EXIT_STOPPED
    from trainer import run as trainer_run
    doc = trainer_run.__doc__
    for code in (EXIT_OK, 1, 2, EXIT_STOPPED, EXIT_BUSY, EXIT_NO_SPACE):
        assert f"\n  {code} " in doc, code
    assert EXIT_NO_SPACE == 28 and "no space" in doc


def test_signal_handlers_come_back_when_recording_the_outcome_raises(ws, monkeypatch):
    from trainer import run as trainer_run
    run_dir = make_run(ws, "sft")
    (run_dir / "spec.json").write_text('{"method": "no-such-method"}')  # the run fails in setup, before a model
    real = trainer_run.atomic_write_json

    def failing(path, data):  # an I/O error other than a full disk: _run re-raises it
        if path.name == "outcome.json":
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path, data)
    monkeypatch.setattr(trainer_run, "atomic_write_json", failing)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(OSError, match="Input/output error"):
        trainer_run.main([str(run_dir)])
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
