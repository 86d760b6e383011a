"""The contract between goqa's app and its screens: what a screen may read, call and post.

Screens and widgets depend on :class:`GoqaContract`, never on :class:`tui.app.GoqaApp`: the
real app implements it, and so does the tests' harness app (``tests/support/tui.py``), so
a screen can be tested on its own. A screen reaches it through a typed accessor::

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

and keeps using ``self.app`` for what every Textual app has (``push_screen``, ``notify``,
``theme``…). Members documented as *watchable* are reactives in every implementation: react
to them with ``self.watch(self.app, "condition", callback)``.

Navigation between views travels as messages (:class:`ViewRequested`,
:class:`QuestionOpenRequested`, :class:`CountryOpenRequested`, :class:`RunsCompareRequested`):
a screen posts one to itself with ``self.post_message(...)``; it bubbles to the app, which
handles it in one place. A screen never calls another screen or the app's view switching.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker

from core.backends.base import Backend
from core.config import Config
from core.dataset import Dataset
from core.metrics import DEFAULT_METRIC, MetricName, Policy
from core.prompts import Condition, TemplateName
from core.store import Store, StoreError

ViewName = Literal["browse", "run", "results", "countries", "demo", "settings"]
"""The app's top-level views (Textual modes), switched with the keys 1-6."""

Default = Literal["backend", "template", "policy"]
"""A session choice that :meth:`GoqaContract.use_as_default` can write as the config's
default."""

UNAVAILABLE = "The results store is unavailable: "
READ_ONLY = "The results store is read-only: "


@runtime_checkable
class GoqaContract(Protocol):
    """What screens may use of the app (the real one or a test's harness)."""

    config: Config
    """Watchable: the configuration as the file holds it (defaults, backends, theme).
    Choosing a backend, condition, template or policy never changes it: those choices are
    the session's (below). Changed only by :meth:`save_settings` and
    :meth:`use_as_default`."""
    condition: Condition
    """Watchable: the session's prompting condition (``Condition("default")`` at start)."""
    backend_name: str
    """Watchable: the session's backend (starts as the config's ``default_backend``)."""
    template: TemplateName
    """Watchable: the session's prompt template, ``paper`` or ``v2``."""
    policy: Policy
    """Watchable: the session's non-substantive policy, ``keep`` or ``drop``."""
    filtered_positions: list[int]
    """The dataset positions the browse filter shows (all of them at start); Browse sets
    it, the run, demo, experiments and countries views start from it."""

    @property
    def config_path(self) -> Path:
        """The config file :meth:`save_settings` writes to."""
        ...

    @property
    def dataset_ready(self) -> bool:
        """Watchable: True once :attr:`dataset` is loaded (it loads in a worker)."""
        ...

    @property
    def dataset_problem(self) -> str:
        """Watchable: why the dataset could not be loaded ("" while loading or loaded)."""
        ...

    @property
    def dataset(self) -> Dataset:
        """The loaded dataset (RuntimeError while it is still loading)."""
        ...

    @property
    def store_ready(self) -> bool:
        """Watchable: True once the results store is open, perhaps read-only."""
        ...

    @property
    def store_problem(self) -> str:
        """Watchable: why the store is read-only or unavailable ("" otherwise)."""
        ...

    @property
    def store(self) -> Store:
        """The results store: the same SQLite file, runs and response cache as the CLI.

        When the real store could not be opened this may be a session-only store (answers
        asked in Browse are kept until the app exits); use :func:`available_store` to say
        which kind of store will do.

        Raises:
            StoreError: no store is open (still opening, or none could be opened).
        """
        ...

    @property
    def backend_names(self) -> list[str]:
        """The backends that can be chosen: the configured ones, then any given by a caller
        (e.g. a test's fakes)."""
        ...

    def store_unavailable(self, *, write: bool = True) -> str:
        """Why the results store cannot be used now ("" when it can).

        Args:
            write: runs are to be recorded (a read-only store will not do).
        """
        ...

    def get_backend(self, name: str | None = None) -> Backend:
        """The backend called ``name`` (default: :attr:`backend_name`), created once.

        Raises:
            ConfigError: no backend of that name.
            BackendError: it cannot be built (e.g. the local extra is missing).
        """
        ...

    def show_error(
        self, exc: BaseException, *, modal: bool = False, title: str | None = None
    ) -> None:
        """Tell the user what went wrong and how to fix it (a notification, or a modal with
        ``modal=True``); never a traceback."""
        ...

    def report_worker(self, event: Worker.StateChanged) -> None:
        """Call it from a screen's ``@on(Worker.StateChanged)``: a failed worker's error goes
        to :meth:`show_error`."""
        ...

    def save_settings(self, **settings: str | float) -> None:
        """Write top-level settings to the config file (only these keys; the user's comments
        and layout stay), then update :attr:`config`.

        Args:
            settings: e.g. ``default_backend="vllm"``, ``theme="goqa-light"``.
        """
        ...

    def use_as_default(self, *what: Default, backend: str | None = None) -> None:
        """Write the session's choices named in ``what`` as the config's defaults.

        Args:
            what: which of ``"backend"``, ``"template"``, ``"policy"`` to write.
            backend: with ``"backend"``: the backend to make active and default (default:
                the session's).
        """
        ...

    def action_choose_condition(self) -> None:
        """Let the user pick the session's condition (Default, a country, a language)."""
        ...

    def action_choose_backend(self) -> None:
        """Let the user pick the session's backend."""
        ...


