"""Asking from the browse screen: the model row, the closest countries, live sampling, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from support.tui import (
    SIZE,
    FixedBackend,
    SteppedSamplingBackend,
    chart_data,
    descending,
    make_app,
    ready,
    settle,
)
from textual.pilot import Pilot

from core import countries
from core.backends.base import Answer, BackendError, MissingDependencyError
from core.dataset import Dataset, Question
from core.prompts import Condition, Prompt, render
from tui.app import GoqaApp
from tui.widgets.chart import ChartData, DistributionChart

Notes = list[tuple[str, str, str]]


def record_notifications(app: GoqaApp) -> Notes:
    """Replace ``app.notify`` with a recorder of (title, message, severity)."""
    notes: Notes = []

    def notify(message: str, *, title: str = "", severity: str = "information", **_: Any) -> None:
        notes.append((title, message, severity))

    app.notify = notify  # type: ignore[method-assign]
    return notes


def busy_question(data: Dataset) -> int:
    """A question with many countries and a non-substantive option."""
    return next(
        p
        for p in range(len(data))
        if len(data.at(p).countries) >= 30 and data.at(p).nonsubstantive.any()
    )


def closest(q: Question, model: np.ndarray, n: int = 3) -> list[tuple[str, float]]:
    """An independent oracle: scipy's JSD (base 2), one sample per country, best first."""
    sims = []
    for key in q.countries:
        h = q.distribution(key)
        assert h is not None
        sims.append((key, 1.0 - float(jensenshannon(model, h, base=2))))
    sims.sort(key=lambda kv: (-kv[1], kv[0]))
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for key, sim in sims:
        iso = countries.resolve(key).iso2 or key
        if iso not in seen:
            seen.add(iso)
            out.append((key, sim))
    return out[:n]


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.01)


async def test_ask_shows_model_and_closest_countries(tmp_path: Path, sample: Dataset) -> None:
    pos = busy_question(sample)
    q = sample.at(pos)
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.backend_name = "fake"
        screen.jump_to(pos)
        await pilot.press("a")
        await settle(pilot)
        data = chart_data(pilot)
        model = descending(len(q.options))
        assert data.series[0].kind == "model" and data.series[0].label == "Model"
        assert data.series[0].values == pytest.approx(tuple(model))
        assert data.series[0].tag == "fake · Default"
        expected = closest(q, model)
        shown = data.series[1:]
        assert [s.label for s in shown] == [countries.resolve(k).label for k, _ in expected]
        for series, (_, sim) in zip(shown, expected, strict=True):
            assert series.similarity == pytest.approx(sim, abs=1e-9)
        assert not data.pending
        assert "estimator first-token (logprobs)" in data.caption
        assert "off-option mass 5.0%" in data.caption
        # The prompt was the paper's, for this question, under the default condition.
        assert len(fake.prompts) == 1
        assert fake.prompts[0].text == render(q, Condition("default"), "paper").text
        # The legend and the bars show the numbers.
        text = screen.query_one(DistributionChart).render().plain
        best_key, best_sim = expected[0]
        assert f"{countries.resolve(best_key).label} {best_sim:.3f}" in text  # compact legend
        assert f"{model[0] * 100:6.1f}%" in text
        # Asking again is answered by the response cache: no second request.
        await pilot.press("a")
        await settle(pilot)
        assert len(fake.prompts) == 1
        assert "from cache" in chart_data(pilot).caption


async def test_cached_answer_appears_on_selection(tmp_path: Path, sample: Dataset) -> None:
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.backend_name = "fake"
        await pilot.press("a")  # question 0
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        assert all(s.kind == "country" for s in chart_data(pilot).series)
        await pilot.press("up")
        await settle(pilot)
        assert chart_data(pilot).series[0].kind == "model"
    # A new app on the same store finds the answer without asking.
    fresh = FixedBackend()
    again = make_app(tmp_path, fake=fresh)
    async with again.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        again.backend_name = "fake"
        await settle(pilot)
        data = chart_data(pilot)
        assert screen.position == 0
        assert data.series[0].kind == "model" and "from cache" in data.caption
        assert fresh.prompts == []


