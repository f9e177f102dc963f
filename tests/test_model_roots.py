"""The Base models page registers folders by path only under the model roots, and its errors never tell whether a
folder outside them exists."""
import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from jobs.models import registry
from jobs.models.model_roots import model_roots, under_model_roots
from tests.conftest import REPO
from tests.light_workspace import light_workspace

APP = str(REPO / "dashboard" / "app.py")


@pytest.fixture
def lws(tmp_path, monkeypatch):
    w = light_workspace(tmp_path)
    monkeypatch.setenv("TUNEDECK_HOME", str(w.home))
    return w


def register_in_browser(name: str, path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("views/models.py")
    at.run()
    at.text_input(key="m_reg_name").input(name)
    at.text_input(key="m_reg_path").input(path)
    at.run()
    at.button(key="m_reg_btn").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


OUTSIDE = ["/root", "/nonexistent", "/etc", "/etc/../root", "/", "/proc/self/cwd", "models/x", "../models",
           "~/models", "relative/path", "/tmp/../nonexistent-either"]


def test_paths_outside_the_roots_are_refused_alike(lws, tmp_path):
    os.symlink("/root", lws.models / "escape")  # a symlink inside models/ that leads out
    answers = set()
    for path in OUTSIDE + [str(lws.models / "escape"), str(lws.models / ".." / ".."), str(lws.models)]:
        assert under_model_roots(lws, path) is None, path
        with pytest.raises(registry.RegistryError) as e:
            registry.register_model_from_browser(lws, "m", path)
        answers.add(str(e.value))
    assert len(answers) == 1  # one answer for all: nothing about whether a folder exists
    assert "models/<name>.json" in answers.pop()
    assert sorted(p.name for p in lws.models.iterdir()) == ["escape", "tiny-demo.json"]


def test_browser_errors_for_existing_and_missing_folders_are_identical(lws):
    texts = []
    for path in ("/root", "/nonexistent", "/usr/lib", "/usr/lib/nope"):
        at = register_in_browser("probe", path)
        texts.append([e.value for e in at.error])
    assert texts[0] and all(t == texts[0] for t in texts), texts
    assert not (lws.models / "probe.json").exists()
    assert "/root" not in texts[0][0] and "nonexistent" not in texts[0][0]


def test_configured_roots_are_honoured(lws, tmp_path):
    extra = tmp_path / "shared-models"
    (extra / "not-a-model").mkdir(parents=True)
    (lws.home / "config.json").write_text(json.dumps({"model_roots": [str(extra), "relative/ignored", 5]}))
    assert model_roots(lws) == [lws.models.resolve(), extra.resolve()]
    assert under_model_roots(lws, str(extra / "not-a-model")) == (extra / "not-a-model").resolve()
    with pytest.raises(registry.RegistryError) as e:  # inside a root, the model checks speak
        registry.register_model_from_browser(lws, "m", str(extra / "not-a-model"))
    assert "config.json" in str(e.value) and "not-a-model" in str(e.value)
    (lws.home / "config.json").write_text("{broken")
    assert model_roots(lws) == [lws.models.resolve()]


def test_a_real_model_under_a_configured_root_registers(ws, demo_home, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    (ws.home / "config.json").write_text(json.dumps({"model_roots": [str(demo_home / "models")]}))
    at = register_in_browser("demo-copy", str(demo_home / "models" / "tiny-demo"))
    assert not at.error, [e.value for e in at.error]
    assert json.loads((ws.models / "demo-copy.json").read_text())["path"] == str(demo_home / "models" / "tiny-demo")
