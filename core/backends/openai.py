"""OpenAI-compatible servers: vLLM, SGLang, llama.cpp's llama-server, Ollama, LM Studio, OpenAI.

Two modes:

* ``completions`` POSTs the whole Human/Assistant prompt (ending in ``(``) to
  ``{base_url}/completions`` and reads the top-20 next-token log-probabilities.
* ``chat`` POSTs to ``{base_url}/chat/completions`` with the assistant turn prefilled
  (vLLM's ``continue_final_message``); a server that rejects the prefill gets the chat variant
  of the prompt instead (a single user message asking for the letter only).

Whatever the server cannot do is learnt once per backend instance and remembered: a cap on the
number of log-probabilities (vLLM ``--max-logprobs``, TGI, OpenAI's legacy endpoint), no
assistant prefill, or no log-probabilities at all (LM Studio, old Ollama), in which case the
distribution is estimated from ``cfg.samples`` sampled answers.

This module also holds the HTTP plumbing the Anthropic backend shares: :func:`post_json` and
the mapping of HTTP failures to :class:`~core.backends.base.BackendError`.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import math
import re
import ssl
import time
from typing import Any

import httpx
import numpy as np

from core.backends.base import (
    Answer,
    BackendError,
    PartialCallback,
    Sample,
    collect_samples,
    fold_logprobs,
    parse_retry_after,
)
from core.config import BackendConfig, ConfigError
from core.prompts import Prompt

TOP_LOGPROBS = 20
"""Log-probabilities asked for first (the most OpenAI's chat endpoint allows)."""
CAPPED_LOGPROBS = 5
"""Asked for when a server refuses ``TOP_LOGPROBS`` without saying its own limit."""

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
NOT_FOUND_HINT = "Check base_url (should end in /v1, e.g. http://localhost:8000/v1) and model"


# --------------------------------------------------------------------------- HTTP plumbing


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~30 ms per client; every backend's own client shares one.
    return httpx.create_ssl_context()


NO_LOGPROBS_AFTER = 3  # answers without log-probabilities before a server is sampled for good

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


# --------------------------------------------------------------------------- parsing

Position = tuple[str | None, list[tuple[str, float]]]
"""One generated position: (the token chosen, its top (token, logprob) candidates)."""

_OPENER = re.compile(r"^\s*[\(\[]\s*$")
_LOGPROB_CAP = re.compile(r"(?i)\bmax(?:imum)?\b[^0-9]{0,40}?(\d+)")


def _content_positions(content: list[Any]) -> list[Position]:
    positions: list[Position] = []
    for entry in content:
        tops = entry.get("top_logprobs") or []
        positions.append(
            (entry.get("token"), [(str(t["token"]), float(t["logprob"])) for t in tops])
        )
    return positions


def _prob_positions(entries: list[Any]) -> list[Position]:
    positions: list[Position] = []
    for entry in entries:
        if "probs" in entry:  # older llama-server: probabilities, not log-probabilities
            cands = [
                (str(p["tok_str"]), math.log(p["prob"]) if p["prob"] > 0 else -math.inf)
                for p in entry["probs"]
            ]
        else:
            cands = [(str(t["token"]), float(t["logprob"])) for t in entry.get("top_logprobs", [])]
        positions.append((entry.get("content", entry.get("token")), cands))
    return positions


def parse_positions(data: dict[str, Any]) -> list[Position] | None:
    """The top log-probabilities per generated position, in any shape servers use.

    Shapes: ``choices[0].logprobs.content[i].top_logprobs`` (chat; llama-server also on
    /completions), ``choices[0].logprobs.top_logprobs[i]`` as a token->logprob dict
    (legacy completions: OpenAI, vLLM, SGLang) and ``completion_probabilities[i].probs``
    (older llama-server, probabilities) or ``.top_logprobs``.

    Returns:
        The positions, or None when the response carries no log-probabilities at all.

    Raises:
        BackendError: retryable, when log-probabilities are present but malformed.
    """
    try:
        choices = data.get("choices")
        logprobs = None
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            logprobs = choices[0].get("logprobs")
        positions: list[Position] = []
        if isinstance(logprobs, dict):
            if isinstance(logprobs.get("content"), list):
                positions = _content_positions(logprobs["content"])
            elif isinstance(logprobs.get("top_logprobs"), list):
                tokens = logprobs.get("tokens") or []
                positions = [
                    (
                        tokens[i] if i < len(tokens) else None,
                        [(str(k), float(v)) for k, v in d.items()],
                    )
                    for i, d in enumerate(logprobs["top_logprobs"])
                    if isinstance(d, dict)
                ]
        if not positions and isinstance(data.get("completion_probabilities"), list):
            positions = _prob_positions(data["completion_probabilities"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackendError(
            f"Malformed log-probabilities in the server's answer ({type(exc).__name__}).",
            retryable=True,
        ) from None
    if not positions or not positions[0][1]:
        return None
    return positions


def fold_positions(
    positions: list[Position], letters: tuple[str, ...]
) -> tuple[np.ndarray, float, bool, tuple[tuple[str, float], ...]]:
    """Fold the first position into letters; if the chosen first token is a bare ``(`` and a
    second position exists, add P(``(``) x the second position's letter distribution.

    Chat models asked for "(A)" without a prefill often spend their first token on ``(``
    (Llama-3 tokenises ``(A`` as two tokens), so the letter sits one position later.
    """
    chosen, first = positions[0]
    probs, off, truncated, top = fold_logprobs(first, letters)
    if len(positions) < 2 or chosen is None or not _OPENER.match(chosen):
        return probs, off, truncated, top
    opener = next((lp for tok, lp in first if tok == chosen), None)
    if opener is None or opener <= -9999:
        return probs, off, truncated, top
    probs2, off2, _, _ = fold_logprobs(positions[1][1], letters)
    mass = probs * (1.0 - off) + math.exp(opener) * probs2 * (1.0 - off2)
    on = float(mass.sum())
    return (
        mass / on if on > 0 else mass,
        min(1.0, max(0.0, 1.0 - on)),
        bool(np.any(mass == 0)),
        top,
    )


def sample_text(data: dict[str, Any]) -> str:
    """The generated text of a completions or chat response (``""`` if it carries none)."""
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        message = choice.get("message")
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, list):  # content parts
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
        return str(choice.get("text") or "")
    return str(data.get("content") or "")


def _capped_logprobs(detail: str, asked: int) -> int | None:
    """The smaller log-probability count to retry with after a 400 about the count."""
    if "logprob" not in detail.lower() and "top_n_tokens" not in detail.lower():
        return None
    match = _LOGPROB_CAP.search(detail)
    cap = int(match.group(1)) if match else CAPPED_LOGPROBS
    if not 1 <= cap < asked:
        cap = CAPPED_LOGPROBS
    return cap if cap < asked else None


# --------------------------------------------------------------------------- the backend


class OpenAIBackend:
    """A backend for any OpenAI-compatible server.

    Args:
        cfg: the backend's configuration (``mode`` is ``completions`` or ``chat``).
        client: an HTTP client to share; one is made (and closed by :meth:`aclose`) if None.
    """

    kind = "openai"

    def __init__(self, cfg: BackendConfig, client: httpx.AsyncClient | None = None):
        mode = cfg.mode or "completions"
        if mode not in ("completions", "chat"):
            raise ValueError(f"OpenAI backend mode must be 'completions' or 'chat', not {mode!r}.")
        self.cfg = cfg
        self.name = cfg.name
        self.model = cfg.model
        self.base_url = cfg.base_url.rstrip("/")
        self.mode = mode
        self._owns_client = client is None
        self._client = client or new_client(cfg)
        self._slots = asyncio.Semaphore(max(1, cfg.concurrency))
        # Learnt from the server, once per instance.
        self._top_logprobs = TOP_LOGPROBS
        self._prefill = mode == "chat"
        self._no_logprobs = False
        self._seen_logprobs = False
        self._logprob_misses = 0

    # -- Backend protocol

    def request_params(self) -> dict[str, Any]:
        """Every parameter that changes the answer, as this instance currently asks.

        Reflects what the instance has learnt (a log-probability cap, no prefill, no
        log-probabilities), so it can change after the first :meth:`ask`. Never a secret.
        """
        params: dict[str, Any] = {"mode": self.mode, "model": self.model}
        if self._no_logprobs:
            params.update(
                estimator="sampling",
                samples=self.cfg.samples,
                temperature=self.cfg.temperature,
                max_tokens=self.cfg.max_tokens,
            )
        else:
            params.update(
                estimator="logprobs",
                logprobs=self._top_logprobs,
                temperature=0,
                max_tokens=self._logprob_max_tokens(self._prefill),
            )
        if self.mode == "chat":
            params["prefill"] = self._prefill
        return params

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        """One attempt: fold the next-token log-probabilities, or sample if the server has none.

        Raises:
            BackendError: the request failed (see :func:`post_json` for retryability).
        """
        started = time.perf_counter()
        if self._no_logprobs:
            return await self._ask_sampling(prompt, on_partial, started)
        data, top_n, prefill = await self._request_logprobs(prompt)
        positions = parse_positions(data)
        if positions is None:
            if self._seen_logprobs:
                raise BackendError(
                    f"{self.base_url} returned no log-probabilities this time.", retryable=True
                )
            # A server that never returns them is sampled from now on; one miss alone could be
            # a glitch, so only a third miss (with no success yet) makes it permanent.
            self._logprob_misses += 1
            self._no_logprobs = self._logprob_misses >= NO_LOGPROBS_AFTER
            return await self._ask_sampling(prompt, on_partial, started)
        self._seen_logprobs = True
        probs, off, truncated, top = fold_positions(positions, prompt.letters)
        notes = []
        if top_n < TOP_LOGPROBS:
            notes.append(f"server caps logprobs at {top_n}")
        if self.mode == "chat" and not prefill:
            notes.append("server refused the assistant prefill: asked for the letter instead")
        pt, ct = usage_tokens(data, "prompt_tokens", "completion_tokens")
        return Answer(
            probs=probs,
            off_option_mass=off,
            estimator="logprobs",
            truncated=truncated,
            top_tokens=top,
            prompt_tokens=pt,
            completion_tokens=ct,
            latency_s=time.perf_counter() - started,
            note="; ".join(notes),
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this backend made it."""
        if self._owns_client:
            await self._client.aclose()

    async def generate(self, text: str, max_tokens: int = 512) -> str:
        """Free text for a user message at temperature 0 (used to translate questions).

        Uses the chat endpoint in both modes: servers that serve completions serve chat too.
        """
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        return sample_text(await self._post("/chat/completions", body))

    # -- requests

    def _api_key(self) -> str | None:
        try:
            return self.cfg.api_key()
        except ConfigError as exc:
            raise BackendError(str(exc), retryable=False) from None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self._api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with self._slots:
            return await post_json(
                self._client,
                f"{self.base_url}{path}",
                body,
                headers=headers,
                timeout=self.cfg.timeout,
                where=self.base_url,
                secret=key,
                api_key_env=self.cfg.api_key_env,
                model=self.model,
            )

    def _path(self) -> str:
        return "/completions" if self.mode == "completions" else "/chat/completions"

    def _logprob_max_tokens(self, prefill: bool) -> int:
        # Without a prefill the letter may come one token after a "(" (see fold_positions).
        return 1 if self.mode == "completions" or prefill else 2

    def _body(self, prompt: Prompt, prefill: bool) -> dict[str, Any]:
        if self.mode == "completions":
            return {"model": self.model, "prompt": prompt.text}
        if prefill:
            return {
                "model": self.model,
                "messages": [
                    {"role": "user", "content": prompt.user},
                    {"role": "assistant", "content": prompt.answer_prefix},
                ],
                "continue_final_message": True,
                "add_generation_prompt": False,
            }
        return {"model": self.model, "messages": [{"role": "user", "content": prompt.chat_user()}]}

    def _logprob_body(self, prompt: Prompt, top_n: int, prefill: bool) -> dict[str, Any]:
        body = self._body(prompt, prefill)
        body.update(max_tokens=self._logprob_max_tokens(prefill), temperature=0)
        if self.mode == "completions":
            body["logprobs"] = top_n
        else:
            body.update(logprobs=True, top_logprobs=top_n)
        return body

    async def _request_logprobs(self, prompt: Prompt) -> tuple[dict[str, Any], int, bool]:
        """POST for log-probabilities, stepping down on a 400 about the logprob count and, in
        chat mode, dropping the prefill on another 400. A step is remembered only once a
        request made with it succeeds, so a prompt that is simply too long changes nothing.
        """
        top_n, prefill = self._top_logprobs, self._prefill
        while True:
            try:
                data = await self._post(self._path(), self._logprob_body(prompt, top_n, prefill))
            except HTTPStatusError as exc:
                if exc.status not in (400, 422):
                    raise
                capped = _capped_logprobs(exc.detail, top_n)
                if capped is not None:
                    top_n = capped
                elif prefill:
                    prefill = False
                else:
                    raise
                continue
            self._top_logprobs, self._prefill = top_n, prefill
            return data, top_n, prefill

    async def _ask_sampling(
        self, prompt: Prompt, on_partial: PartialCallback | None, started: float
    ) -> Answer:
        body = self._body(prompt, self._prefill)
        body.update(max_tokens=self.cfg.max_tokens, temperature=self.cfg.temperature)

        async def draw() -> Sample:
            data = await self._post(self._path(), body)
            pt, ct = usage_tokens(data, "prompt_tokens", "completion_tokens")
            return Sample(sample_text(data), pt, ct)

        return await collect_samples(
            draw,
            max(1, self.cfg.samples),
            prompt.letters,
            on_partial,
            note="server returned no logprobs: estimated from {n} samples",
            started=started,
        )
