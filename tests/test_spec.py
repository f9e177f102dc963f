import json

import pytest

from jobs.params import COMMON_PARAMS
from jobs.schema import json_schema
from jobs.spec import validate
from tests.conftest import REPO


def spec(**params):
    return {"name": "t", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "params": params}


def errors(v):
    return {p.field: p.message for p in v.errors}


def test_defaults_filled_and_normalized(ws):
    v = validate(spec(), ws)
    assert v.ok, v.errors
    p = v.spec["params"]
    for param in COMMON_PARAMS:
        assert param.name in p
    assert p["lora_rank"] == 8 and p["load_in_4bit"] is False and p["max_steps"] is None
    assert p["prompt_input_column"] == "instruction" and p["prompt_output_column"] == "output"


@pytest.mark.parametrize("name,bad,good", [
    ("lora_rank", [0, 1025, 2.5, "x", True], [1, 1024]),
    ("max_seq_length", [31, 131073], [32, 131072]),
    ("max_input_length", [7, 131073], [8, 32]),
    ("max_content_length", [7, 131073], [8, 131072]),
    ("max_samples", [0, -2], [-1, 1, 5000]),
    ("num_generations", [0, 257], [1, 256]),
    ("max_grad_norm", [0, -1, "nan"], [0.001, 5]),
    ("epochs", [0, -1], [1, 50]),
    ("max_steps", [0, -5], [None, 1, 100]),
    ("batch_size", [0], [1, 64]),
    ("grad_accum_steps", [0], [1, 16]),
    ("learning_rate", [0, 1, -1e-5, 1.5], [1e-9, 0.999]),
    ("warmup_steps", [-1], [None, 0, 10]),
    ("warmup_ratio", [-0.1, 0.51], [0, 0.5]),
])
def test_param_limits(ws, name, bad, good):
    extra = ({"max_seq_length": 131072} if name == "max_input_length"
             else {"max_input_length": 8} if name == "max_seq_length" else {})
    for value in bad:
        v = validate(spec(**{name: value}, **extra), ws)
        assert f"params.{name}" in errors(v), (name, value)
        msg = errors(v)[f"params.{name}"]
        assert "must" in msg
        assert json.dumps(value) in str(next(p for p in v.errors if p.field == f"params.{name}"))
    for value in good:
        v = validate(spec(**{name: value}, **extra), ws)
        assert v.ok, (name, value, v.errors)
        assert v.spec["params"][name] == value


def test_bool_strings_never_python_truthiness(ws):
    assert validate(spec(load_in_4bit="False"), ws).spec["params"]["load_in_4bit"] is False
    assert validate(spec(load_in_4bit="true"), ws).spec["params"]["load_in_4bit"] is True
    assert validate(spec(load_in_4bit=True), ws).spec["params"]["load_in_4bit"] is True
    for bad in ("yes", 1, 0, "0"):
        assert "params.load_in_4bit" in errors(validate(spec(load_in_4bit=bad), ws))


