"""Build ``core/data/worldmap.json``: country rasters for the choropleth world map.

Source: Natural Earth 1:110m "Admin 0 – Countries" (public domain) as TopoJSON in the npm
package ``world-atlas`` (file ``countries-110m.json``; the packaging is ISC, © Mike Bostock).
Countries carry their numeric ISO 3166-1 code in ``id`` and a short ``properties.name``.

Run it from the repository root (node and npm on PATH; nothing else beyond numpy)::

    python tools/build_worldmap.py                      # npm pack world-atlas@2.0.2, then build
    python tools/build_worldmap.py --source countries-110m.json   # from a file you have

The output is deterministic: the same source file gives the same bytes (no timestamps; the
source's sha256 is recorded). What it does:

1. Decodes the TopoJSON: quantised arcs (``transform``), delta encoding, rings as lists of arc
   indices where a negative index ``~i`` means arc ``i`` reversed.
2. Maps every feature to an ISO 3166-1 alpha-2 code with :data:`NUMERIC_TO_ALPHA2`; the three
   features without a numeric id are mapped by name (:data:`NAME_TO_ALPHA2`): Kosovo gets the
   user-assigned ``XK`` (as the EU and the World Bank use); Northern Cyprus and Somaliland are
   merged into ``CY`` and ``SO``, as ISO 3166-1 has one entry for each island/state.
   Antarctica is dropped (cropped away anyway).
3. Rasterises on an equirectangular (plate carrée) grid of *square pixels*, 180°W..180°E and
   84°N..60°S, at two resolutions: ``large`` 150×60 pixels (2.4° each) and ``small`` 75×30
   (4.8°). A terminal draws two pixels per character cell with the half blocks ``▀``/``▄``
   (cells are about twice as tall as wide), so ``large`` fills 150 columns × 30 rows and
   ``small`` 75 × 15, without stretching. Each pixel is supersampled (4×4 points, even-odd
   point-in-polygon); it is land when at least :data:`LAND_FRACTION` of its samples are, and
   belongs to the country with most samples.
4. Gives every country at least one pixel: a country (or one of :data:`MARKERS`, small states
   missing from the 1:110m file such as Singapore, Hong Kong, Macau, the Maldives and Andorra)
   with no pixel gets a *marker* pixel at its representative point (the table, else the
   centroid of its largest polygon), or the nearest pixel that is sea or belongs to a country
   with pixels to spare and is not already a marker.

Northern Ireland (``GB-NIR`` in ``core/countries.py``) is not a separate shape in Natural
Earth: it is part of the United Kingdom polygon and is *not drawn* on its own (listed under
``unmapped``); the map never paints the UK with Northern Ireland's score.

Output format (``format`` 1): ``codes`` (sorted alpha-2 codes), ``names`` (display name per
code), ``unmapped``, and per resolution ``width``, ``height``, ``markers`` (codes drawn as a
marker pixel) and ``rows``: one list per pixel row of run-length pairs ``[code index, run
length, …]`` with ``-1`` for sea.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "world-atlas"
PACKAGE_VERSION = "2.0.2"
SOURCE_FILE = "countries-110m.json"
OUT = Path(__file__).resolve().parent.parent / "core" / "data" / "worldmap.json"

WEST, EAST, NORTH, SOUTH = -180.0, 180.0, 84.0, -60.0
RESOLUTIONS: dict[str, tuple[int, int]] = {"large": (150, 60), "small": (75, 30)}
SUPERSAMPLE = 4
LAND_FRACTION = 0.375
"""A pixel is land when at least this share of its samples fall in some country."""
MARKER_SPARE = 4
"""A marker may take a pixel from a country only if that country has at least this many."""
DROPPED = {"AQ"}

# Numeric ISO 3166-1 code (as in the file's ``id``) -> alpha-2, for every feature in the file.
NUMERIC_TO_ALPHA2: dict[str, str] = {
    "004": "AF", "008": "AL", "010": "AQ", "012": "DZ", "024": "AO", "031": "AZ",
    "032": "AR", "036": "AU", "040": "AT", "044": "BS", "050": "BD", "051": "AM",
    "056": "BE", "064": "BT", "068": "BO", "070": "BA", "072": "BW", "076": "BR",
    "084": "BZ", "090": "SB", "096": "BN", "100": "BG", "104": "MM", "108": "BI",
    "112": "BY", "116": "KH", "120": "CM", "124": "CA", "140": "CF", "144": "LK",
    "148": "TD", "152": "CL", "156": "CN", "158": "TW", "170": "CO", "178": "CG",
    "180": "CD", "188": "CR", "191": "HR", "192": "CU", "196": "CY", "203": "CZ",
    "204": "BJ", "208": "DK", "214": "DO", "218": "EC", "222": "SV", "226": "GQ",
    "231": "ET", "232": "ER", "233": "EE", "238": "FK", "242": "FJ", "246": "FI",
    "250": "FR", "260": "TF", "262": "DJ", "266": "GA", "268": "GE", "270": "GM",
    "275": "PS", "276": "DE", "288": "GH", "300": "GR", "304": "GL", "320": "GT",
    "324": "GN", "328": "GY", "332": "HT", "340": "HN", "348": "HU", "352": "IS",
    "356": "IN", "360": "ID", "364": "IR", "368": "IQ", "372": "IE", "376": "IL",
    "380": "IT", "384": "CI", "388": "JM", "392": "JP", "398": "KZ", "400": "JO",
    "404": "KE", "408": "KP", "410": "KR", "414": "KW", "417": "KG", "418": "LA",
    "422": "LB", "426": "LS", "428": "LV", "430": "LR", "434": "LY", "440": "LT",
    "442": "LU", "450": "MG", "454": "MW", "458": "MY", "466": "ML", "478": "MR",
    "484": "MX", "496": "MN", "498": "MD", "499": "ME", "504": "MA", "508": "MZ",
    "512": "OM", "516": "NA", "524": "NP", "528": "NL", "540": "NC", "548": "VU",
    "554": "NZ", "558": "NI", "562": "NE", "566": "NG", "578": "NO", "586": "PK",
    "591": "PA", "598": "PG", "600": "PY", "604": "PE", "608": "PH", "616": "PL",
    "620": "PT", "624": "GW", "626": "TL", "630": "PR", "634": "QA", "642": "RO",
    "643": "RU", "646": "RW", "682": "SA", "686": "SN", "688": "RS", "694": "SL",
    "703": "SK", "704": "VN", "705": "SI", "706": "SO", "710": "ZA", "716": "ZW",
    "724": "ES", "728": "SS", "729": "SD", "732": "EH", "740": "SR", "748": "SZ",
    "752": "SE", "756": "CH", "760": "SY", "762": "TJ", "764": "TH", "768": "TG",
    "780": "TT", "784": "AE", "788": "TN", "792": "TR", "795": "TM", "800": "UG",
    "804": "UA", "807": "MK", "818": "EG", "826": "GB", "834": "TZ", "840": "US",
    "854": "BF", "858": "UY", "860": "UZ", "862": "VE", "887": "YE", "894": "ZM",
}  # fmt: skip

# Features without a numeric id, by ``properties.name``.
NAME_TO_ALPHA2: dict[str, str] = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}

# Display names where Natural Earth's short label is abbreviated or dated.
NAMES: dict[str, str] = {
    "BA": "Bosnia and Herzegovina",
    "CD": "DR Congo",
    "CF": "Central African Republic",
    "CI": "Côte d'Ivoire",
    "CY": "Cyprus",
    "DO": "Dominican Republic",
    "EH": "Western Sahara",
    "FK": "Falkland Islands",
    "GQ": "Equatorial Guinea",
    "MK": "North Macedonia",
    "PS": "Palestinian territories",
    "SB": "Solomon Islands",
    "SO": "Somalia",
    "SS": "South Sudan",
    "SZ": "Eswatini",
    "TF": "French Southern Territories",
    "US": "United States",
}

# Representative points (lon, lat, name) of small places: those missing from the 1:110m file
# and a few in it whose polygon is smaller than a pixel (the centroid would also do, but a
# hand-picked point lands on the right side of a crowded coast).
MARKERS: dict[str, tuple[float, float, str]] = {
    "AD": (1.52, 42.55, "Andorra"),
    "BH": (50.56, 26.07, "Bahrain"),
    "CY": (33.2, 35.0, "Cyprus"),
    "HK": (114.17, 22.32, "Hong Kong"),
    "LB": (35.86, 33.9, "Lebanon"),
    "MO": (113.55, 22.19, "Macau"),
    "MT": (14.44, 35.9, "Malta"),
    "MU": (57.55, -20.25, "Mauritius"),
    "MV": (73.5, 3.2, "Maldives"),
    "PR": (-66.5, 18.22, "Puerto Rico"),
    "PS": (35.25, 31.95, "Palestinian territories"),
    "SG": (103.82, 1.35, "Singapore"),
    "TT": (-61.25, 10.45, "Trinidad and Tobago"),
}

UNMAPPED: dict[str, str] = {
    "GB-NIR": "Northern Ireland is part of the United Kingdom shape in Natural Earth 1:110m; "
    "it is not drawn on its own.",
}

Ring = np.ndarray  # (N, 2) lon/lat, closed or not
Polygon = list[Ring]  # outer ring first, then holes


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    polygons: list[Polygon]


# --------------------------------------------------------------------------- TopoJSON


def decode_arcs(topology: dict) -> list[np.ndarray]:
    """Absolute lon/lat arcs from a topology's quantised, delta-encoded ``arcs``."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        pts = np.asarray(arc, dtype=np.float64)[:, :2]
        if transform:
            pts = np.cumsum(pts, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(pts)
    return arcs


def ring_coords(arcs: list[np.ndarray], indexes: list[int]) -> Ring:
    """One ring from arc indexes; ``~i`` (negative) is arc ``i`` reversed."""
    parts = []
    for k, index in enumerate(indexes):
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        parts.append(arc if k == 0 else arc[1:])  # consecutive arcs share an end point
    return np.concatenate(parts)


def unwrap(ring: Ring) -> Ring:
    """Make longitudes continuous across the antimeridian (a step of 359° becomes -1°)."""
    steps = np.diff(ring[:, 0])
    steps -= 360.0 * np.round(steps / 360.0)
    out = ring.copy()
    out[1:, 0] = ring[0, 0] + np.cumsum(steps)
    return out


def split_antimeridian(polygon: Polygon) -> list[Polygon]:
    """A polygon whose rings cross 180° (Chukotka, Fiji), as copies that each lie on one side.

    The file's rings are spherical: a ring may step from 180° to -180°. Unwrapped, the ring
    spills past ±180°; a copy shifted by 360° covers the spilled part, and the grid clips both.
    """
    if all(np.abs(np.diff(r[:, 0])).max(initial=0) <= 180 for r in polygon):
        return [polygon]
    rings = [unwrap(r) for r in polygon]
    copies = [rings]
    if max(r[:, 0].max() for r in rings) > 180:
        copies.append([r - (360.0, 0.0) for r in rings])
    if min(r[:, 0].min() for r in rings) < -180:
        copies.append([r + (360.0, 0.0) for r in rings])
    return copies


def geometry_polygons(arcs: list[np.ndarray], geometry: dict) -> list[Polygon]:
    if geometry["type"] == "Polygon":
        polygons = [geometry["arcs"]]
    elif geometry["type"] == "MultiPolygon":
        polygons = geometry["arcs"]
    else:
        return []
    out: list[Polygon] = []
    for polygon in polygons:
        out += split_antimeridian([ring_coords(arcs, ring) for ring in polygon])
    return out


def alpha2(geometry: dict) -> str:
    numeric = geometry.get("id")
    name = geometry.get("properties", {}).get("name", "")
    if numeric is not None and numeric in NUMERIC_TO_ALPHA2:
        return NUMERIC_TO_ALPHA2[numeric]
    if name in NAME_TO_ALPHA2:
        return NAME_TO_ALPHA2[name]
    raise SystemExit(f"No ISO alpha-2 code for feature id={numeric!r} name={name!r}: add it.")


def load_countries(topology: dict) -> list[Country]:
    """Countries of the topology keyed by alpha-2, merged when several features share one."""
    arcs = decode_arcs(topology)
    merged: dict[str, Country] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = alpha2(geometry)
        if code in DROPPED:
            continue
        polygons = geometry_polygons(arcs, geometry)
        name = NAMES.get(code, geometry.get("properties", {}).get("name", code))
        if code in merged:
            merged[code].polygons.extend(polygons)
        else:
            merged[code] = Country(code, name, polygons)
    return [merged[code] for code in sorted(merged)]


# --------------------------------------------------------------------------- rasterising


def inside(ring: Ring, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd crossing test of points against one ring (vectorised over points)."""
    x1, y1 = ring[:, 0], ring[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    result = np.zeros(px.shape, dtype=bool)
    for start in range(0, len(x1), 256):
        s = slice(start, start + 256)
        a_x, a_y, b_x, b_y = x1[s], y1[s], x2[s], y2[s]
        straddles = (a_y[None, :] > py[:, None]) != (b_y[None, :] > py[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            cross_x = a_x + (b_x - a_x) * (py[:, None] - a_y) / (b_y - a_y)
        hits = straddles & (px[:, None] < cross_x)
        result ^= (np.count_nonzero(hits, axis=1) % 2).astype(bool)
    return result


def sample_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of the supersampling points, shape (height*S, width*S)."""
    s = SUPERSAMPLE
    xs = WEST + (np.arange(width * s) + 0.5) * (EAST - WEST) / (width * s)
    ys = NORTH - (np.arange(height * s) + 0.5) * (NORTH - SOUTH) / (height * s)
    return np.meshgrid(xs, ys)


def country_mask(country: Country, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Boolean sample mask of one country (even-odd over each polygon's rings)."""
    mask = np.zeros(lon.shape, dtype=bool)
    for polygon in country.polygons:
        outer = polygon[0]
        box = (
            (lon >= outer[:, 0].min())
            & (lon <= outer[:, 0].max())
            & (lat >= outer[:, 1].min())
            & (lat <= outer[:, 1].max())
        )
        idx = np.flatnonzero(box)
        if idx.size == 0:
            continue
        px, py = lon.ravel()[idx], lat.ravel()[idx]
        hit = np.zeros(idx.size, dtype=bool)
        for ring in polygon:
            hit ^= inside(ring, px, py)
        flat = mask.ravel()
        flat[idx[hit]] = True
    return mask


def rasterise(countries: list[Country], width: int, height: int) -> np.ndarray:
    """Owner index per pixel (into ``countries``), -1 for sea."""
    lon, lat = sample_grid(width, height)
    s = SUPERSAMPLE
    best = np.zeros((height, width), dtype=np.int32)
    owner = np.full((height, width), -1, dtype=np.int32)
    land = np.zeros((height, width), dtype=np.int32)
    for i, country in enumerate(countries):
        counts = country_mask(country, lon, lat).reshape(height, s, width, s).sum(axis=(1, 3))
        land += counts
        better = counts > best
        best[better] = counts[better]
        owner[better] = i
    owner[land < LAND_FRACTION * s * s] = -1
    return owner


def largest_centroid(country: Country) -> tuple[float, float]:
    """Area-weighted centroid of the country's largest outer ring."""

    def area_centroid(ring: Ring) -> tuple[float, float, float]:
        x, y = ring[:, 0], ring[:, 1]
        x2, y2 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y2 - x2 * y
        area = cross.sum() / 2.0
        if abs(area) < 1e-12:
            return 0.0, float(x.mean()), float(y.mean())
        cx = ((x + x2) * cross).sum() / (6.0 * area)
        cy = ((y + y2) * cross).sum() / (6.0 * area)
        return abs(area), float(cx), float(cy)

    _, cx, cy = max(area_centroid(p[0]) for p in country.polygons)
    return cx, cy


def place_markers(
    owner: np.ndarray, codes: list[str], points: dict[str, tuple[float, float]]
) -> list[str]:
    """Give every code in ``points`` without a pixel one marker pixel; returns those placed.

    ``owner`` (indexes into ``codes``) is changed in place. Markers are placed in code order,
    each on the free pixel nearest its point (ties by row, then column).
    """
    height, width = owner.shape
    step = (EAST - WEST) / width
    counts = np.bincount(owner[owner >= 0], minlength=len(codes))
    taken = np.zeros(owner.shape, dtype=bool)
    placed = []
    rows, cols = np.mgrid[0:height, 0:width]
    for code in sorted(points):
        index = codes.index(code)
        if counts[index] > 0:
            continue
        lon, lat = points[code]
        fx, fy = (lon - WEST) / step, (NORTH - lat) / step
        dist = (cols + 0.5 - fx) ** 2 + (rows + 0.5 - fy) ** 2
        order = np.lexsort((cols.ravel(), rows.ravel(), dist.ravel()))
        for flat in order:
            y, x = divmod(int(flat), width)
            current = owner[y, x]
            if taken[y, x] or (current >= 0 and counts[current] < MARKER_SPARE):
                continue
            if current >= 0:
                counts[current] -= 1
            owner[y, x] = index
            counts[index] += 1
            taken[y, x] = True
            placed.append(code)
            break
    return placed


def run_length(row: np.ndarray) -> list[int]:
    out: list[int] = []
    for value in row.tolist():
        if out and out[-2] == value:
            out[-1] += 1
        else:
            out += [value, 1]
    return out


# --------------------------------------------------------------------------- main


def fetch_source(workdir: Path) -> Path:
    """``npm pack`` the pinned package into ``workdir`` and extract the countries file."""
    spec = f"{PACKAGE}@{PACKAGE_VERSION}"
    try:
        done = subprocess.run(
            ["npm", "pack", spec, "--silent"],
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"npm pack {spec} failed ({exc}); pass --source FILE instead.") from None
    tarball = workdir / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        member = tar.getmember(f"package/{SOURCE_FILE}")
        extracted = tar.extractfile(member)
        assert extracted is not None
        target = workdir / SOURCE_FILE
        target.write_bytes(extracted.read())
    return target


def build(source: Path) -> dict:
    raw = source.read_bytes()
    topology = json.loads(raw)
    countries = load_countries(topology)
    all_codes = sorted({c.code for c in countries} | set(MARKERS))
    names = {code: MARKERS[code][2] for code in MARKERS}
    names.update({c.code: c.name for c in countries})
    points = {c.code: largest_centroid(c) for c in countries}
    points.update({code: (lon, lat) for code, (lon, lat, _) in MARKERS.items()})

    by_code = {c.code: c for c in countries}
    ordered = [by_code[code] for code in all_codes if code in by_code]
    remap = np.array([all_codes.index(c.code) for c in ordered], dtype=np.int32)

    grids = {}
    for key, (width, height) in RESOLUTIONS.items():
        owner = rasterise(ordered, width, height)
        owner = np.where(owner >= 0, remap[np.maximum(owner, 0)], -1)
        markers = place_markers(owner, all_codes, points)
        grids[key] = {
            "width": width,
            "height": height,
            "markers": markers,
            "rows": [run_length(row) for row in owner],
        }
    return {
        "format": 1,
        "source": {
            "package": PACKAGE,
            "version": PACKAGE_VERSION,
            "file": SOURCE_FILE,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "data": "Natural Earth 1:110m Cultural Vectors, Admin 0 - Countries",
            "licence": "public domain (Natural Earth)",
            "package_licence": "ISC (world-atlas, Mike Bostock)",
        },
        "generated_by": "tools/build_worldmap.py",
        "projection": "equirectangular (plate carree), square pixels",
        "bounds": {"west": WEST, "east": EAST, "north": NORTH, "south": SOUTH},
        "supersample": SUPERSAMPLE,
        "land_fraction": LAND_FRACTION,
        "codes": all_codes,
        "names": {code: names[code] for code in all_codes},
        "unmapped": UNMAPPED,
        "grids": grids,
    }


def dumps(doc: dict) -> str:
    """Compact JSON with one grid row per line (readable diffs, small file)."""
    grids = doc["grids"]
    head = {k: v for k, v in doc.items() if k != "grids"}
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    parts = []
    for key, grid in grids.items():
        rows = ",\n".join("   " + json.dumps(r, separators=(",", ":")) for r in grid["rows"])
        parts.append(
            f' "{key}": {{"width": {grid["width"]}, "height": {grid["height"]},\n'
            f'  "markers": {json.dumps(grid["markers"])},\n  "rows": [\n{rows}\n  ]}}'
        )
    return text + ',\n "grids": {\n' + ",\n".join(parts) + "\n }\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, help=f"a local {SOURCE_FILE} (skips npm)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source or fetch_source(Path(tmp))
        doc = build(source)
    text = dumps(doc)
    json.loads(text)  # the hand-assembled layout must stay valid JSON
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()) / 1024:.1f} KB, {len(doc['codes'])} codes)")
    for key, grid in doc["grids"].items():
        print(f"  {key} {grid['width']}x{grid['height']}: markers {' '.join(grid['markers'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
