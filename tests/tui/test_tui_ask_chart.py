"""The ask-and-chart flow Browse and the demo share (tui.widgets.ask_chart.AskChart).

The widget on its own (no app contract: an :class:`AskRequest` is all it is given), then both
screens charting an answer through it.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.tui import (
    SIZE,
    FakeBackend,
    FixedBackend,
    HarnessApp,
    SteppedSamplingBackend,
    descending,
    settle,
    wait_for,
)
from textual import on
from textual.app import App, ComposeResult

from core import asking
from core import compared as comparison
from core.backends.base import Backend, BackendError
from core.backends.retry import RetryPolicy
from core.dataset import Dataset
from core.estimators import EstimatorSpec
from core.prompts import Condition
from core.store import Store
from tui.screens.browse import AskKey, BrowseScreen
from tui.screens.demo import DemoScreen
from tui.widgets.ask_chart import AskChart, AskRequest
from tui.widgets.chart import DistributionChart


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def request(
    sample: Dataset, position: int, backend: Backend, cache: Store | None = None
) -> AskRequest:
    return AskRequest(
        question=sample.at(position),
        dataset=sample,
        backend=backend,
        condition=Condition("default"),
        template="paper",
        store=cache,
        cache=cache,
        retry=RetryPolicy(max_retries=0),
        max_off_option=0.5,
    )


class ChartApp(App[None]):
    """Just the widget, and a record of the messages that reach its parent."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, Hashable]] = []
        self.errors: list[BaseException | None] = []

    def compose(self) -> ComposeResult:
        yield AskChart(id="chart")

    @on(AskChart.PartialAnswerReceived)
    def _partial(self, event: AskChart.PartialAnswerReceived) -> None:
        self.seen.append(("partial", event.key))

    @on(AskChart.AnswerReceived)
    def _answer(self, event: AskChart.AnswerReceived) -> None:
        self.seen.append(("answer", event.key))

    @on(AskChart.AskEnded)
    def _ended(self, event: AskChart.AskEnded) -> None:
        self.seen.append(("ended", event.key))
        self.errors.append(event.error)


async def test_the_widget_asks_streams_and_keeps_answers_by_key(sample: Dataset) -> None:
    sampler = SteppedSamplingBackend(["A", "B", "A"])
    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(AskChart)
        assert isinstance(chart, DistributionChart)  # styled and queried as the chart
        chart.ask("q2", lambda: request(sample, 2, sampler))
        assert chart.states["q2"].pending and chart.asking
        await wait_for(pilot, sampler.asked.is_set)
        k = len(sample.at(2).options)
        sampler.step.release()
        await wait_for(pilot, lambda: ("partial", "q2") in app.seen)
        state = chart.states["q2"]
        assert state.pending and state.answer is not None
        np.testing.assert_allclose(state.answer.probs, sampler.counts(1, k))
        sampler.step.release()
        sampler.step.release()
        await settle(pilot)
        state = chart.states["q2"]
        assert not state.pending and not state.cached and state.error == ""
        np.testing.assert_allclose(state.answer.probs, sampler.counts(3, k))  # type: ignore[union-attr]
        assert app.seen[-1] == ("answer", "q2")
        # Drawing: the model's row first, with the answer; the countries after.
        q = sample.at(2)
        chart.draw(
            q,
            "q2",
            comparison.choose(q, state.answer.probs),  # type: ignore[union-attr]
            model_tag="tag",
            caption="cap",
            asking="asking…",
        )
        assert chart.data is not None and chart.data.series[0].kind == "model"
        assert chart.data.series[0].tag == "tag" and chart.data.caption == "cap"
        assert not chart.data.pending and chart.data.status == ""
        # A key never asked draws the countries only.
        chart.draw(q, "other", comparison.choose(q, None), model_tag="", caption="", asking="")
        assert all(s.kind == "country" for s in chart.data.series)


