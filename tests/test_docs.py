"""The README and docs/ speak for the product: the README stays short, every link resolves, every shell block says
which test runs it (or that it is untested, and why), and the README's own commands run here."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARK = re.compile(r"<!--\s*(tested|untested):\s*(.+?)\s*-->")
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell)\s*$")


def _shell_blocks(path):
    """(line number, marker line or "") of each fenced shell block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        if SHELL_BLOCK.match(line):
            before = next((x for x in reversed(lines[:i]) if x.strip()), "")
            out.append((i + 1, before))
    return out


def test_the_readme_is_short():
    n = len((REPO / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"README.md has {n} lines; the rest belongs in docs/"


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(REPO)} → {target}")
    assert not broken, broken


def test_every_shell_block_is_run_by_a_named_test_or_says_it_is_untested():
    problems = []
    for doc in DOCS:
        for line, before in _shell_blocks(doc):
            where = f"{doc.relative_to(REPO)}:{line}"
            m = MARK.search(before)
            if not m:
                problems.append(f"{where}: no <!-- tested: tests/x.py::test_y --> or <!-- untested: why --> above")
                continue
            if m.group(1) == "untested":
                continue
            for ref in m.group(2).split():
                file, _, name = ref.partition("::")
                src = REPO / file
                if not src.is_file() or (name and not re.search(rf"^def {re.escape(name)}\(", src.read_text(), re.M)):
                    problems.append(f"{where}: {ref} does not exist")
    assert not problems, "\n".join(problems)


def test_the_guard_sees_an_unmarked_block(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("text\n\n```bash\npython -m spooler status\n```\n")
    assert _shell_blocks(doc) == [(3, "text")] and not MARK.search("text")


def _run(*args, home):
    return subprocess.run([sys.executable, "-m", *args, "--home", str(home)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_readme_and_reference_commands(ws):
    """The shell tour in README.md and the `python -m jobs` block of docs/reference.md, as written."""
    home = ws.home
    r = _run("jobs", "init", home=home)
    assert r.returncode == 0, r.stderr
    r = _run("jobs", "validate", "jobs/examples/sft.json", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["method"] == "sft"
    schema = subprocess.run([sys.executable, "-m", "jobs", "schema"], cwd=REPO, capture_output=True, text=True)
    assert json.loads(schema.stdout)["type"] == "object"
    r = _run("spooler", "submit", "jobs/examples/sft.json", home=home)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split()[-1]
    assert (home / "spool" / "incoming").is_dir()
    r = _run("spooler", "status", home=home)
    assert r.returncode == 0 and "spooler: NOT running" in r.stdout, r.stdout + r.stderr
    assert job  # a job id was printed; the spooler (not running here) would pick the spec up
