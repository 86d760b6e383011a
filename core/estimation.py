"""Asking a model one question under an estimator (:mod:`core.estimators`).

:class:`Estimation` is the one home of that procedure: the runner uses it for every
question of a run, ``goqa ask`` and the app for a single question. Every request it makes
goes through the response cache and the retry policy, so nothing is paid for twice:

* first-token requests are cached as answers under :func:`core.asking.cache_key` (the key
  of the rendered prompt), so an ``order-averaged`` run shares its published-order request
  with a ``first-token`` run of the same questions, and a ``prior-corrected`` run shares
  every request it makes;
* generated replies (``verbalized``, ``free-text``) are cached *before* they are parsed
  (:func:`text_cache_key`), so a reply that fails the parse is not bought again when the
  run resumes.

An estimate that needs several requests makes them at once (within the backend's own
concurrency limit) and caches each as it lands; when one fails, the question fails and
the ones that landed are kept for the next try.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core import estimators, replies
from core.asking import PromptBuilder, cache_key, cached_answer
from core.backends.base import (
    DEFAULT_MAX_OFF_OPTION,
    MAX_REPLY_CHARS,
    Answer,
    Backend,
    BackendError,
    InvalidAnswerError,
    Sample,
    TextRequest,
    validate_answer,
)
from core.backends.retry import RetryPolicy, ask_with_retries, with_retries
from core.dataset import Dataset, Question
from core.estimators import EstimatorSpec
from core.metrics import js_distance
from core.prompts import Condition, Prompt
from core.store import Store

VERBALIZED_FAILURE = "The model's verbalized reply could not be used"
"""Start of the failure a verbalized question gets when its reply fails the parse (the
audit's parse rate counts these, not failed requests)."""
NO_CHOICE_PREFIX = "None of the"
"""Start of the failure a free-text question gets when no reply chose an option."""
_NO_CHOICE = re.compile(r"^None of the (\d+) free-text replies chose an option \((\d+) refused")


def refusals_in_failure(error: str) -> tuple[int, int] | None:
    """(refused, replies) of a free-text question whose replies all failed to choose, read
    from its stored failure; None for any other failure."""
    match = _NO_CHOICE.match(error or "")
    return (int(match.group(2)), int(match.group(1))) if match else None


def text_cache_key(backend: Backend, request: TextRequest) -> str:
    """Hash of everything that decides a generated reply: backend identity and request."""
    blob = json.dumps(
        {
            "generate": request.to_json(),
            "kind": backend.kind,
            "base_url": backend.base_url,
            "model": backend.model,
            "params": backend.request_params(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Estimate:
    """One question's answer under an estimator.

    Attributes:
        answer: the answer in the published option order, checked.
        cache_writes: ``(key, response)`` pairs still to cache; the runner writes them in
            the transaction that stores the answer (a one-request estimate defers its cache
            entry that way; several requests are cached as they land, leaving this empty).
        from_cache: every request it needed was in the cache.
        requests: requests the estimate needed (cached ones included).
    """

    answer: Answer
    cache_writes: tuple[tuple[str, Answer], ...] = ()
    from_cache: bool = False
    requests: int = 1


@dataclass(frozen=True)
class PriorTable:
    """A ``prior-corrected`` estimate's calibration: the letter prior per number of options.

    Attributes:
        priors: K -> (K,) prior over the letters A.. of K-option questions.
        questions: K -> the calibration questions' keys.
        failed: K -> calibration questions that could not be used (every rotation is needed).
        requests: calibration requests made (cached ones included).
    """

    priors: dict[int, np.ndarray] = field(default_factory=dict)
    questions: dict[int, tuple[str, ...]] = field(default_factory=dict)
    failed: dict[int, tuple[str, ...]] = field(default_factory=dict)
    requests: int = 0
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As recorded in a run's manifest (``calibration``)."""
        return {
            "method": "PriDe: mean over calibration questions of the normalised geometric "
            "mean, over every cyclic rotation of the options, of each letter's probability",
            "requests": self.requests,
            "by_options": {
                str(k): {
                    "prior": [round(float(x), 6) for x in self.priors[k]],
                    "questions": list(self.questions.get(k, ())),
                    "size": len(self.questions.get(k, ())),
                    "failed": list(self.failed.get(k, ())),
                }
                for k in sorted(self.priors)
            },
            "missing": sorted(k for k in self.failed if k not in self.priors),
        }


class Estimation:
    """Asks questions under one estimator, through the cache and the retry policy.

    Args:
        spec: the estimator and its settings.
        backend: the model.
        build: renders a question under the run's condition and template.
        store: the response cache (None asks without one, e.g. on a read-only store).
        retry: the retry policy.
        max_off_option: off-option mass above which an answer is suspect.
    """

    def __init__(
        self,
        spec: EstimatorSpec,
        backend: Backend,
        build: PromptBuilder,
        store: Store | None,
        retry: RetryPolicy | None = None,
        max_off_option: float = DEFAULT_MAX_OFF_OPTION,
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.build = build
        self.store = store if store is not None and not store.read_only else None
        self._lookup = store
        self.retry = retry or RetryPolicy()
        self.max_off_option = max_off_option
        self.priors: PriorTable | None = None

    # ------------------------------------------------------------------ first-token requests

    async def _first_token(self, prompt: Prompt, defer: bool) -> tuple[Answer, bool, str]:
        """(answer as shown, from cache, key); cached now unless ``defer``."""
        key = cache_key(self.backend, prompt)
        hit = cached_answer(self._lookup, key, self.max_off_option)
        if hit is not None:
            return hit, True, key
        raw = await ask_with_retries(
            self.backend, prompt, self.retry, max_off_option=self.max_off_option
        )
        if not defer and self.store is not None:
            self.store.cache_put(key, raw)
        return raw, False, key

    async def _generated(self, request: TextRequest) -> tuple[tuple[Sample, ...], bool]:
        """The replies to ``request`` from the cache, or asked for and cached at once."""
        key = text_cache_key(self.backend, request)
        hit = self._lookup.cache_get_json(key) if self._lookup is not None else None
        if hit is not None and isinstance(hit.get("replies"), list):
            samples = tuple(
                Sample(str(r.get("text", "")), r.get("prompt_tokens"), r.get("completion_tokens"))
                for r in hit["replies"]
                if isinstance(r, dict)
            )
            if len(samples) == request.n:
                return samples, True
        samples = await with_retries(lambda: self.backend.generate_texts(request), self.retry)
        # A server that ignores max_tokens can send megabytes: what is parsed, stored and
        # cached is the first MAX_REPLY_CHARS of each reply (a real reply is far shorter).
        samples = tuple(replace(s, text=s.text[:MAX_REPLY_CHARS]) for s in samples)
        if self.store is not None:
            self.store.cache_put_json(
                key,
                {
                    "replies": [
                        {
                            "text": s.text,
                            "prompt_tokens": s.prompt_tokens,
                            "completion_tokens": s.completion_tokens,
                        }
                        for s in samples
                    ]
                },
            )
        return samples, False

    # ------------------------------------------------------------------ calibration

    async def prepare(self, pool: Sequence[Question], concurrency: int = 8) -> PriorTable | None:
        """Estimate what the estimator needs before it answers (``prior-corrected``: the
        letter prior, from the calibration subset of ``pool``); None for the others.

        Calibration questions that cannot be rendered under the condition are left out of
        ``pool``. A failed request leaves its question out of the prior (and says so in
        ``failed``); a number of options with no usable calibration question has no prior,
        and its questions fail with the reason.
        """
        if self.spec.name != "prior-corrected":
            return None
        usable = [q for q in pool if self.build.can_render(q)]
        subset = estimators.calibration_subset(usable, self.spec.calibration, self.spec.seed)
        slots = asyncio.Semaphore(max(1, concurrency))
        errors: list[str] = []

        async def rotations(q: Question) -> list[np.ndarray] | None:
            async def one(order: tuple[int, ...]) -> np.ndarray:
                async with slots:
                    prompt = self.build.render_order(
                        q, None if order == tuple(sorted(order)) else order
                    )
                    answer, _, _ = await self._first_token(prompt, defer=False)
                return np.asarray(answer.probs, dtype=np.float64)

            outcomes = await asyncio.gather(
                *(one(o) for o in estimators.cyclic_orders(len(q.options))),
                return_exceptions=True,
            )
            shown: list[np.ndarray] = []
            for outcome in outcomes:
                if isinstance(outcome, BackendError):
                    errors.append(str(outcome))
                    return None
                if isinstance(outcome, BaseException):
                    raise outcome
                shown.append(outcome)
            return shown

        priors: dict[int, np.ndarray] = {}
        used: dict[int, tuple[str, ...]] = {}
        failed: dict[int, tuple[str, ...]] = {}
        requests = 0
        for k, questions in subset.items():
            shown = await asyncio.gather(*(rotations(q) for q in questions))
            requests += k * len(questions)
            good = [(q, s) for q, s in zip(questions, shown, strict=True) if s is not None]
            bad = tuple(q.key for q, s in zip(questions, shown, strict=True) if s is None)
            if bad:
                failed[k] = bad
            if good:
                priors[k] = estimators.letter_prior([estimators.question_prior(s) for _, s in good])
                used[k] = tuple(q.key for q, _ in good)
        self.priors = PriorTable(priors, used, failed, requests, tuple(errors[:3]))
        return self.priors

    # ------------------------------------------------------------------ one question

    async def answer(self, question: Question) -> Estimate:
        """The question's answer under the estimator, in the published option order.

        Raises:
            BackendError: a request failed, or (:class:`InvalidAnswerError`) the answer is
                not usable: no usable distribution, a verbalized reply that fails the
                parse, free-text replies none of which chose an option.
        """
        name = self.spec.name
        if name == "order-averaged":
            return await self._order_averaged(question)
        if name == "prior-corrected":
            return await self._prior_corrected(question)
        if name == "verbalized":
            return await self._verbalized(question)
        if name == "free-text":
            return await self._free_text(question)
        prompt = self.build(question)
        raw, hit, key = await self._first_token(prompt, defer=True)
        answer = self.build.original_order(question, raw)
        return Estimate(answer, () if hit else ((key, raw),), hit)

    async def _order_averaged(self, question: Question) -> Estimate:
        orders = estimators.option_orders(question, self.spec.orders)
        identity = tuple(range(len(question.options)))

        async def one(order: tuple[int, ...]) -> tuple[Answer, bool]:
            prompt = self.build.render_order(question, None if order == identity else order)
            raw, hit, _ = await self._first_token(prompt, defer=False)
            published = estimators.to_published(np.asarray(raw.probs), order)
            return replace(raw, probs=published, top_tokens=raw.top_tokens[:5]), hit

        # Every order runs to its end before a failure is raised: the ones that land are
        # cached, so the rerun asks only what failed.
        outcomes = await asyncio.gather(*(one(o) for o in orders), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        results = [o for o in outcomes if not isinstance(o, BaseException)]
        parts = tuple(a for a, _ in results)
        probs = np.mean([p.probs for p in parts], axis=0)
        reasons = [
            f"order {i + 1} of {len(parts)}: {p.suspect}" for i, p in enumerate(parts) if p.suspect
        ]
        first = parts[0]
        combined = Answer(
            probs=probs,
            off_option_mass=float(np.mean([p.off_option_mass for p in parts])),
            estimator=first.estimator,
            samples=sum(p.samples for p in parts),
            unparseable=sum(p.unparseable for p in parts),
            truncated=any(p.truncated for p in parts),
            top_tokens=first.top_tokens,
            prompt_tokens=_total(p.prompt_tokens for p in parts),
            completion_tokens=_total(p.completion_tokens for p in parts),
            latency_s=max(p.latency_s for p in parts),
            note=f"mean over {len(parts)} option orders",
            suspect="; ".join(reasons),
            method="order-averaged",
            parts=parts,
            orders=tuple(orders),
        )
        return Estimate(
            self._checked(combined),
            from_cache=all(hit for _, hit in results),
            requests=len(orders),
        )

    async def _prior_corrected(self, question: Question) -> Estimate:
        table = self.priors
        k = len(question.options)
        if table is None or k not in table.priors:
            why = "; ".join(table.errors) if table is not None and table.errors else ""
            raise InvalidAnswerError(
                f"No letter prior for {k}-option questions: its calibration did not succeed"
                + (f" ({why})" if why else "")
                + ". Run again to retry the calibration (answers that landed are cached)."
            )
        raw, hit, _ = await self._first_token(self.build(question), defer=False)
        first = self.build.original_order(question, raw)
        prior = table.priors[k]
        # The correction applies to letters, i.e. to the shown order.
        perm = self.build.permutation(question)
        order = tuple(range(k)) if perm is None else tuple(int(i) for i in perm)
        shown = estimators.to_shown(np.asarray(first.probs), order)
        corrected = estimators.to_published(estimators.correct_prior(shown, prior), order)
        answer = replace(
            first,
            probs=corrected,
            method="prior-corrected",
            parts=(first,),
            orders=(order,),
            prior=tuple(float(x) for x in prior),
            note="; ".join(
                n
                for n in (first.note, f"letter prior from {len(table.questions[k])} questions")
                if n
            ),
        )
        return Estimate(self._checked(answer), from_cache=hit)

    async def _verbalized(self, question: Question) -> Estimate:
        country = self.build.country_display if self.build.condition.kind == "country" else None
        # The instruction names the country ("what percentage of people in Russia"), so the
        # question is shown plainly rather than as "How would someone from Russia answer".
        plain = replace(self.build, condition=Condition("default")) if country else self.build
        prompt = plain(question)
        request = TextRequest(
            user=replies.verbalized_user(prompt, country),
            max_tokens=estimators.VERBALIZED_MAX_TOKENS,
            temperature=0.0,
            n=1,
            seed=self.spec.seed,
            json_schema=replies.verbalized_schema(prompt.letters),
        )
        started = time.perf_counter()
        samples, hit = await self._generated(request)
        latency = 0.0 if hit else time.perf_counter() - started
        text = samples[0].text
        perm = self.build.permutation(question)
        shown_options = self.build.shown_options(question)
        if perm is not None:
            shown_options = tuple(shown_options[int(i)] for i in perm)
        reading = replies.parse_verbalized(text, prompt.letters, shown_options)
        if reading.probs is None:
            excerpt = " ".join(text.split())[:160]
            raise InvalidAnswerError(
                f"{VERBALIZED_FAILURE}: {reading.reason} (reply: {excerpt!r})."
            )
        raw = Answer(
            probs=reading.probs,
            off_option_mass=0.0,
            estimator="verbalized",
            prompt_tokens=samples[0].prompt_tokens,
            completion_tokens=samples[0].completion_tokens,
            latency_s=latency,
            note=f"shares written as {reading.scale}s",
            method="verbalized",
            replies=(text[:MAX_REPLY_CHARS],),
        )
        return Estimate(self._checked(self.build.original_order(question, raw)), from_cache=hit)

    async def _free_text(self, question: Question) -> Estimate:
        prompt = self.build(question)
        request = TextRequest(
            user=replies.free_text_user(prompt),
            max_tokens=estimators.FREE_TEXT_MAX_TOKENS,
            temperature=estimators.FREE_TEXT_TEMPERATURE,
            n=self.spec.samples,
            seed=self.spec.seed,
        )
        started = time.perf_counter()
        samples, hit = await self._generated(request)
        latency = 0.0 if hit else time.perf_counter() - started
        perm = self.build.permutation(question)
        shown_options = self.build.shown_options(question)
        nonsub = list(question.nonsubstantive)
        if perm is not None:
            shown_options = tuple(shown_options[int(i)] for i in perm)
            nonsub = [nonsub[int(i)] for i in perm]
        counts = np.zeros(len(prompt.letters))
        choices: list[str] = []
        refused = 0
        for sample in samples:
            choice = replies.parse_free_text(sample.text, prompt.letters, shown_options, nonsub)
            if choice.letter is not None:
                counts[prompt.letters.index(choice.letter)] += 1
                choices.append(choice.letter)
            else:
                choices.append(choice.kind)
                refused += int(choice.kind == "refused")
        n = len(samples)
        chosen = int(counts.sum())
        if chosen == 0:
            raise InvalidAnswerError(
                f"{NO_CHOICE_PREFIX} {n} free-text replies chose an option ({refused} refused, "
                f"{n - refused} named no single option); the question has no free-text answer."
            )
        raw = Answer(
            probs=counts / chosen,
            off_option_mass=(n - chosen) / n,
            estimator="sampling",
            samples=n,
            unparseable=n - chosen,
            prompt_tokens=_total(s.prompt_tokens for s in samples),
            completion_tokens=_total(s.completion_tokens for s in samples),
            latency_s=latency,
            note=f"{chosen} of {n} replies chose an option, {refused} refused",
            method="free-text",
            replies=tuple(s.text[:MAX_REPLY_CHARS] for s in samples),
            choices=tuple(choices),
            refusals=refused,
        )
        return Estimate(
            self._checked(self.build.original_order(question, raw)),
            from_cache=hit,
            requests=n,
        )

    def _checked(self, answer: Answer) -> Answer:
        return validate_answer(answer, self.max_off_option)


def _total(values: Any) -> int | None:
    total: int | None = None
    for v in values:
        if v is not None:
            total = (total or 0) + int(v)
    return total


# --------------------------------------------------------------------------- one question, asked


@dataclass(frozen=True)
class EstimatorResult:
    """One estimator's answer to a question, or why there is none.

    Attributes:
        spec: the estimator.
        estimate: the estimate (None when it failed).
        error: why it failed ("" when it did not).
        calibration: the letter prior a ``prior-corrected`` estimate used.
        failure: the error itself (a caller asking one estimator raises it).
    """

    spec: EstimatorSpec
    estimate: Estimate | None = None
    error: str = ""
    calibration: PriorTable | None = None
    failure: BackendError | None = None

    @property
    def answer(self) -> Answer | None:
        return self.estimate.answer if self.estimate is not None else None


def calibration_pool(dataset: Dataset, question: Question) -> list[Question]:
    """The questions a single ``prior-corrected`` ask calibrates on: every askable question
    of the dataset with as many options as ``question``."""
    kept, _ = dataset.askable(range(len(dataset)))
    k = len(question.options)
    return [q for q in (dataset.at(p) for p in kept) if len(q.options) == k]


async def ask_estimators(
    dataset: Dataset,
    question: Question,
    backend: Backend,
    build: PromptBuilder,
    specs: Sequence[EstimatorSpec],
    store: Store | None,
    retry: RetryPolicy | None = None,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
) -> tuple[EstimatorResult, ...]:
    """Ask ``question`` under each of ``specs`` at once (``goqa ask --estimator``, the app's
    chart); a failing estimator gives its reason in its place without stopping the others.

    Args:
        build: renders the question under the condition (:func:`core.asking.prompt_builder`).
        store: the response cache (read-only or None: asked without caching).
    """

    async def one(spec: EstimatorSpec) -> EstimatorResult:
        estimation = Estimation(spec, backend, build, store, retry, max_off_option)
        try:
            table = await estimation.prepare(calibration_pool(dataset, question))
            estimate = await estimation.answer(question)
            # No run stores this answer: the cache entry a run would write with it, now.
            if estimation.store is not None:
                for key, raw in estimate.cache_writes:
                    estimation.store.cache_put(key, raw)
            return EstimatorResult(spec, estimate, calibration=table)
        except BackendError as exc:
            return EstimatorResult(spec, error=str(exc), calibration=estimation.priors, failure=exc)

    # First-token first: its cache entry is then there for order-averaged and
    # prior-corrected, which ask the same published-order prompt.
    first = [s for s in specs if s.name == "first-token"][:1]
    done = {id(s): await one(s) for s in first}
    rest = [s for s in specs if id(s) not in done]
    for spec, result in zip(rest, await asyncio.gather(*(one(s) for s in rest)), strict=True):
        done[id(spec)] = result
    return tuple(done[id(s)] for s in specs)


def pairwise_distances(
    results: Sequence[EstimatorResult],
) -> list[tuple[str, str, float]]:
    """Jensen–Shannon distance (base 2) between every two estimators that answered."""
    answered = [(r.spec.name, r.answer) for r in results if r.answer is not None]
    out: list[tuple[str, str, float]] = []
    for i, (name_a, a) in enumerate(answered):
        for name_b, b in answered[i + 1 :]:
            assert a is not None and b is not None
            out.append((name_a, name_b, float(js_distance(a.probs, b.probs))))
    return out
