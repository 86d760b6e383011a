"""The experiments dialog: the paper's three experiments as one action.

Choose the experiment (default, cross-national or linguistic prompting), its targets, the
backend, the estimator every run uses (:mod:`core.estimators`; the config's to start with,
so the paper's experiments can be re-run under another estimator and compared with the
first-token result) and the run-name prefix (which follows the backend and the estimator
unless typed); the questions are the ones the browse filter shows. Start
resolves every condition first (in a thread worker: translations and stored answers are read
from the store), so a country that matches nothing or missing translations are reported
before any request is sent. Then an exclusive async worker makes or resumes the runs
``PREFIX-default``, ``PREFIX-country-Russia``… one after the other through
:func:`core.experiments.run_experiment` (the same code as ``goqa experiment``), with a
progress bar per run. Cancel stops it; what was stored stays, and Start resumes.

When the runs are done a thread worker summarises them (:func:`core.experiments.summarise_runs`):
for each conditioned run the target's score and rank under default → conditioned prompting,
whether it moved toward its target, the countries that moved most, how many countries are
significantly closer or further (Benjamini–Hochberg) and, for cross-national runs, how often
the answer overshoots the target into a stereotype. Picking a run in the list under the
summary closes the dialog with ``(default run, that run)`` for the results view to compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, ProgressBar, Select, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from core import experiments, runner
from core.config import BackendConfig
from core.errors import GoqaError
from core.estimators import ESTIMATOR_NAMES, SUMMARY, EstimatorSpec
from core.experiments import ExperimentKind, ExperimentPlan, ExperimentSummary, Movement
from core.prompts import Condition
from core.runs import NothingToRunError
from core.store import Selection
from core.wording import counted
from tui.contract import GoqaContract

KIND_OPTIONS: tuple[tuple[str, str], ...] = (
    ("Default prompting", "default"),
    ("Cross-national (as someone from X)", "cross-national"),
    ("Linguistic (in language L)", "linguistic"),
)
TARGET_HINTS = {
    "default": "no targets: the default run alone",
    "cross-national": "countries, comma-separated",
    "linguistic": "language codes, comma-separated",
}
TRANSLATION_HINT = (
    " The bundled ru, zh and tr translations cover the first 30 questions of the sample: narrow "
    "the browse filter to those, or translate the rest first."
)

CompareChoice = tuple[str, str]
"""(default run, conditioned run): what the dialog hands back for the results view."""


class ExperimentScreen(ModalScreen[CompareChoice | None]):
    """Plan, run (or resume) and summarise one of the paper's experiments."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+r",
            "start",
            "Start",
            id="experiments.start",
            tooltip="Make or resume the experiment's runs (the same prefix resumes)",
        ),
        Binding(
            "ctrl+x",
            "cancel",
            "Cancel",
            id="experiments.cancel",
            tooltip="Stop the experiment; answers stored so far stay",
            priority=True,  # over the inputs' "cut", idle while the form is locked
        ),
        Binding(
            "escape",
            "close",
            "Close",
            id="experiments.close",
            tooltip="Close the dialog (a running experiment is cancelled)",
        ),
    ]

    running: reactive[bool] = reactive(False)
    """True while the runs are being made."""

    @dataclass
    class RunStarted(Message):
        """Run ``index`` of the plan started."""

        index: int

    @dataclass
    class RunProgressed(Message):
        """Where run ``index`` stands; a newer one for the same run replaces a queued one."""

        index: int
        progress: runner.Progress

        def can_replace(self, message: Message) -> bool:
            return (
                isinstance(message, ExperimentScreen.RunProgressed) and message.index == self.index
            )

    @dataclass
    class RunFinished(Message):
        """Run ``index`` returned: every question was tried."""

        index: int
        outcome: runner.RunOutcome

    @dataclass
    class PlanChecked(Message):
        """Every condition of ``plan`` resolved (in a thread); ``stored`` counts, per run, the
        plan's questions already answered by an earlier start."""

        plan: ExperimentPlan
        stored: tuple[int, ...]

    @dataclass
    class PlanRefused(Message):
        """Checking the plan failed: an unknown country, missing translations, the store."""

        error: Exception

    @dataclass
    class SummaryReady(Message):
        """The experiment's runs are scored against the default run."""

        summary: ExperimentSummary

    def __init__(self, positions: Sequence[int]) -> None:
        """Create the dialog.

        Args:
            positions: dataset positions of the questions every run asks (the browse filter).
        """
        super().__init__()
        self.positions = list(positions)
        self.plan: ExperimentPlan | None = None
        """The experiment last started (None before Start)."""
        self.summary: ExperimentSummary | None = None
        """Its summary once the runs are done."""
        self.outcomes: tuple[runner.RunOutcome, ...] = ()
        self._auto_prefix = ""
        self._rows: list[tuple[Static, ProgressBar, Static]] = []
        self._checking = False
        """True while the plan is checked in a thread, before its runs start."""

    # ------------------------------------------------------------------ layout

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    def compose(self) -> ComposeResult:
        app = self.goqa
        backends = app.backend_names
        backend = app.backend_name if app.backend_name in backends else backends[0]
        estimator = app.config.estimator
        self._auto_prefix = experiments.default_prefix(backend, estimator)
        with Vertical(id="exp-dialog") as dialog:
            dialog.border_title = "Experiments"
            dialog.border_subtitle = "ctrl+r start · ctrl+x cancel · Esc close"
            yield Static(
                "The paper's experiments over the questions shown in Browse: a default run and "
                "one run per target, named PREFIX-CONDITION, so starting again resumes.",
                id="exp-intro",
            )
            with Horizontal(classes="exp-row"):
                yield Select(
                    KIND_OPTIONS,
                    value="cross-national",
                    allow_blank=False,
                    id="exp-kind",
                    tooltip="Which of the paper's experiments",
                    compact=True,
                )
                yield Input(
                    ", ".join(experiments.PAPER_COUNTRIES),
                    id="exp-targets",
                    placeholder=TARGET_HINTS["cross-national"],
                    tooltip="Target countries or language codes, comma-separated",
                    compact=True,
                )
            with Horizontal(classes="exp-row"):
                yield Select(
                    [(name, name) for name in backends],
                    value=backend,
                    allow_blank=False,
                    id="exp-backend",
                    tooltip="Backend that answers",
                    compact=True,
                )
                yield Select(
                    [(name, name) for name in ESTIMATOR_NAMES],
                    value=estimator,
                    allow_blank=False,
                    id="exp-estimator",
                    tooltip="How every run of the experiment estimates its answers",
                    compact=True,
                )
                yield Static(SUMMARY[estimator], id="exp-estimator-summary", markup=False)
            with Horizontal(classes="exp-row"):
                yield Input(
                    self._auto_prefix,
                    id="exp-prefix",
                    placeholder="run name prefix, e.g. exp-local",
                    tooltip="Runs are named PREFIX-default, PREFIX-country-Russia…",
                    compact=True,
                )
                yield Button("Start", id="exp-start", variant="primary", compact=True)
                yield Button("Cancel", id="exp-cancel", variant="error", compact=True)
            yield Static("", id="exp-info", markup=False)
            yield Static("Not started · ctrl+r starts", id="exp-status", markup=False)
            yield VerticalScroll(id="exp-runs")
            with VerticalScroll(id="exp-summary-scroll"):
                yield Static("", id="exp-summary")
                yield OptionList(id="exp-compare")

    def on_mount(self) -> None:
        self.query_one("#exp-compare", OptionList).display = False
        self.query_one("#exp-cancel", Button).disabled = True
        self._update_info()
        self.query_one("#exp-kind", Select).focus()

    # ------------------------------------------------------------------ the form

    def _kind(self) -> ExperimentKind:
        value = self.query_one("#exp-kind", Select).value
        return experiments.parse_kind(str(value)) if value is not Select.NULL else "cross-national"

    def _backend(self) -> str:
        value = self.query_one("#exp-backend", Select).value
        return str(value) if value is not Select.NULL else self.goqa.backend_name

    def _estimator(self) -> EstimatorSpec:
        """The estimator the form names, with the config's settings."""
        value = self.query_one("#exp-estimator", Select).value
        return self.goqa.config.estimator_spec(str(value) if value is not Select.NULL else None)

    def _targets(self) -> list[str]:
        text = self.query_one("#exp-targets", Input).value
        return [t.strip() for t in text.split(",") if t.strip()]

    def make_plan(self) -> ExperimentPlan:
        """The experiment the form describes.

        Raises:
            GoqaError: no question, an unknown kind or target, or a blank prefix.
        """
        app = self.goqa
        backend_name = self._backend()
        if backend_name in app.config.backends:
            bcfg = app.config.backend(backend_name)
            concurrency, max_retries = bcfg.concurrency, bcfg.max_retries
        else:  # a backend handed to the app ready-made (tests, scripts): the defaults
            concurrency, max_retries = BackendConfig.concurrency, BackendConfig.max_retries
        if not self.positions:
            raise NothingToRunError("No question is shown in Browse: clear the filter first.")
        return experiments.plan(
            self._kind(),
            self._targets(),
            self.positions,
            backend_name=backend_name,
            template=app.template,
            policy=app.policy,
            prefix=self.query_one("#exp-prefix", Input).value,
            concurrency=concurrency,
            max_retries=max_retries,
            selection=Selection(via="tui", ids=tuple(app.dataset.ids[p] for p in self.positions)),
            max_off_option=app.config.max_off_option,
            estimator=self._estimator(),
        )

    def _update_info(self) -> None:
        app = self.goqa
        try:
            plan = self.make_plan()
        except GoqaError as exc:
            self.query_one("#exp-info", Static).update(str(exc))
            return
        self.query_one("#exp-info", Static).update(
            f"{counted(len(plan.positions), 'question')} from the browse filter · dataset "
            f"{app.dataset.name} · template {plan.template} · policy {plan.policy} · estimator "
            f"{plan.estimator.label} · runs: " + ", ".join(plan.run_names)
        )

    @on(Select.Changed, "#exp-kind")
    def _kind_changed(self) -> None:
        kind = self._kind()
        targets = self.query_one("#exp-targets", Input)
        targets.value = ", ".join(experiments.default_targets(kind))
        targets.placeholder = TARGET_HINTS.get(kind, "")
        targets.disabled = kind == "default" or self.running
        self._update_info()

    @on(Select.Changed, "#exp-backend")
    @on(Select.Changed, "#exp-estimator")
    def _backend_changed(self) -> None:
        estimator = self._estimator()
        self.query_one("#exp-estimator-summary", Static).update(SUMMARY[estimator.name])
        prefix = self.query_one("#exp-prefix", Input)
        if prefix.value == self._auto_prefix:  # follow the backend unless the user typed one
            self._auto_prefix = experiments.default_prefix(self._backend(), estimator.name)
            prefix.value = self._auto_prefix
        self._update_info()

    @on(Input.Changed)
    def _input_changed(self) -> None:
        self._update_info()

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_start()

    @on(Button.Pressed, "#exp-start")
    async def _start_pressed(self) -> None:
        await self.action_start()

    @on(Button.Pressed, "#exp-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def _status(self, text: str, problem: bool = False) -> None:
        status = self.query_one("#exp-status", Static)
        status.update(text)
        status.set_class(problem, "-problem")

    def watch_running(self, running: bool) -> None:
        self.refresh_bindings()
        self.query_one("#exp-start", Button).disabled = running
        self.query_one("#exp-cancel", Button).disabled = not running
        for selector in ("#exp-kind", "#exp-backend", "#exp-estimator", "#exp-prefix"):
            self.query_one(selector).disabled = running
        self.query_one("#exp-targets").disabled = running or self._kind() == "default"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "start":
            return not self.running
        return True

    # ------------------------------------------------------------------ starting

    async def action_start(self) -> None:
        """Check the plan (no request yet) in a thread, then make or resume its runs."""
        if self.running or self._checking:
            return
        try:
            plan = self.make_plan()
        except GoqaError as exc:
            self._status(str(exc), problem=True)
            self.notify(str(exc), title="Experiments", severity="error")
            return
        self._checking = True
        self._status("Checking the conditions…")
        self._check_worker(plan)

    @work(thread=True, exclusive=True, group="experiment-check", exit_on_error=False)
    def _check_worker(self, plan: ExperimentPlan) -> None:
        # Translations, the stored runs and their answers are read from the store: not on
        # the event loop.
        app = self.goqa
        try:
            experiments.preflight(app.dataset, plan, app.store)
            keys = {app.dataset.at(p).key for p in plan.positions}
            names = {r.manifest.name for r in app.store.runs()}
            stored = tuple(
                len(app.store.answered_keys(name) & keys) if name in names else 0
                for name in plan.run_names
            )
        except Exception as exc:  # an unknown country, the store: worded by the app
            self.post_message(self.PlanRefused(exc))
            return
        self.post_message(self.PlanChecked(plan, stored))

    @on(PlanRefused)
    def _plan_refused(self, event: PlanRefused) -> None:
        self._checking = False
        exc = event.error
        if isinstance(exc, experiments.ExperimentTranslationsError):
            message = str(exc) + TRANSLATION_HINT
            self._status(message, problem=True)
            self.notify(message, title="Translations missing", severity="error", timeout=15)
        else:
            self._status(str(exc), problem=True)
            self.goqa.show_error(exc)

    @on(PlanChecked)
    async def _plan_checked(self, event: PlanChecked) -> None:
        self._checking = False
        if self.is_attached:
            await self._begin(event.plan, event.stored)

    async def _begin(self, plan: ExperimentPlan, stored_counts: Sequence[int]) -> None:
        self.plan = plan
        self.summary = None
        self.outcomes = ()
        self.query_one("#exp-summary", Static).update("")
        compare = self.query_one("#exp-compare", OptionList)
        compare.clear_options()
        compare.display = False
        n_questions = len({self.goqa.dataset.at(p).key for p in plan.positions})
        box = self.query_one("#exp-runs", VerticalScroll)
        await box.remove_children()
        self._rows = []
        rows = []
        for name, cond, done in zip(plan.run_names, plan.conditions, stored_counts, strict=True):
            label = Static(f"{name} · {cond}", classes="exp-run-name", markup=False)
            bar = ProgressBar(total=n_questions, show_eta=False)
            numbers = Static(f"{done}/{n_questions} stored", classes="exp-run-stats")
            self._rows.append((label, bar, numbers))
            rows.append(Horizontal(label, bar, numbers, classes="exp-run"))
        await box.mount_all(rows)
        for (_, bar, _), done in zip(self._rows, stored_counts, strict=True):
            bar.update(progress=done)  # answers from an earlier start count from the outset
        self._status(f"Starting {len(plan.run_names)} runs of {len(plan.positions)} questions…")
        self.running = True
        self._experiment_worker(plan)

    @work(exclusive=True, group="experiment", exit_on_error=False, description="goqa experiment")
    async def _experiment_worker(self, plan: ExperimentPlan) -> tuple[runner.RunOutcome, ...]:
        app = self.goqa
        backend = app.get_backend(plan.backend_name)

        def started(index: int, name: str, condition: Condition) -> None:
            self.post_message(self.RunStarted(index))

        def progressed(index: int, progress: runner.Progress, fresh: int) -> None:
            self.post_message(self.RunProgressed(index, progress))

        def finished(index: int, outcome: runner.RunOutcome) -> None:
            self.post_message(self.RunFinished(index, outcome))

        return await experiments.run_experiment(
            app.dataset,
            plan,
            backend,
            app.store,
            on_run_started=started,
            on_progress=progressed,
            on_run_done=finished,
        )

    # ------------------------------------------------------------------ progress

    @on(RunStarted)
    def _run_started(self, event: RunStarted) -> None:
        if self.plan is None or event.index >= len(self._rows):
            return
        name = self.plan.run_names[event.index]
        self._status(f"Running {name} ({event.index + 1} of {len(self.plan.run_names)})…")
        for i, (label, _, _) in enumerate(self._rows):
            label.set_class(i == event.index, "-active")

    @on(RunProgressed)
    def _run_progressed(self, event: RunProgressed) -> None:
        if event.index >= len(self._rows):
            return
        p = event.progress
        _, bar, numbers = self._rows[event.index]
        bar.update(total=p.total, progress=p.done + p.failed)
        failed = f" · {p.failed} failed" if p.failed else ""
        numbers.update(f"{p.done}/{p.total} · {p.cached} cached{failed}")

    @on(RunFinished)
    def _run_finished(self, event: RunFinished) -> None:
        if event.index >= len(self._rows):
            return
        o = event.outcome
        _, bar, numbers = self._rows[event.index]
        bar.update(total=o.total, progress=o.answered + o.failed)
        failed = f" · {o.failed} failed" if o.failed else ""
        numbers.update(f"{o.answered}/{o.total} done{failed}")

    # ------------------------------------------------------------------ cancelling and closing

    def action_cancel(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "experiment")

    def action_close(self) -> None:
        if self.running and self.plan is not None:
            self.workers.cancel_group(self, "experiment")
            self.app.notify(
                f"Experiment {self.plan.prefix} cancelled; what was stored stays. Start it "
                "again with the same prefix to resume.",
                severity="warning",
            )
        self.dismiss(None)

    @on(OptionList.OptionSelected, "#exp-compare")
    def _compare_chosen(self, event: OptionList.OptionSelected) -> None:
        if self.summary is not None and event.option.id:
            self.dismiss((self.summary.default_run, event.option.id))

    # ------------------------------------------------------------------ the end

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        group, state = event.worker.group, event.state
        if group == "experiment-summary":
            if state == WorkerState.ERROR and event.worker.error is not None:
                self._status(f"Could not summarise: {event.worker.error}", problem=True)
                self.goqa.show_error(event.worker.error)
            return
        if group != "experiment" or state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self.running = False
        plan = self.plan
        if plan is None:
            return
        if state == WorkerState.SUCCESS and isinstance(event.worker.result, tuple):
            self.outcomes = event.worker.result
            failed = sum(o.failed for o in self.outcomes)
            note = (
                f" · {counted(failed, 'question')} failed (Start again to retry them)"
                if failed
                else ""
            )
            self._status(f"All {len(self.outcomes)} runs done{note} · summarising…")
            self._summary_worker(plan)
        elif state == WorkerState.CANCELLED:
            self._status(
                "Cancelled: what was stored stays. Start again (same prefix) to resume.",
                problem=True,
            )
        elif state == WorkerState.ERROR and event.worker.error is not None:
            self._status(f"Stopped by an error: {event.worker.error}", problem=True)
            self.goqa.show_error(event.worker.error)

    @work(thread=True, exclusive=True, group="experiment-summary", exit_on_error=False)
    def _summary_worker(self, plan: ExperimentPlan) -> None:
        app = self.goqa
        summary = experiments.summarise_runs(
            app.dataset, app.store, plan.prefix, plan.conditions, plan.policy
        )
        self.post_message(self.SummaryReady(summary))

    @on(SummaryReady)
    def _summary_ready(self, event: SummaryReady) -> None:
        self.summary = summary = event.summary
        self.query_one("#exp-summary", Static).update(summary_markup(summary))
        compare = self.query_one("#exp-compare", OptionList)
        compare.clear_options()
        compare.add_options(
            Option(f"Compare {c.run} with {summary.default_run} in Results", id=c.run)
            for c in summary.conditions
        )
        compare.display = bool(summary.conditions)
        failed = sum(o.failed for o in self.outcomes)
        note = (
            f" · {counted(failed, 'question')} failed (Start again to retry them)" if failed else ""
        )
        self._status(f"Done{note}. Pick a run below to compare it in Results.")
        self.notify(
            f"Experiment {self.plan.prefix if self.plan else ''} done.", title="Experiments"
        )


def _movement(m: Movement) -> str:
    return (
        f"{m.score_default:.3f} → {m.score_conditioned:.3f} ({m.delta:+.3f}) · rank "
        f"{m.rank_default} → {m.rank_conditioned}"
    )


def summary_markup(summary: ExperimentSummary) -> str:
    """The summary as Textual markup: the default run's leaders, then one block per
    conditioned run (target line, verdict, largest moves, significance, overshoot)."""
    leaders = ", ".join(f"{escape(c.display)} {c.similarity:.3f}" for c in summary.default_top)
    lines = [
        f"[b]Default prompting[/b] ({escape(summary.default_run)}): most like {leaders} · the "
        f"uniform answer scores {summary.uniform_mean:.3f} on average",
    ]
    for result in summary.conditions:
        movement = result.movement
        verdict = (
            "[$success]moved toward its target[/]"
            if movement.moved_toward
            else "[$warning]did not clearly move toward its target[/]"
        )
        lines.append("")
        lines.append(f"[b]{escape(str(result.condition))}[/b] ({escape(result.run)}): {verdict}")
        for m in movement.targets:
            lines.append(f"• target {escape(m.display)}: {_movement(m)}")
        if not movement.targets:
            lines.append("• no target country of this condition is scored on these questions")
        moved = ", ".join(f"{escape(m.display)} {m.delta:+.3f}" for m in movement.moved_most)
        lines.append(f"• moved most: {moved}")
        lines.append(
            f"• significantly closer to {result.n_closer} countries, further from "
            f"{result.n_further} (BH q < {result.comparison.alpha:g})"
        )
        if result.overshoot is not None:
            ov = result.overshoot
            rate = f"{ov.rate:.0%}" if ov.n_questions else "—"
            lines.append(
                f"• stereotype overshoot: {ov.n_overshoot} of {ov.n_questions} questions ({rate})"
            )
    return "\n".join(lines)
