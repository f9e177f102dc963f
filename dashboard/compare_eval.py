"""Compare's evaluation rows (tuned value per job, the base once per shared base result, best marked per metric)
and the outputs ordered by how much the jobs disagree. Built without Streamlit, so tests call it directly."""
from __future__ import annotations

import difflib
import itertools

import pandas as pd

from jobs.benchmarks import read_results
from jobs.evaluation import better, read_evaluation

from .compare_data import winners

PREFIX = "eval · "
BENCH_PREFIX = "bench · "


def entries(evaluation: dict | None) -> dict[str, dict]:
    """Compare's rows of one evaluation.json: 'eval · <metric>' for the held-out metrics, then
    'bench · <suite> · <metric>' for each benchmark score."""
    if not evaluation:
        return {}
    out = {PREFIX + n: e for n, e in evaluation["metrics"].items()}
    for suite, metrics in read_results(evaluation).items():
        for m, e in metrics.items():
            out[f"{BENCH_PREFIX}{suite} · {m}"] = e
    return out


def eval_table(jobs: list[dict], base_label) -> tuple[pd.DataFrame, dict]:
    """Rows 'eval · <metric>' and 'bench · <suite> · <metric>'; a column per job (tuned) plus a base column per base
    model and base result.

    base_label(model) names the base column. Best is marked among the jobs (never a base column), per metric,
    with the metric's declared direction."""
    evals = {j["label"]: entries(read_evaluation(j["dir"])) for j in jobs}
    names = list(dict.fromkeys(n for e in evals.values() for n in e))
    if not names:
        return pd.DataFrame(), {}
    data: dict[str, dict] = {}
    for j in jobs:
        e = evals[j["label"]]
        data[j["label"]] = {n: (e.get(n) or {}).get("tuned") if e else None for n in names}
    bases: dict[tuple, str] = {}
    for j in jobs:
        e = evals[j["label"]]
        if not e:
            continue
        values = tuple((n, (e.get(n) or {}).get("base")) for n in names)
        key = (j["spec"].get("base_model"), values)
        if key not in bases:
            same_model = sum(1 for k in bases if k[0] == key[0])
            label = base_label(key[0]) + (f" ({same_model + 1})" if same_model else "")
            bases[key] = label
            data[label] = dict(values)
    table = pd.DataFrame(data).reindex(names)
    best = {}
    labels = [j["label"] for j in jobs]
    for n in names:
        direction = next((e[n].get("better") for e in evals.values() if n in e), None)
        vals = pd.to_numeric(table.loc[n, labels], errors="coerce").dropna()
        won = winners([(float(v), label) for label, v in vals.items()],
                      better(n.removeprefix(PREFIX), direction) == "lower")
        if won:
            best[n] = won
    return table, best


def disagreement(answers: list[str]) -> float:
    """1 minus the mean pairwise word-level similarity of the answers (0: all the same)."""
    pairs = list(itertools.combinations(answers, 2))
    if not pairs:
        return 0.0
    sim = [difflib.SequenceMatcher(a=a.split(), b=b.split(), autojunk=False).ratio() for a, b in pairs]
    return 1.0 - sum(sim) / len(sim)


def sort_by_disagreement(samples: list[dict]) -> list[dict]:
    return sorted(samples, key=lambda s: -disagreement([str(v) for v in s["answers"].values()]))
