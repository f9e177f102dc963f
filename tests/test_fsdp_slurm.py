"""sharding=fsdp on the test Slurm: `sbatch` runs torchrun with 2 gloo ranks on 2 fake GPUs, as a DDP job does."""
import csv
import json

from jobs.queue.spool import submit
from jobs.state import read_state
from tests.spool_helpers import Spooler, spec, statuses, wait_for


def test_fsdp_full_finetune_via_slurm(ws, cluster):  # noqa: F811
    with Spooler(ws, "--runner", "slurm", trainer=None) as sp:
        job, _ = submit(ws, spec("fsdp-slurm", max_steps=4, batch_size=2, eval_ratio=0, num_sample_prompts=1,
                                 num_gpus=2, sharding="fsdp", finetuning_type="full"))
        wait_for(lambda: statuses(ws)[job] in ("succeeded", "failed", "cancelled"), 400, step=0.5)
        run_dir = ws.run_dir(job)
        assert statuses(ws)[job] == "succeeded", read_state(run_dir)
        steps = [int(r["step"]) for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("loss")]
        assert steps == [1, 2, 3, 4]
        s = json.loads((run_dir / "summary.json").read_text())
        assert s["world_size"] == 2 and s["sharding"] == "fsdp" and len(s["rank_peak_memory_bytes"]) == 2
        log = (run_dir / "train.log").read_text()
        assert "trained sharded: FSDP2 over 2 ranks" in log and (run_dir / "model" / "config.json").is_file()
        sp.stop()
