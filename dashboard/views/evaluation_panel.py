"""Held-out evaluation on the details page: base vs tuned metrics table and a per-row browser; the run's phase;
benchmarks (lm-eval) with the forgetting alarm, and a button that queues suites on the finished run."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import identity, prompt_context
from dashboard.i18n import t, t_text
from jobs import benchmarks_requests as br
from jobs.benchmarks import alarm_threshold, list_suites, read_results, regressions
from jobs.evaluation import delta, improved, read_evaluation, read_rows
from jobs.methods import EVAL_PREFERENCE, EVAL_UNPAIRED, REFERENCE_BASE, SCORER, method_of
from jobs.state import read_spec
from jobs.workspace import Workspace

GREEN, RED = "color: #137333; font-weight: bold", "color: #c5221f; font-weight: bold"


def phase_text(progress: dict) -> str:
    """'Tuned evaluation 12/40' for progress.json's phase; '' outside the named phases."""
    phase = progress.get("phase") if isinstance(progress, dict) else None
    if not isinstance(phase, str) or not phase:
        return ""
    label = t(f"phase.{phase}") if t(f"phase.{phase}") != f"phase.{phase}" else phase
    done, total = progress.get("done"), progress.get("total")
    if isinstance(done, int) and isinstance(total, int) and total > 0:
        return f"{label} {done}/{total}"
    return label


def metrics_frame(evaluation: dict) -> tuple[pd.DataFrame, list]:
    """Rows: metrics; columns: base, tuned, delta. Also, per row, whether tuned is better (True/False/None)."""
    rows, verdicts = [], []
    for name, entry in evaluation["metrics"].items():
        rows.append({"metric": name, "base": entry.get("base"), "tuned": entry.get("tuned"), "delta": delta(entry),
                     "better": t("evalm.higher") if entry.get("better") != "lower" else t("evalm.lower")})
        verdicts.append(improved(entry))
    return pd.DataFrame(rows), verdicts


def metrics_table(run_dir) -> None:
    evaluation = read_evaluation(run_dir)
    st.subheader(t("evalm.title"))
    if evaluation is None or not evaluation["metrics"]:
        st.caption(t("evalm.none"))
        benchmarks_section(run_dir, evaluation)
        return
    df, verdicts = metrics_frame(evaluation)
    colors = {True: GREEN, False: RED, None: ""}

    def color(col):
        return [colors[v] if col.name == "delta" else "" for v in verdicts]

    styled = df.style.apply(color, axis=0).format(
        lambda v: "—" if v is None or v != v else f"{v:.4g}", subset=["base", "tuned"]
    ).format(lambda v: "—" if v is None or v != v else f"{v:+.4g}", subset=["delta"])
    st.dataframe(styled, hide_index=True, width="stretch", key="evalm_table", column_config={
        "metric": t("evalm.metric"), "base": t("evalm.base"), "tuned": t("evalm.tuned"),
        "delta": t("evalm.delta"), "better": t("evalm.better")})
    dec = evaluation.get("decoding") or {}
    st.caption(t("evalm.caption", rows=evaluation.get("rows", "?"),
                 decoding=", ".join(f"{k}={v}" for k, v in dec.items())))
    note = base_note(evaluation)
    if note:
        st.caption(t(note))
    benchmarks_section(run_dir, evaluation)


def base_note(evaluation: dict) -> str | None:
    """What the base column means for this method, from its traits: an untrained score head, or the reference."""
    method = method_of(str(evaluation.get("method") or ""))
    if method is None:
        return None
    if method.output == SCORER:
        return "evalm.base_is_untrained_head"
    if method.reference_model == REFERENCE_BASE and method.evaluation in (EVAL_PREFERENCE, EVAL_UNPAIRED):
        return "evalm.base_is_reference"
    return None


def row_frame(rows: list[dict], metric: str | None, worse_only: bool, lower_better: bool) -> pd.DataFrame:
    out = []
    for r in rows:
        sc = r.get("scores") if isinstance(r.get("scores"), dict) else {}
        b = (sc.get("base") or {}).get(metric) if metric else None
        tu = (sc.get("tuned") or {}).get(metric) if metric else None
        if worse_only:
            if not isinstance(b, (int, float)) or not isinstance(tu, (int, float)):
                continue
            if not ((tu > b) if lower_better else (tu < b)):
                continue
        out.append({"#": r.get("index"), "prompt": str(r.get("prompt", "")),
                    "context": prompt_context.text(r, t("ctx.tools")),
                    "reference": str(r.get("reference", "")),
                    "base_answer": str(r.get("base", "")), "tuned_answer": str(r.get("tuned", "")),
                    "base_score": b, "tuned_score": tu})
    df = pd.DataFrame(out, columns=["#", "prompt", "context", "reference", "base_answer", "tuned_answer",
                                    "base_score", "tuned_score"])
    return df if (df["context"] != "").any() else df.drop(columns="context")  # a column only when rows have one


