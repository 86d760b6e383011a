"""The run screen: ask a backend every question of the current selection and watch the scores.

The user names the run (:func:`core.runs.run_name` fills in a default like
``default-local-20261122-0930``), picks the backend, the condition and the estimator
(:mod:`core.estimators`; the config's ``estimator`` to start with, part of the run's identity
and its default name), and starts it: the form
becomes a :class:`core.runs.RunPlan` (:func:`core.runs.plan_run`, as ``goqa run`` makes it) and
:func:`core.runs.execute` does the work in an async worker; each answer lands in an inbox and
:class:`RunScreen.ProgressUpdated` (replaceable: only the newest matters) tells the screen to
take it in. The leaderboard is scored again from the answers so far
(:func:`core.runs.score_distributions`) at most every half second. Cancelling stops the worker; what was stored stays,
and starting the same name again (or picking the run under "Resume") asks only the questions
still unanswered or failed. The store's runs (the "Resume" list, the names a default name
avoids) are read in a thread worker and arrive as :class:`RunScreen.RunsListed`.

The board scores under the session's metric (:class:`tui.contract.MetricChoice`; ``M`` with
the board focused, or the command palette, switches to the next one), as the Results view does;
its title line names the metric.

Suspect answers (see :func:`core.backends.base.validate_answer`) are stored and counted but
left out of the live scores, as :func:`core.runs.load_run` leaves them out; failed
questions are counted and asked again when the run resumes. Run names are the user's text:
they are always shown as plain text, never read as markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.validation import Function
from textual.widgets import Button, Footer, Header, Input, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState

from core import countries, metrics, runner, runs
from core.config import BackendConfig
from core.estimators import ESTIMATOR_NAMES, SUMMARY, EstimatorSpec
from core.metrics import DEFAULT_METRIC, HIGHER_IS_BETTER, MetricName
from core.prompts import Condition
from core.runs import RunPlan
from core.store import RunSummary, Selection, Store
from core.wording import counted
from tui.contract import (
    GoqaContract,
    MetricChoice,
    available_store,
    choose_metric,
    leave,
    session_metric,
)

from ..widgets.leaderboard import Leaderboard, rows_from_scores
from ..widgets.metric_label import (
    METRIC_KEY,
    metric_title,
    next_metric,
    no_scores_reason,
    value_label,
    with_unit,
)

if TYPE_CHECKING:
    from core.backends.base import Answer
    from core.dataset import Dataset, Question

RESCORE_SECONDS = 0.5
"""Least time between two re-rankings of the live leaderboard."""


def answer_counts(done: int, total: int, suspect: int, failed: int) -> str:
    """``done 28/30 · 2 suspect · 1 failed``: the counts every progress line starts with."""
    return f"done {done}/{total} · {suspect} suspect · {failed} failed"


def outcome_summary(name: str, answered: int, total: int, suspect: int, failed: int) -> str:
    """How a finished run stands, in one sentence, e.g. ``Run x finished: 28 of 30
    answered; 2 suspect (left out of scores); 1 failed (asked again when the run resumes).``"""
    text = f"Run {name} finished: {answered} of {total} answered"
    if suspect:
        text += f"; {suspect} suspect (left out of scores)"
    if failed:
        text += f"; {failed} failed (asked again when the run resumes)"
    return text + "."


def format_seconds(seconds: float | None) -> str:
    """``1:05`` or ``1:02:03``; an em dash when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunScreen(Screen[None]):
    """Launch, watch, cancel and resume a named run over a list of questions."""

    SUB_TITLE = "Run"
    AUTO_FOCUS = "#run-name"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding(
            "ctrl+r",
            "start",
            "Start",
            id="run.start",
            tooltip="Start the run (the same name resumes it)",
        ),
        Binding(
            "ctrl+x",
            "cancel",
            "Cancel",
            id="run.cancel",
            tooltip="Stop the run; answers stored so far stay",
            priority=True,  # over the inputs' "cut", which is idle while a run holds the form
        ),
        Binding(
            "ctrl+l",
            "focus_board",
            "Leaderboard",
            id="run.focus_board",
            tooltip="Move to the live leaderboard",
        ),
        Binding(
            METRIC_KEY,
            "next_metric",
            "Metric",
            id="run.metric",
            tooltip="Score the live leaderboard under the next metric (from the board: ctrl+l)",
        ),
        Binding("escape", "leave", "Back", id="run.leave", tooltip="Leave the run screen"),
    ]

    running: reactive[bool] = reactive(False)
    """True while the run worker is active."""
    metric: reactive[MetricName] = reactive[MetricName](DEFAULT_METRIC, init=False)
    """The metric the live board scores under: the session's (kept in step with the app's
    when it keeps one, :class:`tui.contract.MetricChoice`)."""

    @dataclass
    class ProgressUpdated(Message):
        """Where the run stands, and that new answers wait in the screen's inbox.

        A newer one replaces any still queued: the answers themselves are appended to the
        inbox by the worker (same event loop, no thread), so coalescing loses none of them.
        """

        progress: runner.Progress
        fresh: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RunScreen.ProgressUpdated)

    @dataclass
    class RunFinished(Message):
        """The worker returned: every planned question was tried."""

        outcome: runner.RunOutcome

    @dataclass
    class RunsListed(Message):
        """The store's runs were read (in a thread: never on the event loop).

        ``after_run`` is the plan of the run that just ended, whose name the form keeps when
        the run can be resumed.
        """

        runs: tuple[RunSummary, ...]
        after_run: RunPlan | None = None

    def __init__(self, positions: list[int], condition: Condition) -> None:
        """Create the screen.

        Args:
            positions: dataset positions of the questions to run (the current filter).
            condition: the condition to start with (editable on screen).
        """
        super().__init__()
        self.positions = list(positions)
        self.condition = condition
        self._probs: dict[int, np.ndarray] = {}
        self._inbox: list[tuple[int, np.ndarray]] = []
        self._resumable: dict[str, RunSummary] = {}
        self._taken: set[str] = set()
        """Names of the stored runs, as last read (the default name avoids them)."""
        self._dirty = False
        self._plan: RunPlan | None = None
        self._resume: RunSummary | None = None
        self._resume_positions: list[int] | None = None
        self._auto_name = ""
        self._progress: runner.Progress | None = None
        self._outcome: runner.RunOutcome | None = None
        self._earlier_suspect = 0
        """Suspect answers the run held before this start (left out of the board too)."""

    # ------------------------------------------------------------------ layout

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    def compose(self) -> ComposeResult:
        app = self.goqa
        backends = app.backend_names
        backend = app.backend_name if app.backend_name in backends else backends[0]
        displays = sorted({countries.resolve(c).display for c in app.dataset.countries})
        yield Header()
        with Horizontal(id="run-form"):
            yield Input(
                id="run-name",
                placeholder="run name (the same name resumes)",
                tooltip="Name of the run; a stored unfinished run with this name is resumed",
                compact=True,
            )
            yield Select(
                [(name, name) for name in backends],
                value=backend,
                allow_blank=False,
                id="run-backend",
                tooltip="Backend that answers",
                compact=True,
            )
            yield Input(
                str(self.condition),
                id="run-condition",
                placeholder="default | country:NAME | language:CODE",
                suggester=SuggestFromList(
                    ["default", *(f"country:{d}" for d in displays)], case_sensitive=False
                ),
                validators=[Function(_parses, "use default, country:NAME or language:CODE")],
                tooltip="How the model is asked: default, country:NAME or language:CODE",
                compact=True,
            )
        with Horizontal(id="run-form-2"):
            yield Select(
                [(name, name) for name in ESTIMATOR_NAMES],
                value=app.config.estimator,
                allow_blank=False,
                id="run-estimator",
                tooltip="How each answer is estimated (part of the run's identity): "
                + "; ".join(f"{n}: {SUMMARY[n]}" for n in ESTIMATOR_NAMES),
                compact=True,
            )
            yield Select[str](
                [],
                prompt="Resume an unfinished run…",
                id="run-resume",
                tooltip="Pick a stored run that did not finish to ask what is left",
                compact=True,
            )
            yield Button("Start", id="run-start", variant="primary", compact=True)
            yield Button("Cancel", id="run-cancel", variant="error", compact=True, disabled=True)
        yield Static("", id="run-info")
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="run-progress")
        yield Static("Not started.", id="run-stats")
        yield Static("", id="run-last-error")
        yield Leaderboard(extra_labels=("uniform",), show_search=False, id="run-board")
        yield Footer()

    def on_mount(self) -> None:
        self.set_reactive(RunScreen.metric, session_metric(self.app))
        if isinstance(self.app, MetricChoice):
            self.watch(self.app, "metric", self._session_metric_changed, init=False)
        self._refresh_resumable()
        self._update_default_name()
        self._update_info()
        board = self.query_one("#run-board", Leaderboard)
        self._show_metric(board)
        board.set_caption(
            "Country scores appear here as answers arrive (┆ marks the uniform-answer score)."
        )
        store, problem = available_store(self.goqa, write=True)
        if store is None:
            self.query_one("#run-stats", Static).update(Text(problem))
        self.set_interval(RESCORE_SECONDS, self._rescore_if_dirty)

    def on_screen_resume(self) -> None:
        # Back from another view: runs may have been made elsewhere, and time has moved on.
        if not self.running:
            self._refresh_resumable()
            if self._resume is None:
                self._update_default_name()

    # ------------------------------------------------------------------ form

    @property
    def _name_input(self) -> Input:
        return self.query_one("#run-name", Input)

    def _taken_names(self) -> set[str]:
        """The stored runs' names as last read by :meth:`_refresh_resumable`."""
        return self._taken

    def _form_condition(self) -> Condition | None:
        try:
            return Condition.parse(self.query_one("#run-condition", Input).value)
        except ValueError:
            return None

    def _form_backend(self) -> str:
        value = self.query_one("#run-backend", Select).value
        return str(value) if value is not Select.NULL else self.goqa.backend_name

    def _form_estimator(self) -> EstimatorSpec:
        """The estimator the form names, with the config's settings (a resumed run keeps
        the settings it was made with)."""
        if self._resume is not None:
            m = self._resume.manifest
            return EstimatorSpec.from_manifest(m.estimator, m.estimator_params)
        value = self.query_one("#run-estimator", Select).value
        config = self.goqa.config
        return config.estimator_spec(str(value) if value is not Select.NULL else None)

    def _update_default_name(self) -> None:
        """Fill in a fresh default name unless the user typed their own."""
        name = self._name_input
        if name.value and name.value != self._auto_name:
            return
        condition = self._form_condition() or self.condition
        self._auto_name = runs.run_name(
            condition,
            self._form_backend(),
            taken=self._taken_names(),
            estimator=self._form_estimator().name,
        )
        name.value = self._auto_name

    def _refresh_resumable(self, after_run: RunPlan | None = None) -> None:
        """Read the store's runs in a thread; :meth:`_runs_listed` fills the resume list."""
        store, _ = available_store(self.goqa)
        if store is None:
            self.post_message(self.RunsListed((), after_run))
            return
        self._list_runs(store, after_run)

    @work(thread=True, group="run-list", exit_on_error=False, name="list runs")
    def _list_runs(self, store: Store, after_run: RunPlan | None) -> None:
        try:
            listed = tuple(store.runs())
        except Exception as exc:  # worded by the app; the form still works without the list
            self.app.call_from_thread(self.goqa.show_error, exc)
            listed = ()
        self.post_message(self.RunsListed(listed, after_run))

    @on(RunsListed)
    def _runs_listed(self, event: RunsListed) -> None:
        if not self.is_attached:
            return
        self._taken = {r.manifest.name for r in event.runs}
        unfinished = [r for r in event.runs if not r.finished]
        unfinished.reverse()  # newest first
        self._resumable = {r.manifest.name: r for r in unfinished}
        select = self.query_one("#run-resume", Select)
        select.set_options(
            (
                # A Text prompt: a run name is shown as written, never read as markup.
                Text(
                    f"{r.manifest.name} · {r.manifest.condition} · {r.manifest.backend} · "
                    f"{r.manifest.estimator} · {r.n_ok}/{r.planned} done"
                    + (f", {r.n_failed} failed" if r.n_failed else "")
                    + (f", {r.n_suspect} suspect" if r.n_suspect else "")
                ),
                r.manifest.name,
            )
            for r in unfinished
        )
        select.disabled = self.running or not unfinished
        if available_store(self.goqa)[0] is None:
            select.prompt = "No store: nothing to resume"
        else:
            select.prompt = (
                "Resume an unfinished run…" if unfinished else "No unfinished run to resume"
            )
        plan = event.after_run
        if plan is not None and not self.running:
            # Stay on this run: the next start resumes it.
            summary = self._resumable.get(plan.name)
            if summary is not None:
                self._resume = summary
                self._resume_positions = list(plan.positions)
            else:
                # Finished: the next start is a new run under a fresh default name.
                self._resume = None
                self._auto_name = self._name_input.value
                self._update_default_name()
            self._update_info()
        elif self._resume is None and not self.running:
            self._update_default_name()

    def _update_info(self) -> None:
        app = self.goqa
        if self._resume is not None:
            r = self._resume
            total = len(self._resume_positions or [])
            left = max(total - r.n_ok, 0)
            suspect = r.n_suspect
            text = (
                f"Resuming {r.manifest.name}: {r.n_ok} of {total} answered"
                + (f" ({suspect} suspect)" if suspect else "")
                + (f", {r.n_failed} failed (asked again)" if r.n_failed else "")
                + f"; {left} to ask · template {r.manifest.template} · policy {r.manifest.policy}"
                + f" · estimator {r.manifest.estimator}"
            )
        else:
            spec = self._form_estimator()
            text = (
                f"{counted(len(self.positions), 'question')} selected · dataset {app.dataset.name} · "
                f"template {app.template} · policy {app.policy} · estimator {spec.label}: "
                f"{SUMMARY[spec.name]}"
            )
        self.query_one("#run-info", Static).update(Text(text))

    @on(Input.Changed, "#run-condition")
    def _condition_changed(self) -> None:
        if self._resume is None:
            self._update_default_name()

    @on(Select.Changed, "#run-backend")
    def _backend_changed(self) -> None:
        if self._resume is None:
            self._update_default_name()

    @on(Select.Changed, "#run-estimator")
    def _estimator_changed(self, event: Select.Changed) -> None:
        if self._resume is not None and event.value != self._resume.manifest.estimator:
            # Another estimator is another run: leave resume mode, under a fresh name.
            self._set_resume(None)
            self._auto_name = self._name_input.value
        if self._resume is None:
            self._update_default_name()
        self._update_info()

    @on(Input.Changed, "#run-name")
    def _name_changed(self, event: Input.Changed) -> None:
        if self._resume is not None and event.value != self._resume.manifest.name:
            self._set_resume(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()

    @on(Select.Changed, "#run-resume")
    def _resume_picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        self._set_resume(self._resumable.get(str(event.value)))

    def _set_resume(self, summary: RunSummary | None) -> None:
        """Fill the form from a stored unfinished run (or leave resume mode with None)."""
        app = self.goqa
        self._resume = summary
        self._resume_positions = None
        if summary is None:
            resume = self.query_one("#run-resume", Select)
            if resume.value is not Select.NULL:
                resume.clear()
            self._update_info()
            return
        m = summary.manifest
        try:
            positions = runs.planned_positions(app.dataset, m.selection)
        except Exception as exc:
            self.goqa.show_error(exc)
            positions = None
        if positions is None:
            positions = self.positions
            self.notify(
                f"Run {m.name!r} does not say which questions it planned; resuming it over the "
                "current selection.",
                severity="warning",
                markup=False,
            )
        self._resume_positions = positions
        self._name_input.value = m.name
        self._auto_name = ""
        if m.backend in app.config.backends:
            self.query_one("#run-backend", Select).value = m.backend
        self.query_one("#run-condition", Input).value = m.condition
        if m.estimator in ESTIMATOR_NAMES:
            self.query_one("#run-estimator", Select).value = m.estimator
        self._update_info()

    # ------------------------------------------------------------------ actions

    def action_start(self) -> None:
        if self.running:
            self.notify("A run is in progress; cancel it first (ctrl+x).", severity="warning")
            return
        store, problem = available_store(self.goqa, write=True)
        if store is None:
            self.query_one("#run-stats", Static).update(Text(problem))
            self.notify(
                "Runs are stored as they go: without the results store no run can start.",
                title="No results store",
                severity="error",
            )
            return
        try:
            plan = self._make_plan()
        except Exception as exc:
            self.goqa.show_error(exc)
            return
        if plan is None:
            return
        self._begin(plan)

    def action_cancel(self) -> None:
        if not self.running:
            self.notify("No run in progress.", severity="information")
            return
        self.workers.cancel_group(self, "run")

    def action_focus_board(self) -> None:
        self.query_one("#run-board", Leaderboard).focus_table()

    def action_next_metric(self) -> None:
        """Score the live board under the next metric."""
        self.metric = next_metric(self.metric)

    def _session_metric_changed(self, metric: MetricName) -> None:
        self.metric = metric  # chosen elsewhere (the Results view, the command palette)

    def watch_metric(self, metric: MetricName) -> None:
        choose_metric(self.app, metric)
        self._show_metric(self.query_one("#run-board", Leaderboard))
        self._dirty = True
        self._rescore_if_dirty()

    def _show_metric(self, board: Leaderboard) -> None:
        metric = self.metric
        board.configure(
            title=metric_title(metric),
            value_label=value_label(metric),
            higher_is_better=HIGHER_IS_BETTER[metric],
        )

    def action_leave(self) -> None:
        if self.running and self._plan is not None:
            self.workers.cancel_group(self, "run")
            self.app.notify(
                f"Run {self._plan.name} cancelled; what was stored stays. Start the same name "
                "to resume it.",
                severity="warning",
                markup=False,
            )
        leave(self)

    @on(Button.Pressed, "#run-start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#run-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "start":
            return not self.running
        return True

    def watch_running(self, running: bool) -> None:
        self.refresh_bindings()
        self.query_one("#run-start", Button).disabled = running
        self.query_one("#run-cancel", Button).disabled = not running
        for selector in (
            "#run-name",
            "#run-backend",
            "#run-condition",
            "#run-estimator",
            "#run-resume",
        ):
            self.query_one(selector).disabled = running
        if not running:
            self.query_one("#run-resume", Select).disabled = not self._resumable

    # ------------------------------------------------------------------ starting

    def _make_plan(self) -> RunPlan | None:
        """Settle the run from the form; None (after telling the user) if it cannot start."""
        app = self.goqa
        name = self._name_input.value.strip()
        if not name:
            self.notify("Give the run a name.", severity="error")
            return None
        condition = Condition.parse(self.query_one("#run-condition", Input).value)
        backend_name = self._form_backend()
        if backend_name in app.config.backends:
            bcfg = app.config.backend(backend_name)
            concurrency, max_retries = bcfg.concurrency, bcfg.max_retries
        else:  # a backend handed to the app ready-made (tests, scripts): the defaults
            concurrency, max_retries = BackendConfig.concurrency, BackendConfig.max_retries
        resume = self._resume if self._resume and self._resume.manifest.name == name else None
        if resume is None and name in self._resumable:
            # Typing the name of an unfinished run resumes it, over its own questions.
            self._set_resume(self._resumable[name])
            resume = self._resume
        if resume is not None:
            # A resumed run keeps its template, policy and record of what it asks.
            m = resume.manifest
            template, policy = m.template, m.policy
            positions = list(self._resume_positions or self.positions)
            selection = replace(m.selection, planned=None)
        else:
            template, policy = app.template, app.policy
            positions = list(self.positions)
            selection = Selection(via="tui", ids=tuple(app.dataset.ids[p] for p in positions))
        try:
            return runs.plan_run(
                app.dataset,
                positions,
                condition=condition,
                backend_name=backend_name,
                template=template,
                policy=policy,
                name=name,
                selection=selection,
                concurrency=concurrency,
                max_retries=max_retries,
                max_off_option=app.config.max_off_option,
                estimator=self._form_estimator(),
            )
        except runs.NothingToRunError:
            self.notify(
                "No question that can be asked is selected: widen the filter on the browse "
                "screen first.",
                severity="error",
            )
            return None

    def _begin(self, plan: RunPlan) -> None:
        app = self.goqa
        self._plan = plan
        self._outcome = None
        self._progress = None
        self._probs = {}
        self._inbox = []
        self._earlier_suspect = 0
        wanted = set(plan.positions)
        if plan.name in self._taken_names():
            # Earlier answers of this run count on the board from the start (suspect ones are
            # left out of it, as of every score, but counted).
            answers = runner.run_answers(app.store, app.dataset, plan.name)
            for pos, row in zip(answers.positions.tolist(), answers.probs, strict=True):
                if pos in wanted:
                    self._probs[pos] = row
            self._earlier_suspect = answers.suspect_excluded
        self._dirty = True
        self.query_one("#run-last-error", Static).update("")
        bar = self.query_one("#run-progress", ProgressBar)
        earlier = len(self._probs) + self._earlier_suspect
        bar.update(total=len(plan.positions), progress=earlier)
        self.query_one("#run-stats", Static).update(
            Text(
                f"Starting {plan.name} ({plan.estimator.label}): "
                f"{counted(len(plan.positions), 'question')}, {earlier} already answered"
                + (f" ({self._earlier_suspect} suspect)" if self._earlier_suspect else "")
                + "…"
            )
        )
        self.running = True
        self._run_worker(plan)
        self._rescore_if_dirty()

    @work(exclusive=True, group="run", exit_on_error=False, description="goqa run")
    async def _run_worker(self, plan: RunPlan) -> runner.RunOutcome:
        app = self.goqa
        backend = app.get_backend(plan.backend_name)
        dataset: Dataset = app.dataset

        def on_progress(progress: runner.Progress, fresh: int) -> None:
            self.post_message(self.ProgressUpdated(progress, fresh))

        def on_answer(question: Question, answer: Answer | None, error: str | None) -> None:
            # Suspect answers are stored and counted (Progress.suspect) but, as in every
            # score, left off the board.
            if answer is not None and not answer.suspect:
                probs = metrics.pad_probs(dataset, [answer.probs])[0]
                self._inbox.append((dataset.key_index[question.key], probs))

        outcome = await runs.execute(
            plan, dataset, backend, app.store, on_progress=on_progress, on_answer=on_answer
        )
        self.post_message(self.RunFinished(outcome))
        return outcome

    # ------------------------------------------------------------------ progress

    @on(ProgressUpdated)
    def _progress_updated(self, event: ProgressUpdated) -> None:
        self._take_inbox()
        self._progress = event.progress
        self._show_progress(event.progress, event.fresh)

    def _take_inbox(self) -> None:
        if self._inbox:
            inbox, self._inbox = self._inbox, []
            self._probs.update(inbox)
            self._dirty = True

    def _show_progress(self, p: runner.Progress, fresh: int) -> None:
        self.query_one("#run-progress", ProgressBar).update(
            total=p.total, progress=p.done + p.failed
        )
        rate = p.rate(fresh)
        suspect = self._earlier_suspect + p.suspect
        self.query_one("#run-stats", Static).update(
            Text(
                f"{answer_counts(p.done, p.total, suspect, p.failed)} · cached {p.cached} · "
                f"{rate:.1f} q/s · elapsed {format_seconds(p.elapsed)} · "
                f"ETA {format_seconds(p.eta(fresh))}"
            )
        )
        if p.last_error:
            self.query_one("#run-last-error", Static).update(Text(f"last error: {p.last_error}"))

    @on(RunFinished)
    def _run_finished(self, event: RunFinished) -> None:
        self._outcome = event.outcome

    def _rescore_if_dirty(self) -> None:
        if not self._dirty or self._plan is None:
            return
        self._dirty = False
        app = self.goqa
        board = self.query_one("#run-board", Leaderboard)
        if not self._probs:
            board.clear("No answer yet.")
            return
        positions = np.fromiter(self._probs, dtype=np.int64, count=len(self._probs))
        probs = np.stack([self._probs[int(p)] for p in positions])
        metric = self.metric
        try:
            scored = runs.score_distributions(
                app.dataset, positions, probs, self._plan.policy, metric=metric
            )
        except Exception as exc:
            self.goqa.show_error(exc)
            return
        scores = scored.scores
        top = scores.countries[0] if scores.countries else None
        caption = f"{self._plan.name}: {len(positions)} of {len(self._plan.positions)} scored"
        suspect = self._earlier_suspect + (self._progress.suspect if self._progress else 0)
        if suspect:
            caption += f" · {suspect} suspect left out"
        if top is not None:
            closest = "most similar" if HIGHER_IS_BETTER[metric] else "closest"
            caption += f" · {closest}: {top.display} ({with_unit(metric, top.similarity)})"
        elif why := no_scores_reason(app.dataset, positions, metric, "answers so far"):
            board.set_rows([], caption=f"{caption} · {why}")
            return
        caption += " · ┆ uniform-answer score"
        board.set_rows(rows_from_scores(scores, scored.uniform), caption=caption)

    # ------------------------------------------------------------------ the end

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "run" or not self.is_attached:
            return
        state = event.state
        if state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self.running = False
        self._take_inbox()
        self._dirty = True
        self._rescore_if_dirty()
        plan = self._plan
        if state == WorkerState.SUCCESS:
            outcome = event.worker.result
            if isinstance(outcome, runner.RunOutcome):
                self._outcome = outcome
                bar = self.query_one("#run-progress", ProgressBar)
                bar.update(total=outcome.total, progress=outcome.answered + outcome.failed)
                suspect = self._earlier_suspect + outcome.suspect
                counts = answer_counts(outcome.answered, outcome.total, suspect, outcome.failed)
                notes = []
                if suspect:
                    notes.append(f"{suspect} suspect left out of the scores (Results: i)")
                if outcome.failed:
                    notes.append(f"{outcome.failed} failed, asked again when the run resumes")
                if self._progress is None:
                    notes.append("nothing left to ask")
                self.query_one("#run-stats", Static).update(
                    Text(f"Finished: {counts}" + "".join(f" · {n}" for n in notes))
                )
                self.notify(
                    outcome_summary(
                        outcome.manifest.name,
                        outcome.answered,
                        outcome.total,
                        suspect,
                        outcome.failed,
                    ),
                    title="Run finished",
                    severity="warning" if outcome.failed or suspect else "information",
                    markup=False,
                )
        elif state == WorkerState.CANCELLED:
            suspect = self._earlier_suspect + (self._progress.suspect if self._progress else 0)
            stored = len(self._probs) + suspect
            total = len(plan.positions) if plan else 0
            self.query_one("#run-stats", Static).update(
                Text(
                    f"Cancelled: {stored} of {total} answered and stored. Start the same name "
                    "(ctrl+r) to resume."
                )
            )
            if self.is_attached:
                self.notify(
                    f"Run {plan.name if plan else ''} cancelled: {stored} of {total} stored; "
                    "the same name resumes it.",
                    severity="warning",
                    markup=False,
                )
        elif state == WorkerState.ERROR and event.worker.error is not None:
            self.query_one("#run-stats", Static).update(
                Text(f"Stopped by an error: {event.worker.error}")
            )
            self.goqa.show_error(event.worker.error)
        self._refresh_resumable(after_run=plan)

    @property
    def outcome(self) -> runner.RunOutcome | None:
        """The last finished run's outcome (None before, or after a cancel or error)."""
        return self._outcome

    @property
    def answered(self) -> int:
        """Distinct questions with an answer on the board."""
        return len(self._probs)


def _parses(text: str) -> bool:
    try:
        Condition.parse(text)
    except ValueError:
        return False
    return True
