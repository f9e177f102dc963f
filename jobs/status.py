"""Job statuses, the one spelling that state.json, the spooler, the trainer and the dashboard share."""
from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A job's status. str-valued, so state.json keeps plain strings ("queued", ...) and compares equal to them."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StatusSet(frozenset):
    """A set of statuses that iterates in declaration order, so messages and lists built from it are stable."""

    def __iter__(self):
        return (s for s in JobStatus if frozenset.__contains__(self, s))


# The groups every process decides by. Members are str, so `state["status"] in ACTIVE` works on raw JSON values.
ACTIVE = StatusSet({JobStatus.QUEUED, JobStatus.RUNNING})                        # holds or waits for a slot
FINAL = StatusSet({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})  # the trainer is done
CANCELLABLE = ACTIVE                                                             # cancel: queued at once, running by stop request
RETRYABLE = StatusSet({JobStatus.FAILED, JobStatus.CANCELLED})                   # retry requeues these
STARTED = StatusSet({JobStatus.RUNNING} | FINAL)                                 # has a start time, so a duration

JobStatus.ACTIVE = ACTIVE
JobStatus.FINAL = FINAL
JobStatus.CANCELLABLE = CANCELLABLE
JobStatus.RETRYABLE = RETRYABLE
JobStatus.STARTED = STARTED


def ordered(group) -> tuple[JobStatus, ...]:
    """A group's members in declaration order, for `expect=` arguments and stable UI lists."""
    return tuple(s for s in JobStatus if s in group)
