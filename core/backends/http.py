"""HTTP plumbing every HTTP backend shares: clients and pools, one POST with error mapping,
redaction of secrets, and ``Retry-After`` parsing.

No provider imports another provider: the OpenAI-compatible and Anthropic backends both
import this module.

:func:`post_json` assumes nothing of the server. Its ``timeout`` is a deadline for the whole
request (connect, send, wait and the whole body), not httpx's per-read timeout, so a server
that trickles its answer cannot hold a request forever. It reads at most
:data:`MAX_BODY_BYTES`, follows only method-preserving redirects (307/308) to the same
server, checks the headers before sending them, and turns every failure into a
:class:`~core.backends.base.BackendError` whose message carries no secret: not the API key,
not the ``user:password@`` of a ``base_url``.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import html
import json
import math
import re
import ssl
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

import httpx

from core.backends.base import Answer, BackendError
from core.backends.retry import parse_retry_after
from core.config import BackendConfig

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
NOT_FOUND_HINT = "Check base_url (should end in /v1, e.g. http://localhost:8000/v1) and model"

MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest answer body :func:`post_json` reads (after decompression); a model's answer is
a few kB, so anything near this is not a model server's answer."""
MAX_ERROR_BODY_BYTES = 64 * 1024
"""How much of an error body is read: only an excerpt of it is ever shown."""
MAX_REDIRECTS = 5
"""307/308 redirects followed for one request before it counts as a redirect loop."""
FOLLOWED_REDIRECTS = frozenset({307, 308})
"""The redirects that keep the method and body; a 301/302/303 would turn the POST into a GET."""


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~30 ms per client; every backend's own client shares one.
    return httpx.create_ssl_context()


# httpcore's pool rescans every connection for each one on every request (quadratic in the
# pool size): at 64 connections that bookkeeping caps a run at about a quarter of the ideal
# rate. Several small pools, taken in turn, keep each scan short.
CONNECTIONS_PER_POOL = 8


