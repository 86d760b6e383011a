"""HTTP plumbing every HTTP backend shares: clients and pools, one POST with error mapping,
redaction of secrets, and ``Retry-After`` parsing.

No provider imports another provider: the OpenAI-compatible and Anthropic backends both
import this module.
"""

from __future__ import annotations

import functools
import html
import json
import re
import ssl
from typing import Any

import httpx

from core.backends.base import BackendError
from core.backends.retry import parse_retry_after
from core.config import BackendConfig

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
NOT_FOUND_HINT = "Check base_url (should end in /v1, e.g. http://localhost:8000/v1) and model"


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~30 ms per client; every backend's own client shares one.
    return httpx.create_ssl_context()


# httpcore's pool rescans every connection for each one on every request (quadratic in the
# pool size): at 64 connections that bookkeeping caps a run at about a quarter of the ideal
# rate. Several small pools, taken in turn, keep each scan short.
CONNECTIONS_PER_POOL = 8


class ShardedClient:
    """``post``/``aclose`` over several ``httpx.AsyncClient`` pools, used in turn."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self._clients = clients
        self._next = 0

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        client = self._clients[self._next]
        self._next = (self._next + 1) % len(self._clients)
        return await client.post(url, **kwargs)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def new_client(cfg: BackendConfig) -> httpx.AsyncClient | ShardedClient:
    """An HTTP client for one backend: ``cfg.timeout`` per request and ``cfg.concurrency``
    connections in all (split over small pools when there are many)."""
    limit = max(1, cfg.concurrency)
    shards = -(-limit // CONNECTIONS_PER_POOL)
    per = -(-limit // shards)
    clients = [
        httpx.AsyncClient(
            timeout=cfg.timeout,
            limits=httpx.Limits(max_connections=per, max_keepalive_connections=per),
            verify=_ssl_context(),
        )
        for _ in range(shards)
    ]
    return clients[0] if shards == 1 else ShardedClient(clients)


class HTTPStatusError(BackendError):
    """A :class:`BackendError` from an HTTP error status; ``detail`` is the server's message."""

    def __init__(
        self,
        message: str,
        status: int,
        detail: str,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.status = status
        self.detail = detail


_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"(?i)\b(api[_-]?key|x-api-key|authorization)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
)


def redact(text: str, secret: str | None = None, limit: int = 200) -> str:
    """A short, single-line excerpt of ``text`` that is safe to show.

    Removes ``secret`` and anything shaped like a key or an Authorization header, strips HTML
    tags (keeping the page title), collapses whitespace and cuts to ``limit`` characters.
    """
    if "<" in text and ">" in text:
        title = re.search(r"(?is)<title[^>]*>(.*?)</title>", text)
        body = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", text)
        body = re.sub(r"(?s)<[^>]+>", " ", body)
        text = html.unescape(f"{title.group(1)}: {body}" if title else body)
    if secret:
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) + m.group(2) + "***") if m.lastindex else "***", text
        )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server_message(response: httpx.Response) -> str:
    """The human part of an error body: ``{"error": {"message"}}``, ``{"detail"}``, or text."""
    try:
        data = response.json()
    except ValueError:
        return response.text
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str | list) and data.get(key):
                return str(data[key])
    return response.text


def _retry_after(response: httpx.Response) -> float | None:
    value = parse_retry_after(response.headers.get("retry-after"))
    if value is None and response.headers.get("retry-after-ms"):
        ms = parse_retry_after(response.headers.get("retry-after-ms"))
        value = None if ms is None else ms / 1000
    return value


def http_error(
    response: httpx.Response,
    *,
    where: str,
    secret: str | None,
    api_key_env: str,
    model: str,
    not_found_hint: str = NOT_FOUND_HINT,
) -> HTTPStatusError:
    """The :class:`HTTPStatusError` for an HTTP error response, naming the fix.

    429 and 5xx (and 408/409/425/529) are retryable and carry ``Retry-After``; 400, 401, 403,
    404 and other client errors are not.
    """
    status = response.status_code
    detail = redact(_server_message(response), secret)
    said = f": {detail}" if detail else ""
    env = api_key_env or "(none configured)"
    retryable = status in RETRYABLE_STATUS or status >= 500
    if status == 429:
        message = f"Rate limited by {where} (HTTP 429){said}"
    elif status == 529:
        message = f"{where} is overloaded (HTTP 529){said}"
    elif retryable:
        message = (
            f"Server error HTTP {status} from {where}{said}. The server (or a proxy in front of "
            "it) failed: check that the model server is up and its log, or raise max_retries."
        )
    elif status == 401:
        message = (
            f"HTTP 401 unauthorised by {where}{said}. Check the env var named by api_key_env "
            f"({env}): it must hold a valid key."
        )
    elif status == 403:
        message = (
            f"HTTP 403 forbidden by {where}{said}. The key (env var {env}) may lack access to "
            f"model {model!r}."
        )
    elif status == 404:
        message = f"HTTP 404 from {where}{said}. {not_found_hint} ({model!r})."
    else:
        message = f"HTTP {status}: {where} rejected the request{said}"
    return HTTPStatusError(
        message,
        status=status,
        detail=detail,
        retryable=retryable,
        retry_after=_retry_after(response) if retryable else None,
    )


async def post_json(
    client: httpx.AsyncClient | ShardedClient,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: float,
    where: str,
    secret: str | None,
    api_key_env: str,
    model: str,
    not_found_hint: str = NOT_FOUND_HINT,
) -> dict[str, Any]:
    """POST ``body`` as JSON and return the JSON object answered.

    Raises:
        BackendError: for every failure, with a safe message: timeouts, unreachable or dropped
            connections, malformed bodies and HTML pages are retryable; HTTP statuses are
            mapped by :func:`http_error`.
    """
    try:
        response = await client.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise BackendError(
            f"No answer from {where} within {timeout:g}s. Check that the server is not stuck "
            "or overloaded, or raise the backend's timeout in the config.",
            retryable=True,
        ) from None
    except httpx.ConnectError as exc:
        reason = redact(str(exc), secret) or type(exc).__name__
        raise BackendError(
            f"Cannot reach {where} ({reason}). Is the server running? {not_found_hint}.",
            retryable=True,
        ) from None
    except httpx.TransportError as exc:
        reason = redact(str(exc), secret) or type(exc).__name__
        raise BackendError(
            f"Connection to {where} dropped before an answer ({reason}). The server may have "
            "crashed or restarted: check its log, or raise max_retries.",
            retryable=True,
        ) from None
    if response.status_code >= 400:
        raise http_error(
            response,
            where=where,
            secret=secret,
            api_key_env=api_key_env,
            model=model,
            not_found_hint=not_found_hint,
        )
    text = response.text
    if "html" in response.headers.get("content-type", "") or text.lstrip()[:1] == "<":
        raise BackendError(
            f"{where} answered with an HTML page instead of JSON ({redact(text, secret, 120)}). "
            f"{not_found_hint}.",
            retryable=True,
        )
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BackendError(
            f"Malformed JSON from {where}: {redact(text, secret, 120)!r}. Is base_url the "
            f"model server's API? {not_found_hint}, or look at the server's log.",
            retryable=True,
        )
    return data


def usage_tokens(data: dict[str, Any], prompt_key: str, completion_key: str) -> tuple[Any, Any]:
    """(prompt tokens, completion tokens) from a response's ``usage``, None when absent."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None, None
    pt, ct = usage.get(prompt_key), usage.get(completion_key)
    return (pt if isinstance(pt, int) else None, ct if isinstance(ct, int) else None)
