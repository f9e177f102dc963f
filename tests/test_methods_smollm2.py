"""KTO and ORPO on real preference data (dpo_en_demo) and continued pre-training on Alpaca's outputs as raw text,
each a few steps on the real SmolLM2-135M-Instruct: the tuned headline moves the right way against the base."""
import pytest

from jobs.evaluation import read_evaluation
from jobs.models import smollm2
from jobs.models.registry import register_dataset
from jobs.spec import validate
from jobs.state import create_run, new_job_id
from jobs.workspace import Workspace
from tests.conftest import shared_dataset
from tests.trainer_helpers import run, state


def smollm2_run(home, method, file, **params):
    ws = Workspace(home)
    name = file.removesuffix(".jsonl").replace("_", "-")
    if name not in {p.stem for p in ws.datasets.glob("*.jsonl")}:
        register_dataset(ws, name, shared_dataset(file).read_bytes())
    raw = {"method": method, "base_model": smollm2.NAME, "dataset": name,
           "params": {"max_steps": 8, "batch_size": 2, "max_samples": 60, "eval_ratio": 0.2, "eval_max_rows": 10,
                      "num_sample_prompts": 1, "max_seq_length": 384, "max_input_length": 128,
                      "max_content_length": 128, "learning_rate": 5e-4, **params}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    job = new_job_id()
    assert create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    assert run(run_dir) == 0, state(run_dir)
    return read_evaluation(run_dir)["metrics"]


def test_cpt_on_alpaca_outputs_lowers_held_out_perplexity(smollm2_home):
    m = smollm2_run(smollm2_home, "cpt", "alpaca_en_demo.jsonl", dataset_format="text", text_column="output",
                    max_samples=120, max_steps=10)
    assert m["perplexity"]["tuned"] < m["perplexity"]["base"], m


@pytest.fixture(autouse=True)
def _real_data():
    shared_dataset("dpo_en_demo.jsonl")
