"""The one interface every model backend implements, and the pieces they share.

A backend takes a rendered :class:`~core.prompts.Prompt` and returns an :class:`Answer`: a
probability vector over the K option letters plus diagnostics. Backends do one attempt per
call; :func:`core.backends.retry.ask_with_retries` adds the retry policy.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np

from core.errors import GoqaError, InvalidValueError
from core.prompts import Prompt

Estimator = Literal["logprobs", "logits", "sampling", "verbalized"]
"""How an answer's numbers were read from the model (its *readout*): a top-k logprob list,
the whole vocabulary's logits, counts over samples, or shares the model wrote down. Which
procedure asked the model (one prompt, several option orders, ...) is the answer's
``method``, one of :data:`core.estimators.ESTIMATOR_NAMES`."""
ESTIMATORS: tuple[Estimator, ...] = ("logprobs", "logits", "sampling", "verbalized")


def parse_estimator(text: str) -> Estimator:
    """``text`` as an estimator (for answers read back from a store or a file).

    Raises:
        ValueError: ``text`` is not an estimator, naming it and the accepted ones.
    """
    for known in ESTIMATORS:
        if text == known:
            return known
    raise InvalidValueError(f"Unknown estimator {text!r}: expected one of {', '.join(ESTIMATORS)}.")


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
        suspect: why the answer is doubtful ("" when it is not), set by
            :func:`validate_answer` (off-option mass above ``max_off_option``) or by a backend
            (a chat server that ignored the assistant prefill). Suspect answers are stored
            and cached but left out of scores unless the user includes them.
        method: the estimator that made the answer (``first-token``, ``order-averaged``,
            ``prior-corrected``, ``verbalized``, ``free-text``; see :mod:`core.estimators`).
        parts: the answers it was made from, each in the published option order: one per
            option order (``order-averaged``), the uncorrected first-token answer
            (``prior-corrected``).
        orders: for each part, the order its options were shown in (``orders[j][i]`` is the
            published index of the option shown at position ``i``).
        prior: the letter prior divided out (``prior-corrected``), over A, B, ...
        replies: the text the model wrote (``verbalized``: one reply; ``free-text``: one per
            sample), each cut at :data:`MAX_REPLY_CHARS`.
        choices: per ``free-text`` sample, the letter it chose, or ``refused``,
            ``ambiguous`` or ``unparsed``.
        refusals: ``free-text`` samples that refused to choose.
    """

    probs: np.ndarray
    off_option_mass: float
    estimator: Estimator
    samples: int = 0
    unparseable: int = 0
    truncated: bool = False
    top_tokens: tuple[tuple[str, float], ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    note: str = ""
    suspect: str = ""
    method: str = "first-token"
    parts: tuple[Answer, ...] = ()
    orders: tuple[tuple[int, ...], ...] = ()
    prior: tuple[float, ...] = ()
    replies: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    refusals: int = 0

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
            "suspect": self.suspect,
            "method": self.method,
            "parts": [p.to_json() for p in self.parts],
            "orders": [list(o) for o in self.orders],
            "prior": [float(x) for x in self.prior],
            "replies": list(self.replies),
            "choices": list(self.choices),
            "refusals": int(self.refusals),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(
            probs=np.asarray(data["probs"], dtype=np.float64),
            off_option_mass=float(data.get("off_option_mass", 0.0)),
            estimator=parse_estimator(str(data.get("estimator", "logprobs"))),
            samples=int(data.get("samples", 0)),
            unparseable=int(data.get("unparseable", 0)),
            truncated=bool(data.get("truncated", False)),
            top_tokens=tuple((str(t), float(p)) for t, p in data.get("top_tokens", [])),
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            latency_s=float(data.get("latency_s", 0.0)),
            note=str(data.get("note", "")),
            suspect=str(data.get("suspect", "")),
            method=str(data.get("method", "first-token")),
            parts=tuple(cls.from_json(p) for p in data.get("parts", [])),
            orders=tuple(tuple(int(i) for i in o) for o in data.get("orders", [])),
            prior=tuple(float(x) for x in data.get("prior", [])),
            replies=tuple(str(r) for r in data.get("replies", [])),
            choices=tuple(str(c) for c in data.get("choices", [])),
            refusals=int(data.get("refusals", 0)),
        )

    @property
    def readout(self) -> str:
        """How the numbers were read, as shown to people: ``logits``, ``logprobs``,
        ``sampling n=20``, ``verbalized``."""
        return self.estimator + (f" n={self.samples}" if self.estimator == "sampling" else "")


class BackendError(GoqaError):
    """A request that failed; the message is safe to show (it never carries a secret).

    Attributes:
        retryable: a later attempt may succeed (429, 5xx, timeout, dropped connection,
            malformed body).
        retry_after: seconds the server asked us to wait, if it said.
    """

    title = "Backend error"

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class MissingDependencyError(BackendError):
    """An optional dependency (the ``local`` extra) is not installed."""

    title = "Local model not installed"


class InvalidAnswerError(BackendError):
    """A response that carries no usable distribution (NaN or positive log-probabilities, no
    mass on any option letter, no choices, nothing parseable in a sampled reply).

    Such an answer is a *failed* answer with this reason: never stored as ``ok``, never
    cached, asked again when the run resumes.
    """

    title = "Unusable answer"


DEFAULT_MAX_OFF_OPTION = 0.5
"""Off-option mass above which an answer is suspect (config ``max_off_option``)."""

_LOGPROB_TOLERANCE = 1e-4  # servers round: a log-probability of +1e-6 is a probability of 1
_MASS_TOLERANCE = 0.02  # a top-k list whose probabilities add up to more than 1.02 is lying
_OFF_OPTION_MARK = "above max_off_option"


MAX_REPLY_CHARS = 2000
"""How much of a generated reply an answer keeps (the parse has read all of it)."""

PartialCallback = Callable[[Answer], None]


@dataclass(frozen=True)
class TextRequest:
    """A request for generated text (the ``verbalized`` and ``free-text`` estimators).

    Attributes:
        user: the user message, sent through the model's chat format with no prefill.
        max_tokens: the longest reply.
        temperature: 0 for a greedy reply; sampling otherwise.
        n: replies wanted (drawn as separate requests, seeds ``seed``, ``seed + 1``, ...).
        seed: the first sample's seed (backends that take one use it; results repeat).
        json_schema: a JSON schema the reply must follow, for backends that can constrain
            decoding (the local model); others ignore it, and the parse judges the reply.
    """

    user: str
    max_tokens: int = 256
    temperature: float = 0.0
    n: int = 1
    seed: int = 0
    json_schema: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "n": self.n,
            "seed": self.seed,
            "json_schema": self.json_schema,
        }


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

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        """``request.n`` generated replies to ``request.user`` (one attempt each).

        Raises:
            BackendError: a request failed (retryable ones may succeed later).
        """
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


