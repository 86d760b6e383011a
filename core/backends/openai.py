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

The HTTP plumbing (clients, the one POST, error mapping, redaction) is
:mod:`core.backends.http`, shared with the Anthropic backend.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from typing import Any

import httpx
import numpy as np

from core.backends.base import (
    Answer,
    BackendError,
    InvalidAnswerError,
    PartialCallback,
    Sample,
    TextRequest,
    collect_samples,
    draw_texts,
    fold_logprobs,
    token_letter,
)
from core.backends.http import (
    HTTPStatusError,
    new_client,
    post_json,
    redact,
    scrub_answer,
    usage_tokens,
)
from core.config import BackendConfig, ConfigError
from core.errors import InvalidValueError
from core.prompts import Prompt

TOP_LOGPROBS = 20
"""Log-probabilities asked for first (the most OpenAI's chat endpoint allows)."""
CAPPED_LOGPROBS = 5
"""Asked for when a server refuses ``TOP_LOGPROBS`` without saying its own limit."""

NO_LOGPROBS_AFTER = 3  # answers without log-probabilities before a server is sampled for good


# --------------------------------------------------------------------------- parsing

Position = tuple[str | None, list[tuple[str, float]]]
"""One generated position: (the token chosen, its top (token, logprob) candidates)."""

_OPENER = re.compile(r"^\s*[\(\[]\s*$")
_LOGPROB_CAP = re.compile(r"(?i)\bmax(?:imum)?\b[^0-9]{0,40}?(\d+)")


def _log_prob(token: str, p: Any) -> float:
    """log(p) for a probability a server reported (older llama-server).

    Raises:
        InvalidAnswerError: ``p`` is not a number, or not between 0 and 1.
    """
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1 + 1e-9:
        raise InvalidAnswerError(
            f"The server returned an impossible probability {p!r} for token {token!r} "
            "(probabilities are numbers between 0 and 1); its answer was not used."
        )
    return math.log(p) if p > 0 else -math.inf


def _content_positions(content: list[Any]) -> list[Position]:
    positions: list[Position] = []
    for entry in content:
        tops = entry.get("top_logprobs") or []
        positions.append(
            # Log-probabilities pass as given: checked_logprob rejects what is not a number.
            (entry.get("token"), [(str(t["token"]), t["logprob"]) for t in tops])
        )
    return positions


def _prob_positions(entries: list[Any]) -> list[Position]:
    positions: list[Position] = []
    for entry in entries:
        if "probs" in entry:  # older llama-server: probabilities, not log-probabilities
            cands = [
                (str(p["tok_str"]), _log_prob(str(p["tok_str"]), p["prob"])) for p in entry["probs"]
            ]
        else:
            cands = [(str(t["token"]), t["logprob"]) for t in entry.get("top_logprobs", [])]
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
                        [(str(k), v) for k, v in d.items()],
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
        if choices == [] and "completion_probabilities" not in data:
            raise InvalidAnswerError(
                "The server answered with an empty list of choices (no completion at all); "
                "the answer was not used. Check the server's log.",
                retryable=True,
            )
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


