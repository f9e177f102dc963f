"""New training (/new): the form, rendered from the param declarations, validated live by jobs.validate."""
from __future__ import annotations

import json

import streamlit as st

from dashboard import identity, memory_panel, sweep_form, truncation
from dashboard.column_pick import best_column
from dashboard.common import spooler_banner, workspace
from dashboard.form_defaults import preselect
from dashboard.i18n import EN as CATALOG_EN
from dashboard.i18n import current_lang, method_description, param_help, t, t_text
from dashboard.i18n_params import limits_text
from dashboard.i18n_validation import tr_message
from dashboard.nav import page
from dashboard.safe import md
from jobs.contract import Unreadable
from jobs.data.format_check import COLUMN_PARAMS as FORMAT_COLUMN_PARAMS
from jobs.data.format_check import effective_format, uses_columns
from jobs.job_ids import BadJobId
from jobs.methods import list_methods, list_rewards
from jobs.models import registry
from jobs.queue.spool import submit_any
from jobs.queue.sweep import expand
from jobs.reward_models import finished as finished_reward_models
from jobs.settings.trackers import installed as installed_trackers
from jobs.spec import editable_spec, params_for, validate
from jobs.state import read_spec
from jobs.team import audit, auth

HOUSEKEEPING = ("eval_ratio", "eval_split_max_rows", "eval_steps", "num_sample_prompts", "seed", "logging_steps",
                "checkpoint_steps", "save_total_limit", "lora_alpha", "lora_dropout")
COLUMN_PARAMS = ("prompt_input_column", "prompt_output_column")  # the pair that must differ
# The fields a row of each answer-judging format carries besides its prompt (jobs/data/formats.py). A method that
# trains on several formats (KTO: unpaired rows, or pairs turned into them) shows only the pickers of the dataset's
# format: a picker whose default field belongs to another of its formats is hidden.
FORMAT_FIELDS = {"preference": ("chosen", "rejected"), "unpaired_preference": ("completion", "label")}
REPO_EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "jobs" / "examples"


def _prefill(ws) -> None:
    """Copy training (?copy=<id>) or a demo (?demo=<method>) fills the widgets once."""
    src = st.query_params.get("copy") or (f"demo:{st.query_params['demo']}" if st.query_params.get("demo") else None)
    if not src or st.session_state.get("_prefilled") == src:
        return
    st.session_state["_prefilled"] = src
    if src.startswith("demo:"):
        path = REPO_EXAMPLES / f"{src[5:]}.json"
        spec = json.loads(path.read_text()) if path.exists() else None
        parent = None
    else:
        try:  # the id comes from the URL: only a real job folder inside runs/ is read
            stored = read_spec(ws.existing_run(src))
        except BadJobId:
            st.error(t("job.bad_id"))
            return
        except KeyError:
            stored = None
        except Unreadable as e:
            st.error(t("run.unreadable", reason=str(e)))
            return
        spec, parent = (editable_spec(stored), src) if stored else (None, None)
        if spec is None:
            st.error(t("new.copy_missing", id=src))
            return
        spec["name"] = f"{spec.get('name', 'job')}-copy"
        if st.query_params.get("sweep") and sweep_form.prefill(stored):  # Copy on a group copies the sweep
            spec["name"] = f"{sweep_form.group_of(stored)['name']}-copy"
    if not spec:
        return
    v = validate(spec, ws, check_refs=False)
    spec = v.spec or spec
    available = {"m_method": [k for k, m in list_methods(ws.methods).items() if m.ok],
                 "m_model": list(registry.list_models(ws)), "m_dataset": list(registry.list_datasets(ws))}
    picked = {"m_method": spec.get("method"), "m_model": spec.get("base_model"), "m_dataset": spec.get("dataset")}
    for key, value in picked.items():
        if value in available[key]:
            st.session_state[key] = value
        else:  # gone since the original ran: say so, and let the user pick another
            st.warning(t("new.copy_unavailable", value=value))
    st.session_state.update({"m_name": spec.get("name", ""), "m_priority": int(spec.get("priority") or 0),
                             "m_parent": parent, "_ctx": (spec.get("method"), spec.get("dataset"))})
    for k, val in (spec.get("params") or {}).items():
        st.session_state[f"p_{k}"] = ",".join(map(str, val)) if isinstance(val, list) and k == "reward_weights" else val


