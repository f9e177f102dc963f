"""The shape of the code, as tests: dashboard/, spooler/ and trainer/ meet only through jobs/ (and files on disk),
jobs/ imports none of them, and no import circle runs through jobs/ (function-level imports count too)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("dashboard", "spooler", "trainer")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, absolute, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from jobs import registry` imports a module
    return found


def _files(top: str) -> list[Path]:
    return sorted((ROOT / top).rglob("*.py"))


def test_processes_meet_only_through_jobs():
    crossings = []
    for top in (*PROCESSES, "jobs"):
        for f in _files(top):
            for mod in _imports(f):
                target = mod.split(".")[0]
                if target in PROCESSES and target != top:
                    crossings.append(f"{f.relative_to(ROOT)} imports {mod}")
    assert not crossings, "dashboard/, spooler/ and trainer/ import only jobs/:\n" + "\n".join(crossings)


def test_no_import_circles_in_jobs():
    modules = {_module_name(f): f for f in _files("jobs")}
    graph = {m: sorted(i for i in _imports(f) if i in modules and i != m and not m.startswith(i + "."))
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
        assert {"trainer", "trainer.run", "spooler.daemon", "spooler.daemon.Daemon"} <= _imports(f)
    finally:
        f.unlink()