async def test_sampling_bars_grow_sample_by_sample(tmp_path: Path, sample: Dataset) -> None:
    pos = next(p for p in range(len(sample)) if len(sample.at(p).options) >= 3)
    q = sample.at(pos)
    sampler = SteppedSamplingBackend(["B", "A", "B", "C", "B"])
    app = make_app(tmp_path, sampler=sampler)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.backend_name = "sampler"
        screen.jump_to(pos)
        await pilot.pause()
        chart = screen.query_one(DistributionChart)
        states: list[ChartData] = []
        screen.watch(chart, "data", lambda data: states.append(data), init=False)
        await pilot.press("a")
        await wait_until(pilot, sampler.asked.is_set)
        await pilot.pause()
        assert chart_data(pilot).status == "asking sampler…" and chart_data(pilot).pending
        k = len(q.options)
        for n in range(1, 6):
            sampler.step.release()

            def counted(n: int = n) -> bool:
                return f"n={n}" in chart_data(pilot).caption

            await wait_until(pilot, counted)
            data = chart_data(pilot)
            assert data.series[0].values == pytest.approx(tuple(sampler.counts(n, k)))
            if n < 5:
                assert data.pending
        await settle(pilot)
        final = chart_data(pilot)
        assert not final.pending
        assert final.series[0].values == pytest.approx(tuple(sampler.counts(5, k)))
        assert "estimator first-token (sampling n=5)" in final.caption
        # The recorded states passed through every sample count, in order.
        seen = [
            s.series[0].values
            for s in states
            if s.series and s.series[0].kind == "model" and s.series[0].values
        ]
        expected = [tuple(sampler.counts(n, k)) for n in range(1, 6)]
        deduped = [v for i, v in enumerate(seen) if i == 0 or v != seen[i - 1]]
        assert deduped == [pytest.approx(e) for e in expected]


async def test_second_ask_cancels_the_first(tmp_path: Path, sample: Dataset) -> None:
    sampler = SteppedSamplingBackend(["A", "B"])
    app = make_app(tmp_path, sampler=sampler)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        notes = record_notifications(app)
        app.backend_name = "sampler"
        await pilot.press("a")
        await wait_until(pilot, sampler.asked.is_set)
        sampler.asked.clear()
        await pilot.press("down", "a")  # another question: the first ask is cancelled
        await wait_until(pilot, sampler.asked.is_set)
        running = [w for w in screen.workers if w.group == "ask" and w.is_running]
        assert len(running) == 1
        # Escape cancels the running ask cleanly: no error, no model row left behind.
        await pilot.press("escape")
        await settle(pilot)
        assert not any(w.is_running for w in screen.workers if w.group == "ask")
        assert all(s.kind == "country" for s in chart_data(pilot).series)
        assert [n for n in notes if n[2] == "error"] == []
        assert ("", "Ask cancelled.", "information") in notes
        # The question before was cancelled too: no model row there either.
        await pilot.press("up")
        await settle(pilot)
        assert all(s.kind == "country" for s in chart_data(pilot).series)


