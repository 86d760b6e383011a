"""The results screen: stored runs, one run's country leaderboard and map, two runs compared.

The screen arranges four panes and routes between them; each pane owns its state, its
rendering and the worker that fills it, and says what happened with its own messages:

- :class:`~tui.widgets.run_table.RunTable` (top): every run in the store, with its failed
  and suspect counts; ``m`` marks the reference run A; ``d`` deletes the highlighted run
  after a confirmation (:class:`ConfirmDeleteScreen`).
- :class:`~tui.widgets.results_scores.RunScores`: the highlighted run's leaderboard, with
  each country's uniform-answer score (the floor a model has to beat), then its bootstrap
  95% interval and the best score another country's people reach on the same questions;
  ``w`` shows the run on a world map, beside the leaderboard on a wide screen (at least 150
  cells), instead of it on a narrower one.
- :class:`~tui.widgets.results_compare.RunComparisonPane`: ``c`` compares the highlighted
  run B against A (or, with nothing marked, against :func:`core.runs.default_reference`:
  the latest ``default`` run of the same model), country by country, on the questions both
  answered, with the paired statistics of :func:`core.runs.compare_runs`.
- :class:`~tui.widgets.question_drill.QuestionDrill`: Enter on a country lists its
  per-question similarities; Enter on a question opens it in Browse.

- :class:`~tui.widgets.results_audit.EstimatorAuditPane`: when the highlighted run has
  related runs (the same questions asked with other estimators,
  :func:`core.audit.related_runs`; the status line says so), ``a`` audits them
  (:func:`core.audit.report_audit`): each country's score per estimator with its interval,
  the questions where the estimators disagree most, and the summary (argmax agreement,
  refusal rate, order flips, parse rate, letter prior).

``M`` switches every board and the map to the next metric (:mod:`core.metrics`: ``jsd``, the
paper's, then ``jsd-e``, ``tv``, ``wasserstein``, ``kl``, ``cosine``, ``argmax``); the board's
title names it, and the choice is the session's (:class:`tui.contract.MetricChoice`), so the
Run view scores under it too.

``e`` opens the experiments dialog (:mod:`tui.screens.experiments`). Everything shown is
computed by :mod:`core.runs`, as ``goqa report`` and ``goqa compare`` compute it: suspect
answers are left out of every score (the board says how many, and ``i`` includes them, in
comparisons too), and a run made on another dataset is scored on the answers that match this
dataset's questions by key (a notification says how many did not). Run names are the user's
text: every place that shows one shows it as plain text, never as markup. Without a results
store the screen says so in place.
"""

from __future__ import annotations

from typing import Literal, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, ContentSwitcher, Footer, Header, Static

from core import runs
from core.metrics import DEFAULT_METRIC, MetricName
from core.runs import LoadedRun, RunComparison, RunStatistics
from core.store import RunSummary
from core.wording import counted
from tui.contract import (
    CountryOpenRequested,
    GoqaContract,
    MetricChoice,
    QuestionOpenRequested,
    available_store,
    choose_metric,
    leave,
    session_metric,
)

from ..widgets.metric_label import METRIC_KEY, next_metric
from ..widgets.question_drill import QuestionDrill
from ..widgets.results_audit import EstimatorAuditPane
from ..widgets.results_compare import RunComparisonPane, run_level_line
from ..widgets.results_scores import RunScores, scores_status
from ..widgets.run_table import RunTable
from .experiments import ExperimentScreen

View = Literal["scores", "compare", "questions", "audit"]
"""What the lower pane shows: a run's scores, a comparison, one country's questions, or the
estimator audit of a run."""

_PANES: dict[View, str] = {
    "scores": "results-scores-view",
    "compare": "results-compare-view",
    "questions": "results-questions-view",
    "audit": "results-audit-view",
}


