"""The one exception a user's mistake raises; the CLI prints it as a single line."""


class UserError(Exception):
    """Bad input from the user: a message that says what is wrong and how to fix it."""
