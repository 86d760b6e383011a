"""A one-line bar with the state every view shares: dataset, backend, condition, template."""

from __future__ import annotations

from typing import cast

from textual.markup import escape
from textual.widgets import Static

from core.prompts import Condition
from core.wording import counted
from tui.contract import GoqaContract


def condition_label(condition: Condition) -> str:
    """``Default``, ``Country: Russia`` or ``Language: ru`` for a Condition."""
    if condition.kind == "default":
        return "Default"
    return f"{condition.kind.capitalize()}: {condition.value}"


class StatusBar(Static):
    """Dataset, backend, condition, template and policy; the values are clickable."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    _WATCHED = ("condition", "backend_name", "template", "policy", "dataset_ready")

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    def on_mount(self) -> None:
        for attribute in self._WATCHED:
            self.watch(self.app, attribute, self._redraw, init=False)
        self._redraw()

    def _redraw(self) -> None:
        app = self.goqa
        if app.dataset_ready:
            data = f"{escape(app.dataset.name)} · {counted(len(app.dataset), 'question')}"
        else:
            data = "loading dataset…"
        value = "$text-primary"
        self.update(
            f"[b $text-accent]goqa[/]  {data}"
            f"  │  backend [@click=app.choose_backend][b {value}]{escape(app.backend_name)}[/][/]"
            f"  │  condition [@click=app.choose_condition][b {value}]"
            f"{escape(condition_label(app.condition))}[/][/]"
            f"  │  template [b {value}]{escape(app.template)}[/]"
            f"  ·  non-substantive [b {value}]{escape(app.policy)}[/]"
        )
