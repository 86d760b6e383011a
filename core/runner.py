"""Ask a backend many questions under one condition, store every answer, resume on demand.

The runner drives a backend at its configured concurrency with a pool of workers, caches
every response by request hash (the same request is never paid for twice, across runs), and
writes each answer or failure to the store as it lands. Cancelling (Ctrl-C in the CLI, a
button in the app) stops the workers; what was written stays written, and running the same
run name again continues with the unanswered and failed questions only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core import countries, diagnostics, metrics
from core.backends.base import (
    DEFAULT_MAX_OFF_OPTION,
    Answer,
    Backend,
    BackendError,
    InvalidAnswerError,
    PartialCallback,
    validate_answer,
)
from core.backends.retry import RetryPolicy, ask_with_retries
from core.config import redact_url
from core.dataset import FULL_REVISION, Dataset, NotAskableError, Question
from core.errors import GoqaError
from core.metrics import Policy
from core.prompts import Condition, Prompt, TemplateName, parse_template, render, template_hash
from core.store import RunManifest, Selection, Store
from core.translate import translation_table


class MissingTranslationsError(GoqaError):
    """A ``language:`` condition with questions that have no translation yet."""

    title = "Translations missing"

    def __init__(self, language: str, missing: int, total: int) -> None:
        super().__init__(
            f"{missing} of {total} questions have no translation into {language!r}. "
            f"Make them with 'goqa translate --language {language}' (a model translates) or "
            f"'goqa translate --import FILE.jsonl' (human translations), then run again."
        )
        self.language = language
        self.missing = missing


@dataclass(frozen=True)
class PromptBuilder:
    """Renders a question's prompt under one condition and template.

    Built once per run with :func:`prompt_builder`, which resolves the country name and loads
    the translations a ``language:`` condition needs.
    """

    condition: Condition
    template: TemplateName
    country_display: str | None = None
    translations: dict[str, tuple[str, tuple[str, ...]]] | None = None
    shuffle_seed: int | None = None

    def permutation(self, question: Question) -> np.ndarray | None:
        """The shown option order (``perm[i]`` = original index), or None when not shuffled."""
        if self.shuffle_seed is None:
            return None
        return diagnostics.shuffled_order(question.key, len(question.options), self.shuffle_seed)

    def __call__(self, question: Question) -> Prompt:
        text: str | None = None
        options: tuple[str, ...] | None = None
        if self.condition.kind == "language":
            assert self.translations is not None
            text, options = self.translations[question.key]
        perm = self.permutation(question)
        if perm is not None:
            if options is not None:
                return diagnostics.shuffled_render(
                    question, self.condition, self.template, perm, text=text, options=options
                )
            return diagnostics.shuffled_render(
                question, self.condition, self.template, perm, country_display=self.country_display
            )
        if options is not None:
            return render(question, self.condition, self.template, text=text, options=options)
        return render(question, self.condition, self.template, country_display=self.country_display)

    def original_order(self, question: Question, answer: Answer) -> Answer:
        """An answer to a shuffled prompt with its probabilities in the original order."""
        perm = self.permutation(question)
        if perm is None:
            return answer
        return replace(answer, probs=diagnostics.unshuffle(answer.probs, perm))


def prompt_builder(
    dataset: Dataset,
    condition: Condition,
    template: str,
    store: Store | None = None,
    questions: Sequence[Question] = (),
    shuffle_seed: int | None = None,
) -> PromptBuilder:
    """Resolve what a condition needs before any request is sent.

    Raises:
        ValueError: ``template`` is not a template's name.
        NotAskableError: one of ``questions`` cannot be asked (no text, too many options).
        core.countries.UnknownCountryError: ``country:NAME`` matches no country (with hints).
        MissingTranslationsError: ``language:CODE`` lacks translations for some questions.
    """
    name = parse_template(template)
    for q in questions:
        if not q.is_askable:
            raise NotAskableError(
                f"Question #{q.id} cannot be asked of a model: {'; '.join(q.flags)}. "
                f"'goqa show {q.id}' shows its human data; runs leave it out."
            )
    if condition.kind == "country":
        country = countries.match(condition.value, dataset.countries)
        return PromptBuilder(
            condition, name, country_display=country.display, shuffle_seed=shuffle_seed
        )
    if condition.kind == "language":
        table = translation_table(condition.value, store)
        missing = sum(
            1 for q in questions if q.key not in table or len(table[q.key][1]) != len(q.options)
        )
        if missing:
            raise MissingTranslationsError(condition.value, missing, len(questions))
        return PromptBuilder(condition, name, translations=table, shuffle_seed=shuffle_seed)
    return PromptBuilder(condition, name, shuffle_seed=shuffle_seed)


def cache_key(backend: Backend, prompt: Prompt) -> str:
    """Hash of everything that decides a response: backend identity, prompt, parameters."""
    blob = json.dumps(
        {
            "kind": backend.kind,
            "base_url": backend.base_url,
            "model": backend.model,
            "mode": backend.mode,
            "prompt": prompt.text,
            "user": prompt.user,
            "prefix": prompt.answer_prefix,
            "letters": prompt.letters,
            "params": backend.request_params(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cached_answer(
    store: Store | None, key: str, max_off_option: float = DEFAULT_MAX_OFF_OPTION
) -> Answer | None:
    """The cache entry for ``key``, checked like a fresh answer; None for a miss or for an
    entry that no longer passes :func:`~core.backends.base.validate_answer` (one stored by
    an older goqa, say), which is then asked again."""
    hit = store.cache_get(key) if store is not None else None
    if hit is None:
        return None
    try:
        return validate_answer(hit, max_off_option)
    except InvalidAnswerError:
        return None


async def ask_cached(
    backend: Backend,
    prompt: Prompt,
    store: Store | None,
    retry: RetryPolicy | None = None,
    on_partial: PartialCallback | None = None,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
) -> tuple[Answer, bool]:
    """Ask through the response cache. Returns (answer, came_from_cache).

    Raises:
        BackendError: the request failed or the answer is not valid (nothing is cached).
    """
    key = cache_key(backend, prompt)
    hit = cached_answer(store, key, max_off_option)
    if hit is not None:
        return hit, True
    answer = await ask_with_retries(
        backend, prompt, retry, on_partial, max_off_option=max_off_option
    )
    if store is not None and not store.read_only:
        store.cache_put(key, answer)
    return answer, False


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
) -> RunManifest:
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
            )
        )
        done_keys = store.answered_keys(name)
        todo = [q for q in questions if q.key not in done_keys]
        already = len(questions) - len(todo)
        policy_retry = retry or RetryPolicy(max_retries=max_retries)

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
                prompt = build(q)
                key = cache_key(backend, prompt)
                hit = cached_answer(store, key, max_off_option)
                try:
                    raw = hit or await ask_with_retries(
                        backend, prompt, policy_retry, max_off_option=max_off_option
                    )
                except BackendError as exc:
                    store.record_failure(name, q.key, q.id, str(exc))
                    state["failed"] += 1
                    if on_answer:
                        on_answer(q, None, str(exc))
                    report(q, str(exc))
                    continue
                # One transaction stores the answer and, for a fresh one, its cache entry (the
                # cache keeps the response as given; the run stores it in the original order).
                answer = build.original_order(q, raw)
                store.record_answer(
                    name, q.key, q.id, answer, cache_key=None if hit else key, cache_answer=raw
                )
                state["done"] += 1
                state["fresh"] += 1
                state["cached"] += int(hit is not None)
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
