"""A method is one declaration (jobs/methods.py) plus one recipe (trainer/methods/<name>.py): every declaration has
a recipe, every recipe a declaration, nothing outside the declarations tests a method's name, and a method added as
one file in workspace/methods/ with its traits trains and evaluates end to end."""
import ast
import json
import re

import pytest

from jobs.evaluation import headline, read_evaluation
from jobs.methods import BUILTINS, EVAL_METRICS, EVALUATIONS, HIGHER, LOWER, list_methods
from jobs.spec import validate
from tests.conftest import REPO
from tests.trainer_helpers import make_run, run, state

NOT_RECIPES = {"__init__", "custom"}


def test_every_declaration_has_a_recipe_and_every_recipe_a_declaration():
    recipes = {p.stem for p in (REPO / "trainer" / "methods").glob("*.py")} - NOT_RECIPES
    assert recipes == set(BUILTINS), f"recipes without a declaration: {recipes - set(BUILTINS)}; " \
                                     f"declarations without a recipe: {set(BUILTINS) - recipes}"
    from trainer.run import recipe_module
    for name in BUILTINS:
        mod = recipe_module(name)
        assert callable(mod.build) and isinstance(mod.DATA, str), name


def test_every_declaration_states_its_traits():
    from jobs.data.formats import FORMATS
    for name, m in BUILTINS.items():
        assert m.formats and set(m.formats) <= set(FORMATS), name
        assert m.evaluation in EVALUATIONS and m.output in ("generator", "scorer"), name
        declared = m.all_metrics
        assert declared and all(v in (HIGHER, LOWER) for v in declared.values()), name
        # the headline is a metric the evaluation writes (GRPO's reward_<fn> are the job's reward functions)
        assert any(h in declared or h.startswith("reward_") for h in m.headline), name
        assert m.demo_dataset, name
    assert set(EVAL_METRICS) == set(EVALUATIONS)


NAME_TEST = re.compile(r"""(==|!=|\bin\s*[(\[{])\s*["'](%s)["']|["'](%s)["']\s*(==|!=)""" % (("|".join(BUILTINS),) * 2))


