"""The countries screen: whose people answer most like a chosen country's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.tui import SIZE, HarnessApp, wait_for
from textual.widgets import DataTable, OptionList

from core import countries, metrics
from core import dataset as datasetmod
from core.store import Store
from tui.screens.countries import CountriesScreen
from tui.widgets.leaderboard import Leaderboard


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def _key(sample: datasetmod.Dataset, name: str) -> str:
    return countries.match(name, sample.countries).key


async def test_russia_top_three_match_human_similarity(
    sample: datasetmod.Dataset, store: Store
) -> None:
    app = HarnessApp(sample, store, None, lambda: CountriesScreen("Russia"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, CountriesScreen)
        russia = _key(sample, "Russia")
        board = screen.query_one("#countries-board", Leaderboard)
        await wait_for(pilot, lambda: screen.country == russia and bool(board.displayed_keys))
        expected = metrics.human_similarity(sample, russia).countries
        assert board.displayed_keys[:3] == [c.country for c in expected[:3]]
        assert [r.value for r in board.rows[:3]] == pytest.approx(
            [c.similarity for c in expected[:3]]
        )
        assert [r.n for r in board.rows[:3]] == [c.n_questions for c in expected[:3]]
        assert russia not in board.displayed_keys
        assert expected[0].display in str(board.query_one(".lb-caption").render())


async def test_pick_by_search_and_drill_and_scope(sample: datasetmod.Dataset, store: Store) -> None:
    app = HarnessApp(sample, store, None, lambda: CountriesScreen("Russia"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, CountriesScreen)
        await pilot.pause()
        # Search the picker and choose with Enter.
        await pilot.press("p", *"belarus", "enter")
        belarus = _key(sample, "Belarus")
        await wait_for(pilot, lambda: screen.country == belarus)
        picker = screen.query_one("#countries-list", OptionList)
        assert picker.option_count == 1
        board = screen.query_one("#countries-board", Leaderboard)
        expected = metrics.human_similarity(sample, belarus).countries
        assert board.displayed_keys[:3] == [c.country for c in expected[:3]]

        # Enter on a row moves the comparison to that country.
        board.focus_table()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.country == expected[0].country)
        again = metrics.human_similarity(sample, expected[0].country).countries
        assert board.displayed_keys[:3] == [c.country for c in again[:3]]

        # Only the selected questions.
        app.filtered_positions = list(range(0, 189, 2))
        await pilot.press("f")
        await pilot.pause()
        assert screen.selected_only
        scoped = metrics.human_similarity(
            sample, expected[0].country, positions=np.array(app.filtered_positions)
        ).countries
        assert board.displayed_keys[:3] == [c.country for c in scoped[:3]]
        assert [r.n for r in board.rows[:3]] == [c.n_questions for c in scoped[:3]]


async def test_unknown_country_is_reported_and_a_default_shown(
    sample: datasetmod.Dataset, store: Store
) -> None:
    app = HarnessApp(sample, store, None, lambda: CountriesScreen("Atlantis"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, CountriesScreen)
        await pilot.pause()
        assert app.errors and "Unknown country" in str(app.errors[0])
        assert screen.country == _key(sample, "United States")
        board = screen.query_one("#countries-board", Leaderboard)
        assert board.query_one(DataTable).row_count > 0
