"""Small rules of wording that every front end shares."""

from __future__ import annotations


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes: ``1 question``, ``0 questions``, ``2 runs``.

    Args:
        n: how many.
        singular: the noun for one.
        plural: the noun for any other number (default: ``singular`` + "s").
    """
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
