"""The chart that asks: a question's human distributions beside the model's answer to it.

Browse and the demo share this flow. :class:`AskChart` is a :class:`DistributionChart` that
also asks the model: :meth:`AskChart.ask` starts an exclusive async worker (a second ask
cancels the first) that builds the prompt, asks through the response cache
(:func:`core.asking.ask_cached`) and posts the answer; a sampling backend's partial answers
arrive as replaceable messages, from whatever thread the backend calls from. Every ask has
a serial number, so a late answer to an ask that was replaced is dropped. :meth:`look_up`
shows an answer the store already holds without asking (in a thread: a local backend hashes
its model file the first time).

The widget keeps what has arrived per *key* (whatever the screen says one answer depends on:
question, backend, condition, template, estimator…) in :attr:`AskChart.states` and posts a
message for every change; the screen, which knows what its captions say, redraws with
:meth:`draw` (one model series) or :meth:`draw_estimators` (one series per estimator). The
widget never reaches the app: an ask gets an :class:`AskRequest` (built by
:func:`ask_request` from the app's contract, or by a test), and failures travel as
:class:`AskChart.AskEnded` messages for the screen to report.

Estimators (:mod:`core.estimators`): ``first-token`` is asked as above (partial answers,
the cache look-up); any other is asked by :class:`core.estimation.Estimation` in a worker of
its own (group ``ask-NAME``), so the five estimators of one question are asked at once, each
posts its own :class:`AskChart.AnswerReceived` as it lands, and one that fails keeps its
reason in its own rows without stopping the others. :func:`estimator_specs` gives the set
the screens show: the configured estimator alone, or all five.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from textual import on, work
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from core import asking
from core.backends.base import Answer, Backend
from core.backends.retry import RetryPolicy, policy_for
from core.compared import Compared
from core.config import Config
from core.dataset import Dataset, Question
from core.estimation import (
    Estimate,
    Estimation,
    EstimatorResult,
    calibration_pool,
    pairwise_distances,
)
from core.estimators import ESTIMATOR_NAMES, EstimatorSpec
from core.prompts import Condition
from core.store import Store
from tui.contract import GoqaContract, available_store
from tui.errors import describe
from tui.widgets.chart import ChartData, DistributionChart, Series

FIRST_TOKEN = EstimatorSpec()
"""The paper's estimator, asked through :func:`core.asking.ask_cached` (partial answers)."""


def estimator_specs(config: Config, every: bool) -> tuple[EstimatorSpec, ...]:
    """The estimators a chart shows: the configured one (``config.estimator``) alone, or with
    ``every`` all five, the configured one first and the others in
    :data:`~core.estimators.ESTIMATOR_NAMES` order, each with the config's settings."""
    primary = config.estimator_spec()
    if not every:
        return (primary,)
    return (primary, *(config.estimator_spec(n) for n in ESTIMATOR_NAMES if n != primary.name))


@dataclass(frozen=True)
class AskRequest:
    """Everything one ask needs, resolved from the app by the screen.

    Attributes:
        question: the question to ask.
        dataset: its dataset (a ``country:`` condition names one of its countries).
        backend: the backend to ask.
        condition: the condition to ask under.
        template: the prompt template.
        store: where translations (and, for :meth:`AskChart.look_up`, cached answers) are
            read; None for the bundled translations only and no look-up.
        cache: the response cache asking reads and writes; None to ask without it.
        retry: how often a failed request is retried.
        max_off_option: above this off-option mass an answer is suspect.
    """

    question: Question
    dataset: Dataset
    backend: Backend
    condition: Condition
    template: str
    store: Store | None
    cache: Store | None
    retry: RetryPolicy
    max_off_option: float


def ask_request(
    app: GoqaContract,
    question: Question,
    condition: Condition,
    template: str,
    backend: str | None = None,
) -> AskRequest:
    """The request for asking ``question`` with the app's stores, backend and settings.

    Without a store only the bundled translations are used; without a writable one, no
    response cache.

    Args:
        backend: the backend's name (default: the app's current one).

    Raises:
        ConfigError: no backend of that name.
        BackendError: it cannot be built (e.g. the local extra is missing).
    """
    name = backend or app.backend_name
    store, _ = available_store(app, session=True)
    cache, _ = available_store(app, write=True, session=True)
    return AskRequest(
        question=question,
        dataset=app.dataset,
        backend=app.get_backend(name),
        condition=condition,
        template=template,
        store=store,
        cache=cache,
        # The backend's own retry count: a hanging server is not asked five times.
        retry=policy_for(app.config.backends.get(name)),
        max_off_option=app.config.max_off_option,
    )


