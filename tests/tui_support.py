"""Shared pieces of the app tests: fake backends, an app factory, waiting for workers.

The fakes implement the :class:`core.backends.base.Backend` protocol with deterministic
answers so tests can compute the expected chart independently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from textual.pilot import Pilot
from textual.worker import WorkerState

from core.backends.base import Answer, PartialCallback
from core.prompts import Prompt
from tui.app import GoqaApp, create_app
from tui.screens.browse import BrowseScreen
from tui.widgets.chart import ChartData, DistributionChart

SIZE = (120, 36)


def descending(k: int) -> np.ndarray:
    """The fixed model distribution over k options: weights k, k-1, …, 1, normalised."""
    weights = np.arange(k, 0, -1, dtype=np.float64)
    return weights / weights.sum()


class FixedBackend:
    """Answers every prompt with :func:`descending` at once, like a logprobs backend."""

    kind = "fake"
    mode = "completions"
    base_url = ""

    def __init__(self, name: str = "fake", off_option_mass: float = 0.05) -> None:
        self.name = name
        self.model = "fake-1"
        self.off_option_mass = off_option_mass
        self.prompts: list[Prompt] = []
        self.closed = False

    def request_params(self) -> dict[str, Any]:
        return {"fake": "fixed"}

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        self.prompts.append(prompt)
        return Answer(
            probs=descending(len(prompt.letters)),
            off_option_mass=self.off_option_mass,
            estimator="logprobs",
        )

    async def aclose(self) -> None:
        self.closed = True


class SteppedSamplingBackend:
    """A sampling backend whose samples the test releases one at a time.

    Sample ``i`` is the letter ``letters[i]``; after each one ``on_partial`` gets the counts so
    far. Odd samples are reported from a worker thread, even ones from the event loop, as
    real backends may do either.
    """

    kind = "fake"
    mode = "chat"
    base_url = ""

    def __init__(self, letters: Sequence[str], name: str = "sampler") -> None:
        self.name = name
        self.model = "sampler-1"
        self.letters = list(letters)
        self.step = asyncio.Semaphore(0)
        self.asked = asyncio.Event()

    def request_params(self) -> dict[str, Any]:
        return {"fake": "sampling", "n": len(self.letters)}

    def counts(self, n: int, k: int) -> np.ndarray:
        """The distribution after the first ``n`` samples."""
        counts = np.zeros(k)
        for letter in self.letters[:n]:
            counts[ord(letter) - ord("A")] += 1
        return counts / n

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        self.asked.set()
        k = len(prompt.letters)
        answer = None
        for n in range(1, len(self.letters) + 1):
            await self.step.acquire()
            answer = Answer(
                probs=self.counts(n, k), off_option_mass=0.0, estimator="sampling", samples=n
            )
            if on_partial is not None:
                if n % 2:
                    await asyncio.to_thread(on_partial, answer)
                else:
                    on_partial(answer)
        assert answer is not None
        return answer

    async def aclose(self) -> None:
        pass


def make_app(tmp_path: Path, dataset: str | None = None, **backends: Any) -> GoqaApp:
    """An app with its config and store under ``tmp_path`` and the given fake backends."""
    return create_app(
        dataset_spec=dataset,
        config_path=tmp_path / "config" / "config.toml",
        store_path=tmp_path / "data" / "goqa.sqlite3",
        backends=backends or None,
    )


async def settle(pilot: Pilot[Any], timeout: float = 20) -> None:
    """Wait until every worker is done and the messages they posted are handled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while quiet < 3:
        await pilot.pause(0.01)
        busy = any(w.is_running or w.state == WorkerState.PENDING for w in pilot.app.workers)
        quiet = 0 if busy else quiet + 1
        if loop.time() > deadline:
            raise AssertionError(f"workers still running: {list(pilot.app.workers)}")


async def ready(pilot: Pilot[Any]) -> BrowseScreen:
    """Wait for the dataset to load; the browse screen."""
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, GoqaApp) and app.dataset_ready
    screen = app.screen_stack[0]
    assert isinstance(screen, BrowseScreen)
    return screen


def chart_data(pilot: Pilot[Any]) -> ChartData:
    data = pilot.app.screen.query_one(DistributionChart).data
    assert data is not None
    return data