@runtime_checkable
class MetricChoice(Protocol):
    """The session's metric, as an app that keeps one across views offers it.

    :class:`tui.app.GoqaApp` implements it beside :class:`GoqaContract`; an app that does not
    (a test's harness) leaves each screen its own choice. Read and write it with
    :func:`session_metric` and :func:`choose_metric`.
    """

    metric: MetricName
    """Watchable: the metric the leaderboards and maps of the Results and Run views score
    under (:data:`core.metrics.METRIC_NAMES`; ``jsd``, the paper's, at start). Changing it
    never changes the config."""


def session_metric(app: object, fallback: MetricName = DEFAULT_METRIC) -> MetricName:
    """The session's metric, or ``fallback`` when the app keeps none (:class:`MetricChoice`)."""
    return app.metric if isinstance(app, MetricChoice) else fallback


def choose_metric(app: object, metric: MetricName) -> None:
    """Make ``metric`` the session's (nothing happens when the app keeps none)."""
    if isinstance(app, MetricChoice) and app.metric != metric:
        app.metric = metric


# ---------------------------------------------------------------------- navigation


@dataclass
class ViewRequested(Message):
    """A screen asks for a top-level view (e.g. Browse, when it is left)."""

    view: ViewName


@dataclass
class QuestionOpenRequested(Message):
    """A screen asks to show one question in Browse (filters that hide it are cleared)."""

    position: int
    """The question's dataset position."""


@dataclass
class CountryOpenRequested(Message):
    """A screen asks for the countries view on one country."""

    key: str | None
    """The country's raw dataset key (None: the view's default country)."""


@dataclass
class RunsCompareRequested(Message):
    """A screen asks for the results view comparing run ``run`` with run ``reference``."""

    reference: str
    """The run compared against (run A)."""
    run: str
    """The run shown against it (run B)."""


# ---------------------------------------------------------------------- helpers


def available_store(
    app: GoqaContract, *, write: bool = False, session: bool = False
) -> tuple[Store | None, str]:
    """The app's results store, or None and the sentence saying why it cannot be used.

    Args:
        app: the app (or a test's harness).
        write: the caller records answers (a read-only store will not do).
        session: a session-only store will do (asking from Browse or the demo, where the
            store is just the response cache); else only the real store does.

    Returns:
        (store, "") or (None, e.g. "The results store is unavailable: <reason>").
    """
    if not session and (problem := app.store_unavailable(write=write)):
        return None, problem
    try:
        store = app.store
    except StoreError as exc:
        return None, UNAVAILABLE + (str(exc) or type(exc).__name__)
    if write and store.read_only:
        return None, READ_ONLY + (store.read_only_reason or "it was opened for reading only.")
    return store, ""


def leave(screen: Screen[None]) -> None:
    """Close a pushed screen, or ask the app for Browse when the screen is a view itself."""
    if len(screen.app.screen_stack) > 1:
        screen.dismiss()
    else:
        screen.post_message(ViewRequested("browse"))
