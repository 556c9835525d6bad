"""The one exception type that the CLI turns into a single stderr line and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, a malformed line, an unknown task or model.

    The CLI prints ``evalkit: error: <message>`` and exits with code 2, never a traceback.
    """


def first_line(e: BaseException) -> str:
    """An exception's first line of text (its type name when it has none), for one-line error messages."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
