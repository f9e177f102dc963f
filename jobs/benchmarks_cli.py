"""python -m jobs benchmark {add,list}: register a local benchmark (lm-eval task YAML over a JSONL file), list them."""
from __future__ import annotations

import sys
from pathlib import Path

from jobs import benchmarks
from jobs.workspace import Workspace

SUBCOMMANDS = ("add", "list")  # `tunedeck benchmark add|list` comes here; `tunedeck benchmark JOB_ID` to the spooler


def add_parser(sub) -> None:
    p = sub.add_parser("benchmark", help="register or list workspace benchmarks (lm-eval tasks over local JSONL)")
    bsub = p.add_subparsers(dest="bench_cmd", required=True)
    a = bsub.add_parser("add", help="register a JSONL file as workspace/benchmarks/NAME/")
    a.add_argument("name")
    a.add_argument("--jsonl", required=True, help="the rows: one JSON object per line")
    a.add_argument("--kind", required=True, choices=benchmarks.KINDS,
                   help="multiple_choice: question, choices, answer index or letter (log-likelihood); exact_match: "
                        "question and answer, greedy generation (a '#### n' answer compares the final number)")
    a.add_argument("--question-column", default="question")
    a.add_argument("--choices-column", default="choices")
    a.add_argument("--answer-column", default="answer")
    a.add_argument("--few-shot", type=int, default=0, help="examples from the same file put before each question")
    a.add_argument("--replace", action="store_true", help="overwrite a benchmark of that name")
    a.add_argument("--home")
    ls = bsub.add_parser("list", help="list the workspace benchmarks")
    ls.add_argument("--home")


def run(args) -> int:
    ws = Workspace.at(args.home)
    if args.bench_cmd == "add":
        try:
            dest = benchmarks.add(ws, args.name, Path(args.jsonl), args.kind, args.question_column,
                                  args.choices_column, args.answer_column, args.few_shot, replace=args.replace)
        except (benchmarks.BenchmarkError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        info = benchmarks.list_suites(ws)
        suite = next(s for s in info if s.name == args.name)
        print(f"registered benchmark {args.name}: {suite.kind}, {suite.rows} rows, {suite.few_shot}-shot, in {dest}")
        print(f'use it in a job: "benchmarks": ["{args.name}"]')
        return 0
    suites = benchmarks.list_suites(ws)
    if not suites:
        print(f"no workspace benchmarks in {benchmarks.root(ws)}; add one with "
              "`python -m jobs benchmark add NAME --jsonl FILE --kind multiple_choice|exact_match`")
        return 0
    print(f"{'NAME':24} {'KIND':16} {'ROWS':>6} {'SHOTS':>5}")
    for s in suites:
        print(f"{s.name:24} {s.kind:16} {s.rows if s.rows is not None else '?':>6} "
              f"{s.few_shot if s.few_shot is not None else '?':>5}")
    print("Any lm-eval task or group name (gsm8k, mmlu, arc_easy, ...) is a suite too, where its data can be loaded.")
    return 0
