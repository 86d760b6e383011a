"""The goqa Textual app: shared state, view switching, and errors handled in one place.

Build it with :func:`create_app` (``python -m tui`` and the tests do). Views are Textual modes
switched with the keys 1-6 (or F1-F6): ``browse``, ``run``, ``results``, ``countries``,
``demo``, ``settings``; ``?`` opens the help, ``ctrl+p`` the command palette, ``e`` the
experiments dialog (:mod:`tui.screens.experiments`, over the browse filter's questions).

Screens reach the app through :class:`tui.contract.GoqaContract` (the dataset, config, store,
session choices, backends, error reporting), which :class:`GoqaApp` implements; they ask for
navigation with the messages of :mod:`tui.contract` (open a view, a question, a country, a
comparison of runs), handled here in one place.

The dataset loads in a worker at start-up; every view except browse and settings opens only
once it is loaded. The results store opens in its own worker, independently of the dataset;
when it cannot be opened the app keeps browsing (with a session-only store when one can be
made) and says why once; the run, results and experiments views check
``store_unavailable()`` and say so instead of opening. A theme change is saved at once as the
config's ``theme`` (a preference); choosing a backend, condition, template or policy is the
session's, and "use as default" (Settings, the command palette) writes them to the file. The
metric the Results and Run views score under (``M`` there) is the session's too
(:class:`tui.contract.MetricChoice`), and never written.

Views are modes whose screens are built from the :data:`VIEWS` table:
``RunScreen(positions, condition)``, ``ResultsScreen()``, ``CountriesScreen(country)``,
``DemoScreen(positions, condition)``. The run and demo views are rebuilt from the current
filter and condition when those changed, unless one of their workers is still running.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import httpx
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from core import config as core_config
from core import countries, paths
from core import dataset as core_dataset
from core.backends.base import Backend
from core.config import Config, ConfigError
from core.dataset import Dataset
from core.metrics import DEFAULT_METRIC, MetricName, Policy
from core.prompts import Condition, TemplateName
from core.store import Store, StoreError
from themes import DEFAULT_THEME, STYLESHEET, THEMES
from tui.commands import GoqaCommands, PaletteHost
from tui.contract import (
    CountryOpenRequested,
    Default,
    GoqaContract,
    MetricChoice,
    QuestionOpenRequested,
    RunsCompareRequested,
    ViewName,
    ViewRequested,
)
from tui.errors import describe
from tui.screens.browse import BrowseScreen
from tui.screens.countries import CountriesScreen
from tui.screens.demo import DemoScreen
from tui.screens.experiments import CompareChoice, ExperimentScreen
from tui.screens.help import HelpScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.screens.settings import SettingsScreen
from tui.widgets.country_picker import CountryPicker
from tui.widgets.pickers import Picker, TextPrompt
from tui.widgets.status import condition_label


@dataclass(frozen=True)
class ViewArguments:
    """What a view's screen is built from; when they change, the view is built again."""

    positions: tuple[int, ...] = ()
    """The questions the browse filter showed (run, demo)."""
    condition: Condition = Condition("default")
    """The session's condition (run, demo)."""
    country: str | None = None
    """The country to open on (countries)."""


@dataclass(frozen=True)
class View:
    """A top-level view: a mode with its key and, for a view built on demand, its screen."""

    name: ViewName
    title: str
    key: str
    screen: Callable[[ViewArguments], Screen[None]] | None = None
    """Builds the view's screen (None: a mode of the app itself, built once)."""
    needs_store: Literal["", "read", "write"] = ""
    """The view reads runs (``read``) or records them (``write``): it opens only when the
    results store can do that."""


VIEWS: tuple[View, ...] = (
    View("browse", "Browse", "1"),
    View(
        "run",
        "Run",
        "2",
        lambda a: RunScreen(list(a.positions), a.condition),
        needs_store="write",
    ),
    View("results", "Results", "3", lambda a: ResultsScreen(), needs_store="read"),
    View("countries", "Countries", "4", lambda a: CountriesScreen(a.country)),
    View("demo", "Demo", "5", lambda a: DemoScreen(list(a.positions), a.condition)),
    View("settings", "Settings", "6"),
)
VIEW_BY_NAME: dict[str, View] = {v.name: v for v in VIEWS}
_VIEWS_GROUP = Binding.Group("Views", compact=True)
_LANGUAGE_CODE = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$"


