"""The experiments dialog in the real app: runs made through the runner, progress, cancel and
resume, missing translations, the summary, and on to the comparison in Results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.tui import SIZE, FakeBackend, make_app, ready, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, ProgressBar, Select, Static

from core import experiments
from core.prompts import Condition
from core.runs import load_run
from tui.app import GoqaApp
from tui.screens.experiments import ExperimentScreen
from tui.screens.results import ResultsScreen

TEN = list(range(10))


async def _open(
    pilot: Pilot[Any], positions: list[int], kind: str, targets: str
) -> ExperimentScreen:
    """The experiments dialog over ``positions``, with its kind and targets filled in."""
    await ready(pilot)
    app = pilot.app
    assert isinstance(app, GoqaApp)
    app.backend_name = "fake"
    app.filtered_positions = positions
    await pilot.press("e")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ExperimentScreen)
    screen.query_one("#exp-kind", Select).value = kind
    await pilot.pause()
    screen.query_one("#exp-targets", Input).value = targets
    await pilot.pause()
    return screen


def _summary_text(screen: ExperimentScreen) -> str:
    return str(screen.query_one("#exp-summary", Static).render())


async def test_cross_national_experiment_makes_the_runs_and_summarises_them(
    tmp_path: Path,
) -> None:
    backend = FakeBackend()
    app = make_app(tmp_path, fake=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, TEN, "cross-national", "Russia")
        assert "exp-fake-default, exp-fake-country-Russia" in str(
            screen.query_one("#exp-info", Static).render()
        )
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.summary is not None, timeout=20)

        store = app.store
        runs = {r.manifest.name: r for r in store.runs()}
        assert set(runs) == {"exp-fake-default", "exp-fake-country-Russia"}
        assert runs["exp-fake-country-Russia"].manifest.condition == "country:Russia"
        assert all((r.n_ok, r.planned) == (10, 10) for r in runs.values())
        assert backend.completed == 20
        bars = list(screen.query(ProgressBar))
        assert [(b.progress, b.total) for b in bars] == [(10, 10), (10, 10)]

        # The Russia target line: scores and ranks default -> conditioned, as stored.
        default = load_run(store, app.dataset, "exp-fake-default").scores
        conditioned = load_run(store, app.dataset, "exp-fake-country-Russia").scores
        ranks = {
            name: next(i + 1 for i, c in enumerate(s.countries) if c.country == "Russia")
            for name, s in (("d", default), ("c", conditioned))
        }
        d, c = default.get("Russia"), conditioned.get("Russia")
        assert d is not None and c is not None
        line = (
            f"target Russia: {d.similarity:.3f} → {c.similarity:.3f} "
            f"({c.similarity - d.similarity:+.3f}) · rank {ranks['d']} → {ranks['c']}"
        )
        text = _summary_text(screen)
        assert line in text
        summary = screen.summary
        assert summary is not None
        (result,) = summary.conditions
        assert result.overshoot is not None
        assert f"stereotype overshoot: {result.overshoot.n_overshoot} of " in text
        assert ("moved toward its target" in text) != ("did not clearly move" in text)

        # Picking the run compares it with the default run in Results.
        choices = screen.query_one("#exp-compare", OptionList)
        choices.focus()
        choices.highlighted = 0
        await pilot.press("enter")
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)
        await wait_for(pilot, lambda: results.comparison is not None)
        assert results.comparison is not None
        assert (results.comparison.a.name, results.comparison.b.name) == (
            "exp-fake-default",
            "exp-fake-country-Russia",
        )


async def test_missing_translations_stop_before_any_request(tmp_path: Path) -> None:
    backend = FakeBackend()
    app = make_app(tmp_path, fake=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, list(range(25, 35)), "default", "")
        assert screen.query_one("#exp-targets", Input).disabled
        assert str(screen.query_one("#exp-info", Static).render()).endswith(
            "runs: exp-fake-default"
        )
        # Questions 25..34: the bundled Russian translations stop at the 30th question.
        screen.query_one("#exp-kind", Select).value = "linguistic"
        await pilot.pause()
        targets = screen.query_one("#exp-targets", Input)
        assert not targets.disabled and targets.value == "ru, zh, tr"
        targets.value = "ru, de"
        await pilot.pause()
        await pilot.press("ctrl+r")

        def refused() -> list[Any]:
            return [n for n in app._notifications if n.title == "Translations missing"]

        await wait_for(pilot, lambda: bool(refused()))
        assert not screen.running
        notes = refused()
        assert len(notes) == 1
        assert "language:ru (5 missing)" in notes[0].message
        assert "language:de (10 missing)" in notes[0].message
        assert backend.calls == 0 and app.store.runs() == []

        # Within the bundled ones the linguistic experiment runs offline.
        screen.positions = list(range(5))
        screen.query_one("#exp-targets", Input).value = "ru"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.summary is not None, timeout=20)
        assert {r.manifest.name for r in app.store.runs()} == {
            "exp-fake-default",
            "exp-fake-language-ru",
        }
        assert "language:ru" in _summary_text(screen)


async def test_cancel_keeps_the_answers_and_start_resumes(tmp_path: Path) -> None:
    backend = FakeBackend(hold_after=6)
    app = make_app(tmp_path, fake=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, TEN, "cross-national", "Russia")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: backend.completed == 6 and backend.calls > 6)
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not screen.running)
        assert "Cancelled" in str(screen.query_one("#exp-status", Static).render())
        assert len(app.store.answered_keys("exp-fake-default")) == 6

        backend.release.set()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.summary is not None, timeout=20)
        # Every question was answered once per run: the six stored ones were not asked again.
        assert backend.completed == 20
        assert len(app.store.answered_keys("exp-fake-default")) == 10
        assert len(app.store.answered_keys("exp-fake-country-Russia")) == 10


def test_plan_from_the_dialog_matches_the_cli_names() -> None:
    plan = experiments.plan(
        "cross-national", ["Russia"], TEN, backend_name="fake", template="paper", policy="keep"
    )
    assert plan.run_names == ("exp-fake-default", "exp-fake-country-Russia")
    assert plan.conditions == (Condition("default"), Condition("country", "Russia"))