def row_browser(run_dir) -> None:
    evaluation = read_evaluation(run_dir)
    rows = read_rows(run_dir) if evaluation else []
    if not rows:
        return
    st.subheader(t("evalm.rows"))
    names = [n for n in evaluation["metrics"] if any(n in ((r.get("scores") or {}).get("tuned") or {}) for r in rows[:1])]
    c1, c2 = st.columns([2, 3])
    metric = c1.selectbox(t("evalm.row_metric"), names, key="evalm_row_metric") if names else None
    worse = c2.toggle(t("evalm.worse_only"), key="evalm_worse")
    lower = (evaluation["metrics"].get(metric) or {}).get("better") == "lower" if metric else False
    df = row_frame(rows, metric, worse, lower)
    st.caption(t("evalm.rows_shown", n=len(df), total=len(rows)))
    st.dataframe(df, hide_index=True, width="stretch", key="evalm_rows", column_config={
        "prompt": st.column_config.TextColumn(t("eval.prompt"), width="medium"),
        "context": st.column_config.TextColumn(t("ctx.column"), width="medium"),
        "reference": st.column_config.TextColumn(t("eval.reference"), width="medium"),
        "base_answer": st.column_config.TextColumn(t("eval.base"), width="medium"),
        "tuned_answer": st.column_config.TextColumn(t("eval.tuned"), width="medium"),
        "base_score": st.column_config.NumberColumn(t("evalm.base_score"), format="%.4g"),
        "tuned_score": st.column_config.NumberColumn(t("evalm.tuned_score"), format="%.4g")})


def eval_cell(row: dict) -> str:
    """The Trainings list's headline metric: 'rouge_l 0.312 ▲ +0.05' (▲ better, ▼ worse than the base), after the
    forgetting alarm's badge when a benchmark dropped: '⚠️ arith -0.25 · rouge_l …'."""
    badge = alarm_badge(row.get("regressed"))
    text = _headline_cell(row)
    return " · ".join(p for p in (badge, text) if p)


def alarm_badge(regressed) -> str:
    if not isinstance(regressed, list) or not regressed or not isinstance(regressed[0], dict):
        return ""
    top = regressed[0]
    more = f" (+{len(regressed) - 1})" if len(regressed) > 1 else ""
    # a table cell shows text as it is: filled in here, not through t()'s Markdown escaping
    return t("bench.badge").format(suite=str(top.get("suite")), drop=f"{-float(top.get('drop') or 0):+.3g}") + more


def _headline_cell(row: dict) -> str:
    name, b, tu = row.get("eval_metric"), row.get("eval_base"), row.get("eval_tuned")
    if not name or not isinstance(tu, (int, float)):
        return ""
    entry = {"base": b, "tuned": tu, "better": row.get("eval_better")}
    d, up = delta(entry), improved(entry)
    mark = "" if up is None else ("▲ " if up else "▼ ")
    return f"{name} {tu:.3g}" + (f" {mark}{d:+.3g}" if d is not None else "")


def bench_frame(evaluation: dict | None, threshold: float | None) -> tuple[pd.DataFrame, list]:
    """Rows: suite × metric with base, tuned, delta and the stderr of the difference; per row True (better),
    False (dropped past the alarm's limit) or None."""
    hits = {(h["suite"], h["metric"]) for h in regressions(evaluation, threshold)}
    rows, verdicts = [], []
    for suite, metrics in read_results(evaluation).items():
        for name, entry in metrics.items():
            rows.append({"suite": suite, "metric": name, "base": entry.get("base"), "tuned": entry.get("tuned"),
                         "delta": delta(entry), "stderr": entry.get("stderr"),
                         "better": t("evalm.higher") if entry.get("better") != "lower" else t("evalm.lower")})
            verdicts.append(False if (suite, name) in hits else (True if improved(entry) else None))
    return pd.DataFrame(rows, columns=["suite", "metric", "base", "tuned", "delta", "stderr", "better"]), verdicts


def benchmarks_section(run_dir, evaluation: dict | None) -> None:
    """lm-eval scores of base and tuned per suite, the forgetting alarm (which suite dropped, by how much) and the
    suites that could not be scored."""
    results = read_results(evaluation)
    errors = (evaluation or {}).get("benchmark_errors") or {}
    if not results and not errors:
        return
    threshold = alarm_threshold(Workspace.of_run(run_dir))
    st.subheader(t("bench.title"))
    hits = regressions(evaluation, threshold)
    if hits:
        st.warning(t("bench.alarm", n=len(hits)) + "\n\n" + "\n".join(
            "- " + t("bench.drop", suite=h["suite"], metric=h["metric"], base=f"{h['base']:.4g}",
                     tuned=f"{h['tuned']:.4g}", drop=f"{h['drop']:.4g}", limit=f"{h['limit']:.4g}") for h in hits))
    for suite, reason in errors.items() if isinstance(errors, dict) else []:
        st.error(t("bench.failed", suite=str(suite), reason=str(reason)))
    if results:
        df, verdicts = bench_frame(evaluation, threshold)
        colors = {True: GREEN, False: RED, None: ""}

        def color(col):
            return [colors[v] if col.name == "delta" else "" for v in verdicts]

        num = lambda v: "—" if v is None or v != v else f"{v:.4g}"  # noqa: E731
        styled = df.style.apply(color, axis=0).format(num, subset=["base", "tuned", "stderr"]).format(
            lambda v: "—" if v is None or v != v else f"{v:+.4g}", subset=["delta"])
        st.dataframe(styled, hide_index=True, width="stretch", key="bench_table", column_config={
            "suite": t("bench.suite"), "metric": t("bench.metric"), "base": t("evalm.base"),
            "tuned": t("evalm.tuned"), "delta": t("evalm.delta"), "stderr": t("bench.stderr"),
            "better": t("evalm.better")})
        meta = (evaluation or {}).get("benchmarks_meta") or {}
        rule = t("bench.rule_threshold", threshold=threshold) if threshold is not None else t("bench.rule_stderr")
        st.caption(t("bench.caption", version=meta.get("lm_eval_version", "?"), limit=meta.get("limit", "?"),
                     rule=rule))


