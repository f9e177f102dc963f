"""The shape of the code, as tests: dashboard/, spooler/ and trainer/ meet only through jobs/ (and files on disk),
jobs/ imports none of them, no import circle runs through jobs/ (function-level imports count too), and no test file
imports another test file (shared helpers live in tests/helpers.py, fixtures in tests/conftest.py)."""
from __future__ import annotations

from tests.conftest import REPO as ROOT
from tests.helpers import imports_of, module_name, python_files

PROCESSES = ("dashboard", "spooler", "trainer")


def test_processes_meet_only_through_jobs():
    crossings = []
    for top in (*PROCESSES, "jobs"):
        for f in python_files(top):
            for mod in imports_of(f):
                target = mod.split(".")[0]
                if target in PROCESSES and target != top:
                    crossings.append(f"{f.relative_to(ROOT)} imports {mod}")
    assert not crossings, "dashboard/, spooler/ and trainer/ import only jobs/:\n" + "\n".join(crossings)


def test_no_import_circles_in_jobs():
    modules = {module_name(f): f for f in python_files("jobs")}
    graph = {m: sorted(i for i in imports_of(f) if i in modules and i != m and not m.startswith(i + "."))
             for m, f in modules.items()}
    graph = {m: [i for i in deps if not (modules[i].name == "__init__.py")] for m, deps in graph.items()}
    circles, state = [], {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for n in graph[m]:
            if state.get(n) == "open":
                circles.append(" → ".join(path[path.index(n):] + [n]))
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert not circles, "import circles in jobs/:\n" + "\n".join(circles)


def test_the_guard_sees_a_crossing(tmp_path):
    """The parser behind the guard finds relative and absolute imports, so the guard can fail."""
    f = ROOT / "spooler" / "_probe_for_guard.py"
    try:
        f.write_text("from trainer import run\nfrom .daemon import Daemon\n")
        assert {"trainer", "trainer.run", "spooler.daemon", "spooler.daemon.Daemon"} <= imports_of(f)
    finally:
        f.unlink()


def _is_test_file(mod: str) -> bool:
    parts = mod.split(".")
    return parts[0].startswith("test_") or (parts[0] == "tests" and len(parts) > 1 and parts[1].startswith("test_"))


def test_no_test_file_imports_another_test_file():
    """A helper or fixture two test files need lives in tests/helpers.py or tests/conftest.py, not in one of them."""
    assert _is_test_file("tests.test_dashboard.open_page") and _is_test_file("test_notify")
    assert not _is_test_file("tests.helpers") and not _is_test_file("tests.spool_helpers.wait_for")
    found = [f"{f.relative_to(ROOT)} imports {mod}" for f in python_files("tests") for mod in imports_of(f)
             if _is_test_file(mod)]
    assert not found, "test files import helpers from tests/helpers.py, not from each other:\n" + "\n".join(found)
