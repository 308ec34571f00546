"""The one exception type users see for bad input, a warning type, and a message helper."""


class QDLError(ValueError):
    """Malformed input to QDL: the message names the problem and, where possible, the fix.

    >>> raise QDLError("unknown gate 'foo' at line 3")
    Traceback (most recent call last):
    qdl.errors.QDLError: unknown gate 'foo' at line 3
    """


class QDLWarning(UserWarning):
    """Something the user should know about a result that is still produced.

    For example, evaluating a run that was stopped before it finished uses the weights of
    its last saved epoch; the warning says which.
    """


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty.

    >>> first_line(EOFError()), first_line(ValueError("bad\\nmore"))
    ('EOFError', 'bad')
    """
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
