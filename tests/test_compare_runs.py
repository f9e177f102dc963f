"""How each run trains (finetuning_type, sharding: #19) on Compare and the Trainings list, and Compare's per-run
action menu, which exports through the details page's own request form (merged model and GGUF files: #22)."""
import json
import shutil

from jobs.models.registry import list_models
from jobs.use import requests as rq
from tests.helpers import fake_run, open_page, real_adapter, text_of


def full_model(ws, run_dir):
    """A full run's result: a whole model folder in runs/<id>/model/ (here tiny-demo's own files)."""
    shutil.copytree(list_models(ws)["tiny-demo"], run_dir / "model")


def two_runs(home):
    full = fake_run(home, "every-weight", finetuning_type="full")
    lora = fake_run(home, "adapter-only")
    full_model(home, home.run_dir(full))
    real_adapter(home, home.run_dir(lora))
    return full, lora


def test_compare_names_each_runs_finetuning_type_and_sharding(home):
    full, lora = two_runs(home)
    at = open_page("compare", jobs=f"{full},{lora}")
    captions = [c.value for c in at.caption]
    assert "Fine-tuning: full · sharding: none" in captions and "Fine-tuning: lora · sharding: none" in captions
    params = at.dataframe[0].value  # differences only: the finetuning type differs, the sharding does not
    assert list(params.loc["finetuning_type"]) == ["full", "lora"] and "sharding" not in params.index
    at.toggle(key="c_diff").set_value(False).run()
    params = at.dataframe[0].value
    assert list(params.loc["sharding"]) == ["none", "none"]
    assert list(params.index[1:5]) == ["method", "finetuning_type", "sharding", "base_model"]  # beside what it trains
    at.sidebar.selectbox[0].set_value("zh").run()
    assert "微调方式：full · 切分：none" in [c.value for c in at.caption]


def test_a_spec_without_the_params_reads_as_their_declared_defaults():
    from dashboard import compare_data as cd
    assert cd.training_kind({"params": {}}) == {"finetuning_type": "lora", "sharding": "none"}
    assert cd.kind_text({}) == "lora"
    assert cd.kind_text({"params": {"finetuning_type": "full", "sharding": "fsdp"}}) == "full · fsdp"


def test_trainings_list_shows_the_finetuning_type_after_the_watched_columns(home):
    full, lora = two_runs(home)
    sharded = fake_run(home, "sharded", finetuning_type="full", sharding="fsdp", num_gpus=2)
    at = open_page("trainings")
    df = at.dataframe[0].value
    cols = list(df.columns)
    assert cols.index("kind") > cols.index("queue")  # after the watched columns and the owner
    kinds = dict(zip(df["job_id"], df["kind"], strict=True))
    assert kinds == {full: "full", lora: "lora", sharded: "full · fsdp"}
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["kind"]["label"] == "Fine-tuning"
    at.sidebar.selectbox[0].set_value("zh").run()
    assert json.loads(at.dataframe[0].proto.columns)["kind"]["label"] == "微调方式"


def test_compare_run_menu_exports_through_the_details_form(home):
    """Each run's Actions menu on Compare asks for an export (with GGUF files) as the details page does: the
    same request (export/status.json waiting, one pointer in the inbox) and the same progress line."""
    full, lora = two_runs(home)
    failed = fake_run(home, "broken", status="failed")
    at = open_page("compare", jobs=f"{full},{lora},{failed}")
    assert [p.proto.popover.label for p in at.get("popover")] == ["Actions"] * 3
    assert "This run ended without an adapter" in text_of(at)  # the failed run's menu says why, offers no button
    assert not [b for b in at.button if b.key == f"c_x_{failed}_export"]
    at.multiselect(key=f"c_x_{lora}_gguf").set_value(["q8_0", "q4_k_m"])
    at.button(key=f"c_x_{lora}_export").click().run()
    assert not at.exception, [e.value for e in at.exception]
    state = rq.export_state(home.run_dir(lora))
    assert state["status"] == "waiting" and state["gguf_requested"] == ["q8_0", "q4_k_m"]
    (pending,) = rq.pending(home)
    assert pending["kind"] == "export" and pending["job_id"] == lora
    assert "Export queued: waiting for a free slot…" in text_of(at)
    assert rq.export_state(home.run_dir(full)) == {}  # the other run's menu did nothing
    at.button(key=f"c_x_{full}_export").click().run()  # a full run exports its model folder
    assert rq.export_state(home.run_dir(full))["status"] == "waiting" and len(rq.pending(home)) == 2


def test_compare_run_menu_shows_a_finished_export_and_its_gguf_files(home):
    full, lora = two_runs(home)
    gguf = rq.gguf_file(home.run_dir(lora), "adapter-only", "q8_0")
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF")
    rq.write_export_state(home.run_dir(lora), status="done", merged="/x/export/merged", gguf_requested=["q8_0"],
                          gguf=[{"quant": "q8_0", "file": str(gguf), "name": gguf.name, "match": 0.97,
                                 "size_bytes": 4}])
    at = open_page("compare", jobs=f"{full},{lora}")
    txt = text_of(at)
    assert "Exported: /x/export/merged" in txt and f"GGUF q8_0: {gguf.name}, greedy match 97 %" in txt
    assert [b.label for b in at.button if b.key == f"c_x_{lora}_export"] == ["Export again"]
