"""Tunedeck's spooler daemon: watch the spool, validate, queue, run trainer subprocesses, survive crashes."""