@dataclass
class AskState:
    """The model's answer for one key as far as it has arrived."""

    answer: Answer | None = None
    """The answer (growing while a sampling backend is still at it), or None."""
    pending: bool = False
    """An ask is running."""
    cached: bool = False
    """The answer came from the response cache."""
    error: str = ""
    """Why the last ask failed ("" when it did not)."""
    serial: int = 0
    """The ask this state belongs to (0: none, only a cache look-up)."""


def _country_series(compared: Sequence[Compared]) -> list[Series]:
    """One series per compared country, tagged conditioned or added."""
    return [
        Series(
            c.label,
            tuple(float(p) for p in c.probs),
            "country",
            c.similarity,
            "conditioned" if c.conditioned else ("added" if c.pinned else ""),
        )
        for c in compared
    ]


def chart_data(
    question: Question,
    state: AskState | None,
    compared: Sequence[Compared],
    *,
    model_tag: str,
    caption: str,
    asking: str,
) -> ChartData:
    """What the chart shows: the model's row (its answer, a status or why it failed), then
    the countries.

    Args:
        question: the question shown.
        state: the model's answer so far (None: never asked).
        compared: the countries beside it (:func:`core.compared.choose`).
        model_tag: the legend's remark on the model row (backend, condition…).
        caption: the line under the chart.
        asking: the status shown while an ask has no answer yet (``asking local…``).
    """
    answer = state.answer if state is not None else None
    pending = state is not None and state.pending
    error = state.error if state is not None and not pending else ""
    series: list[Series] = []
    if answer is not None or pending or error:  # asked (or found in the cache)
        series.append(
            Series(
                "Model",
                tuple(float(p) for p in answer.probs) if answer is not None else (),
                "model",
                tag=model_tag,
            )
        )
    series += _country_series(compared)
    return ChartData(
        options=question.options,
        nonsubstantive=tuple(bool(x) for x in question.nonsubstantive),
        series=tuple(series),
        caption=caption,
        pending=pending,
        status=asking if pending and answer is None else "",
        suspect=answer.suspect if answer is not None and not pending else "",
        error=error,
    )


@dataclass(frozen=True)
class EstimatorRow:
    """One estimator of a chart that shows several: where its answer is kept, and which."""

    key: Hashable
    spec: EstimatorSpec


def estimator_tag(state: AskState | None) -> str:
    """An estimator's remark in the legend: its readout, its note, the cache
    (``logprobs · mean over 4 option orders · from cache``); ``asking…`` while it asks."""
    if state is None:
        return "not asked"
    if state.pending and state.answer is None:
        return "asking…"
    answer = state.answer
    if answer is None:
        return "failed" if state.error else "not asked"
    parts = [answer.readout]
    if answer.note and not state.pending:
        parts.append(answer.note)
    if state.cached:
        parts.append("from cache")
    return " · ".join(parts)


def estimators_caption(
    rows: Sequence[EstimatorRow], states: Mapping[Hashable, AskState], *, again: str
) -> str:
    """The line under a chart of several estimators: how many answered, which one the
    countries' similarities are to, the two that disagree most (Jensen–Shannon distance,
    :func:`core.estimation.pairwise_distances`) and what ``a`` does.

    Args:
        rows: the estimators shown, the one similarities are measured against first.
        states: what has arrived, by key.
        again: what asking does now (``a asks local again``).
    """
    answered = [
        EstimatorResult(row.spec, Estimate(state.answer))
        for row in rows
        if (state := states.get(row.key)) is not None
        and state.answer is not None
        and not state.pending
    ]
    asking_now = sum(1 for row in rows if (st := states.get(row.key)) is not None and st.pending)
    failed = sum(
        1 for row in rows if (st := states.get(row.key)) is not None and st.error and not st.pending
    )
    parts = [f"{len(rows)} estimators · {len(answered)} answered"]
    if asking_now:
        parts.append(f"{asking_now} asking")
    if failed:
        parts.append(f"{failed} failed")
    parts.append(f"similarity to {rows[0].spec.name}" if rows else "")
    pairs = pairwise_distances(answered)
    if pairs:
        a, b, distance = max(pairs, key=lambda p: p[2])
        parts.append(f"most apart: {a} vs {b} (JSD {distance:.3f})")
    parts.append(again)
    return " · ".join(p for p in parts if p)


