"""AppTest for sweeps in the dashboard: group rows, group actions, compare by group, the sweep form, Settings."""
import html
import json

from jobs.atomic import atomic_write_json
from jobs.queue.steer import hold
from jobs.settings.notify_config import append_log, read_config
from jobs.state import read_state
from tests.helpers import make_group, open_page, text_of


def test_a_group_is_one_row_with_progress_and_best_run(home):
    x = make_group(home)
    at = open_page("trainings")
    df = at.dataframe[0].value
    assert len(df) == 1
    assert df["name"][0] == "📁 lr-rank · 4 runs" and df["steps"][0] == "4/4"
    assert df["result"][0] == "best: lr-rank-lr1e-3-r8 (loss 1.08)"
    assert df["details"][0] == f"/compare?group={x.group['id']}"
    at.toggle(key="f_flatten").set_value(True).run()
    assert sorted(at.dataframe[0].value["name"]) == sorted(s["name"] for s in x.specs)


def test_group_actions_cancel_retry_delete_and_held_rows(home):
    from dashboard.common import job_rows
    from dashboard.group_view import grouped, members_of
    from jobs.queue.delete import delete_job
    from jobs.state import cancel_job, retry_job
    x = make_group(home, finished=False)
    ids = [s["group"]["job_id"] for s in x.specs]
    hold(home, ids[1])
    rows = job_rows(home)
    folded = grouped(rows, set(), False)
    assert len(folded) == 1 and folded[0]["status"] == "queued"
    members = members_of(folded)  # what Cancel / Retry / Delete act on for a selected group row
    assert sorted(m["job_id"] for m in members) == sorted(ids)
    for m in members:
        cancel_job(home, m["job_id"])
    assert {read_state(home.run_dir(j))["status"] for j in ids} == {"cancelled"}
    for m in members:
        retry_job(home, m["job_id"])
    assert {read_state(home.run_dir(j))["status"] for j in ids} == {"queued"}
    expanded = grouped(job_rows(home), {x.group["id"]}, False)
    assert [r["name"].strip() for r in expanded[1:]] == [f"↳ {s['name']}" for s in x.specs]
    assert not any(read_state(home.run_dir(j)).get("held") for j in ids)  # a retried job starts unheld
    hold(home, ids[1])
    at = open_page("trainings")
    at.toggle(key="f_flatten").set_value(True).run()
    df = at.dataframe[0].value
    assert list(df["status"]).count("⏸️ held") == 1 and list(df["status"]).count("⏳ queued") == 3
    for m in members:
        delete_job(home, m["job_id"])
    assert not any(home.run_dir(j).exists() for j in ids)


def test_compare_by_group_table_chart_and_best_run(home):
    x = make_group(home)
    at = open_page("compare", group=x.group["id"])
    text = text_of(at)
    assert "Sweep lr-rank: 4 runs" in text
    assert f"Best run: [lr-rank-lr1e-3-r8](/training?id={x.specs[2]['group']['job_id']})" in text
    table = at.dataframe[0].value
    assert list(table["run"]) == ["lr-rank-lr1e-3-r8", "lr-rank-lr1e-3-r16", "lr-rank-lr2e-4-r8", "lr-rank-lr2e-4-r16"]
    assert list(table.columns[:5]) == ["run", "status", "learning_rate", "lora_rank", "final_loss"]
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    layers = [layer for sp in specs for layer in sp.get("layer", [sp])]
    lr = [la["encoding"] for la in layers if la.get("encoding", {}).get("x", {}).get("field") == "learning_rate"]
    assert lr and lr[0]["color"]["title"] == "lora_rank"  # a line per value of the other swept param
    assert lr[0]["y"]["field"] == "final_loss" and "scale" not in lr[0]["x"]  # 2e-4..1e-3: too close for log
    at.selectbox(key="g_metric").set_value("best_loss").run()
    assert not at.exception
    assert "no group" in text_of(open_page("compare", group="20990101-000000-000000-abcdef")).lower()


def test_compare_a_group_of_64_runs_stays_small(home):
    x = make_group(home, "big", {"learning_rate": [1e-4 * (i + 1) for i in range(8)], "lora_rank": list(range(1, 9))})
    assert len(x.specs) == 64
    at = open_page("compare", group=x.group["id"])
    assert len(at.dataframe[0].value) == 64
    assert at.toggle(key="c_top5").value is True
    assert "best 3 and the worst 3 runs by final_loss" in text_of(at)
    shown = [html.unescape(str(m.value)) for m in [*at.markdown, *at.text, *at.code]]  # model text arrives escaped
    answers = [v for v in shown if "answer of big-" in v]
    assert len(answers) == 6


