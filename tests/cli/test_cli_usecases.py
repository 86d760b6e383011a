"""The commands over the use-case layer: a run made on another dataset is scored on its
answers that match by question key, the same way by ``report``, ``compare`` and ``export``
(and by the app, see test_tui_results.py); ``compare`` with one run uses the default
reference; ``report --html`` draws the same loaded run ``report --json`` prints."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import run_cli, run_json
from support.runs import MODEL, OTHER, ROWS, hand_scores, put_run

from core import dataset, runs
from core.prompts import Condition
from core.store import Store


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def made_elsewhere(write_csv: Callable[..., Path]) -> tuple[Path, Path]:
    """(the dataset run ``r`` and ``b`` were made on, another holding questions 0 and 3)."""
    tiny_csv = write_csv(ROWS, "tiny.csv")
    other_csv = write_csv([ROWS[0], ROWS[3], ("Is it new?", {"Russia": [0.2, 0.8]},
                                              ["Red", "Blue"], "WVS")], "other.csv")  # fmt: skip
    tiny = dataset.load(str(tiny_csv))
    with Store() as store:
        put_run(store, tiny, "r", MODEL)
        put_run(store, tiny, "b", OTHER, condition=Condition("country", "Russia"))
    return tiny_csv, other_csv


def test_report_scores_the_answers_that_match_and_says_so(
    capsys: pytest.CaptureFixture[str], made_elsewhere: tuple[Path, Path]
) -> None:
    tiny_csv, other_csv = made_elsewhere
    code, out, err = run_cli(
        capsys, "report", "r", "--dataset", str(other_csv), "--resamples", "20", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    got = {c["country"]: c["similarity"] for c in data["countries"]}
    assert got == pytest.approx(hand_scores(MODEL, [0, 3]), abs=1e-12)
    assert data["dataset_match"]["matched"] == 2 and data["dataset_match"]["unmatched"] == 2
    assert "note:" in err and "2 of 4 answers match" in " ".join(err.split())
    # On its own dataset: every answer, and no note.
    code, out, err = run_cli(
        capsys, "report", "r", "--dataset", str(tiny_csv), "--resamples", "20", "--json"
    )
    assert code == 0 and "note:" not in err
    assert {c["country"]: c["similarity"] for c in json.loads(out)["countries"]} == (
        pytest.approx(hand_scores(MODEL), abs=1e-12)
    )


def test_compare_and_export_follow_the_same_rule(
    capsys: pytest.CaptureFixture[str], made_elsewhere: tuple[Path, Path], tmp_path: Path
) -> None:
    _, other_csv = made_elsewhere
    code, out, err = run_cli(
        capsys, "compare", "r", "b", "--dataset", str(other_csv), "--resamples", "20", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["n_shared_questions"] == 1  # question 3: the only one both have here
    assert err.count("note:") == 2
    code, _, err = run_cli(
        capsys, "export", "r", "--dataset", str(other_csv), "--out", str(tmp_path / "r.jsonl")
    )
    assert code == 0, err
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2
    assert "note:" in err and "Exported 2 answers" in err


def test_a_run_with_no_matching_answer_is_refused_with_the_dataset_to_use(
    capsys: pytest.CaptureFixture[str], write_csv: Callable[..., Path]
) -> None:
    tiny = dataset.load(str(write_csv(ROWS, "tiny.csv")))
    unrelated = write_csv([("Is it new?", {"Russia": [0.2, 0.8]}, ["Red", "Blue"], "WVS")], "u.csv")
    with Store() as store:
        put_run(store, tiny, "r", MODEL)
    for argv in (
        ("report", "r"),
        ("export", "r", "--out", "r.jsonl"),
        ("compare", "r", "r"),
    ):
        code, _, err = run_cli(capsys, *argv, "--dataset", str(unrelated))
        assert code == 1, argv
        assert "None of the 4 answers of run 'r'" in err and f"--dataset {tiny.name}" in err
    assert not Path("r.jsonl").exists()


def test_compare_with_one_run_uses_the_default_reference(
    capsys: pytest.CaptureFixture[str], write_csv: Callable[..., Path]
) -> None:
    path = write_csv(ROWS, "tiny.csv")
    tiny = dataset.load(str(path))
    with Store() as store:
        put_run(store, tiny, "base", MODEL)
        put_run(store, tiny, "ru", OTHER, condition=Condition("country", "Russia"))
        assert runs.reference_for(store, "ru") == "base"
    one = run_json(capsys, "compare", "ru", "--dataset", str(path), "--resamples", "20")
    two = run_json(capsys, "compare", "base", "ru", "--dataset", str(path), "--resamples", "20")
    assert one == two and (one["label_a"], one["label_b"]) == ("base", "ru")
    code, out, err = run_cli(capsys, "compare", "ru", "--dataset", str(path), "--resamples", "20")
    assert code == 0 and "Comparing with base" in err
    code, _, err = run_cli(capsys, "compare", "base", "--dataset", str(path))
    assert code == 1 and "No run to compare 'base' with" in err


def test_the_html_report_draws_the_loaded_run(
    capsys: pytest.CaptureFixture[str], write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_csv(ROWS, "tiny.csv")
    tiny = dataset.load(str(path))
    with Store() as store:
        put_run(store, tiny, "base", MODEL)
        put_run(store, tiny, "ru", OTHER, condition=Condition("country", "Russia"))
    html = tmp_path / "r.html"
    data = run_json(
        capsys, "report", "ru", "--dataset", str(path), "--resamples", "30", "--html", str(html),
        "--compare", "base",
    )  # fmt: skip
    page = html.read_text(encoding="utf-8")
    for row in data["countries"]:  # the same intervals as --json prints
        assert f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]".replace("-", "−") in page
    assert 'id="compare"' in page and "Comparison: ru vs base" in page
    assert 'id="diagnostics"' in page and "questions answered" in page
