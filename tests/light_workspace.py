"""A workspace for tests that never load a model: the demo datasets, and tiny-demo registered by a link file.

Validation and the spool only need the model to be registered; building the real tiny-demo (the `ws` fixture
in conftest) costs a training run, which tests of pickup, ids and queue order do not need.
"""
from jobs.atomic import atomic_write_json
from jobs.init import DEMO_DATASETS, _jsonl
from jobs.workspace import Workspace


def light_workspace(tmp_path) -> Workspace:
    w = Workspace(tmp_path / "ws").ensure()
    atomic_write_json(w.models / "tiny-demo.json", {"path": str(tmp_path / "tiny-demo-not-built")})
    for name, make in DEMO_DATASETS.items():
        (w.datasets / f"{name}.jsonl").write_text(_jsonl(make()), encoding="utf-8")
    return w
