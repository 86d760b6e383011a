"""The one interface every model backend implements, and the pieces they share.

A backend takes a rendered :class:`~core.prompts.Prompt` and returns an :class:`Answer`: a
probability vector over the K option letters plus diagnostics. Backends do one attempt per
call; :func:`ask_with_retries` adds the retry policy (exponential backoff with jitter, honouring
``Retry-After``) that the runner and single asks share.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from core.prompts import Prompt

ESTIMATORS = ("logprobs", "logits", "sampling")


@dataclass(frozen=True)
class Answer:
    """A model's distribution over a question's options.

    Attributes:
        probs: (K,) probabilities over the option letters, summing to 1 (all zero only when
            no probability mass at all landed on a letter: see ``off_option_mass``).
        off_option_mass: probability mass (logprob estimators) or share of samples (sampling)
            that fell outside the option letters.
        estimator: ``logits`` (exact, whole vocabulary), ``logprobs`` (top-k list) or
            ``sampling`` (counts / n).
        samples: samples drawn (sampling only; 0 otherwise).
        unparseable: samples whose text named no option (sampling only).
        truncated: some letters were absent from a top-k list, so their probability is a
            lower bound (treated as 0).
        top_tokens: the most likely raw next tokens with their probabilities.
        prompt_tokens, completion_tokens: token usage when the server reports it.
        latency_s: wall time of the request(s).
        note: a short human-readable remark (e.g. "server returned no logprobs: sampled").
    """

    probs: np.ndarray
    off_option_mass: float
    estimator: str
    samples: int = 0
    unparseable: int = 0
    truncated: bool = False
    top_tokens: tuple[tuple[str, float], ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready values (numpy floats converted)."""
        return {
            "probs": [float(x) for x in self.probs],
            "off_option_mass": float(self.off_option_mass),
            "estimator": self.estimator,
            "samples": int(self.samples),
            "unparseable": int(self.unparseable),
            "truncated": bool(self.truncated),
            "top_tokens": [[t, float(p)] for t, p in self.top_tokens],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": float(self.latency_s),
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(
            probs=np.asarray(data["probs"], dtype=np.float64),
            off_option_mass=float(data.get("off_option_mass", 0.0)),
            estimator=str(data.get("estimator", "logprobs")),
            samples=int(data.get("samples", 0)),
            unparseable=int(data.get("unparseable", 0)),
            truncated=bool(data.get("truncated", False)),
            top_tokens=tuple((str(t), float(p)) for t, p in data.get("top_tokens", [])),
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            latency_s=float(data.get("latency_s", 0.0)),
            note=str(data.get("note", "")),
        )


class BackendError(Exception):
    """A request that failed; the message is safe to show (it never carries a secret).

    Attributes:
        retryable: a later attempt may succeed (429, 5xx, timeout, dropped connection,
            malformed body).
        retry_after: seconds the server asked us to wait, if it said.
    """

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class MissingDependencyError(BackendError):
    """An optional dependency (the ``local`` extra) is not installed."""


PartialCallback = Callable[[Answer], None]


class Backend(Protocol):
    """What the runner, the CLI and the TUI need of a backend."""

    name: str
    kind: str
    model: str
    base_url: str
    mode: str

    def request_params(self) -> dict[str, Any]:
        """Every parameter that changes the answer (for the response cache key and manifest)."""
        ...

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        """One attempt at a distribution; ``on_partial`` receives growing estimates (sampling)."""
        ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- letter folding

_LETTER_TOKEN = re.compile(r"^\s*\(?\s*([A-Za-z])\s*[\).:]?\s*$")


def token_letter(token: str, letters: tuple[str, ...]) -> str | None:
    """The option letter a raw token stands for: ``A``, `` A``, ``A)``, ``(A``… -> ``A``.

    Only upper-case letters count (a lower-case ``a`` is a word, not an option).
    """
    match = _LETTER_TOKEN.match(token)
    if not match:
        return None
    letter = match.group(1)
    return letter if letter in letters else None


def fold_logprobs(
    candidates: Iterable[tuple[str, float]],
    letters: tuple[str, ...],
    complete: bool = False,
) -> tuple[np.ndarray, float, bool, tuple[tuple[str, float], ...]]:
    """Fold next-token log-probabilities into a distribution over option letters.

    Args:
        candidates: (token, logprob) pairs; duplicates of a token are counted once.
            A logprob of -9999 or lower (OpenAI's "not in the top list") counts as 0.
        letters: the option letters in order.
        complete: the candidates cover the whole vocabulary (no truncation possible).

    Returns:
        (probs over letters renormalised to sum 1, off-option mass, truncated, top tokens
        sorted by probability).
    """
    seen: dict[str, float] = {}
    for token, logprob in candidates:
        if token in seen or logprob is None or not math.isfinite(logprob) or logprob <= -9999:
            continue
        seen[token] = float(logprob)
    mass = np.zeros(len(letters))
    total = 0.0
    for token, logprob in seen.items():
        p = math.exp(logprob)
        total += p
        letter = token_letter(token, letters)
        if letter is not None:
            mass[letters.index(letter)] += p
    on = float(mass.sum())
    # Off-option mass: of the probability the list covers, plus whatever it does not cover.
    off = max(0.0, 1.0 - on) if not complete else max(0.0, (total - on) / total if total else 1.0)
    truncated = not complete and bool(np.any(mass == 0))
    probs = mass / on if on > 0 else mass
    top = tuple(sorted(((t, math.exp(lp)) for t, lp in seen.items()), key=lambda x: -x[1])[:20])
    return probs, min(off, 1.0), truncated, top


# --------------------------------------------------------------------------- retries


@dataclass
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (full jitter, Retry-After wins)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay * 4)
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return self.rng.uniform(cap / 2, cap)


