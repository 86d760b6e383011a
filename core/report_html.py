"""A run's report as one self-contained HTML file: manifest, leaderboard, world map, and
optionally a comparison with another run, diagnostics and an estimator audit.

:func:`render_run` draws a run loaded by :func:`core.runs.load_run` (with its statistics),
the same object ``goqa report`` prints and the app shows; :func:`render_report` draws the
plain JSON-ready parts (``render_run`` hands it the run's ``to_json()``).

The page has inline CSS and inline SVG only: no scripts, no external URLs, no web fonts, so it
opens offline and can be mailed or archived as is. Every piece of text is escaped. It shows
exactly what it is given; a key named like a secret (``api_key``, ``token``…) is still masked,
as a second line of defence behind the manifest, which holds no secrets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from core.metrics import DEFAULT_METRIC, HIGHER_IS_BETTER, METRIC_INFO, parse_metric
from core.worldmap import (
    UNMAPPED,
    WorldGrid,
    map_range,
    render_svg,
    render_svg_legend,
    scale_position,
    sequential_colour,
    values_from_scores,
)

if TYPE_CHECKING:
    from core.audit import EstimatorAudit
    from core.breakdown import RankStability
    from core.runs import LoadedRun, RunComparison

_SECRET_KEY = re.compile(r"(^|_)(api_?key|secret|password|token|authorization)$", re.I)

_CSS = """
:root { --fg: #1d242b; --muted: #5f6b78; --line: #e3e7ec; --bg: #ffffff; --soft: #f5f7fa;
  --bar: #3b7dd8; --pos: #2f8a45; --neg: #c2413a; --ci: #1d242b; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--soft); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 24px 48px; }
header h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
header p { margin: 0; color: var(--muted); }
section { background: var(--bg); border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 24px; margin-top: 20px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.muted, .note { color: var(--muted); }
.note { font-size: 13px; margin: 10px 0 0; }
dl.manifest { display: grid; grid-template-columns: max-content 1fr; gap: 4px 20px; margin: 0; }
dl.manifest dt { color: var(--muted); }
dl.manifest dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
  monospace; font-size: 13px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: middle; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted);
  font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.rank { color: var(--muted); width: 2.5em; }
td.ci { color: var(--muted); font-size: 12px; }
td.question { max-width: 420px; overflow-wrap: anywhere; }
td.iso { color: var(--muted); font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 8px; vertical-align: baseline; }
td.bar { width: 38%; }
.track { position: relative; height: 14px; background: var(--soft); border-radius: 3px; }
.fill { position: absolute; top: 0; bottom: 0; left: 0; background: var(--bar);
  border-radius: 3px; }
.whisker { position: absolute; top: 6px; height: 2px; background: var(--ci); opacity: 0.7; }
.centre { position: absolute; top: -2px; bottom: -2px; left: 50%; width: 1px;
  background: var(--muted); }
.fill.pos { background: var(--pos); border-radius: 0 3px 3px 0; left: auto; }
.fill.neg { background: var(--neg); border-radius: 3px 0 0 3px; left: auto; }
tr.sig td:first-child { font-weight: 600; }
.figure { margin: 0; }
.figure svg.worldmap { width: 100%; height: auto; display: block; border-radius: 6px; }
.legend { margin-top: 8px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr));
  gap: 12px; margin-bottom: 16px; }
