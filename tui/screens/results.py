"""The results screen: stored runs, one run's country leaderboard and map, two runs compared.

The top table lists every run in the store. Highlighting a run loads it (a thread worker
calls :func:`core.runs.load_run`) into the leaderboard, with each country's uniform-answer
score beside it: the floor a model has to beat. A second worker adds its statistics
(:func:`core.runs.with_statistics`): each country's bootstrap 95% interval and the best score
another country's people reach on the same questions. ``w`` shows the run on a world map:
beside the leaderboard on a wide screen (at least 150 cells), instead of it on a narrower
one; the leaderboard's cursor moves the map's crosshair.

``m`` marks a run as the reference A; ``c`` compares the highlighted run B against it (or,
with nothing marked, against :func:`core.runs.default_reference`: the latest ``default`` run
of the same model), country by country, on the questions both answered, sorted by how far B
moved toward each country, with the paired statistics of :func:`core.runs.compare_runs`: each
difference's bootstrap interval, its sign-flip p-value and Benjamini–Hochberg q-value (``*``
marks q < 0.05). Enter on a country lists its per-question similarities; Enter on a question
opens it. ``e`` opens the experiments dialog (:mod:`tui.screens.experiments`).

Everything shown is computed by :mod:`core.runs`, as ``goqa report`` and ``goqa compare``
compute it: suspect answers are left out of every score (the board says how many, and ``i``
includes them, in comparisons too), and a run made on another dataset is scored on the
answers that match this dataset's questions by key (a notification says how many did not).
The run list gives each run's failed and suspect counts. ``d`` deletes the highlighted run
after a confirmation. Run names are the user's text: every place that shows one shows it as
plain text, never as markup. Without a results store the screen says so in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, ContentSwitcher, DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core import countries, runs, stats, worldmap
from core.dataset import Dataset
from core.prompts import LETTERS
from core.runs import LoadedRun, RunComparison, RunStatistics
from core.store import RunSummary, Store
from tui.contract import (
    CountryOpenRequested,
    GoqaContract,
    QuestionOpenRequested,
    available_store,
    leave,
)

from ..widgets.leaderboard import Leaderboard, LeaderboardRow, rows_from_scores
from ..widgets.worldmap import WorldMap
from .experiments import ExperimentScreen

SIDE_BY_SIDE_WIDTH = 150
"""From this screen width the map sits beside the leaderboard (and shows by default)."""


def score_rows(run: LoadedRun) -> list[LeaderboardRow]:
    """Leaderboard rows of a run: score, n, interval, uniform and best-other scores (the
    last two columns once its statistics are in)."""
    rows = rows_from_scores(run.scores, run.uniform)
    statistics = run.statistics
    out = []
    for row in rows:
        interval = statistics.intervals.get(row.key) if statistics else None
        other = statistics.baselines.get(row.key) if statistics else None
        out.append(
            replace(
                row,
                extras=(row.baseline, other.best_other_similarity if other else None),
                interval=(interval.ci_low, interval.ci_high) if interval else None,
            )
        )
    return out


def comparison_rows(comp: RunComparison) -> list[LeaderboardRow]:
    """One row per country scored in both runs: Δ, its interval, A, B, p and q."""
    rows = []
    for cb in comp.scores_b.countries:
        ca = comp.scores_a.get(cb.country)
        if ca is None:
            continue
        diff = cb.similarity - ca.similarity
        mark = "focus" if cb.country in comp.focus else ("toward" if diff > 0 else "away")
        pc = comp.paired.get(cb.country)
        rows.append(
            LeaderboardRow(
                key=cb.country,
                label=cb.display,
                value=diff,
                n=min(ca.n_questions, cb.n_questions),
                extras=(
                    ca.similarity,
                    cb.similarity,
                    pc.p_value if pc else None,
                    pc.q_value if pc else None,
                ),
                mark=mark,
                interval=(pc.ci_low, pc.ci_high) if pc else None,
                significant=pc is not None and pc.q_value < comp.paired.alpha,
            )
        )
    return rows


def format_p(value: float) -> str:
    """A p- or q-value in at most six cells: ``0.042``, ``<0.001``; ``—`` when undefined."""
    if not math.isfinite(value):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def run_status(summary: RunSummary, n_suspect: int) -> str:
    """A run's state in the run list: ``60/60 ✓``, ``52/60 · 3 failed · 2 suspect``.

    ``ok/planned``, a tick when finished, then the failed answers (asked again when the run
    resumes) and the suspect ones (left out of scores), when there are any.
    """
    text = f"{summary.n_ok}/{summary.planned}" + (" ✓" if summary.finished else "")
    if summary.n_failed:
        text += f" · {summary.n_failed} failed"
    if n_suspect:
        text += f" · {n_suspect} suspect"
    return text


def suspect_note(run: LoadedRun) -> str:
    """What the board says about suspect answers ("" when the run has none)."""
    if run.include_suspect:
        n = run.n_suspect_included
        return f"{n} suspect answers included (i leaves them out)" if n else ""
    n = run.suspect_left_out
    return f"{n} suspect answers left out (i includes them)" if n else ""


class ConfirmDeleteScreen(ModalScreen[bool]):
    """Asks before a run and its answers are deleted; dismisses with True to delete."""

    AUTO_FOCUS = "#delete-cancel"  # Enter straight away keeps the run

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="results.delete.cancel", tooltip="Keep the run"),
    ]

    def __init__(self, name: str, n_answers: int) -> None:
        """Create the dialog.

        Args:
            name: the run to delete (shown as written, never as markup).
            n_answers: its stored answers, failed ones included.
        """
        super().__init__()
        self.run_name = name
        self.n_answers = n_answers

    @property
    def question(self) -> str:
        """The question the dialog asks."""
        return (
            f"Delete run '{self.run_name}' and its {self.n_answers} answers? This cannot be undone."
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


def _created(text: str) -> str:
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


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
            "escape",
            "back",
            "Back",
            id="results.back",
            tooltip="Up one level: questions → countries → runs → leave",
        ),
    ]

    marked: reactive[str | None] = reactive(None)
    """Name of the run marked as the comparison's reference A."""
    view: reactive[str] = reactive("scores")
    """What the lower pane shows: ``scores``, ``compare`` or ``questions``."""
    map_shown: reactive[bool | None] = reactive(None, init=False)
    """Whether the world map shows; None: beside the board on a wide screen, else hidden."""
    include_suspect: reactive[bool] = reactive(False, init=False)
    """Score suspect answers too (they are left out by default, as in ``goqa report``)."""

    @dataclass
    class RunLoaded(Message):
        """A run's scores are ready."""

        run: LoadedRun

    @dataclass
    class StatisticsLoaded(Message):
        """A run's bootstrap intervals, baselines and diagnostics are ready: ``run`` is the
        loaded run with its :attr:`~core.runs.LoadedRun.statistics`."""

        run: LoadedRun

    @dataclass
    class RunDeleted(Message):
        """A run and its answers were deleted from the store."""

        name: str

    @dataclass
    class ComparisonLoaded(Message):
        """Two runs' scores on their shared questions are ready."""

        comparison: RunComparison

    def __init__(self) -> None:
        super().__init__()
        self._runs: list[RunSummary] = []
        self.loaded: LoadedRun | None = None
        """The highlighted run, as :func:`core.runs.load_run` gave it."""
        self.comparison: RunComparison | None = None
        self._map_keys: dict[str, str] = {}
        self._baselines: dict[tuple[bytes, str], stats.Baselines] = {}
        self._pending_compare: tuple[str, str] | None = None
        self.question_country: str | None = None
        self._board_view = "scores"
        self._question_rows: list[int] = []
        self._shown_run: str | None = None

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        run_table: DataTable[Any] = DataTable(
            id="results-runs", cursor_type="row", zebra_stripes=True
        )
        yield run_table
        yield Static("", id="results-status")
        with ContentSwitcher(initial="results-scores-view"):
            with Horizontal(id="results-scores-view"):
                yield Leaderboard(
                    extra_labels=("uniform", "best other"),
                    interval_label="95% CI",
                    show_search=False,
                    id="results-scores",
                )
                with Vertical(id="results-map-pane"):
                    yield Static("", id="results-map-caption")
                    yield WorldMap(id="results-map")
                    yield Static("", id="results-map-detail")
            yield Leaderboard(
                value_label="Δ B−A",
                extra_labels=("A", "B", "p", "q"),
                extra_formats=("{:.3f}", "{:.3f}", format_p, format_p),
                interval_label="95% CI",
                diverging=True,
                show_search=False,
                id="results-compare",
            )
            with Vertical(id="results-questions-view"):
                yield Static("", id="results-questions-caption")
                questions: DataTable[Any] = DataTable(
                    id="results-questions", cursor_type="row", zebra_stripes=True
                )
                yield questions
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#results-runs", DataTable)
        table.add_column("A", key="mark", width=1)
        table.add_column("Run", key="name")
        table.add_column("Condition", key="condition")
        table.add_column("Backend / model", key="backend")
        table.add_column("ok/planned", key="counts")
        table.add_column("Created", key="created")
        self._layout_map()
        self.action_reload()
        if self._pending_compare is not None:
            a, b = self._pending_compare
            self._pending_compare = None
            self._compare_now(a, b)

    def on_screen_resume(self) -> None:
        # Back from another view: show new runs, but stay on what was shown unless it changed.
        if self.is_mounted:
            self._reload(force=False)

    # ------------------------------------------------------------------ the run list

    @property
    def runs(self) -> list[RunSummary]:
        return list(self._runs)

    def action_reload(self) -> None:
        self._reload(force=True)

    def _reload(self, force: bool) -> None:
        """Read the runs again; load the highlighted one if ``force`` or its answers changed."""
        table = self.query_one("#results-runs", DataTable)
        current = self._highlighted_name()
        before = {r.manifest.name: (r.n_ok, r.n_failed) for r in self._runs}
        store, problem = available_store(self.goqa)
        self._runs = []
        if store is not None:
            try:
                self._runs = store.runs()
            except Exception as exc:
                self.goqa.show_error(exc)
        names = [r.manifest.name for r in reversed(self._runs)]  # newest first
        row = names.index(current) if current in names else 0
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for r in reversed(self._runs):
                m = r.manifest
                # Text cells: a run name (or a condition) is shown as written, not as markup.
                table.add_row(
                    "A" if m.name == self.marked else "",
                    Text(m.name, no_wrap=True, overflow="ellipsis"),
                    Text(m.condition, no_wrap=True, overflow="ellipsis"),
                    Text(f"{m.backend} ({m.model})" if m.model else m.backend),
                    Text(run_status(r, r.n_suspect)),
                    _created(m.created_at),
                    key=m.name,
                )
            if names:
                table.move_cursor(row=row)
        if not self._runs:
            self.loaded = None
            self._shown_run = None
            if store is None:
                self._status(problem)
                self.query_one("#results-scores", Leaderboard).clear(
                    "Runs are read from the results store: none can be shown without it."
                )
            else:
                self._status("No runs stored yet. Start one from the run screen (or 'goqa run').")
                self.query_one("#results-scores", Leaderboard).clear("")
            self.query_one("#results-map", WorldMap).values = {}
            return
        name = names[row]
        summary = self._summary(name)
        changed = summary is None or before.get(name) != (summary.n_ok, summary.n_failed)
        other = self.loaded is None or self.loaded.name != name
        if force or changed or (other and self.view != "compare"):
            self._load(name)  # (a comparison being made stays on show)

    def _highlighted_name(self) -> str | None:
        table = self.query_one("#results-runs", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def _summary(self, name: str | None) -> RunSummary | None:
        return next((r for r in self._runs if r.manifest.name == name), None)

    @on(DataTable.RowHighlighted, "#results-runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            name = str(event.row_key.value)
            if self.loaded is None or self.loaded.name != name or self.view == "questions":
                self._load(name)

    @on(DataTable.RowSelected, "#results-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._load(str(event.row_key.value))
        board = self.query_one("#results-scores", Leaderboard)
        if board.display:
            board.focus_table()
        else:  # the map stands in for the board on a narrow screen
            self.query_one("#results-map", WorldMap).focus()

    def _load(self, name: str) -> None:
        self.view = "scores"
        self._board_view = "scores"
        self._status(f"Loading {name}…")
        self._load_worker(name)

    @work(thread=True, exclusive=True, group="results-load", exit_on_error=False)
    def _load_worker(self, name: str) -> None:
        app = self.goqa
        loaded = runs.load_run(app.store, app.dataset, name, include_suspect=self.include_suspect)
        if not get_current_worker().is_cancelled:
            self.post_message(self.RunLoaded(loaded))

    @property
    def statistics(self) -> RunStatistics | None:
        """Intervals, baselines and diagnostics of :attr:`loaded` (None until computed)."""
        return self.loaded.statistics if self.loaded is not None else None

    @on(RunLoaded)
    def _run_loaded(self, event: RunLoaded) -> None:
        run = event.run
        self.loaded = run
        if self.view != "scores":
            return
        # What was left out comes first, where a two-line caption cannot clip it.
        notes = [f"{run.name}: {run.answers.positions.shape[0]} questions scored"]
        if note := suspect_note(run):
            notes.append(note)
        if run.n_failed:
            notes.append(f"{run.n_failed} failed (asked again when the run resumes)")
        caption = " · ".join(notes) + (
            f" · policy {run.policy} · {run.n_above_uniform} of "
            f"{len(run.scores.countries)} countries above their uniform score (┆, mean "
            f"{run.uniform_mean:.3f}) · Enter: per-question"
        )
        board = self.query_one("#results-scores", Leaderboard)
        same_run = bool(board.rows) and self._shown_run == run.name
        board.set_rows(score_rows(run), caption=caption, keep_cursor=same_run)
        self._shown_run = run.name
        self._show_map(run)
        if run.scores.countries:
            self._statistics_worker(run)
        self._status(self._scores_status())
        if note := run.match.note(run.name):
            self.notify(note, title="Another dataset", severity="warning", markup=False)

    @work(thread=True, exclusive=True, group="results-stats", exit_on_error=False)
    def _statistics_worker(self, run: LoadedRun) -> None:
        app = self.goqa
        # Runs over the same questions (an experiment's) share their baselines.
        key = (run.scored_positions.tobytes(), run.policy)
        done = runs.with_statistics(app.dataset, run, baselines=self._baselines.get(key))
        assert done.statistics is not None
        self._baselines = {key: done.statistics.baselines}
        if not get_current_worker().is_cancelled:
            self.post_message(self.StatisticsLoaded(done))

    def _scores_status(self) -> str:
        """The status line under a run's scores: its leader, how the intervals were made."""
        run = self.loaded
        if run is None:
            return ""
        top = run.scores.countries[0] if run.scores.countries else None
        if top is None:
            return f"{run.name} has no scored answer yet."
        statistics = run.statistics
        if statistics is None:
            how = "95% CIs: computing…"
        else:
            how = (
                f"95% CIs: bootstrap over questions, {statistics.intervals.n_resamples} "
                f"resamples, seed {statistics.intervals.seed} · best other: the closest other "
                f"country's people (≥{statistics.baselines.min_shared} shared questions)"
            )
        against = f"A = {self.marked}" if self.marked else "the latest default run"
        return (
            f"{run.name}: most like {top.display} ({top.similarity:.3f}) · {how} · "
            f"m marks it as A · c compares it with {against}"
        )

    @on(StatisticsLoaded)
    def _statistics_loaded(self, event: StatisticsLoaded) -> None:
        run = self.loaded
        if run is None or run.answers is not event.run.answers:
            return  # another run (or a fresh load of this one) is on show meanwhile
        self.loaded = run = event.run
        if self._shown_run != run.name:
            return
        board = self.query_one("#results-scores", Leaderboard)
        board.set_rows(score_rows(run), keep_cursor=True)
        if self.view == "scores":
            self._status(self._scores_status())
        self._update_map_detail()

    # ------------------------------------------------------------------ the world map

    def _show_map(self, run: LoadedRun) -> None:
        """Draw ``run``'s scores on the map (one sample per country, national preferred)."""
        self._map_keys = worldmap.keys_from_scores(run.scores.countries)
        world = self.query_one("#results-map", WorldMap)
        world.values = worldmap.values_from_scores(run.scores.countries)
        self.query_one("#results-map-caption", Static).update(
            Text(
                f"{run.name}: score by country (a country sampled twice shows its national "
                "sample) · arrows or the mouse pick a country · w hides the map"
            )
        )
        self._follow_board()

    def _map_visible(self) -> bool:
        if self.map_shown is not None:
            return self.map_shown
        return self.size.width >= SIDE_BY_SIDE_WIDTH

    def _layout_map(self) -> None:
        """Map beside the board on a wide screen; on a narrow one, the map or the board."""
        beside = self.size.width >= SIDE_BY_SIDE_WIDTH
        shown = self._map_visible()
        pane = self.query_one("#results-map-pane")
        board = self.query_one("#results-scores", Leaderboard)
        world = self.query_one("#results-map", WorldMap)
        pane.set_class(beside, "-beside")
        pane.display = shown
        board.display = beside or not shown
        if not shown and world.has_focus:
            board.focus_table()
        elif shown and not board.display and self.view == "scores":
            world.focus()

    def on_resize(self) -> None:
        if self.is_mounted:
            self._layout_map()

    def watch_map_shown(self) -> None:
        self._layout_map()

    def action_toggle_map(self) -> None:
        """Show or hide the map (switching back to the run's own scores if needed)."""
        if self.view != "scores":
            self.action_view_scores()
        self.map_shown = not self._map_visible()
        if self.map_shown:
            self._follow_board()
            if self.size.width < SIDE_BY_SIDE_WIDTH:
                self.query_one("#results-map", WorldMap).focus()

    @on(DataTable.RowHighlighted, "#results-scores DataTable")
    def _board_highlighted(self) -> None:
        self._follow_board()

    def _follow_board(self) -> None:
        """Put the map's crosshair on the country under the board's cursor."""
        key = self.query_one("#results-scores", Leaderboard).highlighted_key
        if key is not None:
            self.query_one("#results-map", WorldMap).show_country(countries.resolve(key).iso2)
        self._update_map_detail()

    @on(WorldMap.CountryHovered)
    def _map_hovered(self, event: WorldMap.CountryHovered) -> None:
        self._update_map_detail()

    def _detail_key(self) -> str | None:
        """The raw key the map's detail line is about: the board's country when the map's
        crosshair is on it, else the sample the map draws for the hovered country."""
        iso2 = self.query_one("#results-map", WorldMap).hovered()
        if iso2 is None:
            return None
        key = self.query_one("#results-scores", Leaderboard).highlighted_key
        if key is not None and countries.resolve(key).iso2 == iso2:
            return key
        return self._map_keys.get(iso2)

    def _update_map_detail(self) -> None:
        detail = self.query_one("#results-map-detail", Static)
        key = self._detail_key()
        run = self.loaded
        score = run.scores.get(key) if run is not None and key else None
        if key is None or score is None:
            detail.update("")
            return
        drawn = self._map_keys.get(countries.resolve(key).iso2 or "")
        head = f"{score.display}:"
        if key != drawn:  # else the map's own line above already gives the score and n
            head = f"{score.display}: {score.similarity:.3f} (n = {score.n_questions}) ·"
        parts = []
        statistics = run.statistics if run is not None else None
        if statistics is not None:
            interval = statistics.intervals.get(key)
            if interval is not None:
                parts.append(f"95% CI {interval.ci_low:.3f}–{interval.ci_high:.3f}")
            base = statistics.baselines.get(key)
            if base is not None:
                parts.append(f"uniform {base.uniform:.3f}")
                if base.best_other_display and base.best_other_similarity is not None:
                    parts.append(
                        f"best other: {base.best_other_display}'s people "
                        f"{base.best_other_similarity:.3f} ({base.best_other_n_shared} shared)"
                    )
        else:
            parts.append("95% CI: computing…")
        detail.update(Text(f"{head} {' · '.join(parts)}"))

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

    def request_compare(self, a: str, b: str) -> None:
        """Compare run ``b`` with run ``a`` as soon as the screen is up (runs re-read)."""
        if not self.is_mounted:
            self._pending_compare = (a, b)
            return
        self._compare_now(a, b)

    def _compare_now(self, a: str, b: str) -> None:
        self._reload(force=False)
        table = self.query_one("#results-runs", DataTable)
        names = [r.manifest.name for r in reversed(self._runs)]
        if b in names:
            with table.prevent(DataTable.RowHighlighted):
                table.move_cursor(row=names.index(b))
        self.compare(a, b)

    # ------------------------------------------------------------------ comparing

    def action_mark(self) -> None:
        name = self._highlighted_name()
        if name is None:
            return
        self.marked = None if self.marked == name else name
        table = self.query_one("#results-runs", DataTable)
        for r in self._runs:
            table.update_cell(
                r.manifest.name, "mark", "A" if r.manifest.name == self.marked else ""
            )
        self._status(
            f"A = {self.marked}: highlight another run and press c to compare."
            if self.marked
            else "No reference run marked."
        )

    def action_compare(self) -> None:
        b = self._summary(self._highlighted_name())
        if b is None:
            self.notify("No run to compare.", severity="warning")
            return
        a_name = self.marked
        if a_name is None or a_name == b.manifest.name:
            ref = runs.default_reference(self._runs, b.manifest.name)
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
        self.view = "compare"
        self._board_view = "compare"
        self._status(f"Comparing {b} with {a}…")
        self._compare_worker(a, b)

    @work(thread=True, exclusive=True, group="results-load", exit_on_error=False)
    def _compare_worker(self, a: str, b: str) -> None:
        app = self.goqa
        comparison = runs.compare_runs(
            app.store, app.dataset, a, b, include_suspect=self.include_suspect
        )
        if not get_current_worker().is_cancelled:
            self.post_message(self.ComparisonLoaded(comparison))

    @on(ComparisonLoaded)
    def _comparison_loaded(self, event: ComparisonLoaded) -> None:
        comp = event.comparison
        self.comparison = comp
        rows = comparison_rows(comp)
        toward = sum(1 for r in rows if r.value > 0)
        focus = ""
        for key in comp.focus:
            diff = comp.difference(key)
            if diff is not None:
                rank = 1 + sum(1 for r in rows if r.value > diff)
                focus += f" · {countries.resolve(key).label} {diff:+.3f} (#{rank})"
        paired = comp.paired
        left_out = comp.suspect_left_out
        if comp.a.include_suspect:
            suspect = " (suspect answers included)"
        else:
            suspect = f" ({left_out} suspect answers left out)" if left_out else ""
        caption = (
            f"B {comp.b.name} vs A {comp.a.name} on {comp.positions.shape[0]} shared questions"
            f"{suspect} (policy {comp.a.policy}) · B moved toward {toward} of {len(rows)} "
            f"countries{focus} · Δ = B − A (green: B more like the country) · p: sign-flip "
            f"test · q: Benjamini–Hochberg, * q < {paired.alpha:g}"
        )
        board = self.query_one("#results-compare", Leaderboard)
        board.set_rows(rows, caption=caption, keep_cursor=False)
        if comp.positions.shape[0] == 0:
            self.notify("The two runs share no answered question.", severity="warning")
        for run in (comp.a, comp.b):
            if note := run.match.note(run.name):
                self.notify(note, title="Another dataset", severity="warning", markup=False)
        self._status(run_level_line(paired) + " · Enter: per question · v: the run's own scores")
        board.focus_table()

    def action_view_scores(self) -> None:
        name = self._highlighted_name()
        if name is not None:
            self._load(name)

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
        comp = self.comparison
        if self._board_view == "compare" and comp is not None:
            self.compare(comp.a.name, comp.b.name)
            return
        name = self._highlighted_name()
        if name is not None:
            self._load(name)

    # ------------------------------------------------------------------ deleting

    def action_delete_run(self) -> None:
        """Ask, then delete the highlighted run and all its answers."""
        summary = self._summary(self._highlighted_name())
        if summary is None:
            self.notify("No run to delete.", severity="warning")
            return
        name = summary.manifest.name
        self.app.push_screen(
            ConfirmDeleteScreen(name, summary.n_ok + summary.n_failed),
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
        self._delete_worker(store, name)

    @work(thread=True, exclusive=True, group="results-delete", exit_on_error=False)
    def _delete_worker(self, store: Store, name: str) -> None:
        # In a thread: a store busy with another process's write waits before it gives up.
        store.delete_run(name)
        self.post_message(self.RunDeleted(name))

    @on(RunDeleted)
    def _run_deleted(self, event: RunDeleted) -> None:
        name = event.name
        if self.marked == name:
            self.marked = None
        if self.loaded is not None and self.loaded.name == name:
            self.loaded = None
            self._shown_run = None
        comp = self.comparison
        if comp is not None and name in (comp.a.name, comp.b.name):
            self.comparison = None
            self.query_one("#results-compare", Leaderboard).clear("")
            self.view = "scores"
            self._board_view = "scores"
        self._reload(force=True)
        self.notify(f"Deleted run {name}.", title="Run deleted", markup=False)

    # ------------------------------------------------------------------ questions of a country

    @on(Leaderboard.CountrySelected)
    def _country_selected(self, event: Leaderboard.CountrySelected) -> None:
        self.show_questions(event.country)

    def show_questions(self, country: str) -> None:
        """List ``country``'s per-question similarities for the run (or both compared runs)."""
        app = self.goqa
        dataset: Dataset = app.dataset
        if country not in dataset.country_index:
            return
        self.question_country = country
        table = self.query_one("#results-questions", DataTable)
        table.clear(columns=True)
        label = countries.resolve(country).label
        comparing = self._board_view == "compare" and self.comparison is not None
        top_w = 24 if self._pane_width() >= 110 else 16
        if comparing:
            comp = self.comparison
            assert comp is not None
            moves = comp.question_differences(dataset, country)
            positions = [p for p, _, _ in moves]
            table.add_column("id", key="id", width=6)
            table.add_column("A", key="a", width=6)
            table.add_column("B", key="b", width=6)
            table.add_column("Δ", key="d", width=7)
            table.add_column("people's top", key="human", width=top_w)
            text_width = self._text_width(6 + 6 + 6 + 7 + top_w, 6)
            table.add_column("Question", key="text", width=text_width)
            for p, sim_a, sim_b in moves:
                d = sim_b - sim_a
                table.add_row(
                    str(dataset.ids[p]),
                    f"{sim_a:.3f}",
                    f"{sim_b:.3f}",
                    Text(f"{d:+.3f}", style="bold" if abs(d) >= 0.1 else ""),
                    Text(_top_option(dataset, p, dataset.at(p).distribution(country))),
                    Text(_clip(dataset.texts[p], text_width)),
                    key=str(p),
                )
            caption = (
                f"{label}: {len(positions)} questions, B {comp.b.name} vs A {comp.a.name}, "
                "largest move toward first · Enter opens a question · Esc back"
            )
        else:
            run = self.loaded
            if run is None:
                return
            sims = run.question_similarities(dataset, country)
            probs = dict(zip(run.answers.positions.tolist(), run.answers.probs, strict=True))
            positions = [p for p, _ in sims]
            table.add_column("id", key="id", width=6)
            table.add_column("similarity", key="sim", width=10)
            table.add_column("model's top", key="model", width=top_w)
            table.add_column("people's top", key="human", width=top_w)
            text_width = self._text_width(6 + 10 + 2 * top_w, 5)
            table.add_column("Question", key="text", width=text_width)
            for p, sim in sims:
                table.add_row(
                    str(dataset.ids[p]),
                    f"{sim:.3f}",
                    Text(_top_option(dataset, p, probs.get(p))),
                    Text(_top_option(dataset, p, dataset.at(p).distribution(country))),
                    Text(_clip(dataset.texts[p], text_width)),
                    key=str(p),
                )
            caption = (
                f"{label} in {run.name}: {len(positions)} questions, most similar first · "
                "Enter opens a question · Esc back"
            )
        self._question_rows = positions
        self.query_one("#results-questions-caption", Static).update(Text(caption))
        self.view = "questions"
        table.focus()

    def _pane_width(self) -> int:
        return self.query_one(ContentSwitcher).size.width or self.size.width or 120

    def _text_width(self, fixed: int, columns: int) -> int:
        """Room left for the question text beside ``columns`` columns of ``fixed`` cells."""
        return max(16, self._pane_width() - fixed - 2 * columns - 2 - 2)

    @property
    def question_positions(self) -> list[int]:
        """Positions listed in the per-question view, in order."""
        return list(self._question_rows)

    @on(DataTable.RowSelected, "#results-questions")
    def _question_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        self.post_message(QuestionOpenRequested(int(event.row_key.value)))

    def action_human_baseline(self) -> None:
        """Open the countries view on the country under the board's cursor."""
        board = "#results-compare" if self._board_view == "compare" else "#results-scores"
        key = self.question_country if self.view == "questions" else None
        key = key or self.query_one(board, Leaderboard).highlighted_key
        if key is None:
            self.notify("Highlight a country first.", severity="warning")
        else:
            self.post_message(CountryOpenRequested(key))

    # ------------------------------------------------------------------ navigation

    def watch_view(self, view: str) -> None:
        target = {
            "scores": "results-scores-view",
            "compare": "results-compare",
            "questions": "results-questions-view",
        }[view]
        self.query_one(ContentSwitcher).current = target

    def action_back(self) -> None:
        if self.view == "questions":
            self.view = self._board_view
            board = "#results-compare" if self._board_view == "compare" else "#results-scores"
            if self.query_one(board, Leaderboard).display:
                self.query_one(board, Leaderboard).focus_table()
            else:
                self.query_one("#results-map", WorldMap).focus()
            return
        runs = self.query_one("#results-runs", DataTable)
        if not runs.has_focus:
            runs.focus()
            return
        leave(self)

    def _status(self, text: str | Text) -> None:
        """Show ``text`` on the status line, as plain text (run names in it are not markup)."""
        self.query_one("#results-status", Static).update(
            Text(text) if isinstance(text, str) else text
        )

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group in ("results-load", "results-stats", "results-delete"):
            if event.state == WorkerState.ERROR and event.worker.error is not None:
                what = {
                    "results-stats": "compute the intervals",
                    "results-delete": "delete the run",
                }.get(event.worker.group, "compute the run")
                self._status(f"Could not {what}: {event.worker.error}")
                self.goqa.show_error(event.worker.error)


def run_level_line(paired: stats.Comparison) -> str:
    """The comparison in one line: countries significantly closer and further, mean Δ."""
    if not paired.countries:
        return "No country was scored in both runs."
    return (
        f"B is significantly closer to {paired.n_better} countries and further from "
        f"{paired.n_worse} (BH q < {paired.alpha:g}) · mean Δ {paired.mean_diff:+.3f} "
        f"({paired.level:.0%} CI {paired.mean_diff_ci_low:+.3f}…{paired.mean_diff_ci_high:+.3f})"
        f" · {paired.n_resamples} resamples, {paired.n_permutations} sign flips, seed "
        f"{paired.seed}"
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _top_option(dataset: Dataset, position: int, dist: np.ndarray | None) -> str:
    if dist is None:
        return "—"
    k = int(dataset.n_options[position])
    d = np.asarray(dist, dtype=float)[:k]
    if d.sum() <= 0:
        return "—"
    i = int(np.argmax(d))
    return f"({LETTERS[i]}) {d[i] / d.sum():.0%} {dataset.options[position][i]}"
