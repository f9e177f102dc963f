"""A real single-node Slurm for tests, from Debian's packages: munged, slurmctld and slurmd with fake GPUs.

It runs with its own config, ports and state under a temporary folder, without systemd or cgroups. Clients find it
through SLURM_CONF. Only the daemons started here are stopped here, by pid.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

NEEDED = ("sbatch", "squeue", "scancel", "scontrol", "slurmctld", "slurmd", "munged")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def unavailable() -> str | None:
    """Why a test Slurm cannot start here, or None."""
    missing = [c for c in NEEDED if shutil.which(c) is None and not Path("/usr/sbin", c).exists()]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} missing; apt-get install slurmd slurmctld slurm-client munge)"
    if os.geteuid() != 0:
        return "the test Slurm runs its daemons as root"
    if not Path("/etc/munge/munge.key").exists():
        return "munge has no key (/etc/munge/munge.key)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin") / name)


class SlurmCluster:
    def __init__(self, root: Path, gpus: int = 2, cpus: int = 8, min_job_age: int = 2):
        self.root = Path(root)
        self.gpus, self.cpus, self.min_job_age = gpus, cpus, min_job_age
        self.node = socket.gethostname().split(".")[0]
        self.procs: list[subprocess.Popen] = []
        self.conf = self.root / "etc" / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        etc, state, spool, dev = (self.root / d for d in ("etc", "state", "spool", "dev"))
        for d in (etc, state, spool, dev):
            d.mkdir(parents=True, exist_ok=True)
        for i in range(self.gpus):  # fake GPU devices: Slurm only needs a file per GPU to hand out
            link = dev / f"gpu{i}"
            if not link.exists():
                link.symlink_to("/dev/null")
        r = self.root
        self.conf.write_text(f"""\
ClusterName=tunedeck-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge={self.min_job_age}
KillWait=5
InactiveLimit=0
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} Gres=gpu:{self.gpus} State=UNKNOWN
PartitionName=tunedeck Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        (etc / "gres.conf").write_text(f"NodeName={self.node} Name=gpu File={dev}/gpu[0-{self.gpus - 1}]\n"
                                       if self.gpus > 1 else f"NodeName={self.node} Name=gpu File={dev}/gpu0\n")

    def _munge(self) -> None:
        if MUNGE_SOCKET.exists() and subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            return  # a munged already answers; share it
        run = MUNGE_SOCKET.parent
        run.mkdir(parents=True, exist_ok=True)
        shutil.chown(run, "munge", "munge")
        os.chmod(run, 0o755)
        p = subprocess.Popen(["runuser", "-u", "munge", "--", _sbin("munged"), "--foreground"],
                             stdout=subprocess.DEVNULL, stderr=open(self.root / "munged.log", "wb"))
        self.procs.append(p)
        self._wait(lambda: subprocess.run(["munge", "-n"], capture_output=True).returncode == 0, "munged")

    def start(self, timeout: float = 60.0) -> SlurmCluster:
        self.write_config()
        self._munge()
        for cmd in ([_sbin("slurmctld"), "-D", "-c", "-f", str(self.conf)],
                    [_sbin("slurmd"), "-D", "-f", str(self.conf), "-N", self.node]):
            self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL,
                                               stderr=open(self.root / (Path(cmd[0]).name + ".err"), "wb"),
                                               start_new_session=True))
        self._wait(self.node_ready, "the Slurm node", timeout)
        return self

    def node_ready(self) -> bool:
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=self.env, capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() in ("idle", "mixed", "allocated")

    def _wait(self, cond, what: str, timeout: float = 30.0) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.2)
        logs = "".join(f"\n--- {f.name}\n{f.read_text(errors='replace')[-2000:]}" for f in self.root.glob("*.log")
                       if f.is_file()) + "".join(f"\n--- {f.name}\n{f.read_text(errors='replace')[-2000:]}"
                                                  for f in self.root.glob("*.err"))
        raise RuntimeError(f"{what} did not come up{logs}")

    def squeue(self, *args: str) -> str:
        return subprocess.run(["squeue", "-h", *args], env=self.env, capture_output=True, text=True).stdout

    def stop(self) -> None:
        """Stop what this object started, newest first, by pid."""
        subprocess.run(["scancel", "--full", "--user", "root"], env=self.env, capture_output=True)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()
