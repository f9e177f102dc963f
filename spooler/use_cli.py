"""`python -m spooler try|export`: ask a trained model a prompt, or queue a merged-model export."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jobs.metrics import M
from jobs.state import spooler_alive
from jobs.team.auth import os_user
from jobs.team.guard import Refused, authorize
from jobs.use import requests as rq
from jobs.workspace import Workspace


def try_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("job_ids", nargs="*", metavar="JOB_ID")
    t.add_argument("--prompt", help="the prompt (required unless --cancel)")
    t.add_argument("--cancel", metavar="REQUEST", help="cancel a try request (its id, as `try` printed it) instead")
    t.add_argument("--system", default="", help="optional system prompt")
    t.add_argument("--base", action="store_true", help="the base model answers too")
    t.add_argument("--max-new-tokens", type=int, default=rq.SETTINGS["max_new_tokens"][0])
    t.add_argument("--temperature", type=float, default=rq.SETTINGS["temperature"][0])
    t.add_argument("--top-p", type=float, default=rq.SETTINGS["top_p"][0])
    t.add_argument("--seed", type=int, default=rq.SETTINGS["seed"][0])
    t.add_argument("--greedy", action="store_true", help="no sampling: the most likely token each step")
    t.add_argument("--timeout", type=float, default=600, help="seconds to wait for the answers")


def export_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("job_id")
    e.add_argument("--wait", action="store_true", help="wait for the export and print where it is")
    e.add_argument("--gguf", default="", metavar="QUANTS",
                   help=f"also write GGUF files for llama.cpp / Ollama, comma-separated: {','.join(rq.GGUF_QUANTS)}")
    e.add_argument("--timeout", type=float, default=3600)


def cmd_try(ws: Workspace, args: argparse.Namespace) -> int:
    if args.cancel:
        try:
            print(rq.cancel_try(ws, args.cancel))
            return 0
        except rq.RequestError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    if not args.job_ids or args.prompt is None:
        print("error: try needs JOB_ID ... and --prompt TEXT (or --cancel REQUEST)", file=sys.stderr)
        return 2
    settings = {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "top_p": args.top_p,
                "seed": args.seed, "greedy": args.greedy}
    try:
        rid = rq.submit_try(ws, args.job_ids, args.prompt, args.system, args.base, settings)
    except rq.RequestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    owner = args.job_ids[0]
    print(f"request {rid} (cancel: python -m spooler try --cancel {rid})", file=sys.stderr)
    if not spooler_alive(ws):
        print("note: the spooler is not running; the request waits until it starts (python -m spooler)",
              file=sys.stderr)
    end, shown = time.time() + args.timeout, None
    while time.time() < end:
        r = rq.read_try(ws, owner, rid) or {}
        if (r.get("status"), r.get("waiting_for")) != shown:
            shown = (r.get("status"), r.get("waiting_for"))
            why = " for a training: trainings go first" if r.get("waiting_for") == rq.WAITING_FOR_TRAINING else ""
            print(f"[{shown[0]}{why}]", file=sys.stderr)
        if r.get("status") in rq.FINAL_TRY:
            break
        time.sleep(0.2)
    else:
        print(f"error: no answer within {args.timeout:g}s; request {rid} stays queued (runs/{owner}/try/)",
              file=sys.stderr)
        return 1
    if r["status"] in (rq.TryStatus.FAILED.value, rq.TryStatus.CANCELLED.value):
        print(f"error: {r.get('error') or r['status']}", file=sys.stderr)
        return 1
    for a in r["answers"]:
        label = "base model" if a["target"] == rq.BASE else a["target"]
        print(f"=== {label}  ({a['seconds']:.2f}s, {a['tokens']} tokens)")
        print(a["text"])
    w = r.get("worker") or {}
    print(f"(request {rid}; worker pid {w.get('pid')}, "
          f"{'loaded the model' if r.get('loaded_model') else 'model already warm'})", file=sys.stderr)
    return 0


def cmd_export(ws: Workspace, args: argparse.Namespace) -> int:
    try:
        authorize(ws, os_user(), "cli", "export", args.job_id)  # the owner or an admin (with auth on); audited
        rid = rq.submit_export(ws, args.job_id, gguf=args.gguf)
    except (rq.RequestError, Refused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    run_dir = ws.run_dir(args.job_id)
    print(f"{args.job_id}: export queued (request {rid}); it writes {rq.export_dir(run_dir) / rq.MERGED_DIR}")
    if not args.wait:
        return 0
    end = time.time() + args.timeout
    while time.time() < end:
        st = rq.export_state(run_dir)
        if st.get("status") in rq.FINAL_EXPORT:
            if st["status"] == rq.ExportStatus.FAILED.value:
                print(f"error: export failed: {st.get('error')}", file=sys.stderr)
                return 1
            print(f"merged model: {st.get('merged')}")
            if st.get("note"):
                print(st["note"])
            print(f"serve the adapter without merging:\n  {st.get('vllm_command')}")
            return _print_gguf(st)
        time.sleep(0.5)
    print(f"error: the export did not finish within {args.timeout:g}s", file=sys.stderr)
    return 1


def _print_gguf(st: dict) -> int:
    """The GGUF table of a finished export; 1 when GGUF files were asked for and none was written."""
    if not st.get("gguf_requested"):
        return 0
    if st.get("gguf_error"):
        print(f"error: no GGUF written: {st['gguf_error']} (the merged model is exported)", file=sys.stderr)
        return 1
    print("GGUF (llama.cpp smoke check: greedy tokens equal to the merged model's, tokens/s on this machine):")
    for g in st.get("gguf") or []:
        if g.get("error"):
            print(f"  {g['quant']:7} failed: {g['error']}")
            continue
        print(f"  {g['quant']:7} {g['size_bytes'] / 2**20:9,.1f} MiB  load {g['load_seconds']:.2f}s  "
              f"{g[M.tokens_per_second] or 0:7.1f} tok/s  match {100 * (g['match'] or 0):5.1f}%  {g['file']}")
    print(f"Ollama: ollama create NAME -f {Path(st['merged']).parent / 'Modelfile'}  (FROM {st.get('modelfile_from')})")
    return 0 if any(not g.get("error") for g in st.get("gguf") or []) else 1
