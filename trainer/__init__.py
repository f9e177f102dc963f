"""Tunedeck's trainer: `python -m trainer RUN_DIR [--resume]` runs one job with TRL, PEFT and bitsandbytes."""
