"""core.predictions: a predictions file read line by line (bad lines named by number, good
ones kept) and scored; a file that cannot be read, or has nothing usable, is a
PredictionsError."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.runs import MODEL, ROWS, hand_scores

from core import dataset, metrics
from core.predictions import (
    PredictionProblem,
    PredictionsError,
    read_predictions,
    score_predictions,
)


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> dataset.Dataset:
    return dataset.load(str(write_csv(ROWS, "tiny.csv")))


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


def test_good_lines_are_read_by_id_or_key_in_dataset_order(
    tiny: dataset.Dataset, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            {"key": tiny.keys[3], "probs": MODEL[3]},
            "",
            {"question_id": tiny.ids[0], "probs": MODEL[0]},
            {"question_id": tiny.ids[2], "probs": [2, 2, 6]},  # weights: normalised by the metric
        ],
    )
    found = read_predictions(path, tiny)
    assert found.problems == ()
    assert found.positions.tolist() == [0, 2, 3]
    assert found.probs.shape == (3, tiny.kmax)
    np.testing.assert_allclose(found.probs[2], [*MODEL[3], 0.0])  # padded to the widest
    scored = score_predictions(tiny, found)
    expected = hand_scores({0: MODEL[0], 2: MODEL[2], 3: MODEL[3]})
    assert {c.country: c.similarity for c in scored.scores.countries} == pytest.approx(
        expected, abs=1e-12
    )
    uniform = metrics.uniform_baseline(tiny, found.positions)
    assert [c.similarity for c in scored.uniform.countries] == [
        c.similarity for c in uniform.countries
    ]
    drop = score_predictions(tiny, found, "drop")
    assert drop.scores.get("Russia").similarity != scored.scores.get("Russia").similarity  # type: ignore[union-attr]


def test_every_bad_line_is_named_by_its_number(tiny: dataset.Dataset, tmp_path: Path) -> None:
    good = {"question_id": tiny.ids[1], "probs": MODEL[1]}
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            good,  # 1
            "{not json",  # 2
            [1, 2],  # 3
            {"question_id": tiny.ids[0]},  # 4
            {"question_id": 999, "probs": [1]},  # 5
            {"key": "no-such-key", "probs": [1]},  # 6
            {"question_id": tiny.ids[0], "probs": [0.5, 0.5]},  # 7
            {"question_id": tiny.ids[0], "probs": [0.5, "0.3", 0.2]},  # 8
            {"question_id": tiny.ids[0], "probs": [0.5, -0.3, 0.8]},  # 9
            {"question_id": tiny.ids[0], "probs": [0, 0, 0]},  # 10
            good,  # 11
            {"question_id": True, "probs": [0.5, 0.5]},  # 12: a bool is not an id
            {"key": ["a", "list"], "probs": [0.5, 0.5]},  # 13: nor is a list a key
        ],
    )
    found = read_predictions(path, tiny)
    assert found.positions.tolist() == [1]
    by_line = {p.line: p.message for p in found.problems}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert [p.line for p in found.problems] == sorted(by_line)  # in line order
    assert by_line[2].startswith("not JSON")
    assert "expected a JSON object" in by_line[3]
    assert "'probs'" in by_line[4]
    assert "unknown question 999" in by_line[5] and repr(tiny.name) in by_line[5]
    assert "unknown question 'no-such-key'" in by_line[6]
    assert by_line[7] == "2 probabilities for a question with 3 options"
    assert by_line[8] == "probs must be a list of numbers (found '0.3')"
    assert by_line[9] == "probabilities must be finite and non-negative"
    assert by_line[10] == "probabilities are all zero"
    assert f"question {tiny.ids[1]} appears twice" in by_line[11]
    assert "unknown question True" in by_line[12]
    assert str(PredictionProblem(7, "x")) == "line 7: x"


def test_a_file_that_cannot_be_read_is_a_predictions_error(
    tiny: dataset.Dataset, tmp_path: Path
) -> None:
    with pytest.raises(PredictionsError, match="does not exist"):
        read_predictions(tmp_path / "missing.jsonl", tiny)
    with pytest.raises(PredictionsError, match="is a directory"):
        read_predictions(tmp_path, tiny)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question_id": 0, "probs": [1]} \xe9\n')
    with pytest.raises(PredictionsError, match="not UTF-8"):
        read_predictions(latin, tiny)


def test_nothing_usable_is_an_error_with_the_fix(tiny: dataset.Dataset, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", ["nope", {"question_id": 999, "probs": [1]}])
    found = read_predictions(path, tiny)
    assert len(found.positions) == 0 and [p.line for p in found.problems] == [1, 2]
    with pytest.raises(PredictionsError) as info:
        score_predictions(tiny, found)
    err = info.value
    assert err.message == f"No usable predictions in {path}; nothing to score."
    assert '"question_id": ID' in err.fix and "goqa show ID" in err.fix
