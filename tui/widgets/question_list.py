"""A fast list of questions: one line each (id, source, number of countries, text).

Rendered line by line through the Line API, so a filter over thousands of questions only
swaps a list of positions: nothing is measured or laid out per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.dataset import Dataset, headline

"""The old name of :func:`core.dataset.headline`: delete once ``tui/commands.py`` imports
``headline`` from ``core.dataset`` itself."""


class QuestionList(ScrollView, can_focus=True):
    """The questions at some dataset positions, with a cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, id="questions.up"),
        Binding("down", "cursor_down", "Down", show=False, id="questions.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="questions.page-up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="questions.page-down"),
        Binding("home", "first", "First", show=False, id="questions.first"),
        Binding("end", "last", "Last", show=False, id="questions.last"),
        Binding("enter", "select", "Select", show=False, id="questions.select"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "question-list--id",
        "question-list--source",
        "question-list--count",
        "question-list--cursor",
        "question-list--empty",
    }

    DEFAULT_CSS = """
    QuestionList {
        overflow-x: hidden;
        background: $surface;
        & > .question-list--id { color: $text-muted; }
        & > .question-list--source { color: $text-secondary; }
        & > .question-list--count { color: $text-primary; }
        & > .question-list--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .question-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .question-list--empty { color: $text-muted; text-style: italic; }
    }
    """

    cursor: reactive[int] = reactive(0, always_update=True)
    """Index of the highlighted row (into :attr:`rows`)."""

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another question (``position`` is None for an empty list)."""

        question_list: QuestionList
        position: int | None

        @property
        def control(self) -> QuestionList:
            return self.question_list

    @dataclass
    class Selected(Message):
        """A question was chosen with Enter or a click."""

        question_list: QuestionList
        position: int

        @property
        def control(self) -> QuestionList:
            return self.question_list

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._dataset: Dataset | None = None
        self._labels: list[str] = []
        self._counts: list[int] = []
        self._id_width = 3
        self._rows: list[int] = []
        self._posted: int | None = -1
        self.empty_message = "No question matches."
        self.loading_message = "Loading the questions…"

    # ------------------------------------------------------------------ data

    @property
    def rows(self) -> list[int]:
        """Dataset positions shown, in order."""
        return self._rows

    @property
    def position(self) -> int | None:
        """The dataset position under the cursor (None when empty)."""
        return self._rows[self.cursor] if 0 <= self.cursor < len(self._rows) else None

    def set_dataset(self, dataset: Dataset) -> None:
        """Use ``dataset`` (precomputes the one-line labels)."""
        self._dataset = dataset
        self._labels = [headline(t) for t in dataset.texts]
        self._counts = [int(c) for c in dataset.countries_per_question()]
        self._id_width = max(3, len(str(max(dataset.ids, default=0))))

    def set_rows(self, positions: Sequence[int]) -> None:
        """Show ``positions``; the cursor stays on the same question when it is still shown."""
        keep = self.position
        self._rows = list(positions)
        self.virtual_size = Size(self.size.width, len(self._rows))
        try:
            index = self._rows.index(keep) if keep is not None else 0
        except ValueError:
            index = 0
        if index == 0:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor = index
        self.refresh()

    def select_position(self, position: int) -> bool:
        """Move the cursor to ``position``; False if it is not shown."""
        try:
            self.cursor = self._rows.index(position)
        except ValueError:
            return False
        return True

    # ------------------------------------------------------------------ cursor

    def validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, len(self._rows) - 1))

    def watch_cursor(self, cursor: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        position = self.position
        if position != self._posted:
            self._posted = position
            self.post_message(self.Highlighted(self, position))

    def _scroll_to_cursor(self) -> None:
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        if height <= 0:
            return
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._rows))
        self._scroll_to_cursor()

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        self.cursor -= max(1, self.scrollable_content_region.height - 1)

    def action_page_down(self) -> None:
        self.cursor += max(1, self.scrollable_content_region.height - 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._rows) - 1

    def action_select(self) -> None:
        if self.position is not None:
            self.post_message(self.Selected(self, self.position))

    async def _on_click(self, event: events.Click) -> None:
        """A click highlights a question; a double click also selects it."""
        row = event.style.meta.get("row")
        if isinstance(row, int) and 0 <= row < len(self._rows):
            self.focus()
            self.cursor = row
            if event.chain >= 2:
                self.action_select()

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = self.scroll_offset.y + y
        base = self.rich_style
        if not self._rows:
            if y == 0:
                message = self.empty_message if self._dataset else self.loading_message
                style = base + self.get_component_rich_style("question-list--empty")
                return Strip([Segment(f" {message}", style)]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        if row >= len(self._rows):
            return Strip.blank(width, base)
        pos = self._rows[row]
        assert self._dataset is not None
        meta = Style.from_meta({"row": row})
        line = base
        if row == self.cursor:
            line = base + self.get_component_rich_style("question-list--cursor")
        id_style = line + self.get_component_rich_style("question-list--id", partial=True)
        src_style = line + self.get_component_rich_style("question-list--source", partial=True)
        count_style = line + self.get_component_rich_style("question-list--count", partial=True)
        if row == self.cursor:
            id_style = src_style = count_style = line
        qid = str(self._dataset.ids[pos]).rjust(self._id_width)
        segments = [
            Segment(f" {qid} ", id_style + meta),
            Segment(f"{self._dataset.sources[pos]} ", src_style + meta),
            Segment(f"{self._counts[pos]:>3} ", count_style + meta),
        ]
        used = sum(s.cell_length for s in segments)
        room = max(0, width - used - 1)
        text = self._labels[pos]
        if cell_len(text) > room:
            text = set_cell_size(text, max(0, room - 1)) + "…"
        segments.append(Segment(set_cell_size(text, room) + " ", line + meta))
        return Strip(segments).adjust_cell_length(width, line)

    @property
    def header(self) -> str:
        """Column titles aligned with the rows."""
        return f" {'id'.rjust(self._id_width)} src  n  question"
