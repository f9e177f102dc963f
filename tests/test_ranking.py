"""One rule for the best run: the group row, the Trainings list and the sweep notification name the same run."""
from jobs.ranking import best_run, headline, headline_text


def _row(job, status="succeeded", **kw):
    return {"job_id": job, "name": job, "status": status, "final_loss": None, "final_reward": None, **kw}


def test_evaluation_headline_first_then_reward_then_loss():
    assert headline(_row("a", eval_metric="accuracy", eval_tuned=0.5, eval_better="higher", final_loss=0.1)) == \
        ("accuracy", 0.5, True)
    assert headline(_row("b", final_reward=0.7, final_loss=0.1)) == ("reward", 0.7, True)
    assert headline(_row("c", final_loss=1.5)) == ("loss", 1.5, False)
    assert headline(_row("d")) is None and headline_text(_row("d")) == ""
    assert headline_text(_row("c", final_loss=1.23456)) == "loss 1.235"


def test_a_grpo_sweep_best_is_the_highest_reward_not_the_lowest_loss():
    rows = [_row("low-loss", final_reward=0.2, final_loss=0.01), _row("high-reward", final_reward=0.9, final_loss=3.0),
            _row("failed", status="failed", final_reward=5.0)]
    assert best_run(rows)["job_id"] == "high-reward"


def test_lower_is_better_metrics_pick_the_minimum_and_unlike_metrics_are_not_mixed():
    rows = [_row("a", eval_metric="perplexity", eval_tuned=9.0, eval_better="lower"),
            _row("b", eval_metric="perplexity", eval_tuned=4.0, eval_better="lower"),
            _row("c", final_loss=0.001)]
    assert best_run(rows)["job_id"] == "b"
    assert best_run([]) is None