def test_the_form_runs_a_sweep(home):
    at = open_page("new")
    at.multiselect(key="sw_params").set_value(["learning_rate", "lora_rank"]).run()
    at.text_input(key="sw_vals_learning_rate").set_value("2e-4, 1e-4, 5e-5").run()
    at.text_input(key="sw_vals_lora_rank").set_value("8, 16").run()
    run = at.button(key="btn_run")
    assert run.label == "Run 6 trainings" and not run.disabled
    at.text_input(key="sw_vals_lora_rank").set_value("8, 0").run()
    assert at.button(key="btn_run").disabled and "sweep.lora_rank[1]" in text_of(at)
    at.radio(key="sw_how_lora_rank").set_value("range").run()
    at.number_input(key="sw_min_lora_rank").set_value(4).run()
    at.number_input(key="sw_max_lora_rank").set_value(16).run()
    assert at.button(key="btn_run").label == "Run 9 trainings"
    at.button(key="btn_run").click().run()
    files = list(home.incoming.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["sweep"] == {
        "learning_rate": [2e-4, 1e-4, 5e-5], "lora_rank": [4, 10, 16]}


def test_copy_of_a_group_prefills_the_sweep(home):
    x = make_group(home)
    at = open_page("new", copy=x.specs[0]["group"]["job_id"], sweep="1")
    assert at.multiselect(key="sw_params").value == ["learning_rate", "lora_rank"]
    assert at.text_input(key="sw_vals_learning_rate").value == "2e-4, 1e-3"
    assert at.text_input(key="m_name").value == "lr-rank-copy"
    assert at.button(key="btn_run").label == "Run 4 trainings"


def test_settings_saves_entries_and_shows_attempts(home):
    at = open_page("settings")
    assert "No deliveries yet." in text_of(at)
    from jobs.settings.notify_config import write_notify
    assert write_notify(home, [{"url": "http://127.0.0.1:9/hook", "on": ["failed"], "format": "slack"}]) == []
    append_log(home, {"at": "2026-11-28T06:00:00.000+00:00", "subject": "job-1", "target": "http://127.0.0.1:9/…",
                      "format": "slack", "try": 1, "ok": False, "detail": "HTTP 500"})
    at = open_page("settings")
    assert at.dataframe[0].value["url"][0] == "http://127.0.0.1:9/hook"
    tries = at.dataframe[1].value
    assert tries["detail"][0] == "HTTP 500" and tries["ok"][0] == "❌"
    at.text_input(key="dashboard_url").set_value("http://gpu-box:8501").run()
    at.button(key="btn_save_notify").click().run()
    assert read_config(home)["dashboard_url"] == "http://gpu-box:8501"
    assert read_config(home)["notify"][0]["on"] == ["failed"]
    atomic_write_json(home.home / "config.json", {"notify": [{"url": "nope"}]})
    assert "notify[0].url" in text_of(open_page("settings"))


def test_group_row_buttons_act_on_every_run_and_steer_the_queue(home):
    from jobs.state import list_run_dirs
    x = make_group(home, finished=False)
    ids = [s["group"]["job_id"] for s in x.specs]
    at = open_page("trainings")
    at.session_state["selected_jobs"] = [f"group:{x.group['id']}"]  # ticks are kept by id: the group's row
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="btn_hold").click().run().run()  # the list refreshes on the next run
    assert all(read_state(home.run_dir(j)).get("held") for j in ids)
    at.button(key="btn_release").click().run().run()  # the list refreshes on the next run
    assert not any(read_state(home.run_dir(j)).get("held") for j in ids)
    at.button(key="btn_top").click().run().run()  # the list refreshes on the next run
    assert [read_state(home.run_dir(j)).get("priority") for j in ids] == [4, 3, 2, 1]  # the first ends up first
    at.button(key="btn_cancel").click().run()
    assert "big" in text_of(at) or x.specs[0]["name"] in text_of(at)  # the confirmation names the jobs
    at.button(key="btn_cancel_yes").click().run().run()  # the list refreshes on the next run
    assert {read_state(home.run_dir(j))["status"] for j in ids} == {"cancelled"}
    at.button(key="btn_retry").click().run().run()  # the list refreshes on the next run
    assert {read_state(home.run_dir(j))["status"] for j in ids} == {"queued"}
    at.toggle(key="del_toggle").set_value(True).run()
    at.button(key="btn_delete_yes").click().run()
    assert list(list_run_dirs(home)) == []


def test_best_run_of_a_group_is_chosen_by_the_headline_metric(home):
    """With a held-out evaluation, the group's best run is the best ROUGE-L, not the lowest training loss."""
    from jobs.evaluation import EVALUATION_FILE
    x = make_group(home)
    for s in x.specs:  # the worst loss (lr 2e-4, rank 16) gets the best ROUGE-L
        lr, r = s["params"]["learning_rate"], s["params"]["lora_rank"]
        rouge = 0.9 if (lr, r) == (2e-4, 16) else 0.3
        atomic_write_json(home.run_dir(s["group"]["job_id"]) / EVALUATION_FILE, {
            "rows": 4, "decoding": {"greedy": True},
            "metrics": {"rouge_l": {"base": 0.1, "tuned": rouge, "better": "higher"}}})
    df = open_page("trainings").dataframe[0].value
    assert df["result"][0].startswith("best: lr-rank-lr2e-4-r16 (rouge_l 0.9")
