"""A choropleth world map: every country coloured by its score, in the app's theme.

The raster comes from :mod:`core.worldmap`; each character cell shows two square pixels with
the half blocks ``▀``/``▄`` (foreground the upper pixel, background the lower), so the
``large`` grid fills 150×30 cells and the ``small`` one 75×15. The grid is chosen from the
widget's size unless pinned.

Colours come from the theme through component classes (``$primary`` and friends, no hex):
scores run from a faint to a full ``worldmap--high`` colour, countries without a score are
hatched in two faint stripes, sea is the widget's background. A crosshair pixel (arrow keys,
or the mouse) picks a country; its name, score and question count show under the legend and
:class:`WorldMap.CountryHovered` is posted when it changes.

For a divergence, where lower is better, set :attr:`WorldMap.higher_is_better` False: the
scale is reversed so the full colour stays the closer end, and the legend runs from the worst
value to the best. :attr:`WorldMap.legend_label` names the values (a metric) in the legend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.color import Color
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from core.worldmap import (
    SEA,
    UNMAPPED,
    Resolution,
    WorldGrid,
    cell_at,
    country_at,
    country_pixel,
    load_grid,
    lonlat_of,
    map_range,
    resolution_for,
    scale_position,
)

EXTRA_LINES = 2
"""Lines under the map: the legend and the country line."""
LEGEND_STEPS = 12
HATCH_PERIOD = 3
"""No-data pixels on every third diagonal take the second hatch colour."""


def _map_rows(grid: WorldGrid) -> int:
    return (grid.height + 1) // 2


@lru_cache(maxsize=4)
def _cell_counts(grid: WorldGrid) -> tuple[int, ...]:
    return tuple(grid.cell_counts().values())


class WorldMap(Widget, can_focus=True):
    """Countries coloured by a value on a theme-aware scale, with a legend and a cursor.

    Set :attr:`values` (ISO alpha-2 -> (score, n)); codes the map cannot draw (``GB-NIR``)
    are reported on their parent country's line.
    """

    DEFAULT_CSS = """
    WorldMap {
        height: auto;
        min-height: 4;
    }
    WorldMap > .worldmap--low {
        color: $primary 22%;
    }
    WorldMap > .worldmap--high {
        color: $primary;
    }
    WorldMap > .worldmap--no-data {
        color: $foreground 16%;
    }
    WorldMap > .worldmap--no-data-stripe {
        color: $foreground 7%;
    }
    WorldMap > .worldmap--cursor {
        color: $accent;
    }
    WorldMap > .worldmap--selected {
        color: $foreground 35%;
    }
    WorldMap > .worldmap--legend {
        color: $text-muted;
    }
    WorldMap > .worldmap--info {
        color: $foreground;
    }
    """

    COMPONENT_CLASSES = {
        "worldmap--low",
        "worldmap--high",
        "worldmap--no-data",
        "worldmap--no-data-stripe",
        "worldmap--cursor",
        "worldmap--selected",
        "worldmap--legend",
        "worldmap--info",
    }
    """
    | Class | Description |
    | :- | :- |
    | `worldmap--low` | Colour of the lowest score (composited over the background). |
    | `worldmap--high` | Colour of the highest score. |
    | `worldmap--no-data` | Hatch colour of countries without a score. |
    | `worldmap--no-data-stripe` | Second hatch colour (every third diagonal). |
    | `worldmap--cursor` | The crosshair pixel. |
    | `worldmap--selected` | Tint mixed into the country under the crosshair. |
    | `worldmap--legend` | The legend's text. |
    | `worldmap--info` | The country line. |
    """

    BINDINGS = [
        Binding(
            "left", "move(-1, 0)", "West", show=False, id="worldmap.left",
            tooltip="Move the crosshair one cell west",
        ),
        Binding(
            "right", "move(1, 0)", "East", show=False, id="worldmap.right",
            tooltip="Move the crosshair one cell east",
        ),
        Binding(
            "up", "move(0, -1)", "North", show=False, id="worldmap.up",
            tooltip="Move the crosshair one pixel north",
        ),
        Binding(
            "down", "move(0, 1)", "South", show=False, id="worldmap.down",
            tooltip="Move the crosshair one pixel south",
        ),
        Binding(
            "shift+left", "move(-6, 0)", "West ×6", show=False, id="worldmap.left_fast",
            tooltip="Move the crosshair six cells west",
        ),
        Binding(
            "shift+right", "move(6, 0)", "East ×6", show=False, id="worldmap.right_fast",
            tooltip="Move the crosshair six cells east",
        ),
        Binding(
            "shift+up", "move(0, -6)", "North ×6", show=False, id="worldmap.up_fast",
            tooltip="Move the crosshair six pixels north",
        ),
        Binding(
            "shift+down", "move(0, 6)", "South ×6", show=False, id="worldmap.down_fast",
            tooltip="Move the crosshair six pixels south",
        ),
    ]  # fmt: skip

    @dataclass
    class CountryHovered(Message):
        """The crosshair moved onto another country (or onto the sea: ``iso2`` None)."""

        world_map: WorldMap
        iso2: str | None
        name: str | None
        score: float | None
        n: int | None

        @property
        def control(self) -> WorldMap:
            return self.world_map

    values: reactive[dict[str, tuple[float, int]]] = reactive(dict, layout=False)
    """Score and question count per ISO alpha-2 code; countries missing are hatched."""
    scale: reactive[tuple[float, float] | None] = reactive(None)
    """The colour scale (faint end, full end); None spans the values drawn (reversed when
    :attr:`higher_is_better` is False). A faint end above the full end is a reversed scale."""
    higher_is_better: reactive[bool] = reactive(True)
    """False for a divergence: the lowest value takes the full colour."""
    legend_label: reactive[str] = reactive("")
    """What the values are, shown in the legend with which end is closer ("" for a bare
    legend)."""
    resolution: reactive[Resolution] = reactive("large", layout=True)
    """The grid in use: ``large`` (150×30 cells) or ``small`` (75×15), chosen from the size."""
    cursor: reactive[tuple[int, int] | None] = reactive(None)
    """The crosshair pixel (x, y) on the current grid, or None before the first move."""

    def __init__(
        self,
        values: dict[str, tuple[float, int]] | None = None,
        *,
        resolution: Resolution | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """A world map.

        Args:
            values: initial scores, ISO alpha-2 -> (score, n).
            resolution: pin a grid (``large``/``small``); None chooses it from the size.
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._pinned = resolution
        if resolution is not None:
            self.set_reactive(WorldMap.resolution, resolution)
        if values:
            self.set_reactive(WorldMap.values, dict(values))
        self._strips: list[Strip] | None = None
        self._hovered: str | None = None

    # ------------------------------------------------------------------ state

    @property
    def grid(self) -> WorldGrid:
        """The raster in use."""
        return load_grid(self.resolution)

    def _invalidate(self) -> None:
        self._strips = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._invalidate())

    def watch_values(self) -> None:
        self._invalidate()
        self._announce(values_changed=True)

    def watch_scale(self) -> None:
        self._invalidate()

    def watch_higher_is_better(self) -> None:
        self._invalidate()

    def watch_legend_label(self) -> None:
        self._invalidate()

    def watch_cursor(self) -> None:
        self._invalidate()
        self._announce()

    def watch_resolution(self, old: Resolution, new: Resolution) -> None:
        if self.cursor is not None and old != new:
            lon, lat = lonlat_of(load_grid(old), *self.cursor)
            self.set_reactive(WorldMap.cursor, cell_at(load_grid(new), lon, lat))
        self._invalidate()

    def _choose_resolution(self, width: int, height: int) -> Resolution:
        if self._pinned is not None:
            return self._pinned
        return resolution_for(width, max(height - EXTRA_LINES, 0))

    def on_resize(self, event: events.Resize) -> None:
        self.resolution = self._choose_resolution(self.size.width, self.size.height)
        self._invalidate()

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return load_grid(self._choose_resolution(container.width, container.height)).width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        grid = load_grid(self._choose_resolution(width, container.height))
        return _map_rows(grid) + EXTRA_LINES

    @property
    def _x0(self) -> int:
        """Column of the map's first pixel (the map is centred)."""
        return max(0, (self.size.width - self.grid.width) // 2)

    # ------------------------------------------------------------------ interaction

    def action_move(self, dx: int, dy: int) -> None:
        """Move the crosshair (wrapping east-west, stopping at the poles)."""
        grid = self.grid
        if self.cursor is None:
            self.cursor = cell_at(grid, 10.0, 20.0)
            return
        x, y = self.cursor
        self.cursor = ((x + dx) % grid.width, min(max(y + dy, 0), grid.height - 1))

    def show_country(self, code: str | None) -> bool:
        """Put the crosshair on a country (ISO alpha-2; ``GB-NIR`` goes to its parent).

        Returns:
            False, leaving the crosshair where it was, when the map does not draw ``code``.
        """
        if not code:
            return False
        pixel = country_pixel(self.grid, code) or country_pixel(self.grid, code.split("-")[0])
        if pixel is None:
            return False
        if self.hovered() != country_at(self.grid, *pixel):  # else leave it where it is
            self.cursor = pixel
        return True

    def on_mouse_move(self, event: events.MouseMove) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        pixel = self._pixel_at(offset.x, offset.y)
        if pixel is not None and pixel != self.cursor:
            self.cursor = pixel

    def on_click(self, event: events.Click) -> None:
        self.focus()

    def _pixel_at(self, column: int, row: int) -> tuple[int, int] | None:
        """The pixel under a character cell: of its two pixels, land over sea, and the
        smaller country over the larger (so single-cell states can be pointed at)."""
        grid = self.grid
        x = column - self._x0
        if not (0 <= x < grid.width and 0 <= row < _map_rows(grid)):
            return None
        top, bottom = 2 * row, min(2 * row + 1, grid.height - 1)
        a, b = int(grid.cells[top, x]), int(grid.cells[bottom, x])
        if a == SEA or (b != SEA and self._size_of(b) < self._size_of(a)):
            return (x, bottom)
        return (x, top)

    def _size_of(self, index: int) -> int:
        return _cell_counts(self.grid)[index]

    def hovered(self) -> str | None:
        """ISO code under the crosshair, or None."""
        return country_at(self.grid, *self.cursor) if self.cursor is not None else None

    def _announce(self, values_changed: bool = False) -> None:
        """Post :class:`CountryHovered` when the country under the crosshair changed (or its
        score did)."""
        code = self.hovered()
        if code == self._hovered and not (values_changed and code is not None):
            return
        self._hovered = code
        score, n = self.values.get(code, (None, None)) if code else (None, None)
        name = self.grid.name(code) if code else None
        self.post_message(self.CountryHovered(self, code, name, score, n))

    # ------------------------------------------------------------------ colours

    def _palette(self) -> tuple[Color, Color, Color, Color, Color, Color, Color]:
        _, base = self.background_colors

        def colour(name: str) -> Color:
            return base + self.get_component_styles(name).color

        return (
            base,
            colour("worldmap--low"),
            colour("worldmap--high"),
            colour("worldmap--no-data"),
            colour("worldmap--no-data-stripe"),
            colour("worldmap--cursor"),
            self.get_component_styles("worldmap--selected").color,
        )

    def _range(self) -> tuple[float, float]:
        if self.scale is not None:
            return self.scale
        lo, hi = map_range(self.grid, {k: v[0] for k, v in self.values.items()})
        return (lo, hi) if self.higher_is_better else (hi, lo)

    def _pixel_colours(self) -> list[list[Color | None]]:
        """Colour of every pixel of the current grid (None for sea)."""
        grid = self.grid
        _, low, high, no_data, stripe, cursor, selected = self._palette()
        lo, hi = self._range()
        by_index: list[Color | None] = []
        for code in grid.codes:
            entry = self.values.get(code)
            score = entry[0] if entry is not None else None
            if score is None or not math.isfinite(score):
                by_index.append(None)
            else:
                by_index.append(low.blend(high, scale_position(score, lo, hi)))
        chosen = grid.index(self.hovered() or "")
        pixels: list[list[Color | None]] = []
        for y, row in enumerate(grid.cells.tolist()):
            line: list[Color | None] = []
            for x, index in enumerate(row):
                if index == SEA:
                    line.append(None)
                    continue
                fill = by_index[index]
                if fill is None:
                    fill = stripe if (x + y) % HATCH_PERIOD == 0 else no_data
                if index == chosen:
                    fill = fill + selected
                line.append(fill)
            pixels.append(line)
        if self.cursor is not None:
            x, y = self.cursor
            pixels[y][x] = cursor
        return pixels

    # ------------------------------------------------------------------ rendering

    def _build(self) -> list[Strip]:
        width = self.size.width
        base_style = self.rich_style
        grid = self.grid
        x0 = self._x0
        pixels = self._pixel_colours()
        if len(pixels) % 2:
            pixels.append([None] * grid.width)
        strips = []
        for r in range(0, len(pixels), 2):
            segments = [Segment(" " * x0, base_style)] if x0 else []
            for top, bottom in zip(pixels[r], pixels[r + 1], strict=True):
                segments.append(self._cell(top, bottom, base_style))
            strips.append(self._fit(segments, width, base_style))
        strips.append(self._fit(self._legend(x0, base_style), width, base_style))
        strips.append(self._fit(self._info(x0, base_style), width, base_style))
        return strips

    @staticmethod
    def _cell(top: Color | None, bottom: Color | None, base: Style) -> Segment:
        if top is None:
            if bottom is None:
                return Segment(" ", base)
            return Segment("▄", base + Style(color=bottom.rich_color))
        if bottom is None:
            return Segment("▀", base + Style(color=top.rich_color))
        if top == bottom:
            return Segment(" ", base + Style(bgcolor=top.rich_color))
        return Segment("▀", base + Style(color=top.rich_color, bgcolor=bottom.rich_color))

    @staticmethod
    def _fit(segments: list[Segment], width: int, base: Style) -> Strip:
        strip = Strip(segments).simplify()
        return strip.crop_extend(0, width, base)

    def _legend(self, x0: int, base: Style) -> list[Segment]:
        _, low, high, no_data, stripe, _, _ = self._palette()
        text = self.get_component_rich_style("worldmap--legend")
        lo, hi = self._range()
        if not self.values:
            return [Segment(" " * x0, base), Segment("No scores to show.", text)]
        segments = [Segment(" " * x0, base)]
        if self.legend_label:
            segments.append(Segment(f"{self.legend_label} · farther ", text))
        segments.append(Segment(f"{lo:.3f} ", text))
        for i in range(LEGEND_STEPS):
            colour = low.blend(high, i / (LEGEND_STEPS - 1))
            segments.append(Segment(" ", base + Style(bgcolor=colour.rich_color)))
        segments.append(Segment(f" {hi:.3f}", text))
        if self.legend_label:
            segments.append(Segment(" closer", text))
        segments.append(Segment("   ", base))
        segments.append(
            Segment("▀▄", base + Style(color=stripe.rich_color, bgcolor=no_data.rich_color))
        )
        segments.append(Segment(" no data", text))
        return segments

    def _info(self, x0: int, base: Style) -> list[Segment]:
        text = self.get_component_rich_style("worldmap--info")
        muted = self.get_component_rich_style("worldmap--legend")
        pad = Segment(" " * x0, base)
        if self.cursor is None:
            return [pad, Segment("Arrow keys or the mouse pick a country.", muted)]
        code = self.hovered()
        if code is None:
            lon, lat = lonlat_of(self.grid, *self.cursor)
            where = f"{abs(lat):.0f}°{'N' if lat >= 0 else 'S'} {abs(lon):.0f}°"
            where += "E" if lon >= 0 else "W"
            return [pad, Segment(f"Sea · {where}", muted)]
        segments = [pad, Segment(f"{self.grid.name(code)} ({code})", text + Style(bold=True))]
        entry = self.values.get(code)
        if entry is None:
            segments.append(Segment(" · no data", muted))
        else:
            score, n = entry
            segments += [Segment(f" · {score:.3f}", text), Segment(f" · n = {n}", muted)]
        for extra in UNMAPPED:
            if extra.split("-")[0] == code and extra in self.values:
                score, n = self.values[extra]
                segments.append(Segment(f" · {extra} {score:.3f} (n = {n}, not drawn)", muted))
        if code in self.grid.markers:
            segments.append(Segment(" · drawn as one cell", muted))
        return segments

    def render_line(self, y: int) -> Strip:
        if self._strips is None or self._strips[0].cell_length != self.size.width:
            self._strips = self._build()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)