def test_no_code_outside_the_declarations_tests_a_method_name():
    offenders = []
    for pkg in ("jobs", "trainer", "dashboard", "spooler"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == "jobs/methods.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if NAME_TEST.search(line):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "read the method's traits instead:\n" + "\n".join(offenders)


def test_no_recipe_table_names_methods_by_hand():
    tree = ast.parse((REPO / "trainer" / "run.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            assert not keys & set(BUILTINS), f"a hand-written table of methods: {keys}"


def test_no_code_outside_the_declarations_lists_methods_by_name():
    """A table of method names (a tuple, list or set of them, or a dict keyed by them) is a trait declared in the wrong
    place: it belongs on the declarations. Only the dashboard's translation catalogs key text by method name."""
    tables = []
    for pkg in ("jobs", "trainer", "dashboard", "spooler"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == "jobs/methods.py" or path.name.startswith("i18n"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                items = node.keys if isinstance(node, ast.Dict) else \
                    node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else []
                if {k.value for k in items if isinstance(k, ast.Constant)} & set(BUILTINS):
                    tables.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert not tables, "declare it as a trait in jobs/methods.py instead:\n" + "\n".join(tables)


def test_packing_and_full_finetuning_follow_the_traits(ws):
    assert [n for n, m in BUILTINS.items() if m.packs] == ["sft", "cpt"]
    assert [n for n, m in BUILTINS.items() if m.lora_only] == ["rm"]
    for name, m in BUILTINS.items():
        ds = m.demo_dataset
        extra = {"dataset_format": "text", "text_column": "output"} if name == "cpt" else {}
        for params, field in (({"packing": True}, "params.packing"), ({"finetuning_type": "full"}, "params.finetuning_type")):
            v = validate({"method": name, "base_model": "tiny-demo", "dataset": ds, "params": {**params, **extra}}, ws)
            allowed = m.packs if field == "params.packing" else not m.lora_only
            assert (field not in [p.field for p in v.errors]) == allowed, (name, params, v.errors)


# A whole new method, one file: IPO (DPO's squared loss) on preference pairs, with its traits declared.
IPO = '''
from jobs.params import Param

DESCRIPTION = "IPO: identity preference optimisation on prompt / chosen / rejected."
DEFAULT_COLUMNS = {"prompt_input_column": "prompt", "prompt_output_column": "chosen"}
PARAMS = [Param("tau", "float", 0.1, "IPO regularisation (TRL beta).", min=0, max=10, min_exclusive=True)]
FORMATS = ("preference",)
COLUMNS = ("prompt_input_column",)
EVALUATION = "preference"
HEADLINE = ("logprob_accuracy",)
SAMPLES = "none"
REFERENCE_MODEL = "base"


def chosen_chars(prompts, completions, references):
    return [float(len(r)) for r in references]


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config, params):
    from dataclasses import fields

    from transformers import TrainingArguments
    from trl import DPOConfig, DPOTrainer
    common = {f.name: getattr(config, f.name) for f in fields(TrainingArguments) if f.init}
    args = DPOConfig(**common, loss_type=["ipo"], beta=params["tau"], max_length=params["max_seq_length"])
    return DPOTrainer(model=model, args=args, processing_class=tokenizer, train_dataset=train_dataset,
                      eval_dataset=eval_dataset)
'''


def test_a_method_added_as_one_file_runs_end_to_end_with_its_evaluation(ws):
    (ws.methods / "ipo.py").write_text(IPO)
    m = list_methods(ws.methods)["ipo"]
    assert m.ok and m.formats == ("preference",) and m.headline == ("logprob_accuracy",) and m.samples == "none"
    v = validate({"method": "ipo", "base_model": "tiny-demo", "dataset": "demo-instruct"}, ws)
    assert any(e.field == "params.dataset_format" and "ipo trains on preference data" in e.message
               for e in v.errors), v.errors
    run_dir = make_run(ws, "ipo", dataset="demo-prefs", max_samples=40, eval_max_rows=6, tau=0.2)
    assert run(run_dir) == 0, state(run_dir)
    ev = read_evaluation(run_dir)
    assert ev["headline"] == ["logprob_accuracy"] and headline("ipo", ev)[0] == "logprob_accuracy"
    assert {"preference_accuracy", "reward_margin", "logprob_accuracy"} <= set(ev["metrics"])
    assert ev["metrics"]["reward_margin"]["tuned"] != 0
    assert (run_dir / "samples.jsonl").read_text() == ""
    from jobs.queue.overview import job_summary
    assert job_summary(run_dir)["eval_metric"] == "logprob_accuracy"


@pytest.mark.parametrize("line,problem", [('FORMATS = ("csv",)', "FORMATS 'csv' is not one of"),
                                          ('EVALUATION = "vibes"', "EVALUATION 'vibes' is not one of"),
                                          ('EVAL_METRICS_BETTER = {"x": "up"}', "use 'higher' or 'lower'")])
def test_a_custom_method_with_a_bad_trait_fails_to_load_with_the_reason(ws, line, problem):
    (ws.methods / "odd.py").write_text("def build_trainer(*a):\n    pass\n" + line + "\n")
    m = list_methods(ws.methods)["odd"]
    assert not m.ok and problem in m.error
    v = validate({"method": "odd", "base_model": "tiny-demo", "dataset": "demo-instruct"}, ws)
    assert any(e.field == "method" and problem in e.message for e in v.errors)


def test_the_template_declares_every_trait():
    from jobs.methods import CUSTOM_TRAITS
    text = (REPO / "jobs" / "templates" / "custom_method.py").read_text(encoding="utf-8")
    for attr in CUSTOM_TRAITS:
        assert re.search(rf"^{attr} = ", text, re.M), attr


def test_examples_are_valid_specs(ws):
    for path in sorted((REPO / "jobs" / "examples").glob("*.json")):
        raw = json.loads(path.read_text())
        v = validate(raw, ws)
        assert v.ok, (path.name, v.errors)
    assert {p.stem for p in (REPO / "jobs" / "examples").glob("*.json")} >= set(BUILTINS)
