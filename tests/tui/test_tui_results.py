"""The results screen: the run list, one run's leaderboard, two runs compared, drilling down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.tui import SIZE, FakeBackend, StyledHarnessApp, wait_for
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Static

from core import countries, metrics, runner, runs, stats
from core import dataset as datasetmod
from core.prompts import Condition
from core.store import Store
from core.textbars import eighths_bar
from tui.screens.experiments import ExperimentScreen
from tui.screens.results import ResultsScreen
from tui.widgets.leaderboard import (
    Leaderboard,
    LeaderboardRow,
    nice_scale,
    rows_from_scores,
)
from tui.widgets.results_compare import format_p
from tui.widgets.worldmap import WorldMap


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


POSITIONS = list(range(60))


@pytest.fixture
async def two_runs(sample: datasetmod.Dataset, store: Store) -> Store:
    """A ``base`` run (default) and a ``ru`` run (country:Russia) over the same questions."""
    return await _base_and_russia(sample, store, FakeBackend(), "fake")


async def _base_and_russia(
    sample: datasetmod.Dataset, store: Store, backend: object, backend_name: str
) -> Store:
    for name, condition in (("base", Condition("default")), ("ru", Condition("country", "Russia"))):
        await runner.run(
            name=name,
            dataset=sample,
            positions=POSITIONS,
            backend=backend,  # type: ignore[arg-type]
            backend_name=backend_name,
            condition=condition,
            template="paper",
            store=store,
        )
    return store


def _russia(sample: datasetmod.Dataset) -> str:
    return countries.match("Russia", sample.countries).key


async def test_lists_runs_and_shows_the_right_leaderboard(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        table = screen.query_one("#results-runs", DataTable)
        assert table.row_count == 2
        # Newest first, with its condition and counts.
        assert [c.plain for c in table.get_row_at(0)[1:3]] == ["ru", "country:Russia"]
        assert table.get_row_at(0)[4].plain == "60/60 ✓"
        assert [c.plain for c in table.get_row_at(1)[1:3]] == ["base", "default"]

        board = screen.query_one("#results-scores", Leaderboard)
        expected = runs.load_run(two_runs, sample, "ru").scores
        top = expected.countries[0]
        await wait_for(pilot, lambda: board.displayed_keys[:1] == [top.country])
        assert board.rows[0].value == pytest.approx(top.similarity)
        assert board.rows[0].n == top.n_questions
        # The uniform baseline on the same questions rides along.
        uniform = metrics.uniform_baseline(sample, np.array(POSITIONS)).get(top.country)
        assert uniform is not None
        assert board.rows[0].extras[0] == pytest.approx(uniform.similarity)

        # Moving to the other run shows its scores.
        table.focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.loaded is not None and screen.loaded.name == "base")
        base_top = runs.load_run(two_runs, sample, "base").scores.countries[0]
        await wait_for(pilot, lambda: board.displayed_keys[:1] == [base_top.country])
        assert board.rows[0].value == pytest.approx(base_top.similarity)
        assert not app.errors


async def test_compare_two_runs_country_by_country(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        table = screen.query_one("#results-runs", DataTable)
        table.focus()
        # Mark base as A, then compare ru (B) with it.
        await pilot.press("down", "m", "up", "c")
        await wait_for(pilot, lambda: screen.comparison is not None)
        comp = screen.comparison
        assert comp is not None
        assert (comp.a.name, comp.b.name) == ("base", "ru")
        assert screen.marked == "base"

        ru, base = (runs.load_run(two_runs, sample, n).scores for n in ("ru", "base"))
        russia = _russia(sample)
        ru_r, base_r = ru.get(russia), base.get(russia)
        assert ru_r is not None and base_r is not None
        assert comp.difference(russia) == pytest.approx(ru_r.similarity - base_r.similarity)

        board = screen.query_one("#results-compare", Leaderboard)
        await wait_for(pilot, lambda: bool(board.displayed_keys))
        row = next(r for r in board.rows if r.key == russia)
        assert row.value == pytest.approx(ru_r.similarity - base_r.similarity)
        assert row.extras[:2] == (pytest.approx(base_r.similarity), pytest.approx(ru_r.similarity))
        assert row.mark == "focus"  # the conditioned country stands out
        # Sorted by difference, largest move toward first; the marks say which way.
        values = [r.value for r in board.rows]
        assert values == sorted(values, reverse=True)
        by_key = {r.key: r for r in board.rows}
        assert board.displayed_keys[0] == max(by_key, key=lambda k: (by_key[k].value, k))
        assert all(
            r.mark == ("toward" if r.value > 0 else "away") for r in board.rows if r.key != russia
        )

        # Drill into Russia: per-question similarities of both runs.
        board.focus_table()
        board.query_one(DataTable).move_cursor(row=board.displayed_keys.index(russia))
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.view == "questions")
        ci = sample.country_index[russia]
        expected_positions = {int(p) for p in ru.pairs.position[ru.pairs.country == ci].tolist()}
        assert set(screen.question_positions) == expected_positions
        sim = {
            name: dict(
                zip(
                    s.pairs.position[s.pairs.country == ci].tolist(),
                    s.pairs.similarity[s.pairs.country == ci].tolist(),
                    strict=True,
                )
            )
            for name, s in (("ru", ru), ("base", base))
        }
        diffs = [sim["ru"][p] - sim["base"][p] for p in screen.question_positions]
        assert diffs == sorted(diffs, reverse=True)
        questions = screen.query_one("#results-questions", DataTable)
        first = screen.question_positions[0]
        assert questions.get_row_at(0)[3].plain == f"{diffs[0]:+.3f}"
        assert questions.get_row_at(0)[0] == str(sample.ids[first])

        # And from there to the question itself.
        await pilot.press("enter")
        await pilot.pause()
        assert app.opened == [first]

        # Escape climbs back to the comparison.
        await pilot.press("escape")
        await pilot.pause()
        assert screen.view == "compare"
        # h asks the app for the countries view on the country under the cursor.
        await pilot.press("h")
        await pilot.pause()
        assert app.countries_opened == [russia]

        # Visiting another screen and coming back keeps the comparison on show.
        await app.push_screen(Screen())
        await app.pop_screen()
        await pilot.pause(0.2)
        assert screen.view == "compare" and screen.comparison is comp
        assert not app.errors


async def test_experiments_start_from_the_browse_filter(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        app.filtered_positions = [4, 8, 15]
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExperimentScreen))
        dialog = app.screen
        assert isinstance(dialog, ExperimentScreen)
        assert list(dialog.positions) == [4, 8, 15]
        assert not app.errors


async def test_compare_defaults_to_the_latest_default_run(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        screen.query_one("#results-runs", DataTable).focus()
        await pilot.press("c")  # ru is highlighted; nothing is marked
        await wait_for(pilot, lambda: screen.comparison is not None)
        assert screen.comparison is not None
        assert (screen.comparison.a.name, screen.comparison.b.name) == ("base", "ru")


async def test_per_question_similarities_of_one_run(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        board = screen.query_one("#results-scores", Leaderboard)
        await wait_for(pilot, lambda: bool(board.displayed_keys))
        top = board.displayed_keys[0]
        board.focus_table()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.view == "questions")
        assert screen.question_country == top

        answers = runner.run_answers(two_runs, sample, "ru")
        pairs = metrics.pair_similarities(sample, answers.positions, answers.probs)
        ci = sample.country_index[top]
        mine = pairs.country == ci
        expected = sorted(
            zip(pairs.position[mine].tolist(), pairs.similarity[mine].tolist(), strict=True),
            key=lambda x: -x[1],
        )
        assert screen.question_positions == [p for p, _ in expected]
        table = screen.query_one("#results-questions", DataTable)
        assert [table.get_row_at(i)[1] for i in range(len(expected))] == [
            f"{s:.3f}" for _, s in expected
        ]


async def test_results_without_runs_and_at_80x24(sample: datasetmod.Dataset, store: Store) -> None:
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await pilot.pause()
        assert screen.runs == []
        await pilot.press("c")
        await pilot.pause()
        assert screen.comparison is None
        assert not app.errors


# --------------------------------------------------------------------------- the leaderboard widget


def test_eighths_bar_and_scale() -> None:
    assert eighths_bar(0.5, 4) == "██  "
    assert eighths_bar(1 / 32, 4) == "▏   "
    assert eighths_bar(1.0, 3) == "███"
    assert eighths_bar(2.0, 3) == "███" and eighths_bar(-1.0, 3) == "   "
    lo, hi = nice_scale([0.71, 0.83, 0.78])
    assert lo == pytest.approx(0.65) and hi == pytest.approx(0.83)


class BoardApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield Leaderboard(extra_labels=("uniform",))

    def on_leaderboard_country_selected(self, message: Leaderboard.CountrySelected) -> None:
        self.selected.append(message.country)


async def test_leaderboard_search_sort_and_select(sample: datasetmod.Dataset) -> None:
    positions = np.arange(len(sample))
    probs = metrics.uniform_probs(sample, positions) * 0.5
    probs[:, 0] += 0.5  # everyone says "A" a little more than the uniform answerer
    scores = metrics.score(sample, positions, probs)
    baseline = metrics.uniform_baseline(sample, positions)
    app = BoardApp()
    async with app.run_test(size=SIZE) as pilot:
        board = app.query_one(Leaderboard)
        board.set_rows(rows_from_scores(scores, baseline))
        await pilot.pause()
        assert board.displayed_keys == [c.country for c in scores.countries]
        board.focus_table()
        await pilot.press("slash", *"russia")
        await pilot.pause()
        assert board.displayed_keys == [_russia(sample)]
        await pilot.press("escape")  # clears the search, back in the table
        await pilot.pause()
        assert len(board.displayed_keys) == len(scores.countries)
        await pilot.press("s")  # by name
        await pilot.pause()
        labels = [next(r.label for r in board.rows if r.key == k) for k in board.displayed_keys]
        assert labels == sorted(labels, key=str.lower)
        await pilot.press("s", "S")  # by question count, ascending
        await pilot.pause()
        counts = [next(r.n for r in board.rows if r.key == k) for k in board.displayed_keys]
        assert counts == sorted(counts)
        await pilot.press("home", "enter")
        await pilot.pause()
        assert app.selected == [board.displayed_keys[0]]


# --------------------------------------------------------------------------- statistics and the map


class PeopleBackend:
    """Answers uniformly, except under ``country:NAME``, where it answers as NAME's people
    do on the questions they were asked: a model that moves toward its target for sure."""

    kind = "fake"
    mode = "logits"
    base_url = ""
    name = "people"
    model = "people-1"

    def __init__(self, dataset: datasetmod.Dataset, positions: list[int]) -> None:
        self.dataset = dataset
        self.by_text = {dataset.texts[p]: p for p in positions}

    def request_params(self) -> dict[str, object]:
        return {}

    async def ask(self, prompt: Any, on_partial: Any = None) -> Any:
        from core.backends.base import Answer

        k = len(prompt.letters)
        probs = np.full(k, 1.0 / k)
        position = next(p for text, p in self.by_text.items() if text in prompt.text)
        question = self.dataset.at(position)
        if "How would someone from Russia" in prompt.text:
            russia = _russia(self.dataset)
            if russia in question.countries:
                probs = np.asarray(question.distribution(russia), dtype=float)[:k]
                probs = probs / probs.sum()
        return Answer(probs=probs, off_option_mass=0.0, estimator="logits")

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def moved_runs(sample: datasetmod.Dataset, store: Store) -> Store:
    """``base`` (uniform answers) and ``ru`` (Russia's people's answers under country:Russia)."""
    return await _base_and_russia(sample, store, PeopleBackend(sample, POSITIONS), "people")


async def test_leaderboard_shows_bootstrap_intervals_and_baselines(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.statistics is not None)
        await pilot.pause()
        board = screen.query_one("#results-scores", Leaderboard)

        scores = runs.load_run(two_runs, sample, "ru").scores
        expected = stats.bootstrap(sample, scores.pairs, n_resamples=1000, seed=0)
        top = scores.countries[0]
        interval = expected.get(top.country)
        assert interval is not None and interval.ci_low < top.similarity < interval.ci_high
        row = board.rows[0]
        assert row.key == top.country
        assert row.interval == (interval.ci_low, interval.ci_high)
        # The table shows those bounds, and the status line how they were made.
        cells = board.query_one(DataTable).get_row(top.country)
        assert cells[5].plain == f"{interval.ci_low:.3f}–{interval.ci_high:.3f}"
        status = str(screen.query_one("#results-status", Static).render())
        assert "1000 resamples, seed 0" in status

        # Beside it: the uniform score and the best other country's people (≥ 5 shared).
        base = stats.baselines(sample, np.array(POSITIONS), "keep", min_shared=5).get(top.country)
        assert base is not None
        assert row.extras == (
            pytest.approx(base.uniform),
            pytest.approx(base.best_other_similarity),
        )
        assert not app.errors


async def test_world_map_shows_the_run_and_follows_the_board(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    app = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.statistics is not None)
        world = screen.query_one("#results-map", WorldMap)
        pane = screen.query_one("#results-map-pane")
        board = screen.query_one("#results-scores", Leaderboard)
        # 120 cells wide: the map waits behind w, then takes the board's place.
        assert not pane.display and board.display
        await pilot.press("w")
        await pilot.pause()
        assert pane.display and not board.display and world.has_focus

        russia = sample.countries.index(_russia(sample))
        ru_score = runs.load_run(two_runs, sample, "ru").scores.get(sample.countries[russia])
        assert ru_score is not None
        assert world.values["RU"] == (pytest.approx(ru_score.similarity), ru_score.n_questions)
        assert len(world.values) == len(
            {c.iso2 for c in runs.load_run(two_runs, sample, "ru").scores.countries if c.iso2}
        )
        # The crosshair sits on the board's country; its interval shows under the map.
        top = board.highlighted_key
        assert top is not None
        assert world.hovered() == countries.resolve(top).iso2
        detail = str(screen.query_one("#results-map-detail", Static).render())
        assert screen.statistics is not None
        interval = screen.statistics.intervals.get(top)
        assert interval is not None
        assert f"95% CI {interval.ci_low:.3f}–{interval.ci_high:.3f}" in detail

        await pilot.press("w")
        await pilot.pause()
        assert not pane.display and board.display

    wide = StyledHarnessApp(sample, two_runs, None, ResultsScreen)
    async with wide.run_test(size=(160, 48)) as pilot:
        wide_screen = wide.screen
        assert isinstance(wide_screen, ResultsScreen)
        await wait_for(pilot, lambda: wide_screen.statistics is not None)
        # 160 cells: side by side from the start; w hides the map.
        assert wide_screen.query_one("#results-map-pane").display
        assert wide_screen.query_one("#results-scores", Leaderboard).display
        await pilot.press("w")
        await pilot.pause()
        assert not wide_screen.query_one("#results-map-pane").display
        assert wide_screen.query_one("#results-scores", Leaderboard).display


async def test_compare_shows_paired_statistics(
    sample: datasetmod.Dataset, moved_runs: Store
) -> None:
    app = StyledHarnessApp(sample, moved_runs, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        screen.query_one("#results-runs", DataTable).focus()
        await pilot.press("c")  # ru against the latest default run, base
        await wait_for(pilot, lambda: screen.comparison is not None)
        board = screen.query_one("#results-compare", Leaderboard)
        await wait_for(pilot, lambda: bool(board.displayed_keys))

        expected = stats.compare(
            sample,
            runner.run_answers(moved_runs, sample, "base"),
            runner.run_answers(moved_runs, sample, "ru"),
            policy="keep",
        )
        rows = {r.key: r for r in board.rows}
        assert set(rows) == {c.country for c in expected.countries}
        table = board.query_one(DataTable)
        for c in expected.countries:
            row = rows[c.country]
            assert row.extras[3] == pytest.approx(c.q_value, nan_ok=True)
            assert row.extras[2] == pytest.approx(c.p_value, nan_ok=True)
            assert row.interval == (pytest.approx(c.ci_low), pytest.approx(c.ci_high))
            assert row.significant == (c.q_value < 0.05)
            assert table.get_row(c.country)[-1].plain == format_p(c.q_value)
        # Answering as Russians do moves the run toward Russia, significantly.
        russia = rows[_russia(sample)]
        assert russia.significant and russia.value > 0
        assert table.get_row(russia.key)[3].plain.endswith("*")
        assert expected.n_better >= 1
        status = str(screen.query_one("#results-status", Static).render())
        assert (
            f"closer to {expected.n_better} countries and further from {expected.n_worse}" in status
        )
        assert not app.errors


def test_format_p() -> None:
    assert format_p(0.0421) == "0.042"
    assert format_p(0.0004) == "<0.001"
    assert format_p(float("nan")) == "—"


class IntervalBoardApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Leaderboard(interval_label="95% CI")


async def test_leaderboard_draws_intervals_and_significance() -> None:
    app = IntervalBoardApp()
    async with app.run_test(size=SIZE) as pilot:
        board = app.query_one(Leaderboard)
        board.set_rows(
            [
                LeaderboardRow("a", "Alpha", 0.8, 10, interval=(0.7, 0.9), significant=True),
                LeaderboardRow("b", "Beta", 0.6, 10, interval=(0.5, 0.65)),
            ]
        )
        await pilot.pause()
        cells = board.query_one(DataTable).get_row("a")
        assert cells[3].plain == "0.800*"
        assert cells[5].plain == "0.700–0.900"
        # The whisker ends at the upper bound, beyond the bar.
        bar = cells[2].plain
        assert bar.rstrip().endswith("┤") and bar.index("┤") > bar.rindex("█")


# --------------------------------------------------------------------------- suspect, failed, deleting


@pytest.fixture
async def mixed_run(sample: datasetmod.Dataset, store: Store) -> Store:
    """``mixed``: 30 questions; calls 5, 10… fail (6), calls 3, 6, 9… are suspect (8 of them
    among the 24 answered)."""
    await runner.run(
        name="mixed",
        dataset=sample,
        positions=list(range(30)),
        backend=FakeBackend(fail_every=5, suspect_every=3),
        backend_name="fake",
        condition=Condition("default"),
        template="paper",
        store=store,
        concurrency=1,
    )
    return store


def _shown(board: Leaderboard) -> list[tuple[str, int, float]]:
    return sorted((r.key, r.n, round(r.value, 9)) for r in board.rows)


def _expected(scores: metrics.Scores) -> list[tuple[str, int, float]]:
    return sorted((c.country, c.n_questions, round(c.similarity, 9)) for c in scores.countries)


async def test_suspect_answers_are_left_out_until_included(
    sample: datasetmod.Dataset, mixed_run: Store
) -> None:
    store = mixed_run
    assert len(store.answers("mixed", "failed")) == 6
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        table = screen.query_one("#results-runs", DataTable)
        # The run list gives the failed and suspect counts.
        assert table.get_row_at(0)[4].plain == "24/30 · 6 failed · 8 suspect"
        board = screen.query_one("#results-scores", Leaderboard)
        caption = board.query_one(".lb-caption", Static)
        left_out = runs.load_run(store, sample, "mixed").scores
        await wait_for(pilot, lambda: bool(board.rows))
        assert _shown(board) == _expected(left_out)
        assert str(caption.render()).startswith(
            "mixed: 16 questions scored · 8 suspect answers left out (i includes them) · "
            "6 failed (asked again when the run resumes)"
        )
        # i includes them: the scores of every answer, and the caption says so.
        await pilot.press("i")
        await wait_for(pilot, lambda: screen.loaded is not None and screen.loaded.include_suspect)
        await pilot.pause()
        included = runs.load_run(store, sample, "mixed", include_suspect=True).scores
        assert _expected(included) != _expected(left_out)
        assert _shown(board) == _expected(included)
        assert str(caption.render()).startswith(
            "mixed: 24 questions scored · 8 suspect answers included (i leaves them out)"
        )
        # And again: left out.
        await pilot.press("i")
        await wait_for(
            pilot, lambda: screen.loaded is not None and not screen.loaded.include_suspect
        )
        await pilot.pause()
        assert _shown(board) == _expected(left_out)
        assert not app.errors


async def test_delete_asks_first_and_cancel_keeps_the_run(
    sample: datasetmod.Dataset, two_runs: Store
) -> None:
    from tui.screens.results import ConfirmDeleteScreen

    store = two_runs
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: screen.loaded is not None)
        table = screen.query_one("#results-runs", DataTable)
        table.focus()
        await pilot.press("m")  # ru, the newest, is highlighted and marked A
        assert screen.marked == "ru"
        await pilot.press("d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDeleteScreen)
        message = str(dialog.query_one("#delete-message", Static).render())
        assert message == "Delete run 'ru' and its 60 answers? This cannot be undone."
        # Cancel keeps it (the button, then Escape).
        await pilot.click("#delete-cancel")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeleteScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert [r.manifest.name for r in store.runs()] == ["base", "ru"]
        assert table.row_count == 2 and len(store.answers("ru")) == 60

        # Delete removes the run and its answers, and the list moves on to the next run.
        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#delete-confirm")
        await wait_for(pilot, lambda: screen.loaded is not None and screen.loaded.name == "base")
        assert [r.manifest.name for r in store.runs()] == ["base"]
        assert store.answers("ru") == []
        assert table.row_count == 1
        assert [c.plain for c in table.get_row_at(0)[1:2]] == ["base"]
        assert screen.marked is None
        assert not app.errors


# --------------------------------------------------------------------------- another dataset


async def test_a_run_made_on_another_dataset_is_scored_on_its_matching_answers(
    write_csv: Any, tmp_path: Path
) -> None:
    """The same rule as ``goqa report``: matched by question key, the rest left out, and said."""
    from support.runs import MODEL, ROWS, hand_scores, put_run

    tiny = datasetmod.load(str(write_csv(ROWS, "tiny.csv")))
    other = datasetmod.load(
        str(write_csv([ROWS[0], ROWS[3], ("Is it new?", {"Russia": [0.2, 0.8]},
                                          ["Red", "Blue"], "WVS")], "other.csv"))
    )  # fmt: skip
    with Store(tmp_path / "elsewhere.sqlite3") as store:
        put_run(store, tiny, "r", MODEL)
        app = StyledHarnessApp(other, store, None, ResultsScreen)
        notes: list[tuple[str, str]] = []

        def notify(message: str, *, title: str = "", **_: Any) -> None:
            notes.append((title, message))

        app.notify = notify  # type: ignore[method-assign]
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            await wait_for(pilot, lambda: screen.loaded is not None)
            board = screen.query_one("#results-scores", Leaderboard)
            await wait_for(pilot, lambda: bool(board.rows))
            shown = {r.key: r.value for r in board.rows}
            assert shown == pytest.approx(hand_scores(MODEL, [0, 3]), abs=1e-12)
            assert screen.loaded is not None and screen.loaded.match.unmatched == 2
            await wait_for(pilot, lambda: any(t == "Another dataset" for t, _ in notes))
            message = next(m for t, m in notes if t == "Another dataset")
            assert "2 of 4 answers match" in message and "2 are left out" in message
            assert not app.errors


def test_the_delete_question_counts_answers_and_failures_apart() -> None:
    from tui.screens.results import ConfirmDeleteScreen

    assert ConfirmDeleteScreen("x", 1).question == (
        "Delete run 'x' and its 1 answer? This cannot be undone."
    )
    assert ConfirmDeleteScreen("x", 3, 2).question == (
        "Delete run 'x' and its 3 answers and 2 failed questions? This cannot be undone."
    )