def estimators_chart_data(
    question: Question,
    rows: Sequence[tuple[EstimatorSpec, AskState | None]],
    compared: Sequence[Compared],
    *,
    caption: str,
    asking: str,
) -> ChartData:
    """What the chart shows for several estimators: one model series per estimator (named
    by its label in the legend, its name on the rows), each with its own status or failure,
    then the countries. With none asked at all, the countries alone.

    Args:
        rows: each estimator with what has arrived for it (None: never asked).
        asking: the status shown in an estimator's rows while it has no answer yet.
    """
    series: list[Series] = []
    if any(state is not None for _, state in rows):
        for spec, state in rows:
            answer = state.answer if state is not None else None
            pending = state is not None and state.pending
            error = state.error if state is not None and not pending else ""
            if answer is None:
                status = asking if pending else ("" if error else "not asked · a asks")
            else:
                status = ""
            series.append(
                Series(
                    spec.label,
                    tuple(float(p) for p in answer.probs) if answer is not None else (),
                    "model",
                    tag=estimator_tag(state),
                    short=spec.name,
                    pending=pending,
                    status=status,
                    error=error,
                    suspect=answer.suspect if answer is not None and not pending else "",
                )
            )
    series += _country_series(compared)
    return ChartData(
        options=question.options,
        nonsubstantive=tuple(bool(x) for x in question.nonsubstantive),
        series=tuple(series),
        caption=caption,
        pending=any(state is not None and state.pending for _, state in rows),
    )