def render() -> None:
    ws = workspace()
    st.title(t("new.title"))
    spooler_banner(ws)
    _prefill(ws)
    methods = list_methods(ws.methods)
    models = registry.list_models(ws)
    datasets = registry.list_datasets(ws)
    if not models or not datasets:
        st.info(t("new.need_registry"))
        return
    if st.session_state.get("m_parent"):
        st.info(t("new.copy_of", id=st.session_state["m_parent"]))

    c1, c2, c3 = st.columns(3)
    ok_methods = [k for k, m in methods.items() if m.ok]
    preselect(ws, ok_methods, list(models), list(datasets))
    method_name = c1.selectbox(t("new.method"), ok_methods, key="m_method")
    c1.caption(md(method_description(methods[method_name])))
    drawn_lang = current_lang()  # bound now: the choices keep the language they were drawn in
    model_name = c2.selectbox(t("new.model"), list(models), key="m_model",
                              format_func=lambda k, lang=drawn_lang: _model_label(k, models, lang))
    ds_name = c3.selectbox(t("new.dataset"), list(datasets), key="m_dataset",
                           format_func=lambda k, lang=drawn_lang: _dataset_label(k, datasets, lang))
    c4, c5 = st.columns([3, 1])
    name = c4.text_input(t("new.name"), key="m_name", placeholder=f"{method_name}-{ds_name}")
    priority = c5.number_input(t("new.priority"), step=1, key="m_priority", value=st.session_state.get("m_priority", 0),
                               help=t("new.priority_help"))
    method = methods[method_name]
    columns = registry.dataset_info(datasets[ds_name])["columns"] if ds_name in datasets else []
    rewards = list(list_rewards(ws.methods)) + finished_reward_models(ws, model_name)  # rm:<job id> too

    decl = params_for(method)
    # Only the column pickers the dataset's format needs (conversations carry their own roles) and the method reads
    # (its columns trait).
    fmt = effective_format(st.session_state.get("p_dataset_format") or "auto", datasets[ds_name])
    decl = [p for p in decl if p.name not in FORMAT_COLUMN_PARAMS or (uses_columns(fmt) and p.name in method.columns)]
    decl = [p for p in decl if not _other_format_column(p, method, fmt)]
    ctx = (method_name, ds_name)
    if st.session_state.get("_ctx") not in (None, ctx):
        # Another method or dataset: its own defaults apply, and columns must come from the new dataset.
        for k, val in method.default_columns.items():
            st.session_state[f"p_{k}"] = val
        for p in decl:
            if (p.column or p.optional_column) and st.session_state.get(f"p_{p.name}") not in columns:
                st.session_state.pop(f"p_{p.name}", None)
    st.session_state["_ctx"] = ctx
    values: dict = {}
    converted = _conversion_note(method, fmt, registry.dataset_info(datasets[ds_name])["rows"])
    if converted:
        st.info(converted, icon="🔁")
    v_placeholder = st.empty()
    # Two passes: widgets first (so values exist), then messages beside them from one validation.
    sections = [(t("new.section.main"), [p for p in decl if p.name not in HOUSEKEEPING and p not in method.params]),
                (t("new.section.method", method=method_name), [p for p in method.params if p in decl]),
                (t("new.section.advanced"), [p for p in decl if p.name in HOUSEKEEPING])]
    slots = {}
    for title, params in sections:
        if not params:
            continue
        box = st.expander(title, expanded=title != t("new.section.advanced"))
        grid = box.columns(3)
        for i, p in enumerate(params):
            cell = grid[i % 3].container()
            values[p.name] = _widget(cell, p, method, columns, rewards)
            slots[p.name] = cell
    slots["name"] = c4
    trunc = truncation.caption(datasets, ds_name, models.get(model_name), values, t) if model_name in models else None
    if trunc and "max_seq_length" in slots:
        slots["max_seq_length"].caption("✂️ " + trunc)
    raw = _raw(method_name, model_name, ds_name, name, priority, values)
    sweep = sweep_form.section(decl)
    if sweep:
        raw["sweep"] = sweep
    x = expand(raw, ws)  # a plain spec gives one run, a sweep its grid; both validated as the spooler will
    v = x.as_validation()
    by_field: dict = {}
    for prob in v.errors:
        by_field.setdefault(prob.field.split(".")[-1], []).append(("error", tr_message(prob.message)))
    for prob in v.warnings:
        by_field.setdefault(prob.field.split(".")[-1], []).append(("warning", tr_message(prob.message)))
    for field, msgs in by_field.items():
        target = slots.get(field)
        for kind, msg in msgs:
            (target or v_placeholder).caption(f"{'❌' if kind == 'error' else '⚠️'} {md(msg)}")
    if v.errors:
        with v_placeholder.container():
            st.error(t("new.errors", n=len(v.errors)) + "\n\n"
                     + "\n".join(f"- {md(p.field)}: {md(tr_message(p.message), one_line=True)}" for p in v.errors))
    memory_panel.show(ws, v.spec["params"] if v.ok and v.spec else None, models.get(model_name))  # #19
    with st.expander(t("new.spec_json")):
        st.code(json.dumps(v.spec if v.ok and not sweep else raw, indent=2, ensure_ascii=False), language="json")
    same_columns = bool(values.get(COLUMN_PARAMS[0])) and values.get(COLUMN_PARAMS[0]) == values.get(COLUMN_PARAMS[1])
    if same_columns:  # the validator only warns (a spec from a script may mean it); the form asks for two columns
        st.error(t("new.same_columns", column=values[COLUMN_PARAMS[0]]))
    label = t("sweep.run", n=len(x.specs)) if sweep and x.ok else t("new.run")
    if st.button(label, type="primary", disabled=not v.ok or same_columns, key="btn_run"):
        ids, v2 = _submit(ws, raw)
        if ids is None:
            return
        if ids:
            st.session_state.pop("_prefilled", None)
            st.session_state.pop("m_parent", None)
            if v2.group:  # the group row appears in the list as soon as the spooler expands it
                st.switch_page(page("trainings"))
            st.switch_page(page("training"), query_params={"id": ids[0]})
        st.error(md("; ".join(map(str, v2.errors))))


