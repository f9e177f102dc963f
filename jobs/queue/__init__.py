"""The spool and the queue: spec drops, sweeps, steering, and read-only views of the workspace."""