def _view_bindings() -> list[BindingType]:
    bindings: list[BindingType] = []
    for n, view in enumerate(VIEWS, start=1):
        bindings.append(
            Binding(
                view.key,
                f"view('{view.name}')",
                view.title,
                id=f"view.{view.name}",
                tooltip=f"Show the {view.title.lower()} view",
                group=_VIEWS_GROUP,
            )
        )
        bindings.append(
            Binding(
                f"f{n}",
                f"view('{view.name}')",
                view.title,
                key_display=f"F{n}" if n == len(VIEWS) else f"F{n} ",
                id=f"view.{view.name}.fkey",
                tooltip=f"Show the {view.title.lower()} view",
                group=_VIEWS_GROUP,
            )
        )
    return bindings


class ErrorScreen(ModalScreen[None]):
    """A modal for errors that stop a whole view (e.g. a dataset that cannot be loaded)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "dismiss", "Close", id="error.close", tooltip="Close"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.error_title = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog") as dialog:
            dialog.border_title = self.error_title
            yield Static(self.message, id="error-message", markup=False)
            yield Button("Close", id="error-close", variant="error", compact=True)

    def on_button_pressed(self) -> None:
        self.dismiss()


class ViewHost(Screen[None]):
    """The base of a view built on demand: it shows the view's screen on top of itself.

    Views written to be pushed (they ``dismiss()`` to leave) then work as modes too: when
    the view's screen is dismissed, the host returns to Browse and the view is rebuilt the
    next time it is opened.
    """

    @dataclass
    class ViewLeft(Message):
        """The view's screen was dismissed: the app forgets the view."""

        view: ViewName

    def __init__(self, view: View, screen: Screen[None]) -> None:
        super().__init__()
        self.view = view
        self.view_screen = screen
        self._shown = False

    def on_screen_resume(self) -> None:
        if not self._shown:
            self._shown = True
            self.app.push_screen(self.view_screen)
        elif self.view_screen not in self.app.screen_stack and self.app.screen is self:
            self.post_message(self.ViewLeft(self.view.name))


