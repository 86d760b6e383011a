"""Shared pieces of the app tests: fake backends, the app and a harness, waiting for workers.

The fakes implement the :class:`core.backends.base.Backend` protocol with deterministic
answers so tests can compute the expected chart independently. :class:`HarnessApp` is a
minimal app implementing :class:`tui.contract.GoqaContract`, the contract screens are
written against, so one screen can be tested on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from textual import on
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from core.backends.base import Answer, Backend, BackendError, PartialCallback, Sample, TextRequest
from core.config import LOCAL_DEFAULT, BackendConfig, Config, ConfigError
from core.dataset import Dataset
from core.metrics import Policy
from core.prompts import Condition, Prompt, TemplateName, parse_template
from core.runs import as_policy
from core.store import Store, StoreError
from themes import STYLESHEET
from tui.app import GoqaApp, create_app
from tui.contract import (
    READ_ONLY,
    UNAVAILABLE,
    CountryOpenRequested,
    Default,
    GoqaContract,
    QuestionOpenRequested,
    RunsCompareRequested,
    ViewName,
    ViewRequested,
)
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

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        """No generated text: this fake answers first-token asks only."""
        raise BackendError("This test backend writes no text (it answers first-token asks).")

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

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        """No generated text: this fake answers first-token asks only."""
        raise BackendError("This test backend writes no text (it answers first-token asks).")

    async def aclose(self) -> None:
        pass


class FakeBackend:
    """Deterministic distributions from a hash of the prompt; optionally slow or sampling.

    With ``hold_after=k`` the first k calls answer and later ones wait for ``release``: a run
    that is cancelled then has exactly k answers stored, whatever the machine's speed. With
    ``suspect_every=k`` every k-th call puts 80% of its mass off the option letters (a
    suspect answer); with ``fail_every=k`` every k-th call fails.

    Attributes:
        calls: ``ask`` calls started; ``completed``: calls that returned an answer.
    """

    kind = "fake"
    mode = "logits"
    base_url = ""

    def __init__(
        self,
        name: str = "fake",
        model: str = "fake-1",
        delay: float = 0.0,
        samples: int = 0,
        fail_every: int = 0,
        hold_after: int | None = None,
        suspect_every: int = 0,
    ) -> None:
        self.name = name
        self.model = model
        self.delay = delay
        self.samples = samples
        self.fail_every = fail_every
        self.hold_after = hold_after
        self.suspect_every = suspect_every
        self.release = asyncio.Event()
        self.calls = 0
        self.completed = 0
        self.asked: list[str] = []

    def request_params(self) -> dict[str, Any]:
        return {"samples": self.samples}

    @staticmethod
    def distribution(prompt: Prompt) -> np.ndarray:
        digest = hashlib.sha256(prompt.text.encode("utf-8")).digest()
        weights = np.array([digest[i] + 1.0 for i in range(len(prompt.letters))])
        return weights / weights.sum()

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        self.calls += 1
        call = self.calls
        if self.fail_every and call % self.fail_every == 0:
            raise BackendError("fake failure", retryable=False)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold_after is not None and call > self.hold_after:
            await self.release.wait()
        probs = self.distribution(prompt)
        if self.samples and on_partial is not None:
            for i in range(1, self.samples):
                on_partial(
                    Answer(
                        probs=probs * i / self.samples, off_option_mass=0.0, estimator="sampling"
                    )
                )
                await asyncio.sleep(0)
        self.completed += 1
        self.asked.append(prompt.text)
        suspect = bool(self.suspect_every) and call % self.suspect_every == 0
        return Answer(
            probs=probs,
            off_option_mass=0.8 if suspect else 0.0,
            estimator="sampling" if self.samples else "logits",
            samples=self.samples,
        )

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        """No generated text: this fake answers first-token asks only."""
        raise BackendError("This test backend writes no text (it answers first-token asks).")

    async def aclose(self) -> None:
        return None


FAKE_CONFIG = BackendConfig(
    name="fake",
    kind="openai",
    base_url="http://fake.invalid/v1",
    model="fake-1",
    concurrency=4,
    max_retries=0,
)
"""The configured backend the harness's default :class:`FakeBackend` stands for."""


