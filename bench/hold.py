"""A trainer stand-in that holds its slot until stopped, so queued jobs stay queued during a benchmark."""
import sys
import time

from jobs.rundir import RunDir

run_dir = RunDir(sys.argv[1])
while not run_dir.stop_request.exists():
    time.sleep(0.1)
sys.exit(20)
