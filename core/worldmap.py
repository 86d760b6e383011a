"""The world map: country rasters, choropleth values and UI-free renderings (text and SVG).

``core/data/worldmap.json`` (built by ``tools/build_worldmap.py`` from Natural Earth 1:110m,
public domain) holds two equirectangular rasters of *square* pixels, 180°W..180°E and
84°N..60°S: ``large`` 150×60 (2.4° a pixel) and ``small`` 75×30 (4.8°). A terminal draws
two pixels per character cell (half blocks), so ``large`` fills 150×30 cells and ``small``
75×15; :func:`render_ascii` does the same with shade characters, one cell per pixel pair.

Every ISO 3166-1 alpha-2 code of the file has at least one pixel: small states (Singapore,
Hong Kong, Macau, the Maldives, Andorra…) get a marker pixel at their representative point.
Northern Ireland (``GB-NIR``) is part of the United Kingdom shape and is not drawn
(:data:`UNMAPPED`); the map never paints the UK with its score.

Nothing here imports a UI library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any, Literal

import numpy as np

from core.countries import resolve, sample_rank

Resolution = Literal["large", "small"]
RESOLUTIONS: tuple[Resolution, ...] = ("large", "small")
SEA = -1
"""Cell value of a pixel that belongs to no country."""

SHADES = "░▒▓█"
"""Text shades from the lowest to the highest quarter of the scale."""
SEA_CHAR = " "
NO_DATA_CHAR = "/"
"""Hatch for a country on the map without a value."""

SEQUENTIAL = ("#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84")
"""Light-to-dark sequential scale (ColorBrewer YlGnBu, without its near-white end)."""
NO_DATA_COLOUR = "#c9ced6"
SEA_COLOUR = "#f3f6f9"

UNMAPPED: dict[str, str] = {
    "GB-NIR": "Northern Ireland is part of the United Kingdom shape in Natural Earth 1:110m "
    "and is not drawn on its own."
}


@dataclass(frozen=True, eq=False)
class WorldGrid:
    """One raster of the world map.

    Attributes:
        resolution: ``large`` or ``small``.
        width, height: size in pixels (a terminal shows two pixel rows per text row).
        codes: ISO 3166-1 alpha-2 codes; ``cells`` index into this tuple.
        cells: (height, width) int16 array of code indexes, :data:`SEA` (-1) for sea;
            read-only.
        names: display name per code (Natural Earth's, tidied).
        markers: codes drawn as a single marker pixel (too small for the raster).
        bounds: (west, east, north, south) in degrees.
        source: provenance of the geometry (package, version, licence, sha256).
    """

    resolution: str
    width: int
    height: int
    codes: tuple[str, ...]
    cells: np.ndarray
    names: Mapping[str, str]
    markers: frozenset[str]
    bounds: tuple[float, float, float, float]
    source: Mapping[str, Any]

    def index(self, code: str) -> int | None:
        """Position of ``code`` in :attr:`codes`, or None if it is not on the map."""
        return _code_index(self).get(code)

    def name(self, code: str) -> str:
        """Display name of a code (the code itself when unknown)."""
        return self.names.get(code, code)

    def cell_counts(self) -> dict[str, int]:
        """Number of pixels of every code."""
        counts = np.bincount(self.cells[self.cells >= 0], minlength=len(self.codes))
        return {code: int(n) for code, n in zip(self.codes, counts, strict=True)}


@lru_cache(maxsize=8)
def _code_index(grid: WorldGrid) -> dict[str, int]:
    return {code: i for i, code in enumerate(grid.codes)}


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    text = (resources.files("core.data") / "worldmap.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    if doc.get("format") != 1:
        raise ValueError(f"worldmap.json has format {doc.get('format')!r}; expected 1.")
    return doc


@lru_cache(maxsize=len(RESOLUTIONS))
def load_grid(resolution: Resolution = "large") -> WorldGrid:
    """The bundled world raster at ``resolution`` (``large`` 150×60, ``small`` 75×30).

    Loaded once and cached; the returned grid is immutable.

    Raises:
        ValueError: an unknown resolution.
    """
    doc = _document()
    if resolution not in doc["grids"]:
        raise ValueError(f"Unknown map resolution {resolution!r}: use 'large' or 'small'.")
    raw = doc["grids"][resolution]
    width, height = int(raw["width"]), int(raw["height"])
    rows = []
    for runs in raw["rows"]:
        row = np.repeat(np.asarray(runs[0::2], dtype=np.int16), np.asarray(runs[1::2]))
        if row.shape[0] != width:
            raise ValueError(f"worldmap.json: a {resolution} row is {row.shape[0]} wide.")
        rows.append(row)
    cells = np.vstack(rows)
    cells.flags.writeable = False
    b = doc["bounds"]
    return WorldGrid(
        resolution=resolution,
        width=width,
        height=height,
        codes=tuple(doc["codes"]),
        cells=cells,
        names=dict(doc["names"]),
        markers=frozenset(raw.get("markers", ())),
        bounds=(float(b["west"]), float(b["east"]), float(b["north"]), float(b["south"])),
        source=dict(doc["source"]),
    )


def resolution_for(width: int, height: int) -> Resolution:
    """The largest grid that fits ``width`` columns and ``height`` text rows (2 pixels each)."""
    large = load_grid("large")
    if width >= large.width and height * 2 >= large.height:
        return "large"
    return "small"


# --------------------------------------------------------------------------- geometry


def cell_at(grid: WorldGrid, lon: float, lat: float) -> tuple[int, int]:
    """The (x, y) pixel holding a longitude/latitude (clamped to the grid)."""
    west, east, north, south = grid.bounds
    x = math.floor((lon - west) / (east - west) * grid.width)
    y = math.floor((north - lat) / (north - south) * grid.height)
    return min(max(x, 0), grid.width - 1), min(max(y, 0), grid.height - 1)


def lonlat_of(grid: WorldGrid, x: int, y: int) -> tuple[float, float]:
    """Longitude and latitude of the centre of pixel (x, y)."""
    west, east, north, south = grid.bounds
    return (
        west + (x + 0.5) * (east - west) / grid.width,
        north - (y + 0.5) * (north - south) / grid.height,
    )


def country_at(grid: WorldGrid, x: int, y: int) -> str | None:
    """The ISO alpha-2 code of pixel (x, y), or None for sea or outside the grid."""
    if not (0 <= x < grid.width and 0 <= y < grid.height):
        return None
    index = int(grid.cells[y, x])
    return None if index == SEA else grid.codes[index]


def text_cells(grid: WorldGrid) -> np.ndarray:
    """Code index per text cell when two pixel rows share one cell: (ceil(height/2), width).

    Land wins over sea; of two countries the one with fewer pixels wins, so a marker pixel
    (Singapore, Hong Kong…) is never hidden by its large neighbour.
    """
    cells = grid.cells
    if grid.height % 2:
        cells = np.vstack([cells, np.full((1, grid.width), SEA, dtype=cells.dtype)])
    top, bottom = cells[0::2], cells[1::2]
    size = np.bincount(grid.cells[grid.cells >= 0], minlength=len(grid.codes))
    big = np.iinfo(np.int64).max
    top_size = np.where(top >= 0, size[np.maximum(top, 0)], big)
    bottom_size = np.where(bottom >= 0, size[np.maximum(bottom, 0)], big)
    return np.where(bottom_size < top_size, bottom, top)


# --------------------------------------------------------------------------- values


def choropleth(grid: WorldGrid, values: Mapping[str, float]) -> np.ndarray:
    """Value per pixel: (height, width) floats, NaN for sea and for countries without data.

    Args:
        grid: a raster from :func:`load_grid`.
        values: ISO alpha-2 code -> value; codes not on the map (``GB-NIR``) and non-finite
            values are ignored.
    """
    lookup = np.full(len(grid.codes) + 1, np.nan)  # the last slot serves SEA (-1)
    for code, value in values.items():
        index = grid.index(code)
        if index is not None and value is not None and math.isfinite(value):
            lookup[index] = float(value)
    return lookup[grid.cells]


def value_range(values: Iterable[float]) -> tuple[float, float]:
    """(lo, hi) of the finite values, widened to 0.05 when they (nearly) coincide."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.025, hi + 0.025
    return lo, hi


def map_range(
    grid: WorldGrid,
    values: Mapping[str, float],
    lo: float | None = None,
    hi: float | None = None,
) -> tuple[float, float]:
    """The colour scale of a map: ``lo``/``hi`` where given, else the range of the values of
    codes drawn on ``grid`` (``GB-NIR`` and other unmapped codes do not stretch it)."""
    auto_lo, auto_hi = value_range(v for code, v in values.items() if grid.index(code) is not None)
    return (auto_lo if lo is None else lo), (auto_hi if hi is None else hi)


def scale_position(value: float, lo: float, hi: float) -> float:
    """Where ``value`` lies on the scale, 0..1 (clamped).

    ``lo`` greater than ``hi`` is a reversed scale (for a divergence, where the lowest value
    is the best and is drawn as the highest)."""
    if hi == lo:
        return 1.0
    return min(max((value - lo) / (hi - lo), 0.0), 1.0)


def _drawn(countries: Iterable[Any]) -> dict[str, tuple[float, int, str]]:
    """ISO code -> (score, n, raw key) of the sample each country is drawn with."""
    best: dict[str, tuple[tuple[int, int, str], float, int, str]] = {}
    for entry in countries:
        fields = (
            entry
            if isinstance(entry, Mapping)
            else {
                k: getattr(entry, k, None) for k in ("iso2", "similarity", "n_questions", "country")
            }
        )
        iso2, score = fields.get("iso2"), fields.get("similarity")
        n, key = fields.get("n_questions"), fields.get("country")
        if not iso2 or score is None:
            continue
        sample = resolve(str(key)).sample if key else "national"
        order = (sample_rank(sample), -int(n or 0), str(key))
        if iso2 not in best or order < best[iso2][0]:
            best[iso2] = (order, float(score), int(n or 0), str(key or ""))
    return {iso2: (score, n, key) for iso2, (_, score, n, key) in sorted(best.items())}


def values_from_scores(countries: Iterable[Any]) -> dict[str, tuple[float, int]]:
    """Map values (ISO code -> (score, n)) from per-country scores.

    Accepts :class:`core.metrics.CountryScore` objects or the dicts of ``Scores.to_json()``
    (keys ``country``, ``iso2``, ``similarity``, ``n_questions``). A country the dataset
    samples several times (``India (Current national sample)``, ``(Old national sample)``)
    is drawn with its plain national sample, else its current national one, else the one with
    most questions. Entries without an ISO code are skipped.
    """
    return {iso2: (score, n) for iso2, (score, n, _) in _drawn(countries).items()}


def keys_from_scores(countries: Iterable[Any]) -> dict[str, str]:
    """ISO code -> the raw dataset key whose score :func:`values_from_scores` draws."""
    return {iso2: key for iso2, (_, _, key) in _drawn(countries).items()}


def country_pixel(grid: WorldGrid, code: str) -> tuple[int, int] | None:
    """A pixel (x, y) of ``code`` near the middle of its shape, or None if it is not drawn.

    The pixel nearest the mean of the country's pixels, so a crosshair put there lands on
    the country (even for a C-shaped one, whose mean may lie outside it).
    """
    index = grid.index(code)
    if index is None:
        return None
    ys, xs = np.nonzero(grid.cells == index)
    if ys.shape[0] == 0:
        return None
    # Countries crossing the antimeridian (Russia, Fiji) average in the wider half.
    if xs.max() - xs.min() > grid.width // 2:
        xs_shifted = np.where(xs < grid.width // 2, xs + grid.width, xs)
        weights = np.bincount(np.where(xs < grid.width // 2, 0, 1), minlength=2)
        cx = float(xs_shifted.mean()) if weights[1] >= weights[0] else float(xs.mean())
        dx = np.minimum(np.abs(xs - cx % grid.width), grid.width - np.abs(xs - cx % grid.width))
    else:
        dx = np.abs(xs - xs.mean())
    best = int(np.argmin(dx**2 + (ys - ys.mean()) ** 2))
    return int(xs[best]), int(ys[best])


# --------------------------------------------------------------------------- text


def shade_of(value: float, lo: float, hi: float) -> str:
    """The shade character of ``value`` on the lo..hi scale (four equal bands)."""
    band = min(int(scale_position(value, lo, hi) * len(SHADES)), len(SHADES) - 1)
    return SHADES[band]


def render_ascii(
    grid: WorldGrid,
    values: Mapping[str, float],
    lo: float | None = None,
    hi: float | None = None,
) -> list[str]:
    """The map as text: one line per two pixel rows (the aspect of a terminal cell).

    Countries with a value are drawn with :data:`SHADES` (``░`` lowest quarter of lo..hi,
    ``█`` highest), countries without one with :data:`NO_DATA_CHAR`, sea as spaces.

    Args:
        grid: a raster from :func:`load_grid`.
        values: ISO alpha-2 code -> value.
        lo, hi: the scale; the range of the values when omitted.

    Returns:
        ``ceil(height / 2)`` strings of ``width`` characters (trailing spaces kept).
    """
    lo, hi = map_range(grid, values, lo, hi)
    chars = []
    for code in grid.codes:
        value = values.get(code)
        if value is None or not math.isfinite(value):
            chars.append(NO_DATA_CHAR)
        else:
            chars.append(shade_of(value, lo, hi))
    chars.append(SEA_CHAR)  # index -1
    table = np.asarray(chars)
    return ["".join(row) for row in table[text_cells(grid)].tolist()]


def ascii_legend(lo: float, hi: float, fmt: str = "{:.3f}") -> str:
    """One line explaining :func:`render_ascii`'s shades, e.g. ``░ 0.700–0.725 ▒ …``."""
    step = (hi - lo) / len(SHADES)
    bands = "  ".join(
        f"{s} {fmt.format(lo + i * step)}–{fmt.format(lo + (i + 1) * step)}"
        for i, s in enumerate(SHADES)
    )
    return f"{bands}  {NO_DATA_CHAR} no data"


# --------------------------------------------------------------------------- SVG


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (int(round(c)) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def sequential_colour(position: float) -> str:
    """Hex colour at ``position`` (0..1) on :data:`SEQUENTIAL`, interpolated in RGB."""
    stops = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in SEQUENTIAL], float)
    t = min(max(position, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    return _hex(stops[i] + (stops[i + 1] - stops[i]) * (t - i))


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _runs(grid: WorldGrid) -> dict[int, list[tuple[int, int, int, int]]]:
    """Rectangles (x, y, w, h) per code index: row runs, merged down identical columns."""
    open_runs: dict[tuple[int, int, int], list[int]] = {}  # (code, x, w) -> [y, h]
    rects: dict[int, list[tuple[int, int, int, int]]] = {}
    for y in range(grid.height + 1):
        current: dict[tuple[int, int, int], None] = {}
        if y < grid.height:
            row = grid.cells[y]
            edges = np.flatnonzero(np.diff(row)) + 1
            starts = np.concatenate([[0], edges])
            ends = np.concatenate([edges, [grid.width]])
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                code = int(row[s])
                if code != SEA:
                    current[(code, s, e - s)] = None
        for key in list(open_runs):
            if key not in current:
                top, h = open_runs.pop(key)
                rects.setdefault(key[0], []).append((key[1], top, key[2], h))
        for key in current:
            if key in open_runs:
                open_runs[key][1] += 1
            else:
                open_runs[key] = [y, 1]
    return {code: sorted(r, key=lambda t: (t[1], t[0])) for code, r in sorted(rects.items())}


def render_svg(
    grid: WorldGrid,
    values: Mapping[str, float],
    lo: float | None = None,
    hi: float | None = None,
    *,
    n: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
    cell: int = 6,
    title: str = "Similarity by country",
) -> str:
    """A self-contained SVG choropleth (no scripts, no external references).

    One ``<g>`` per country, holding a ``<title>`` tooltip (name, score, n) and one
    ``<rect>`` per run of pixels, filled on :data:`SEQUENTIAL`; countries without a value are
    hatched, sea is the background.

    Args:
        grid: a raster from :func:`load_grid`.
        values: ISO alpha-2 code -> value.
        lo, hi: the colour scale; the range of the values when omitted.
        n: number of questions per code, for the tooltips.
        labels: display names per code overriding the map's own.
        cell: drawn size of one pixel in CSS pixels (the SVG scales to its container).
        title: accessible title of the figure.
    """
    lo, hi = map_range(grid, values, lo, hi)
    n = n or {}
    labels = labels or {}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="worldmap" role="img" '
        f'viewBox="0 0 {grid.width} {grid.height}" width="{grid.width * cell}" '
        f'height="{grid.height * cell}" shape-rendering="crispEdges">',
        f"<title>{escape(title)}</title>",
        "<defs>"
        '<pattern id="nodata" width="2" height="2" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="2" height="2" fill="{SEA_COLOUR}"/>'
        f'<rect width="1" height="2" fill="{NO_DATA_COLOUR}"/>'
        "</pattern></defs>",
        f'<rect width="{grid.width}" height="{grid.height}" fill="{SEA_COLOUR}"/>',
    ]
    for index, rects in _runs(grid).items():
        code = grid.codes[index]
        name = labels.get(code) or grid.name(code)
        value = values.get(code)
        if value is not None and math.isfinite(value):
            fill = sequential_colour(scale_position(value, lo, hi))
            count = f", n = {n[code]}" if code in n else ""
            tip = f"{name} ({code}): {_fmt(value)}{count}"
        else:
            fill = "url(#nodata)"
            tip = f"{name} ({code}): no data"
        body = "".join(f'<rect x="{x}" y="{y}" width="{w}" height="{h}"/>' for x, y, w, h in rects)
        out.append(
            f'<g fill="{fill}" data-iso="{escape(code)}"><title>{escape(tip)}</title>{body}</g>'
        )
    out.append("</svg>")
    return "\n".join(out)


def render_svg_legend(lo: float, hi: float, *, width: int = 320, steps: int = 24) -> str:
    """A horizontal legend for :func:`render_svg`: the colour ramp, its ends and 'no data'."""
    bar_w = width - 110
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="legend" width="{width}" height="34" '
        f'viewBox="0 0 {width} 34" role="img">',
        "<title>Colour scale</title>",
        "<defs>"
        '<pattern id="legend-nodata" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="4" height="4" fill="{SEA_COLOUR}"/>'
        f'<rect width="2" height="4" fill="{NO_DATA_COLOUR}"/>'
        "</pattern></defs>",
    ]
    for i in range(steps):
        x = i * bar_w / steps
        colour = sequential_colour(i / (steps - 1))
        out.append(
            f'<rect x="{x:.2f}" y="2" width="{bar_w / steps + 0.5:.2f}" height="12" '
            f'fill="{colour}"/>'
        )
    out += [
        f'<text x="0" y="28" font-size="11">{escape(_fmt(lo))}</text>',
        f'<text x="{bar_w}" y="28" font-size="11" text-anchor="end">{escape(_fmt(hi))}</text>',
        f'<rect x="{bar_w + 16}" y="2" width="18" height="12" fill="url(#legend-nodata)" '
        f'stroke="{NO_DATA_COLOUR}"/>',
        f'<text x="{bar_w + 40}" y="12" font-size="11">no data</text>',
        "</svg>",
    ]
    return "\n".join(out)
