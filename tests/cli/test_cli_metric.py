"""``--metric`` on the commands that score: ``report`` and ``score`` (``compare`` and
``experiment`` are in test_cli_steer.py). Every number is checked against a hand computation
on the four-question dataset of :mod:`support.runs`, so a command that ignored the flag, or
ranked a divergence highest first, fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.cli import run_cli
from support.runs import MODEL, ROWS, put_run

from core import dataset
from core.store import Store


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> Path:
    path = write_csv(ROWS, "tiny.csv")
    with Store() as store:
        put_run(store, dataset.load(str(path)), "r", MODEL)
    return path


def _hand(metric: str) -> dict[str, float]:
    """Per country, the mean over its questions of one metric, written out by hand."""
    values: dict[str, list[float]] = {}
    for pos, (_, selections, _, _) in enumerate(ROWS):
        p = np.asarray(MODEL[pos], dtype=float)
        p = p / p.sum()
        for country, h_list in selections.items():  # type: ignore[union-attr]
            h = np.asarray(h_list, dtype=float)
            h = h / h.sum()
            if metric == "tv":
                v = 1.0 - 0.5 * float(np.abs(p - h).sum())
            elif metric == "cosine":
                v = float(p @ h / np.linalg.norm(p) / np.linalg.norm(h))
            else:  # kl, smoothed by 1e-6 over the question's options, in bits
                k = len(p)
                ps, hs = (p + 1e-6) / (1 + k * 1e-6), (h + 1e-6) / (1 + k * 1e-6)
                v = float(np.sum(hs * np.log2(hs / ps)))
            values.setdefault(country, []).append(v)
    return {c: float(np.mean(v)) for c, v in values.items()}


@pytest.mark.parametrize("metric", ["tv", "cosine", "kl"])
def test_report_scores_under_the_metric_asked_for(
    capsys: pytest.CaptureFixture[str], tiny: Path, metric: str
) -> None:
    code, out, err = run_cli(
        capsys, "report", "r", "--dataset", str(tiny), "--metric", metric,
        "--resamples", "20", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["metric"] == metric
    got = {c["country"]: c["similarity"] for c in data["countries"]}
    hand = _hand(metric)
    assert got == pytest.approx(hand, abs=1e-9)
    order = [c["country"] for c in data["countries"]]
    # Best first: the highest similarity, or the lowest divergence.
    assert order == sorted(hand, key=lambda c: hand[c], reverse=metric != "kl")
    assert data["higher_is_better"] is (metric != "kl")
    # The interval of every country brackets its own score, in the metric's units.
    for row in data["countries"]:
        assert row["ci_low"] <= row["similarity"] + 1e-12 <= row["ci_high"] + 2e-12


def test_report_in_the_terminal_names_its_metric(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    code, out, _ = run_cli(
        capsys, "report", "r", "--dataset", str(tiny), "--metric", "kl", "--resamples", "20"
    )
    assert code == 0
    text = " ".join(out.split())
    assert "metric kl" in text
    assert "KL(country ‖ model) in bits, lower is better" in text
    assert "KL bits" in text
    best = min(_hand("kl").items(), key=lambda kv: kv[1])
    assert f"{best[1]:.4f}" in text


def test_an_unknown_metric_is_a_usage_error_naming_the_choices(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    with pytest.raises(SystemExit) as usage:
        run_cli(capsys, "report", "r", "--dataset", str(tiny), "--metric", "l2")
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'l2'" in err and "wasserstein" in err


def test_score_takes_the_metric_too(
    capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path
) -> None:
    ds = dataset.load(str(tiny))
    lines = [json.dumps({"question_id": int(ds.ids[p]), "probs": MODEL[p]}) for p in MODEL]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(
        capsys, "score", str(preds), "--dataset", str(tiny), "--metric", "tv", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["metric"] == "tv"
    assert {c["country"]: c["similarity"] for c in data["countries"]} == pytest.approx(
        _hand("tv"), abs=1e-12
    )
    code, out, _ = run_cli(capsys, "score", str(preds), "--dataset", str(tiny), "--metric", "tv")
    assert code == 0 and "1 − total variation distance" in out
