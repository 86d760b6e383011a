"""core.compared: which countries' people stand closest to a model's answer on one question
(``goqa ask`` lists them; Browse and Demo chart them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.runs import ROWS, hand_similarity

from core import dataset
from core.compared import choose, closest_countries


def test_closest_countries_by_hand(write_csv: Callable[..., Path]) -> None:
    tiny = dataset.load(str(write_csv(ROWS, "tiny.csv")))
    q = tiny.at(0)
    model = np.array([0.15, 0.15, 0.7])
    people = ROWS[0][1]
    expected = sorted(
        ((c, hand_similarity(model, h)) for c, h in people.items()),  # type: ignore[union-attr]
        key=lambda x: -x[1],
    )
    got = closest_countries(q, model, "keep", n=None)
    assert [c.key for c in got] == [c for c, _ in expected] == ["Brazil", "Germany", "Russia"]
    assert [c.similarity for c in got] == pytest.approx([s for _, s in expected], abs=1e-12)
    assert [c.key for c in closest_countries(q, model, "keep", n=2)] == ["Brazil", "Germany"]
    # Dropping "DK/Refused" changes who is closest.
    drop = closest_countries(q, model, "drop", n=None)
    assert drop[0].similarity == pytest.approx(
        max(hand_similarity(model, h, [False, False, True]) for h in people.values()),  # type: ignore[union-attr]
        abs=1e-12,
    )
    # The chart's choice starts from the same similarities.
    assert [c.key for c in choose(q, model, n=1)] == ["Brazil"]
