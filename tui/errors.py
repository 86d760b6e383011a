"""Turn any exception into a title and a message that says what to do (never a traceback)."""

from __future__ import annotations

import httpx

from core import store
from core.backends.base import BackendError, InvalidAnswerError, MissingDependencyError
from core.config import ConfigError
from core.countries import UnknownCountryError
from core.dataset import DatasetError, NotAskableError
from core.runner import MissingTranslationsError
from core.store import StoreError

LOCAL_INSTALL_HINT = (
    "Install the local model extra with: pip install 'goqa[local]' "
    "(llama-cpp-python is built from source; see the README)."
)


_STORE_TITLES: dict[type[StoreError], str] = {
    store.StoreBusyError: "Results store busy",
    store.StoreReadOnlyError: "Results store is read-only",
    store.StoreFullError: "Disk full",
    store.NotAStoreError: "Not a goqa store",
    store.StoreDamagedError: "Results store damaged",
    store.RunClaimedError: "Run already running",
}


def describe(exc: BaseException) -> tuple[str, str]:
    """A short title and a message with the fix for ``exc``.

    Our own exceptions already carry a message written for the user; the rest get one here.
    """
    text = str(exc).strip()
    if isinstance(exc, MissingDependencyError):
        if "pip install" not in text:
            text = f"{text} {LOCAL_INSTALL_HINT}".strip()
        return "Local model not installed", text
    if isinstance(exc, MissingTranslationsError):
        return "Translations missing", text
    if isinstance(exc, UnknownCountryError):
        return "Unknown country", text
    if isinstance(exc, ConfigError):
        return "Configuration problem", text
    if isinstance(exc, NotAskableError):
        return "Question cannot be asked", text
    if isinstance(exc, DatasetError):
        return "Dataset problem", text
    if isinstance(exc, StoreError):
        return _STORE_TITLES.get(type(exc), "Results store problem"), text
    if isinstance(exc, InvalidAnswerError):
        return "Unusable answer", text
    if isinstance(exc, BackendError):
        return "Backend error", text or type(exc).__name__
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
    if isinstance(exc, KeyError | ValueError):
        return "Invalid value", text.strip("'\"") or type(exc).__name__
    return "Unexpected error", (
        f"{type(exc).__name__}: {text or 'no details'}. This is a bug in goqa; "
        "please report it with the steps that led here."
    )
