"""The spooler's own layers, as tests: the runners (and the process helpers they use) never import the daemon or
the schedulers above them, and the training and try/export schedulers meet only through the shared slot pool and
queue cursor, never through each other's insides."""
from __future__ import annotations

import ast

from tests.conftest import REPO as ROOT
from tests.helpers import imports_of as _imports
from tests.helpers import python_files as _files


def test_runners_import_nothing_from_the_spooler_above_them():
    up = [f"{f.relative_to(ROOT)} imports {mod}" for f in _files("spooler/runners") for mod in _imports(f)
          if mod.startswith("spooler.") and not mod.startswith("spooler.runners")]
    assert not up, "spooler/runners/ must not import the spooler above it:\n" + "\n".join(up)


def test_try_scheduler_does_not_reach_into_the_daemon():
    src = (ROOT / "spooler" / "try_jobs.py").read_text(encoding="utf-8")
    assert "spooler.daemon" not in _imports(ROOT / "spooler" / "try_jobs.py")
    private = [n.attr for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Attribute) and n.attr in
               ("_queue_cache", "free_slots", "slot_gpus", "d")]
    assert not private, f"try_jobs.py reaches into the daemon: {private}"
    daemon = (ROOT / "spooler" / "daemon.py").read_text(encoding="utf-8")
    assert "busy_slots" not in daemon and "usemodel.helpers" not in daemon
