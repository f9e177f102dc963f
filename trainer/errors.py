class TrainerError(Exception):
    """A problem the user can fix; its message is shown as the job's one-line error."""


class Stopped(Exception):
    """A stop or cancel request arrived outside the training steps (data preparation, evaluation, samples)."""
