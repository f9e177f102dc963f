"""A job without 4-bit never loads bitsandbytes, so its log carries no bitsandbytes warnings."""
import os
import subprocess
import sys

from tests.conftest import REPO
from tests.trainer_helpers import make_run


def test_a_job_without_4bit_leaves_bitsandbytes_unloaded(ws):
    run_dir = make_run(ws, max_steps=2, num_sample_prompts=1)
    probe = ("import runpy, sys, atexit; atexit.register(lambda: print('BNB_LOADED', "
             "sys.modules.get('bitsandbytes') is not None, file=sys.stderr)); "
             f"sys.argv = ['trainer', {str(run_dir)!r}]; runpy.run_module('trainer', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    log = (run_dir / "train.log").read_text() + out.stderr
    assert out.returncode == 0, log[-2000:]
    assert "BNB_LOADED False" in out.stderr
    assert "gemm_4bit" not in log and "pip install kernels" not in log
