"""goqa's errors: one base with a message, a fix and a title, and the record of a bug.

Every failure goqa knows how to explain is a :class:`GoqaError`, whichever part of core
raised it (the dataset, the config, the store, a backend, a use case). The command line
prints ``error:`` and ``str(error)`` (the message, then the fix); the app shows the title
over the same text. Anything else that escapes to a front end is a bug in goqa: it is not
dressed up as a friendly message but recorded with its traceback by :func:`record_bug`, and
the front end says so in one line that names the log.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from core import paths


class GoqaError(Exception):
    """A failure goqa can explain, with the way out.

    Subclasses set :attr:`title` for their kind of failure; a raise can override it.

    Attributes:
        message: what went wrong, as a sentence ("Cannot write 'x': the file exists.").
        fix: what to do about it ("Pass --force to replace it."), or "" when the message
            already says it.
        title: a short heading for a dialog or a notification.
    """

    title: str = "Cannot go on"

    def __init__(self, message: str = "", fix: str = "", *, title: str | None = None) -> None:
        super().__init__(f"{message} {fix}".strip() if fix else message)
        self.message = message
        self.fix = fix
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        # The message and the fix as given (``args[0]``), unquoted also for a KeyError.
        return str(self.args[0]) if self.args else ""


class InvalidValueError(GoqaError, ValueError):
    """A value from outside (the command line, the config, a picker, a stored run) that goqa
    does not accept; the message names the value and the accepted ones. It is a ValueError
    too, so code that checks a value with ``except ValueError`` keeps working."""

    title = "Invalid value"


BUG_REPORT_HINT = "please report it with the steps that led here"


def bug_log_dir() -> Path:
    """Where bug records go: ``logs/`` under the data directory (``GOQA_DATA_DIR``)."""
    return paths.data_dir() / "logs"


def record_bug(exc: BaseException, where: str = "") -> Path | None:
    """Write ``exc``'s traceback to a new log file and return its path.

    The log goes to :func:`bug_log_dir`, or to the temporary directory when that cannot be
    written. Returns None only when neither can be written; the caller then says so.

    Args:
        exc: the unexpected exception, with its traceback.
        where: what goqa was doing ("goqa run", "the app"), written at the top of the log.
    """
    known = getattr(exc, "_goqa_bug_log", None)
    if isinstance(known, Path):  # one exception, shown in two places: one record
        return known
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    text = "".join(
        [
            f"goqa bug record, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n",
            f"while: {where or 'running goqa'}\n",
            f"python: {sys.version.split()[0]} on {sys.platform}\n",
            f"argv: {sys.argv!r}\n\n",
            *traceback.format_exception(type(exc), exc, exc.__traceback__),
        ]
    )
    for folder in (bug_log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"goqa-bug-{stamp}-", suffix=".log", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            continue
        log = Path(name)
        try:
            setattr(exc, "_goqa_bug_log", log)  # noqa: B010 - not an attribute of the type
        except AttributeError:  # an exception type with __slots__
            pass
        return log
    return None


def bug_message(exc: BaseException, log: Path | None) -> str:
    """The one line a front end shows for a bug: what broke and where the traceback is."""
    what = f"{type(exc).__name__}: {str(exc).strip() or 'no details'}"
    where = f"the traceback is in {log}" if log else "its traceback could not be written"
    return f"This is a bug in goqa ({what}); {where}; {BUG_REPORT_HINT}."
