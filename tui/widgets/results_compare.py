"""Two runs compared country by country: B against the reference A, on the questions both
answered.

:class:`RunComparisonPane` owns the comparison on show. :meth:`RunComparisonPane.compare`
makes it in a thread worker (:func:`core.runs.compare_runs`): each country's difference
B − A with its bootstrap interval, sign-flip p-value and Benjamini–Hochberg q-value (``*``
marks q < 0.05), sorted by how far B moved toward each country. The countries a
``country:`` condition names stand out.

Both runs are scored under one metric (:mod:`core.metrics`, named in the board's title). Δ is
positive when B is closer under every metric: for a divergence (``kl``, lower is better) it
is A's value minus B's, and the board's header and caption say so.

Messages: :class:`RunComparisonPane.ComparisonLoaded`,
:class:`RunComparisonPane.CountryChosen` (Enter on a country) and
:class:`RunComparisonPane.ComparisonFailed` (for the screen to report).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from core import countries, metrics, runs, stats
from core.dataset import Dataset
from core.metrics import DEFAULT_METRIC, HIGHER_IS_BETTER, MetricName
from core.runs import RunComparison
from core.store import Store

from .leaderboard import Leaderboard, LeaderboardRow
from .metric_label import metric_title, no_scores_reason, unit


def delta_label(metric: MetricName) -> str:
    """The Δ column's header: ``Δ B−A``, or ``Δ A−B`` for a divergence (positive: B closer)."""
    return "Δ B−A" if HIGHER_IS_BETTER[metric] else "Δ A−B"


def format_p(value: float) -> str:
    """A p- or q-value in at most six cells: ``0.042``, ``<0.001``; ``—`` when undefined."""
    if not math.isfinite(value):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def toward_interval(metric: MetricName, low: float, high: float) -> tuple[float, float]:
    """An interval of B − A (as :class:`core.stats.Comparison` gives it, in the metric's own
    direction) turned like :meth:`core.runs.RunComparison.difference`: positive is B closer
    (for ``kl``, A − B)."""
    return (low, high) if HIGHER_IS_BETTER[metric] else (-high, -low)


def comparison_rows(comp: RunComparison) -> list[LeaderboardRow]:
    """One row per country scored in both runs: Δ, its interval, A, B, p and q."""
    rows = []
    for cb in comp.scores_b.countries:
        ca = comp.scores_a.get(cb.country)
        diff = comp.difference(cb.country)
        if ca is None or diff is None:
            continue
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
                interval=toward_interval(comp.metric, pc.ci_low, pc.ci_high) if pc else None,
                significant=pc is not None and pc.q_value < comp.paired.alpha,
            )
        )
    return rows


def comparison_caption(comp: RunComparison, rows: list[LeaderboardRow]) -> str:
    """The board's caption: the runs, the shared questions, how many countries B moved
    toward (and where the focus countries rank), how to read Δ, p and q."""
    focus = ""
    for key in comp.focus:
        diff, rank = comp.difference(key), comp.rank(key)
        if diff is not None and rank is not None:
            focus += f" · {countries.resolve(key).label} {diff:+.3f} (#{rank})"
    paired = comp.paired
    left_out = comp.suspect_left_out
    if comp.a.include_suspect:
        suspect = " (suspect answers included)"
    else:
        suspect = f" ({left_out} suspect answers left out)" if left_out else ""
    metric = comp.metric
    if HIGHER_IS_BETTER[metric]:
        delta = f"Δ = B − A in {metric}"
    else:
        delta = f"Δ = A − B in {metric} {unit(metric)} (lower is closer)"
    return (
        f"B {comp.b.name} vs A {comp.a.name} on {comp.positions.shape[0]} shared questions"
        f"{suspect} (policy {comp.a.policy}) · B moved toward {comp.moved_toward} of {len(rows)} "
        f"countries{focus} · {delta} (green: B more like the country) · p: sign-flip "
        f"test · q: Benjamini–Hochberg, * q < {paired.alpha:g}"
    )


def run_level_line(paired: stats.Comparison) -> str:
    """The comparison in one line: countries significantly closer and further, mean Δ."""
    if not paired.countries:
        return "No country was scored in both runs."
    metric = paired.metric
    mean = float(metrics.oriented(metric, paired.mean_diff))
    low, high = toward_interval(metric, paired.mean_diff_ci_low, paired.mean_diff_ci_high)
    delta = "Δ" if HIGHER_IS_BETTER[metric] else f"Δ (A − B, {metric} {unit(metric)})"
    return (
        f"B is significantly closer to {paired.n_better} countries and further from "
        f"{paired.n_worse} (BH q < {paired.alpha:g}) · mean {delta} {mean:+.3f} "
        f"({paired.level:.0%} CI {low:+.3f}…{high:+.3f})"
        f" · {paired.n_resamples} resamples, {paired.n_permutations} sign flips, seed "
        f"{paired.seed}"
    )


