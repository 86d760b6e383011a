"""The metric switch of the app (issue 12): ``M`` in the Results and Run views.

Every board is checked against :mod:`core.runs` under the same metric (``load_run``,
``compare_runs``, ``score_distributions``), so a board scored under the wrong metric, in
the wrong order, or a divergence drawn the wrong way round fails here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.runs import put_run
from support.tui import (
    SIZE,
    FakeBackend,
    FixedBackend,
    StyledHarnessApp,
    make_app,
    ready,
    settle,
    wait_for,
)
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from core import dataset as datasetmod
from core import metrics, runner, runs
from core.metrics import METRIC_INFO, METRIC_NAMES, MetricName
from core.prompts import Condition
from core.store import Store
from tui.app import create_app
from tui.contract import session_metric
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.widgets.leaderboard import Leaderboard, LeaderboardRow
from tui.widgets.metric_label import metric_title, next_metric, no_scores_reason
from tui.widgets.results_compare import RunComparisonPane
from tui.widgets.worldmap import WorldMap

POSITIONS = list(range(30))
VALUE_COLUMN = 3
"""The board's columns: rank, country, bar, value, n…"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


async def _run(store: Store, dataset: datasetmod.Dataset, name: str, condition: Condition) -> None:
    await runner.run(
        name=name,
        dataset=dataset,
        positions=POSITIONS,
        backend=FakeBackend(),
        backend_name="fake",
        condition=condition,
        template="paper",
        store=store,
    )


def _cell(board: Leaderboard, row: int, column: int = VALUE_COLUMN) -> str:
    return str(board.query_one(DataTable).get_row_at(row)[column])


def _bar_cells(board: Leaderboard, row: int) -> int:
    """Cells of a row's bar drawn in blocks (its length, whiskers and marks aside)."""
    text = str(board.query_one(DataTable).get_row_at(row)[2])
    return sum(ch in "▏▎▍▌▋▊▉█" for ch in text)


async def _results(pilot: Pilot[Any]) -> tuple[ResultsScreen, Leaderboard]:
    screen = pilot.app.screen
    assert isinstance(screen, ResultsScreen)
    await settle(pilot)
    return screen, screen.query_one("#results-scores", Leaderboard)


async def _switch_to(pilot: Pilot[Any], screen: ResultsScreen | RunScreen, metric: str) -> None:
    """Press ``M`` until ``metric`` is on (each press gives up the load before it), then wait
    for the boards."""
    presses = (METRIC_NAMES.index(metric) - METRIC_NAMES.index(screen.metric)) % len(METRIC_NAMES)
    await pilot.press(*["M"] * presses)
    assert screen.metric == metric
    await settle(pilot)


# --------------------------------------------------------------------------- the pieces


def test_the_metrics_cycle_in_their_published_order() -> None:
    seen: list[MetricName] = ["jsd"]
    while len(seen) <= len(METRIC_NAMES):
        seen.append(next_metric(seen[-1]))
    assert seen == [*METRIC_NAMES, "jsd"]
    assert metric_title("kl") == f"Metric (M): kl — {METRIC_INFO['kl']}"


async def test_a_divergence_board_ranks_lowest_first_with_the_best_bar_longest() -> None:
    rows = [
        LeaderboardRow("a", "A", 1.0, 3, baseline=0.9),
        LeaderboardRow("b", "B", 0.2, 3, baseline=0.9),
        LeaderboardRow("c", "C", 0.5, 3, baseline=0.9),
    ]

    class BoardApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Leaderboard(extra_labels=("uniform",))

    app = BoardApp()
    async with app.run_test(size=(100, 12)) as pilot:
        board = app.query_one(Leaderboard)
        board.set_rows(rows)
        await pilot.pause()
        assert board.displayed_keys == ["a", "c", "b"]  # higher is better by default
        board.configure(title="kl", value_label="kl bits", higher_is_better=False)
        await pilot.pause()
        assert board.displayed_keys == ["b", "c", "a"]
        assert [r.key for r in board.rows] == ["b", "c", "a"]
        # Oriented bars: 0.2 bits is the longest, 1.0 the shortest (a sliver, not nothing).
        lengths = [_bar_cells(board, i) for i in range(3)]
        assert lengths[0] > lengths[1] > lengths[2] >= 0
        assert _cell(board, 0) == "0.200" and _cell(board, 2) == "1.000"
        # The uniform mark (0.9 bits, worse than b and c) sits left of their bar ends, so it
        # is hidden by them; a's bar (1.0) ends before 0.9: its mark shows.
        assert "┆" in str(board.query_one(DataTable).get_row_at(2)[2])
        assert "┆" not in str(board.query_one(DataTable).get_row_at(0)[2])
        # The value header names the unit; its arrow says the numbers rise (best first).
        header = (
            board.query_one(DataTable)
            .columns[next(k for k in board.query_one(DataTable).columns if k.value == "value")]
            .label
        )
        assert str(header) == "kl bits ▲"
        assert board.title == "kl"
        assert str(board.query_one(".lb-title", Static).render()) == "kl"