def benchmark_request(run_dir) -> None:
    """Queue benchmark suites on this finished run (as `python -m spooler benchmark`): a suite picker from the
    workspace benchmarks, the rows per task, and the request's status while the spooler scores it."""
    ws = Workspace.of_run(run_dir)
    why = br.benchmark_problem(ws, run_dir.name)
    cur = br.benchmark_state(run_dir)
    if why and not cur:
        return  # not finished, or nothing trained: no request to show or make
    st.subheader(t("bench.run.title"))
    request_status(run_dir)
    if br.benchmark_open(run_dir):
        return
    names = [s.name for s in list_suites(ws)]
    if not names:
        st.caption(t("bench.run.no_suites"))
        return
    spec = read_spec(run_dir) or {}
    c1, c2 = st.columns([3, 1])
    suites = c1.multiselect(t("bench.run.suites"), names, key="bench_run_suites",
                            placeholder=t_text("bench.run.pick"), help=t("bench.run.help"))
    limit = c2.number_input(t("bench.run.limit"), min_value=1, max_value=10**6, step=1, key="bench_run_limit",
                            value=int((spec.get("params") or {}).get("benchmark_limit") or 100))
    denied = identity.why_not(ws, "benchmark", spec.get("owner"))
    if denied:
        st.caption("🔒 " + t("auth.refused", reason=denied))
    if why:
        st.caption(why)
    if st.button(t("bench.run.button"), key="bench_run", type="primary", disabled=bool(denied or why or not suites),
                 help=denied or why) and identity.allowed(ws, "benchmark", run_dir.name):
        try:
            br.submit_benchmark(ws, run_dir.name, suites, int(limit))
            st.rerun()
        except br.RequestError as e:
            st.error(str(e))


@st.fragment(run_every=2.0)
def request_status(run_dir) -> None:
    cur = br.benchmark_state(run_dir)
    status, suites = cur.get("status"), ", ".join(cur.get("suites") or [])
    seen = f"_bench_open_{run_dir.name}"
    if st.session_state.get(seen) and status not in (br.BenchStatus.WAITING.value, br.BenchStatus.SCORING.value):
        st.session_state[seen] = False
        st.rerun()  # the whole page: the new scores, the alarm and the picker again
    st.session_state[seen] = br.benchmark_open(run_dir)
    if status in (br.BenchStatus.WAITING.value, br.BenchStatus.SCORING.value):
        st.info(t(f"bench.run.{status}", suites=suites), icon="⏳")
        if status == br.BenchStatus.WAITING.value:
            _cancel_button(run_dir)
    elif status == br.BenchStatus.CANCELLED.value:
        st.caption(t("bench.run.cancelled", suites=suites))
    elif status == br.BenchStatus.FAILED.value:
        st.error(t("bench.run.failed", suites=suites, error=str(cur.get("error") or "?")))
    elif status == br.BenchStatus.DONE.value:
        st.success(t("bench.run.done", suites=", ".join(cur.get("scored") or []) or suites,
                     at=str(cur.get("finished_at") or "")[:19].replace("T", " ")))


def _cancel_button(run_dir) -> None:
    """Take back a request that no slot has taken yet (as `python -m spooler benchmark JOB_ID --cancel`)."""
    ws = Workspace.of_run(run_dir)
    denied = identity.why_not(ws, "benchmark", (read_spec(run_dir) or {}).get("owner"))
    if denied:  # said beside the disabled button, as under Queue benchmarks: a tooltip alone is easy to miss
        st.caption("🔒 " + t("auth.refused", reason=denied))
    if st.button(t("bench.run.cancel"), key=f"bench_cancel_{run_dir.name}", disabled=bool(denied), help=denied) \
            and identity.allowed(ws, "benchmark", run_dir.name, note=br.CANCEL_NOTE):
        try:
            br.cancel_benchmark(ws, run_dir.name)
        except br.RequestError as e:  # a slot took it meanwhile
            st.warning(str(e))
            return
        st.rerun()