class ShardedClient:
    """``post``/``build_request``/``send``/``aclose`` over several ``httpx.AsyncClient`` pools,
    used in turn."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self._clients = clients
        self._next = 0

    def _take(self) -> httpx.AsyncClient:
        client = self._clients[self._next]
        self._next = (self._next + 1) % len(self._clients)
        return client

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self._take().post(url, **kwargs)

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Request:
        # Every pool is configured alike, so any of them builds the same request.
        return self._clients[0].build_request(method, url, **kwargs)

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        return await self._take().send(request, **kwargs)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def new_client(cfg: BackendConfig) -> httpx.AsyncClient | ShardedClient:
    """An HTTP client for one backend: ``cfg.timeout`` per read (:func:`post_json` adds the
    deadline for the whole request) and ``cfg.concurrency`` connections in all (split over
    small pools when there are many)."""
    limit = max(1, cfg.concurrency)
    shards = -(-limit // CONNECTIONS_PER_POOL)
    per = -(-limit // shards)
    clients = [
        httpx.AsyncClient(
            timeout=cfg.timeout,
            limits=httpx.Limits(max_connections=per, max_keepalive_connections=per),
            verify=_ssl_context(),
            follow_redirects=False,  # post_json follows 307/308 itself, checking each hop
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


# --------------------------------------------------------------------------- redaction

_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/=]{6,}"),
    re.compile(r"(?i)\b(api[_-]?key|x-api-key|authorization)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
)
# ``scheme://user:password@`` anywhere in a text; the greedy run stops at the first character
# that ends a URL's authority, so it reaches the last "@" of the authority (a password may
# hold an unescaped "@").
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#]*@")
_USERINFO_AT_START = re.compile(r"(?i)\s*[a-z][a-z0-9+.\-]*://([^\s/?#]*)@")
_MIN_SECRET = 3  # shorter user names or passwords would blank out ordinary words


def _without_userinfo(text: str) -> str:
    return _URL_USERINFO.sub(r"\1***@", text)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) + m.group(2) + "***") if m.lastindex else "***", text
        )
    return _without_userinfo(text)


def redact(
    text: str, secret: str | None = None, limit: int = 200, *, also: Iterable[str] = ()
) -> str:
    """A short, single-line excerpt of ``text`` that is safe to show.

    Removes ``secret`` (and the strings in ``also``), anything shaped like a key or an
    Authorization header and the ``user:password@`` of any URL in the text, strips HTML tags
    (keeping the page title), collapses whitespace and cuts to ``limit`` characters.
    """
    if "<" in text and ">" in text:
        title = re.search(r"(?is)<title[^>]*>(.*?)</title>", text)
        body = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", text)
        body = re.sub(r"(?s)<[^>]+>", " ", body)
        text = html.unescape(f"{title.group(1)}: {body}" if title else body)
    text = _scrub(text, [secret or "", *also])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _secret_forms(secret: str | None, url: str) -> list[str]:
    """Every form in which the key, or the ``user:password`` of ``url``, could reach a text: as
    is, stripped, escaped as Python prints it, percent-encoded or not, and base64 (Basic auth)."""
    forms: list[str] = []
    if secret:
        forms += [secret, secret.strip(), secret.encode("unicode_escape").decode("ascii")]
    match = _USERINFO_AT_START.match(url)
    if match:
        userinfo = match.group(1)
        user, _, password = userinfo.partition(":")
        plain_user, plain_password = unquote(user), unquote(password)
        basic = base64.b64encode(f"{plain_user}:{plain_password}".encode()).decode("ascii")
        found = [userinfo, user, password, plain_user, plain_password, basic]
        forms += [f for f in found if len(f) >= _MIN_SECRET]
    return [f for f in forms if f]


def scrub_answer(answer: Answer, secret: str | None, url: str) -> Answer:
    """``answer`` with every form of the key and of ``url``'s credentials replaced by ``***``
    in its top tokens and note: a server that echoes the request's headers must not get the
    key into the store, the cache or an export."""
    forms = _secret_forms(secret, url)
    if not forms:
        return answer

    def clean(text: str) -> str:
        for form in forms:
            text = text.replace(form, "***")
        return text

    tops = tuple((clean(t), p) for t, p in answer.top_tokens)
    note = clean(answer.note)
    if tops == answer.top_tokens and note == answer.note:
        return answer
    return replace(answer, top_tokens=tops, note=note)


# --------------------------------------------------------------------------- headers


def _bad_character(text: str, *, strict: bool) -> tuple[int, str] | None:
    """(index, description) of the first character of ``text`` a header cannot carry.

    ``strict`` (an API key): any control character (tab too), any non-ASCII character and a
    space at either end. Otherwise (any header value) only what httpx and h11 refuse to send:
    CR, LF, NUL, non-ASCII, and a space or tab at either end.
    """
    for i, ch in enumerate(text):
        code = ord(ch)
        if ch == "\n":
            return i, "a newline"
        if ch == "\r":
            return i, "a carriage return"
        if code >= 0x80:
            name = unicodedata.name(ch, "")
            return i, f"a non-ASCII character, U+{code:04X}{f' {name}' if name else ''}"
        edge = i in (0, len(text) - 1)
        if ch in " \t" and (edge or (strict and ch == "\t")):
            where = "a leading" if i == 0 else "a trailing" if edge else "a"
            return i, f"{where} {'space' if ch == ' ' else 'tab'}"
        if (code < 0x20 and ch != "\t") or code == 0x7F:
            if strict or code == 0:
                return i, f"a control character, U+{code:04X}"
    return None


def check_headers(headers: Mapping[str, str], *, secret: str | None, api_key_env: str) -> None:
    """Check that every header value can be sent, before anything is sent.

    A key pasted with a trailing newline or a smart quote would otherwise fail inside httpx
    with an exception that quotes the header, key and all.

    Args:
        headers: the request's headers.
        secret: the API key the headers carry (None if none).
        api_key_env: the environment variable the key came from (named in the message).

    Raises:
        BackendError: not retryable, naming the variable, the kind of character and its
            position in the key; never the key.
    """
    env = f"${api_key_env}" if api_key_env else "the configured environment variable"
    if secret:
        bad = _bad_character(secret, strict=True)
        if bad is not None:
            index, what = bad
            raise BackendError(
                f"The API key in {env} contains a character HTTP headers cannot carry ({what} "
                f"at position {index + 1} of {len(secret)}); re-export it without it.",
                retryable=False,
            )
    for name, value in headers.items():
        bad = _bad_character(value, strict=False)
        if bad is not None:
            index, what = bad
            raise BackendError(
                f"The {name} header holds a character HTTP headers cannot carry ({what} at "
                f"position {index + 1}); check the backend's settings and {env}.",
                retryable=False,
            )


# --------------------------------------------------------------------------- error bodies


def _decode(content: bytes, response: httpx.Response) -> str:
    try:
        return content.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", errors="replace")


def _server_message(response: httpx.Response, content: bytes) -> str:
    """The human part of an error body: ``{"error": {"message"}}``, ``{"detail"}``, or text."""
    text = _decode(content, response)
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return text
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str | list) and data.get(key):
                return str(data[key])
    return text


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
    content: bytes | None = None,
    also: Iterable[str] = (),
) -> HTTPStatusError:
    """The :class:`HTTPStatusError` for an HTTP error response, naming the fix.

    429 and 5xx (and 408/409/425/529) are retryable and carry ``Retry-After``; 400, 401, 403,
    404 and other client errors are not. ``content`` is the body read so far (default: the
    response's whole body); ``also`` are more strings to redact.
    """
    status = response.status_code
    body = response.content if content is None else content
    detail = redact(_server_message(response, body), secret, also=also)
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


# --------------------------------------------------------------------------- one POST


@dataclass
class _Call:
    """What the messages about one :func:`post_json` call need; everything shown is safe."""

    url: str
    raw_where: str
    secret: str | None
    api_key_env: str
    not_found_hint: str
    timeout: float
    secrets: list[str] = field(default_factory=list)
    # Filled in as the answer arrives, for the messages about a failure half-way.
    status: int | None = None
    received: int = 0
    declared: int | None = None
    encoding: str = ""

    def __post_init__(self) -> None:
        self.secrets = _secret_forms(self.secret, self.url) + _secret_forms(None, self.raw_where)

    @property
    def where(self) -> str:
        return self.shown(self.raw_where)

    def shown(self, text: str, limit: int = 1000) -> str:
        return redact(text, self.secret, limit, also=self.secrets)

    def reason(self, exc: BaseException) -> str:
        return self.shown(str(exc), 200) or type(exc).__name__

    def suggested_base_url(self, new_url: str) -> str:
        """`` (base_url = "…")`` when ``new_url`` is the requested URL at a new base."""
        endpoint = self.url[len(self.raw_where) :] if self.url.startswith(self.raw_where) else ""
        new_url = new_url.split("?", 1)[0].split("#", 1)[0]
        if not endpoint or not new_url.endswith(endpoint) or new_url == endpoint:
            return ""
        return f' (base_url = "{self.shown(new_url[: -len(endpoint)])}")'


def _size(n: int) -> str:
    return f"{n / 2**20:.4g} MB" if n >= 2**20 else f"{n} bytes"


def _deadline(timeout: float) -> float | None:
    if isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0:
        return float(timeout)
    return None


def _same_server(url: httpx.URL, other: httpx.URL) -> bool:
    """Same scheme, host and port, or the same host upgraded from http to https."""
    if url.host != other.host:
        return False
    if url.scheme == other.scheme:
        return url.port == other.port  # None: the scheme's default port
    upgrade = url.scheme == "http" and other.scheme == "https"
    return upgrade and url.port in (None, 80) and other.port in (None, 443)


def _redirect_error(response: httpx.Response, target: httpx.URL, call: _Call) -> BackendError:
    """The error for a redirect :func:`post_json` does not follow."""
    status = response.status_code
    location = response.headers.get("location", "").strip()
    phrase = f"HTTP {status} {response.reason_phrase}".rstrip()
    if not location:
        return BackendError(
            f"{call.where} answered {phrase} without saying where to go. {call.not_found_hint}.",
            retryable=False,
        )
    try:
        new_url = str(target.join(location))
    except (httpx.InvalidURL, ValueError):
        new_url = location
    shown = call.shown(new_url)
    suggestion = call.suggested_base_url(new_url)
    if status in FOLLOWED_REDIRECTS:
        return BackendError(
            f"{call.where} redirects (HTTP {status}) to another server, {shown}; goqa does not "
            "send a request and its API key to another address on a redirect. If that is the "
            f"right server, put its URL in base_url{suggestion}.",
            retryable=False,
        )
    return BackendError(
        f"{call.where} answered {phrase}: the server has moved to {shown}. Put the new URL in "
        f"base_url{suggestion}; goqa does not follow a {status} for a POST (it would resend "
        "the request as a GET, without its body).",
        retryable=False,
    )


def _redirect_loop(chain: list[httpx.URL], call: _Call) -> BackendError:
    hops = " -> ".join(call.shown(str(u), 200) for u in chain)
    n = len(chain) - 1
    return BackendError(
        f"Redirect loop at {call.shown(str(chain[-1]))} — check base_url: {call.where} sent the "
        f"request through {n} redirect{'' if n == 1 else 's'} without answering ({hops}).",
        retryable=False,
    )


async def _read_body(response: httpx.Response, call: _Call) -> bytes:
    """The (decoded) body, at most :data:`MAX_BODY_BYTES`; an error body is only excerpted,
    so it is cut at :data:`MAX_ERROR_BODY_BYTES` instead of failing."""
    excerpt = response.status_code >= 400
    limit = MAX_ERROR_BODY_BYTES if excerpt else MAX_BODY_BYTES
    declared = response.headers.get("content-length", "").strip()
    call.declared = int(declared) if declared.isdigit() else None
    call.encoding = response.headers.get("content-encoding", "")
    if not excerpt and call.declared is not None and call.declared > limit:
        raise _too_large(call, f"it announced {_size(call.declared)}")
    chunks: list[bytes] = []
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        call.received += len(chunk)
        if call.received > limit:
            if excerpt:
                break
            raise _too_large(call, f"goqa stopped reading at {_size(call.received)}")
    return b"".join(chunks)[:limit]


def _too_large(call: _Call, how: str) -> BackendError:
    return BackendError(
        f"{call.where} sent an answer larger than {_size(MAX_BODY_BYTES)} ({how}); a model's "
        "answer is a few kB, so this is not one. Check that base_url is the model server's "
        f"API. {call.not_found_hint}.",
        retryable=False,
    )


async def _exchange(
    client: httpx.AsyncClient | ShardedClient,
    body: dict[str, Any],
    headers: dict[str, str],
    call: _Call,
) -> tuple[httpx.Response, bytes]:
    """POST, following 307/308 to the same server, and read the body.

    Raises:
        BackendError: a redirect not followed, a redirect loop or a body too large.
        httpx.HTTPError, httpx.InvalidURL: as httpx raises them (mapped by the caller).
    """
    target = httpx.URL(call.url)
    chain = [target]
    while True:
        request = client.build_request(
            "POST", target, json=body, headers=headers, timeout=call.timeout
        )
        call.status = None  # no answer yet on this hop
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
        except httpx.RemoteProtocolError as exc:
            # httpx parses a redirect's Location even when not following it.
            if "location header" not in str(exc).lower():
                raise
            raise BackendError(
                f"{call.where} answered with a redirect to an address that is not a URL "
                f"({call.reason(exc)}). {call.not_found_hint}.",
                retryable=False,
            ) from None
        try:
            call.status = response.status_code
            if not 300 <= response.status_code < 400:
                return response, await _read_body(response, call)
            location = response.headers.get("location", "").strip()
            if response.status_code not in FOLLOWED_REDIRECTS or not location:
                raise _redirect_error(response, target, call)
            try:
                following = target.join(location)
            except (httpx.InvalidURL, ValueError):
                raise BackendError(
                    f"{call.where} redirects (HTTP {response.status_code}) to "
                    f"{call.shown(location, 200)!r}, which is not a URL. {call.not_found_hint}.",
                    retryable=False,
                ) from None
            if not _same_server(target, following):
                raise _redirect_error(response, target, call)
            if target.userinfo and not following.userinfo:  # keep a base_url's Basic auth
                following = following.copy_with(userinfo=target.userinfo)
            chain.append(following)
            if following in chain[:-1] or len(chain) > MAX_REDIRECTS + 1:
                raise _redirect_loop(chain, call)
            target = following
        finally:
            await response.aclose()


def _request_failure(exc: BaseException, call: _Call) -> BackendError:
    """The :class:`BackendError` for an exception raised while POSTing (never a raw one)."""
    where, hint = call.where, call.not_found_hint
    env = f"${call.api_key_env}" if call.api_key_env else "the API key variable"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        started = ""
        if call.status is not None:
            of = f" of {_size(call.declared)}" if call.declared is not None else ""
            started = (
                f" It had begun answering (HTTP {call.status}, {_size(call.received)}{of} "
                "so far) but did not finish in time."
            )
        return BackendError(
            f"No answer from {where} within {call.timeout:g}s.{started} Check that the server "
            "is not stuck or overloaded, or raise the backend's timeout in the config.",
            retryable=True,
        )
    if isinstance(exc, httpx.ConnectError):
        return BackendError(
            f"Cannot reach {where} ({call.reason(exc)}). Is the server running? {hint}.",
            retryable=True,
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return BackendError(
            f"base_url {where} is not an http:// or https:// URL ({call.reason(exc)}). {hint}.",
            retryable=False,
        )
    if isinstance(exc, httpx.LocalProtocolError | UnicodeError):
        # Its text quotes the offending header, which may be the key: never shown.
        return BackendError(
            f"goqa could not send its request to {where}: the URL or a header holds something "
            f"HTTP cannot carry. Check base_url and {env}.",
            retryable=False,
        )
    if isinstance(exc, httpx.DecodingError):
        encoding = call.encoding or "compressed"
        return BackendError(
            f"{where} declared its answer {encoding}-encoded (Content-Encoding: {encoding}) but "
            f"the body is not valid {encoding} data ({call.reason(exc)}). A proxy between goqa "
            "and the server may be mangling answers; check it and the server's log.",
            retryable=True,
        )
    if isinstance(exc, httpx.TransportError):
        if call.status is not None:
            of = f" of {_size(call.declared)}" if call.declared is not None else ""
            return BackendError(
                f"Connection to {where} dropped in the middle of the answer (HTTP {call.status}, "
                f"{_size(call.received)}{of} arrived; {call.reason(exc)}). The server may have "
                "crashed or restarted, or a proxy cut the connection: check its log, or raise "
                "max_retries.",
                retryable=True,
            )
        return BackendError(
            f"Connection to {where} dropped before an answer ({call.reason(exc)}). The server "
            "may have crashed or restarted: check its log, or raise max_retries.",
            retryable=True,
        )
    if isinstance(exc, httpx.InvalidURL):
        return BackendError(
            f"base_url {where} is not a valid URL ({call.reason(exc)}). {hint}.",
            retryable=False,
        )
    return BackendError(
        f"The request to {where} failed ({type(exc).__name__}: {call.reason(exc)}). Check the "
        "server's log, or raise max_retries.",
        retryable=True,
    )


def _describe_json(data: Any) -> str:
    if data is None:
        return "JSON null"
    if isinstance(data, list):
        return f"a JSON list of {len(data)} item{'' if len(data) == 1 else 's'}"
    if isinstance(data, bool):
        return f"JSON {str(data).lower()}"
    return f"a JSON {'string' if isinstance(data, str) else 'number'}"


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

    Args:
        client: the backend's client (see :func:`new_client`), or any ``httpx.AsyncClient``.
        url: the endpoint; a ``user:password@`` in it is used for Basic auth, never shown.
        body: the JSON body.
        headers: the request's headers (checked by :func:`check_headers` before sending).
        timeout: seconds for the whole request: connect, send, wait and the whole body,
            307/308 redirects included.
        where: how messages name the server (usually the base_url; shown redacted).
        secret: the API key, removed from every message.
        api_key_env: the environment variable the key came from, named in messages.
        model: the model, named in messages.
        not_found_hint: what to check when the server is not the API it should be.

    Returns:
        The JSON object the server answered (any content type, if the body is JSON).

    Raises:
        BackendError: for every failure, with a safe message. Retryable: timeouts (the
            deadline too), unreachable or dropped connections (before or in the middle of the
            body), malformed or non-object JSON, HTML pages and broken compression. Not
            retryable: a key or header HTTP cannot carry, redirects not followed (301/302/303,
            307/308 to another server), redirect loops, bodies over :data:`MAX_BODY_BYTES`,
            invalid URLs. HTTP statuses are mapped by :func:`http_error`.
    """
    call = _Call(url, where, secret, api_key_env, not_found_hint, timeout)
    check_headers(headers, secret=secret, api_key_env=api_key_env)
    try:
        async with asyncio.timeout(_deadline(timeout)):
            response, content = await _exchange(client, body, headers, call)
    except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
        raise _request_failure(exc, call) from None
    if response.status_code >= 400:
        raise http_error(
            response,
            where=call.where,
            secret=secret,
            api_key_env=api_key_env,
            model=model,
            not_found_hint=not_found_hint,
            content=content,
            also=call.secrets,
        )
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the stack
        text = _decode(content, response)
        if "html" in response.headers.get("content-type", "") or text.lstrip()[:1] == "<":
            raise BackendError(
                f"{call.where} answered with an HTML page instead of JSON "
                f"({call.shown(text, 120)}). {not_found_hint}.",
                retryable=True,
            ) from None
        if not text.strip():
            raise BackendError(
                f"{call.where} answered HTTP {response.status_code} with an empty body instead "
                f"of JSON. Is base_url the model server's API? {not_found_hint}, or look at the "
                "server's log.",
                retryable=True,
            ) from None
        raise BackendError(
            f"Malformed JSON from {call.where}: {call.shown(text, 120)!r}. Is base_url the "
            f"model server's API? {not_found_hint}, or look at the server's log.",
            retryable=True,
        ) from None
    if not isinstance(data, dict):
        raise BackendError(
            f"{call.where} answered with {_describe_json(data)} instead of a JSON object "
            f"({call.shown(_decode(content, response), 120)!r}). Is base_url the model "
            f"server's API? {not_found_hint}, or look at the server's log.",
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
