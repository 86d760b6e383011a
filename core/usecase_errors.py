"""The error of the use-case layer (:mod:`core.runs`, :mod:`core.exports`,
:mod:`core.predictions`): a :class:`core.errors.GoqaError` with its own title.

Each use-case module subclasses it (``RunsError``, ``ExportError``, ``PredictionsError``) so
a caller can catch one module's failures.
"""

from __future__ import annotations

from core.errors import GoqaError


class UseCaseError(GoqaError):
    """A use case that cannot go on, with the way out (see :class:`GoqaError`)."""

    title = "Cannot go on"