class FailingBackend(FixedBackend):
    def __init__(self, exc: BaseException) -> None:
        super().__init__("broken")
        self.exc = exc

    async def ask(self, prompt: Prompt, on_partial: object = None) -> Any:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "title", "fragment"),
    [
        (
            MissingDependencyError("llama-cpp-python is not installed."),
            "Local model not installed",
            "pip install 'goqa[local]'",
        ),
        (BackendError("HTTP 401 from the server: check the key"), "Backend error", "HTTP 401"),
        (RuntimeError("boom"), "Bug in goqa", "RuntimeError: boom"),
    ],
)
async def test_ask_failures_become_notifications(
    tmp_path: Path, exc: BaseException, title: str, fragment: str
) -> None:
    app = make_app(tmp_path, broken=FailingBackend(exc), fake=FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        notes = record_notifications(app)
        app.backend_name = "broken"
        await pilot.press("a")
        await settle(pilot)
        errors = [n for n in notes if n[2] == "error"]
        assert len(errors) == 1
        assert errors[0][0] == title and fragment in errors[0][1]
        assert "Traceback" not in errors[0][1]
        # The chart says why in place of the model's bars, and in full under them.
        data = chart_data(pilot)
        model = data.series[0]
        assert model.kind == "model" and model.values == ()
        assert data.error == errors[0][1]
        text = screen.query_one(DistributionChart).render().plain
        assert f"✗ not answered: {errors[0][1]}" in text
        model_rows = [line for line in text.splitlines() if line.strip().startswith("Model ")]
        assert len(model_rows) == len(data.options)
        assert all("│✗ " in row and "%" not in row for row in model_rows)
        assert "Traceback" not in text
        assert app.is_running
        # Asking again with a working backend replaces the reason with the answer.
        app.backend_name = "fake"
        await pilot.press("a")
        await settle(pilot)
        data = chart_data(pilot)
        assert data.error == "" and data.series[0].values


async def test_language_without_translations_says_how_to_make_them(tmp_path: Path) -> None:
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        notes = record_notifications(app)
        app.backend_name = "fake"
        app.condition = Condition("language", "qq")  # a code reserved for local use: no bundle
        await pilot.press("a")
        await settle(pilot)
        (title, message, severity), *_ = [n for n in notes if n[2] == "error"]
        assert title == "Translations missing"
        assert "goqa translate --language qq" in message
        assert fake.prompts == []


async def test_country_condition_prompt_and_chart(tmp_path: Path, sample: Dataset) -> None:
    pos = next(
        p
        for p in range(len(sample))
        if "Russia" in sample.at(p).countries and len(sample.at(p).countries) > 10
    )
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.backend_name = "fake"
        screen.jump_to(pos)
        # Choose the condition through the pickers, as a user would.
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "enter")  # Country…
        await pilot.pause()
        await pilot.press(*"russia", "enter")
        await pilot.pause()
        assert app.condition == Condition("country", "Russia")
        await pilot.press("a")
        await settle(pilot)
        assert "How would someone from Russia answer" in fake.prompts[0].text
        data = chart_data(pilot)
        assert data.series[0].tag == "fake · Country: Russia"
        russia = [s for s in data.series if s.label == "Russia"]
        assert len(russia) == 1 and russia[0].tag == "conditioned"


async def test_ask_through_the_openai_backend_and_a_real_server(
    tmp_path: Path, sample: Dataset
) -> None:
    from support.fakeserver import FakeServer

    pos = busy_question(sample)
    q = sample.at(pos)
    with FakeServer() as server:
        config = tmp_path / "config" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(
            'default_backend = "served"\n\n[backends.served]\nkind = "openai"\n'
            f'base_url = "{server.base_url}"\nmodel = "m"\nmode = "completions"\n',
            encoding="utf-8",
        )
        app = make_app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            assert app.backend_name == "served"
            screen.jump_to(pos)
            await pilot.press("a")
            await settle(pilot)
            prompt = render(q, Condition("default"), "paper")
            probs, off = server.expected(prompt.user)
            data = chart_data(pilot)
            assert data.series[0].values == pytest.approx(tuple(probs), abs=1e-6)
            assert f"off-option mass {off * 100:.1f}%" in data.caption
            assert "estimator first-token (logprobs)" in data.caption
            assert server.count("/v1/completions") == 1
            expected = closest(q, probs)
            assert [s.label for s in data.series[1:]] == [
                countries.resolve(k).label for k, _ in expected
            ]
        # The app closed its shared HTTP client on exit.
        assert app._client is None or app._client.is_closed


async def test_ask_button_with_the_mouse(tmp_path: Path, sample: Dataset) -> None:
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.backend_name = "fake"
        await pilot.click("#ask")
        await settle(pilot)
        assert len(fake.prompts) == 1
        assert chart_data(pilot).series[0].kind == "model"