def _other_format_column(p, method, fmt: str) -> bool:
    """A column picker for another of the method's formats than the dataset's (KTO's completion / label pickers on
    pair data, its chosen / rejected pickers on unpaired data): the rows never have that field."""
    if not (p.column or p.optional_column) or len(method.formats) < 2 or p not in method.params:
        return False
    others = {f for other in method.formats if other != fmt for f in FORMAT_FIELDS.get(other, ())}
    return p.default in others and p.default not in FORMAT_FIELDS.get(fmt, ())


def _conversion_note(method, fmt: str, rows) -> str | None:
    """What the method makes of the dataset's rows when they are not in its own (first) format: pairs become one
    desirable and one undesirable row each."""
    if len(method.formats) < 2 or fmt == method.formats[0] or not method.accepts(fmt):
        return None
    key = f"new.converted.{fmt}.{method.formats[0]}"
    if key not in CATALOG_EN:
        return None
    n = rows if isinstance(rows, int) else None
    return t(key, method=method.name, rows=n if n is not None else "?", made=2 * n if n is not None else "?")


def _submit(ws, raw: dict):
    """Submit as the signed-in user: the spec names them as its owner (the dashboard's OS user must be a service
    account or an admin for the spooler to accept that), a priority above max_user_priority is refused, and the
    submission is audited (source dashboard). None when refused."""
    cfg, who = identity.config(ws), identity.user()
    why = auth.priority_problem(cfg, who, int(raw.get("priority") or 0))
    if why:
        audit.record(ws, who, "dashboard", "submit", None, allowed=False, detail=why)
        st.error(t("auth.refused", reason=why))
        return None, None
    if cfg.on and who:
        raw = {**raw, "owner": who}
    ids, v2 = submit_any(ws, raw)
    for job_id in ids or []:
        audit.record(ws, who, "dashboard", "submit", job_id)
    return ids, v2


