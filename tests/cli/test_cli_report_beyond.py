"""``goqa report`` beyond one number: every baseline, the calibration, the splits by kind of
question and, with ``--metrics all``, the rank stability; in the terminal, ``--json`` and the
HTML report. Numbers are checked against hand computations on the four-question dataset of
:mod:`support.runs` and against the core functions they must equal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.cli import run_cli
from support.runs import MODEL, ROWS, hand_similarity, put_run

from core import calibration, dataset, metrics, runs
from core.store import Store


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> Path:
    path = write_csv(ROWS, "tiny.csv")
    ds = dataset.load(str(path))
    # An over-confident model: the population average of every question, sharpened (T = 0.4).
    average = calibration.population_average(ds, np.arange(len(ds)))
    sharp = calibration.temper(average, 0.4)
    with Store() as store:
        put_run(store, ds, "r", MODEL)
        put_run(store, ds, "sharp", {p: sharp[p, : ds.n_options[p]].tolist() for p in range(4)})
    return path


def _report(capsys: pytest.CaptureFixture[str], tiny: Path, *extra: str) -> dict:
    code, out, err = run_cli(
        capsys, "report", *extra, "--dataset", str(tiny), "--resamples", "50", "--json"
    )
    assert code == 0, err
    return json.loads(out)


def test_every_baseline_is_beside_every_country(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    data = _report(capsys, tiny, "r")
    ds = dataset.load(str(tiny))
    by = {c["country"]: c for c in data["countries"]}
    # The population average of question 1 is the mean of Russia's and Germany's answers.
    pop = {p: np.mean([np.asarray(h) / np.sum(h) for h in ROWS[p][1].values()], axis=0)
           for p in range(4)}  # fmt: skip
    for country in ("Russia", "Germany", "Brazil"):
        asked = [p for p in range(4) if country in ROWS[p][1]]
        hand = np.mean([hand_similarity(pop[p], ROWS[p][1][country]) for p in asked])
        assert by[country]["population_average"] == pytest.approx(hand, abs=1e-12)
        best = max(
            ("uniform", by[country]["uniform"]),
            ("population average", by[country]["population_average"]),
            ("best other country", by[country]["best_other_similarity"] or -np.inf),
            key=lambda kv: kv[1],
        )
        assert by[country]["best_baseline"] == best[0]
        assert by[country]["lift"] == pytest.approx(by[country]["similarity"] - best[1])
        assert 0 < by[country]["null_p"] <= 1 and by[country]["null_q"] >= by[country]["null_p"]
    assert data["null"]["seed"] == 0 and data["null"]["n_permutations"] >= 100
    assert len(ds.countries) == 3


def test_the_splits_by_source_are_the_hand_means(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    data = _report(capsys, tiny, "r")
    source = next(s for s in data["splits"]["splits"] if s["name"] == "source")
    wvs = next(g for g in source["groups"] if g["label"] == "WVS")
    # Question 1 is the only WVS question: Russia and Germany, one value each.
    hand = np.mean([hand_similarity(MODEL[1], h) for h in ROWS[1][1].values()])
    assert wvs["n_questions"] == 1 and wvs["mean"] == pytest.approx(hand, abs=1e-12)
    gas = next(g for g in source["groups"] if g["label"] == "GAS")
    assert gas["n_questions"] == 3


def test_an_overconfident_run_gets_a_temperature_above_one_and_better_scores(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    data = _report(capsys, tiny, "sharp")
    cal = data["calibration"]
    assert cal["temperature"] > 1.5
    assert "over-confident" in cal["summary"]
    assert cal["objective_calibrated"] < cal["objective_raw"]
    # Out of fold on four questions (leave-one-out), two of the three countries gain and the
    # mean over countries does.
    better = [c for c in data["countries"] if c["calibrated"] > c["similarity"]]
    assert len(better) >= 2
    mean = np.mean([c["similarity"] for c in data["countries"]])
    assert np.mean([c["calibrated"] for c in data["countries"]]) > mean


def test_rank_stability_ranks_every_metric_like_the_metric_itself(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    data = _report(capsys, tiny, "r", "--metrics", "all")
    stability = data["rank_stability"]
    assert stability["metrics"] == list(metrics.METRIC_NAMES)
    assert len(stability["agreements"]) == 21
    tau = {(g["a"], g["b"]): g["tau"] for g in stability["agreements"]}
    assert tau[("jsd", "jsd-e")] == pytest.approx(1.0)  # the same order, other units
    ds = dataset.load(str(tiny))
    with Store() as store:
        for ranking in stability["rankings"]:
            loaded = runs.load_run(store, ds, "r", metric=ranking["metric"])
            want = [c.country for c in loaded.scores.countries]
            assert [c["country"] for c in ranking["countries"]] == want


def test_the_terminal_and_the_html_show_the_sections(
    capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path
) -> None:
    code, out, err = run_cli(
        capsys, "report", "sharp", "--dataset", str(tiny), "--resamples", "50", "--metrics",
        "all", "--metric", "kl",
    )  # fmt: skip
    assert code == 0, err
    text = " ".join(out.split())
    assert "Calibration: T = " in text and "over-confident" in text
    assert "By kind of question (KL bits, lower is better)" in text
    assert "Rank stability" in text and "pop. avg" in text and "null q" in text
    html_path = tmp_path / "r.html"
    code, _, err = run_cli(
        capsys, "report", "sharp", "--dataset", str(tiny), "--resamples", "50", "--metrics",
        "all", "--metric", "kl", "--html", str(html_path),
    )  # fmt: skip
    assert code == 0, err
    html = html_path.read_text()
    for section in ("baselines", "calibration", "splits", "stability", "leaderboard", "map"):
        assert f'<section id="{section}"' in html
    assert "metric kl" in html and "lower is better" in html
