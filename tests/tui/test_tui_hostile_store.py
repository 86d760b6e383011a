"""Views without a usable results store say so in place; Browse and the demo still work.

The shell opens the dataset even when the store cannot be opened; its ``store`` then raises
(or a harness's is None), and a read-only store can be read but not written. Each view is
checked on what it shows and on what it did not do (no request sent, nothing written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from support.tui import (
    SIZE,
    FakeBackend,
    FixedBackend,
    HarnessApp,
    chart_data,
    make_app,
    ready,
    settle,
    wait_for,
)
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from core import dataset as datasetmod
from core import runner
from core.backends.base import Backend
from core.prompts import Condition
from core.store import Store, StoreError
from tui.app import GoqaApp
from tui.screens.demo import DemoScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.widgets.chart import DistributionChart
from tui.widgets.leaderboard import Leaderboard

PROBLEM = "The results store /x/goqa.sqlite3 is damaged (database disk image is malformed)."


class NoStoreApp(HarnessApp):
    """A harness whose ``store`` raises this reason, as the app's does when no store could be
    opened."""

    def __init__(
        self,
        dataset: datasetmod.Dataset,
        screen: Callable[[], Screen[None]] | None,
        backends: Mapping[str, Backend] | None = None,
    ) -> None:
        super().__init__(dataset, None, backends, screen)

    @property
    def store(self) -> Store:
        raise StoreError(PROBLEM)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def _text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@pytest.mark.parametrize("broken", ["raises", "none"])
async def test_results_without_a_store_say_so_in_place(
    sample: datasetmod.Dataset, broken: str
) -> None:
    if broken == "raises":
        app: HarnessApp = NoStoreApp(sample, ResultsScreen)
        reason = PROBLEM
    else:
        app = HarnessApp(sample, None, None, ResultsScreen)
        reason = "it is not open."
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await pilot.pause()
        assert _text(screen, "#results-status") == f"The results store is unavailable: {reason}"
        board = screen.query_one("#results-scores", Leaderboard)
        assert "none can be shown without it" in str(board.query_one(".lb-caption").render())
        assert screen.query_one("#results-runs", DataTable).row_count == 0
        # Every key still answers without a crash or an error report.
        await pilot.press("r", "c", "i", "d", "m", "w", "w")
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen) and screen.runs == []
        assert _text(screen, "#results-status").startswith("The results store is unavailable:")
        assert not app.errors


async def test_results_on_a_read_only_store_read_but_do_not_delete(
    sample: datasetmod.Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "ro.sqlite3"
    with Store(path) as writable:
        await runner.run(
            name="kept",
            dataset=sample,
            positions=list(range(10)),
            backend=FakeBackend(),
            backend_name="fake",
            condition=Condition("default"),
            template="paper",
            store=writable,
        )
    with Store(path, read_only=True) as read_only:
        app = HarnessApp(sample, read_only, None, ResultsScreen)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            await wait_for(pilot, lambda: screen.loaded is not None)
            assert screen.loaded is not None and screen.loaded.name == "kept"
            await pilot.press("d")
            await pilot.pause()
            await pilot.click("#delete-confirm")
            await pilot.pause()
            assert app.screen is screen
            assert _text(screen, "#results-status").startswith("The results store is read-only:")
            assert [r.manifest.name for r in read_only.runs()] == ["kept"]


async def test_run_view_without_a_writable_store_does_not_start(
    sample: datasetmod.Dataset, tmp_path: Path
) -> None:
    backend = FakeBackend()
    app = NoStoreApp(
        sample, lambda: RunScreen(list(range(5)), Condition("default")), {"fake": backend}
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await pilot.pause()
        assert _text(screen, "#run-stats") == f"The results store is unavailable: {PROBLEM}"
        screen.query_one("#run-name", Input).value = "nowhere"
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert not screen.running and backend.calls == 0
        assert _text(screen, "#run-stats") == f"The results store is unavailable: {PROBLEM}"
        assert not app.errors

    with Store(tmp_path / "ro.sqlite3", read_only=True) as read_only:
        ro_app = HarnessApp(
            sample,
            read_only,
            {"fake": backend},
            lambda: RunScreen(list(range(5)), Condition("default")),
        )
        async with ro_app.run_test(size=SIZE) as pilot:
            ro_screen = ro_app.screen
            assert isinstance(ro_screen, RunScreen)
            await pilot.press("ctrl+r")
            await pilot.pause(0.2)
            assert not ro_screen.running and backend.calls == 0
            assert _text(ro_screen, "#run-stats").startswith("The results store is read-only:")


async def test_browse_without_a_store_still_browses_and_asks(
    tmp_path: Path, sample: datasetmod.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FixedBackend()

    def no_store(self: GoqaApp) -> Store:
        raise StoreError(PROBLEM)

    monkeypatch.setattr(GoqaApp, "store", property(no_store))
    app = make_app(tmp_path, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.backend_name = "fake"
        await pilot.press("down")
        await settle(pilot)
        assert screen.position == 1
        assert chart_data(pilot).options == sample.at(1).options
        await pilot.press("a")
        await settle(pilot)
        data = chart_data(pilot)
        assert data.series[0].kind == "model" and data.series[0].values and not data.error
        # No cache: the same question asked again goes to the backend again.
        await pilot.press("a")
        await settle(pilot)
        assert len(fake.prompts) == 2
        assert "from cache" not in chart_data(pilot).caption
        # Under a language condition, the bundled translations still show and are asked.
        from core.translate import bundled_translations

        table = bundled_translations("ru")
        pos = next(p for p in range(len(sample)) if sample.keys[p] in table)
        app.condition = Condition("language", "ru")
        screen.jump_to(pos)
        await settle(pilot)
        shown = str(screen.query_one("#question-text", Static).render())
        assert shown.startswith(table[sample.keys[pos]][0].strip())
        await pilot.press("a")
        await settle(pilot)
        assert table[sample.keys[pos]][0] in fake.prompts[-1].text
        assert chart_data(pilot).series[0].values
        assert "Traceback" not in screen.query_one(DistributionChart).render().plain


async def test_demo_without_a_store_still_asks(sample: datasetmod.Dataset) -> None:
    backend = FakeBackend()
    app = NoStoreApp(
        sample, lambda: DemoScreen([2, 3], Condition("default"), interval=60.0), {"fake": backend}
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DemoScreen)
        await wait_for(pilot, lambda: screen.answer is not None)
        assert backend.completed == 1
        chart = screen.query_one("#demo-chart", DistributionChart)
        assert chart.data is not None and chart.data.error == ""
        assert not app.errors
