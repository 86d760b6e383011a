"""One run's own scores: its country leaderboard and, beside it or instead of it, its map.

:class:`RunScores` owns the run on show. :meth:`RunScores.load` scores a stored run in a
thread worker (:func:`core.runs.load_run`), then adds its statistics in another
(:func:`core.runs.with_statistics`): each country's bootstrap 95% interval and the best score
another country's people reach on the same questions. The leaderboard gives each country's
score, its uniform-answer score (the floor a model has to beat) and the best other people's.

Everything is scored under one metric (:mod:`core.metrics`; ``jsd``, the paper's, unless
:meth:`RunScores.load` is given another): the board's title names it, the uniform and
best-other columns are under it too, and a divergence (``kl``, lower is better) ranks lowest
first with oriented bars. A run's statistics are kept per (run, metric, policy, suspect
answers in or out), so switching back to a metric shows its intervals at once.

The map (:class:`~tui.widgets.run_map.RunMap`) sits beside the board from
:data:`SIDE_BY_SIDE_WIDTH` cells on, and shows there by default; on a narrower pane it takes
the board's place when it shows. The board's cursor moves the map's crosshair.

Messages: :class:`RunScores.RunLoaded`, :class:`RunScores.StatisticsLoaded`,
:class:`RunScores.CountryChosen` (Enter on a country), and :class:`RunScores.LoadFailed` or
:class:`RunScores.StatisticsFailed` when a worker fails (a worker's own state change does not
bubble), for the screen to report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState, get_current_worker

from core import runs
from core.dataset import Dataset
from core.errors import GoqaError
from core.estimators import EstimatorSpec
from core.metrics import DEFAULT_METRIC, HIGHER_IS_BETTER, MetricName
from core.runs import LoadedRun, RunStatistics
from core.store import RunManifest, Store
from core.wording import counted

from .leaderboard import Leaderboard, LeaderboardRow, rows_from_scores
from .metric_label import metric_title, no_scores_reason, value_label, with_unit
from .run_map import RunMap

SIDE_BY_SIDE_WIDTH = 150
"""From this width the map sits beside the leaderboard (and shows by default)."""
KEPT_STATISTICS = 16
"""Statistics of this many (run, metric, policy, suspect) loads are kept for switching back."""


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


def suspect_note(run: LoadedRun) -> str:
    """What the board says about suspect answers ("" when the run has none)."""
    if run.include_suspect:
        n = run.n_suspect_included
        return f"{n} suspect answers included (i leaves them out)" if n else ""
    n = run.suspect_left_out
    return f"{n} suspect answers left out (i includes them)" if n else ""


def scores_caption(run: LoadedRun) -> str:
    """The board's caption: what was scored and left out first (a two-line caption cannot
    clip it there), then the policy and the uniform floor."""
    notes = [f"{run.name}: {counted(run.answers.positions.shape[0], 'question')} scored"]
    if note := suspect_note(run):
        notes.append(note)
    if run.n_failed:
        notes.append(f"{run.n_failed} failed (asked again when the run resumes)")
    better = "above" if HIGHER_IS_BETTER[run.metric] else "below"
    return " · ".join(notes) + (
        f" · policy {run.policy} · {run.n_above_uniform} of "
        f"{len(run.scores.countries)} countries {better} their uniform score (┆, mean "
        f"{with_unit(run.metric, run.uniform_mean)}) · Enter: per-question"
    )


def estimator_label(manifest: RunManifest) -> str:
    """How a stored run estimated its answers: ``order-averaged (up to 4 orders)`` (its name as
    stored when its settings cannot be read)."""
    try:
        return EstimatorSpec.from_manifest(manifest.estimator, manifest.estimator_params).label
    except GoqaError:
        return manifest.estimator


def scores_status(run: LoadedRun, marked: str | None) -> str:
    """The status line under a run's scores: its leader, its estimator, how the intervals
    were made, and what ``c`` would compare it with (A = ``marked``, or the latest default
    run)."""
    top = run.scores.countries[0] if run.scores.countries else None
    if top is None:
        if run.answers.positions.shape[0] and run.metric == "wasserstein":
            return f"{run.name} has no ordinal question: nothing to score under wasserstein."
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
    against = f"A = {marked}" if marked else "the latest default run"
    return (
        f"{run.name}: most like {top.display} ({with_unit(run.metric, top.similarity)}, "
        f"{run.metric}) · estimator "
        f"{estimator_label(run.manifest)} · {how} · m marks it as A · c compares it with "
        f"{against}"
    )


class RunScores(Horizontal):
    """The leaderboard of one run and its world map."""

    map_shown: reactive[bool | None] = reactive(None, init=False)
    """Whether the map shows; None: beside the board on a wide pane, else hidden."""

    @dataclass
    class RunLoaded(Message):
        """A run's scores are ready and on the board."""

        run: LoadedRun

    @dataclass
    class StatisticsLoaded(Message):
        """A run's bootstrap intervals, baselines and diagnostics are ready and shown:
        ``run`` is the loaded run with its :attr:`~core.runs.LoadedRun.statistics`."""

        run: LoadedRun

    @dataclass
    class LoadFailed(Message):
        """A run could not be scored (the board keeps what it showed)."""

        error: BaseException

    @dataclass
    class StatisticsFailed(Message):
        """A run's intervals and baselines could not be computed."""

        error: BaseException

    @dataclass
    class CountryChosen(Message):
        """Enter was pressed on a country of the board."""

        country: str
        """Its raw dataset key."""

    def __init__(
        self,
        *,
        board_id: str | None = None,
        map_id: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty pane.

        Args:
            board_id: the id of the inner :class:`Leaderboard`.
            map_id: the id of the inner :class:`WorldMap` (its pane gets ``<map_id>-pane``).
        """
        super().__init__(name=name, id=id, classes=classes)
        self._board_id = board_id
        self._map_id = map_id
        self.loaded: LoadedRun | None = None
        """The run on show, as :func:`core.runs.load_run` gave it (statistics once in)."""
        self._shown_run: str | None = None
        self._statistics: dict[tuple[str, MetricName, str, bool, bytes], RunStatistics] = {}
        """Statistics of recent loads by (run, metric, policy, suspect included, answers)."""
        self.metric: MetricName = DEFAULT_METRIC
        """The metric of the last load asked for."""

    def compose(self) -> ComposeResult:
        yield Leaderboard(
            extra_labels=("uniform", "best other"),
            interval_label="95% CI",
            show_search=False,
            id=self._board_id,
        )
        yield RunMap(map_id=self._map_id, id=f"{self._map_id}-pane" if self._map_id else None)

    def on_mount(self) -> None:
        self.place_map()

    def on_resize(self) -> None:
        self.place_map()

    @property
    def board(self) -> Leaderboard:
        return self.query_one(Leaderboard)

    @property
    def run_map(self) -> RunMap:
        return self.query_one(RunMap)

    # ------------------------------------------------------------------ loading

    def load(
        self,
        store: Store,
        dataset: Dataset,
        name: str,
        *,
        include_suspect: bool,
        metric: MetricName = DEFAULT_METRIC,
    ) -> None:
        """Score run ``name`` of ``store`` under ``metric`` in a thread; :class:`RunLoaded`
        follows, then :class:`StatisticsLoaded`. A load under way is given up."""
        self.metric = metric
        self._load_worker(store, dataset, name, include_suspect, metric)

    def cancel_load(self) -> None:
        """Give up a load under way (its result is never shown)."""
        self.workers.cancel_group(self, "results-load")

    @work(thread=True, exclusive=True, group="results-load", exit_on_error=False)
    def _load_worker(
        self, store: Store, dataset: Dataset, name: str, include_suspect: bool, metric: MetricName
    ) -> None:
        loaded = runs.load_run(store, dataset, name, include_suspect=include_suspect, metric=metric)
        known = self._statistics.get(_statistics_key(loaded))
        if known is not None:
            loaded = replace(loaded, statistics=known)
        if not get_current_worker().is_cancelled:
            self.post_message(self._Scored(loaded, dataset))

    @dataclass
    class _Scored(Message):
        run: LoadedRun
        dataset: Dataset

    @on(_Scored)
    def _scored(self, event: _Scored) -> None:
        event.stop()
        run = event.run
        self.loaded = run
        board = self.board
        same_run = bool(board.rows) and self._shown_run == run.name
        board.configure(
            title=metric_title(run.metric),
            value_label=value_label(run.metric),
            higher_is_better=HIGHER_IS_BETTER[run.metric],
        )
        caption = scores_caption(run)
        if not run.scores.countries:
            positions = run.answers.positions
            caption = no_scores_reason(event.dataset, positions, run.metric) or caption
        board.set_rows(score_rows(run), caption=caption, keep_cursor=same_run)
        self._shown_run = run.name
        self.run_map.show_run(run)
        if run.statistics is not None:
            self.run_map.show_statistics(run)
        self._follow_board()
        self.post_message(self.RunLoaded(run))
        if run.statistics is not None:
            self.post_message(self.StatisticsLoaded(run))
        elif run.scores.countries:
            self._statistics_worker(event.dataset, run)

    @work(thread=True, exclusive=True, group="results-stats", exit_on_error=False)
    def _statistics_worker(self, dataset: Dataset, run: LoadedRun) -> None:
        # Baselines are not shared between runs over the same questions: under the metrics
        # of issue 12 they hold the run's own shuffled-country null and lift.
        done = runs.with_statistics(dataset, run)
        if not get_current_worker().is_cancelled:
            self.post_message(self._Computed(done))

    @dataclass
    class _Computed(Message):
        run: LoadedRun

    @on(_Computed)
    def _computed(self, event: _Computed) -> None:
        event.stop()
        assert event.run.statistics is not None
        kept = self._statistics
        kept[_statistics_key(event.run)] = event.run.statistics
        while len(kept) > KEPT_STATISTICS:
            del kept[next(iter(kept))]
        run = self.loaded
        if run is None or run.answers is not event.run.answers:
            return  # another run (or a fresh load of this one) is on show meanwhile
        self.loaded = run = event.run
        if self._shown_run != run.name:
            return
        self.board.set_rows(score_rows(run), keep_cursor=True)
        self.run_map.show_statistics(run)
        self.post_message(self.StatisticsLoaded(run))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # A worker's state does not bubble: say what failed with the pane's own messages.
        error = event.worker.error
        if event.worker.node is not self or event.state != WorkerState.ERROR or error is None:
            return
        if event.worker.group == "results-load":
            self.post_message(self.LoadFailed(error))
        elif event.worker.group == "results-stats":
            self.post_message(self.StatisticsFailed(error))

    def forget(self) -> None:
        """Forget the run on show (it was deleted): the next load starts a fresh board."""
        if self.loaded is not None:
            name = self.loaded.name
            self._statistics = {k: v for k, v in self._statistics.items() if k[0] != name}
        self.loaded = None
        self._shown_run = None

    def clear(self, caption: str = "") -> None:
        """Show no run: an empty board with ``caption``, an empty map."""
        self.forget()
        self.board.clear(caption)
        self.run_map.clear()

    # ------------------------------------------------------------------ the map

    def map_visible(self) -> bool:
        """Whether the map shows (as chosen, else beside the board on a wide pane)."""
        if self.map_shown is not None:
            return self.map_shown
        return self._width() >= SIDE_BY_SIDE_WIDTH

    def _width(self) -> int:
        # Not laid out yet (or hidden since before a resize): the screen's width.
        return self.size.width or self.screen.size.width

    def place_map(self) -> None:
        """Map beside the board on a wide pane; on a narrow one, the map or the board."""
        beside = self._width() >= SIDE_BY_SIDE_WIDTH
        shown = self.map_visible()
        pane, board = self.run_map, self.board
        pane.set_class(beside, "-beside")
        pane.display = shown
        board.display = beside or not shown
        if not shown and pane.world.has_focus:
            board.focus_table()
        elif shown and not board.display and self.display:
            pane.world.focus()

    def watch_map_shown(self) -> None:
        self.place_map()

    def toggle_map(self) -> None:
        """Show or hide the map; shown alone, it takes the focus."""
        self.map_shown = not self.map_visible()
        if self.map_shown:
            self._follow_board()
            if self._width() < SIDE_BY_SIDE_WIDTH:
                self.run_map.world.focus()

    def focus_board(self) -> None:
        """Focus the board, or the map where it stands in for the board."""
        if self.board.display:
            self.board.focus_table()
        else:
            self.run_map.world.focus()

    @property
    def highlighted_key(self) -> str | None:
        """The country under the board's cursor."""
        return self.board.highlighted_key

    @on(DataTable.RowHighlighted)
    def _board_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.parent is self.board:
            self._follow_board()

    def _follow_board(self) -> None:
        """Put the map's crosshair on the country under the board's cursor."""
        self.run_map.follow(self.board.highlighted_key)

    @on(Leaderboard.CountrySelected)
    def _country_selected(self, event: Leaderboard.CountrySelected) -> None:
        event.stop()
        self.post_message(self.CountryChosen(event.country))


def _statistics_key(run: LoadedRun) -> tuple[str, MetricName, str, bool, bytes]:
    """What a run's statistics depend on: its name, metric, policy, whether suspect answers
    count, and its answers (a digest: a resumed run's statistics are computed afresh)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(run.answers.positions.tobytes())
    digest.update(run.answers.probs.tobytes())
    return (run.name, run.metric, run.policy, run.include_suspect, digest.digest())
