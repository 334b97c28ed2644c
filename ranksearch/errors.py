"""The exceptions a user's mistake or a failing environment raise; the CLI prints each as one line."""


class UserError(Exception):
    """Bad input from the user: a message that says what is wrong and how to fix it (exit code 2)."""

    exit_code = 2


class RunFailure(UserError):
    """The command was right but something failed while it ran (a storage, a training job): exit code 1."""

    exit_code = 1
