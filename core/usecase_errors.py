"""The error of the use-case layer (:mod:`core.runs`, :mod:`core.exports`,
:mod:`core.predictions`): what went wrong, what to do about it, and a title for the app.

The CLI prints ``str(error)`` (the message, then the fix) after ``error:``; the app shows the
title over the message and the fix. Each use-case module subclasses it (``RunsError``,
``ExportError``, ``PredictionsError``) so a caller can catch one module's failures.
"""

from __future__ import annotations


class UseCaseError(Exception):
    """A use case that cannot go on, with the way out.

    Attributes:
        message: what went wrong, as a sentence ("Cannot write 'x': the file exists.").
        fix: what to do about it ("Pass --force to replace it, or choose another file."),
            or "" when the message says it all.
        title: a short heading for a dialog or a notification.
    """

    title: str = "Cannot go on"

    def __init__(self, message: str, fix: str = "", *, title: str | None = None) -> None:
        super().__init__(f"{message} {fix}".strip() if fix else message)
        self.message = message
        self.fix = fix
        if title is not None:
            self.title = title
