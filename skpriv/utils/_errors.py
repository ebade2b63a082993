"""Errors that never quote private values.

numpy, scikit-learn and torch put the offending value into their messages
(``could not convert string to float: 'SSN-987-65-4320'``, a 1-D input
printed whole). Such messages end up in logs, notebooks and error trackers,
so every skpriv entry point that touches private data runs its work through
:func:`call_hiding_values`, which re-raises them with the values cut out.
"""

import re

__all__ = ["call_hiding_values", "hide_values"]

_NOT_SHOWN = "(value not shown: it may be private)"

#: ``(pattern, replacement)``: the parts of known messages that quote values.
_QUOTING = [
    (
        re.compile(r"(could not convert (?:string|\w+) to \w+)\s*:.*", re.DOTALL),
        rf"\1 {_NOT_SHOWN}",
    ),
    (
        re.compile(r"(invalid literal for \w+\(\) with base \d+)\s*:.*", re.DOTALL),
        rf"\1 {_NOT_SHOWN}",
    ),
    (re.compile(r"\n?\s*array=.*?(?=\n[A-Z]|\Z)", re.DOTALL), f"\n{_NOT_SHOWN}"),
    (
        re.compile(r"(previously unseen labels?|unknown categor\w*)\s*:?.*", re.I),
        rf"\1 {_NOT_SHOWN}",
    ),
    (re.compile(r"(Found unknown categories)\s*.*", re.DOTALL), rf"\1 {_NOT_SHOWN}"),
    (re.compile(r"(unsupported operand type\(s\)[^:]*):.*"), r"\1"),
]


def hide_values(message: str) -> str:
    """``message`` with the values known messages quote cut out."""
    for pattern, replacement in _QUOTING:
        message = pattern.sub(replacement, message)
    return message


def call_hiding_values(func, *args, **kwargs):
    """``func(*args, **kwargs)``, re-raising ValueError / TypeError without values.

    The new exception carries no cause and no context (the original, which
    quotes the value, is not chained: it is raised after the handler has
    finished), and keeps the original's type when that type takes a single
    message. Messages that quote no known value pattern (scikit-learn's
    ``InvalidParameterError``, skpriv's own errors) propagate untouched.
    """
    try:
        return func(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        hidden = hide_values(message)
        if hidden == message:
            raise
        kind = type(exc)
        del exc
    try:
        new = kind(hidden)
    except Exception:  # exception types with other signatures
        new = (TypeError if issubclass(kind, TypeError) else ValueError)(hidden)
    raise new