def _raw(method, model, ds, name, priority, values) -> dict:
    raw = {"name": name or f"{method}-{ds}", "method": method, "base_model": model, "dataset": ds,
           "priority": int(priority or 0), "params": dict(values)}
    if st.session_state.get("m_parent"):
        raw["parent_job"] = st.session_state["m_parent"]
    return raw


def _model_label(name, models, lang=None) -> str:
    info = registry.model_info(models[name])
    n = info.get("parameters")
    size = f"{n / 1e6:.1f}M" if n and n < 1e9 else (f"{n / 1e9:.1f}B" if n else "?")
    return t_text("new.model_label", lang, name=name, arch=info["architecture"], size=size)


def _dataset_label(name, datasets, lang=None) -> str:
    info = registry.dataset_info(datasets[name])
    return t_text("new.dataset_label", lang, name=name, rows=info["rows"], columns=", ".join(info["columns"]))


def _widget(cell, p, method, columns, rewards):
    key = f"p_{p.name}"
    label = p.label
    helptext = param_help(p) + (f" {t('new.typical')}: {p.typical_text}." if p.typical_text else "") + f" ({limits_text(p)})"
    default = method.default_columns.get(p.name, p.default)
    if key not in st.session_state:
        st.session_state[key] = ",".join(map(str, default)) if p.type == "float_list" and default else default
    if p.column or p.optional_column:
        opts = ([""] if p.optional_column else []) + list(columns)
        if st.session_state.get(key) not in opts:
            taken = {st.session_state.get(f"p_{q}") for q in COLUMN_PARAMS if q != p.name}
            pick = best_column(p.name, default, list(columns), taken)
            st.session_state[key] = "" if p.optional_column and pick != default else pick
        return cell.selectbox(label, opts, key=key, help=helptext) or None
    if p.type == "bool":
        val = st.session_state.get(key)
        if isinstance(val, str):
            st.session_state[key] = val.lower() == "true"
        return cell.toggle(label, key=key, help=helptext)
    if p.type == "int":
        return cell.number_input(label, step=1, key=key, help=helptext, placeholder="null" if p.nullable else None)
    if p.type == "float":
        return cell.number_input(label, key=key, help=helptext, format="%g", step=_step(p),
                                 placeholder="null" if p.nullable else None)
    if p.name == "benchmarks":  # the workspace benchmarks, or an lm-eval task name typed in (gsm8k, mmlu)
        from jobs.benchmarks import list_suites
        cur = [str(x) for x in st.session_state.get(key) or []]
        options = list(dict.fromkeys([s.name for s in list_suites(workspace())] + cur))
        return cell.multiselect(label, options, key=key, help=helptext, accept_new_options=True)
    if p.type == "str_list":
        options = installed_trackers() if p.name == "report_to" else rewards  # only trackers installed here
        cur = [r for r in (st.session_state.get(key) or []) if r in options]
        st.session_state[key] = cur
        return cell.multiselect(label, options, key=key, help=helptext)
    if p.type == "float_list":
        text = cell.text_input(label, key=key, help=helptext, placeholder="1.0, 0.5")
        return [x.strip() for x in text.split(",") if x.strip()] if text else None
    if p.choices:
        return cell.selectbox(label, list(p.choices), key=key, help=helptext)
    return cell.text_input(label, key=key, help=helptext)


def _step(p) -> float:
    d = p.default if isinstance(p.default, (int, float)) and p.default else 0.01
    return float(f"{abs(d) / 10:.0e}") if abs(d) < 0.1 else 0.01


if __name__ == "__main__":
    render()
