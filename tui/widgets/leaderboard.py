"""A country leaderboard: one row per country with a score bar, searchable and sortable.

Rows are plain :class:`LeaderboardRow` values; screens build them from
:class:`core.metrics.Scores` (:func:`rows_from_scores`) or from anything else that gives one
number per country (a difference between two runs, a human-to-human similarity). The bar
column is drawn with eighth blocks, ``▏▎▍▌▋▊▉█``, on a scale that spans the values shown, so
the differences that matter (0.78 against 0.81) are visible; a ``┆`` marks the row's baseline
(the uniform-answer score) when it lies beyond the bar. A row with an interval (a bootstrap
95% CI) shows it in its own column and on the bar: the part of the bar above the lower bound is
drawn lighter and a whisker ``─┤`` reaches the upper bound. In diverging mode (differences)
bars grow right of a centre line for positive values and left of it for negative ones; rows
marked significant carry a ``*`` after their value.

A board can rank a divergence, where lower is better (``kl``): with ``higher_is_better``
False (:meth:`Leaderboard.configure`) the lowest value ranks first and bars are drawn
oriented, the best value in view the longest, so "closer" always points the same way. An
optional title line above the caption names what the values are (the app's metric).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from core.countries import resolve
from core.metrics import Scores
from core.textbars import eighths_bar

BASELINE_MARK = "┆"
CENTRE_MARK = "│"
WHISKER = "─"
WHISKER_END = "┤"
SIGNIFICANT_MARK = "*"
MIN_BAR_WIDTH = 8
MIN_LABEL_WIDTH = 12
SORT_KEYS = ("value", "label", "n")
"""Built-in sort keys; extra columns sort as ``x0``, ``x1``…"""


@dataclass(frozen=True)
class LeaderboardRow:
    """One country on the board.

    Attributes:
        key: the raw dataset country key (stable identity of the row).
        label: what the row shows, e.g. ``India (current national)``.
        value: the number the bar draws and the default sort uses.
        n: how many questions stand behind ``value``.
        baseline: a reference value on the same scale (the uniform-answer score), or None.
        extras: values for the board's extra columns, in ``extra_labels`` order.
        mark: ``""``, ``"focus"`` (the condition's own country), ``"toward"`` or ``"away"``.
        interval: (low, high) confidence interval of ``value``, or None.
        significant: the value differs significantly from zero (marked with ``*``).
    """

    key: str
    label: str
    value: float
    n: int
    baseline: float | None = None
    extras: tuple[float | None, ...] = ()
    mark: str = ""
    interval: tuple[float, float] | None = None
    significant: bool = False


def rows_from_scores(scores: Scores, baseline: Scores | None = None) -> list[LeaderboardRow]:
    """Leaderboard rows for model scores, with each country's uniform baseline if given.

    Args:
        scores: per-country scores (a :class:`core.runs.LoadedRun`'s, say).
        baseline: scores of the uniform answerer on the same questions (a loaded run's
            ``uniform``); adds a ``uniform`` extra value and the baseline marker.
    """
    rows = []
    for c in scores.countries:
        base = baseline.get(c.country) if baseline is not None else None
        b = base.similarity if base is not None else None
        rows.append(
            LeaderboardRow(
                key=c.country,
                label=c.display,
                value=c.similarity,
                n=c.n_questions,
                baseline=b,
                extras=(b,) if baseline is not None else (),
            )
        )
    return rows


def oriented_scale(values: Iterable[float]) -> tuple[float, float]:
    """A (low, high) range for bars of oriented values (negated divergences, all <= 0):
    high the best value, low a little below the worst, so the worst still shows a sliver."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return -1.0, 0.0
    lo, hi = min(finite), max(finite)
    lo -= max(0.05 * (hi - lo), 0.02)
    if hi - lo < 1e-9:
        hi = lo + 0.05
    return lo, hi


def nice_scale(values: Iterable[float]) -> tuple[float, float]:
    """A (low, high) range for bars: low rounded down to 0.05, high the largest value.

    Similarity scores crowd into a narrow band, so a 0..1 scale hides their differences.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    lo = max(0.0, math.floor((lo - 0.02) * 20) / 20)
    if hi - lo < 1e-9:
        hi = lo + 0.05
    return lo, hi


class _SearchInput(Input):
    """The board's search box: Escape clears it and returns to the table."""

    BINDINGS = [
        Binding(
            "escape",
            "leave_search",
            "Clear search",
            id="leaderboard.clear_search",
            tooltip="Clear the search and go back to the table",
        ),
        Binding(
            "down",
            "leave_search(False)",
            "To table",
            show=False,
            id="leaderboard.to_table",
            tooltip="Move to the table, keeping the search",
        ),
    ]

    def action_leave_search(self, clear: bool = True) -> None:
        if clear:
            self.value = ""
        board = next((a for a in self.ancestors if isinstance(a, Leaderboard)), None)
        if board is not None:
            board.query_one(DataTable).focus()


class _BoardTable(DataTable[object]):
    """The board's table: Home and End go to the first and last country."""

    BINDINGS = [
        Binding(
            "home",
            "scroll_top",
            "First",
            show=False,
            id="leaderboard.first",
            tooltip="Go to the first country",
        ),
        Binding(
            "end",
            "scroll_bottom",
            "Last",
            show=False,
            id="leaderboard.last",
            tooltip="Go to the last country",
        ),
    ]


class Leaderboard(Vertical):
    """Countries ranked by a value, drawn as bars; ``/`` searches, ``s`` changes the sort.

    Set the data with :meth:`set_rows`; pressing Enter on a row posts
    :class:`Leaderboard.CountrySelected`.
    """

    DEFAULT_CSS = """
    Leaderboard {
        height: 1fr;
        min-height: 5;
    }
    Leaderboard > .lb-title {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        color: $text-accent;
        text-style: bold;
    }
    Leaderboard > .lb-title.-empty {
        display: none;
    }
    Leaderboard > .lb-caption {
        height: auto;
        max-height: 2;
        padding: 0 1;
        color: $text-muted;
    }
    Leaderboard > _SearchInput {
        height: 1;
        border: none;
        padding: 0 1;
        margin: 0;
    }
    Leaderboard > _SearchInput.-hidden {
        display: none;
    }
    Leaderboard > DataTable {
        height: 1fr;
    }
    Leaderboard .leaderboard--bar {
        color: $primary;
    }
    Leaderboard .leaderboard--interval {
        color: $primary 50%;
    }
    Leaderboard .leaderboard--significant {
        text-style: bold;
    }
    Leaderboard .leaderboard--bar-negative {
        color: $error;
    }
    Leaderboard .leaderboard--bar-positive {
        color: $success;
    }
    Leaderboard .leaderboard--baseline {
        color: $warning;
    }
    Leaderboard .leaderboard--focus {
        color: $accent;
        text-style: bold;
    }
    Leaderboard .leaderboard--toward {
        color: $success;
    }
    Leaderboard .leaderboard--away {
        color: $error;
    }
    Leaderboard .leaderboard--dim {
        color: $text-muted;
    }
    """

    COMPONENT_CLASSES = {
        "leaderboard--bar",
        "leaderboard--interval",
        "leaderboard--significant",
        "leaderboard--bar-negative",
        "leaderboard--bar-positive",
        "leaderboard--baseline",
        "leaderboard--focus",
        "leaderboard--toward",
        "leaderboard--away",
        "leaderboard--dim",
    }

    BINDINGS = [
        Binding(
            "slash",
            "search",
            "Search",
            id="leaderboard.search",
            tooltip="Filter the countries by name or ISO code",
        ),
        Binding(
            "s",
            "cycle_sort",
            "Sort",
            id="leaderboard.sort",
            tooltip="Sort by value, name, question count or the extra columns",
        ),
        Binding(
            "S",
            "reverse_sort",
            "Reverse",
            show=False,
            id="leaderboard.reverse",
            tooltip="Reverse the sort order",
        ),
    ]

    @dataclass
    class CountrySelected(Message):
        """Enter was pressed on a country row."""

        leaderboard: Leaderboard
        country: str

        @property
        def control(self) -> Leaderboard:
            return self.leaderboard

    sort_by: reactive[str] = reactive("value")
    """Column the rows are ordered by: ``value``, ``label``, ``n`` or ``x<i>`` (extra i)."""
    descending: reactive[bool] = reactive(True)
    """Sort direction."""
    search: reactive[str] = reactive("")
    """Case-insensitive filter on the country label, raw key or ISO code."""
    higher_is_better: reactive[bool] = reactive(True, init=False)
    """False for a divergence: the lowest value ranks first (the ``value`` sort puts the best
    first either way) and bars grow toward the best value."""

    def __init__(
        self,
        *,
        value_label: str = "score",
        extra_labels: Sequence[str] = (),
        diverging: bool = False,
        value_format: str = "{:.3f}",
        n_label: str = "n",
        show_search: bool = True,
        interval_label: str = "",
        extra_formats: Sequence[str | Callable[[float], str]] = (),
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty board.

        Args:
            value_label: header of the value column.
            extra_labels: headers of extra numeric columns (``LeaderboardRow.extras``).
            diverging: draw bars from a centre line (for signed differences).
            value_format: ``str.format`` pattern for the value and extra columns.
            n_label: header of the question-count column.
            show_search: show the search box (it appears anyway when ``/`` is pressed).
            interval_label: header of an interval column (e.g. ``95% CI``) showing
                ``LeaderboardRow.interval``; empty for none.
            extra_formats: per extra column, a ``str.format`` pattern or a function of the
                value (default: ``value_format``).
        """
        super().__init__(name=name, id=id, classes=classes)
        self.value_label = value_label
        self.extra_labels = tuple(extra_labels)
        self.diverging = diverging
        self.value_format = value_format
        self.n_label = n_label
        self.show_search = show_search
        self.interval_label = interval_label
        self.extra_formats = tuple(extra_formats)
        self._rows: list[LeaderboardRow] = []
        self._displayed: list[str] = []
        self._ambiguous: set[str] = set()
        self._caption = ""
        self._title = ""
        self._bar_width = 20
        self._label_width = 14
        self._styles: dict[str, Style] = {}

    def compose(self) -> ComposeResult:
        yield Static("", classes="lb-title -empty", markup=False)
        yield Static("", classes="lb-caption", markup=False)
        yield _SearchInput(
            placeholder="/ search countries (name or ISO code)",
            classes="" if self.show_search else "-hidden",
        )
        yield _BoardTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self._show_title()
        self._build_columns()
        self._render_rows()
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self) -> None:
        # Bar colours are baked into the cells: draw them again in the new theme's colours.
        self._rich_style_cache.clear()
        self._styles.clear()
        self._render_rows()

    # ------------------------------------------------------------------ public API

    @property
    def rows(self) -> list[LeaderboardRow]:
        """The rows as last set, ranked by value, best first (highest; lowest when
        :attr:`higher_is_better` is False)."""
        return list(self._rows)

    @property
    def title(self) -> str:
        """The title line ("" for none)."""
        return self._title

    @property
    def caption(self) -> str:
        """The caption as last set."""
        return self._caption

    @property
    def displayed_keys(self) -> list[str]:
        """Country keys in the order shown (after search and sort)."""
        return list(self._displayed)

    @property
    def highlighted_key(self) -> str | None:
        """The country under the table cursor, if any."""
        table = self.query_one(DataTable)
        if not self._displayed or table.cursor_row < 0:
            return None
        if table.cursor_row >= len(self._displayed):
            return None
        return self._displayed[table.cursor_row]

    def set_rows(
        self,
        rows: Iterable[LeaderboardRow],
        caption: str | None = None,
        keep_cursor: bool = True,
    ) -> None:
        """Replace the rows (they are ranked by value) and redraw.

        Args:
            rows: the new rows, in any order.
            caption: a new caption (None keeps the current one), shown as plain text.
            keep_cursor: keep the cursor on the same country as it moves (live updates);
                False puts it back on the first row (a different board altogether).
        """
        self._rows = self._ranked(rows)
        labels = Counter(r.label for r in self._rows)
        self._ambiguous = {label for label, n in labels.items() if n > 1}
        if caption is not None:
            self._caption = caption
        if self.is_mounted:
            self._render_rows(keep_cursor)

    def _ranked(self, rows: Iterable[LeaderboardRow]) -> list[LeaderboardRow]:
        def rank_key(row: LeaderboardRow) -> tuple[float, str]:
            value = self._oriented(row.value)
            return (-value if math.isfinite(value) else math.inf), row.key

        return sorted(rows, key=rank_key)

    def _oriented(self, value: float) -> float:
        """``value`` turned so that higher is better (negated for a divergence)."""
        return value if self.higher_is_better else -value

    def configure(
        self,
        *,
        title: str | None = None,
        value_label: str | None = None,
        higher_is_better: bool | None = None,
    ) -> None:
        """Say what the values are: a title line, the value column's header and which way
        is better (rows are ranked again). None leaves a setting as it is.

        Args:
            title: the line above the caption, as plain text ("" hides it).
            value_label: the value column's header.
            higher_is_better: False for a divergence (lowest first, bars oriented).
        """
        if title is not None:
            self._title = title
        relabel = value_label is not None and value_label != self.value_label
        if value_label is not None:
            self.value_label = value_label
        if higher_is_better is not None and higher_is_better != self.higher_is_better:
            self.set_reactive(Leaderboard.higher_is_better, higher_is_better)
            self._rows = self._ranked(self._rows)
            relabel = True
        if not self.is_mounted:
            return
        self._show_title()
        if relabel:
            self._build_columns()
            self._render_rows()

    def watch_higher_is_better(self) -> None:
        self._rows = self._ranked(self._rows)
        if self.is_mounted:
            self._build_columns()
            self._render_rows()

    def _show_title(self) -> None:
        title = self.query_one(".lb-title", Static)
        title.update(Text(self._title))
        title.set_class(not self._title, "-empty")

    def set_caption(self, caption: str) -> None:
        """Show ``caption`` above the table, as plain text (a run name in it is not markup)."""
        self._caption = caption
        if self.is_mounted:
            self.query_one(".lb-caption", Static).update(Text(caption))

    def clear(self, caption: str = "") -> None:
        self.set_rows([], caption)

    def focus_table(self) -> None:
        self.query_one(DataTable).focus()

    # ------------------------------------------------------------------ actions

    def action_search(self) -> None:
        search = self.query_one(_SearchInput)
        search.remove_class("-hidden")
        search.focus()

    def action_cycle_sort(self) -> None:
        keys = list(SORT_KEYS) + [f"x{i}" for i in range(len(self.extra_labels))]
        nxt = keys[(keys.index(self.sort_by) + 1) % len(keys)] if self.sort_by in keys else "value"
        self._set_sort(nxt)

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending

    def _set_sort(self, key: str) -> None:
        self.sort_by = key
        self.descending = key != "label"

    # ------------------------------------------------------------------ reactions

    def watch_sort_by(self) -> None:
        if self.is_mounted:
            self._build_columns()
            self._render_rows()

    def watch_descending(self) -> None:
        if self.is_mounted:
            self._build_columns()
            self._render_rows()

    def watch_search(self) -> None:
        if self.is_mounted:
            self._render_rows()

    @on(Input.Changed)
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.search = event.value

    @on(Input.Submitted)
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_table()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.CountrySelected(self, str(event.row_key.value)))

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = str(event.column_key.value)
        if key in ("rank", "bar", "ci"):
            key = "value"
        if key == self.sort_by:
            self.descending = not self.descending
        else:
            self._set_sort(key)

    def on_resize(self) -> None:
        width = self._compute_bar_width()
        if width != self._bar_width or self._wanted_label_width() != self._label_width:
            self._bar_width = width
            self._build_columns()
            self._render_rows()

    # ------------------------------------------------------------------ drawing

    def _fixed_width(self) -> int:
        """Cells taken by every column but the label and the bar, padding and scrollbar too."""
        columns = 5 + len(self.extra_labels) + (1 if self.interval_label else 0)
        fixed = 3 + self._value_width + self._n_width + sum(self._extra_widths)
        fixed += self._interval_width if self.interval_label else 0
        scrollbar = 2
        return fixed + 2 * columns + scrollbar  # one cell of padding either side of a column

    def _compute_bar_width(self) -> int:
        total = self.size.width or 80
        return max(MIN_BAR_WIDTH, min(60, total - self._fixed_width() - self._label_width))

    @property
    def _extra_widths(self) -> list[int]:
        return [max(7, len(label)) for label in self.extra_labels]

    @property
    def _interval_width(self) -> int:
        return max(len(self.interval_label), 13 if self.diverging else 11)

    @property
    def _value_width(self) -> int:
        return max(7, len(self.value_label) + 2)

    @property
    def _n_width(self) -> int:
        return max(5, len(self.n_label) + 2)

    def _wanted_label_width(self) -> int:
        longest = max((len(r.label) for r in self._rows), default=8)
        width = self.size.width or 120
        # A quarter of the width, less if the columns would not fit beside a short bar.
        room = min(width // 4, width - self._fixed_width() - MIN_BAR_WIDTH)
        return max(8, min(28, max(MIN_LABEL_WIDTH, room), longest))

    def _header(self, key: str, text: str) -> str:
        if key != self.sort_by:
            return text
        # The arrow shows which way the numbers run: the best first is ascending for a
        # divergence.
        falling = (
            self.descending if key != "value" or self.higher_is_better else not self.descending
        )
        return f"{text} {'▼' if falling else '▲'}"

    def _build_columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self._label_width = self._wanted_label_width()
        self._bar_width = self._compute_bar_width()
        table.add_column("#", key="rank", width=3)
        table.add_column(self._header("label", "Country"), key="label", width=self._label_width)
        table.add_column("", key="bar", width=self._bar_width)
        table.add_column(
            self._header("value", self.value_label), key="value", width=self._value_width
        )
        table.add_column(self._header("n", self.n_label), key="n", width=self._n_width)
        if self.interval_label:
            table.add_column(self.interval_label, key="ci", width=self._interval_width)
        for i, (label, width) in enumerate(zip(self.extra_labels, self._extra_widths, strict=True)):
            table.add_column(self._header(f"x{i}", label), key=f"x{i}", width=width)

    def _matches(self, row: LeaderboardRow, needle: str) -> bool:
        if not needle:
            return True
        if needle in row.label.lower() or needle in row.key.lower():
            return True
        iso = resolve(row.key).iso2
        return iso is not None and iso.lower() == needle

    def _sort_value(self, row: LeaderboardRow) -> tuple[float | str, str]:
        key = self.sort_by
        if key == "label":
            return row.label.lower(), row.key
        if key == "n":
            return float(row.n), row.key
        if key.startswith("x") and key[1:].isdigit():
            i = int(key[1:])
            value = row.extras[i] if i < len(row.extras) else None
            return (value if value is not None else -math.inf), row.key
        return self._oriented(row.value), row.key

    def _render_rows(self, keep_cursor: bool = True) -> None:
        table = self.query_one(DataTable)
        self.query_one(".lb-caption", Static).update(Text(self._caption))
        if not table.columns or self._wanted_label_width() != self._label_width:
            self._build_columns()
        previous = self.highlighted_key if keep_cursor else None
        rank = {r.key: i + 1 for i, r in enumerate(self._rows)}
        needle = self.search.strip().lower()
        shown = [r for r in self._rows if self._matches(r, needle)]
        shown.sort(key=self._sort_value, reverse=self.descending)
        lo, hi = self._scale()
        table.clear()
        for row in shown:
            table.add_row(*self._cells(row, rank[row.key], lo, hi), key=row.key)
        self._displayed = [r.key for r in shown]
        if previous is not None and previous in self._displayed:
            table.move_cursor(row=self._displayed.index(previous), animate=False)
        elif not keep_cursor:
            table.move_cursor(row=0, animate=False)
            table.scroll_home(animate=False)

    def _scale(self) -> tuple[float, float]:
        if self.diverging:
            span = max((abs(r.value) for r in self._rows if math.isfinite(r.value)), default=0.0)
            return -(span or 1.0), span or 1.0
        drawn = [self._drawn(r) for r in self._rows]
        values = [r.value for r in drawn]
        values += [r.baseline for r in drawn if r.baseline is not None]
        values += [r.interval[1] for r in drawn if r.interval is not None]
        return nice_scale(values) if self.higher_is_better else oriented_scale(values)

    def _drawn(self, row: LeaderboardRow) -> LeaderboardRow:
        """The row as its bar draws it: oriented so that higher is better (a divergence's
        value, baseline and interval negated, the interval's ends swapped)."""
        if self.higher_is_better or self.diverging:
            return row
        interval = (-row.interval[1], -row.interval[0]) if row.interval is not None else None
        baseline = -row.baseline if row.baseline is not None else None
        return replace(row, value=-row.value, baseline=baseline, interval=interval)

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.get_component_rich_style(name, partial=True)
            styles = self.get_component_styles(name)
            background = self.background_colors[1]
            colour = styles.color
            if styles.has_rule("auto_color") and styles.auto_color:  # $text-muted and friends
                colour = background.get_contrast_text(colour.a)
            if colour.a < 1:  # translucent: blend it over the board, as Textual does
                style += Style(color=(background + colour).rich_color)
            self._styles[name] = style
        return style

    def _cells(self, row: LeaderboardRow, rank: int, lo: float, hi: float) -> list[Text | str]:
        label_style = {
            "focus": "leaderboard--focus",
            "toward": "leaderboard--toward",
            "away": "leaderboard--away",
        }.get(row.mark)
        label = Text(row.label, overflow="ellipsis", no_wrap=True)
        if row.label in self._ambiguous:
            # Two spellings of one country (the GAS and WVS keys) are told apart by the raw key.
            label.append(f" · {row.key}", style=self._style("leaderboard--dim"))
        if label_style:
            label.stylize(self._style(label_style))
        if self.diverging:
            bar = self._diverging_bar(row.value, hi)
            value = Text(f"{row.value:+.3f}")
            value.stylize(
                self._style(
                    "leaderboard--bar-positive" if row.value > 0 else "leaderboard--bar-negative"
                )
            )
        else:
            bar = self._value_bar(self._drawn(row), lo, hi)
            value = Text(self.value_format.format(row.value))
        if row.significant:
            value.append(SIGNIFICANT_MARK)
            value.stylize(self._style("leaderboard--significant"))
        cells: list[Text | str] = [
            Text(str(rank), style=self._style("leaderboard--dim")),
            label,
            bar,
            value,
            Text(str(row.n)),
        ]
        if self.interval_label:
            cells.append(self._interval_cell(row.interval))
        for i in range(len(self.extra_labels)):
            x = row.extras[i] if i < len(row.extras) else None
            cell = Text("—" if x is None else self._format_extra(i, x))
            cell.stylize(self._style("leaderboard--dim"))
            cells.append(cell)
        return cells

    def _format_extra(self, i: int, x: float) -> str:
        fmt = self.extra_formats[i] if i < len(self.extra_formats) else self.value_format
        return fmt(x) if callable(fmt) else fmt.format(x)

    def _interval_cell(self, interval: tuple[float, float] | None) -> Text:
        if interval is None:
            return Text("—", style=self._style("leaderboard--dim"))
        low, high = interval
        if self.diverging:
            return Text(f"{low:+.3f}…{high:+.3f}")
        return Text(f"{self.value_format.format(low)}–{self.value_format.format(high)}")

    def _column(self, value: float, lo: float, hi: float) -> int:
        """The bar cell a value falls in."""
        col = int((value - lo) / (hi - lo) * self._bar_width) if hi > lo else 0
        return min(max(col, 0), self._bar_width - 1)

    def _value_bar(self, row: LeaderboardRow, lo: float, hi: float) -> Text:
        width = self._bar_width
        frac = (row.value - lo) / (hi - lo) if hi > lo else 0.0
        text = eighths_bar(frac, width)
        filled = len(text.rstrip())
        bar = Text(text.rstrip(), style=self._style("leaderboard--bar"))
        if row.interval is not None and all(math.isfinite(v) for v in row.interval):
            low_col = self._column(row.interval[0], lo, hi)
            high_col = self._column(row.interval[1], lo, hi)
            if low_col < filled:
                bar.stylize(self._style("leaderboard--interval"), low_col, filled)
            if high_col >= filled:
                whisker = WHISKER * (high_col - filled) + WHISKER_END
                bar.append(whisker, style=self._style("leaderboard--interval"))
        bar.append(" " * (width - len(bar.plain)))
        if row.baseline is not None and math.isfinite(row.baseline):
            col = self._column(row.baseline, lo, hi)
            if col >= filled:  # beside the bar (over a whisker, too): visible
                mark = Text(BASELINE_MARK, style=self._style("leaderboard--baseline"))
                bar = bar[:col] + mark + bar[col + 1 :]
        return bar

    def _diverging_bar(self, value: float, span: float) -> Text:
        width = self._bar_width
        half = max(1, (width - 1) // 2)
        frac = min(abs(value) / span, 1.0) if span > 0 else 0.0
        bar = Text()
        if value < 0:
            cells = frac * half
            full = int(cells)
            part = "▐" if cells - full >= 0.5 else ""
            left = part + "█" * full
            bar.append(" " * (half - len(left)))
            bar.append(left, style=self._style("leaderboard--bar-negative"))
            bar.append(CENTRE_MARK, style=self._style("leaderboard--dim"))
        else:
            bar.append(" " * half)
            bar.append(CENTRE_MARK, style=self._style("leaderboard--dim"))
            bar.append(
                eighths_bar(frac, half).rstrip(), style=self._style("leaderboard--bar-positive")
            )
        return bar
