"""What the whole job costs beyond training: one eval_loss pass for a short run, shown as its own phase; phase counters
that move in the units of their total; the tuned model generating with its adapter merged."""
import json

from tests.trainer_helpers import make_run, metrics, run


def record_progress(monkeypatch) -> list[dict]:
    """Every progress.json the real trainer writes, in order (the writes go on as before)."""
    from trainer import callbacks, phases
    seen: list[dict] = []
    for mod in (callbacks, phases):
        real = mod.atomic_write_text

        def spy(path, text, *a, _real=real, **kw):
            if str(path).endswith("progress.json"):
                seen.append(json.loads(text))
            return _real(path, text, *a, **kw)
        monkeypatch.setattr(mod, "atomic_write_text", spy)
    monkeypatch.setattr(phases, "MIN_INTERVAL", 0)  # keep every update, not one each 0.2 s
    monkeypatch.setattr(callbacks, "PROGRESS_MIN_INTERVAL", 0)
    return seen


def test_short_run_evaluates_once_and_shows_each_pass_as_a_phase(ws, monkeypatch):
    seen = record_progress(monkeypatch)
    run_dir = make_run(ws, max_steps=10, eval_max_rows=12, max_content_length=48, num_sample_prompts=2)
    assert run(run_dir) == 0
    # the documented cadence: never more often than every 10 steps; a run under 40 steps evaluates at its end
    assert [int(r["step"]) for r in metrics(run_dir) if r.get("eval_loss")] == [10]

    evals = [p for p in seen if p["phase"] == "eval_loss"]
    assert evals, "the eval_loss pass is not shown as a phase"
    assert evals[-1]["done"] == evals[-1]["total"] == 40  # demo-instruct: 400 rows, 10 % held out
    assert all(p["step"] == 10 and p["total_steps"] == 10 for p in evals)  # the step fields stay as they were

    for phase in ("base_evaluation", "tuned_evaluation"):
        ps = [p for p in seen if p["phase"] == phase]
        totals = {p["total"] for p in ps}
        assert totals <= {12 + 2, 12}, (phase, totals)  # held-out rows + sample prompts (those not answered already)
        done = [p["done"] for p in ps]
        assert done == sorted(done) and done[-1] == ps[-1]["total"] == 12, (phase, done)
        # the counter moves while the answers are generated, not only after the whole batch
        assert any(0 < d < 6 for d in done), (phase, done)


def test_eval_cadence_of_runs_short_and_long(ws):
    from trainer.job import Job

    def every(steps, **p):
        params = {"max_steps": steps, "epochs": 1, "batch_size": 2, "grad_accum_steps": 1, **p}
        return Job(ws.home, {}, params, None, None, None, "prompt_completion", "cpu").eval_every()
    assert every(10) == 10 and every(39) == 39 and every(1) == 1  # once, at the last step
    assert every(40) == 10 and every(100) == 25 and every(400) == 100
    assert every(10, eval_steps=3) == 3


def test_merged_adapter_generates_the_same_and_is_unmerged_after(ws):
    import torch
    from peft import LoraConfig, get_peft_model

    from jobs.models.registry import list_models
    from trainer import model as model_mod
    from trainer.generate import adapter_layers, generate, merged
    path = list_models(ws)["tiny-demo"]
    tok = model_mod.load_tokenizer(path)
    model = get_peft_model(model_mod.load_base(path, "tiny-demo", False),
                           LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)  # a trained-looking adapter, not the zero one PEFT starts from
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    plain = generate(model, tok, ["a b", "c d e"], 12)
    with merged(model):
        assert adapter_layers(model) and all(m.merged for m in adapter_layers(model))
        fast = generate(model, tok, ["a b", "c d e"], 12)
    assert not any(m.merged for m in adapter_layers(model))
    assert fast == plain
    after = model.state_dict()
    assert all(torch.allclose(after[k], v, atol=1e-5) for k, v in weights.items())


def test_tuned_perplexity_comes_from_the_final_eval_loss_pass_and_matches_the_base_scoring(ws):
    """With (almost) nothing learned, the tuned perplexity taken from TRL's eval_loss pass equals the base one that
    trainer.logprobs scores: both measure the same completion tokens, row by row."""
    from jobs.evaluation import read_evaluation, read_rows
    run_dir = make_run(ws, max_steps=2, learning_rate=1e-12, eval_max_rows=10, num_sample_prompts=1)
    assert run(run_dir) == 0
    assert "comes from the final eval_loss pass" in (run_dir / "train.log").read_text()
    ppl = read_evaluation(run_dir)["metrics"]["perplexity"]
    assert abs(ppl["tuned"] - ppl["base"]) <= 1e-3 * ppl["base"], ppl
    for row in read_rows(run_dir):
        b, t = row["scores"]["base"]["perplexity"], row["scores"]["tuned"]["perplexity"]
        assert abs(b - t) <= 1e-3 * b, (row["index"], b, t)
