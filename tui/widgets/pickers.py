"""Small modal dialogs that return one choice: a searchable list and a one-line prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

T = TypeVar("T")


class Picker(ModalScreen[T | None], Generic[T]):
    """A modal list to choose one value from, filtered by typing.

    Dismisses with the chosen value, or None on Escape or a click outside the dialog.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Close, choose nothing"),
        Binding("down", "move(1)", "Next", show=False, id="picker.next"),
        Binding("up", "move(-1)", "Previous", show=False, id="picker.previous"),
    ]

    DEFAULT_CSS = """
    Picker {
        align: center middle;
        background: $background 60%;
    }
    Picker > #picker-dialog {
        width: 64;
        max-width: 90%;
        height: auto;
        max-height: 80%;
        border: round $primary;
        border-title-color: $text-primary;
        background: $panel;
        padding: 0 1;
    }
    Picker #picker-search { margin: 0 0 1 0; }
    Picker OptionList, Picker OptionList:focus {
        height: auto;
        max-height: 20;
        border: none;
        background: $panel;
    }
    Picker #picker-hint { color: $text-muted; }
    """

    def __init__(
        self,
        title: str,
        items: Sequence[tuple[str | Text, T]],
        *,
        search: bool = True,
        placeholder: str = "Type to filter",
        current: T | None = None,
        hint: str = "",
        rank: Callable[[str, int], int | None] | None = None,
    ) -> None:
        """Build the picker.

        Args:
            title: the dialog's title.
            items: (label, value) pairs in display order.
            search: show a filter box.
            placeholder: the filter box's placeholder.
            current: the value to highlight first.
            hint: a line under the list.
            rank: ``rank(query, index)`` is None when item ``index`` does not match the
                lower-cased query, else a rank (lower first; ties keep the given order).
                By default: labels starting with the query, then labels containing it.
        """
        super().__init__()
        self.title_text = title
        self.items = list(items)
        self.search = search
        self.placeholder = placeholder
        self.current = current
        self.hint = hint
        self._rank = rank or self._label_rank

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-dialog") as dialog:
            dialog.border_title = self.title_text
            if self.search:
                yield Input(placeholder=self.placeholder, id="picker-search", compact=True)
            yield OptionList(id="picker-options")
            if self.hint:
                yield Label(self.hint, id="picker-hint")

    def on_mount(self) -> None:
        self._fill("")
        if not self.search:
            self.query_one(OptionList).focus()

    def _label_rank(self, query: str, index: int) -> int | None:
        label = str(self.items[index][0]).lower()
        if label.startswith(query):
            return 0
        return 1 if query in label else None

    def _fill(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        needle = query.strip().lower()
        if needle:
            ranked = [(self._rank(needle, i), i) for i in range(len(self.items))]
            shown = [i for r, i in sorted((r, i) for r, i in ranked if r is not None)]
        else:
            shown = list(range(len(self.items)))
        options.add_options([Option(self.items[i][0], id=str(i)) for i in shown])
        highlight = 0
        for n, i in enumerate(shown):
            if self.items[i][1] == self.current:
                highlight = n
        options.highlighted = highlight if shown else None

    @on(Input.Changed, "#picker-search")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#picker-search")
    def _submit(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self._choose(options.get_option_at_index(options.highlighted))

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option)

    def _choose(self, option: Option) -> None:
        assert option.id is not None
        self.dismiss(self.items[int(option.id)][1])

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else -step
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_click(self, event: events.Click) -> None:
        if event.widget is self:
            self.dismiss(None)


class TextPrompt(ModalScreen[str | None]):
    """A modal one-line prompt; dismisses with the stripped text, or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel", tooltip="Close, change nothing"),
    ]

    DEFAULT_CSS = """
    TextPrompt { align: center middle; background: $background 60%; }
    TextPrompt > #prompt-dialog {
        width: 64;
        max-width: 90%;
        height: auto;
        border: round $primary;
        background: $panel;
        padding: 0 1;
    }
    TextPrompt #prompt-hint { color: $text-muted; margin-top: 1; }
    """

    def __init__(
        self,
        title: str,
        *,
        placeholder: str = "",
        value: str = "",
        hint: str = "",
        validate: Callable[[str], str | None] | None = None,
    ) -> None:
        """Build the prompt.

        Args:
            title: the dialog's title.
            placeholder, value: of the input.
            hint: a line under the input.
            validate: returns an error message for a bad value, or None when it is fine.
        """
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.hint = hint
        self._validate = validate

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog") as dialog:
            dialog.border_title = self.title_text
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input", compact=True)
            yield Label(self.hint, id="prompt-hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        problem = self._validate(text) if self._validate else None
        if problem:
            self.query_one("#prompt-hint", Label).update(Text(problem, style="bold"))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_click(self, event: events.Click) -> None:
        if event.widget is self:
            self.dismiss(None)
