"""Hypothesis: a normalized spec survives serialize → validate unchanged."""
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.atomic import atomic_write_json
from jobs.spec import validate
from jobs.workspace import Workspace

_tmp = Path(tempfile.mkdtemp())
WS = Workspace(_tmp).ensure()
(WS.models / "m").mkdir()
atomic_write_json(WS.models / "m" / "config.json", {"model_type": "qwen2"})
(WS.datasets / "d.jsonl").write_text('{"instruction": "a", "output": "b", "问题": "c"}\n')

params = st.fixed_dictionaries({}, optional={
    "lora_rank": st.integers(1, 1024),
    "LOAD_IN_4BIT": st.sampled_from([True, False, "true", "false", "TRUE"]),
    "max_seq_length": st.integers(2048, 131072),
    "max_input_length": st.integers(8, 1024),
    "max_content_length": st.integers(8, 131072),
    "max_samples": st.one_of(st.just(-1), st.integers(1, 10**6)),
    "num_generations": st.integers(1, 256),
    "max_grad_norm": st.floats(1e-6, 100, allow_nan=False),
    "Epochs": st.integers(1, 100),
    "max_steps": st.one_of(st.none(), st.integers(1, 10**6)),
    "batch_size": st.integers(1, 512),
    "grad_accum_steps": st.integers(1, 64),
    "learning_rate": st.floats(1e-9, 0.99, allow_nan=False),
    "warmup_steps": st.one_of(st.none(), st.integers(0, 10**5)),
    "warmup_ratio": st.floats(0, 0.5, allow_nan=False),
    "PromptInputColumn": st.sampled_from(["instruction", "问题"]),
})


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(p=params, name=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and s.isprintable()),
       priority=st.integers(-1000, 1000))
def test_roundtrip(p, name, priority):
    raw = {"name": name, "method": "sft", "base_model": "m", "dataset": "d", "priority": priority, "params": p}
    v1 = validate(raw, WS, check_refs=False)
    assert v1.ok, v1.errors
    text = json.dumps(v1.spec, ensure_ascii=False)
    v2 = validate(text.encode("utf-8"), WS, check_refs=False)
    assert v2.ok, v2.errors
    assert v2.spec == v1.spec
    v3 = validate(json.loads(text), WS)
    assert v3.ok and v3.spec == v1.spec
