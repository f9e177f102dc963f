"""Defaults that more than one process uses, declared once (as rq's defaults.py does)."""
from __future__ import annotations

TRY_IDLE_SECONDS = 180.0  # a warm try worker exits after this long without a prompt (spooler option, worker flag)