class GoqaApp(App[None]):
    """goqa's terminal workbench; it implements :class:`tui.contract.GoqaContract`."""

    @dataclass
    class StoreBusyReported(Message):
        """The results store is waiting for another process's write lock (from any thread)."""

        line: str

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, GoqaApp.StoreBusyReported)

    CSS_PATH = [STYLESHEET]
    TITLE = "goqa"
    COMMANDS = App.COMMANDS | {GoqaCommands}
    MODES = {
        "browse": BrowseScreen,
        "settings": SettingsScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *_view_bindings(),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="A tour of the keys"),
        Binding(
            "e",
            "experiments",
            "Experiments",
            id="app.experiments",
            tooltip="Run the paper's experiments over the questions shown in Browse",
            show=False,
        ),
        Binding(
            "ctrl+q", "quit", "Quit", id="app.quit", tooltip="Quit goqa", priority=True, show=False
        ),
    ]

    config: reactive[Config] = reactive(Config, init=False)
    """The configuration as the file holds it; changed only by :meth:`save_settings`."""
    condition: reactive[Condition] = reactive(Condition("default"))
    """The active prompting condition (this session only)."""
    backend_name: reactive[str] = reactive("local")
    """The active backend's name (this session only; starts as the default_backend)."""
    template: reactive[TemplateName] = reactive("paper")
    """Prompt template, ``paper`` or ``v2`` (this session only; starts as the config's)."""
    policy: reactive[Policy] = reactive("keep")
    """Non-substantive policy, ``keep`` or ``drop`` (this session only)."""
    metric: reactive[MetricName] = reactive[MetricName](DEFAULT_METRIC)
    """The metric the Results and Run views score under (``M`` there; this session only):
    one of :data:`core.metrics.METRIC_NAMES`, ``jsd`` (the paper's) at start."""
    dataset_ready: reactive[bool] = reactive(False)
    """True once :attr:`dataset` is loaded (the store opens on its own: :attr:`store_ready`)."""
    dataset_problem: reactive[str] = reactive("", init=False)
    """Why the dataset could not be loaded ("" while loading or once loaded)."""
    store_ready: reactive[bool] = reactive(False)
    """True once the results store is open, perhaps read-only (False while opening or when
    it could not be opened)."""
    store_problem: reactive[str] = reactive("", init=False)
    """Why the results store is read-only or unavailable ("" while opening or when it is
    open for writing)."""

    def __init__(
        self,
        dataset_spec: str | None = None,
        config_path: Path | str | None = None,
        store_path: Path | str | None = None,
        backends: Mapping[str, Backend] | None = None,
        start_view: str = "browse",
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        self.dataset_spec = dataset_spec
        self.start_view = start_view
        self.config_path = Path(config_path) if config_path else paths.config_file()
        self.store_path = Path(store_path) if store_path else None
        self._config_problem: ConfigError | None = None
        try:
            config = core_config.load(self.config_path)
        except ConfigError as exc:
            config = Config(path=str(self.config_path))
            self._config_problem = exc
        self.set_reactive(GoqaApp.config, config)
        self._dataset: Dataset | None = None
        self._store: Store | None = None
        self._session_dir: Path | None = None
        self._store_waiting = ""
        self._start_view_opened = False
        self._client: httpx.AsyncClient | None = None
        self._backends: dict[str, Backend] = dict(backends or {})
        self._injected = frozenset(self._backends)
        self._view_args: dict[str, ViewArguments] = {}
        self._view_screens: dict[str, Screen[None]] = {}
        self._config_lock = threading.Lock()
        self.filtered_positions: list[int] = []
        for theme in THEMES:
            self.register_theme(theme)
        known = self.config.theme in self.available_themes
        self.theme = self.config.theme if known else DEFAULT_THEME
        self.set_reactive(GoqaApp.backend_name, self.config.default_backend)
        self.set_reactive(GoqaApp.template, self.config.template)
        self.set_reactive(GoqaApp.policy, self.config.policy)
        if condition is not None:
            self.set_reactive(GoqaApp.condition, condition)

    # ------------------------------------------------------------------ shared state

    @property
    def dataset(self) -> Dataset:
        """The loaded dataset (RuntimeError while it is still loading)."""
        if self._dataset is None:
            raise RuntimeError("The dataset is still loading; try again in a moment.")
        return self._dataset

    @property
    def store(self) -> Store:
        """The results store (a session-only one when the real one could not be opened).

        Raises:
            StoreError: the store is still opening, or no store at all could be opened.
        """
        if self._store is None:
            if self.store_problem:
                raise StoreError(self.store_problem)
            raise StoreError("The results store is still opening; try again in a moment.")
        return self._store

    def store_unavailable(self, *, write: bool = True) -> str:
        """Why the results store cannot be used now ("" when it can).

        Args:
            write: runs are to be recorded (else only read).
        """
        if self.store_ready:
            if write and self._store is not None and self._store.read_only:
                return f"The results store is read-only: {self.store_problem}"
            return ""
        if self.store_problem:
            return f"The results store is unavailable: {self.store_problem}"
        if self._store_waiting:
            return f"The results store is still opening: {self._store_waiting}"
        return "The results store is still opening; try again in a moment."

    @property
    def views(self) -> tuple[View, ...]:
        """The top-level views, in key order (the command palette lists them)."""
        return VIEWS

    @property
    def backend_names(self) -> list[str]:
        """Configured backends, then any given to :func:`create_app`."""
        return list(self.config.backends) + [
            n for n in self._injected if n not in self.config.backends
        ]

    def get_backend(self, name: str | None = None) -> Backend:
        """The backend called ``name`` (default: the active one), created once.

        Raises:
            ConfigError: no backend of that name is configured.
            BackendError: it cannot be built (e.g. the local extra is missing).
        """
        name = name or self.backend_name
        if name in self._backends:
            return self._backends[name]
        cfg = self.config.backend(name)
        from core.backends import make_backend  # backends import optional, heavier modules

        if self._client is None:  # backends set their own timeout on every request
            self._client = httpx.AsyncClient(timeout=60.0)
        backend = make_backend(cfg, self._client)
        self._backends[name] = backend
        return backend

    def save_settings(self, **settings: str | float) -> None:
        """Write top-level settings to the config file (only these keys), then update
        :attr:`config`.

        The file is edited in place in a worker (``core.config.set_values``): the user's
        comments, order and formatting stay. Nothing is written when the file could not be
        read at start (the user is told to fix it first).

        Args:
            settings: e.g. ``default_backend="vllm"``, ``theme="goqa-light"``.
        """
        self._save(settings, announce=False)

    def _save(self, settings: Mapping[str, str | float], *, announce: bool) -> None:
        current = vars(self.config)
        changes = {k: v for k, v in settings.items() if current.get(k) != v}
        if not changes:
            return
        if self._config_problem is not None:
            self.notify(
                f"Not saved: {self.config_path} could not be read. Fix or delete it first.",
                title="Settings not saved",
                severity="warning",
                markup=False,
            )
            return
        self._write_settings(changes, announce)

    @work(thread=True, group="config", exit_on_error=False, name="save settings")
    def _write_settings(self, changes: dict[str, str | float], announce: bool) -> None:
        with self._config_lock:  # one writer at a time; app.config follows in write order
            core_config.set_values(self.config_path, changes)
            # The file as written (set_values checked that it loads) is the new config.
            config = core_config.load(self.config_path)
            self.call_from_thread(self._settings_written, config, changes, announce)

    def _settings_written(
        self, config: Config, changes: dict[str, str | float], announce: bool
    ) -> None:
        self.config = config
        if announce:
            shown = ", ".join(f"{k} = {v}" for k, v in changes.items())
            self.notify(
                f"{shown}\n(in {self.config_path})",
                title="Saved as default",
                timeout=5,
                markup=False,
            )

    def use_as_default(self, *what: Default, backend: str | None = None) -> None:
        """Write session choices as the config's defaults: the explicit counterpart of
        choosing them for the session (which never touches the file).

        Args:
            what: which of ``"backend"``, ``"template"``, ``"policy"`` to write.
            backend: with ``"backend"``: the backend to make active and default (default:
                the session's). One given to :func:`create_app` and absent from the config
                cannot be a default: the user is told and nothing is written.
        """
        settings: dict[str, str | float] = {}
        if "backend" in what:
            name = backend or self.backend_name
            if name not in self.config.backends:
                self.notify(
                    f"{name} is not a backend of the config file, so it cannot be the "
                    f"default. Add a [backends.{name}] table to {self.config_path} first.",
                    title="Not saved",
                    severity="warning",
                    markup=False,
                )
                return
            self.backend_name = name
            settings["default_backend"] = name
        if "template" in what:
            settings["template"] = self.template
        if "policy" in what:
            settings["policy"] = self.policy
        current = vars(self.config)
        if all(current.get(k) == v for k, v in settings.items()):
            shown = ", ".join(f"{k} = {v}" for k, v in settings.items())
            self.notify(f"Already the default: {shown}.", title="Defaults", timeout=3, markup=False)
            return
        self._save(settings, announce=True)

    def action_use_as_default(self, *what: Default) -> None:
        """Write the session's ``what`` (backend, template, policy) as the defaults."""
        self.use_as_default(*what)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            f"Use as default: backend {self.backend_name}",
            "Save the session's backend as default_backend in the config file",
            partial(self.use_as_default, "backend"),
        )
        yield SystemCommand(
            f"Use as default: template {self.template} and policy {self.policy}",
            "Save the session's template and non-substantive policy in the config file",
            partial(self.use_as_default, "template", "policy"),
        )

    def _theme_changed(self, theme: Theme) -> None:
        self.save_settings(theme=theme.name)

    # ------------------------------------------------------------------ errors

    def show_error(
        self, exc: BaseException, *, modal: bool = False, title: str | None = None
    ) -> None:
        """Tell the user what went wrong and how to fix it; never a traceback."""
        default_title, message = describe(exc)
        self.log.error(f"{type(exc).__name__}: {exc}")
        if modal:
            self.push_screen(ErrorScreen(title or default_title, message))
        else:
            self.notify(
                message, title=title or default_title, severity="error", timeout=12, markup=False
            )

    def report_worker(self, event: Worker.StateChanged) -> None:
        """Route a failed worker's exception to :meth:`show_error`."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            if event.worker.group == "store" and event.worker.node is self:
                self._store_failed(event.worker.error)
                return
            fatal = event.worker.group == "dataset" and event.worker.node is self
            if fatal:
                self.dataset_problem = describe(event.worker.error)[1]
            self.show_error(event.worker.error, modal=fatal)

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker(event)

    # ------------------------------------------------------------------ start and stop

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.switch_mode("browse")
        if self._config_problem is not None:
            self.show_error(self._config_problem, modal=True)
        self._open_store()
        self._load_data()

    @work(thread=True, exclusive=True, group="store", exit_on_error=False, name="open store")
    def _open_store(self) -> None:
        # Its own worker: a locked or damaged store must never hold up the dataset.
        try:
            store = Store(self.store_path, on_busy=self._store_busy)
        except sqlite3.Error as exc:  # what Store does not translate is still a store problem
            raise StoreError(f"The results store cannot be opened ({exc}).") from None
        self.call_from_thread(self._store_opened, store)

    def _store_busy(self, line: str) -> None:
        # Any thread, perhaps holding the store's lock: post, never wait for the UI.
        self.post_message(self.StoreBusyReported(line))

    @on(StoreBusyReported)
    def _store_busy_reported(self, event: StoreBusyReported) -> None:
        if not self.store_ready and not self.store_problem:
            self._store_waiting = event.line
        self.notify(
            event.line, title="Results store busy", severity="warning", timeout=8, markup=False
        )

    def _store_opened(self, store: Store) -> None:
        if not self.is_running:  # the app left while the store was opening
            store.close()
            return
        self._store = store
        self._store_waiting = ""
        self.store_ready = True
        if store.read_only:
            self.store_problem = store.read_only_reason or "it was opened for reading only"
            self.notify(
                f"The results store {store.path} is read-only ({self.store_problem}).\n\n"
                "Browsing and the results view work; recording runs (run, experiments) "
                "needs a writable store: make it writable or set GOQA_DATA_DIR to a writable "
                "directory.",
                title="Results store read-only",
                severity="warning",
                timeout=20,
                markup=False,
            )
        self._open_start_view()

    def _open_start_view(self) -> None:
        """Open the view asked for at start (``goqa demo``, tests) once what it needs is
        there: the dataset and, for a view that needs the store, the store's outcome."""
        if self._start_view_opened or self.start_view == "browse" or not self.dataset_ready:
            return
        view = VIEW_BY_NAME.get(self.start_view)
        if view is not None and view.needs_store and not (self.store_ready or self.store_problem):
            return
        self._start_view_opened = True
        self.action_view(self.start_view)

    def _store_failed(self, exc: BaseException) -> None:
        """Keep browsing (and asking) possible without the store, and say what is missing."""
        self.log.error(f"results store: {type(exc).__name__}: {exc}")
        self._open_session_store(describe(exc)[1])

    @work(thread=True, exclusive=True, group="session-store", exit_on_error=False)
    def _open_session_store(self, problem: str) -> None:
        # A new SQLite file in a temporary directory: file I/O, off the event loop.
        self.call_from_thread(self._session_store_opened, self._session_store(), problem)

    def _session_store_opened(self, store: Store | None, problem: str) -> None:
        if not self.is_running:  # the app left while the session store was made: remove it
            if store is not None:
                store.close()
            if self._session_dir is not None:
                shutil.rmtree(self._session_dir, ignore_errors=True)
            return
        self._store = store
        self.store_problem = problem
        kept = (
            "Answers you ask are kept for this session only; "
            if self._store is not None
            else "Asking needs the store too; "
        )
        self.notify(
            f"{problem}\n\nBrowsing works. {kept}the run, results and experiments views "
            "need the store.",
            title="Results store unavailable",
            severity="warning",
            timeout=20,
            markup=False,
        )
        self._open_start_view()

    def _session_store(self) -> Store | None:
        """A store in a temporary directory, removed when the app exits (None if even that
        cannot be made)."""
        try:
            self._session_dir = Path(tempfile.mkdtemp(prefix="goqa-session-"))
            return Store(self._session_dir / "session.sqlite3")
        except (OSError, StoreError, sqlite3.Error) as exc:
            self.log.error(f"no session store either: {exc}")
            return None

    @work(thread=True, exclusive=True, group="dataset", exit_on_error=False, name="load dataset")
    def _load_data(self) -> None:
        data = core_dataset.load(self.dataset_spec)
        self.call_from_thread(self._data_loaded, data)

    def _data_loaded(self, data: Dataset) -> None:
        self._dataset = data
        self.filtered_positions = list(range(len(data)))
        self.sub_title = data.name
        self.dataset_ready = True
        self._open_start_view()
        if data.problems:
            self.notify(
                f"{len(data.problems)} of {data.rows_read} rows skipped; first: "
                f"{data.problems[0]}.",
                title="Dataset rows skipped",
                severity="warning",
                timeout=8,
                markup=False,
            )

    async def on_unmount(self) -> None:
        for backend in list(self._backends.values()):
            try:
                await backend.aclose()
            except Exception as exc:  # closing must not hide the real exit
                self.log.warning(f"closing a backend failed: {exc}")
        if self._client is not None:
            await self._client.aclose()
        if self._store is not None:
            self._store.close()
        if self._session_dir is not None:
            shutil.rmtree(self._session_dir, ignore_errors=True)

    # ------------------------------------------------------------------ views

    def action_view(self, name: str) -> None:
        """Switch to a view by name (``browse``, ``run``, ``results``…)."""
        if name == self.current_mode:
            return
        view = VIEW_BY_NAME.get(name)
        if view is None:
            return
        if view.screen is not None:
            if not self.dataset_ready:
                wait = "No dataset is loaded" if self.dataset_problem else "The dataset is loading"
                self.notify(f"{wait}; this view needs one.", title=view.title, markup=False)
                return
            why = self.store_unavailable(write=view.needs_store == "write")
            if view.needs_store and why:
                self.notify(
                    f"{why}\nThe {view.title.lower()} view needs it.",
                    title=view.title,
                    markup=False,
                )
                return
            try:
                if not self._prepare_view(view):
                    return
            except Exception as exc:
                self.show_error(exc)
                return
        self.switch_mode(name)

    def _view_arguments(self, view: View) -> ViewArguments:
        if view.name in ("run", "demo"):
            return ViewArguments(tuple(self.filtered_positions), self.condition)
        if view.name == "countries":
            earlier = self._view_args.get("countries")
            return ViewArguments(country=earlier.country if earlier else None)
        return ViewArguments()

    def _busy(self, mode: str) -> bool:
        screen = self._view_screens.get(mode)
        return screen is not None and any(
            worker.is_running and screen in worker.node.ancestors_with_self
            for worker in self.workers
        )

    def _prepare_view(self, view: View, args: ViewArguments | None = None) -> bool:
        """Make sure ``view``'s mode exists with up-to-date arguments; False to stay put."""
        if view.screen is None:  # the app's own modes always exist
            return True
        args = self._view_arguments(view) if args is None else args
        if view.name in ("run", "demo") and not args.positions:
            self.notify(
                "No question is shown in Browse: clear the filter first.",
                title=view.title,
                severity="warning",
                markup=False,
            )
            return False
        if view.name in self._view_args:
            if self._view_args[view.name] == args:
                return True
            if self._busy(view.name):
                self.notify(
                    f"The {view.title.lower()} view is still working on its earlier "
                    "selection; stop it there to start one from the current selection.",
                    title=view.title,
                    markup=False,
                )
                return True
            self.remove_mode(view.name)
            del self._view_args[view.name]
        screen = view.screen(args)
        self.add_mode(view.name, lambda: ViewHost(view, screen))
        self._view_args[view.name] = args
        self._view_screens[view.name] = screen
        return True

    def close_view(self, name: str) -> None:
        """Forget a view's mode (going back to Browse first if it is showing)."""
        if name not in self._view_args:
            return
        if self.current_mode == name:
            self.switch_mode("browse")
        del self._view_args[name]
        self._view_screens.pop(name, None)
        self.remove_mode(name)

    @on(ViewHost.ViewLeft)
    def _view_left(self, event: ViewHost.ViewLeft) -> None:
        self.close_view(event.view)

    def open_country(self, key: str | None) -> None:
        """Open the countries view on one country (a raw key)."""
        if not self.dataset_ready:
            return
        view = VIEW_BY_NAME["countries"]
        try:
            if self.current_mode == "countries":
                self.switch_mode("browse")
            if self._prepare_view(view, ViewArguments(country=key)):
                self.switch_mode("countries")
        except Exception as exc:
            self.show_error(exc)

    def _browse_screen(self) -> BrowseScreen:
        self.switch_mode("browse")
        screen = self.screen_stack[0]
        assert isinstance(screen, BrowseScreen)
        return screen

    def jump_to_question(self, position: int) -> None:
        """Show the question at dataset ``position`` in Browse (clearing filters that hide it)."""
        self._browse_screen().jump_to(position)

    def ask_current(self) -> None:
        """Ask the question selected in Browse."""
        self._browse_screen().action_ask()

    def compare_runs(self, reference: str, run: str) -> None:
        """Show run ``run`` compared with run ``reference`` in the results view."""
        self.action_view("results")
        screen = self._view_screens.get("results")
        if isinstance(screen, ResultsScreen):
            screen.request_compare(reference, run)

    # Navigation that screens ask for (tui.contract): one handler each.

    @on(ViewRequested)
    def _view_requested(self, event: ViewRequested) -> None:
        self.action_view(event.view)

    @on(QuestionOpenRequested)
    def _question_open_requested(self, event: QuestionOpenRequested) -> None:
        self.jump_to_question(event.position)

    @on(CountryOpenRequested)
    def _country_open_requested(self, event: CountryOpenRequested) -> None:
        self.open_country(event.key)

    @on(RunsCompareRequested)
    def _runs_compare_requested(self, event: RunsCompareRequested) -> None:
        self.compare_runs(event.reference, event.run)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_experiments(self) -> None:
        """Open the experiments dialog over the questions the browse filter shows."""
        if not self.dataset_ready:
            wait = "No dataset is loaded" if self.dataset_problem else "The dataset is loading"
            self.notify(f"{wait}; experiments need one.", title="Experiments", markup=False)
            return
        if isinstance(self.screen, ExperimentScreen):
            return
        if why := self.store_unavailable():
            self.notify(
                f"{why}\nExperiments record their runs in it.", title="Experiments", markup=False
            )
            return
        if not self.filtered_positions:
            self.notify(
                "No question is shown in Browse: clear the filter first.",
                title="Experiments",
                severity="warning",
                markup=False,
            )
            return
        self.push_screen(ExperimentScreen(self.filtered_positions), self._experiment_closed)

    def _experiment_closed(self, pick: CompareChoice | None) -> None:
        """Show a run the experiment made against its default run in the results view."""
        if pick is not None:
            self.post_message(RunsCompareRequested(*pick))

    # ------------------------------------------------------------------ choices

    def action_choose_condition(self) -> None:
        """Pick Default, a country (searchable) or a language code."""
        items: list[tuple[str, str]] = [
            ("Default — the question as it is", "default"),
            ("Country… — how would someone from a country answer", "country"),
            ("Language… — the question translated", "language"),
        ]
        self.push_screen(
            Picker(
                "Condition",
                items,
                search=False,
                current=self.condition.kind,
                hint=f"Now: {condition_label(self.condition)} · Enter chooses · Esc closes",
            ),
            self._condition_kind_chosen,
        )

    def _condition_kind_chosen(self, kind: str | None) -> None:
        if kind == "default":
            self.condition = Condition("default")
        elif kind == "country":
            self.choose_condition_country()
        elif kind == "language":
            self.choose_condition_language()

    def choose_condition_country(self) -> None:
        """Pick the country of a ``country:`` condition."""
        if not self.dataset_ready:
            self.notify("The dataset is still loading; one moment.", markup=False)
            return
        current = None
        if self.condition.kind == "country":
            try:
                current = countries.match(self.condition.value, self.dataset.countries).key
            except countries.UnknownCountryError:
                current = None
        self.push_screen(
            CountryPicker(self.dataset.countries, title="Answer as someone from…", current=current),
            self._condition_country_chosen,
        )

    def _condition_country_chosen(self, key: str | None) -> None:
        if key:
            self.condition = Condition("country", countries.resolve(key).display)

    def choose_condition_language(self) -> None:
        """Ask for the language code of a ``language:`` condition."""
        import re

        def validate(code: str) -> str | None:
            if re.match(_LANGUAGE_CODE, code):
                return None
            return "Give a language code such as ru, de, zh or pt-BR."

        current = self.condition.value if self.condition.kind == "language" else ""
        self.push_screen(
            TextPrompt(
                "Ask in language…",
                placeholder="Language code, e.g. ru",
                value=current,
                hint="Questions need translations: 'goqa translate --language CODE'.",
                validate=validate,
            ),
            self._condition_language_chosen,
        )

    def _condition_language_chosen(self, code: str | None) -> None:
        if code:
            self.condition = Condition("language", code)

    def action_choose_backend(self) -> None:
        """Pick the active backend."""
        items = []
        for name in self.backend_names:
            cfg = self.config.backends.get(name)
            detail = f"{cfg.kind} · {cfg.model}" if cfg else "given by the caller"
            items.append((f"{name}  —  {detail}", name))
        self.push_screen(
            Picker("Backend", items, search=len(items) > 8, current=self.backend_name),
            self._backend_chosen,
        )

    def _backend_chosen(self, name: str | None) -> None:
        if name:
            self.backend_name = name


