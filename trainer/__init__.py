"""Tunedeck's trainer: `python -m trainer RUN_DIR [--resume]` runs one job with TRL, PEFT and bitsandbytes."""
import os

# transformers ≥ 5.2x swaps layers for kernels downloaded from the Hugging Face Hub when a model loads on a GPU. Jobs
# run on offline clusters and must train the same code every time, so hub kernels are off unless the operator sets
# USE_HUB_KERNELS=YES in the spooler's environment (Liger's kernels stay a job param: use_liger_kernel).
os.environ.setdefault("USE_HUB_KERNELS", "NO")