class RunComparisonPane(Vertical):
    """The board of two runs compared: Δ B−A per country, its interval, A, B, p and q."""

    @dataclass
    class ComparisonLoaded(Message):
        """Two runs' scores on their shared questions are ready and on the board."""

        comparison: RunComparison

    @dataclass
    class ComparisonFailed(Message):
        """The two runs could not be compared (the board keeps what it showed)."""

        error: BaseException

    @dataclass
    class CountryChosen(Message):
        """Enter was pressed on a country of the comparison."""

        country: str
        """Its raw dataset key."""

    def __init__(
        self,
        *,
        board_id: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty pane.

        Args:
            board_id: the id of the inner :class:`Leaderboard`.
        """
        super().__init__(name=name, id=id, classes=classes)
        self._board_id = board_id
        self.comparison: RunComparison | None = None
        """The comparison on show (None before one is made, or after :meth:`clear`)."""
        self._dataset: Dataset | None = None

    def compose(self) -> ComposeResult:
        yield Leaderboard(
            value_label="Δ B−A",
            extra_labels=("A", "B", "p", "q"),
            extra_formats=("{:.3f}", "{:.3f}", format_p, format_p),
            interval_label="95% CI",
            diverging=True,
            show_search=False,
            id=self._board_id,
        )

    @property
    def board(self) -> Leaderboard:
        return self.query_one(Leaderboard)

    @property
    def highlighted_key(self) -> str | None:
        """The country under the board's cursor."""
        return self.board.highlighted_key

    def compare(
        self,
        store: Store,
        dataset: Dataset,
        a: str,
        b: str,
        *,
        include_suspect: bool,
        metric: MetricName = DEFAULT_METRIC,
    ) -> None:
        """Compare run ``b`` with the reference run ``a`` under ``metric`` in a thread;
        :class:`ComparisonLoaded` follows. A comparison under way is given up."""
        self._dataset = dataset
        self._compare_worker(store, dataset, a, b, include_suspect, metric)

    def cancel(self) -> None:
        """Give up a comparison under way (its result is never shown)."""
        self.workers.cancel_group(self, "results-compare")

    @work(thread=True, exclusive=True, group="results-compare", exit_on_error=False)
    def _compare_worker(
        self,
        store: Store,
        dataset: Dataset,
        a: str,
        b: str,
        include_suspect: bool,
        metric: MetricName,
    ) -> None:
        comparison = runs.compare_runs(
            store, dataset, a, b, include_suspect=include_suspect, metric=metric
        )
        if not get_current_worker().is_cancelled:
            self.post_message(self._Compared(comparison))

    @dataclass
    class _Compared(Message):
        comparison: RunComparison

    @on(_Compared)
    def _compared(self, event: _Compared) -> None:
        event.stop()
        self.show(event.comparison)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # A worker's state does not bubble: say what failed with the pane's own message.
        error = event.worker.error
        if event.worker.node is self and event.state == WorkerState.ERROR and error is not None:
            self.post_message(self.ComparisonFailed(error))

    def show(self, comp: RunComparison) -> None:
        """Put ``comp`` on the board (the cursor on its first row), then post
        :class:`ComparisonLoaded`."""
        self.comparison = comp
        rows = comparison_rows(comp)
        board = self.board
        board.configure(title=metric_title(comp.metric), value_label=delta_label(comp.metric))
        caption = comparison_caption(comp, rows)
        if not rows and self._dataset is not None:
            why = no_scores_reason(self._dataset, comp.positions, comp.metric, "shared questions")
            caption = why or caption
        board.set_rows(rows, caption=caption, keep_cursor=False)
        self.post_message(self.ComparisonLoaded(comp))

    def clear(self) -> None:
        """Show no comparison."""
        self.comparison = None
        self.board.clear("")

    def focus_board(self) -> None:
        self.board.focus_table()

    @on(Leaderboard.CountrySelected)
    def _country_selected(self, event: Leaderboard.CountrySelected) -> None:
        event.stop()
        self.post_message(self.CountryChosen(event.country))