.card { background: var(--soft); border-radius: 8px; padding: 10px 14px; }
.card .k { font-size: 12px; color: var(--muted); }
.card .v { font-size: 18px; font-weight: 600; overflow-wrap: anywhere; }
.card .v.small { font-size: 14px; font-weight: 500; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; text-align: center; }
@media print { body { background: #fff; } section { border: none; padding: 8px 0; } }
"""


def _text(value: Any) -> str:
    """Escaped display text of any value (numbers rounded, None as an em dash)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else escape(f"{value:.4g}")
    if isinstance(value, Mapping):
        return ", ".join(f"{escape(str(k))} = {_text(_mask(k, v))}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return escape(str(value))


def _mask(key: Any, value: Any) -> Any:
    return "(hidden)" if _SECRET_KEY.search(str(key)) and value else value


def _num(value: Any, digits: int = 3, sign: bool = False) -> str:
    """A number with ``digits`` decimals and a true minus sign (``+`` too when ``sign``)."""
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return escape(str(value))
    if not math.isfinite(number):
        return "—"
    text = f"{number:+.{digits}f}" if sign else f"{number:.{digits}f}"
    return text.replace("-", "−")


def _interval(low: Any, high: Any) -> str:
    if _float(low) is None or _float(high) is None:
        return "—"
    return f"[{_num(low)}, {_num(high)}]"


def _p(value: Any) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return escape(str(value))
    if not math.isfinite(number):
        return "—"
    return "&lt; 0.001" if number < 0.001 else f"{number:.3f}"


def _nice_range(values: Iterable[float]) -> tuple[float, float]:
    """Bar scale: low rounded down to 0.05 (similarities crowd into a narrow band)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    lo = max(0.0, math.floor((lo - 0.02) * 20) / 20)
    return lo, (hi if hi - lo > 1e-9 else lo + 0.05)


def _pct(value: float, lo: float, hi: float) -> float:
    return 100.0 * scale_position(value, lo, hi)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------- sections


def _manifest_section(manifest: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<dt>{escape(str(k))}</dt><dd>{_text(_mask(k, v)) or '—'}</dd>"
        for k, v in manifest.items()
    )
    return f'<section id="manifest"><h2>Run</h2><dl class="manifest">{rows}</dl></section>'


_INFO: dict[str, str] = dict(METRIC_INFO.items())


def _divergence(metric: str) -> bool:
    """A metric where lower is better (``kl``): bars and colours run the other way."""
    return metric in _INFO and not HIGHER_IS_BETTER[parse_metric(metric)]


def _metric_heading(metric: str) -> str:
    return "Similarity" if metric == DEFAULT_METRIC else f"Score ({metric})"


def _leaderboard_section(
    countries: Sequence[Mapping[str, Any]],
    map_lo: float,
    map_hi: float,
    metric: str = DEFAULT_METRIC,
) -> str:
    scores = [_float(c.get("similarity")) for c in countries]
    has_ci = any("ci_low" in c or "ci_high" in c for c in countries)
    bounds = [s for s in scores if s is not None]
    if has_ci:
        bounds += [v for c in countries for k in ("ci_low", "ci_high") if (v := _float(c.get(k)))]
    lo, hi = _nice_range(bounds)
    if _divergence(metric):
        lo, hi = hi, lo  # a divergence: the full bar is the lowest
    head = (
        '<tr><th class="num">#</th><th>Country</th><th>ISO</th>'
        f"<th>{escape(_metric_heading(metric))}</th>"
        '<th class="num">Score</th>'
        + ('<th class="num">95% CI</th>' if has_ci else "")
        + '<th class="num">n</th></tr>'
    )
    body = []
    for rank, (c, score) in enumerate(zip(countries, scores, strict=True), start=1):
        label = c.get("display") or c.get("country") or "?"
        iso = c.get("iso2") or ""
        swatch = '<span class="swatch"></span>'
        if score is not None and iso and iso not in UNMAPPED:
            colour = sequential_colour(scale_position(score, map_lo, map_hi))
            swatch = f'<span class="swatch" style="background:{colour}"></span>'
        bar = ""
        if score is not None:
            bar = f'<span class="fill" style="width:{_pct(score, lo, hi):.1f}%"></span>'
        ci_lo, ci_hi = _float(c.get("ci_low")), _float(c.get("ci_high"))
        if ci_lo is not None and ci_hi is not None:
            left, right = _pct(ci_lo, lo, hi), _pct(ci_hi, lo, hi)
            span = max(right - left, 0.4)
            bar += (
                f'<span class="whisker" style="left:{left:.1f}%;width:{span:.1f}%"'
                f' title="95% CI {_num(ci_lo)}–{_num(ci_hi)}"></span>'
            )
        ci = f'<td class="num">{_interval(ci_lo, ci_hi)}</td>' if has_ci else ""
        body.append(
            f'<tr><td class="num rank">{rank}</td><td>{swatch}{escape(str(label))}</td>'
            f'<td class="iso">{escape(str(iso))}</td>'
            f'<td class="bar"><div class="track">{bar}</div></td>'
            f'<td class="num">{_num(score)}</td>{ci}'
            f'<td class="num">{_text(c.get("n_questions"))}</td></tr>'
        )
    scale = (
        f"Bars span {_num(lo)}–{_num(hi)}, not 0–1: similarities crowd into a narrow band."
        if lo <= hi
        else f"Bars run from {_num(lo)} (empty) to {_num(hi)} bits (full): lower is closer."
    )
    scale += f" Metric: {metric} — {_INFO.get(metric, metric)}."
    return (
        '<section id="leaderboard"><h2>Leaderboard</h2>'
        f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
        f'<p class="note">{escape(scale)}</p></section>'
    )


def _map_section(
    grid: WorldGrid, countries: Sequence[Mapping[str, Any]], metric: str = DEFAULT_METRIC
) -> tuple[str, float, float]:
    chosen = values_from_scores(countries)
    values = {iso: score for iso, (score, _) in chosen.items()}
    counts = {iso: n for iso, (_, n) in chosen.items()}
    labels: dict[str, str] = {}
    for c in countries:
        iso, key = c.get("iso2"), c.get("country")
        if iso in chosen and iso not in labels and _float(c.get("similarity")) == chosen[iso][0]:
            labels[str(iso)] = str(c.get("display") or key or iso)
    lo, hi = map_range(grid, values)
    if _divergence(metric):
        lo, hi = hi, lo  # a divergence: the lowest (closest) is drawn darkest
    svg = render_svg(grid, values, lo, hi, n=counts, labels=labels)
    legend = render_svg_legend(lo, hi)
    notes = []
    off_map = [
        c
        for c in countries
        if not c.get("iso2") or c.get("iso2") in UNMAPPED or grid.index(str(c["iso2"])) is None
    ]
    if off_map:
        listed = ", ".join(
            f"{escape(str(c.get('display') or c.get('country')))} ({_num(c.get('similarity'))})"
            for c in off_map
        )
        notes.append(f"Not on the map: {listed}.")
    several = sorted({str(c["iso2"]) for c in countries if c.get("iso2")} - set(UNMAPPED))
    multi = [iso for iso in several if sum(1 for c in countries if c.get("iso2") == iso) > 1]
    if multi:
        names = ", ".join(escape(grid.name(iso)) for iso in multi)
        notes.append(
            "Countries with several samples in the dataset are drawn with one of them "
            f"(national, else current national, else the largest): {names}."
        )
    notes.append(
        "Hatched: countries without data. Small states are drawn as a single cell. "
        "Hover a country for its score."
    )
    note_html = "".join(f'<p class="note">{n}</p>' for n in notes)
    section = (
        f'<section id="map"><h2>{escape(_metric_heading(metric))} by country</h2>'
        f'<figure class="figure">{svg}<div class="legend">{legend}</div></figure>'
        f"{note_html}</section>"
    )
    return section, lo, hi


def _ci_text(row: Mapping[str, Any]) -> str:
    ci = row.get("ci")
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return _interval(ci[0], ci[1])
    if "ci_low" in row or "ci_high" in row:
        return _interval(row.get("ci_low"), row.get("ci_high"))
    return _text(ci)


def _compare_section(compare: Mapping[str, Any]) -> str:
    # Accepts core.stats.Comparison.to_json() (label_a/label_b, countries with p_value/q_value)
    # as well as the short form {"a", "b", "rows": [{"country", ..., "p", "q"}]}.
    rows: Sequence[Mapping[str, Any]] = compare.get("rows") or compare.get("countries") or []
    a = str(compare.get("a") or compare.get("label_a") or "A")
    b = str(compare.get("b") or compare.get("label_b") or "B")
    diffs = [d for r in rows if (d := _float(r.get("diff"))) is not None]
    span = max((abs(d) for d in diffs), default=0.0) or 1.0
    alpha = _float(compare.get("alpha")) or 0.05
    body = []
    for r in rows:
        diff = _float(r.get("diff"))
        bar = '<span class="centre"></span>'
        if diff is not None:
            width = 50.0 * abs(diff) / span
            side = "pos" if diff >= 0 else "neg"
            pos = "left:50%" if diff >= 0 else f"left:{50.0 - width:.1f}%"
            bar += f'<span class="fill {side}" style="{pos};width:{width:.1f}%"></span>'
        q = _float(r.get("q", r.get("q_value")))
        sig = q is not None and q < alpha
        body.append(
            f'<tr class="{"sig" if sig else ""}">'
            f"<td>{escape(str(r.get('display') or r.get('country', '?')))}</td>"
            f'<td class="num">{_num(r.get("score_a"))}</td>'
            f'<td class="num">{_num(r.get("score_b"))}</td>'
            f'<td class="bar"><div class="track">{bar}</div></td>'
            f'<td class="num">{_num(r.get("diff"), sign=True)}</td>'
            f'<td class="num">{_ci_text(r)}</td>'
            f'<td class="num">{_p(r.get("p", r.get("p_value")))}</td>'
            f'<td class="num">{_p(r.get("q", r.get("q_value")))}</td></tr>'
        )
    num = '<th class="num">'
    head = (
        f"<tr><th>Country</th>{num}{escape(a)}</th>{num}{escape(b)}</th>"
        f"<th>{escape(b)} − {escape(a)}</th>{num}diff</th>{num}95% CI</th>"
        f"{num}p</th>{num}q</th></tr>"
    )
    note = compare.get("note") or (
        f"Bold rows: q < {alpha:g} (false discovery rate). Bars are centred on no difference."
    )
    return (
        f'<section id="compare"><h2>Comparison: {escape(a)} vs {escape(b)}</h2>'
        f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
        f'<p class="note">{escape(str(note))}</p></section>'
    )


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [str(k) for k in row if str(k) not in columns]

    def cell(value: Any) -> str:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        text = _num(value) if isinstance(value, float) else _text(value)
        return f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"

    numeric = {
        c
        for c in columns
        if all(isinstance(r.get(c), int | float | None) for r in rows)
        and any(isinstance(r.get(c), int | float) for r in rows)
    }
    head = "".join(
        f'<th class="num">{escape(c)}</th>' if c in numeric else f"<th>{escape(c)}</th>"
        for c in columns
    )
    body = "".join("<tr>" + "".join(cell(row.get(c)) for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_BASELINE_NAMES = {
    "uniform": "uniform",
    "population average": "population average",
    "best other country": "best other country",
}


def _baselines_section(
    countries: Sequence[Mapping[str, Any]], null: Mapping[str, Any] | None, metric: str
) -> str:
    """Every baseline beside the model's score, the lift and the shuffled-country null."""
    if not any("population_average" in c for c in countries):
        return ""
    rows = []
    for c in countries:
        other = c.get("best_other")
        rows.append(
            {
                "country": c.get("display") or c.get("country"),
                "model": c.get("similarity"),
                "uniform": c.get("uniform"),
                "population average": c.get("population_average"),
                "best other country": (
                    f"{_num(c.get('best_other_similarity'))} {other}" if other else "—"
                ),
                "lift": c.get("lift"),
                "best baseline": _BASELINE_NAMES.get(str(c.get("best_baseline")), "—"),
                "null p": c.get("null_p"),
                "null q": c.get("null_q"),
                "calibrated": c.get("calibrated"),
            }
        )
    direction = (
        "lower is better, so a positive lift is a divergence that many bits below the best "
        "baseline's"
        if _divergence(metric)
        else "a positive lift means the model is closer than every baseline"
    )
    test = ""
    if null:
        test = (
            f" Null: a random other country's people answer in the model's place on each "
            f"question ({_text(null.get('n_permutations'))} resamples, seed "
            f"{_text(null.get('seed'))}); p is the share at least as close as the model, q "
            "its Benjamini–Hochberg adjustment across countries."
        )
    note = (
        "Population average: the mean of every country's answers to the question (the "
        f"'global respondent'). Lift: the model's score minus the best baseline's; {direction}."
        f"{test} Calibrated: the score after temperature scaling (see Calibration)."
    )
    return (
        '<section id="baselines"><h2>Baselines</h2>'
        f'{_table(rows)}<p class="note">{escape(note)}</p></section>'
    )


def _calibration_section(calibration: Mapping[str, Any]) -> str:
    figures = {
        "temperature": calibration.get("temperature"),
        "fold temperatures": (
            f"{_num(calibration.get('fold_temperature_min'))}–"
            f"{_num(calibration.get('fold_temperature_max'))}"
        ),
        "folds": calibration.get("n_folds"),
        "mean JS distance to the population average, raw": calibration.get("objective_raw"),
        "… calibrated, out of fold": calibration.get("objective_calibrated"),
        "questions": calibration.get("n_questions"),
    }
    cards = "".join(
        f'<div class="card"><div class="k">{escape(k)}</div>'
        f'<div class="v">{_num(v) if isinstance(v, float) else _text(v)}</div></div>'
        for k, v in figures.items()
    )
    note = (
        f"{calibration.get('summary') or ''} One temperature T is fitted per run: each answer "
        "p becomes p^(1/T), renormalised, with T chosen to bring the answers closest to the "
        "population average. Every question is tempered by a T fitted on the other folds, "
        "never on itself."
    )
    return (
        '<section id="calibration"><h2>Calibration</h2>'
        f'<div class="figures">{cards}</div><p class="note">{escape(note)}</p></section>'
    )


def _splits_section(splits: Mapping[str, Any]) -> str:
    names = {"entropy": "human entropy", "source": "source", "scale": "scale"}
    overall = splits.get("overall") or {}
    rows = [
        {
            "split": "all",
            "group": "all",
            "score": overall.get("mean"),
            "questions": overall.get("n_questions"),
            "countries": len(overall.get("countries") or []),
        }
    ]
    for split in splits.get("splits") or []:
        for group in split.get("groups") or []:
            rows.append(
                {
                    "split": names.get(str(split.get("name")), split.get("name")),
                    "group": group.get("label"),
                    "score": group.get("mean"),
                    "questions": group.get("n_questions"),
                    "countries": len(group.get("countries") or []),
                }
            )
    cuts = (splits.get("terciles") or {}).get("cuts")
    cut_text = f" (cuts at normalised entropy {_num(cuts[0])} and {_num(cuts[1])})" if cuts else ""
    note = (
        "Score: the mean over countries of each country's mean on the group's questions. "
        "Consensus / contested: the thirds of the run's questions with the least / most "
        f"disagreement within countries{cut_text}. Scale: ordinal (the options form a scale) "
        "or nominal."
    )
    return (
        '<section id="splits"><h2>Where the model is good and bad</h2>'
        f'{_table(rows)}<p class="note">{escape(note)}</p></section>'
    )


def _stability_section(stability: Mapping[str, Any]) -> str:
    names = [str(m) for m in stability.get("metrics") or []]
    taus: dict[tuple[str, str], Any] = {}
    for g in stability.get("agreements") or []:
        taus[(str(g.get("a")), str(g.get("b")))] = g.get("tau")
        taus[(str(g.get("b")), str(g.get("a")))] = g.get("tau")
    head = "<tr><th></th>" + "".join(f'<th class="num">{escape(n)}</th>' for n in names)
    body = []
    for a in names:
        cells = "".join(
            f'<td class="num">{"1" if a == b else _num(taus.get((a, b)))}</td>' for b in names
        )
        body.append(f"<tr><th>{escape(a)}</th>{cells}</tr>")
    movers = [
        {
            "country": m.get("display") or m.get("country"),
            **{n: (m.get("ranks") or {}).get(n) for n in names},
            "spread": m.get("spread"),
        }
        for m in stability.get("movers") or []
    ]
    moved = f"<h2>Countries whose rank moves most</h2>{_table(movers)}" if movers else ""
    note = (
        "Kendall's τ (tau-b) between the country rankings of two metrics, over the countries "
        "both rank; 1 is the same order. Ranks: 1 is the closest country under that metric."
    )
    return (
        '<section id="stability"><h2>Rank stability across metrics</h2>'
        f"<table><thead>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<p class="note">{escape(note)}</p>{moved}</section>'
    )


def _diagnostics_section(diagnostics: Mapping[str, Any]) -> str:
    figures: dict[str, Any] = dict(diagnostics.get("figures") or {})
    tables: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for key, value in diagnostics.items():
        if key == "figures":
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            tables.append((key, value))
        elif not isinstance(value, Mapping | list):
            figures[key] = value
    cards = "".join(
        f'<div class="card"><div class="k">{escape(str(k))}</div>'
        f'<div class="v">{_text(_mask(k, v))}</div></div>'
        for k, v in figures.items()
    )
    parts = [f'<div class="figures">{cards}</div>'] if cards else []
    for key, rows in tables:
        title = "Worst items" if key == "worst" else key.replace("_", " ").capitalize()
        parts.append(f"<h2>{escape(title)}</h2>{_table(rows)}")
    return f'<section id="diagnostics"><h2>Diagnostics</h2>{"".join(parts)}</section>'


def _audit_runs_table(runs: Sequence[Mapping[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{_text(r.get('name'))}</td><td>{_text(r.get('label') or r.get('estimator'))}"
        f"</td><td>{_text(r.get('model'))}</td>"
        f'<td class="num">{_text(r.get("answered"))}</td>'
        f'<td class="num">{_text(r.get("failed"))}</td>'
        f'<td class="num">{_text(r.get("scored"))}</td></tr>'
        for r in runs
    )
    num = '<th class="num">'
    head = (
        f"<tr><th>Run</th><th>Estimator</th><th>Model</th>{num}answered</th>{num}failed</th>"
        f"{num}scored</th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def _audit_countries_table(
    runs: Sequence[Mapping[str, Any]], countries: Sequence[Mapping[str, Any]], alpha: float
) -> str:
    num = '<th class="num">'
    head = "<tr><th>Country</th>"
    for j, r in enumerate(runs):
        head += f"{num}{_text(r.get('name'))}<br>{_text(r.get('estimator'))}</th>{num}95% CI</th>"
        if j:
            head += f"{num}Δ</th>"
    head += f"{num}spread</th></tr>"
    body = []
    for c in countries:
        cells = [f"<td>{_text(c.get('display') or c.get('country') or '?')}</td>"]
        scores = list(c.get("scores") or [])
        for j in range(len(runs)):
            s = scores[j] if j < len(scores) and isinstance(scores[j], Mapping) else None
            if s is None:
                cells.append('<td class="num">—</td><td class="num ci">—</td>')
                if j:
                    cells.append('<td class="num">—</td>')
                continue
            cells.append(
                f'<td class="num">{_num(s.get("similarity"))}</td>'
                f'<td class="num ci">{_interval(s.get("ci_low"), s.get("ci_high"))}</td>'
            )
            if j:
                q = _float(s.get("q_value"))
                diff = _num(s.get("diff"), sign=True)
                if q is not None and q < alpha:
                    diff = f"<strong>{diff}</strong>"
                cells.append(
                    f'<td class="num" title="paired 95% CI '
                    f'{_interval(s.get("diff_ci_low"), s.get("diff_ci_high"))}">{diff}</td>'
                )
        cells.append(f'<td class="num">{_num(c.get("spread"))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _audit_questions_table(questions: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    num = '<th class="num">'
    head = (
        f"<tr>{num}id</th><th>Question</th>{num}max JSD</th><th>Most apart</th>"
        + "".join(f"<th>{_text(n)}</th>" for n in names)
        + "</tr>"
    )
    body = []
    for q in questions:
        pair = q.get("pair") or []
        apart = " ↔ ".join(_text(p) for p in pair) if isinstance(pair, list | tuple) else "—"
        argmax = q.get("argmax") if isinstance(q.get("argmax"), Mapping) else {}
        assert isinstance(argmax, Mapping)
        body.append(
            f'<tr><td class="num">{_text(q.get("question_id"))}</td>'
            f'<td class="question">{_text(q.get("question"))}</td>'
            f'<td class="num">{_num(q.get("max_distance"))}</td><td>{apart}</td>'
            + "".join(f"<td>{_text(argmax.get(n))}</td>" for n in names)
            + "</tr>"
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _audit_section(audit: Mapping[str, Any], top: int | None = None) -> str:
    """The "Estimator audit" section, from ``core.audit.EstimatorAudit.to_json()``."""
    runs: list[Mapping[str, Any]] = [r for r in audit.get("runs") or [] if isinstance(r, Mapping)]
    names = [str(r.get("name", "?")) for r in runs]
    countries: list[Mapping[str, Any]] = list(audit.get("countries") or [])
    if top:
        countries = countries[:top]
    questions = audit.get("questions") if isinstance(audit.get("questions"), Mapping) else {}
    assert isinstance(questions, Mapping)
    top_questions: list[Mapping[str, Any]] = list(questions.get("top") or [])
    common = audit.get("common_questions")
    parts = [
        f'<p class="muted">{_text(len(runs))} runs of the same questions under different '
        f"estimators, scored on the {_text(common)} questions every run answered "
        f"(policy {_text(audit.get('policy'))}).</p>",
        _audit_runs_table(runs),
    ]
    cards = "".join(
        f'<div class="card"><div class="k">{_text(f.get("figure"))}</div>'
        f'<div class="v small">{_text(f.get("value"))}</div></div>'
        for f in audit.get("summary") or []
        if isinstance(f, Mapping)
    )
    if cards:
        parts.append(f'<div class="figures" style="margin-top:16px">{cards}</div>')
    alpha = 0.05
    parts.append(
        f"<h2>Scores under each estimator</h2>{_audit_countries_table(runs, countries, alpha)}"
        f"<p class=\"note\">Δ: the run's score minus {_text(names[0] if names else 'the first')}'s "
        f"on the same questions; bold: q &lt; {alpha:g} (paired bootstrap, sign-flip test, "
        "Benjamini–Hochberg). Hover Δ for its 95% CI.</p>"
    )
    if top_questions:
        parts.append(
            "<h2>Questions where the estimators disagree most</h2>"
            + _audit_questions_table(top_questions, names)
            + '<p class="note">Jensen–Shannon distance (base 2) between two runs\' answers; '
            "the argmax columns give each run's most likely option.</p>"
        )
    notes = "".join(f'<p class="note">{_text(c)}</p>' for c in audit.get("caveats") or [])
    return f'<section id="audit"><h2>Estimator audit</h2>{"".join(parts)}{notes}</section>'


# --------------------------------------------------------------------------- page


def render_report(
    manifest: Mapping[str, Any],
    scores_json: Mapping[str, Any],
    grid: WorldGrid,
    compare: Mapping[str, Any] | None = None,
    diagnostics: Mapping[str, Any] | None = None,
    audit: Mapping[str, Any] | None = None,
    audit_top: int | None = None,
    stability: Mapping[str, Any] | None = None,
) -> str:
    """A run's report as one self-contained HTML document.

    Args:
        manifest: the run manifest (``RunManifest.to_json()``); shown key by key.
        scores_json: ``Scores.to_json()``, its ``countries`` sorted best first; a country
            may carry ``ci_low``/``ci_high`` (drawn as whiskers and a CI column).
        grid: the map raster (``core.worldmap.load_grid()``).
        compare: optional ``{"a": name, "b": name, "rows": [{"country", "score_a",
            "score_b", "diff", "ci": [lo, hi] (or "ci_low"/"ci_high"), "p", "q"}, …],
            "alpha": 0.05, "note": str}``.
        diagnostics: optional; ``figures`` (a mapping) and other scalar entries become
            key/value cards, each list of row mappings a table (``worst`` titled "Worst
            items").
        audit: optional ``core.audit.EstimatorAudit.to_json()``: an "Estimator audit"
            section (runs, summary figures, scores under each estimator with intervals, the
            most disagreeing questions, caveats).
        audit_top: show only the audit's first N countries.
        stability: optional ``core.breakdown.RankStability.to_json()``: a "Rank stability"
            section. ``scores_json``'s ``calibration``, ``splits`` and the countries'
            baselines (``population_average``, ``lift``…) add their sections when present.

    Returns:
        The HTML text (UTF-8), with no scripts and no external references.
    """
    countries: list[Mapping[str, Any]] = list(scores_json.get("countries") or [])
    name = str(manifest.get("name") or "run")
    model = manifest.get("model")
    subtitle = " · ".join(
        escape(str(x))
        for x in (
            model,
            manifest.get("condition"),
            manifest.get("dataset"),
            f"{scores_json.get('n_questions_scored', '?')} questions scored",
            f"{len(countries)} countries",
            f"metric {scores_json.get('metric') or DEFAULT_METRIC}",
        )
        if x
    )
    metric = str(scores_json.get("metric") or DEFAULT_METRIC)
    map_html, lo, hi = _map_section(grid, countries, metric)
    sections = [
        _manifest_section(manifest),
        map_html,
        _leaderboard_section(countries, lo, hi, metric),
    ]
    baselines_html = _baselines_section(countries, scores_json.get("null"), metric)
    if baselines_html:
        sections.append(baselines_html)
    if scores_json.get("calibration"):
        sections.append(_calibration_section(scores_json["calibration"]))
    if scores_json.get("splits"):
        sections.append(_splits_section(scores_json["splits"]))
    if stability:
        sections.append(_stability_section(stability))
    if compare:
        sections.append(_compare_section(compare))
    if diagnostics:
        sections.append(_diagnostics_section(diagnostics))
    if audit:
        sections.append(_audit_section(audit, audit_top))
    source = grid.source
    measured = (
        "Similarity = 1 − Jensen–Shannon distance (base 2)"
        if metric == DEFAULT_METRIC
        else f"Score = {_INFO.get(metric, metric)}"
    )
    footer = (
        f"Generated by goqa. {escape(measured)}, averaged over "
        "the questions each country was asked. Map: "
        f"{escape(str(source.get('data', 'Natural Earth')))}, "
        f"{escape(str(source.get('licence', 'public domain')))}, via "
        f"{escape(str(source.get('package', 'world-atlas')))} "
        f"{escape(str(source.get('version', '')))}."
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>goqa report: {escape(name)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<header><h1>{escape(name)}</h1><p>{subtitle}</p></header>\n"
        + "\n".join(sections)
        + f"\n<footer>{footer}</footer>\n</main>\n</body>\n</html>\n"
    )


def render_run(
    run: LoadedRun,
    grid: WorldGrid,
    comparison: RunComparison | None = None,
    top: int | None = None,
    audit: EstimatorAudit | None = None,
    stability: RankStability | None = None,
) -> str:
    """The HTML report of a loaded run (see :func:`render_report`).

    Args:
        run: from :func:`core.runs.load_run`; with its statistics, the leaderboard carries
            the bootstrap intervals and the page the diagnostics.
        grid: the map raster (``core.worldmap.load_grid()``).
        comparison: the run compared with another (:func:`core.runs.compare_loaded`).
        top: show only the first N countries (of the leaderboard and of the audit).
        audit: the run audited against runs of its questions with other estimators
            (:func:`core.audit.report_audit`): adds the "Estimator audit" section.
        stability: the run's ranking under every metric (:func:`core.runs.rank_stability`):
            adds the "Rank stability" section.
    """
    diagnostics = run.statistics.diagnostics.to_json() if run.statistics is not None else None
    return render_report(
        run.manifest.to_json(),
        run.to_json(top),
        grid,
        compare=comparison.to_json() if comparison is not None else None,
        diagnostics=diagnostics,
        audit=audit.to_json() if audit is not None else None,
        audit_top=top,
        stability=stability.to_json() if stability is not None else None,
    )
