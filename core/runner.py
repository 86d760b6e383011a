"""Ask a backend many questions under one condition, store every answer, resume on demand.

The runner drives a backend at its configured concurrency with a pool of workers, caches
every response by request hash (the same request is never paid for twice, across runs), and
writes each answer or failure to the store as it lands. Cancelling (Ctrl-C in the CLI, a
button in the app) stops the workers; what was written stays written, and running the same
run name again continues with the unanswered and failed questions only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core import metrics
from core.asking import prompt_builder
from core.backends.base import DEFAULT_MAX_OFF_OPTION, Answer, Backend, BackendError
from core.backends.retry import RetryPolicy
from core.config import redact_url
from core.dataset import FULL_REVISION, Dataset, Question
from core.estimation import Estimation
from core.estimators import EstimatorSpec
from core.metrics import Policy
from core.prompts import Condition, TemplateName, template_hash
from core.store import RunManifest, Selection, Store


def manifest_for(
    name: str,
    backend: Backend,
    backend_name: str,
    condition: Condition,
    template: TemplateName,
    dataset: Dataset,
    policy: Policy,
    selection: Selection,
    variant: str = "",
    estimator: EstimatorSpec | None = None,
) -> RunManifest:
    spec = estimator or EstimatorSpec()
    return RunManifest(
        name=name,
        backend=backend_name,
        backend_kind=backend.kind,
        base_url=redact_url(backend.base_url),
        model=backend.model,
        mode=backend.mode,
        condition=str(condition),
        template=template,
        template_hash=template_hash(template),
        dataset=dataset.name,
        dataset_sha256=dataset.sha256,
        dataset_revision=FULL_REVISION if dataset.name == "full" else "",
        policy=policy,
        params=backend.request_params(),
        selection=selection,
        variant=variant,
        estimator=spec.name,
        estimator_params=spec.params(),
    )


@dataclass(frozen=True)
class Progress:
    """Where a run stands. ``done`` counts answers stored by this invocation plus earlier ones."""

    total: int
    done: int
    failed: int
    cached: int
    started: float
    now: float
    last_key: str = ""
    last_error: str = ""
    suspect: int = 0
    """Answers stored by this invocation that are suspect (left out of scores by default)."""

    @property
    def elapsed(self) -> float:
        return max(self.now - self.started, 1e-9)

    @property
    def remaining(self) -> int:
        return max(self.total - self.done - self.failed, 0)

    def rate(self, fresh: int) -> float:
        """Questions per second over ``fresh`` answers made by this invocation."""
        return fresh / self.elapsed

    def eta(self, fresh: int) -> float | None:
        r = self.rate(fresh)
        return self.remaining / r if r > 0 else None


@dataclass(frozen=True)
class RunOutcome:
    manifest: RunManifest
    total: int
    answered: int
    failed: int
    already_done: int
    cached: int
    seconds: float
    suspect: int = 0
    """Suspect answers among those stored by this invocation."""
    skipped: tuple[tuple[int, str], ...] = ()
    """(dataset position, reason) of the questions left out because they cannot be asked."""


ProgressCallback = Callable[[Progress, int], None]
AnswerCallback = Callable[[Question, Answer | None, str | None], None]


async def run(
    *,
    name: str,
    dataset: Dataset,
    positions: Sequence[int],
    backend: Backend,
    backend_name: str,
    condition: Condition,
    template: str,
    store: Store,
    policy: Policy = "keep",
    concurrency: int = 8,
    max_retries: int = 4,
    selection: Selection | None = None,
    on_progress: ProgressCallback | None = None,
    on_answer: AnswerCallback | None = None,
    retry: RetryPolicy | None = None,
    shuffle_seed: int | None = None,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
    estimator: EstimatorSpec | None = None,
) -> RunOutcome:
    """Run (or resume) the named run over the questions at ``positions``.

    Args:
        name: run name; an existing run with the same identity is resumed.
        positions: dataset positions of the questions to ask.
        on_progress: called with (Progress, fresh answers so far) after every question.
        on_answer: called with (question, answer or None, error or None) as each lands.
        shuffle_seed: show each question's options in a seeded shuffled order (a prompt
            sensitivity variant); answers are stored mapped back to the original order.
        max_off_option: off-option mass above which an answer is stored as suspect.
        estimator: how each answer is estimated (default ``first-token``); part of the run's
            identity. A ``prior-corrected`` run first calibrates its letter prior on a
            subset of ``positions`` and records it in the manifest.

    Raises:
        StoreError: the name belongs to an incompatible run; or
            :class:`~core.store.RunClaimedError`: another process (or task) is running this
            name right now, before any request is sent.
        UnknownCountryError, MissingTranslationsError: before any request is sent.
    """
    # Questions that cannot be asked (no text, too many options) are left out, with the
    # reason in the outcome: never sent, never counted as planned.
    kept, skipped = dataset.askable(positions)
    questions = [dataset.at(p) for p in kept]
    build = prompt_builder(dataset, condition, template, store, questions, shuffle_seed)
    sel = replace(selection or Selection(), planned=len(questions))
    variant = "" if shuffle_seed is None else f"shuffle:{shuffle_seed}"
    # One process at a time asks a run name, so that no question is sent twice; the
    # claim also writes answers kept while the store was busy before it is released.
    with store.claim_run(name):
        manifest = store.open_run(
            manifest_for(
                name,
                backend,
                backend_name,
                condition,
                build.template,
                dataset,
                policy,
                sel,
                variant,
                estimator,
            )
        )
        done_keys = store.answered_keys(name)
        todo = [q for q in questions if q.key not in done_keys]
        already = len(questions) - len(todo)
        policy_retry = retry or RetryPolicy(max_retries=max_retries)
        estimation = Estimation(
            estimator or EstimatorSpec(), backend, build, store, policy_retry, max_off_option
        )
        if todo:
            calibration = await estimation.prepare(questions, concurrency)
            if calibration is not None:
                manifest = store.set_calibration(name, calibration.to_json())

        started = time.monotonic()
        state = {"done": already, "failed": 0, "cached": 0, "fresh": 0, "suspect": 0}
        queue: asyncio.Queue[Question] = asyncio.Queue()
        for q in todo:
            queue.put_nowait(q)

        def report(q: Question, error: str = "") -> None:
            if on_progress:
                on_progress(
                    Progress(
                        total=len(questions),
                        done=state["done"],
                        failed=state["failed"],
                        cached=state["cached"],
                        started=started,
                        now=time.monotonic(),
                        last_key=q.key,
                        last_error=error,
                        suspect=state["suspect"],
                    ),
                    state["fresh"],
                )

        async def worker() -> None:
            while True:
                try:
                    q = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    estimate = await estimation.answer(q)
                except BackendError as exc:
                    store.record_failure(name, q.key, q.id, str(exc))
                    state["failed"] += 1
                    if on_answer:
                        on_answer(q, None, str(exc))
                    report(q, str(exc))
                    continue
                # One transaction stores the answer and, for a one-request estimate, its cache
                # entry (the cache keeps the response as given; the run stores it in the
                # published option order).
                answer = estimate.answer
                pending = estimate.cache_writes[0] if estimate.cache_writes else None
                store.record_answer(
                    name,
                    q.key,
                    q.id,
                    answer,
                    cache_key=pending[0] if pending else None,
                    cache_answer=pending[1] if pending else None,
                )
                hit = estimate.from_cache
                state["done"] += 1
                state["fresh"] += 1
                state["cached"] += int(hit)
                state["suspect"] += int(bool(answer.suspect))
                if on_answer:
                    on_answer(q, answer, None)
                report(q)

        workers = [
            asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(todo))))
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            # Cancelled, or a worker hit a store error (disk full, say): stop every worker;
            # what they stored stays stored, and a rerun resumes from there.
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        # Answers kept in memory while the store was busy: write them before the claim
        # goes, without blocking the event loop (the app's) while waiting.
        while not store.try_flush():
            await asyncio.sleep(0.2)
        outcome = RunOutcome(
            manifest=manifest,
            total=len(questions),
            answered=state["done"],
            failed=state["failed"],
            already_done=already,
            cached=state["cached"],
            seconds=time.monotonic() - started,
            suspect=state["suspect"],
            skipped=tuple(skipped),
        )
    return outcome


@dataclass(frozen=True)
class RunAnswers:
    """A run's stored distributions aligned with dataset positions."""

    positions: np.ndarray
    probs: np.ndarray
    answers: tuple[Answer, ...]
    unknown_keys: int
    suspect_excluded: int = 0
    """Suspect answers left out (0 when they were included)."""


def run_answers(
    store: Store, dataset: Dataset, name: str, include_suspect: bool = False
) -> RunAnswers:
    """Load a run's successful answers as arrays for :func:`core.metrics.score`.

    Args:
        include_suspect: keep answers marked suspect (left out by default).
    """
    stored = store.answers(name, status="ok")
    pos, rows, answers, unknown, suspect = [], [], [], 0, 0
    for s in stored:
        p = dataset.key_index.get(s.question_key)
        if p is None or s.answer is None or len(s.answer.probs) != dataset.n_options[p]:
            unknown += 1
            continue
        if s.answer.suspect and not include_suspect:
            suspect += 1
            continue
        pos.append(p)
        rows.append(s.answer.probs)
        answers.append(s.answer)
    probs = metrics.pad_probs(dataset, rows)
    return RunAnswers(np.array(pos, dtype=np.int64), probs, tuple(answers), unknown, suspect)