def create_app(
    dataset_spec: str | None = None,
    config_path: Path | str | None = None,
    store_path: Path | str | None = None,
    backends: Mapping[str, Backend] | None = None,
    start_view: str = "browse",
    condition: Condition | None = None,
) -> GoqaApp:
    """Build the app.

    Args:
        dataset_spec: ``sample`` (default), ``full`` or a CSV path, as for ``--dataset``.
        config_path: the config file (default: the platform's config dir).
        store_path: the results store (default: the platform's data dir).
        backends: ready-made backends by name, used before the config's (tests use fakes).
        start_view: the view to open once the dataset is loaded (``demo`` for a talk).
        condition: the starting condition (default: ``default``).
    """
    if start_view not in VIEW_BY_NAME:
        raise ValueError(f"Unknown view {start_view!r}: use one of {', '.join(VIEW_BY_NAME)}.")
    return GoqaApp(dataset_spec, config_path, store_path, backends, start_view, condition)


def run_app(
    dataset_spec: str | None = None,
    config_path: Path | str | None = None,
    *,
    demo: bool = False,
    condition: str | None = None,
) -> int:
    """Run the app in the terminal (``goqa``, ``goqa demo``, ``python -m tui``).

    Args:
        dataset_spec: as for ``--dataset``.
        config_path: the config file (default: the platform's).
        demo: open the presentation view once the dataset is loaded.
        condition: the starting condition, e.g. ``country:Russia``.

    Returns:
        The process exit code: 0, or 2 for a bad ``condition``.
    """
    try:
        start = Condition.parse(condition) if condition else None
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    app = create_app(
        dataset_spec, config_path, start_view="demo" if demo else "browse", condition=start
    )
    app.run()
    return app.return_code or 0


if TYPE_CHECKING:
    # mypy checks here that the app implements the contract its screens are written against,
    # and what the command palette uses besides.
    _implements_contract: type[GoqaContract] = GoqaApp
    _implements_palette: type[PaletteHost] = GoqaApp
    _implements_metric: type[MetricChoice] = GoqaApp
