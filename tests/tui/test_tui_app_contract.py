"""The contract between the app and its screens (:mod:`tui.contract`).

Both the app and the tests' harness implement :class:`GoqaContract` (checked by mypy, which
sees the signatures, and at run time); navigation that screens ask for with its messages is
handled by the app in one place.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO
from support.tui import SIZE, HarnessApp, make_app, ready, settle, wait_for
from textual.screen import Screen

from core import countries
from core.dataset import Dataset
from core.store import Store
from tui.contract import (
    CountryOpenRequested,
    GoqaContract,
    QuestionOpenRequested,
    RunsCompareRequested,
    ViewRequested,
    leave,
)
from tui.screens.countries import CountriesScreen
from tui.screens.results import ResultsScreen
from tui.widgets.question_list import QuestionList


def test_the_app_and_the_harness_implement_the_contract_for_mypy() -> None:
    # tui/app.py and tests/support/tui.py each assign their class to type[GoqaContract]:
    # mypy fails there when a member is missing or has another signature.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--follow-imports=silent",
            "--no-incremental",
            "tui/contract.py",
            "tui/app.py",
            "tests/support/tui.py",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_app_and_the_harness_have_every_member(tmp_path: Path, sample: Dataset) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)  # the dataset and the store are there: every property answers
        assert isinstance(app, GoqaContract)
    with Store(tmp_path / "harness.sqlite3") as store:
        assert isinstance(HarnessApp(sample, store), GoqaContract)


async def test_navigation_messages_are_handled_by_the_app(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        browse = await ready(pilot)
        await pilot.press("s", "s")  # WVS only
        await pilot.pause()
        gas = next(p for p in range(len(app.dataset)) if app.dataset.sources[p] == "GAS")
        russia = countries.match("Russia", app.dataset.countries).key

        # A country from any screen: the countries view opens on it.
        browse.post_message(CountryOpenRequested(russia))
        await settle(pilot)
        assert app.current_mode == "countries"
        countries_screen = app.screen
        assert isinstance(countries_screen, CountriesScreen)
        assert countries_screen.country == russia

        # A question from another view: Browse shows it, clearing the filter that hid it.
        countries_screen.post_message(QuestionOpenRequested(gas))
        await settle(pilot)
        assert app.current_mode == "browse" and browse.position == gas
        assert len(browse.query_one(QuestionList).rows) == len(app.dataset)

        browse.post_message(ViewRequested("settings"))
        await settle(pilot)
        assert app.current_mode == "settings"


async def test_a_comparison_asked_for_opens_the_results_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(ResultsScreen, "request_compare", lambda self, a, b: asked.append((a, b)))
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        browse = await ready(pilot)
        browse.post_message(RunsCompareRequested(reference="default-x", run="country-x"))
        await settle(pilot)
        assert app.current_mode == "results" and isinstance(app.screen, ResultsScreen)
        assert asked == [("default-x", "country-x")]


class _Leaving(Screen[None]):
    def on_mount(self) -> None:
        leave(self)


class _LeavingHarness(HarnessApp):
    """A harness whose only screen leaves at once, as a view that is a mode would."""

    def get_default_screen(self) -> Screen[None]:
        return _Leaving()


async def test_the_harness_records_what_screens_ask_for(sample: Dataset, tmp_path: Path) -> None:
    with Store(tmp_path / "harness.sqlite3") as store:
        app = HarnessApp(sample, store, None, lambda: CountriesScreen("Russia"))
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            screen.post_message(QuestionOpenRequested(7))
            screen.post_message(CountryOpenRequested("Mexico"))
            screen.post_message(RunsCompareRequested("a", "b"))
            await wait_for(pilot, lambda: bool(app.comparisons))
            assert app.opened == [7] and app.countries_opened == ["Mexico"]
            assert app.comparisons == [("a", "b")]
            # A screen pushed over another one leaves by closing itself…
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, CountriesScreen))
            assert app.views == []
    # …and a screen that is the whole view asks the app for Browse.
    only = _LeavingHarness(sample, None)
    async with only.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: only.views == ["browse"])


async def test_the_palette_asks_for_navigation_with_the_same_messages(
    tmp_path: Path, sample: Dataset
) -> None:
    from tui.commands import GoqaCommands

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        browse = await ready(pilot)
        await pilot.press("s", "s")  # WVS only: a GAS question is hidden
        await pilot.pause()
        gas = next(p for p in range(len(sample)) if sample.sources[p] == "GAS")
        provider = GoqaCommands(app.screen)
        hits = [hit async for hit in provider.search(f"q{sample.ids[gas]}")]
        question = next(h for h in hits if h.help == "Show this question in Browse")
        question.command()
        await settle(pilot)
        assert browse.position == gas

        russia = countries.match("Russia", sample.countries).key
        found = [h async for h in provider.search("Country profile: Russia")]
        profile = next(h for h in found if h.help == f"Open {russia} in the countries view")
        profile.command()
        await settle(pilot)
        assert app.current_mode == "countries"
        assert isinstance(app.screen, CountriesScreen)
        assert app.screen.country == russia