async def test_a_second_ask_drops_the_first_answer(sample: Dataset) -> None:
    slow = SteppedSamplingBackend(["A"])
    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(AskChart)
        chart.ask("q", lambda: request(sample, 2, slow))
        await wait_for(pilot, slow.asked.is_set)
        fixed = FixedBackend()
        chart.ask("q", lambda: request(sample, 2, fixed))  # same key: the first is stale
        await settle(pilot)
        slow.step.release()
        await settle(pilot)
        state = chart.states["q"]
        np.testing.assert_allclose(state.answer.probs, descending(len(sample.at(2).options)))  # type: ignore[union-attr]
        assert app.seen.count(("answer", "q")) == 1
        assert app.errors == []  # the first was cancelled: nothing to report


async def test_a_failed_ask_keeps_its_reason_and_is_reported(sample: Dataset) -> None:
    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(AskChart)
        chart.ask("q", lambda: request(sample, 2, FakeBackend(fail_every=1)))
        await settle(pilot)
        assert chart.states["q"].error == "fake failure" and not chart.states["q"].pending
        assert isinstance(app.errors[-1], BackendError)

        def unbuildable() -> AskRequest:
            raise BackendError("no such backend", retryable=False)

        chart.ask("r", unbuildable)  # building the request fails like asking does
        await settle(pilot)
        assert chart.states["r"].error == "no such backend"
        q = sample.at(2)
        chart.draw(q, "r", [], model_tag="", caption="", asking="asking…")
        assert chart.data is not None and chart.data.error == "no such backend"
        assert chart.data.series[0].values == () and chart.data.status == ""


async def test_the_cache_is_used_and_marked(sample: Dataset, store: Store) -> None:
    fixed = FixedBackend()
    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(AskChart)
        chart.ask("q", lambda: request(sample, 2, fixed, store))
        await settle(pilot)
        assert not chart.states["q"].cached and len(fixed.prompts) == 1
        chart.ask("q", lambda: request(sample, 2, fixed, store))
        await settle(pilot)
        assert chart.states["q"].cached and len(fixed.prompts) == 1
        # A look-up finds it without asking; it never replaces what a key already has.
        chart.look_up("seen", request(sample, 2, fixed, store))
        await settle(pilot)
        assert chart.states["seen"].cached and chart.states["seen"].answer is not None
        chart.look_up("none", request(sample, 3, fixed, store))
        await settle(pilot)
        assert chart.states["none"].answer is None and len(fixed.prompts) == 1


async def test_browse_and_demo_chart_through_the_shared_widget(
    sample: Dataset, store: Store
) -> None:
    expected = FakeBackend.distribution(
        asking.prompt_builder(sample, Condition("default"), "paper")(sample.at(0))
    )
    backend = FakeBackend()
    browse = HarnessApp(sample, store, {"fake": backend}, BrowseScreen)
    async with browse.run_test(size=SIZE) as pilot:
        screen = browse.screen
        assert isinstance(screen, BrowseScreen)
        await settle(pilot)
        assert screen.position == 0
        await pilot.press("a")
        await settle(pilot)
        chart = screen.query_one(AskChart)
        key = AskKey(sample.keys[0], "fake", Condition("default"), "paper")
        assert chart is screen.chart and set(chart.states) == {key}
        assert chart.data is not None and chart.data.series[0].kind == "model"
        assert chart.data.series[0].values == pytest.approx(tuple(expected))
        assert "from cache" not in chart.data.caption
    assert backend.calls == 1

    # The demo on the same store: the answer comes from the cache, and says so.
    demo = HarnessApp(
        sample, store, {"fake": backend}, lambda: DemoScreen([0, 1], Condition("default"), 60.0)
    )
    async with demo.run_test(size=SIZE) as pilot:
        screen = demo.screen
        assert isinstance(screen, DemoScreen)
        await wait_for(pilot, lambda: screen.answer is not None)
        chart = screen.query_one(AskChart)
        assert chart is screen.chart
        assert chart.data is not None and chart.data.series[0].values == pytest.approx(
            tuple(expected)
        )
        assert screen.cached and "from the cache" in chart.data.caption
        await pilot.pause()
        status = str(screen.query_one("#demo-status").render())
        assert "cached" in status
        assert backend.calls == 1
        await pilot.press("right")
        await wait_for(pilot, lambda: screen.position == 1 and screen.answer is not None)
        assert backend.calls == 2 and not screen.cached
        first_token = EstimatorSpec()
        assert set(chart.states) == {
            (0, Condition("default"), first_token),
            (1, Condition("default"), first_token),
        }
