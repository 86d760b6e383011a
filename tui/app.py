"""The goqa Textual app: shared state, view switching, and errors handled in one place.

Build it with :func:`create_app` (``python -m tui`` and the tests do). Views are Textual modes
switched with the keys 1-6 (or F1-F6): ``browse``, ``run``, ``results``, ``countries``,
``demo``, ``settings``; ``?`` opens the help, ``ctrl+p`` the command palette, ``e`` the
experiments dialog (:mod:`tui.screens.experiments`, over the browse filter's questions).

Contract for screens
====================

Every screen reaches shared state through ``self.app`` (a :class:`GoqaApp`):

``app.dataset: Dataset``
    The loaded dataset. It loads in a worker at start-up; every view except browse and
    settings opens only once ``app.dataset_ready`` (reactive ``bool``) is True.
``app.config: Config``
    The configuration. Change it with ``app.update_config(**fields)``, which saves it
    (``core.config.save``) unless the file on disk could not be read.
``app.store: Store``
    The results store: the same SQLite file, runs and response cache as the CLI.
``app.condition: Condition``
    Reactive: the active prompting condition (``Condition("default")`` at start).
``app.backend_name: str``
    Reactive: the active backend (the config's ``default_backend``, normally ``local``).
``app.template: str``
    Reactive: the prompt template, ``paper`` or ``v2`` (persisted).
``app.policy: str``
    Reactive: the non-substantive policy, ``keep`` or ``drop`` (persisted).
``app.filtered_positions: list[int]``
    The dataset positions the browse filter currently shows (all of them at start).
``app.get_backend(name: str | None = None) -> Backend``
    The backend called ``name`` (default: ``app.backend_name``), created once and cached;
    HTTP backends share one ``httpx.AsyncClient``, closed when the app exits. Raises
    ``ConfigError`` for an unknown name.
``app.show_error(exc: BaseException) -> None``
    A notification (or a modal with ``modal=True``) that names the problem and the fix.
    Never a traceback.
``app.report_worker(event: Worker.StateChanged) -> None``
    Call it from a screen's ``@on(Worker.StateChanged)``: a failed worker goes to
    ``show_error``.

React to shared state with ``self.watch(self.app, "condition", callback)``.

Views are built by these constructors, imported lazily (a missing module is reported, not
raised): ``RunScreen(positions: list[int], condition: Condition)``, ``ResultsScreen()``,
``CountriesScreen(country: str | None = None)``,
``DemoScreen(positions: list[int], condition: Condition, interval: float = 8.0)``. The run
and demo views are rebuilt from the current filter and condition when those changed, unless
one of their workers is still running.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import httpx
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from core import config as core_config
from core import countries, paths
from core import dataset as core_dataset
from core.backends.base import Backend
from core.config import Config, ConfigError
from core.dataset import Dataset
from core.prompts import Condition
from core.store import Store
from themes import DEFAULT_THEME, STYLESHEET, THEMES
from tui.commands import GoqaCommands
from tui.errors import ViewUnavailableError, describe
from tui.screens.browse import BrowseScreen
from tui.screens.help import HelpScreen
from tui.screens.settings import SettingsScreen
from tui.widgets.country_picker import CountryPicker
from tui.widgets.pickers import Picker, TextPrompt
from tui.widgets.status import condition_label


@dataclass(frozen=True)
class View:
    """A top-level view: a mode with its key and, for other modules, where its screen is."""

    name: str
    title: str
    key: str
    module: str = ""
    cls: str = ""


VIEWS: tuple[View, ...] = (
    View("browse", "Browse", "1"),
    View("run", "Run", "2", "tui.screens.run", "RunScreen"),
    View("results", "Results", "3", "tui.screens.results", "ResultsScreen"),
    View("countries", "Countries", "4", "tui.screens.countries", "CountriesScreen"),
    View("demo", "Demo", "5", "tui.screens.demo", "DemoScreen"),
    View("settings", "Settings", "6"),
)
VIEW_BY_NAME = {v.name: v for v in VIEWS}
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
    """The base of another module's view mode: it shows the view's screen on top of itself.

    Views written to be pushed (they ``dismiss()`` to leave) then work as modes too: when
    the view's screen is dismissed, the host returns to Browse and the view is rebuilt the
    next time it is opened.
    """

    def __init__(self, view: View, screen: Screen[Any]) -> None:
        super().__init__()
        self.view = view
        self.view_screen = screen
        self._shown = False

    def on_screen_resume(self) -> None:
        if not self._shown:
            self._shown = True
            self.app.push_screen(self.view_screen)
        elif self.view_screen not in self.app.screen_stack and self.app.screen is self:
            self.app.call_later(self.app.close_view, self.view.name)  # type: ignore[attr-defined]


class GoqaApp(App[None]):
    """goqa's terminal workbench. See the module docstring for what screens may use."""

    CSS_PATH = [STYLESHEET]
    TITLE = "goqa"
    COMMANDS = App.COMMANDS | {GoqaCommands}
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
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

    condition: reactive[Condition] = reactive(Condition("default"))
    """The active prompting condition (not persisted)."""
    backend_name: reactive[str] = reactive("local")
    """The active backend's name (persisted as the config's default_backend)."""
    template: reactive[str] = reactive("paper")
    """Prompt template, ``paper`` or ``v2`` (persisted)."""
    policy: reactive[str] = reactive("keep")
    """Non-substantive policy, ``keep`` or ``drop`` (persisted)."""
    dataset_ready: reactive[bool] = reactive(False)
    """True once :attr:`dataset` and :attr:`store` are loaded."""
    dataset_problem: reactive[str] = reactive("", init=False)
    """Why the dataset could not be loaded ("" while loading or once loaded)."""

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
            self.config: Config = core_config.load(self.config_path)
        except ConfigError as exc:
            self.config = Config(path=str(self.config_path))
            self._config_problem = exc
        self._dataset: Dataset | None = None
        self._store: Store | None = None
        self._client: httpx.AsyncClient | None = None
        self._backends: dict[str, Backend] = dict(backends or {})
        self._injected = frozenset(self._backends)
        self._view_args: dict[str, tuple[Any, ...]] = {}
        self._view_screens: dict[str, Screen[Any]] = {}
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
        """The results store (RuntimeError while it is still opening)."""
        if self._store is None:
            raise RuntimeError("The results store is still opening; try again in a moment.")
        return self._store

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

    def update_config(self, **changes: Any) -> None:
        """Change top-level config fields and save the file in a worker."""
        new = replace(self.config, **changes)
        if new == self.config:
            return
        self.config = new
        if self._config_problem is not None:
            self.notify(
                f"Not saved: {self.config_path} could not be read. Fix or delete it first.",
                title="Settings not saved",
                severity="warning",
            )
            return
        self._save_config()

    @work(thread=True, group="config", exit_on_error=False, name="save config")
    def _save_config(self) -> None:
        with self._config_lock:  # one writer at a time, and always the newest config
            core_config.save(self.config, self.config_path)

    def watch_backend_name(self, name: str) -> None:
        if name in self.config.backends:
            self.update_config(default_backend=name)

    def watch_template(self, template: str) -> None:
        self.update_config(template=template)

    def watch_policy(self, policy: str) -> None:
        self.update_config(policy=policy)

    def _theme_changed(self, theme: object) -> None:
        name = getattr(theme, "name", "")
        if name:
            self.update_config(theme=name)

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
            self.notify(message, title=title or default_title, severity="error", timeout=12)

    def report_worker(self, event: Worker.StateChanged) -> None:
        """Route a failed worker's exception to :meth:`show_error`."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
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
        self._load_data()

    @work(thread=True, exclusive=True, group="dataset", exit_on_error=False, name="load dataset")
    def _load_data(self) -> None:
        data = core_dataset.load(self.dataset_spec)
        store = self._store or Store(self.store_path)
        self.call_from_thread(self._data_loaded, data, store)

    def _data_loaded(self, data: Dataset, store: Store) -> None:
        self._dataset = data
        self._store = store
        self.filtered_positions = list(range(len(data)))
        self.sub_title = data.name
        self.dataset_ready = True
        if self.start_view != "browse":
            self.action_view(self.start_view)
        if data.problems:
            self.notify(
                f"{len(data.problems)} of {data.rows_read} rows skipped; first: "
                f"{data.problems[0]}.",
                title="Dataset rows skipped",
                severity="warning",
                timeout=8,
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

    # ------------------------------------------------------------------ views

    def action_view(self, name: str) -> None:
        """Switch to a view by name (``browse``, ``run``, ``results``…)."""
        if name == self.current_mode:
            return
        view = VIEW_BY_NAME.get(name)
        if view is None:
            return
        if view.module:
            if not self.dataset_ready:
                wait = "No dataset is loaded" if self.dataset_problem else "The dataset is loading"
                self.notify(f"{wait}; this view needs one.", title=view.title)
                return
            try:
                if not self._prepare_view(view):
                    return
            except Exception as exc:
                self.show_error(exc)
                return
        self.switch_mode(name)

    def _view_arguments(self, view: View) -> tuple[Any, ...]:
        if view.name in ("run", "demo"):
            return (list(self.filtered_positions), self.condition)
        if view.name == "countries":
            return (self._view_args.get("countries", (None,))[0],)
        return ()

    def _busy(self, mode: str) -> bool:
        screen = self._view_screens.get(mode)
        return screen is not None and any(
            worker.is_running and screen in worker.node.ancestors_with_self
            for worker in self.workers
        )

    def _prepare_view(self, view: View, args: tuple[Any, ...] | None = None) -> bool:
        """Make sure ``view``'s mode exists with up-to-date arguments; False to stay put."""
        args = self._view_arguments(view) if args is None else args
        if view.name in ("run", "demo") and not args[0]:
            self.notify(
                "No question is shown in Browse: clear the filter first.",
                title=view.title,
                severity="warning",
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
                )
                return True
            self.remove_mode(view.name)
            del self._view_args[view.name]
        screen_type = self._import_view(view)
        screen = screen_type(*args)
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

    def _import_view(self, view: View) -> Callable[..., Screen[Any]]:
        try:
            module = importlib.import_module(view.module)
            return getattr(module, view.cls)  # type: ignore[no-any-return]
        except (ImportError, AttributeError) as exc:
            raise ViewUnavailableError(
                f"The {view.title.lower()} view could not be loaded ({exc}). "
                "Reinstall goqa or update to a complete version."
            ) from None

    def open_country(self, key: str | None) -> None:
        """Open the countries view on one country (a raw key)."""
        if not self.dataset_ready:
            return
        view = VIEW_BY_NAME["countries"]
        try:
            if self.current_mode == "countries":
                self.switch_mode("browse")
            if self._prepare_view(view, (key,)):
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

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_experiments(self) -> None:
        """Open the experiments dialog over the questions the browse filter shows."""
        from tui.screens.experiments import ExperimentScreen

        if not self.dataset_ready:
            wait = "No dataset is loaded" if self.dataset_problem else "The dataset is loading"
            self.notify(f"{wait}; experiments need one.", title="Experiments")
            return
        if isinstance(self.screen, ExperimentScreen):
            return
        if not self.filtered_positions:
            self.notify(
                "No question is shown in Browse: clear the filter first.",
                title="Experiments",
                severity="warning",
            )
            return
        self.push_screen(ExperimentScreen(self.filtered_positions), self._experiment_closed)

    def _experiment_closed(self, pick: tuple[str, str] | None) -> None:
        """Show a run the experiment made against its default run in the results view."""
        if pick is None:
            return
        self.action_view("results")
        screen = self._view_screens.get("results")
        compare = getattr(screen, "request_compare", None)
        if callable(compare):
            compare(*pick)

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
            self.notify("The dataset is still loading; one moment.")
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