def test_wasserstein_over_nominal_questions_only_says_why(sample: datasetmod.Dataset) -> None:
    ordinal = metrics.scale_orders(sample).ordinal
    nominal = np.flatnonzero(~ordinal)[:5]
    why = no_scores_reason(sample, nominal, "wasserstein")
    assert why.startswith("No ordinal question among the run's answers (5): wasserstein")
    assert no_scores_reason(sample, nominal, "tv") == ""
    assert no_scores_reason(sample, np.flatnonzero(ordinal)[:1], "wasserstein") == ""


# --------------------------------------------------------------------------- Results


async def test_m_scores_the_board_and_the_map_under_tv(
    sample: datasetmod.Dataset, store: Store
) -> None:
    await _run(store, sample, "base", Condition("default"))
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=(160, 40)) as pilot:
        screen, board = await _results(pilot)
        assert screen.metric == "jsd" and board.title.startswith("Metric (M): jsd — ")
        await pilot.press("M", "M")  # jsd → jsd-e → tv
        await wait_for(pilot, lambda: screen.loaded is not None and screen.loaded.metric == "tv")
        await settle(pilot)
        assert board.title == f"Metric (M): tv — {METRIC_INFO['tv']}"
        expected = runs.load_run(store, sample, "base", metric="tv")
        first = expected.scores.countries[0]
        assert _cell(board, 0) == f"{first.similarity:.3f}"
        assert board.displayed_keys == [c.country for c in expected.scores.countries]
        # The uniform column is under tv too (not the jsd floor), on every row.
        tv_uniform = {c.country: c.similarity for c in expected.uniform.countries}
        jsd_uniform = {
            c.country: c.similarity for c in runs.load_run(store, sample, "base").uniform.countries
        }
        shown = {r.key: r.extras[0] for r in board.rows}
        assert shown == pytest.approx({k: tv_uniform[k] for k in shown})
        assert max(abs(tv_uniform[k] - jsd_uniform[k]) for k in shown) > 0.01
        # The intervals are computed under tv: the bootstrap of tv's pairs.
        assert screen.statistics is not None
        with_stats = runs.with_statistics(sample, expected)
        assert with_stats.statistics is not None
        interval = with_stats.statistics.intervals.get(first.country)
        assert interval is not None
        assert board.rows[0].interval == pytest.approx((interval.ci_low, interval.ci_high))
        # The map (beside the board at 160 columns) draws tv's values, named in its legend.
        world = screen.query_one("#results-map", WorldMap)
        assert world.legend_label == "tv" and world.higher_is_better
        drawn = dict(world.values)
        assert first.iso2 is not None and drawn[first.iso2][0] == pytest.approx(first.similarity)
        assert not app.errors


