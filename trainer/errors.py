class TrainerError(Exception):
    """A problem the user can fix; its message is shown as the job's one-line error."""
