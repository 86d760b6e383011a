"""Model backends: one interface (:mod:`core.backends.base`), three kinds.

``make_backend`` builds the right one for a configured backend; backend modules are imported
only when needed (the ``local`` one pulls in an optional native dependency).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config import KINDS, BackendConfig, ConfigError

if TYPE_CHECKING:
    import httpx

    from core.backends.base import Backend


def make_backend(cfg: BackendConfig, client: httpx.AsyncClient | None = None) -> Backend:
    """The backend for ``cfg.kind``.

    Args:
        cfg: a configured backend (``openai``, ``anthropic`` or ``local``).
        client: an HTTP client to share (HTTP backends only); the backend makes and owns one
            if None. The local backend ignores it.

    Raises:
        ConfigError: an unknown kind.
        MissingDependencyError: ``local`` without the ``local`` extra installed (raised by
            the local backend).
    """
    if cfg.kind == "openai":
        from core.backends.openai import OpenAIBackend

        return OpenAIBackend(cfg, client)
    if cfg.kind == "anthropic":
        from core.backends.anthropic import AnthropicBackend

        return AnthropicBackend(cfg, client)
    if cfg.kind == "local":
        from core.backends.local import LocalBackend

        return LocalBackend(cfg)
    raise ConfigError(f"Backend {cfg.name!r} has kind {cfg.kind!r}; use one of {', '.join(KINDS)}.")
