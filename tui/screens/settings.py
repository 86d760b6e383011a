"""The settings screen: backends (with a connection test), template, policy, theme.

Choosing a backend, template or policy applies to this session only. Making one the default
is its own action: ``d`` writes the highlighted backend as ``default_backend`` and ``s`` the
template and policy, through ``app.use_as_default`` (``core.config.set_values``: only those
keys change; the user's comments and layout stay). The theme is a preference and is saved at
once.
"""

from __future__ import annotations

from typing import ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Label, Select, Static
from textual.worker import Worker, WorkerState

from core.config import redact_url
from core.connection import ConnectionVerdict, check_connection
from core.prompts import TEMPLATE_NAMES, parse_template
from core.runs import as_policy
from tui.contract import GoqaContract
from tui.errors import describe
from tui.widgets.status import StatusBar

TEMPLATE_HELP = {
    "paper": "paper — the paper's prompt, verbatim (typo included)",
    "v2": "v2 — the paper's prompt with its typo fixed",
}
POLICY_HELP = (
    ("keep — every option counts in the similarity", "keep"),
    ("drop — DK/Refused-like options are left out", "drop"),
)
CELL_WIDTH = 60
"""The longest connection result shown in the table (the notification has all of it)."""


def connection_report(verdict: ConnectionVerdict) -> str:
    """One line about a connection test: ✓ only for a usable distribution, else ✗ and why."""
    if verdict.ok:
        return f"✓ {verdict.seconds:.1f} s · {verdict.message}"
    return f"✗ {verdict.message}"


def _cell(text: str) -> str:
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


