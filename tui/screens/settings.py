"""The settings screen: backends (with a connection test), template, policy, theme.

Every choice is applied at once and saved to the config file through the app
(``app.update_config`` → ``core.config.save``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Label, Select, Static
from textual.worker import Worker, WorkerState

from core.backends.base import Answer
from core.prompts import TEMPLATE_NAMES, Condition, render
from tui.errors import describe
from tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from tui.app import GoqaApp

TEMPLATE_HELP = {
    "paper": "paper — the paper's prompt, verbatim (typo included)",
    "v2": "v2 — the paper's prompt with its typo fixed",
}
POLICY_HELP = (
    ("keep — every option counts in the similarity", "keep"),
    ("drop — DK/Refused-like options are left out", "drop"),
)
TEST_QUESTION = "Is this a test of the connection?"
TEST_OPTIONS = ("Yes", "No")


def connection_report(answer: Answer, seconds: float) -> str:
    """One line about a test answer: did log-probabilities come back?"""
    if answer.estimator == "sampling":
        return f"✓ {seconds:.1f} s · no logprobs: sampling n={answer.samples}"
    return f"✓ {seconds:.1f} s · {answer.estimator} (exact distribution)"


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
            tooltip="Make the highlighted backend the active (and default) one",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, str] = {}
        """Connection test outcome per backend name."""
        self._tests: dict[Worker[None], str] = {}

    @property
    def goqa(self) -> GoqaApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        app = self.goqa
        yield StatusBar(id="status")
        with VerticalScroll(id="settings-body"):
            yield Label("Backends", classes="settings-heading")
            yield DataTable(id="backends", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="settings-buttons"):
                yield Button("Test connection  t", id="test", compact=True, variant="primary")
                yield Button("Use this backend  u", id="use", compact=True)
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
                    value=app.theme,
                    allow_blank=False,
                    id="theme",
                    compact=True,
                )
            yield Static(id="config-path", markup=False)
        yield Footer(compact=True)

    def _themes(self) -> list[str]:
        names = list(self.app.available_themes)
        ours = [n for n in names if n.startswith("goqa-")]
        return ours + sorted(n for n in names if n not in ours)

    def on_mount(self) -> None:
        table = self.query_one("#backends", DataTable)
        table.add_columns("", "Backend", "Kind", "Model", "URL", "Connection")
        self._fill_backends()
        app = self.goqa
        where = app.config_path
        self.query_one("#config-path", Static).update(f"Choices are saved to {where}")
        self.watch(self.app, "backend_name", self._fill_backends, init=False)
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
            if cfg is None:
                table.add_row(active, name, "given", "", "", self.results.get(name, ""), key=name)
                continue
            url = cfg.base_url or ("embedded" if cfg.kind == "local" else "")
            status = self.results.get(name, "not tested")
            table.add_row(active, name, cfg.kind, cfg.model, url, status, key=name)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def _sync_selects(self) -> None:
        app = self.goqa
        for select_id, value in (
            ("#template", app.template),
            ("#policy", app.policy),
            ("#theme", app.theme),
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
            self.goqa.template = event.value

    @on(Select.Changed, "#policy")
    def _policy_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.goqa.policy = event.value

    @on(Select.Changed, "#theme")
    def _theme_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.app.theme:
            self.app.theme = event.value

    @on(Button.Pressed, "#use")
    def action_use(self) -> None:
        name = self.highlighted_backend
        if name:
            self.goqa.backend_name = name
            self.notify(f"Backend {name} is now active.", timeout=3)

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
    async def _test(self, name: str) -> None:
        app = self.goqa
        backend = app.get_backend(name)
        prompt = render(
            None, Condition("default"), app.template, text=TEST_QUESTION, options=TEST_OPTIONS
        )
        started = time.perf_counter()
        await asyncio.to_thread(backend.request_params)  # may hash a model file: off the loop
        answer = await backend.ask(prompt)
        self.results[name] = connection_report(answer, time.perf_counter() - started)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        name = self._tests.get(event.worker)
        if name is not None and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            del self._tests[event.worker]
            if event.state == WorkerState.ERROR and event.worker.error is not None:
                title, _ = describe(event.worker.error)
                self.results[name] = f"✗ {title}"
            elif event.state == WorkerState.CANCELLED:
                self.results[name] = "cancelled"
            self._fill_backends()
        self.goqa.report_worker(event)
