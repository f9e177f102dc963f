"""Registering a large JSONL upload: peak memory of the streamed check vs reading the whole file first.

python bench/upload_stream.py [--mb 200]
Writes a ShareGPT file of about --mb MB, then registers it twice, each in a fresh process: streamed from the open
file (what the Datasets page does) and as one bytes object (the whole upload in memory). Prints peak RSS of both.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import resource, sys, time
sys.path.insert(0, sys.argv[1])
from jobs.models import registry
from jobs.workspace import Workspace
ws = Workspace.at(sys.argv[2]).ensure()
t0 = time.perf_counter()
if sys.argv[4] == "stream":
    with open(sys.argv[3], "rb") as fh:
        rep = registry.register_dataset(ws, "big", fh)
else:
    rep = registry.register_dataset(ws, "big", open(sys.argv[3], "rb").read())
print(rep.rows, rep.format, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def write_file(path: Path, mb: int) -> int:
    row = {"conversations": [{"from": "human", "value": "Summarise this paragraph. " + "lorem ipsum " * 40},
                             {"from": "gpt", "value": "It repeats a placeholder phrase. " * 10},
                             {"from": "human", "value": "Shorter?"}, {"from": "gpt", "value": "Placeholder text."}],
           "system": "You are concise."}
    line = (json.dumps(row) + "\n").encode()
    n = mb * (1 << 20) // len(line)
    with open(path, "wb") as fh:
        for _ in range(n):
            fh.write(line)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunedeck-bench-") as tmp:
        src = Path(tmp) / "big.jsonl"
        rows = write_file(src, args.mb)
        size = src.stat().st_size
        base = subprocess.run([sys.executable, "-c", "import resource, sys; sys.path.insert(0, sys.argv[1]); "
                               "import jobs.models.registry, jobs.data.dataset_scan; "
                               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)", str(REPO)],
                              capture_output=True, text=True, check=True)
        idle = int(base.stdout.split()[-1])
        print(f"file: {size / 1e6:.0f} MB, {rows} rows (ShareGPT, 4 turns); interpreter + imports: {idle / 1e6:.0f} MB")
        for mode in ("stream", "bytes"):
            home = Path(tmp) / f"ws-{mode}"
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(home), str(src), mode],
                                 capture_output=True, text=True, env={**os.environ})
            if out.returncode:
                sys.exit(f"{mode} failed: {out.stderr.strip().splitlines()[-1]}")
            n, fmt, secs, rss = out.stdout.split()
            print(f"{mode:6s}: {n} rows as {fmt} in {float(secs):.1f} s, peak RSS {int(rss) / 1e6:.0f} MB "
                  f"({max(0, int(rss) - idle) / 1e6:.0f} MB above the bare interpreter; wall {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