def ignored_prefill(positions: list[Position], letters: tuple[str, ...]) -> bool:
    """Whether a reply to a prefilled "... my answer would be (" turn started a new answer.

    A server that honours the prefill continues right after the ``(``: the next token is a
    letter. Some accept ``continue_final_message`` and ignore it (llama-cpp-python's server
    does): the reply then opens with ``(``, ``The``, ``Your``… as a fresh turn. Detected when
    the chosen first token is not an option letter (a bracket or a word), or when a bracket
    is at least as likely as every letter together.
    """
    chosen, first = positions[0]
    if chosen is not None and _OPENER.match(chosen):
        return True
    probs = {tok: math.exp(lp) for tok, lp in first if math.isfinite(lp) and lp > -9999}
    opener = sum(p for tok, p in probs.items() if _OPENER.match(tok))
    on_letters = sum(p for tok, p in probs.items() if token_letter(tok, letters) is not None)
    if chosen is not None and token_letter(chosen, letters) is None:
        return True  # after "(" an honoured prefill continues with a letter
    return opener > 0 and opener >= on_letters


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
            raise InvalidValueError(
                f"OpenAI backend mode must be 'completions' or 'chat', not {mode!r}."
            )
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
        """Every configured parameter that decides the answer (the response cache key and the
        run manifest use it). Never a secret.

        It does not change with what the instance learns from the server (a log-probability
        cap, a refused prefill, no log-probabilities: see :meth:`learnt`): for one server
        and one configuration that learning always ends the same way, and a key that moved
        with it would miss, in the next process, every answer cached after the learning —
        paying for them twice. Each answer's ``estimator`` and ``note`` say how it was made.
        """
        params: dict[str, Any] = {
            "mode": self.mode,
            "model": self.model,
            "logprobs": TOP_LOGPROBS,
            "logprob_temperature": 0,
            "logprob_max_tokens": self._logprob_max_tokens(self.mode == "chat"),
            # Used when the server has no log-probabilities:
            "samples": self.cfg.samples,
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
        }
        if self.mode == "chat":
            params["prefill"] = True
        return params

    def learnt(self) -> dict[str, Any]:
        """What this instance has learnt from the server so far."""
        learnt: dict[str, Any] = {
            "estimator": "sampling" if self._no_logprobs else "logprobs",
            "logprobs": self._top_logprobs,
        }
        if self.mode == "chat":
            learnt["prefill"] = self._prefill
        return learnt

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
                    f"{redact(self.base_url)} returned no log-probabilities this time.",
                    retryable=True,
                )
            # A server that never returns them is sampled from now on; one miss alone could be
            # a glitch, so only a third miss (with no success yet) makes it permanent.
            self._logprob_misses += 1
            self._no_logprobs = self._logprob_misses >= NO_LOGPROBS_AFTER
            return await self._ask_sampling(prompt, on_partial, started)
        self._seen_logprobs = True
        probs, off, truncated, top = fold_positions(positions, prompt.letters)
        notes = []
        suspect = ""
        if top_n < TOP_LOGPROBS:
            notes.append(f"server caps logprobs at {top_n}")
        if self.mode == "chat" and not prefill:
            notes.append("server refused the assistant prefill: asked for the letter instead")
        if prefill and ignored_prefill(positions, prompt.letters):
            notes.append("server ignored the assistant prefill: folded '(' + letter")
            first = positions[0][0]
            suspect = (
                "the server accepted the assistant prefill but ignored it (its reply began "
                f"anew, with {first!r}, instead of an option letter), so this is not the "
                'paper\'s measurement; use mode = "completions" with this server'
            )
        pt, ct = usage_tokens(data, "prompt_tokens", "completion_tokens")
        answer = Answer(
            probs=probs,
            off_option_mass=off,
            estimator="logprobs",
            truncated=truncated,
            top_tokens=top,
            prompt_tokens=pt,
            completion_tokens=ct,
            latency_s=time.perf_counter() - started,
            note="; ".join(notes),
            suspect=suspect,
        )
        return scrub_answer(answer, self._api_key(), self.cfg.base_url)

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

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        """``request.n`` chat replies, one request each (servers differ on ``n``), seeds
        ``request.seed + i``. ``json_schema`` is not sent (servers differ on
        ``response_format``); the parse judges the reply.

        Raises:
            BackendError: as :func:`post_json`; a non-retryable failure at once.
        """

        async def one(i: int) -> Sample:
            body: dict[str, Any] = {
                "model": self.model,
                "messages": [{"role": "user", "content": request.user}],
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "seed": request.seed + i,
            }
            try:
                data = await self._post("/chat/completions", body)
            except HTTPStatusError as exc:
                if exc.status != 404 or self.mode == "chat":
                    raise
                raise BackendError(
                    f"{redact(self.base_url)} has no /chat/completions endpoint (HTTP 404), and "
                    "the verbalized and free-text estimators read written chat replies. Use "
                    "first-token, order-averaged or prior-corrected with this server, or a "
                    "server that serves chat."
                ) from None
            choices = data.get("choices")
            if not isinstance(choices, list) or not choices:
                raise BackendError(
                    f"{redact(self.base_url)} answered with no choices (no reply at all).",
                    retryable=True,
                )
            pt, ct = usage_tokens(data, "prompt_tokens", "completion_tokens")
            return Sample(sample_text(data), pt, ct)

        return await draw_texts(one, request.n)

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
        # In chat mode the letter may come one token after a "(" (see fold_positions): without
        # a prefill, and with one that the server silently ignores (see ignored_prefill).
        return 1 if self.mode == "completions" else 2

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