class ConfirmDeleteScreen(ModalScreen[bool]):
    """Asks before a run and its answers are deleted; dismisses with True to delete."""

    AUTO_FOCUS = "#delete-cancel"  # Enter straight away keeps the run

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="results.delete.cancel", tooltip="Keep the run"),
    ]

    def __init__(self, name: str, n_answers: int, n_failed: int = 0) -> None:
        """Create the dialog.

        Args:
            name: the run to delete (shown as written, never as markup).
            n_answers: its stored answers (failed attempts not included).
            n_failed: its questions that failed and are stored as such.
        """
        super().__init__()
        self.run_name = name
        self.n_answers = n_answers
        self.n_failed = n_failed

    @property
    def question(self) -> str:
        """The question the dialog asks."""
        failed = f" and {counted(self.n_failed, 'failed question')}" if self.n_failed else ""
        return (
            f"Delete run '{self.run_name}' and its {counted(self.n_answers, 'answer')}{failed}? "
            "This cannot be undone."
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="delete-dialog") as dialog:
            dialog.border_title = "Delete run"
            yield Static(Text(self.question), id="delete-message")
            with Horizontal(id="delete-buttons"):
                yield Button("Cancel", id="delete-cancel", compact=True)
                yield Button("Delete", id="delete-confirm", variant="error", compact=True)

    @on(Button.Pressed, "#delete-confirm")
    def _confirmed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#delete-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class ResultsScreen(Screen[None]):
    """Browse stored runs, their country scores, comparisons and per-question similarities."""

    SUB_TITLE = "Results"
    AUTO_FOCUS = "#results-runs"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding(
            "m",
            "mark",
            "Mark A",
            id="results.mark",
            tooltip="Mark the highlighted run as the reference A for a comparison",
        ),
        Binding(
            "c",
            "compare",
            "Compare",
            id="results.compare",
            tooltip="Compare the highlighted run with A (or the latest default run)",
        ),
        Binding(
            "v",
            "view_scores",
            "Scores",
            id="results.scores",
            tooltip="Back to the highlighted run's own scores",
        ),
        Binding(
            "a",
            "audit",
            "Audit",
            id="results.audit",
            tooltip="Estimator audit: the highlighted run beside its runs with other estimators",
        ),
        Binding(
            "r",
            "reload",
            "Reload",
            id="results.reload",
            tooltip="Read the runs from the store again",
        ),
        Binding(
            "w",
            "toggle_map",
            "Map",
            id="results.map",
            tooltip="Show or hide the world map of the run's scores",
        ),
        Binding(
            "e",
            "experiments",
            "Experiments",
            id="results.experiments",
            tooltip="Run the paper's experiments (default, cross-national, linguistic)",
        ),
        Binding(
            "i",
            "toggle_suspect",
            "Include suspect",
            id="results.include_suspect",
            tooltip="Include the suspect answers in the scores, or leave them out again",
        ),
        Binding(
            "d",
            "delete_run",
            "Delete",
            id="results.delete",
            tooltip="Delete the highlighted run and its answers (asks first)",
        ),
        Binding(
            "h",
            "human_baseline",
            "People alike",
            id="results.human",
            tooltip="Open the countries view on the highlighted country",
        ),
        Binding(
            METRIC_KEY,
            "next_metric",
            "Metric",
            id="results.metric",
            tooltip="Score the leaderboards and the map under the next metric "
            "(jsd, jsd-e, tv, wasserstein, kl, cosine, argmax)",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            id="results.back",
            tooltip="Up one level: questions → countries → runs → leave",
        ),
    ]

    view: reactive[View] = reactive[View]("scores")
    """What the lower pane shows: ``scores``, ``compare``, ``questions`` or ``audit``."""
    include_suspect: reactive[bool] = reactive(False, init=False)
    """Score suspect answers too (they are left out by default, as in ``goqa report``)."""
    metric: reactive[MetricName] = reactive[MetricName](DEFAULT_METRIC, init=False)
    """The metric the boards and the map score under: the session's (kept in step with the
    app's when it keeps one, :class:`tui.contract.MetricChoice`)."""

    def __init__(self) -> None:
        super().__init__()
        self._board_view: View = "scores"
        """The board the questions view climbs back to: ``scores`` or ``compare``."""
        self._pending_compare: tuple[str, str] | None = None
        """A comparison asked for before the screen was up."""
        self._force_load = False
        """Load the highlighted run once the runs are listed, changed or not."""
        self._select_after_listing: str | None = None
        """Put the run list's cursor on this run once the runs are listed."""
        self._related: dict[str, tuple[str, ...]] = {}
        """Run name -> its related runs (other estimators), as last found."""
        self._redrill: str | None = None
        """The country whose questions to list again once the board is scored anew."""

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        # The function is looked up here, not in the table, so a test can pin it.
        yield RunTable(id="results-runs")
        yield Static("", id="results-status")
        with ContentSwitcher(initial=_PANES["scores"]):
            yield RunScores(id=_PANES["scores"], board_id="results-scores", map_id="results-map")
            yield RunComparisonPane(id=_PANES["compare"], board_id="results-compare")
            yield QuestionDrill(id=_PANES["questions"], table_id="results-questions")
            yield EstimatorAuditPane(id=_PANES["audit"])
        yield Footer()

    def on_mount(self) -> None:
        self.set_reactive(ResultsScreen.metric, session_metric(self.app))
        if isinstance(self.app, MetricChoice):
            self.watch(self.app, "metric", self._session_metric_changed, init=False)
        if self._pending_compare is not None:
            a, b = self._pending_compare
            self._pending_compare = None
            self._compare_now(a, b)
        else:
            self.action_reload()

    def on_screen_resume(self) -> None:
        # Back from another view: show new runs, but stay on what was shown unless it changed.
        if self.is_mounted:
            self._reload(force=False)

    def on_resize(self) -> None:
        if self.is_mounted:
            self._scores.place_map()

    # ------------------------------------------------------------------ the panes

    @property
    def _table(self) -> RunTable:
        return self.query_one("#results-runs", RunTable)

    @property
    def _scores(self) -> RunScores:
        return self.query_one(RunScores)

    @property
    def _compare(self) -> RunComparisonPane:
        return self.query_one(RunComparisonPane)

    @property
    def _drill(self) -> QuestionDrill:
        return self.query_one(QuestionDrill)

    @property
    def _audit(self) -> EstimatorAuditPane:
        return self.query_one(EstimatorAuditPane)

    @property
    def related(self) -> dict[str, tuple[str, ...]]:
        """Run name -> the runs of its questions made with other estimators, as found."""
        return dict(self._related)

    @property
    def runs(self) -> list[RunSummary]:
        """The runs listed, oldest first."""
        return self._table.runs

    @property
    def marked(self) -> str | None:
        """Name of the run marked as the comparison's reference A."""
        return self._table.marked

    @property
    def loaded(self) -> LoadedRun | None:
        """The run whose scores show, as :func:`core.runs.load_run` gave it."""
        return self._scores.loaded

    @property
    def statistics(self) -> RunStatistics | None:
        """Intervals, baselines and diagnostics of :attr:`loaded` (None until computed)."""
        return self.loaded.statistics if self.loaded is not None else None

    @property
    def comparison(self) -> RunComparison | None:
        """The comparison on show (or last shown)."""
        return self._compare.comparison

    @property
    def question_country(self) -> str | None:
        """The raw key of the country whose questions are (or were last) listed."""
        return self._drill.country

    @property
    def question_positions(self) -> list[int]:
        """Positions listed in the per-question view, in order."""
        return self._drill.positions

    def _status(self, text: str | Text) -> None:
        """Show ``text`` on the status line, as plain text (run names in it are not markup)."""
        self.query_one("#results-status", Static).update(
            Text(text) if isinstance(text, str) else text
        )

    # ------------------------------------------------------------------ the run list

    def action_reload(self) -> None:
        self._reload(force=True)

    def _reload(self, force: bool) -> None:
        """Read the runs again; load the highlighted one if ``force`` or its answers changed."""
        self._force_load = self._force_load or force
        store, problem = available_store(self.goqa)
        if store is None:
            self._force_load = False
            self._table.show_runs([])
            self._status(problem)
            self._scores.clear(
                "Runs are read from the results store: none can be shown without it."
            )
            return
        self._table.read(store)

    @on(RunTable.RunsListed)
    def _runs_listed(self, event: RunTable.RunsListed) -> None:
        self._related = {}  # runs may have been made or deleted meanwhile
        force, self._force_load = self._force_load, False
        select, self._select_after_listing = self._select_after_listing, None
        if event.error is not None:
            self.goqa.show_error(event.error)
        name = event.highlighted
        if name is None:
            if available_store(self.goqa)[0] is not None:
                self._status("No runs stored yet. Start one from the run screen (or 'goqa run').")
                self._scores.clear("")
            return
        if select is not None:
            self._table.move_to(select)  # a comparison of it is being made
            return
        loaded = self.loaded
        other = loaded is None or loaded.name != name
        if force or event.changed or (other and self.view != "compare"):
            self._load(name)  # (a comparison being made stays on show)

    @on(RunTable.RunHighlighted)
    def _run_highlighted(self, event: RunTable.RunHighlighted) -> None:
        loaded = self.loaded
        if loaded is None or loaded.name != event.name or self.view == "questions":
            self._load(event.name)

    @on(RunTable.RunChosen)
    def _run_chosen(self, event: RunTable.RunChosen) -> None:
        self._load(event.name)
        self._scores.focus_board()

    def _load(self, name: str) -> None:
        store, problem = available_store(self.goqa)
        if store is None:
            self._status(problem)
            return
        self.view = self._board_view = "scores"
        self._status(f"Loading {name}…")
        self._compare.cancel()
        self._audit.cancel()
        self._scores.load(
            store,
            self.goqa.dataset,
            name,
            include_suspect=self.include_suspect,
            metric=self.metric,
        )

    @on(RunScores.RunLoaded)
    def _run_loaded(self, event: RunScores.RunLoaded) -> None:
        if self.view != "scores":
            return
        run = event.run
        self._drill_again(run.scores.countries != ())
        self._status(self._scores_line(run))
        if note := run.match.note(run.name):
            self.notify(note, title="Another dataset", severity="warning", markup=False)
        store, _ = available_store(self.goqa)
        if store is not None and run.name not in self._related:
            self._audit.find_related(store, run.name)

    @on(RunScores.StatisticsLoaded)
    def _statistics_loaded(self, event: RunScores.StatisticsLoaded) -> None:
        if self.view == "scores":
            self._status(self._scores_line(event.run))

    def _scores_line(self, run: LoadedRun) -> str:
        """The status line of a run's scores, and ``a``'s audit when it has related runs."""
        line = scores_status(run, self.marked)
        related = self._related.get(run.name)
        if related:
            line += f" · a audits it against {counted(len(related), 'run')} with other estimators"
        return line

    @on(EstimatorAuditPane.RelatedFound)
    def _related_found(self, event: EstimatorAuditPane.RelatedFound) -> None:
        self._related[event.name] = event.related
        run = self.loaded
        if self.view == "scores" and run is not None and run.name == event.name:
            self._status(self._scores_line(run))

    def action_view_scores(self) -> None:
        name = self._table.highlighted_name
        if name is not None:
            self._load(name)

    # ------------------------------------------------------------------ comparing

    def action_mark(self) -> None:
        if self._table.highlighted_name is None:
            return
        marked = self._table.toggle_mark()
        self._status(
            f"A = {marked}: highlight another run and press c to compare."
            if marked
            else "No reference run marked."
        )

    def action_compare(self) -> None:
        table = self._table
        b = table.summary(table.highlighted_name)
        if b is None:
            self.notify("No run to compare.", severity="warning")
            return
        a_name = self.marked
        if a_name is None or a_name == b.manifest.name:
            ref = runs.default_reference(table.runs, b.manifest.name)
            if ref is None:
                self.notify(
                    "Mark the reference run with m first (no default run of the same model "
                    "to compare with).",
                    severity="warning",
                )
                return
            a_name = ref.manifest.name
        self.compare(a_name, b.manifest.name)

    def compare(self, a: str, b: str) -> None:
        """Show run ``b`` against the reference run ``a``."""
        store, problem = available_store(self.goqa)
        if store is None:
            self._status(problem)
            return
        self.view = self._board_view = "compare"
        self._status(f"Comparing {b} with {a}…")
        self._scores.cancel_load()
        self._compare.compare(
            store,
            self.goqa.dataset,
            a,
            b,
            include_suspect=self.include_suspect,
            metric=self.metric,
        )

    @on(RunComparisonPane.ComparisonLoaded)
    def _comparison_loaded(self, event: RunComparisonPane.ComparisonLoaded) -> None:
        comp = event.comparison
        if comp.positions.shape[0] == 0:
            self.notify("The two runs share no answered question.", severity="warning")
        for run in (comp.a, comp.b):
            if note := run.match.note(run.name):
                self.notify(note, title="Another dataset", severity="warning", markup=False)
        self._status(
            run_level_line(comp.paired) + " · Enter: per question · v: the run's own scores"
        )
        self._compare.focus_board()
        self._drill_again(bool(comp.paired.countries))

    def request_compare(self, a: str, b: str) -> None:
        """Compare run ``b`` with run ``a`` as soon as the screen is up (runs re-read)."""
        if not self.is_mounted:
            self._pending_compare = (a, b)
            return
        self._compare_now(a, b)

    def _compare_now(self, a: str, b: str) -> None:
        self._table.move_to(b)
        self._select_after_listing = b
        self._reload(force=False)
        self.compare(a, b)

    # ------------------------------------------------------------------ the estimator audit

    def action_audit(self) -> None:
        """Audit the highlighted run against its runs made with other estimators."""
        name = self._table.highlighted_name
        if name is None:
            self.notify("No run to audit.", severity="warning")
            return
        if self._related.get(name) == ():
            self._no_related(name)
            return
        store, problem = available_store(self.goqa)
        if store is None:
            self._status(problem)
            return
        self.view = "audit"
        self._status(f"Auditing the estimators of {name}…")
        self._scores.cancel_load()
        self._compare.cancel()
        self._audit.load(store, self.goqa.dataset, name, include_suspect=self.include_suspect)

    def _no_related(self, name: str) -> None:
        self.notify(
            f"No other run of {name}'s questions with another estimator (same model, "
            "condition and template). Make one in the Run view (its estimator), then press a.",
            title="Nothing to audit",
            severity="warning",
            markup=False,
        )

    @on(EstimatorAuditPane.NoRelatedRuns)
    def _audit_unavailable(self, event: EstimatorAuditPane.NoRelatedRuns) -> None:
        self._related[event.name] = ()
        self._no_related(event.name)
        if self.view == "audit":
            self.action_view_scores()

    @on(EstimatorAuditPane.AuditLoaded)
    def _audit_loaded(self, event: EstimatorAuditPane.AuditLoaded) -> None:
        if self.view != "audit":
            return
        others = counted(len(event.audit.runs) - 1, "run")
        self._status(
            f"Estimator audit of {event.name} against {others} with other estimators · "
            "Enter on a question opens it · v: the run's own scores"
        )
        self._audit.focus_table()

    @on(EstimatorAuditPane.QuestionChosen)
    def _audit_question_chosen(self, event: EstimatorAuditPane.QuestionChosen) -> None:
        self.post_message(QuestionOpenRequested(event.position))

    @on(EstimatorAuditPane.AuditFailed)
    def _audit_failed(self, event: EstimatorAuditPane.AuditFailed) -> None:
        self._failed("audit the estimators", event.error)

    # ------------------------------------------------------------------ suspect answers

    def action_toggle_suspect(self) -> None:
        """Include the suspect answers in the scores, or leave them out again."""
        self.include_suspect = not self.include_suspect

    def watch_include_suspect(self, include: bool) -> None:
        self.notify(
            "Suspect answers are included in the scores."
            if include
            else "Suspect answers are left out of the scores.",
            title="Suspect answers",
            timeout=4,
        )
        if self.view == "audit":
            self.action_audit()
            return
        comp = self.comparison
        if self._board_view == "compare" and comp is not None:
            self.compare(comp.a.name, comp.b.name)
            return
        name = self._table.highlighted_name
        if name is not None:
            self._load(name)

    # ------------------------------------------------------------------ the metric

    def action_next_metric(self) -> None:
        """Score the boards and the map under the next metric."""
        self.metric = next_metric(self.metric)

    def _session_metric_changed(self, metric: MetricName) -> None:
        self.metric = metric  # chosen elsewhere (the command palette, the Run view)

    def watch_metric(self, metric: MetricName) -> None:
        choose_metric(self.app, metric)
        if self.view == "audit":
            self.notify(
                f"The leaderboards and the map now score under {metric}; the estimator audit "
                "stays under jsd, the paper's metric.",
                title="Metric",
                timeout=4,
            )
            return
        if self.view == "questions":
            self._redrill = self.question_country
        comp = self.comparison
        if self._board_view == "compare" and comp is not None:
            self.compare(comp.a.name, comp.b.name)
            return
        name = self._table.highlighted_name
        if name is not None:
            self._load(name)

    def _drill_again(self, scored: bool) -> None:
        """List again the questions of the country that was drilled into before the metric
        changed (when the new board scores any country)."""
        country, self._redrill = self._redrill, None
        if country is not None and scored:
            self.show_questions(country)

    # ------------------------------------------------------------------ deleting

    def action_delete_run(self) -> None:
        """Ask, then delete the highlighted run and all its answers."""
        table = self._table
        summary = table.summary(table.highlighted_name)
        if summary is None:
            self.notify("No run to delete.", severity="warning")
            return
        name = summary.manifest.name
        self.app.push_screen(
            ConfirmDeleteScreen(name, summary.n_ok, summary.n_failed),
            lambda confirmed: self._delete_confirmed(name, bool(confirmed)),
        )

    def _delete_confirmed(self, name: str, confirmed: bool) -> None:
        if not confirmed:
            return
        store, problem = available_store(self.goqa, write=True)
        if store is None:
            self._status(problem)
            return
        self._status(f"Deleting {name}…")
        self._table.delete(store, name)

    @on(RunTable.RunDeleted)
    def _run_deleted(self, event: RunTable.RunDeleted) -> None:
        name = event.name
        loaded = self.loaded
        if loaded is not None and loaded.name == name:
            self._scores.forget()
        comp = self.comparison
        if comp is not None and name in (comp.a.name, comp.b.name):
            self._compare.clear()
            self.view = self._board_view = "scores"
        self._reload(force=True)
        self.notify(f"Deleted run {name}.", title="Run deleted", markup=False)

    # ------------------------------------------------------------------ questions of a country

    @on(RunScores.CountryChosen)
    @on(RunComparisonPane.CountryChosen)
    def _country_chosen(
        self, event: RunScores.CountryChosen | RunComparisonPane.CountryChosen
    ) -> None:
        self.show_questions(event.country)

    def show_questions(self, country: str) -> None:
        """List ``country``'s per-question similarities for the run (or both compared runs)."""
        dataset = self.goqa.dataset
        if country not in dataset.country_index:
            return
        drill = self._drill
        comp = self.comparison
        if self._board_view == "compare" and comp is not None:
            drill.show_comparison(dataset, comp, country)
        elif (run := self.loaded) is not None:
            drill.show_run(dataset, run, country)
        else:
            return
        self.view = "questions"
        drill.focus_table()

    @on(QuestionDrill.QuestionChosen)
    def _question_chosen(self, event: QuestionDrill.QuestionChosen) -> None:
        self.post_message(QuestionOpenRequested(event.position))

    def action_human_baseline(self) -> None:
        """Open the countries view on the country under the board's cursor."""
        board = self._compare if self._board_view == "compare" else self._scores
        key = self.question_country if self.view == "questions" else None
        key = key or board.highlighted_key
        if key is None:
            self.notify("Highlight a country first.", severity="warning")
        else:
            self.post_message(CountryOpenRequested(key))

    # ------------------------------------------------------------------ the world map

    def action_toggle_map(self) -> None:
        """Show or hide the map (switching back to the run's own scores if needed)."""
        if self.view != "scores":
            self.action_view_scores()
        self._scores.toggle_map()

    # ------------------------------------------------------------------ experiments

    def action_experiments(self) -> None:
        """Open the experiments dialog over the browse filter's questions."""
        positions = list(self.goqa.filtered_positions)
        self.app.push_screen(ExperimentScreen(positions), self._experiment_closed)

    def _experiment_closed(self, pick: tuple[str, str] | None) -> None:
        if pick is not None:
            self.request_compare(*pick)
        elif self.is_mounted:
            self._reload(force=False)

    # ------------------------------------------------------------------ navigation

    def watch_view(self, view: View) -> None:
        self.query_one(ContentSwitcher).current = _PANES[view]

    def action_back(self) -> None:
        if self.view == "audit":
            self.action_view_scores()
            self._table.focus()
            return
        if self.view == "questions":
            self.view = self._board_view
            if self._board_view == "compare":
                self._compare.focus_board()
            else:
                self._scores.focus_board()
            return
        table = self._table
        if not table.has_focus:
            table.focus()
            return
        leave(self)

    # ------------------------------------------------------------------ failures, in one place

    @on(RunScores.LoadFailed)
    @on(RunComparisonPane.ComparisonFailed)
    def _run_failed(self, event: RunScores.LoadFailed | RunComparisonPane.ComparisonFailed) -> None:
        self._failed("compute the run", event.error)

    @on(RunScores.StatisticsFailed)
    def _statistics_failed(self, event: RunScores.StatisticsFailed) -> None:
        self._failed("compute the intervals", event.error)

    @on(RunTable.DeleteFailed)
    def _delete_failed(self, event: RunTable.DeleteFailed) -> None:
        self._failed("delete the run", event.error)

    def _failed(self, what: str, error: BaseException) -> None:
        self._status(f"Could not {what}: {error}")
        self.goqa.show_error(error)