class SettingsScreen(Screen[None]):
    """Backends, template, non-substantive policy and theme."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "t",
            "test",
            "Test connection",
            id="settings.test",
            tooltip="Send one tiny question to the highlighted backend",
        ),
        Binding(
            "u",
            "use",
            "Use backend",
            id="settings.use",
            tooltip="Use the highlighted backend in this session (the config is not changed)",
        ),
        Binding(
            "d",
            "use_as_default",
            "Use as default",
            id="settings.use_as_default",
            tooltip="Use the highlighted backend and save it as the config's default_backend",
        ),
        Binding(
            "s",
            "save_choices",
            "Save choices",
            id="settings.save_choices",
            tooltip="Save this session's template and policy as the config's defaults",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, str] = {}
        """Connection test outcome per backend name."""
        self._tests: dict[Worker[ConnectionVerdict], str] = {}

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    def compose(self) -> ComposeResult:
        app = self.goqa
        yield StatusBar(id="status")
        with VerticalScroll(id="settings-body"):
            yield Label("Backends", classes="settings-heading")
            yield DataTable(id="backends", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="settings-buttons"):
                yield Button("Test connection  t", id="test", compact=True, variant="primary")
                yield Button("Use this backend  u", id="use", compact=True)
                yield Button("Use as default  d", id="use-as-default", compact=True)
            yield Label("Choices", classes="settings-heading")
            with Horizontal(classes="settings-row"):
                yield Label("Prompt template", classes="settings-label")
                yield Select(
                    [(TEMPLATE_HELP.get(t, t), t) for t in TEMPLATE_NAMES],
                    value=app.template,
                    allow_blank=False,
                    id="template",
                    compact=True,
                )
            with Horizontal(classes="settings-row"):
                yield Label("Non-substantive options", classes="settings-label")
                yield Select(
                    POLICY_HELP, value=app.policy, allow_blank=False, id="policy", compact=True
                )
            with Horizontal(classes="settings-row"):
                yield Label("Theme", classes="settings-label")
                yield Select(
                    [(name, name) for name in self._themes()],
                    value=self.app.theme,
                    allow_blank=False,
                    id="theme",
                    compact=True,
                )
            with Horizontal(classes="settings-buttons"):
                yield Button(
                    "Save template and policy as defaults  s", id="save-choices", compact=True
                )
            yield Static(id="defaults", markup=False)
            yield Static(id="config-path", markup=False)
        yield Footer(compact=True)

    def _themes(self) -> list[str]:
        names = list(self.app.available_themes)
        ours = [n for n in names if n.startswith("goqa-")]
        return ours + sorted(n for n in names if n not in ours)

    def on_mount(self) -> None:
        table = self.query_one("#backends", DataTable)
        table.add_columns("", "Backend", "Default", "Kind", "Model", "URL", "Connection")
        self._fill_backends()
        app = self.goqa
        self.query_one("#config-path", Static).update(
            f"Backend, template and policy apply to this session; d and s save them as "
            f"defaults in {app.config_path}. The theme is saved at once."
        )
        self._show_defaults()
        self.watch(self.app, "backend_name", self._fill_backends, init=False)
        self.watch(self.app, "config", self._config_changed, init=False)
        for attribute in ("template", "policy", "theme"):
            self.watch(self.app, attribute, self._sync_selects, init=False)
        table.focus()

    def _fill_backends(self) -> None:
        app = self.goqa
        table = self.query_one("#backends", DataTable)
        row = table.cursor_row
        table.clear()
        for name in app.backend_names:
            cfg = app.config.backends.get(name)
            active = "●" if name == app.backend_name else ""
            default = "default" if name == app.config.default_backend else ""
            status = _cell(self.results.get(name, "" if cfg is None else "not tested"))
            if cfg is None:
                table.add_row(active, name, default, "given", "", "", status, key=name)
                continue
            url = redact_url(cfg.base_url) or ("embedded" if cfg.kind == "local" else "")
            table.add_row(active, name, default, cfg.kind, cfg.model, url, status, key=name)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def _config_changed(self) -> None:
        self._fill_backends()
        self._show_defaults()

    def _show_defaults(self) -> None:
        cfg = self.goqa.config
        self.query_one("#defaults", Static).update(
            f"Defaults in the config file: backend {cfg.default_backend} · template "
            f"{cfg.template} · policy {cfg.policy} · theme {cfg.theme}"
        )

    def _sync_selects(self) -> None:
        app = self.goqa
        for select_id, value in (
            ("#template", app.template),
            ("#policy", app.policy),
            ("#theme", self.app.theme),
        ):
            select = self.query_one(select_id, Select)
            if select.value != value:
                select.value = value

    @property
    def highlighted_backend(self) -> str | None:
        table = self.query_one("#backends", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    # ------------------------------------------------------------------ choices

    @on(Select.Changed, "#template")
    def _template_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.goqa.template = parse_template(event.value)

    @on(Select.Changed, "#policy")
    def _policy_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.goqa.policy = as_policy(event.value)

    @on(Select.Changed, "#theme")
    def _theme_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.app.theme:
            self.app.theme = event.value

    @on(Button.Pressed, "#use")
    def action_use(self) -> None:
        """Use the highlighted backend in this session."""
        name = self.highlighted_backend
        if name:
            self.goqa.backend_name = name
            self.notify(f"Backend {name} is active in this session.", timeout=3)

    @on(Button.Pressed, "#use-as-default")
    def action_use_as_default(self) -> None:
        """Use the highlighted backend and save it as the config's default_backend."""
        name = self.highlighted_backend
        if name:
            self.goqa.use_as_default("backend", backend=name)

    @on(Button.Pressed, "#save-choices")
    def action_save_choices(self) -> None:
        """Save the session's template and policy as the config's defaults."""
        self.goqa.use_as_default("template", "policy")

    @on(DataTable.RowSelected, "#backends")
    def _row_selected(self) -> None:
        self.action_use()

    # ------------------------------------------------------------------ connection test

    @on(Button.Pressed, "#test")
    def action_test(self) -> None:
        name = self.highlighted_backend
        if not name:
            return
        self.results[name] = "testing…"
        self._fill_backends()
        self._tests[self._test(name)] = name

    @work(group="test", exit_on_error=False, name="test connection")
    async def _test(self, name: str) -> ConnectionVerdict:
        app = self.goqa
        backend = app.get_backend(name)
        return await check_connection(backend, app.template, app.config.max_off_option)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        name = self._tests.get(event.worker)
        if name is not None and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            del self._tests[event.worker]
            verdict = event.worker.result if event.state == WorkerState.SUCCESS else None
            if verdict is not None:
                self.results[name] = connection_report(verdict)
                if not verdict.ok:
                    self.notify(
                        verdict.message,
                        title=f"Backend {name}: no usable distribution",
                        severity="error",
                        timeout=12,
                    )
            elif event.state == WorkerState.ERROR and event.worker.error is not None:
                title, _ = describe(event.worker.error)
                self.results[name] = f"✗ {title}"
            elif event.state == WorkerState.CANCELLED:
                self.results[name] = "cancelled"
            self._fill_backends()
        self.goqa.report_worker(event)
