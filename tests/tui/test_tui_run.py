"""The run and demo screens, driven with Pilot against a fake in-test backend.

The harness app of ``tests/support/tui.py`` implements :class:`tui.contract.GoqaContract`,
what the screens may use of the real app, so the screens are tested on their own; here it is
styled by the app's stylesheet (:class:`StyledHarnessApp`), as in ``test_tui_results.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.tui import SIZE, FakeBackend, StyledHarnessApp, wait_for
from textual.widgets import Input, ProgressBar, Select, Static

from core import asking, runner, runs
from core import dataset as datasetmod
from core.config import LOCAL_DEFAULT, BackendConfig, Config
from core.prompts import Condition
from core.runs import planned_positions, run_name
from core.store import QuestionFilter, Selection, Store
from tui.screens.demo import DemoScreen
from tui.screens.run import RunScreen
from tui.widgets.chart import DistributionChart
from tui.widgets.leaderboard import Leaderboard


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


# --------------------------------------------------------------------------- helpers


def test_default_run_name_and_unique_name() -> None:
    # The run form's default name is core's one scheme (tests/core/test_usecases_runs.py has more).
    from datetime import datetime

    when = datetime(2026, 11, 22, 9, 30)
    assert run_name(Condition("default"), "local", when=when) == "default-local-20261122-0930"
    assert (
        run_name(Condition("country", "Russia"), "vllm", when=when)
        == "country-Russia-vllm-20261122-0930"
    )
    taken = {"default-local-20261122-0930", "default-local-20261122-0930-2"}
    assert run_name(Condition("default"), "local", when=when, taken=taken) == (
        "default-local-20261122-0930-3"
    )


def test_selection_positions_from_ids_and_cli_filters(sample: datasetmod.Dataset) -> None:
    assert planned_positions(sample, Selection(ids=(sample.ids[3], sample.ids[7]))) == [3, 7]
    wvs = sample.filter(source="WVS")
    only_wvs = Selection(filters=QuestionFilter(source="WVS", limit=5))
    assert planned_positions(sample, only_wvs) == wvs[:5]
    assert planned_positions(sample, Selection(planned=3)) is None


# --------------------------------------------------------------------------- run screen


async def test_run_reaches_total_and_board_matches_the_stored_scores(
    sample: datasetmod.Dataset, store: Store
) -> None:
    positions = list(range(30))
    backend = FakeBackend()
    app = StyledHarnessApp(
        sample, store, {"fake": backend}, lambda: RunScreen(positions, Condition("default"))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        name_input = screen.query_one("#run-name", Input)
        assert name_input.value.startswith("default-fake-")
        name_input.value = "t-run"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        await pilot.pause()

        bar = screen.query_one("#run-progress", ProgressBar)
        assert bar.total == 30 and bar.progress == 30
        assert "done 30/30" in str(screen.query_one("#run-stats", Static).render())
        stored = store.answers("t-run")
        assert len(stored) == 30 and all(a.status == "ok" for a in stored)
        assert backend.completed == 30

        expected = runs.load_run(store, sample, "t-run").scores
        board = screen.query_one("#run-board", Leaderboard)
        assert board.displayed_keys[0] == expected.countries[0].country
        assert board.rows[0].value == pytest.approx(expected.countries[0].similarity)
        assert len(board.rows) == len(expected.countries)
        # The manifest records the questions, so the run can be resumed exactly.
        manifest = store.manifest("t-run")
        assert manifest.selection.ids == tuple(sample.ids[p] for p in positions)
        assert manifest.selection.via == "tui"
        assert manifest.backend == "fake" and manifest.condition == "default"
        assert not app.errors


async def test_cancel_then_resume_completes_exactly_once(
    sample: datasetmod.Dataset, store: Store
) -> None:
    positions = list(range(40))
    held = FakeBackend(delay=0.01, hold_after=7)
    app = StyledHarnessApp(
        sample, store, {"fake": held}, lambda: RunScreen(positions, Condition("country", "Russia"))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-name", Input).value = "slow"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(store.answers("slow")) == 7 and screen.answered == 7)
        assert screen.running
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not screen.running)
        stored_after_cancel = len(store.answers("slow"))
        assert stored_after_cancel == 7
        assert screen.outcome is None
        assert "Cancelled: 7 of 40" in str(screen.query_one("#run-stats", Static).render())
        # The run is now offered for resuming (the store's runs are read in a thread).
        resume = screen.query_one("#run-resume", Select)
        await wait_for(pilot, lambda: "slow" in [value for _, value in resume._options])

        # Resume from the list: a fresh screen with no selection of its own.
        await app.pop_screen()
        fresh_backend = FakeBackend(delay=0.0)
        app.backends["fake"] = fresh_backend
        await app.push_screen(RunScreen([], Condition("default")))
        await pilot.pause()
        resumed = app.screen
        assert isinstance(resumed, RunScreen)
        offered = resumed.query_one("#run-resume", Select)
        await wait_for(pilot, lambda: "slow" in [value for _, value in offered._options])
        offered.value = "slow"
        await pilot.pause()
        assert resumed.query_one("#run-name", Input).value == "slow"
        assert resumed.query_one("#run-condition", Input).value == "country:Russia"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: resumed.outcome is not None and not resumed.running)

        stored = store.answers("slow")
        keys = [a.question_key for a in stored]
        assert len(stored) == 40 and len(set(keys)) == 40
        assert set(keys) == {sample.keys[p] for p in positions}
        # Only the unanswered questions were asked again.
        assert fresh_backend.completed == 40 - stored_after_cancel
        assert resumed.outcome is not None and resumed.outcome.answered == 40
        assert next(r for r in store.runs() if r.manifest.name == "slow").finished
        assert not app.errors


async def test_run_with_unknown_country_reports_error_without_asking(
    sample: datasetmod.Dataset, store: Store
) -> None:
    backend = FakeBackend()
    app = StyledHarnessApp(
        sample, store, {"fake": backend}, lambda: RunScreen([0, 1], Condition("country", "Xanadu"))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: bool(app.errors))
        await wait_for(pilot, lambda: not screen.running)  # type: ignore[attr-defined]
        assert "Unknown country" in str(app.errors[0])
        assert backend.calls == 0


async def test_failures_are_counted_and_retried_on_resume(
    sample: datasetmod.Dataset, store: Store
) -> None:
    flaky = FakeBackend(fail_every=4)
    app = StyledHarnessApp(
        sample, store, {"fake": flaky}, lambda: RunScreen(list(range(12)), Condition("default"))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-name", Input).value = "flaky"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        assert screen.outcome is not None
        assert screen.outcome.failed == 3 and screen.outcome.answered == 9
        assert "fake failure" in str(screen.query_one("#run-last-error", Static).render())
        # The same name again asks just the three that failed.
        app.backends["fake"] = steady = FakeBackend()
        assert screen.query_one("#run-name", Input).value == "flaky"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        await wait_for(pilot, lambda: screen.outcome.answered == 12)  # type: ignore[union-attr]
        assert steady.completed == 3
        assert len(store.answers("flaky", status="ok")) == 12


async def test_suspect_and_failed_answers_are_counted_live_and_in_the_summary(
    sample: datasetmod.Dataset, store: Store
) -> None:
    # Calls 3, 6, 9 are suspect, 4, 8, 12 fail, and from call 9 on answers wait for release.
    mixed = FakeBackend(fail_every=4, suspect_every=3, hold_after=8)
    app = StyledHarnessApp(
        sample, store, {"fake": mixed}, lambda: RunScreen(list(range(12)), Condition("default"))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        notes: list[tuple[str, str]] = []
        app.notify = lambda message, *, title="", **_: notes.append((title, message))  # type: ignore[method-assign]
        stats = screen.query_one("#run-stats", Static)
        screen.query_one("#run-name", Input).value = "mixed"
        await pilot.press("ctrl+r")
        # Live: what has landed so far, suspect and failed among it.
        await wait_for(pilot, lambda: "done 6/12 · 2 suspect · 3 failed" in str(stats.render()))
        assert screen.running
        mixed.release.set()
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        await pilot.pause(0.6)
        text = str(stats.render())
        assert text.startswith("Finished: done 9/12 · 3 suspect · 3 failed")
        assert "3 suspect left out of the scores" in text
        assert "3 failed, asked again when the run resumes" in text
        assert (
            "Run finished",
            "Run mixed finished: 9 of 12 answered; 3 suspect (left out of scores); 3 failed "
            "(asked again when the run resumes).",
        ) in notes
        # The board leaves the suspect answers out, as load_run does.
        board = screen.query_one("#run-board", Leaderboard)
        expected = runs.load_run(store, sample, "mixed").scores
        assert board.rows[0].value == pytest.approx(expected.countries[0].similarity)
        shown = sorted((r.key, r.n) for r in board.rows)
        assert shown == sorted((c.country, c.n_questions) for c in expected.countries)
        with_suspect = runs.load_run(store, sample, "mixed", include_suspect=True).scores
        assert shown != sorted((c.country, c.n_questions) for c in with_suspect.countries)
        caption = str(board.query_one(".lb-caption", Static).render())
        assert caption.startswith("mixed: 6 of 12 scored · 3 suspect left out")

        # Resuming asks the three that failed; the earlier suspect answers still count.
        app.backends["fake"] = steady = FakeBackend()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and screen.outcome.failed == 0)
        await wait_for(pilot, lambda: not screen.running)
        assert steady.completed == 3
        assert str(stats.render()).startswith("Finished: done 12/12 · 3 suspect · 0 failed")
        assert (
            notes[-1][1] == "Run mixed finished: 12 of 12 answered; 3 suspect (left out of scores)."
        )
        assert not app.errors


async def test_the_suspect_threshold_comes_from_the_config(
    sample: datasetmod.Dataset, store: Store
) -> None:
    from dataclasses import replace

    doubtful = FakeBackend(suspect_every=1)  # 80% off the option letters, every time
    app = StyledHarnessApp(
        sample, store, {"fake": doubtful}, lambda: RunScreen(list(range(4)), Condition("default"))
    )
    app.config = replace(app.config, max_off_option=0.9)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-name", Input).value = "lenient"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        assert screen.outcome is not None and screen.outcome.suspect == 0
        assert all(a.answer is not None and not a.answer.suspect for a in store.answers("lenient"))
        assert "done 4/4 · 0 suspect · 0 failed" in str(
            screen.query_one("#run-stats", Static).render()
        )


async def test_run_screen_fits_80x24(sample: datasetmod.Dataset, store: Store) -> None:
    app = StyledHarnessApp(
        sample, store, None, lambda: RunScreen(list(range(5)), Condition("default"))
    )
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-name", Input).value = "small"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        await pilot.pause(0.6)
        board = screen.query_one("#run-board", Leaderboard)
        assert board.region.height >= 8
        assert board.region.bottom <= 24
        assert len(board.displayed_keys) > 0


# --------------------------------------------------------------------------- demo screen


async def test_demo_steps_on_key_and_on_timer(sample: datasetmod.Dataset, store: Store) -> None:
    positions = [5, 9, 14]
    backend = FakeBackend(samples=5)
    app = StyledHarnessApp(
        sample,
        store,
        {"fake": backend},
        lambda: DemoScreen(positions, Condition("default"), interval=60.0),
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DemoScreen)
        await wait_for(pilot, lambda: screen.answer is not None)
        assert screen.position == 5
        assert "#" in str(screen.query_one("#demo-question", Static).render())
        np.testing.assert_allclose(
            screen.answer.probs,  # type: ignore[union-attr]
            FakeBackend.distribution(
                asking.prompt_builder(sample, Condition("default"), "paper")(sample.at(5))
            ),
        )
        await pilot.press("right")
        await wait_for(pilot, lambda: screen.position == 9 and screen.answer is not None)
        await pilot.press("left")
        await wait_for(pilot, lambda: screen.position == 5)
        # The timer: a short interval moves on by itself.
        screen.interval = 0.2
        await wait_for(pilot, lambda: screen.position == 9, timeout=5)
        await wait_for(pilot, lambda: screen.position == 14, timeout=5)
        # Paused, it stays.
        await pilot.press("space")
        assert screen.paused
        await pilot.pause(0.6)
        assert screen.position == 14
        assert not app.errors


async def test_demo_cycles_conditions(sample: datasetmod.Dataset, store: Store) -> None:
    backend = FakeBackend()
    # A stored run under country:Russia makes that condition one of the cycle's stops.
    await runner.run(
        name="ru",
        dataset=sample,
        positions=[0],
        backend=backend,  # type: ignore[arg-type]
        backend_name="fake",
        condition=Condition("country", "Russia"),
        template="paper",
        store=store,
    )
    app = StyledHarnessApp(
        sample, store, {"fake": backend}, lambda: DemoScreen([3, 4], Condition("default"), 60.0)
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DemoScreen)
        assert [str(c) for c in screen.conditions][:2] == ["default", "country:Russia"]
        await wait_for(pilot, lambda: screen.answer is not None)
        await pilot.press("c")
        await wait_for(
            pilot, lambda: str(screen.condition) == "country:Russia" and screen.answer is not None
        )
        expected = FakeBackend.distribution(
            asking.prompt_builder(sample, Condition("country", "Russia"), "paper")(sample.at(3))
        )
        np.testing.assert_allclose(screen.answer.probs, expected)  # type: ignore[union-attr]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DemoScreen)


# --------------------------------------------------------------------------- a real HTTP backend


async def test_run_through_the_openai_backend_against_a_local_server(
    sample: datasetmod.Dataset, store: Store
) -> None:
    """The run screen driving the real OpenAI-compatible backend over loopback HTTP."""
    from support.fakeserver import FakeServer

    from core.backends import make_backend

    positions = list(range(25))
    with FakeServer(shape="openai", delay=0.01) as server:
        cfg = BackendConfig(
            "vllm", "openai", base_url=server.base_url, model="m", concurrency=8, max_retries=0
        )
        backend = make_backend(cfg)
        config = Config(backends={"local": LOCAL_DEFAULT, "vllm": cfg}, default_backend="vllm")
        app = StyledHarnessApp(
            sample,
            store,
            {"vllm": backend},
            lambda: RunScreen(positions, Condition("default")),
            config=config,
        )
        app.backend_name = "vllm"
        try:
            async with app.run_test(size=SIZE) as pilot:
                screen = app.screen
                assert isinstance(screen, RunScreen)
                screen.query_one("#run-name", Input).value = "http"
                await pilot.press("ctrl+r")
                await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
                await pilot.pause()
                assert screen.outcome is not None and screen.outcome.answered == 25
                assert server.count("/v1/completions") == 25
                build = asking.prompt_builder(sample, Condition("default"), "paper")
                stored = {a.question_key: a for a in store.answers("http")}
                assert len(stored) == 25
                for p in positions:
                    expected, off = server.expected(build(sample.at(p)).user)
                    answer = stored[sample.keys[p]].answer
                    assert answer is not None
                    np.testing.assert_allclose(answer.probs, expected, atol=1e-9)
                    assert answer.off_option_mass == pytest.approx(off, abs=1e-9)
                manifest = store.manifest("http")
                assert (manifest.backend, manifest.model, manifest.base_url) == (
                    "vllm",
                    "m",
                    server.base_url,
                )
                top = runs.load_run(store, sample, "http").scores.countries[0]
                board = screen.query_one("#run-board", Leaderboard)
                assert board.displayed_keys[0] == top.country
                assert not app.errors
        finally:
            await backend.aclose()


async def test_run_view_of_the_real_app_shell(tmp_path: Path) -> None:
    """The shell builds the run view from its filter and condition; its backend comes from
    the config (make_backend), its store is the app's."""
    from support.fakeserver import FakeServer

    from tui.app import create_app

    with FakeServer(shape="llama-server") as server:
        config = tmp_path / "config.toml"
        config.write_text(
            'default_backend = "srv"\n\n[backends.srv]\nkind = "openai"\n'
            f'base_url = "{server.base_url}"\nmodel = "m"\nconcurrency = 8\nmax_retries = 0\n',
            encoding="utf-8",
        )
        app = create_app(config_path=config, store_path=tmp_path / "store.sqlite3")
        async with app.run_test(size=SIZE) as pilot:
            # The run view records into the store: it opens once the store has.
            await wait_for(pilot, lambda: app.dataset_ready and app.store_ready)
            app.filtered_positions = list(range(12))
            app.action_view("run")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            screen = app.screen
            assert isinstance(screen, RunScreen)
            await pilot.pause()
            assert screen.query_one("#run-name", Input).value.startswith("default-srv-")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
            name = screen.outcome.manifest.name  # type: ignore[union-attr]
            assert len(app.store.answers(name, status="ok")) == 12
            assert server.count("/v1/completions") == 12
            await pilot.press("escape")
            await pilot.pause()
            assert app.current_mode == "browse"


