"""core.report_html: one self-contained, escaped HTML report of a run."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from core.report_html import render_report
from core.worldmap import load_grid

SVG_NS = "{http://www.w3.org/2000/svg}"
XMLNS = 'xmlns="http://www.w3.org/2000/svg"'


def _manifest(**extra: Any) -> dict[str, Any]:
    return {
        "name": "smol <default>",
        "backend": "local",
        "backend_kind": "local",
        "base_url": "",
        "model": "SmolLM2-135M-Instruct",
        "condition": "default",
        "dataset": "sample",
        "dataset_sha256": "a81e607de8ac",
        "policy": "keep",
        "params": {"temperature": 0.0, "api_key_env": "OPENAI_API_KEY"},
        "selection": {"planned": 189},
        **extra,
    }


def _scores(with_ci: bool = True) -> dict[str, Any]:
    rows = [
        ("France", "France", "FR", 0.83, 150),
        ("Ivory Coast", "Côte d'Ivoire", "CI", 0.79, 40),
        ("Northern Ireland", "Northern Ireland", "GB-NIR", 0.78, 12),
        ("Bad <script>alert(1)</script>", "Bad <script>alert(1)</script>", None, 0.7, 3),
        ("Singapore", "Singapore", "SG", 0.69, 20),
    ]
    countries = []
    for key, display, iso2, sim, n in rows:
        entry: dict[str, Any] = {
            "country": key,
            "display": display,
            "iso2": iso2,
            "similarity": sim,
            "n_questions": n,
        }
        if with_ci and iso2 != "SG":
            entry["ci_low"], entry["ci_high"] = sim - 0.02, sim + 0.01
        countries.append(entry)
    return {"n_questions_scored": 189, "jsd_base": 2, "countries": countries}


COMPARE = {
    "a": "run-a",
    "b": "run & b",
    "rows": [
        {"country": "France", "score_a": 0.80, "score_b": 0.83, "diff": 0.03,
         "ci": [0.01, 0.05], "p": 0.0004, "q": 0.002},
        {"country": "Côte d'Ivoire", "score_a": 0.80, "score_b": 0.77, "diff": -0.03,
         "ci_low": -0.06, "ci_high": 0.0, "p": 0.2, "q": 0.4},
    ],
}  # fmt: skip

DIAGNOSTICS = {
    "figures": {"answered": 189, "failed": 2, "mean entropy": 1.2345},
    "parse_failures": 1,
    "worst": [
        {"question_id": 12, "question": "Is <b>this</b> good?", "similarity": 0.412},
        {"question_id": 40, "question": "Other", "similarity": 0.455},
    ],
}


@pytest.fixture(scope="module")
def html() -> str:
    return render_report(_manifest(), _scores(), load_grid("large"), COMPARE, DIAGNOSTICS)


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def test_report_is_self_contained(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower()
    without_ns = html.replace(XMLNS, "")
    assert "http://" not in without_ns and "https://" not in without_ns
    assert "@import" not in html and "url(http" not in html and "<link" not in html
    assert html.count(XMLNS) == len(_svgs(html)) == 2  # the map and its legend


def test_svg_parts_are_well_formed(html: str) -> None:
    svgs = [ET.fromstring(svg) for svg in _svgs(html)]
    world = svgs[0]
    assert world.get("class") == "worldmap"
    groups = {g.get("data-iso"): g for g in world.findall(f"{SVG_NS}g")}
    tip = groups["CI"].find(f"{SVG_NS}title")
    assert tip is not None and tip.text == "Côte d'Ivoire (CI): 0.790, n = 40"
    assert groups["SG"].get("fill", "").startswith("#")
    assert groups["DE"].get("fill") == "url(#nodata)"
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_text_is_escaped(html: str) -> None:
    assert "smol &lt;default&gt;" in html
    assert "Côte d&#x27;Ivoire" in html
    assert "Bad &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Is &lt;b&gt;this&lt;/b&gt; good?" in html
    assert "run &amp; b" in html


def test_manifest_is_shown_and_secrets_masked() -> None:
    page = render_report(
        _manifest(params={"temperature": 0.0, "api_key": "sk-live-123"}, token="abc"),
        _scores(),
        load_grid("small"),
    )
    assert "SmolLM2-135M-Instruct" in page and "a81e607de8ac" in page
    assert "sk-live-123" not in page and ">abc<" not in page
    assert page.count("(hidden)") == 2
    shown = render_report(_manifest(), _scores(), load_grid("small"))
    assert "OPENAI_API_KEY" in shown  # the *name* of a key's variable is not a secret


def test_leaderboard_rows_bars_and_intervals(html: str) -> None:
    board = html[html.index('id="leaderboard"') : html.index('id="compare"')]
    assert board.count("<tr>") == 1 + 5
    assert board.index("France") < board.index("Côte d&#x27;Ivoire") < board.index("Singapore")
    assert "[0.810, 0.840]" in board
    assert board.count('class="whisker"') == 4
    widths = [float(w) for w in re.findall(r'class="fill" style="width:([\d.]+)%"', board)]
    assert widths == sorted(widths, reverse=True) and 90.0 < widths[0] < 100.0
    # the scale spans the intervals too: France's upper bound (0.840) ends the track
    assert re.search(
        r'class="whisker" style="left:[\d.]+%;width:[\d.]+%" title="95% CI '
        r'0.810–0.840"',
        board,
    )
    left, width = re.findall(r'style="left:([\d.]+)%;width:([\d.]+)%" title="95% CI 0.810', board)[
        0
    ]
    assert float(left) + float(width) == pytest.approx(100.0, abs=0.2)


def test_leaderboard_without_intervals_has_no_ci_column() -> None:
    page = render_report(_manifest(), _scores(with_ci=False), load_grid("small"))
    assert "95% CI" not in page and 'class="whisker"' not in page


def test_unmapped_and_codeless_countries_are_listed_under_the_map(html: str) -> None:
    section = html[html.index('id="map"') : html.index('id="leaderboard"')]
    note = re.search(r"Not on the map: (.*?)\.</p>", section)
    assert note is not None
    assert "Northern Ireland (0.780)" in note.group(1)
    assert "Bad &lt;script&gt;" in note.group(1)


def test_comparison_section(html: str) -> None:
    section = html[html.index('id="compare"') : html.index('id="diagnostics"')]
    assert "run-a" in section and "run &amp; b" in section
    assert section.count('<tr class="sig">') == 1  # France: q = 0.002
    assert "+0.030" in section and "−0.030" in section
    assert "[0.010, 0.050]" in section and "[−0.060, 0.000]" in section
    assert "&lt; 0.001" in section and "0.400" in section
    assert 'class="fill pos"' in section and 'class="fill neg"' in section


def test_diagnostics_section(html: str) -> None:
    section = html[html.index('id="diagnostics"') :]
    for key in ("answered", "failed", "mean entropy", "parse_failures"):
        assert f'<div class="k">{key}</div>' in section
    assert "1.234" in section
    assert "Worst items" in section and section.count("<tr>") == 3


def test_optional_sections_are_left_out() -> None:
    page = render_report(_manifest(), _scores(), load_grid("large"))
    assert 'id="compare"' not in page and 'id="diagnostics"' not in page
    assert 'id="map"' in page and 'id="leaderboard"' in page


def test_render_run_draws_the_loaded_run(write_csv: Any, tmp_path: Any) -> None:
    """The report of a run loaded by core.runs: its statistics, comparison and diagnostics."""
    from support.runs import MODEL, OTHER, ROWS, put_run

    from core import dataset, runs
    from core.report_html import render_run
    from core.store import Store

    tiny = dataset.load(str(write_csv(ROWS, "tiny.csv")))
    with Store(tmp_path / "s.sqlite3") as store:
        put_run(store, tiny, "a <run>", MODEL)
        put_run(store, tiny, "b", OTHER)
        bare = runs.load_run(store, tiny, "a <run>")
        full = runs.with_statistics(tiny, bare, n_resamples=30)
        comparison = runs.compare_runs(store, tiny, "a <run>", "b", n_resamples=30)
    grid = load_grid("large")
    plain = render_run(bare, grid)
    assert 'id="diagnostics"' not in plain and "95% CI" not in plain
    assert "<h1>a &lt;run&gt;</h1>" in plain
    page = render_run(full, grid, comparison, top=2)
    assert page == render_report(
        full.manifest.to_json(),
        full.to_json(2),
        grid,
        compare=comparison.to_json(),
        diagnostics=full.statistics.diagnostics.to_json(),  # type: ignore[union-attr]
    )
    assert page.count('<td class="num rank">') == 2
    assert 'id="compare"' in page and "mean off-option mass" in page
