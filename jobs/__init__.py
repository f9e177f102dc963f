"""Tunedeck's job contract: the spec, the workspace layout, state files, atomic IO and registries.

The dashboard, the spooler and the trainer import this package and never each other. The names they share are
declared here once: jobs.status (JobStatus), jobs.rundir (RunDir), jobs.metrics, jobs.logformat, jobs.data.jsonl and the
typed readers in jobs.contract.
"""
from jobs.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from jobs.rundir import RunDir
from jobs.spec import Problem, Validation, validate
from jobs.status import JobStatus
from jobs.workspace import Workspace

__all__ = ["Workspace", "RunDir", "JobStatus", "validate", "Validation", "Problem", "atomic_write_json",
           "atomic_write_text", "atomic_write_bytes", "read_json"]
