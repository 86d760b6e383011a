"""Retries: exponential backoff with full jitter, honouring a server's ``Retry-After``.

Backends make one attempt per call; :func:`ask_with_retries` is the retry policy that the
runner, single asks and the connection check share.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from core.backends.base import (
    DEFAULT_MAX_OFF_OPTION,
    Answer,
    Backend,
    BackendError,
    PartialCallback,
    validate_answer,
)
from core.prompts import Prompt


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
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
) -> Answer:
    """``backend.ask`` with retries on retryable errors, each answer checked by
    :func:`~core.backends.base.validate_answer` before it is returned.

    Raises:
        BackendError: the last error once retries are exhausted, or a non-retryable one;
            :class:`~core.backends.base.InvalidAnswerError` for an answer with no usable
            distribution.
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        try:
            return validate_answer(await backend.ask(prompt, on_partial), max_off_option)
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
