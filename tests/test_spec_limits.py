"""Values the trainer cannot run are refused by the validator: every integer has an upper bound, and job names
carry no characters that change how the text around them looks."""
import json

import pytest

from jobs.methods import BUILTINS
from jobs.params import COMMON_PARAMS, INT_CAP, Param
from jobs.spec import validate
from tests.light_workspace import light_workspace


@pytest.fixture
def ws(tmp_path):
    """No model is loaded here, so the workspace only registers tiny-demo."""
    return light_workspace(tmp_path)


def spec(**top):
    return {"name": "t", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", **top}


def fields(v):
    return {p.field: str(p) for p in v.errors}


def test_every_integer_param_has_an_upper_bound():
    ints = [p for p in COMMON_PARAMS if p.type == "int"] + [p for m in BUILTINS.values() for p in m.params
                                                            if p.type == "int"]
    assert ints and all(p.max is not None and p.max < 2**32 for p in ints), [p.name for p in ints if p.max is None]
    custom = Param("my_steps", "int", 1, min=1)  # a custom method's declaration without a bound gets one
    assert custom.coerce(INT_CAP + 1)[1] and custom.coerce(INT_CAP) == (INT_CAP, None)


@pytest.mark.parametrize("name,value", [
    ("seed", 2**70), ("seed", 2**32), ("seed", "18446744073709551616"), ("batch_size", 10**12),
    ("max_steps", 10**3999), ("max_steps", 1e300), ("epochs", 10**9), ("grad_accum_steps", 2**40),
    ("warmup_steps", 10**20), ("logging_steps", 2**63), ("checkpoint_steps", 2**64), ("lora_alpha", 10**7),
    ("max_samples", 10**15), ("max_grad_norm", 1e308), ("learning_rate", 10**400), ("max_grad_norm", 10**400),
])
def test_huge_values_are_refused_naming_the_field(ws, name, value):
    v = validate(spec(params={name: value}), ws)
    assert f"params.{name}" in fields(v), (name, value)
    assert "\n" not in fields(v)[f"params.{name}"] and "≤" in fields(v)[f"params.{name}"] or "number" in \
        fields(v)[f"params.{name}"]


def test_huge_numbers_in_a_spec_file_are_refused_not_crashing(ws):
    for text in ('{"name": "t", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", '
                 '"params": {"max_steps": 1' + "0" * 3999 + "}}",
                 '{"name": "t", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", '
                 '"params": {"seed": 1' + "0" * 5000 + "}}"):
        v = validate(text.encode(), ws)
        assert not v.ok and all(len(str(p)) < 400 for p in v.errors)


def test_largest_allowed_values_still_pass(ws):
    v = validate(spec(params={"seed": 2**32 - 1, "batch_size": 65536, "max_steps": 10**8}), ws)
    assert v.ok, v.errors


BAD_NAMES = ["a\x7fb", "a\x85b", "a\x9fb", "a\x80", "evil\u202egnp.exe", "a\u202ab", "a\u2066b\u2069", "a\u200fb",
             "a\u2028b", "a\u2029b", "\u200b", "\u200b\u200b", "\ufeff", "\u2060", " \u200b ", "\u00ad", "a\tb",
             "a\nb", "\u3000"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_with_control_bidi_separator_or_only_invisible_characters_are_refused(ws, name):
    v = validate(spec(name=name), ws)
    assert "name" in fields(v), repr(name)
    shown = fields(v)["name"]
    assert all(ch not in shown for ch in "\x7f\x85\u202e\u2028\u200b\u2066\n")  # the message itself is safe


@pytest.mark.parametrize("name", ["Qwen 微调 r8", "naïve-run", "emoji 👍🏽", "family 👨\u200d👩\u200d👧", "عربي", "a-b_c.d"])
def test_ordinary_unicode_names_pass(ws, name):
    v = validate(spec(name=name), ws)
    assert v.ok, v.errors
    assert json.loads(json.dumps(v.spec))["name"] == name
