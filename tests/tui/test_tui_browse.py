"""The browse screen: loading, type-to-search, filters, selection and the chart's countries."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tui import SIZE, chart_data, make_app, ready, settle
from textual.widgets import Button, OptionList

from core import compared as comparison
from core import countries
from core.dataset import Dataset
from core.prompts import Condition
from core.store import BusyCallback
from tui.screens.run import RunScreen
from tui.widgets.ask_chart import AskChart
from tui.widgets.chart import DistributionChart
from tui.widgets.country_picker import CountryPicker
from tui.widgets.question_list import QuestionList


def _matches(data: Dataset, pos: int, needle: str) -> bool:
    needle = needle.lower()
    return needle in data.texts[pos].lower() or any(needle in o.lower() for o in data.options[pos])


async def test_list_shows_every_question_with_counts(tmp_path: Path, sample: Dataset) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        questions = screen.query_one(QuestionList)
        assert app.dataset_problem == ""
        assert questions.rows == list(range(len(sample)))
        assert app.filtered_positions == list(range(189))
        assert questions.border_title == "Questions · 189 of 189 shown"
        # The highlighted question is the first one, and the chart shows it.
        assert screen.position == 0
        assert chart_data(pilot).options == sample.at(0).options


async def test_type_to_search_narrows_the_list(tmp_path: Path, sample: Dataset) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("slash", *"pollution")
        await pilot.pause()
        expected = [p for p in range(len(sample)) if _matches(sample, p, "pollution")]
        assert 0 < len(expected) < len(sample)
        questions = screen.query_one(QuestionList)
        assert questions.rows == expected
        assert app.filtered_positions == expected
        assert questions.border_title == f"Questions · {len(expected)} of 189 shown"
        # Options are searched too: "DK/Refused" is only ever an option, never question text.
        await pilot.press("ctrl+u", *"refused")
        await pilot.pause()
        refused = [p for p in range(len(sample)) if _matches(sample, p, "refused")]
        assert refused and questions.rows == refused
        # Enter (or the down arrow) goes back to the list; the search stays.
        await pilot.press("enter")
        assert app.focused is questions and questions.rows == refused
        await pilot.press("slash", "down")
        assert app.focused is questions and questions.rows == refused


async def test_source_filter_cycles_all_gas_wvs(tmp_path: Path, sample: Dataset) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        questions = screen.query_one(QuestionList)
        await pilot.press("s")
        await pilot.pause()
        assert len(questions.rows) == 158
        assert all(sample.sources[p] == "GAS" for p in questions.rows)
        await pilot.press("s")
        await pilot.pause()
        assert len(questions.rows) == 31
        assert all(sample.sources[p] == "WVS" for p in questions.rows)
        await pilot.press("s")
        await pilot.pause()
        assert len(questions.rows) == 189


async def test_country_filter_by_picker(tmp_path: Path, sample: Dataset) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, CountryPicker)
        await pilot.press(*"mexico", "enter")
        await pilot.pause()
        expected = [p for p in range(len(sample)) if "Mexico" in sample.at(p).countries]
        questions = screen.query_one(QuestionList)
        assert 0 < len(expected) < len(sample)
        assert questions.rows == expected
        assert str(screen.query_one("#country-filter", Button).label) == "Country: Mexico"
        # Filters combine: Mexico and WVS.
        await pilot.press("s", "s")
        await pilot.pause()
        both = [p for p in expected if sample.sources[p] == "WVS"]
        assert questions.rows == both
        # x clears everything.
        await pilot.press("x")
        await pilot.pause()
        assert len(questions.rows) == 189


async def test_country_picker_matches_iso_codes_first(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f", *"ru")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, CountryPicker)
        options = picker.query_one("#picker-options", OptionList)
        first = options.get_option_at_index(0)
        assert first.id is not None
        assert picker.items[int(first.id)][1] == "Russia"
        await pilot.press("escape")
        assert not isinstance(app.screen, CountryPicker)


async def test_selecting_a_question_shows_text_options_and_human_bars(
    tmp_path: Path, sample: Dataset
) -> None:
    pos = next(
        p
        for p in range(len(sample))
        if len(sample.at(p).countries) >= 10 and sample.at(p).nonsubstantive.any()
    )
    q = sample.at(pos)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        for _ in range(pos):
            await pilot.press("down")
        await pilot.pause()
        assert screen.position == pos
        assert str(screen.query_one("#detail").border_title).startswith(f"Question {q.id} ·")
        data = chart_data(pilot)
        assert data.options == q.options
        assert data.nonsubstantive == tuple(bool(x) for x in q.nonsubstantive)
        # Before any answer: no model row, three countries, the most populous first.
        assert all(s.kind == "country" for s in data.series)
        expected = comparison.choose(q, None)
        assert [s.label for s in data.series] == [c.label for c in expected]
        assert len(data.series) == 3
        for series, c in zip(data.series, expected, strict=True):
            people = q.distribution(c.key)
            assert people is not None
            assert series.values == pytest.approx(tuple(people))
            assert series.similarity is None
        # The rendered chart names every option, marks non-substantive ones, shows percents.
        text = screen.query_one(DistributionChart).render().plain
        for i, option in enumerate(q.options):
            assert f"{chr(65 + i)} {option}" in text
        nonsub = q.options[int(q.nonsubstantive.argmax())]
        assert f"{nonsub}  · non-substantive" in text
        first = data.series[0]
        assert f"{first.values[0] * 100:6.1f}%" in text


async def test_conditioned_country_is_always_compared(tmp_path: Path, sample: Dataset) -> None:
    pos = next(
        p
        for p in range(len(sample))
        if "Mexico" in sample.at(p).countries and len(sample.at(p).countries) > 10
    )
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.jump_to(pos)
        app.condition = Condition("country", "Mexico")
        await pilot.pause()
        data = chart_data(pilot)
        assert data.series[0].label == "Mexico"
        assert data.series[0].tag == "conditioned"
        assert len(data.series) == 4


async def test_add_and_remove_countries(tmp_path: Path, sample: Dataset) -> None:
    pos = next(p for p in range(len(sample)) if len(sample.at(p).countries) > 20)
    q = sample.at(pos)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.jump_to(pos)
        await pilot.pause()
        before = [s.label for s in chart_data(pilot).series]
        extra = next(k for k in q.countries if countries.resolve(k).label not in before)
        await pilot.press("plus")
        await pilot.pause()
        assert isinstance(app.screen, CountryPicker)
        await pilot.press(*extra.lower(), "enter")
        await pilot.pause()
        after = [s.label for s in chart_data(pilot).series]
        assert after == before + [countries.resolve(extra).label]
        assert chart_data(pilot).series[-1].tag == "added"
        # Remove the first automatic country: it disappears and another takes its place.
        await pilot.press("minus")
        await pilot.pause()
        await pilot.press("enter")  # the first entry
        await pilot.pause()
        now = [s.label for s in chart_data(pilot).series]
        assert before[0] not in now
        assert len(now) == len(after)
        # The choice holds on the next question too, and r resets it.
        await pilot.press("r")
        await pilot.pause()
        assert [s.label for s in chart_data(pilot).series] == before


async def test_jump_to_question_clears_a_filter_that_hides_it(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("s", "s")  # WVS only
        await pilot.pause()
        gas = next(p for p in range(189) if app.dataset.sources[p] == "GAS")
        app.jump_to_question(gas)
        await pilot.pause()
        assert screen.position == gas
        assert len(screen.query_one(QuestionList).rows) == 189


async def test_palette_finds_questions_by_id_and_words(tmp_path: Path, sample: Dataset) -> None:
    from tui.commands import GoqaCommands

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        provider = GoqaCommands(app.screen)
        hits = provider._question_hits("12")
        assert hits[0][2] == sample.id_index[12] and hits[0][0] == 1.0
        words = provider._question_hits("air pollution")
        assert words and all("air pollution" in sample.texts[p].lower() for _, _, p in words)


async def test_full_size_dataset_lists_and_searches(tmp_path: Path) -> None:
    """2,556 questions: the list is composed before the data, loading happens in a worker,
    and search narrows the full list. (Speed is held to its figure by benchmarks/.)"""
    from benchmarks.synthetic import write

    path = write(tmp_path / "full.csv")
    app = make_app(tmp_path, dataset=str(path))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen_stack[0]
        assert screen.query_one(QuestionList) is not None
        await settle(pilot)
        assert app.dataset_ready and len(app.dataset) == 2556
        questions = screen.query_one(QuestionList)
        assert len(questions.rows) == 2556
        await pilot.press("slash")
        await pilot.press(*"problem")
        await pilot.pause()
        expected = app.dataset.filter(search="problem")
        assert questions.rows == expected and 0 < len(expected) < 2556


async def test_number_keys_switch_views_and_views_come_back(tmp_path: Path) -> None:
    from tui.screens.settings import SettingsScreen

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("6")
        await pilot.pause()
        assert app.current_mode == "settings" and isinstance(app.screen, SettingsScreen)
        await pilot.press("1")
        await pilot.pause()
        assert app.current_mode == "browse"
        # Another module's view opens on top of its host; leaving it returns to Browse.
        await pilot.press("f2")
        await settle(pilot)
        assert app.current_mode == "run"
        assert type(app.screen).__name__ == "RunScreen"
        app.screen.dismiss()
        await settle(pilot)
        assert app.current_mode == "browse"
        # The run view is built from the current filter the next time.
        await pilot.press("s", "s")  # WVS
        await pilot.pause()
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.positions == app.filtered_positions
        assert len(app.filtered_positions) == 31


async def test_a_view_that_cannot_be_built_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.screen import Screen

    from tui import app as app_module

    def cannot_build(args: app_module.ViewArguments) -> Screen[None]:
        raise OSError(13, "Permission denied", "/x/results")

    broken = app_module.View("results", "Results", "3", cannot_build, needs_store="read")
    monkeypatch.setitem(app_module.VIEW_BY_NAME, "results", broken)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        notes: list[tuple[str, str]] = []
        app.notify = lambda message, *, title="", **_: notes.append((title, message))  # type: ignore[method-assign]
        await pilot.press("3")
        await pilot.pause()
        assert app.current_mode == "browse" and app.is_running
        assert notes == [
            ("File problem", "Permission denied (/x/results). Check the path and permissions.")
        ]


async def test_a_dataset_that_cannot_load_opens_an_error(tmp_path: Path) -> None:
    from tui.app import ErrorScreen

    app = make_app(tmp_path, dataset=str(tmp_path / "missing.csv"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert app.screen.error_title == "Dataset problem"
        assert "does not exist" in app.screen.message
        await pilot.press("escape")
        questions = app.screen.query_one(QuestionList)
        assert questions.loading_message.startswith("No dataset: Dataset file")
        await pilot.press("2")  # other views wait for a dataset
        await pilot.pause()
        assert app.current_mode == "browse" and not app.dataset_ready


async def test_mouse_highlights_selects_and_filters(tmp_path: Path, sample: Dataset) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        # Row 3 of the list is at y = 4 (below the top border).
        await pilot.click("#questions", offset=(12, 4))
        await pilot.pause()
        assert screen.position == 3 and app.focused is screen.query_one(QuestionList)
        assert chart_data(pilot).options == sample.at(3).options
        await pilot.double_click("#questions", offset=(12, 2))
        await pilot.pause()
        assert screen.position == 1 and app.focused is screen.query_one("#detail")
        # The country filter button opens the picker.
        await pilot.click("#country-filter")
        await pilot.pause()
        assert isinstance(app.screen, CountryPicker)
        await pilot.press("escape")


async def test_start_in_the_demo_view_and_leave_it(tmp_path: Path) -> None:
    from core.prompts import Condition as Cond
    from tui.app import create_app

    app = create_app(
        config_path=tmp_path / "config.toml",
        store_path=tmp_path / "store.sqlite3",
        start_view="demo",
        condition=Cond("country", "Mexico"),
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.current_mode == "demo" and type(app.screen).__name__ == "DemoScreen"
        assert app.condition == Cond("country", "Mexico")
        app.screen.query_one(AskChart).cancel()
        app.screen.dismiss()
        await settle(pilot)
        assert app.current_mode == "browse" and app.is_running


async def test_language_condition_shows_the_question_as_asked(tmp_path: Path) -> None:
    from textual.widgets import Static

    from core.translate import bundled_translations

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen_stack[0]
        first = app.dataset.at(0)
        shown = screen.query_one("#question-text", Static)
        assert str(shown.render()).startswith(first.text.strip()[:40])
        app.condition = Condition("language", "ru")
        await settle(pilot)
        russian, _ = bundled_translations("ru")[first.key]
        text = str(shown.render())
        assert text.startswith(russian.strip()[:40])
        assert first.text.strip()[:40] in text  # the English stays below, dimmed


async def test_a_store_that_opens_late_still_shows_cached_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from support.tui import FixedBackend

    from tui import app as app_module

    first = make_app(tmp_path, fake=FixedBackend())
    async with first.run_test(size=SIZE) as pilot:
        await ready(pilot)
        first.backend_name = "fake"
        await pilot.press("a")  # question 0, into the response cache
        await settle(pilot)
        assert chart_data(pilot).series[0].kind == "model"

    # The store now opens only after the dataset (and the first question) are on screen.
    opened = threading.Event()

    class LateStore(app_module.Store):
        def __init__(
            self, path: Path | None = None, *, on_busy: BusyCallback | None = None
        ) -> None:
            opened.wait(10)
            super().__init__(path, on_busy=on_busy)

    monkeypatch.setattr(app_module, "Store", LateStore)
    fresh = FixedBackend()
    app = make_app(tmp_path, fake=fresh)
    async with app.run_test(size=SIZE) as pilot:
        while not app.dataset_ready:
            await pilot.pause(0.02)
        app.backend_name = "fake"
        await pilot.pause(0.1)
        assert not app.store_ready
        assert all(s.kind == "country" for s in chart_data(pilot).series)
        opened.set()
        await settle(pilot)
        assert app.store_ready
        data = chart_data(pilot)
        assert data.series[0].kind == "model" and "from cache" in data.caption
        assert fresh.prompts == []


async def test_the_list_shows_each_question_by_its_headline(
    tmp_path: Path, sample: Dataset
) -> None:
    from core.dataset import headline

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        questions = app.screen.query_one(QuestionList)
        line = questions.render_line(0).text
        assert headline(sample.texts[0]).startswith("Air pollution — Now I am")
        assert headline(sample.texts[0])[:30] in line