class AskChart(DistributionChart):
    """A distribution chart that asks the model and keeps its answers by key."""

    @dataclass
    class PartialAnswerReceived(Message):
        """A sampling backend's growing answer; a newer one replaces a queued older one."""

        key: Hashable
        serial: int
        answer: Answer

        def can_replace(self, message: Message) -> bool:
            return (
                isinstance(message, AskChart.PartialAnswerReceived)
                and message.key == self.key
                and message.serial == self.serial
            )

    @dataclass
    class AnswerReceived(Message):
        """The model's whole answer to an ask."""

        key: Hashable
        serial: int
        answer: Answer
        cached: bool

    @dataclass
    class CachedAnswerFound(Message):
        """A stored answer for a key that was only looked up, not asked."""

        key: Hashable
        answer: Answer

    @dataclass
    class AskEnded(Message):
        """An ask ended without an answer: it failed (``error``) or was cancelled (None)."""

        key: Hashable
        error: BaseException | None

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.states: dict[Hashable, AskState] = {}
        """What has arrived, by the key each ask or look-up was given."""
        self._serial = 0
        self._asks: dict[Worker[None], tuple[Hashable, int]] = {}

    # ------------------------------------------------------------------ asking

    @property
    def asking(self) -> bool:
        """An ask is running."""
        return any(w.is_running for w in self._asks)

    def ask(
        self,
        key: Hashable,
        request: Callable[[], AskRequest],
        estimator: EstimatorSpec | None = None,
    ) -> None:
        """Ask the model; what arrives is kept under ``key``, replacing what was there.

        A new ask with the same estimator cancels the one still running (whatever its key);
        asks with different estimators run side by side.

        Args:
            key: what the answer depends on (messages carry it back).
            request: builds the request; called in the worker, so that a backend that
                cannot be built fails the ask like any other error.
            estimator: how the distribution is read (default ``first-token``, through the
                cache with partial answers; the others by :class:`core.estimation.Estimation`).
        """
        self._serial += 1
        self.states[key] = AskState(pending=True, serial=self._serial)
        if estimator is None or estimator.name == "first-token":
            worker = self._ask(key, self._serial, request)
        else:
            worker = self.run_worker(
                self._estimate(key, self._serial, estimator, request),
                name=f"ask {estimator.name}",
                group=f"ask-{estimator.name}",
                exclusive=True,
                exit_on_error=False,
            )
        self._asks[worker] = (key, self._serial)

    def cancel(self) -> None:
        """Cancel the running asks (each key keeps an answer that had arrived, if any)."""
        for group in {worker.group for worker in self._asks}:
            self.workers.cancel_group(self, group)

    def forget(self, keep: Callable[[AskState], bool]) -> None:
        """Drop the states ``keep`` says no to (e.g. empty look-ups, to look again)."""
        self.states = {key: state for key, state in self.states.items() if keep(state)}

    @work(exclusive=True, group="ask", exit_on_error=False, name="ask")
    async def _ask(self, key: Hashable, serial: int, request: Callable[[], AskRequest]) -> None:
        r = request()
        build = asking.prompt_builder(r.dataset, r.condition, r.template, r.store, [r.question])
        prompt = build(r.question)
        # Hashing a local model file the first time is slow: keep it off the event loop.
        await asyncio.to_thread(r.backend.request_params)

        def on_partial(answer: Answer) -> None:  # any thread: post_message is thread-safe
            self.post_message(self.PartialAnswerReceived(key, serial, answer))

        answer, cached = await asking.ask_cached(
            r.backend,
            prompt,
            r.cache,
            r.retry,
            on_partial=on_partial,
            max_off_option=r.max_off_option,
        )
        self.post_message(self.AnswerReceived(key, serial, answer, cached))

    async def _estimate(
        self,
        key: Hashable,
        serial: int,
        spec: EstimatorSpec,
        request: Callable[[], AskRequest],
    ) -> None:
        """Ask one question under ``spec`` as :func:`core.estimation.ask_estimators` does
        (calibrating first for ``prior-corrected``), through the response cache."""
        r = request()
        build = asking.prompt_builder(r.dataset, r.condition, r.template, r.store, [r.question])
        await asyncio.to_thread(r.backend.request_params)
        estimation = Estimation(
            spec,
            r.backend,
            build,
            r.cache if r.cache is not None else r.store,
            r.retry,
            r.max_off_option,
        )
        await estimation.prepare(calibration_pool(r.dataset, r.question))
        estimate = await estimation.answer(r.question)
        if r.cache is not None and not r.cache.read_only:
            for cache_key, response in estimate.cache_writes:  # what a run would store with it
                r.cache.cache_put(cache_key, response)
        self.post_message(self.AnswerReceived(key, serial, estimate.answer, estimate.from_cache))

    def _current(self, key: Hashable, serial: int) -> AskState | None:
        """The state of ``key`` if it still belongs to ask ``serial`` and is pending."""
        state = self.states.get(key)
        if state is None or state.serial != serial or not state.pending:
            return None
        return state

    @on(PartialAnswerReceived)
    def _partial(self, event: PartialAnswerReceived) -> None:
        state = self._current(event.key, event.serial)
        if state is None:
            event.stop()  # a replaced ask's: the screen need not redraw
            return
        state.answer = event.answer

    @on(AnswerReceived)
    def _answered(self, event: AnswerReceived) -> None:
        state = self.states.get(event.key)
        if state is None or state.serial != event.serial:
            event.stop()
            return
        state.answer, state.pending, state.cached = event.answer, False, event.cached

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker not in self._asks or event.state not in (
            WorkerState.ERROR,
            WorkerState.CANCELLED,
            WorkerState.SUCCESS,
        ):
            return
        asked = self._asks.pop(event.worker, None)
        if asked is None or event.state == WorkerState.SUCCESS:
            return  # on success the AnswerReceived message is on its way
        key, serial = asked
        error = event.worker.error if event.state == WorkerState.ERROR else None
        state = self._current(key, serial)
        if state is not None:
            state.pending = False
            if error is not None:
                # The reason stays in the chart, in place of the bars, until asked again.
                state.answer, state.cached, state.error = None, False, describe(error)[1]
            elif state.answer is None:
                del self.states[key]
        if state is not None or error is not None:
            self.post_message(self.AskEnded(key, error))

    # ------------------------------------------------------------------ looking up

    def look_up(self, key: Hashable, request: AskRequest) -> None:
        """Show what the response cache holds for ``key``, once (nothing is asked)."""
        if key in self.states:
            return
        self.states[key] = AskState()
        self._find_cached(key, request)

    @work(thread=True, exclusive=True, group="lookup", exit_on_error=False, name="cache lookup")
    def _find_cached(self, key: Hashable, r: AskRequest) -> None:
        """In a thread: the cache key of a local backend hashes its model file the first time."""
        if r.store is None:
            return  # no cache to look in
        try:
            build = asking.prompt_builder(r.dataset, r.condition, r.template, r.store)
            # Checked as a fresh answer is: an unusable entry is no hit, a doubtful one suspect.
            key_hash = asking.cache_key(r.backend, build(r.question))
            hit = asking.cached_answer(r.store, key_hash, r.max_off_option)
        except Exception:  # only a convenience: asking reports problems properly
            return
        if hit is not None and not get_current_worker().is_cancelled:
            self.post_message(self.CachedAnswerFound(key, hit))

    @on(CachedAnswerFound)
    def _cached_found(self, event: CachedAnswerFound) -> None:
        state = self.states.get(event.key)
        if state is None or state.answer is not None or state.pending:
            event.stop()
            return
        state.answer, state.cached = event.answer, True

    # ------------------------------------------------------------------ drawing

    def draw(
        self,
        question: Question,
        key: Hashable,
        compared: Sequence[Compared],
        *,
        model_tag: str,
        caption: str,
        asking: str,
    ) -> None:
        """Show ``question`` with what has arrived for ``key`` (see :func:`chart_data`)."""
        self.data = chart_data(
            question,
            self.states.get(key),
            compared,
            model_tag=model_tag,
            caption=caption,
            asking=asking,
        )

    def draw_estimators(
        self,
        question: Question,
        rows: Sequence[EstimatorRow],
        compared: Sequence[Compared],
        *,
        caption: str,
        asking: str,
    ) -> None:
        """Show ``question`` with one model series per estimator of ``rows`` (see
        :func:`estimators_chart_data`)."""
        self.data = estimators_chart_data(
            question,
            [(row.spec, self.states.get(row.key)) for row in rows],
            compared,
            caption=caption,
            asking=asking,
        )