async def test_kl_ranks_lowest_first_and_turns_the_map(
    sample: datasetmod.Dataset, store: Store
) -> None:
    await _run(store, sample, "base", Condition("default"))
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=(160, 40)) as pilot:
        screen, board = await _results(pilot)
        await _switch_to(pilot, screen, "kl")
        expected = runs.load_run(store, sample, "base", metric="kl").scores
        values = [r.value for r in board.rows]
        assert values == sorted(values) and values[0] > 0  # lowest (best) first, in bits
        assert board.displayed_keys == [c.country for c in expected.countries]
        assert values[0] == pytest.approx(expected.countries[0].similarity)
        assert _cell(board, 0) == f"{expected.countries[0].similarity:.3f}"
        assert board.title == f"Metric (M): kl — {METRIC_INFO['kl']}"
        assert "below their uniform score" in board.caption and "bits" in board.caption
        assert _bar_cells(board, 0) > _bar_cells(board, len(values) - 1)
        # The map: the lowest divergence takes the full colour end of a reversed scale.
        world = screen.query_one("#results-map", WorldMap)
        assert world.legend_label == "kl bits" and not world.higher_is_better
        faint, full = world._range()
        assert faint > full
        mapped = [v for code, (v, _) in world.values.items() if world.grid.index(code) is not None]
        assert (faint, full) == pytest.approx((max(mapped), min(mapped)))
        status = str(screen.query_one("#results-status", Static).render())
        assert status.startswith(
            f"base: most like {expected.countries[0].display} "
            f"({expected.countries[0].similarity:.3f} bits, kl)"
        )
        assert not app.errors


async def test_wasserstein_on_a_nominal_only_run_says_so_in_place(
    sample: datasetmod.Dataset, store: Store
) -> None:
    nominal = np.flatnonzero(~metrics.scale_orders(sample).ordinal)[:6]
    k = sample.n_options[nominal]
    put_run(
        store,
        sample,
        "nominal",
        {int(p): [1.0 / n] * int(n) for p, n in zip(nominal, k, strict=True)},
    )
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen, board = await _results(pilot)
        assert board.rows  # under jsd it is scored
        await _switch_to(pilot, screen, "wasserstein")
        assert screen.loaded is not None and screen.loaded.metric == "wasserstein"
        assert board.rows == []
        assert board.caption == (
            "No ordinal question among the run's answers (6): wasserstein needs an ordinal "
            "scale, so no country is scored · M: next metric"
        )
        status = str(screen.query_one("#results-status", Static).render())
        assert status == "nominal has no ordinal question: nothing to score under wasserstein."
        await _switch_to(pilot, screen, "kl")
        assert board.rows and not app.errors


async def test_a_comparison_under_kl_is_positive_where_b_is_closer(
    sample: datasetmod.Dataset, store: Store
) -> None:
    await _run(store, sample, "base", Condition("default"))
    await _run(store, sample, "ru", Condition("country", "Russia"))
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=(160, 40)) as pilot:
        screen, _ = await _results(pilot)
        screen.compare("base", "ru")
        await wait_for(pilot, lambda: screen.comparison is not None)
        await _switch_to(pilot, screen, "kl")
        await wait_for(
            pilot, lambda: screen.comparison is not None and screen.comparison.metric == "kl"
        )
        await settle(pilot)
        expected = runs.compare_runs(store, sample, "base", "ru", metric="kl")
        board = screen.query_one(RunComparisonPane).board
        assert board.title.startswith("Metric (M): kl")
        assert board.value_label == "Δ A−B"
        assert "Δ = A − B in kl bits (lower is closer)" in board.caption
        for row in board.rows:
            a, b = expected.scores_a.get(row.key), expected.scores_b.get(row.key)
            assert a is not None and b is not None
            assert row.value == pytest.approx(a.similarity - b.similarity)  # A's bits − B's
            assert row.extras[:2] == pytest.approx((a.similarity, b.similarity))
            # The paired interval (of B − A in bits) is turned the same way as Δ.
            pc = expected.paired.get(row.key)
            assert pc is not None and row.interval == pytest.approx((-pc.ci_high, -pc.ci_low))
        values = [r.value for r in board.rows]
        assert values == sorted(values, reverse=True)
        # The run-level mean Δ is the countries' mean, turned too (positive: B closer).
        status = str(screen.query_one("#results-status", Static).render())
        assert f"mean Δ (A − B, kl bits) {float(np.mean(values)):+.3f} (95% CI " in status
        assert not app.errors


