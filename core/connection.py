"""Does a backend give a usable distribution? One probe, one verdict.

``goqa config check`` and the app's Settings › Test both call :func:`check_connection`: it
sends one tiny survey-style question through the same validation every answer passes
(:func:`core.backends.base.validate_answer`), so a ✓ means the distribution that comes back
is one goqa would store and score, and a ✗ names the reason (the request failed, the answer
had no mass on any option letter, or it is suspect: too much mass off the letters, or a chat
server that ignored the assistant prefill).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

from core.backends.base import DEFAULT_MAX_OFF_OPTION, Answer, Backend, BackendError, Estimator
from core.backends.retry import RetryPolicy, ask_with_retries
from core.config import ConfigError
from core.prompts import Condition, render

PROBE_QUESTION = "Is this a test of the connection?"
PROBE_OPTIONS = ("Yes", "No")


@dataclass(frozen=True)
class ConnectionVerdict:
    """The outcome of one probe.

    Attributes:
        ok: the distribution that came back is usable (valid and not suspect).
        estimator: ``logits``, ``logprobs`` or ``sampling`` ("" when nothing came back).
        message: one line for a person: what came back, or why it is not usable.
        answer: the validated answer (None when the request or the validation failed).
        seconds: wall time of the probe.
    """

    ok: bool
    estimator: Estimator | Literal[""]
    message: str
    answer: Answer | None
    seconds: float


def _describe(answer: Answer) -> str:
    if answer.estimator == "sampling":
        what = f"no logprobs: sampling n={answer.samples}"
    elif answer.estimator == "logits":
        what = "logits (exact distribution)"
    else:
        what = "logprobs returned" + (" (top-k list)" if answer.truncated else "")
    return f"{what}; {answer.note}" if answer.note else what


async def check_connection(
    backend: Backend,
    template: str = "paper",
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
) -> ConnectionVerdict:
    """Ask ``backend`` one probe question (no retries, no cache) and judge the answer.

    Args:
        backend: any backend.
        template: the prompt template to probe with.
        max_off_option: the suspect threshold the runs use (config ``max_off_option``).

    Returns:
        The verdict; never raises for a backend, config or validation failure.
    """
    prompt = render(
        None, Condition("default"), template, text=PROBE_QUESTION, options=PROBE_OPTIONS
    )
    started = time.perf_counter()
    try:
        # request_params may hash a model file: off the event loop.
        await asyncio.to_thread(backend.request_params)
        answer = await ask_with_retries(
            backend, prompt, RetryPolicy(max_retries=0), max_off_option=max_off_option
        )
    except (BackendError, ConfigError) as exc:
        return ConnectionVerdict(False, "", str(exc), None, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if answer.suspect:
        return ConnectionVerdict(
            False,
            answer.estimator,
            f"the answer is suspect: {answer.suspect}",
            answer,
            seconds,
        )
    return ConnectionVerdict(True, answer.estimator, _describe(answer), answer, seconds)
