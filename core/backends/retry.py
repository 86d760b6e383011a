"""Retries: exponential backoff with full jitter, honouring a server's ``Retry-After``.

Backends make one attempt per call; :func:`ask_with_retries` is the retry policy that the
runner, single asks and the connection check share. A ``Retry-After`` is honoured up to
:attr:`RetryPolicy.max_retry_after`; a server that asks for longer is told so in the error
the user sees, with the fix.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from core.backends.base import (
    DEFAULT_MAX_OFF_OPTION,
    Answer,
    Backend,
    BackendError,
    PartialCallback,
    validate_answer,
)
from core.config import BackendConfig
from core.prompts import Prompt


@dataclass
class RetryPolicy:
    """How often and how long to wait between tries.

    Attributes:
        max_retries: tries after the first.
        base_delay: the backoff's first cap, in seconds; it doubles every try.
        max_delay: the largest backoff, in seconds.
        rng: draws the jitter.
        max_retry_after: the longest a server's ``Retry-After`` is honoured, in seconds; a
            longer one is cut to this and the error says so (:meth:`retry_after_note`).
    """

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the server's ``Retry-After`` (at
        most :attr:`max_retry_after`), else exponential backoff with full jitter."""
        if retry_after is not None and not math.isnan(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after)
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return self.rng.uniform(cap / 2, cap)

    def retry_after_note(self, retry_after: float | None) -> str:
        """What to tell the user when a server asks to wait longer than goqa will ("" if not),
        e.g. "the server asked to wait 86400 s (24 h); goqa waits at most 60 s between tries —
        lower concurrency or try later"."""
        if retry_after is None or math.isnan(retry_after) or retry_after <= self.max_retry_after:
            return ""
        return (
            f"the server asked to wait {_duration(retry_after)}, longer than goqa waits between "
            f"tries (at most {self.max_retry_after:g} s), so it did not try again — try later "
            "(a resumed run asks only what is missing), or lower concurrency"
        )


def policy_for(cfg: BackendConfig | None) -> RetryPolicy:
    """The retry policy a configured backend asks for (``max_retries``); the default policy
    for a backend that has no configuration (one a test or a script built itself)."""
    return RetryPolicy() if cfg is None else RetryPolicy(max_retries=cfg.max_retries)


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "without end (Retry-After: inf)"
    shown = f"{seconds:.1f}".rstrip("0").rstrip(".") if seconds < 1e7 else f"{seconds:.3g}"
    if seconds >= 2 * 86400:
        return f"{shown} s ({seconds / 86400:.3g} days)"
    if seconds >= 3600:
        return f"{shown} s ({seconds / 3600:.3g} h)"
    if seconds >= 120:
        return f"{shown} s ({seconds / 60:.3g} min)"
    return f"{shown} s"


def _with_note(exc: BackendError, note: str) -> None:
    """Add ``note`` to ``exc``'s message (its type and fields stay, for callers that catch a
    subclass)."""
    message = str(exc)
    if note in message:
        return
    exc.args = (f"{message.rstrip().rstrip('.')}. {note[:1].upper()}{note[1:]}.", *exc.args[1:])


async def ask_with_retries(
    backend: Backend,
    prompt: Prompt,
    policy: RetryPolicy | None = None,
    on_partial: PartialCallback | None = None,
    on_retry: Callable[[int, BackendError, float], None] | None = None,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
) -> Answer:
    """``backend.ask`` with retries on retryable errors, each answer checked by
    :func:`~core.backends.base.validate_answer` before it is returned.

    Raises:
        BackendError: the last error once retries are exhausted, or a non-retryable one;
            :class:`~core.backends.base.InvalidAnswerError` for an answer with no usable
            distribution.
    """
    return await with_retries(
        lambda: _validated(backend, prompt, on_partial, max_off_option), policy, on_retry
    )


async def _validated(
    backend: Backend, prompt: Prompt, on_partial: PartialCallback | None, max_off_option: float
) -> Answer:
    return validate_answer(await backend.ask(prompt, on_partial), max_off_option)


T = TypeVar("T")


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None = None,
    on_retry: Callable[[int, BackendError, float], None] | None = None,
) -> T:
    """``call()`` with retries on retryable :class:`BackendError` s (the one policy every
    request shares: asks, generated replies).

    Raises:
        BackendError: the last error once retries are exhausted, or a non-retryable one.
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        try:
            return await call()
        except BackendError as exc:
            note = policy.retry_after_note(exc.retry_after)
            if note:
                # Waiting the capped time would only meet the same refusal: stop now and say
                # so (the question stays unanswered and is asked again on resume).
                _with_note(exc, note)
                raise
            if not exc.retryable or attempt >= policy.max_retries:
                raise
            wait = policy.delay(attempt, exc.retry_after)
            if on_retry:
                on_retry(attempt + 1, exc, wait)
            attempt += 1
            await asyncio.sleep(wait)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delta-seconds or an HTTP-date.

    Never raises. ``"inf"`` and numbers too large for a float (``"1e400"``) give ``math.inf``;
    a date gives the seconds from ``now`` (default: the current time), 0 when it is past.

    Args:
        value: the header's value, or None.
        now: the current time, for dates (tests pass one).

    Returns:
        Seconds (>= 0), or None when absent, negative, NaN or not a number or date.
    """
    if not value:
        return None
    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, now)
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until(text: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC with no promise about the zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
