"""The panes of the results view on their own, and the screen routing their messages.

Each pane is mounted alone in a small app that records the messages it posts; the screen
tests post a pane's message and check what the screen does with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.tui import SIZE, FakeBackend, HarnessApp, settle, wait_for
from textual import on
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

from core import countries, runner, runs
from core import dataset as datasetmod
from core.prompts import Condition
from core.store import RunSummary, Store
from tui.screens.results import ResultsScreen
from tui.widgets.leaderboard import Leaderboard
from tui.widgets.question_drill import QuestionDrill
from tui.widgets.results_compare import RunComparisonPane, comparison_rows
from tui.widgets.results_scores import RunScores, score_rows
from tui.widgets.run_table import RunTable

POSITIONS = list(range(40))
M = TypeVar("M", bound=Message)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


@pytest.fixture
async def two_runs(sample: datasetmod.Dataset, store: Store) -> Store:
    """``base`` (default) then ``ru`` (country:Russia), over the same 40 questions."""
    for name, condition in (("base", Condition("default")), ("ru", Condition("country", "Russia"))):
        await runner.run(
            name=name,
            dataset=sample,
            positions=POSITIONS,
            backend=FakeBackend(),
            backend_name="fake",
            condition=condition,
            template="paper",
            store=store,
        )
    return store


class PaneApp(App[None]):
    """One pane, and every message it posts up (its own message classes only)."""

    def __init__(self, pane: Widget, kinds: tuple[type[Message], ...]) -> None:
        super().__init__()
        self.pane = pane
        self.kinds = kinds
        self.posted: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.pane

    @on(Message)
    def _record(self, message: Message) -> None:
        if isinstance(message, self.kinds):
            self.posted.append(message)

    def of(self, kind: type[M]) -> list[M]:
        return [m for m in self.posted if isinstance(m, kind)]


# --------------------------------------------------------------------------- the run list


async def test_run_table_lists_marks_and_keeps_its_cursor(two_runs: Store) -> None:
    table = RunTable(created_format=lambda text: "when")
    app = PaneApp(table, (RunTable.RunsListed, RunTable.RunHighlighted, RunTable.RunChosen))
    async with app.run_test(size=SIZE) as pilot:
        table.read(two_runs)
        await settle(pilot)
        (listed,) = app.of(RunTable.RunsListed)
        assert [r.manifest.name for r in listed.runs] == ["base", "ru"]
        assert listed.highlighted == "ru" and listed.changed and listed.error is None
        assert [table.get_row_at(i)[1].plain for i in range(2)] == ["ru", "base"]
        assert table.get_row_at(0)[4].plain == "40/40 ✓" and table.get_row_at(0)[6] == "when"
        assert table.get_row_at(0)[5].plain == "first-token"  # the run's estimator
        # Drawing the list is not the user moving the cursor.
        assert app.of(RunTable.RunHighlighted) == []

        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert [m.name for m in app.of(RunTable.RunHighlighted)] == ["base"]
        assert table.toggle_mark() == "base" and table.marked == "base"
        await pilot.pause()
        assert [table.get_row_at(i)[0] for i in range(2)] == ["", "A"]
        await pilot.press("enter")
        await pilot.pause()
        assert [m.name for m in app.of(RunTable.RunChosen)] == ["base"]

        # Read again, nothing changed: the cursor stays on base and the list says so.
        table.read(two_runs)
        await settle(pilot)
        again = app.of(RunTable.RunsListed)[-1]
        assert again.highlighted == "base" and not again.changed
        assert table.highlighted_name == "base" and table.get_row_at(1)[0] == "A"
        assert table.toggle_mark() is None
        await pilot.pause()
        assert table.get_row_at(1)[0] == ""


class BrokenStore:
    """A store whose list of runs cannot be read."""

    def runs(self) -> list[RunSummary]:
        raise OSError("disk on fire")


async def test_run_table_reads_in_a_thread_and_reports_a_failure(two_runs: Store) -> None:
    table = RunTable()
    app = PaneApp(table, (RunTable.RunsListed,))
    threads: list[threading.Thread] = []
    real = two_runs.runs

    def spy() -> list[RunSummary]:
        threads.append(threading.current_thread())
        return real()

    two_runs.runs = spy  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        table.read(two_runs)
        await settle(pilot)
        assert threads and all(t is not threading.main_thread() for t in threads)
        assert table.row_count == 2

        table.read(BrokenStore())  # type: ignore[arg-type]
        await settle(pilot)
        failed = app.of(RunTable.RunsListed)[-1]
        assert isinstance(failed.error, OSError) and str(failed.error) == "disk on fire"
        assert failed.highlighted is None and table.row_count == 0 and table.runs == []


# --------------------------------------------------------------------------- one run's scores


async def test_run_scores_loads_then_adds_statistics_and_posts_countries(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    pane = RunScores(board_id="board", map_id="map")
    kinds = (RunScores.RunLoaded, RunScores.StatisticsLoaded, RunScores.CountryChosen)
    app = PaneApp(pane, (*kinds, Leaderboard.CountrySelected))
    async with app.run_test(size=SIZE) as pilot:
        pane.load(two_runs, sample, "ru", include_suspect=False)
        await settle(pilot)
        (loaded,) = app.of(RunScores.RunLoaded)
        (with_stats,) = app.of(RunScores.StatisticsLoaded)
        assert loaded.run.name == "ru" and loaded.run.statistics is None
        assert with_stats.run.statistics is not None and pane.loaded is with_stats.run
        expected = runs.load_run(two_runs, sample, "ru").scores
        board = pane.board
        assert [r.key for r in board.rows] == [c.country for c in expected.countries]
        assert board.rows == score_rows(with_stats.run)  # the intervals are on the board
        caption = str(board.query_one(".lb-caption", Static).render())
        assert caption.startswith(f"ru: {len(POSITIONS)} questions scored · policy keep")

        # Enter on a country: the pane's own message, the board's stays inside.
        board.focus_table()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert [m.country for m in app.of(RunScores.CountryChosen)] == [board.displayed_keys[1]]
        assert app.of(Leaderboard.CountrySelected) == []

        # The map's crosshair follows the board; its detail line names the country.
        key = board.highlighted_key
        assert key is not None
        assert pane.run_map.world.hovered() == countries.resolve(key).iso2
        detail = str(pane.query_one("#map-detail", Static).render())
        assert "95% CI" in detail

        pane.clear("nothing here")
        await pilot.pause()
        assert pane.loaded is None and board.rows == [] and pane.run_map.world.values == {}


async def test_run_scores_places_the_map_by_width(sample: datasetmod.Dataset) -> None:
    pane = RunScores(board_id="board", map_id="map")
    app = PaneApp(pane, ())
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        # Wide: beside the board, shown by default; toggling hides it, the board stays.
        assert pane.run_map.display and pane.run_map.has_class("-beside") and pane.board.display
        pane.toggle_map()
        await pilot.pause()
        assert not pane.run_map.display and pane.board.display
    narrow = RunScores(board_id="board", map_id="map")
    app = PaneApp(narrow, ())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert not narrow.run_map.display and narrow.board.display
        narrow.toggle_map()  # narrow: the map takes the board's place, and the focus
        await pilot.pause()
        assert narrow.run_map.display and not narrow.board.display
        assert narrow.run_map.world.has_focus and not narrow.run_map.has_class("-beside")


# --------------------------------------------------------------------------- two runs compared


async def test_comparison_pane_compares_and_posts_countries(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    pane = RunComparisonPane(board_id="cmp")
    app = PaneApp(pane, (RunComparisonPane.ComparisonLoaded, RunComparisonPane.CountryChosen))
    async with app.run_test(size=SIZE) as pilot:
        pane.compare(two_runs, sample, "base", "ru", include_suspect=False)
        await settle(pilot)
        (done,) = app.of(RunComparisonPane.ComparisonLoaded)
        comp = done.comparison
        assert (comp.a.name, comp.b.name) == ("base", "ru") and pane.comparison is comp
        expected = runs.compare_runs(two_runs, sample, "base", "ru")
        russia = countries.match("Russia", sample.countries).key
        assert comp.difference(russia) == pytest.approx(expected.difference(russia))
        board = pane.board
        assert board.rows == sorted(comparison_rows(comp), key=lambda r: (-r.value, r.key))
        assert next(r for r in board.rows if r.key == russia).mark == "focus"
        caption = str(board.query_one(".lb-caption", Static).render())
        assert caption.startswith(f"B ru vs A base on {len(POSITIONS)} shared questions")

        board.focus_table()
        await pilot.press("enter")
        await pilot.pause()
        assert [m.country for m in app.of(RunComparisonPane.CountryChosen)] == [
            board.displayed_keys[0]
        ]
        pane.clear()
        await pilot.pause()
        assert pane.comparison is None and board.rows == []


async def test_comparison_pane_cancelled_shows_nothing(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    pane = RunComparisonPane()
    app = PaneApp(pane, (RunComparisonPane.ComparisonLoaded,))
    async with app.run_test(size=SIZE) as pilot:
        pane.compare(two_runs, sample, "base", "ru", include_suspect=False)
        pane.cancel()
        await settle(pilot)
        assert app.of(RunComparisonPane.ComparisonLoaded) == [] and pane.comparison is None


# --------------------------------------------------------------------------- per question


async def test_question_drill_lists_a_country_and_posts_the_question(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    drill = QuestionDrill(table_id="qs")
    app = PaneApp(drill, (QuestionDrill.QuestionChosen, DataTable.RowSelected))
    run = runs.load_run(two_runs, sample, "ru")
    comp = runs.compare_runs(two_runs, sample, "base", "ru")
    russia = countries.match("Russia", sample.countries).key
    async with app.run_test(size=SIZE) as pilot:
        drill.show_run(sample, run, russia)
        await pilot.pause()
        expected = [p for p, _ in run.question_similarities(sample, russia)]
        assert drill.country == russia and drill.positions == expected
        assert drill.table.get_row_at(0)[0] == str(sample.ids[expected[0]])
        caption = str(drill.query_one("#qs-caption", Static).render())
        assert caption.startswith(f"{countries.resolve(russia).label} in ru: {len(expected)}")

        drill.focus_table()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert [m.position for m in app.of(QuestionDrill.QuestionChosen)] == [expected[1]]
        assert app.of(DataTable.RowSelected) == []  # the table's own message stays inside

        drill.show_comparison(sample, comp, russia)
        await pilot.pause()
        moves = comp.question_differences(sample, russia)
        assert drill.positions == [p for p, _, _ in moves]
        p, sim_a, sim_b = moves[0]
        assert drill.table.get_row_at(0)[3].plain == f"{sim_b - sim_a:+.3f}"


# --------------------------------------------------------------------------- the screen routes


async def test_the_screen_routes_the_panes_messages(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = HarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.statistics is not None)
        assert screen.loaded is not None and screen.loaded.name == "ru"
        russia = countries.match("Russia", sample.countries).key

        # A country chosen on the scores board: the screen shows its questions.
        scores = screen.query_one(RunScores)
        scores.post_message(RunScores.CountryChosen(russia))
        await wait_for(pilot, lambda: screen.view == "questions")
        drill = screen.query_one(QuestionDrill)
        assert drill.country == russia
        assert drill.positions == [
            p for p, _ in screen.loaded.question_similarities(sample, russia)
        ]
        # A question chosen there: the screen asks the app to open it.
        drill.post_message(QuestionDrill.QuestionChosen(drill.positions[2]))
        await pilot.pause()
        assert app.opened == [drill.positions[2]]

        # A run chosen in the list: the screen loads it into the scores pane.
        table = screen.query_one(RunTable)
        table.post_message(RunTable.RunChosen("base"))
        await wait_for(pilot, lambda: screen.loaded is not None and screen.loaded.name == "base")
        await settle(pilot)
        assert screen.view == "scores"
        status = str(screen.query_one("#results-status", Static).render())
        assert status.startswith("base: most like")

        # A comparison posted by its pane: the status line gives the run-level result.
        comp = runs.compare_runs(two_runs, sample, "base", "ru")
        screen.view = "compare"
        screen.query_one(RunComparisonPane).show(comp)
        await pilot.pause()
        status = str(screen.query_one("#results-status", Static).render())
        assert status.startswith("B is significantly closer to")
        assert status.endswith("Enter: per question · v: the run's own scores")
        assert screen.comparison is comp

        # A deletion reported by the list: the comparison of it goes, the list is read again.
        two_runs.delete_run("ru")
        table.post_message(RunTable.RunDeleted("ru"))
        await wait_for(pilot, lambda: table.row_count == 1)
        await settle(pilot)
        assert screen.comparison is None and screen.view == "scores"
        assert [r.manifest.name for r in screen.runs] == ["base"]
        assert not app.errors


async def test_a_failed_load_is_reported_on_the_status_line(
    sample: datasetmod.Dataset, two_runs: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("unreadable answers")

    monkeypatch.setattr("core.runs.load_run", broken)
    app = HarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: bool(app.errors))
        await pilot.pause()
        status = str(screen.query_one("#results-status", Static).render())
        assert status == "Could not compute the run: unreadable answers"
        assert isinstance(app.errors[0], OSError) and screen.loaded is None
