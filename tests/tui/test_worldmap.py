"""core.worldmap (the raster, choropleth, text and SVG renderings), the build script's
TopoJSON decoder, and the WorldMap widget (behaviour and snapshots)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from support import REPO
from textual import on
from textual.app import App, ComposeResult

from core.countries import known_base_names, resolve
from core.metrics import CountryScore
from core.worldmap import (
    NO_DATA_CHAR,
    RESOLUTIONS,
    SEA,
    SHADES,
    WorldGrid,
    ascii_legend,
    cell_at,
    choropleth,
    country_at,
    load_grid,
    lonlat_of,
    map_range,
    render_ascii,
    render_svg,
    resolution_for,
    text_cells,
    values_from_scores,
)
from themes import THEMES
from tui.widgets.worldmap import WorldMap

SVG_NS = "{http://www.w3.org/2000/svg}"

CAPITALS = {
    "Paris": (2.35, 48.86, "FR"),
    "Moscow": (37.62, 55.75, "RU"),
    "Brasília": (-47.88, -15.79, "BR"),
    "Canberra": (149.13, -35.28, "AU"),
}


@pytest.fixture(params=RESOLUTIONS)
def grid(request: pytest.FixtureRequest) -> WorldGrid:
    return load_grid(request.param)


# --------------------------------------------------------------------------- the raster


def test_grids_have_the_documented_sizes() -> None:
    large, small = load_grid("large"), load_grid("small")
    assert (large.width, large.height) == (150, 60)
    assert (small.width, small.height) == (75, 30)
    for g in (large, small):
        assert g.cells.shape == (g.height, g.width)
        assert g.cells.dtype == np.int16
        assert not g.cells.flags.writeable
        assert list(g.codes) == sorted(set(g.codes))
        assert g.cells.min() == SEA and g.cells.max() == len(g.codes) - 1
        # square pixels: as many degrees across as down
        west, east, north, south = g.bounds
        assert (east - west) / g.width == pytest.approx((north - south) / g.height)


def test_load_grid_is_cached_and_rejects_unknown_resolutions() -> None:
    assert load_grid("large") is load_grid("large")
    with pytest.raises(ValueError, match="resolution"):
        load_grid("huge")  # type: ignore[arg-type]


@pytest.mark.parametrize("place", sorted(CAPITALS))
def test_capitals_fall_in_their_countries(grid: WorldGrid, place: str) -> None:
    lon, lat, code = CAPITALS[place]
    assert country_at(grid, *cell_at(grid, lon, lat)) == code


def test_open_ocean_is_sea(grid: WorldGrid) -> None:
    for lon, lat in [(-30.0, 0.0), (-140.0, -30.0), (80.0, -40.0)]:
        assert country_at(grid, *cell_at(grid, lon, lat)) is None
    assert country_at(grid, -1, 0) is None
    assert country_at(grid, grid.width, 0) is None


def test_antimeridian_is_not_smeared(grid: WorldGrid) -> None:
    # Chukotka and Fiji cross 180°: a decoding slip paints a band across the whole world.
    counts = grid.cell_counts()
    assert counts["RU"] < 0.12 * grid.width * grid.height
    y = cell_at(grid, 0.0, 66.0)[1]
    row = [country_at(grid, x, y) for x in range(grid.width)]
    assert "CA" in row and "US" in row and row.count("RU") < grid.width // 2


@pytest.mark.parametrize("code", ["SG", "HK", "MO", "MV", "AD", "PS", "LB", "CY", "PR"])
def test_small_places_have_a_cell(grid: WorldGrid, code: str) -> None:
    assert grid.cell_counts()[code] >= 1


def test_every_country_of_the_alias_table_is_on_the_map(grid: WorldGrid) -> None:
    codes = {resolve(name).iso2 for name in known_base_names()} - {None, "GB-NIR"}
    counts = grid.cell_counts()
    missing = sorted(c for c in codes if counts.get(str(c), 0) < 1)
    assert missing == []
    assert grid.index("GB-NIR") is None


def test_marker_cells_sit_near_their_place(grid: WorldGrid) -> None:
    for code, (lon, lat) in {"SG": (103.8, 1.35), "HK": (114.2, 22.3), "MV": (73.5, 3.2)}.items():
        ys, xs = np.nonzero(grid.cells == grid.index(code))
        x, y = cell_at(grid, lon, lat)
        assert np.hypot(xs - x, ys - y).min() <= 2.5


def test_cell_and_lonlat_round_trip(grid: WorldGrid) -> None:
    for x, y in [(0, 0), (grid.width - 1, grid.height - 1), (grid.width // 3, grid.height // 2)]:
        assert cell_at(grid, *lonlat_of(grid, x, y)) == (x, y)


def test_data_file_is_small_and_says_where_it_comes_from() -> None:
    path = Path(str(resources.files("core.data") / "worldmap.json"))
    assert path.stat().st_size < 200_000
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["source"]["package"] == "world-atlas"
    assert "public domain" in doc["source"]["licence"]
    assert doc["generated_by"] == "tools/build_worldmap.py"
    assert "GB-NIR" in doc["unmapped"]


def test_resolution_follows_the_space() -> None:
    assert resolution_for(160, 46) == "large"
    assert resolution_for(150, 30) == "large"
    assert resolution_for(149, 46) == "small"
    assert resolution_for(160, 20) == "small"


def test_core_modules_import_no_ui_library() -> None:
    code = (
        "import sys, core.worldmap, core.report_html\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --------------------------------------------------------------------------- values


def test_choropleth_puts_values_on_their_cells_and_nan_elsewhere(grid: WorldGrid) -> None:
    values = {"FR": 0.8, "DE": float("nan"), "BR": float("inf"), "GB-NIR": 0.5, "ZZ": 0.1}
    out = choropleth(grid, values)
    assert out.shape == grid.cells.shape and out.dtype == np.float64
    fr = grid.cells == grid.index("FR")
    assert fr.any() and np.all(out[fr] == 0.8)
    assert np.isnan(out[~fr]).all()  # sea, no data, NaN, inf, unmapped and unknown codes
    assert np.isnan(choropleth(grid, {})).all()


def test_map_range_ignores_codes_that_are_not_drawn(grid: WorldGrid) -> None:
    assert map_range(grid, {"FR": 0.7, "US": 0.8, "GB-NIR": 0.95}) == (0.7, 0.8)
    lo, hi = map_range(grid, {"FR": 0.7})
    assert lo < 0.7 < hi
    assert map_range(grid, {"FR": 0.7}, lo=0.0, hi=1.0) == (0.0, 1.0)


def test_values_from_scores_prefers_the_national_sample() -> None:
    rows = [
        {"country": "India (Old national sample)", "iso2": "IN", "similarity": 0.9,
         "n_questions": 500},
        {"country": "India (Current national sample)", "iso2": "IN", "similarity": 0.7,
         "n_questions": 100},
        {"country": "Britain", "iso2": "GB", "similarity": 0.8, "n_questions": 10},
        {"country": "Great Britain", "iso2": "GB", "similarity": 0.6, "n_questions": 30},
        {"country": "Atlantis", "iso2": None, "similarity": 0.5, "n_questions": 3},
    ]  # fmt: skip
    assert values_from_scores(rows) == {"GB": (0.6, 30), "IN": (0.7, 100)}
    objects = [CountryScore("France", "France", "FR", 0.75, 12)]
    assert values_from_scores(objects) == {"FR": (0.75, 12)}


# --------------------------------------------------------------------------- text


def _char_at(grid: WorldGrid, lines: list[str], lon: float, lat: float) -> str:
    x, y = cell_at(grid, lon, lat)
    return lines[y // 2][x]


def test_render_ascii_shades_high_and_low_and_hatches_no_data(grid: WorldGrid) -> None:
    values = {"US": 0.9, "RU": 0.1, "CN": 0.5, "SG": 0.9}
    lines = render_ascii(grid, values, 0.0, 1.0)
    assert len(lines) == math.ceil(grid.height / 2)
    assert all(len(line) == grid.width for line in lines)
    assert _char_at(grid, lines, -100.0, 40.0) == SHADES[-1]  # United States, high
    assert _char_at(grid, lines, 90.0, 62.0) == SHADES[0]  # Russia, low
    assert _char_at(grid, lines, 105.0, 33.0) == SHADES[2]  # China, middle
    assert _char_at(grid, lines, -55.0, -10.0) == NO_DATA_CHAR  # Brazil, no data
    assert _char_at(grid, lines, -30.0, 0.0) == " "  # Atlantic
    text = "".join(lines)
    assert set(text) <= set(SHADES) | {NO_DATA_CHAR, " "}
    # Singapore's single pixel survives the two-pixels-per-line squeeze
    cells = text_cells(grid)
    ys, xs = np.nonzero(cells == grid.index("SG"))
    assert len(ys) >= 1 and lines[ys[0]][xs[0]] == SHADES[-1]


def test_render_ascii_scales_to_the_values_by_default(grid: WorldGrid) -> None:
    lines = render_ascii(grid, {"US": 0.81, "RU": 0.79})
    assert _char_at(grid, lines, -100.0, 40.0) == SHADES[-1]
    assert _char_at(grid, lines, 90.0, 62.0) == SHADES[0]


def test_ascii_legend_names_every_band() -> None:
    legend = ascii_legend(0.6, 0.8)
    for shade in SHADES:
        assert shade in legend
    assert "0.600" in legend and "0.800" in legend and "no data" in legend


# --------------------------------------------------------------------------- SVG


def test_svg_is_self_contained_and_well_formed() -> None:
    grid = load_grid("large")
    svg = render_svg(
        grid,
        {"FR": 0.8, "CI": 0.7, "US": 0.9},
        n={"FR": 12, "CI": 3},
        labels={"CI": "Côte d'Ivoire <&>"},
    )
    assert "<script" not in svg.lower()
    stripped = svg.replace('xmlns="http://www.w3.org/2000/svg"', "", 1)
    assert "http://" not in stripped and "https://" not in stripped
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    groups = root.findall(f"{SVG_NS}g")
    assert len(groups) == len(grid.codes)  # one group per country, each with a tooltip
    titles = {g.get("data-iso"): g.find(f"{SVG_NS}title").text for g in groups}  # type: ignore[union-attr]
    assert titles["FR"] == "France (FR): 0.800, n = 12"
    assert titles["CI"] == "Côte d'Ivoire <&> (CI): 0.700, n = 3"
    assert titles["DE"].endswith("no data")
    assert "Côte d&#x27;Ivoire &lt;&amp;&gt;" in svg
    # the runs cover exactly the land pixels
    area = sum(
        int(r.get("width")) * int(r.get("height"))  # type: ignore[arg-type]
        for g in groups
        for r in g.findall(f"{SVG_NS}rect")
    )
    assert area == int((grid.cells >= 0).sum())
    fills = {g.get("data-iso"): g.get("fill") for g in groups}
    assert fills["DE"] == "url(#nodata)"
    assert fills["US"] != fills["CI"]


# --------------------------------------------------------------------------- build script


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_worldmap", REPO / "tools/build_worldmap.py"
    )
    assert spec is not None and spec.loader is not None
    if "build_worldmap" in sys.modules:
        return sys.modules["build_worldmap"]
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_worldmap"] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_topojson_decoding_handles_quantisation_deltas_and_reversed_arcs() -> None:
    build = _build_module()
    # Two unit squares sharing the edge x=1, quantised with scale 1 and translate (10, 20).
    topology = {
        "transform": {"scale": [1, 1], "translate": [10, 20]},
        "arcs": [
            [[1, 0], [0, 1]],  # shared edge (11,20)->(11,21)
            [[1, 1], [-1, 0], [0, -1], [1, 0]],  # left square's other sides
            [[1, 0], [1, 0], [0, 1], [-1, 0]],  # right square's other sides
        ],
        "objects": {
            "countries": {
                "geometries": [
                    {"type": "Polygon", "id": "250", "arcs": [[0, 1]], "properties": {}},
                    {"type": "Polygon", "id": "276", "arcs": [[2, -1]], "properties": {}},
                    {"type": "Polygon", "arcs": [[2]], "properties": {"name": "Kosovo"}},
                ]
            }
        },
    }
    countries = {c.code: c for c in build.load_countries(topology)}
    assert set(countries) == {"FR", "DE", "XK"}
    left = countries["FR"].polygons[0][0]
    assert left.tolist() == [[11, 20], [11, 21], [10, 21], [10, 20], [11, 20]]
    right = countries["DE"].polygons[0][0]
    assert right.tolist() == [[11, 20], [12, 20], [12, 21], [11, 21], [11, 20]]
    inside = build.inside(left, np.array([10.5, 11.5]), np.array([20.5, 20.5]))
    assert inside.tolist() == [True, False]


def test_antimeridian_rings_are_split() -> None:
    build = _build_module()
    ring = np.array([[179.0, 60.0], [-179.0, 60.0], [-179.0, 62.0], [179.0, 62.0], [179.0, 60.0]])
    copies = build.split_antimeridian([ring])
    assert len(copies) == 2
    xs = build.inside(copies[0][0], np.array([179.5, -179.5]), np.array([61.0, 61.0]))
    shifted = build.inside(copies[1][0], np.array([179.5, -179.5]), np.array([61.0, 61.0]))
    assert (xs | shifted).tolist() == [True, True]


# --------------------------------------------------------------------------- widget

VALUES = {
    "US": (0.81, 120),
    "FR": (0.78, 150),
    "DE": (0.80, 150),
    "GB": (0.79, 160),
    "GB-NIR": (0.77, 10),
    "RU": (0.72, 140),
    "CN": (0.70, 90),
    "IN": (0.74, 80),
    "BR": (0.76, 60),
    "NG": (0.71, 40),
    "ZA": (0.73, 50),
    "JP": (0.75, 100),
    "AU": (0.80, 70),
    "SG": (0.69, 12),
}


class MapApp(App[None]):
    """A tiny host for the widget, in goqa's dark theme."""

    CSS = "Screen { align: center middle; }"

    def __init__(self, cursor: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.hovered: list[WorldMap.CountryHovered] = []
        self._cursor = cursor

    def compose(self) -> ComposeResult:
        yield WorldMap(VALUES)

    def on_mount(self) -> None:
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = "goqa-dark"
        world = self.query_one(WorldMap)
        world.focus()
        if self._cursor is not None:
            world.cursor = cell_at(world.grid, *self._cursor)

    @on(WorldMap.CountryHovered)
    def remember(self, event: WorldMap.CountryHovered) -> None:
        self.hovered.append(event)


@pytest.mark.parametrize(("size", "resolution"), [((80, 24), "small"), ((160, 48), "large")])
async def test_widget_chooses_its_grid_from_its_size(
    size: tuple[int, int], resolution: str
) -> None:
    app = MapApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        world = app.query_one(WorldMap)
        assert world.resolution == resolution
        assert world.size.height == math.ceil(world.grid.height / 2) + 2


async def test_arrow_keys_move_the_crosshair_and_post_country_hovered() -> None:
    app = MapApp(cursor=(2.35, 48.86))  # Paris
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        world = app.query_one(WorldMap)
        start = world.cursor
        assert start is not None and world.hovered() == "FR"
        assert app.hovered[-1].iso2 == "FR"
        assert (app.hovered[-1].score, app.hovered[-1].n) == (0.78, 150)
        assert app.hovered[-1].control is world
        await pilot.press("left", "up")
        await pilot.pause()
        assert world.cursor == (start[0] - 1, start[1] - 1)
        await pilot.press("shift+right")
        assert world.cursor == (start[0] + 5, start[1] - 1)
        world.cursor = (0, start[1])
        await pilot.press("left")  # wraps around the date line
        assert world.cursor == (world.grid.width - 1, start[1])
        info = world.render_line(world.size.height - 1).text
        assert info.strip()


async def test_mouse_hover_names_the_country_under_the_pointer() -> None:
    app = MapApp()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        world = app.query_one(WorldMap)
        x, y = cell_at(world.grid, 37.62, 55.75)  # Moscow
        await pilot.hover(WorldMap, offset=(x + world._x0, y // 2))
        await pilot.pause()
        assert world.hovered() == "RU"
        assert app.hovered[-1].name == "Russia" and app.hovered[-1].score == 0.72
        info = world.render_line(world.size.height - 1).text
        assert "Russia (RU) · 0.720 · n = 140" in info


async def test_info_line_reports_northern_ireland_under_the_uk() -> None:
    app = MapApp(cursor=(-1.5, 52.5))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        world = app.query_one(WorldMap)
        info = world.render_line(world.size.height - 1).text
        assert "United Kingdom (GB)" in info and "GB-NIR 0.770" in info


async def test_colours_follow_the_theme() -> None:
    app = MapApp()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        world = app.query_one(WorldMap)
        legend = world.render_line(world.size.height - 2)
        app.theme = "goqa-light"
        await pilot.pause()
        assert world.render_line(world.size.height - 2) != legend


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(MapApp(cursor=(2.35, 48.86)), terminal_size=size)


def test_country_pixel_lands_on_its_country(grid: WorldGrid) -> None:
    from core.worldmap import country_pixel

    for code in grid.codes:
        pixel = country_pixel(grid, code)
        assert pixel is not None, code
        assert country_at(grid, *pixel) == code
    assert country_pixel(grid, "GB-NIR") is None
    # Russia crosses the antimeridian; its pixel is still in Russia and not at the edge.
    x, _ = country_pixel(grid, "RU")  # type: ignore[misc]
    assert grid.width * 0.55 < x < grid.width * 0.95


def test_keys_from_scores_name_the_sample_the_map_draws() -> None:
    from core.worldmap import keys_from_scores

    entries = [
        CountryScore("India (Old national sample)", "India", "IN", 0.7, 40),
        CountryScore("India (Current national sample)", "India", "IN", 0.6, 30),
        CountryScore("Russia", "Russia", "RU", 0.8, 20),
    ]
    assert keys_from_scores(entries) == {
        "IN": "India (Current national sample)",
        "RU": "Russia",
    }
    assert values_from_scores(entries)["IN"] == (0.6, 30)


async def test_show_country_moves_the_crosshair_there() -> None:
    app = MapApp()
    async with app.run_test(size=(160, 48)) as pilot:
        world = app.query_one(WorldMap)
        assert world.show_country("BR")
        await pilot.pause()
        assert world.hovered() == "BR"
        before = world.cursor
        assert world.show_country("BR") and world.cursor == before  # already there: stays
        assert world.show_country("GB-NIR") and world.hovered() == "GB"
        assert not world.show_country("XX") and world.hovered() == "GB"