class HarnessApp(App[None]):
    """A minimal app implementing :class:`tui.contract.GoqaContract` around one screen.

    It keeps what the real app would do out of the way: settings change in memory only,
    errors are recorded in :attr:`errors` (and notified), navigation that screens ask for
    is recorded (:attr:`opened`, :attr:`countries_opened`, :attr:`views`,
    :attr:`comparisons`) instead of switching views.
    """

    config: reactive[Config] = reactive(Config, init=False)
    condition: reactive[Condition] = reactive(Condition("default"))
    backend_name: reactive[str] = reactive("fake")
    template: reactive[TemplateName] = reactive("paper")
    policy: reactive[Policy] = reactive("keep")
    dataset_ready: reactive[bool] = reactive(True)
    dataset_problem: reactive[str] = reactive("")
    store_ready: reactive[bool] = reactive(False)
    store_problem: reactive[str] = reactive("")

    def __init__(
        self,
        dataset: Dataset,
        store: Store | None,
        backends: Mapping[str, Backend] | None = None,
        screen: Callable[[], Screen[None]] | None = None,
        config: Config | None = None,
    ) -> None:
        """Build the harness.

        Args:
            dataset: the dataset, loaded at once.
            store: the results store; None for one that could not be opened (``store``
                then raises, as the app's does).
            backends: backends by name (default: a :class:`FakeBackend` called ``fake``).
            screen: builds the screen pushed at start.
            config: the config (default: the local backend and ``fake``, the default).
        """
        super().__init__()
        self._dataset = dataset
        self._store = store
        self.backends: dict[str, Backend] = (
            dict(backends) if backends is not None else {"fake": FakeBackend()}
        )
        self.set_reactive(
            HarnessApp.config,
            config
            or Config(
                backends={"local": LOCAL_DEFAULT, "fake": FAKE_CONFIG}, default_backend="fake"
            ),
        )
        self.set_reactive(HarnessApp.store_ready, store is not None)
        self.config_path = Path(self.config.path or "config.toml")
        self.filtered_positions: list[int] = list(range(len(dataset)))
        self.errors: list[BaseException] = []
        self.opened: list[int] = []
        """Positions of the questions screens asked to open in Browse."""
        self.countries_opened: list[str | None] = []
        self.views: list[ViewName] = []
        self.comparisons: list[tuple[str, str]] = []
        """(reference, run) pairs screens asked to compare."""
        self.saved: dict[str, str | float] = {}
        """Every setting :meth:`save_settings` was given, last value wins."""
        self.choices: list[str] = []
        """``condition`` or ``backend`` for each choosing dialog asked for."""
        self._screen_factory = screen

    def compose(self) -> ComposeResult:
        yield Static("home")

    def on_mount(self) -> None:
        if self._screen_factory is not None:
            self.push_screen(self._screen_factory())

    # ------------------------------------------------------------------ the contract

    @property
    def dataset(self) -> Dataset:
        return self._dataset

    @property
    def store(self) -> Store:
        if self._store is None:
            raise StoreError("it is not open.")
        return self._store

    @property
    def backend_names(self) -> list[str]:
        return list(self.config.backends) + [
            n for n in self.backends if n not in self.config.backends
        ]

    def store_unavailable(self, *, write: bool = True) -> str:
        try:
            store = self.store
        except StoreError as exc:
            return UNAVAILABLE + str(exc)
        if write and store.read_only:
            return READ_ONLY + (store.read_only_reason or "it was opened for reading only.")
        return ""

    def get_backend(self, name: str | None = None) -> Backend:
        name = name or self.backend_name
        if name not in self.backends:
            raise ConfigError(f"No backend {name!r} in this harness.")
        return self.backends[name]

    def show_error(
        self, exc: BaseException, *, modal: bool = False, title: str | None = None
    ) -> None:
        self.errors.append(exc)
        self.notify(str(exc), title=title or "", severity="error", markup=False)

    def report_worker(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.show_error(event.worker.error)

    def save_settings(self, **settings: str | float) -> None:
        """Settings change in memory only (and are recorded in :attr:`saved`)."""
        self.saved.update(settings)
        text = {k: str(v) for k, v in settings.items() if k != "max_off_option"}
        cfg = self.config
        self.config = replace(
            cfg,
            default_backend=text.get("default_backend", cfg.default_backend),
            template=parse_template(text["template"]) if "template" in text else cfg.template,
            policy=as_policy(text["policy"]) if "policy" in text else cfg.policy,
            theme=text.get("theme", cfg.theme),
            max_off_option=float(settings.get("max_off_option", cfg.max_off_option)),
        )

    def use_as_default(self, *what: Default, backend: str | None = None) -> None:
        settings: dict[str, str] = {}
        if "backend" in what:
            self.backend_name = backend or self.backend_name
            settings["default_backend"] = self.backend_name
        if "template" in what:
            settings["template"] = self.template
        if "policy" in what:
            settings["policy"] = self.policy
        self.save_settings(**settings)

    def action_choose_condition(self) -> None:
        self.choices.append("condition")

    def action_choose_backend(self) -> None:
        self.choices.append("backend")

    # ------------------------------------------------------------------ navigation

    @on(ViewRequested)
    def _view_requested(self, event: ViewRequested) -> None:
        self.views.append(event.view)

    @on(QuestionOpenRequested)
    def _question_open_requested(self, event: QuestionOpenRequested) -> None:
        self.opened.append(event.position)

    @on(CountryOpenRequested)
    def _country_open_requested(self, event: CountryOpenRequested) -> None:
        self.countries_opened.append(event.key)

    @on(RunsCompareRequested)
    def _runs_compare_requested(self, event: RunsCompareRequested) -> None:
        self.comparisons.append((event.reference, event.run))


if TYPE_CHECKING:
    # mypy checks that the harness implements the same contract as the app.
    _implements_contract: type[GoqaContract] = HarnessApp


class StyledHarnessApp(HarnessApp):
    """The harness styled by the app's stylesheet, so screens look (and lay out) as in the app."""

    CSS_PATH = [STYLESHEET]


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


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