async def ask_with_retries(
    backend: Backend,
    prompt: Prompt,
    policy: RetryPolicy | None = None,
    on_partial: PartialCallback | None = None,
    on_retry: Callable[[int, BackendError, float], None] | None = None,
) -> Answer:
    """``backend.ask`` with retries on retryable errors.

    Raises:
        BackendError: the last error once retries are exhausted, or a non-retryable one.
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        try:
            return await backend.ask(prompt, on_partial)
        except BackendError as exc:
            if not exc.retryable or attempt >= policy.max_retries:
                raise
            wait = policy.delay(attempt, exc.retry_after)
            if on_retry:
                on_retry(attempt + 1, exc, wait)
            attempt += 1
            await asyncio.sleep(wait)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form; dates are ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


# --------------------------------------------------------------------------- sampling

# "B", "B)", "(B)", "B.", "**B**" at the very start of the text: the prefill case, where the
# model continues "... my answer would be (" with "B) Strongly agree".
_LEADING_LETTER = re.compile(r"^[\s*\"'`]*\(?\s*([A-Z])\s*(?:[\).:,\]*\"'`]|$)")
_PAREN_LETTER = re.compile(r"\(([A-Z])\)")
_NAMED_LETTER = re.compile(r"\b(?i:answer|option|choice)\s*(?:is|would be|:)?\s*\(?([A-Z])\b")


def parse_letter(text: str, letters: tuple[str, ...]) -> str | None:
    """The option letter a sampled answer names, or None if it names none.

    Tries, in order: a letter at the very start (``B``, ``B) text``, ``(B)``, ``**B**``), then a
    parenthesised letter anywhere (``I would say (B)``), then ``answer is B``. Letters that
    are not options of this question do not count.

    Args:
        text: the sampled completion text.
        letters: the question's option letters.

    Returns:
        The letter, e.g. ``"B"``, or None.
    """
    for pattern in (_LEADING_LETTER, _PAREN_LETTER, _NAMED_LETTER):
        for match in pattern.finditer(text):
            if match.group(1) in letters:
                return match.group(1)
            if pattern is _LEADING_LETTER:
                break
    return None


@dataclass(frozen=True)
class Sample:
    """One sampled completion: its text and the token usage the server reported."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _add_tokens(total: int | None, extra: int | None) -> int | None:
    return total if extra is None else (total or 0) + extra


async def collect_samples(
    draw: Callable[[], Awaitable[Sample]],
    n: int,
    letters: tuple[str, ...],
    on_partial: PartialCallback | None = None,
    *,
    note: str = "",
    started: float | None = None,
) -> Answer:
    """Estimate a distribution from ``n`` concurrent samples (counts / parsed samples).

    ``draw`` is called ``n`` times at once; it should bound its own concurrency (a backend
    holds a semaphore around each request). ``on_partial`` receives a growing estimate after
    every sample that arrives.

    Args:
        draw: one request returning a :class:`Sample`; raises :class:`BackendError`.
        n: samples to draw.
        letters: the option letters.
        on_partial: called with the estimate so far after each arrived sample.
        note: the answer's note; ``{n}`` is replaced by the number of samples received.
        started: ``time.perf_counter()`` at the start of the ask (defaults to now).

    Returns:
        An ``Answer`` with estimator ``sampling``: probs = counts over samples that named an
        option, off_option_mass = unparseable share.

    Raises:
        BackendError: at once on a non-retryable failure (the other requests are cancelled);
            a retryable one when more than half of the samples failed.
    """
    started = time.perf_counter() if started is None else started
    counts = np.zeros(len(letters))
    received = unparseable = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    failures: list[BackendError] = []

    def estimate(extra_note: str = "") -> Answer:
        parsed = counts.sum()
        text = note.replace("{n}", str(received)) + extra_note
        return Answer(
            probs=counts / parsed if parsed else counts.copy(),
            off_option_mass=unparseable / received if received else 0.0,
            estimator="sampling",
            samples=received,
            unparseable=unparseable,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
            note=text,
        )

    tasks = [asyncio.ensure_future(draw()) for _ in range(n)]
    try:
        for next_done in asyncio.as_completed(tasks):
            try:
                sample = await next_done
            except BackendError as exc:
                if not exc.retryable:
                    raise
                failures.append(exc)
                continue
            received += 1
            letter = parse_letter(sample.text, letters)
            if letter is None:
                unparseable += 1
            else:
                counts[letters.index(letter)] += 1
            prompt_tokens = _add_tokens(prompt_tokens, sample.prompt_tokens)
            completion_tokens = _add_tokens(completion_tokens, sample.completion_tokens)
            if on_partial is not None:
                on_partial(estimate())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if failures and (received == 0 or len(failures) * 2 > n):
        waits = [e.retry_after for e in failures if e.retry_after is not None]
        raise BackendError(
            f"{len(failures)} of {n} samples failed; last error: {failures[-1]}",
            retryable=True,
            retry_after=max(waits) if waits else None,
        )
    return estimate(f"; {len(failures)} of {n} samples failed" if failures else "")