async def test_demo_draws_partial_answers_and_survives_missing_translations(
    sample: datasetmod.Dataset, store: Store
) -> None:
    sampler = FakeBackend(samples=6, delay=0.02)
    app = StyledHarnessApp(
        sample,
        store,
        {"fake": sampler},
        lambda: DemoScreen([2, 3], Condition("language", "xx"), interval=60.0),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, DemoScreen)
        # No translation into "xx": the error is reported, nothing is asked, keys still work.
        await wait_for(pilot, lambda: bool(app.errors))
        assert "translation" in str(app.errors[0])
        assert sampler.calls == 0
        assert screen.paused  # no stream of the same error on every tick
        assert screen.conditions[0] == Condition("default")
        await pilot.press("c")  # language:xx is last in the cycle: c wraps to default
        await wait_for(pilot, lambda: screen.answer is not None)
        assert str(screen.condition) == "default"
        assert screen.partial_updates >= 1
        chart = screen.query_one("#demo-chart", DistributionChart)
        assert chart.data is not None and not chart.data.pending
        model = chart.data.get("Model")
        assert model is not None
        assert model.values == pytest.approx(tuple(screen.answer.probs))  # type: ignore[union-attr]
        assert chart.data.caption.startswith("sampling · 6 samples")


async def test_demo_marks_suspect_answers_and_shows_why_an_ask_failed(
    sample: datasetmod.Dataset, store: Store
) -> None:
    doubtful = FakeBackend(suspect_every=1)
    app = StyledHarnessApp(
        sample, store, {"fake": doubtful}, lambda: DemoScreen([2, 3], Condition("default"), 60.0)
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DemoScreen)
        await wait_for(pilot, lambda: screen.answer is not None)
        chart = screen.query_one("#demo-chart", DistributionChart)
        reason = (
            "80% of the probability fell outside the option letters (above max_off_option = 0.5)"
        )
        assert chart.data is not None and chart.data.suspect == reason
        assert f"⚠ suspect: {reason}" in chart.render().plain
        assert "⚠ suspect" in str(screen.query_one("#demo-status", Static).render())

        # A failing backend: the reason in place of the bars, the timer stopped.
        app.backends["fake"] = FakeBackend(fail_every=1)
        await pilot.press("right")
        await wait_for(pilot, lambda: bool(app.errors))
        await pilot.pause()
        assert screen.paused and screen.answer is None
        assert chart.data is not None and chart.data.error == "fake failure"
        assert chart.data.series[0].values == ()
        text = chart.render().plain
        assert "✗ not answered: fake failure" in text and "asking" not in text
        assert "not answered" in str(screen.query_one("#demo-status", Static).render())
