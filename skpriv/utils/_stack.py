"""Warnings that point at the user's line, however deep skpriv warns from."""

import os
import sys

__all__ = ["user_stacklevel"]

_SKPRIV = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _internal(filename: str) -> bool:
    filename = os.path.abspath(filename)
    if filename.startswith(_SKPRIV + os.sep):
        return True
    # scikit-learn's wrappers (fit contexts, pipelines, searches) sit between
    # the user's call and skpriv's code.
    parts = filename.split(os.sep)
    return "sklearn" in parts or "skorch" in parts or "contextlib.py" in parts[-1:]


def user_stacklevel() -> int:
    """``stacklevel`` for ``warnings.warn`` called right after this.

    Counts the frames from the caller of this function up to the first one
    outside skpriv (and scikit-learn's or skorch's wrappers), so that the
    warning names the line of user code that led to it, whatever the depth
    of the helpers in between.
    """
    frame = sys._getframe(1)  # the function that will call warnings.warn
    level = 1
    while frame is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    return level