def checked_logprob(token: str, logprob: Any) -> float | None:
    """A server's log-probability as a float, or None when it means "probability 0".

    ``None``, ``-inf`` and -9999 or lower (OpenAI's "not in the top list") mean 0.

    Raises:
        InvalidAnswerError: NaN, ``+inf``, a positive value (a probability above 1), or
            something that is not a number.
    """
    if logprob is None:
        return None
    if isinstance(logprob, bool) or not isinstance(logprob, int | float):
        raise InvalidAnswerError(
            f"The server returned a log-probability that is not a number for token {token!r} "
            f"({logprob!r}); its answer was not used."
        )
    value = float(logprob)
    if math.isnan(value) or value == math.inf or value > _LOGPROB_TOLERANCE:
        raise InvalidAnswerError(
            f"The server returned an impossible log-probability {value!r} for token {token!r} "
            "(log-probabilities are finite and at most 0); its answer was not used. Check the "
            "server's version and log."
        )
    if value == -math.inf or value <= -9999:
        return None
    return min(value, 0.0)


def fold_logprobs(
    candidates: Iterable[tuple[str, float]],
    letters: tuple[str, ...],
    complete: bool = False,
) -> tuple[np.ndarray, float, bool, tuple[tuple[str, float], ...]]:
    """Fold next-token log-probabilities into a distribution over option letters.

    Args:
        candidates: (token, logprob) pairs; duplicates of a token are counted once.
            A logprob of -9999 or lower (OpenAI's "not in the top list") or -inf counts as 0.
        letters: the option letters in order.
        complete: the candidates cover the whole vocabulary (no truncation possible).

    Returns:
        (probs over letters renormalised to sum 1, off-option mass, truncated, top tokens
        sorted by probability). ``probs`` is all zero when no mass fell on a letter.

    Raises:
        InvalidAnswerError: a log-probability is NaN, +inf or positive, or the listed
            probabilities add up to more than 1 (see :func:`checked_logprob`).
    """
    seen: dict[str, float] = {}
    listed_total = 0.0  # every entry, repeats included: a list repeating a token is lying too
    for token, logprob in candidates:
        value = checked_logprob(token, logprob)
        if value is None:
            continue
        listed_total += math.exp(value)
        if token not in seen:
            seen[token] = value
    mass = np.zeros(len(letters))
    # exp of a value in [-9999, 0] is in [0, 1]: no overflow is possible.
    listed = {token: math.exp(logprob) for token, logprob in seen.items()}
    total = math.fsum(listed.values())
    if max(total, listed_total) > 1.0 + _MASS_TOLERANCE:
        raise InvalidAnswerError(
            "The server's top log-probabilities add up to a probability of "
            f"{max(total, listed_total):.3g}, more than 1; its answer was not used. Check the "
            "server's version and log."
        )
    for token, p in listed.items():
        letter = token_letter(token, letters)
        if letter is not None:
            mass[letters.index(letter)] += p
    on = float(mass.sum())
    # Off-option mass: of the probability the list covers, plus whatever it does not cover.
    off = max(0.0, 1.0 - on) if not complete else max(0.0, (total - on) / total if total else 1.0)
    truncated = not complete and bool(np.any(mass == 0))
    probs = mass / on if on > 0 else mass
    top = tuple(sorted(listed.items(), key=lambda x: -x[1])[:20])
    return probs, min(off, 1.0), truncated, top


