"""The five estimators in the app: the chart's estimator set (Browse and the demo), the
estimator of a run (Run view, experiments dialog, run table), the estimator audit in Results,
and snapshots of each at 80×24 and 160×48.

:class:`ContentModel` answers every estimator and knows the truth: its answers follow each
option's *content* weight (a hash of the option's text), but its first token also prefers
the letter A, so the first-token estimate is biased and the others are not (or less). What
the app shows is checked against what :mod:`core.estimation` and :mod:`core.audit` compute
on their own from the same model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.tui import (
    FAKE_CONFIG,
    SIZE,
    StyledHarnessApp,
    make_app,
    ready,
    settle,
    wait_for,
)
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static, TabbedContent

from core import asking, audit, runner
from core import dataset as datasetmod
from core.backends.base import Answer, PartialCallback, Sample, TextRequest
from core.backends.retry import RetryPolicy
from core.config import LOCAL_DEFAULT, Config
from core.estimation import ask_estimators
from core.estimators import ESTIMATOR_NAMES, EstimatorSpec
from core.prompts import Condition, Prompt
from core.store import Store
from tui.app import GoqaApp
from tui.screens.browse import AskKey, BrowseScreen
from tui.screens.demo import DemoScreen
from tui.screens.experiments import ExperimentScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.widgets.ask_chart import estimator_specs
from tui.widgets.chart import FAILED_MARK, ChartData, DistributionChart
from tui.widgets.results_audit import EstimatorAuditPane, percent, score_cell

OPTION_LINE = re.compile(r"^\(([A-Z])\) (.+)$", re.MULTILINE)
VERBALIZED_FAILURE = "The model's verbalized reply could not be used"


def content_weight(option: str) -> float:
    """How much the model likes an option for what it says (never for its letter)."""
    return hashlib.sha256(option.encode("utf-8")).digest()[0] + 1.0


class ContentModel:
    """A backend answering every estimator from the options' content weights.

    First token: content weight × a prior of 3 for the letter shown first (A), normalised.
    Verbalized: the content weights as percentages (with ``verbalized_fails``, a reply with
    no JSON). Free text: the option of largest content weight, except every fourth reply,
    which refuses. With ``hold_free_text`` free-text replies wait for ``release``.
    """

    kind = "fake"
    mode = "completions"
    base_url = ""

    def __init__(
        self, name: str = "fake", verbalized_fails: bool = False, hold_free_text: bool = False
    ) -> None:
        self.name = name
        self.model = "content-1"
        self.verbalized_fails = verbalized_fails
        self.hold_free_text = hold_free_text
        self.release = asyncio.Event()
        self.first_token_calls = 0
        self.text_calls: list[str] = []

    def request_params(self) -> dict[str, Any]:
        return {"fake": "content"}

    @staticmethod
    def shown_options(text: str) -> list[tuple[str, str]]:
        return OPTION_LINE.findall(text)

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        self.first_token_calls += 1
        options = self.shown_options(prompt.text)
        assert [letter for letter, _ in options] == list(prompt.letters)
        weights = np.array([content_weight(text) for _, text in options])
        weights[0] *= 3.0  # the letter prior: A
        return Answer(probs=weights / weights.sum(), off_option_mass=0.01, estimator="logprobs")

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        options = self.shown_options(request.user)
        if request.json_schema is not None:
            self.text_calls.append("verbalized")
            if self.verbalized_fails:
                return (Sample("I would rather not guess what people think."),)
            weights = np.array([content_weight(text) for _, text in options])
            shares = {
                letter: round(100 * w / weights.sum(), 1)
                for (letter, _), w in zip(options, weights, strict=True)
            }
            return (Sample(json.dumps(shares)),)
        self.text_calls.append("free-text")
        if self.hold_free_text:
            await self.release.wait()
        best = max(options, key=lambda o: content_weight(o[1]))[0]
        return tuple(
            Sample(
                "As an AI, I cannot choose."
                if (request.seed + i) % 4 == 3
                else f"I would choose ({best})."
            )
            for i in range(request.n)
        )

    async def aclose(self) -> None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def _config() -> Config:
    return Config(backends={"local": LOCAL_DEFAULT, "fake": FAKE_CONFIG}, default_backend="fake")


def _chart(screen: Any) -> ChartData:
    data = screen.query_one(DistributionChart).data
    assert data is not None
    return data


async def _expected(
    sample: datasetmod.Dataset, position: int, model: ContentModel
) -> dict[str, tuple[np.ndarray | None, str]]:
    """What core says each estimator answers (or why not), asked on its own, uncached."""
    question = sample.at(position)
    build = asking.prompt_builder(sample, Condition("default"), "paper", None, [question])
    results = await ask_estimators(
        sample,
        question,
        model,
        build,
        estimator_specs(_config(), True),
        None,
        RetryPolicy(max_retries=0),
    )
    return {
        r.spec.label: (r.answer.probs if r.answer is not None else None, r.error) for r in results
    }


# --------------------------------------------------------------------------- the chart


def test_the_estimator_set_is_the_configured_one_or_all_five() -> None:
    config = _config()
    assert estimator_specs(config, False) == (EstimatorSpec(),)
    every = estimator_specs(config, True)
    assert [s.name for s in every] == list(ESTIMATOR_NAMES)
    from dataclasses import replace

    verbalized = replace(config, estimator="verbalized", orders=6)
    names = [s.name for s in estimator_specs(verbalized, True)]
    assert names[0] == "verbalized" and sorted(names) == sorted(ESTIMATOR_NAMES)
    assert estimator_specs(verbalized, True)[names.index("order-averaged")].orders == 6


async def test_browse_draws_every_estimator_and_one_failure_in_its_place(
    sample: datasetmod.Dataset, store: Store
) -> None:
    position = 2
    model = ContentModel(verbalized_fails=True)
    expected = await _expected(sample, position, ContentModel(verbalized_fails=True))
    app = StyledHarnessApp(sample, store, {"fake": model}, BrowseScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        await settle(pilot)
        screen.jump_to(position)
        await settle(pilot)
        await pilot.press("E")
        assert screen.every_estimator
        await pilot.press("a")
        await settle(pilot)
        data = _chart(screen)
        labels = [s.label for s in data.models]
        assert labels == [spec.label for spec in estimator_specs(app.config, True)]
        assert labels == list(expected)
        for series in data.models:
            probs, error = expected[series.label]
            if probs is None:
                # The failing estimator: its reason in its own rows, nothing else.
                assert series.label == "verbalized" and series.values == ()
                assert series.error == error and error.startswith(VERBALIZED_FAILURE)
            else:
                assert series.error == "" and series.values == pytest.approx(tuple(probs))
        # The legend names each estimator; the failure is drawn and reported once.
        drawn = screen.chart.render().plain
        for label in labels:
            assert label in drawn
        assert f"{FAILED_MARK} verbalized not answered: {VERBALIZED_FAILURE}" in drawn
        assert [str(e) for e in app.errors] == [expected["verbalized"][1]]
        # The caption says how many are shown and answered, and which two differ most.
        assert data.caption.startswith("5 estimators · 4 answered · 1 failed")
        assert "similarity to first-token" in data.caption and "most apart:" in data.caption
        detail = screen.query_one("#detail")
        assert detail.border_subtitle == "5 estimators · fake · Default"
        # The countries' similarities are to the first-token answer.
        first = data.models[0]
        assert first.label == "first-token" and first.short == "first-token"
        # E again: the configured estimator alone, as before.
        await pilot.press("E")
        await pilot.pause()
        data = _chart(screen)
        assert [s.label for s in data.models] == ["Model"]
        assert data.caption.startswith("estimator first-token (logprobs)")
        assert detail.border_subtitle == "estimator first-token"


async def test_estimators_draw_as_they_land(sample: datasetmod.Dataset, store: Store) -> None:
    model = ContentModel(hold_free_text=True)
    app = StyledHarnessApp(sample, store, {"fake": model}, BrowseScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        await settle(pilot)
        await pilot.press("a")  # first-token alone
        await settle(pilot)
        assert [s.label for s in _chart(screen).models] == ["Model"]
        calls = model.first_token_calls
        # Showing all five asks the four not asked yet, at once.
        await pilot.press("E")
        await wait_for(pilot, lambda: "free-text" in model.text_calls)

        def landed() -> bool:
            models = _chart(screen).models
            return all(s.values for s in models if s.short != "free-text")

        await wait_for(pilot, landed)
        data = _chart(screen)
        free = next(s for s in data.models if s.short == "free-text")
        assert free.pending and free.values == () and free.status == "asking fake…"
        assert free.tag == "asking…"
        assert "1 asking" in data.caption
        assert screen.chart.asking
        # The first-token answer was not asked again.
        first = data.models[0]
        assert first.short == "first-token" and "from cache" not in first.tag
        assert model.first_token_calls > calls  # order-averaged and prior-corrected asked
        model.release.set()
        await settle(pilot)
        data = _chart(screen)
        free = next(s for s in data.models if s.short == "free-text")
        assert not free.pending and max(free.values) == 1.0
        assert free.tag.startswith("sampling n=8 · 6 of 8 replies chose an option, 2 refused")
        assert "5 answered" in data.caption and not app.errors
        # Asking again comes from the response cache, every estimator of it.
        before = (model.first_token_calls, len(model.text_calls))
        await pilot.press("a")
        await settle(pilot)
        assert (model.first_token_calls, len(model.text_calls)) == before
        assert all("from cache" in s.tag for s in _chart(screen).models)
        keys = {k for k in screen.chart.states if isinstance(k, AskKey)}
        assert {k.estimator.name for k in keys} == set(ESTIMATOR_NAMES)


async def test_escape_cancels_every_estimator(sample: datasetmod.Dataset, store: Store) -> None:
    model = ContentModel(hold_free_text=True)
    app = StyledHarnessApp(sample, store, {"fake": model}, BrowseScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        await settle(pilot)
        await pilot.press("E", "a")
        await wait_for(pilot, lambda: "free-text" in model.text_calls)
        await pilot.press("escape")
        await settle(pilot)
        assert not screen.chart.asking and not app.errors
        free = next(s for s in _chart(screen).models if s.short == "free-text")
        assert not free.pending and free.status == "not asked · a asks"


async def test_the_demo_asks_every_estimator(sample: datasetmod.Dataset, store: Store) -> None:
    model = ContentModel()
    app = StyledHarnessApp(
        sample,
        store,
        {"fake": model},
        lambda: DemoScreen([0, 1], Condition("default"), 60.0),
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DemoScreen)
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        data = _chart(screen)
        assert [s.short for s in data.models] == list(ESTIMATOR_NAMES)
        assert all(s.values for s in data.models)
        status = str(screen.query_one("#demo-status", Static).render())
        assert "5 estimators" in status
        keys = [k for k in screen.chart.states if isinstance(k, tuple) and k[0] == 0]
        assert {k[2].name for k in keys} == set(ESTIMATOR_NAMES)
        await pilot.press("E")
        await settle(pilot)
        assert [s.label for s in _chart(screen).models] == ["Model"]
        assert "first-token" in str(screen.query_one("#demo-status", Static).render())


# --------------------------------------------------------------------------- runs


async def test_the_run_view_passes_the_estimator_into_the_plan(
    sample: datasetmod.Dataset, store: Store
) -> None:
    positions = list(range(6))
    app = StyledHarnessApp(
        sample,
        store,
        {"fake": ContentModel()},
        lambda: RunScreen(positions, Condition("default")),
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await pilot.pause()
        select = screen.query_one("#run-estimator", Select)
        assert select.value == "first-token"
        select.value = "order-averaged"
        await pilot.pause()
        name = screen.query_one("#run-name", Input).value
        assert name.startswith("default-fake-order-averaged-")
        info = str(screen.query_one("#run-info", Static).render())
        assert "estimator order-averaged (up to 4 orders)" in info
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcome is not None and not screen.running)
        outcome = screen.outcome
        assert outcome is not None
        assert outcome.manifest.estimator == "order-averaged"
        manifest = store.manifest(name)
        assert (manifest.estimator, manifest.estimator_params) == ("order-averaged", {"orders": 4})
        answers = store.answers(name)
        assert len(answers) == 6
        assert all(a.answer is not None and a.answer.method == "order-averaged" for a in answers)
        assert not app.errors


async def test_resuming_a_run_keeps_its_estimator(sample: datasetmod.Dataset, store: Store) -> None:
    positions = list(range(4))
    # Every verbalized reply fails the parse: the run is stored unfinished, to be resumed.
    await runner.run(
        name="half",
        dataset=sample,
        positions=positions,
        backend=ContentModel(verbalized_fails=True),
        backend_name="fake",
        condition=Condition("default"),
        template="paper",
        store=store,
        max_retries=0,
        estimator=EstimatorSpec("verbalized"),
    )
    assert not store.summary("half").finished
    app = StyledHarnessApp(
        sample,
        store,
        {"fake": ContentModel()},
        lambda: RunScreen(positions, Condition("default")),
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await settle(pilot)
        screen.query_one("#run-name", Input).value = "half"
        await pilot.pause()
        plan = screen._make_plan()
        assert plan is not None and plan.estimator == EstimatorSpec("verbalized")
        assert screen.query_one("#run-estimator", Select).value == "verbalized"


async def test_the_experiments_dialog_runs_under_the_chosen_estimator(tmp_path: Path) -> None:
    model = ContentModel()
    app = make_app(tmp_path, fake=model)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert isinstance(app, GoqaApp)
        app.backend_name = "fake"
        app.filtered_positions = [0, 1, 2]
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExperimentScreen)
        screen.query_one("#exp-kind", Select).value = "default"
        await pilot.pause()
        screen.query_one("#exp-estimator", Select).value = "verbalized"
        await pilot.pause()
        assert screen.query_one("#exp-prefix", Input).value == "exp-fake-verbalized"
        summary = str(screen.query_one("#exp-estimator-summary", Static).render())
        assert summary == "shares the model writes down as JSON"
        plan = screen.make_plan()
        assert plan.estimator == EstimatorSpec("verbalized")
        assert "estimator verbalized" in str(screen.query_one("#exp-info", Static).render())
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.outcomes != () and not screen.running, timeout=30)
        manifest = app.store.manifest("exp-fake-verbalized-default")
        assert manifest.estimator == "verbalized"
        assert model.text_calls.count("verbalized") == 3


# --------------------------------------------------------------------------- the audit


POSITIONS = list(range(24))


async def _runs_of_every_estimator(sample: datasetmod.Dataset, store: Store) -> list[str]:
    """One run per estimator over the same questions, first-token first (the oldest)."""
    names = []
    for spec in estimator_specs(_config(), True):
        name = f"run-{spec.name}"
        await runner.run(
            name=name,
            dataset=sample,
            positions=POSITIONS,
            backend=ContentModel(),
            backend_name="fake",
            condition=Condition("default"),
            template="paper",
            store=store,
            estimator=spec,
        )
        names.append(name)
    return names


async def test_results_offers_and_shows_the_estimator_audit(
    sample: datasetmod.Dataset, store: Store
) -> None:
    names = await _runs_of_every_estimator(sample, store)
    expected = audit.report_audit(store, sample, "run-first-token")
    assert expected is not None and len(expected.runs) == 5
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await settle(pilot)
        # Each run's estimator is in the run list; go to the first-token run.
        table = screen.query_one("#results-runs", DataTable)
        for name in names:
            assert table.get_row(name)[5].plain == name.removeprefix("run-")
        table.move_cursor(row=table.get_row_index("run-first-token"))
        await settle(pilot)
        assert screen.loaded is not None and screen.loaded.name == "run-first-token"
        assert screen.related["run-first-token"] == tuple(names[1:])
        status = str(screen.query_one("#results-status", Static).render())
        assert "estimator first-token" in status
        assert "a audits it against 4 runs with other estimators" in status
        await pilot.press("a")
        await settle(pilot)
        assert screen.view == "audit"
        pane = screen.query_one(EstimatorAuditPane)
        shown = pane.audit
        assert shown is not None and shown.run_names == expected.run_names
        # Per country, each estimator's score with its interval.
        countries = pane.countries_table
        assert [str(c.label) for c in countries.columns.values()] == [
            "Country",
            *ESTIMATOR_NAMES,
            "spread",
        ]
        assert countries.row_count == len(expected.countries)
        top = expected.countries[0]
        row = countries.get_row(top.country)
        assert row[0].plain == top.display
        assert [cell.plain for cell in row[1:6]] == [score_cell(s) for s in top.scores]
        first_score = top.scores[0]
        assert first_score is not None and first_score.ci_low is not None
        assert row[1].plain.startswith(f"{first_score.similarity:.3f} ({first_score.ci_low:.3f}")
        # The most disagreeing questions, most first.
        questions = pane.questions_table
        assert questions.row_count == len(expected.questions)
        worst = expected.questions[0]
        assert questions.get_row_at(0)[0] == str(worst.question_id)
        assert questions.get_row_at(0)[1] == f"{worst.max_distance:.3f}"
        assert list(questions.get_row_at(0)[3:8]) == list(worst.argmax)
        # The headline: agreement, refusals, order flips, parse rate.
        pair = expected.first_token_vs_free_text[0]
        (refusal,) = expected.refusals
        (order,) = expected.order
        (parse,) = expected.parse
        headline = pane.headline_text
        assert f"{expected.common} common questions" in headline
        assert (
            f"first-token vs free-text argmax agreement {percent(pair.agreement)} "
            f"({pair.agree:g}/{pair.n})" in headline
        )
        assert f"refusal rate {percent(refusal.rate)} ({refusal.refused}/{refusal.replies})" in (
            headline
        )
        assert f"({order.flipped}/{order.questions})" in headline
        assert f"parse rate {percent(parse.rate)} ({parse.ok}/{parse.ok + parse.failed})" in (
            headline
        )
        assert refusal.rate == pytest.approx(0.25)  # every fourth reply refuses
        # The summary: every pair, the letter prior (A is the model's favourite letter).
        text = pane.summary_text
        assert len([line for line in text.splitlines() if " vs " in line]) == 10
        (prior,) = expected.priors
        k4 = next(p for p in prior.by_options if p.options == 4)
        assert f"4 options: A {k4.prior[0]:.2f} B {k4.prior[1]:.2f}" in text
        assert k4.prior[0] > max(k4.prior[1:])
        # Enter on a question opens it in Browse; Esc goes back to the scores.
        tabs = pane.query_one(TabbedContent)
        tabs.active = "audit-questions-tab"
        await pilot.pause()
        pane.focus_table()
        await pilot.press("enter")
        await pilot.pause()
        assert app.opened == [worst.position]
        await pilot.press("escape")
        await settle(pilot)
        assert screen.view == "scores"
        assert not app.errors


async def test_a_run_without_related_runs_has_no_audit(
    sample: datasetmod.Dataset, store: Store
) -> None:
    await runner.run(
        name="alone",
        dataset=sample,
        positions=POSITIONS,
        backend=ContentModel(),
        backend_name="fake",
        condition=Condition("default"),
        template="paper",
        store=store,
    )
    app = StyledHarnessApp(sample, store, None, ResultsScreen)
    notes: list[str] = []
    app.notify = lambda message, **_: notes.append(message)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await settle(pilot)
        assert screen.related == {"alone": ()}
        assert "a audits" not in str(screen.query_one("#results-status", Static).render())
        await pilot.press("a")
        await settle(pilot)
        assert screen.view == "scores"
        assert any("No other run of alone's questions" in n for n in notes)


# --------------------------------------------------------------------------- snapshots

SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_browse_with_every_estimator(snap_compare: Any, tmp_path: Path, size: Any) -> None:
    """Five estimators of one question, the verbalized one failed in its place."""
    app = make_app(tmp_path, fake=ContentModel(verbalized_fails=True))

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await ready(pilot)
        assert isinstance(pilot.app, GoqaApp)
        pilot.app.backend_name = "fake"
        screen.jump_to(2)
        await settle(pilot)
        await pilot.press("E", "a")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_run_view_with_its_estimator(snap_compare: Any, tmp_path: Path, size: Any) -> None:
    app = make_app(tmp_path, fake=ContentModel())

    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        assert isinstance(pilot.app, GoqaApp)
        pilot.app.backend_name = "fake"
        await pilot.press("2")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-estimator", Select).value = "prior-corrected"
        await pilot.pause()
        screen.query_one("#run-name", Input).value = "default-fake-prior-corrected"
        pilot.app.animation_level = "none"  # the idle progress bar stands still
        screen.set_focus(None)  # no blinking cursor in the name field
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_experiments_with_an_estimator(
    snap_compare: Any, tmp_path: Path, size: Any
) -> None:
    app = make_app(tmp_path, fake=ContentModel())

    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        assert isinstance(pilot.app, GoqaApp)
        pilot.app.backend_name = "fake"
        await pilot.press("e")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ExperimentScreen)
        screen.query_one("#exp-estimator", Select).value = "order-averaged"
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_results_estimator_audit(
    snap_compare: Any, tmp_path: Path, size: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.app import create_app

    monkeypatch.setattr("core.store.now", lambda: "2026-01-02T03:04:05+00:00")
    monkeypatch.setattr(
        "tui.widgets.run_table.created_label", lambda text: text[:16].replace("T", " ")
    )
    store_path = tmp_path / "data" / "goqa.sqlite3"
    store_path.parent.mkdir(parents=True)
    with Store(store_path) as store:
        asyncio.run(_runs_of_every_estimator(datasetmod.load(), store))
    app = create_app(
        config_path=tmp_path / "config" / "config.toml",
        store_path=store_path,
        backends={"fake": ContentModel()},
        start_view="results",
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ResultsScreen)
        table = screen.query_one("#results-runs", DataTable)
        table.move_cursor(row=table.get_row_index("run-first-token"))
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert screen.view == "audit"
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