# --------------------------------------------------------------------------- Run view


async def test_the_run_views_live_board_scores_under_the_metric(
    sample: datasetmod.Dataset, store: Store
) -> None:
    app = StyledHarnessApp(
        sample, store, {"fake": FakeBackend()}, lambda: RunScreen(POSITIONS, Condition("default"))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-name", Input).value = "live"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        await pilot.press("ctrl+l")  # on the board, M is the metric's (not the name's) key
        board = screen.query_one("#run-board", Leaderboard)
        for metric in ("jsd-e", "tv", "wasserstein", "kl"):
            await pilot.press("M")
            await pilot.pause()
            assert screen.metric == metric and board.title.startswith(f"Metric (M): {metric} — ")
            expected = runs.load_run(store, sample, "live", metric=metric).scores
            assert board.displayed_keys == [c.country for c in expected.countries]
            assert board.rows[0].value == pytest.approx(expected.countries[0].similarity)
        top = expected.countries[0]
        assert f"closest: {top.display} ({top.similarity:.3f} bits)" in board.caption
        assert "M" not in screen.query_one("#run-name", Input).value  # typed nothing there
        assert not app.errors


# --------------------------------------------------------------------------- the session


async def test_the_metric_is_the_sessions_across_views(tmp_path: Path) -> None:
    sample = datasetmod.load()
    with Store(tmp_path / "data" / "goqa.sqlite3") as store:
        await _run(store, sample, "base", Condition("default"))
    app = make_app(tmp_path, fake=FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert session_metric(app) == "jsd" and app.metric == "jsd"
        await pilot.press("3")
        results, board = await _results(pilot)
        await pilot.press("M")
        await settle(pilot)
        assert app.metric == "jsd-e" and board.title.startswith("Metric (M): jsd-e")
        # The Run view opens under it; M on its board moves the session on.
        await pilot.press("2")
        await settle(pilot)
        run_screen = app.screen
        assert isinstance(run_screen, RunScreen) and run_screen.metric == "jsd-e"
        run_board = run_screen.query_one("#run-board", Leaderboard)
        assert run_board.title.startswith("Metric (M): jsd-e")
        await pilot.press("ctrl+l", "M")
        await settle(pilot)
        assert app.metric == "tv" and run_board.title.startswith("Metric (M): tv")
        # Back in Results the board is under tv.
        await pilot.press("3")
        await settle(pilot)
        assert app.screen is results and results.metric == "tv"
        assert results.loaded is not None and results.loaded.metric == "tv"
        expected = runs.load_run(app.store, app.dataset, "base", metric="tv").scores
        assert _cell(board, 0) == f"{expected.countries[0].similarity:.3f}"
        # The footer offers the key.
        offered = app.active_bindings.get("M")
        assert offered is not None and offered.binding.id == "results.metric"
        # A session's choice: nothing was written to the config.
        config = tmp_path / "config" / "config.toml"
        assert not config.exists() or "metric" not in config.read_text("utf-8")


# --------------------------------------------------------------------------- snapshots

SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_results_under_kl(
    snap_compare: Any, tmp_path: Path, size: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.store.now", lambda: "2026-01-02T03:04:05+00:00")
    monkeypatch.setattr(
        "tui.widgets.run_table.created_label", lambda text: text[:16].replace("T", " ")
    )
    store_path = tmp_path / "data" / "goqa.sqlite3"
    store_path.parent.mkdir(parents=True)
    with Store(store_path) as store:
        asyncio.run(
            runner.run(
                name="default-fake",
                dataset=datasetmod.load(),
                positions=list(range(60)),
                backend=FixedBackend(),
                backend_name="fake",
                condition=Condition("default"),
                template="paper",
                store=store,
            )
        )
    app = create_app(
        config_path=tmp_path / "config" / "config.toml",
        store_path=store_path,
        backends={"fake": FixedBackend()},
        start_view="results",
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ResultsScreen)
        await _switch_to(pilot, screen, "kl")
        assert screen.statistics is not None and screen.loaded is not None
        assert screen.loaded.metric == "kl"
        screen.set_focus(None)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