def test_aliases_case_insensitive(ws):
    raw = {"name": "a", "method": "sft", "MODEL_PATH": "tiny-demo", "DATASET_PATH": "demo-instruct",
           "params": {"LORA_RANK": 16, "PromptInputColumn": "instruction", "Learning_Rate": "5e-5", "MAX_STEPS": 3}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    assert v.spec["base_model"] == "tiny-demo" and v.spec["dataset"] == "demo-instruct"
    assert v.spec["params"]["lora_rank"] == 16 and v.spec["params"]["learning_rate"] == 5e-5
    assert v.spec["params"]["max_steps"] == 3
    dup = validate(spec(lora_rank=4, LORA_RANK=8), ws)
    assert any("given twice" in p.message for p in dup.errors)


def test_cross_field_rules(ws):
    v = validate(spec(max_input_length=600, max_seq_length=512), ws)
    assert "≤ max_seq_length (512)" in errors(v)["params.max_input_length"]
    v = validate(spec(max_steps=10, epochs=3), ws)
    assert v.ok and any(w.field == "params.epochs" and "max_steps" in w.message for w in v.warnings)
    v = validate(spec(warmup_steps=5, warmup_ratio=0.1), ws)
    assert v.ok and any(w.field == "params.warmup_ratio" for w in v.warnings)


def test_typical_range_is_a_warning_not_an_error(ws):
    v = validate(spec(lora_rank=512, learning_rate=0.5), ws)
    assert v.ok
    assert {w.field for w in v.warnings} >= {"params.lora_rank", "params.learning_rate"}


def test_unknown_keys_with_suggestions_and_every_problem_at_once(ws):
    raw = {"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "priorty": 1,
           "params": {"lerning_rate": 1e-4, "lora_rnk": 4, "batch_size": 0, "totally_new": 1}}
    e = errors(validate(raw, ws))
    assert "did you mean 'priority'" in e["priorty"]
    assert "did you mean 'learning_rate'" in e["params.lerning_rate"]
    assert "did you mean 'lora_rank'" in e["params.lora_rnk"]
    assert "unknown parameter" in e["params.totally_new"]
    assert "params.batch_size" in e
    assert "inside \"params\"" in errors(validate({**raw, "params": {}, "lora_rank": 4}, ws))["lora_rank"]


def test_output_dir_is_managed(ws):
    for raw in (spec(output_dir="/tmp/x"), {**spec(), "OUTPUT_DIR": "/tmp/x"}):
        v = validate(raw, ws)
        assert not v.ok and any("managed by Tunedeck" in p.message for p in v.errors)


def test_unregistered_references_and_paths(ws):
    raw = {"method": "nope", "base_model": "/etc/passwd", "dataset": "../../secret", "params": {}}
    e = errors(validate(raw, ws))
    assert "never a path" in e["base_model"] and "tiny-demo" in e["base_model"]
    assert "never a path" in e["dataset"] and "demo-instruct" in e["dataset"]
    assert "sft, grpo, dpo" in e["method"]
    e = errors(validate({**spec(), "base_model": "qwen-7b"}, ws))
    assert "registered: tiny-demo" in e["base_model"] and "workspace/models" in e["base_model"]


def test_missing_column_lists_real_columns(ws):
    e = errors(validate(spec(prompt_input_column="questoin"), ws))
    assert "instruction, input, output" in e["params.prompt_input_column"]


def test_bad_shapes(ws):
    assert not validate("not json", ws).ok
    assert not validate(b"", ws).ok
    assert not validate([1, 2], ws).ok
    assert "params" in errors(validate({**spec(), "params": [1]}, ws))
    assert "priority" in errors(validate({**spec(), "priority": "high"}, ws))
    assert "name" in errors(validate({**spec(), "name": ""}, ws))
    assert not validate(b"x" * (1 << 20 + 1), ws).ok


def test_method_params_are_validated(ws):
    g = {"method": "grpo", "base_model": "tiny-demo", "dataset": "demo-math"}
    v = validate({**g, "params": {"batch_size": 4, "num_generations": 4, "beta": 0.1}}, ws)
    assert v.ok, v.errors
    assert v.spec["params"]["reward_functions"] == ["correctness", "format"]
    e = errors(validate({**g, "params": {"batch_size": 3, "num_generations": 4, "reward_functions": ["corect"],
                                         "temperature": 0}}, ws))
    assert "multiple of num_generations" in e["params.num_generations"]
    assert "correctness" in e["params.reward_functions"]
    assert "params.temperature" in e
    d = {"method": "dpo", "base_model": "tiny-demo", "dataset": "demo-prefs"}
    assert validate({**d, "params": {"beta": 0.2}}, ws).ok
    assert "params.beta" in errors(validate({**d, "params": {"beta": 0}}, ws))
    assert "params.chosen_column" in errors(validate({**d, "params": {"chosen_column": "better"}}, ws))
    assert "unknown parameter for method 'sft'" in errors(validate(spec(beta=0.1), ws))["params.beta"]


def test_custom_method_declaration_drives_validation(ws):
    (ws.methods / "mine.py").write_text((REPO / "jobs/templates/custom_method.py").read_text())
    (ws.methods / "broken.py").write_text("raise RuntimeError('boom')\n")
    v = validate({**spec(neftune_noise_alpha=5), "method": "mine"}, ws)
    assert v.ok, v.errors
    assert "params.neftune_noise_alpha" in errors(validate({**spec(neftune_noise_alpha=-1), "method": "mine"}, ws))
    e = errors(validate({**spec(), "method": "broken"}, ws))
    assert "boom" in e["method"]
    g = {"method": "grpo", "base_model": "tiny-demo", "dataset": "demo-math",
         "params": {"reward_functions": "brevity, correctness", "reward_weights": [0.5, 1]}}
    v = validate(g, ws)
    assert v.ok, v.errors
    assert v.spec["params"]["reward_functions"] == ["brevity", "correctness"]
    assert v.spec["params"]["batch_size"] == 4


def test_schema_lists_every_param():
    s = json_schema()
    props = s["properties"]["params"]["properties"]
    for p in COMMON_PARAMS:
        assert p.name in props
    assert props["lora_rank"]["minimum"] == 1 and props["lora_rank"]["maximum"] == 1024
    assert "output_dir" not in props
    assert "beta" in s["x-method-params"]["dpo"] and "reward_functions" in s["x-method-params"]["grpo"]


def test_examples_are_valid(ws):
    for f in sorted((REPO / "jobs/examples").glob("*.json")):
        v = validate(json.loads(f.read_text()), ws)
        assert v.ok, (f.name, v.errors)


def test_duplicate_keys_in_the_file_are_errors(ws):
    text = '{"method": "sft", "method": "dpo", "base_model": "tiny-demo", "dataset": "demo-instruct",' \
           ' "params": {"lora_rank": 4, "lora_rank": 8}}'
    e = errors(validate(text, ws))
    assert "more than once" in e["method"] and "more than once" in e["lora_rank"]


def test_odd_values(ws):
    for params, field in (({"lora_rank": 8.5}, "params.lora_rank"), ({"lora_rank": 1e400}, "params.lora_rank"),
                          ({"max_steps": "null"}, "params.max_steps"), ({"reward_functions": [1]}, None)):
        v = validate(spec(**params), ws)
        assert not v.ok
        if field:
            assert field in errors(v)
    assert validate(spec(lora_rank="16"), ws).spec["params"]["lora_rank"] == 16
    assert "priority" in errors(validate({**spec(), "priority": True}, ws))
    assert "name" in errors(validate({**spec(), "name": "x" * 121}, ws))
    assert "name" in errors(validate({**spec(), "name": "two\nlines"}, ws))