def validate_answer(answer: Answer, max_off_option: float = DEFAULT_MAX_OFF_OPTION) -> Answer:
    """The one check every answer passes before it reaches the store or the cache.

    Args:
        answer: what a backend returned.
        max_off_option: off-option mass above which the answer is marked suspect.

    Returns:
        The answer with ``probs`` renormalised to sum to 1 and, when its off-option mass
        exceeds ``max_off_option``, ``suspect`` set to the reason (a reason the backend gave
        is kept first).

    Raises:
        InvalidAnswerError: the probabilities are not finite or negative, or no mass at all
            fell on an option letter (for sampling: no sampled reply named an option).
    """
    probs = np.asarray(answer.probs, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0:
        raise InvalidAnswerError("The answer holds no probabilities; it was not used.")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise InvalidAnswerError(
            "The model's probabilities are not finite numbers (NaN or infinite logits or "
            "log-probabilities); the answer was not used. Check the model file or the server."
        )
    total = float(probs.sum())
    if total <= 0:
        if answer.estimator == "sampling":
            raise InvalidAnswerError(
                f"None of the {answer.samples} sampled replies named an option letter; the "
                "answer was not used. Raise max_tokens, or use a backend with log-probabilities."
            )
        seen = ", ".join(repr(t) for t, _ in answer.top_tokens[:5]) or "no tokens at all"
        raise InvalidAnswerError(
            f"No probability fell on any option letter (the most likely next tokens: {seen}); "
            "the answer was not used. Check the backend's mode and the prompt template."
        )
    off = float(answer.off_option_mass)
    if not math.isfinite(off) or off < -1e-9 or off > 1 + 1e-9:
        raise InvalidAnswerError(
            f"The answer's off-option mass is {off!r}, not a share between 0 and 1; the answer "
            "was not used."
        )
    off = min(max(off, 0.0), 1.0)
    # A backend's own reasons are kept; the off-option one is judged anew against this
    # threshold (a cached answer is checked again, maybe with another max_off_option).
    reasons = [r for r in answer.suspect.split("; ") if r and _OFF_OPTION_MARK not in r]
    if off > max_off_option:
        what = (
            "of the sampled replies named no option"
            if answer.estimator == "sampling"
            else ("of the probability fell outside the option letters")
        )
        reasons.append(f"{off:.0%} {what} ({_OFF_OPTION_MARK} = {max_off_option:g})")
    return replace(answer, probs=probs / total, off_option_mass=off, suspect="; ".join(reasons))


# --------------------------------------------------------------------------- sampling

# "B", "B)", "(B)", "B.", "**B**" at the very start of the text: the prefill case, where the
# model continues "... my answer would be (" with "B) Strongly agree".
# An apostrophe after the letter ends it only when no letter follows: "I'd choose (C)" and
# "I'm" are words, not option I.
_LEADING_LETTER = re.compile(r"^[\s*\"'`]*\(?\s*([A-Z])\s*(?:[\).:,\]*\"`]|'(?![A-Za-z])|$)")
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


async def draw_texts(draw: Callable[[int], Awaitable[Sample]], n: int) -> tuple[Sample, ...]:
    """``draw(0)`` ... ``draw(n - 1)`` at once, in that order; on the first failure the
    others are cancelled and the failure raised (nothing half-drawn is returned)."""
    tasks = [asyncio.ensure_future(draw(i)) for i in range(max(1, n))]
    try:
        return tuple(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
