"""Run names are the user's text: markup-looking, emoji and CJK names show exactly as typed.

Every place a run name appears (the run list, the leaderboard's caption, the status line,
notifications, the compare view, the run view and its resume list) is checked on what is
drawn on screen, so a name read as Rich or Textual markup (restyled, shortened, or a
``MarkupError`` that stops the app) fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.tui import SIZE, FakeBackend, HarnessApp, wait_for
from textual.app import App
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static

from core import dataset as datasetmod
from core import runner
from core.prompts import Condition
from core.store import Store
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.widgets.leaderboard import Leaderboard

HOSTILE = (
    "exp[/]",
    "[bold]x",
    "[link=x]y",
    "\\[",
    "[$accent]z[/]",
    "[red]",
    "开发 🎉 テスト",
)
"""Names that break or restyle a markup parser, and wide characters."""

POSITIONS = list(range(12))


def drawn(widget: Widget) -> str:
    """The text ``widget`` draws on screen now, line by line."""
    width, height = widget.size
    lines = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(strip.text.strip() for strip in lines)


def toasts(app: App[Any]) -> list[str]:
    """The text of every notification on screen, its wrapped lines joined by spaces."""
    from textual.widgets._toast import Toast

    return [" ".join(str(t.render()).split()) for t in app.screen.query(Toast)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


async def _make_runs(sample: datasetmod.Dataset, store: Store, names: tuple[str, ...]) -> None:
    for i, name in enumerate(names):
        await runner.run(
            name=name,
            dataset=sample,
            positions=POSITIONS,
            backend=FakeBackend(),
            backend_name="fake",
            condition=Condition("default") if i % 2 == 0 else Condition("country", "Russia"),
            template="paper",
            store=store,
        )


async def _select_run(pilot: Pilot[Any], screen: ResultsScreen, name: str) -> None:
    table = screen.query_one("#results-runs", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(name))
    await wait_for(pilot, lambda: screen.loaded is not None and screen.loaded.name == name)
    await pilot.pause()


async def test_results_show_hostile_names_as_written(
    sample: datasetmod.Dataset, store: Store
) -> None:
    await _make_runs(sample, store, HOSTILE)
    app = HarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        table = screen.query_one("#results-runs", DataTable)
        assert table.row_count == len(HOSTILE)
        # The list draws every name exactly (the table is tall enough for all of them).
        table_text = drawn(table)
        for name in HOSTILE:
            assert name in table_text, name
        # The leaderboard's caption, the status line and the map's caption, for each run.
        board = screen.query_one("#results-scores", Leaderboard)
        for name in HOSTILE:
            await _select_run(pilot, screen, name)
            caption = drawn(board.query_one(".lb-caption", Static))
            assert caption.startswith(f"{name}: {len(POSITIONS)} questions scored"), caption
            assert drawn(screen.query_one("#results-status", Static)).startswith(
                f"{name}: most like"
            )
        # Marking a run names it on the status line.
        await _select_run(pilot, screen, "[bold]x")
        await pilot.press("m")
        await pilot.pause()
        assert drawn(screen.query_one("#results-status", Static)).startswith("A = [bold]x:")
        assert not app.errors


async def test_compare_view_and_deletion_notice_keep_hostile_names(
    sample: datasetmod.Dataset, store: Store
) -> None:
    a, b = "exp[/]", "[link=x]y"
    await _make_runs(sample, store, (a, b))
    app = HarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        await _select_run(pilot, screen, a)
        await pilot.press("m")
        await _select_run(pilot, screen, b)
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.comparison is not None)
        await pilot.pause()
        compare = screen.query_one("#results-compare", Leaderboard)
        caption = drawn(compare.query_one(".lb-caption", Static))
        assert caption.startswith(f"B {b} vs A {a} on {len(POSITIONS)} shared questions")

        # Delete one: the dialog and the notice that follows name it as written.
        await pilot.press("d")
        await pilot.pause()
        message = app.screen.query_one("#delete-message", Static)
        assert drawn(message).startswith(f"Delete run '{b}' and its {len(POSITIONS)} answers?")
        await pilot.click("#delete-confirm")
        await wait_for(pilot, lambda: [r.manifest.name for r in store.runs()] == [a])
        await pilot.pause()
        assert any(f"Deleted run {b}." in t for t in toasts(app)), toasts(app)
        assert not app.errors


async def test_run_view_with_hostile_names(sample: datasetmod.Dataset, store: Store) -> None:
    # An unfinished run with a hostile name is offered for resuming.
    held = FakeBackend(hold_after=3)
    app = HarnessApp(
        sample, store, {"fake": held}, lambda: RunScreen(POSITIONS, Condition("default"))
    )
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-name", Input).value = "[bold]x"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(store.answers("[bold]x")) == 3)
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not screen.running)
        await pilot.pause()
        assert any("Run [bold]x cancelled" in t for t in toasts(app)), toasts(app)
        resume = screen.query_one("#run-resume", Select)
        assert "[bold]x" in [value for _, value in resume._options]
        # Resuming it: the form and the info line show the name as written.
        resume.value = "[bold]x"
        await pilot.pause()
        assert drawn(screen.query_one("#run-info", Static)).startswith("Resuming [bold]x: 3 of 12")
        held.release.set()

        # A finished run with a hostile name: the summary notification names it exactly.
        screen.query_one("#run-name", Input).value = "exp[/] 开发🎉"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        await pilot.pause()
        finished = [t for t in toasts(app) if "finished" in t]
        assert any("Run exp[/] 开发🎉 finished: 12 of 12 answered." in t for t in finished), (
            finished
        )
        board = screen.query_one("#run-board", Leaderboard)
        assert drawn(board.query_one(".lb-caption", Static)).startswith("exp[/] 开发🎉: 12 of 12")
        assert not app.errors