async def test_language_condition_asks_the_translated_question(
    tmp_path: Path, sample: Dataset
) -> None:
    from core.translate import bundled_translations

    table = bundled_translations("ru")
    pos = next(p for p in range(len(sample)) if sample.keys[p] in table)
    text, options = table[sample.keys[pos]]
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.backend_name = "fake"
        screen.jump_to(pos)
        # Through the pickers: Condition → Language… → "ru".
        await pilot.press("c", "down", "down", "enter")
        await pilot.pause()
        await pilot.press(*"ru", "enter")
        await pilot.pause()
        assert app.condition == Condition("language", "ru")
        await pilot.press("a")
        await settle(pilot)
        assert len(fake.prompts) == 1
        assert text in fake.prompts[0].text and options[0] in fake.prompts[0].text
        assert chart_data(pilot).series[0].tag == "fake · Language: ru"


class NaNBackend(FixedBackend):
    """Returns probabilities that are not numbers: an unusable answer."""

    async def ask(self, prompt: Prompt, on_partial: object = None) -> Any:
        self.prompts.append(prompt)
        return Answer(
            probs=np.full(len(prompt.letters), np.nan), off_option_mass=0.0, estimator="logits"
        )


async def test_an_unusable_answer_shows_its_reason_and_is_not_cached(tmp_path: Path) -> None:
    nan = NaNBackend("nan")
    app = make_app(tmp_path, nan=nan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        notes = record_notifications(app)
        app.backend_name = "nan"
        await pilot.press("a")
        await settle(pilot)
        data = chart_data(pilot)
        assert "not finite numbers" in data.error
        assert data.series[0].kind == "model" and data.series[0].values == ()
        assert "a asks nan again" in data.caption
        text = screen.query_one(DistributionChart).render().plain
        assert "✗ not answered: The model's probabilities are not finite numbers" in text
        assert len([n for n in notes if n[2] == "error"]) == 1
        # Nothing was cached: asking again asks the backend again.
        await pilot.press("a")
        await settle(pilot)
        assert len(nan.prompts) == 2


def write_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def test_a_suspect_answer_is_marked_with_its_reason(tmp_path: Path, sample: Dataset) -> None:
    pos = busy_question(sample)
    doubtful = FixedBackend(off_option_mass=0.7)
    app = make_app(tmp_path, fake=doubtful)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.backend_name = "fake"
        screen.jump_to(pos)
        await pilot.press("a")
        await settle(pilot)
        data = chart_data(pilot)
        reason = (
            "70% of the probability fell outside the option letters (above max_off_option = 0.5)"
        )
        assert data.suspect == reason
        # The bars are drawn (the answer is usable), flagged in the legend, explained below.
        assert data.series[0].values == pytest.approx(tuple(descending(len(data.options))))
        text = screen.query_one(DistributionChart).render().plain
        assert f"⚠ suspect: {reason}" in text
        legend = text.splitlines()[0]
        assert legend.startswith("██ Model") and "⚠ suspect" in legend
    # A new app on the same store finds the answer in the cache on selection: still suspect.
    fresh = FixedBackend(off_option_mass=0.7)
    again = make_app(tmp_path, fake=fresh)
    async with again.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        again.backend_name = "fake"
        screen.jump_to(pos)
        await settle(pilot)
        data = chart_data(pilot)
        assert "from cache" in data.caption and data.series[0].kind == "model"
        assert data.suspect.startswith(reason)
        assert f"⚠ suspect: {reason}" in screen.query_one(DistributionChart).render().plain
        assert fresh.prompts == []


@pytest.mark.parametrize(("limit", "suspect"), [(0.8, False), (0.6, True)])
async def test_the_suspect_threshold_comes_from_the_config(
    tmp_path: Path, sample: Dataset, limit: float, suspect: bool
) -> None:
    write_config(tmp_path, f"max_off_option = {limit}\n")
    app = make_app(tmp_path, fake=FixedBackend(off_option_mass=0.7))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert app.config.max_off_option == limit
        app.backend_name = "fake"
        await pilot.press("a")
        await settle(pilot)
        data = chart_data(pilot)
        text = screen.query_one(DistributionChart).render().plain
        if suspect:
            assert data.suspect.endswith(f"(above max_off_option = {limit:g})")
            assert "⚠ suspect:" in text
        else:
            assert data.suspect == "" and "⚠" not in text
