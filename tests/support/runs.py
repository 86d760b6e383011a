"""A four-question dataset, runs stored with exactly the answers a test gives, and the
scores computed by hand (scipy) to check core's against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon

from core import dataset, runner
from core.backends.base import Answer
from core.prompts import Condition
from core.store import Selection, Store

# Four questions, three countries; question 0 has a non-substantive option.
ROWS = [
    (
        "Is it A?",
        {"Russia": [0.6, 0.3, 0.1], "Germany": [0.2, 0.5, 0.3], "Brazil": [0.1, 0.1, 0.8]},
        ["Yes", "No", "DK/Refused"],
        "GAS",
    ),
    ("Is it B?", {"Russia": [0.5, 0.5], "Germany": [0.9, 0.1]}, ["Agree", "Disagree"], "WVS"),
    (
        "Is it C?",
        {"Germany": [0.3, 0.3, 0.4], "Brazil": [0.5, 0.25, 0.25]},
        ["Good", "Bad", "Neither"],
        "GAS",
    ),
    ("Is it D?", {"Russia": [1.0, 0.0], "Brazil": [0.4, 0.6]}, ["Up", "Down"], "GAS"),
]
MODEL = {
    0: [0.5, 0.4, 0.1],
    1: [0.7, 0.3],
    2: [0.2, 0.2, 0.6],
    3: [0.9, 0.1],
}
OTHER = {
    1: [0.4, 0.6],
    2: [0.6, 0.3, 0.1],
    3: [0.5, 0.5],
}


class Fake:
    """Just what a manifest records of a backend."""

    kind = "fake"
    base_url = ""
    mode = "logits"

    def __init__(self, model: str = "fake-1") -> None:
        self.model = model

    def request_params(self) -> dict[str, Any]:
        return {}


def put_run(
    store: Store,
    ds: dataset.Dataset,
    name: str,
    answers: Mapping[int, Sequence[float]],
    *,
    condition: Condition | None = None,
    suspect: Sequence[int] = (),
    model: str = "fake-1",
    policy: str = "keep",
) -> None:
    """Store run ``name`` with exactly these answers (position → probabilities)."""
    manifest = runner.manifest_for(
        name,
        Fake(model),  # type: ignore[arg-type]
        "fake",
        condition or Condition("default"),
        "paper",
        ds,
        policy,
        Selection(planned=len(answers)),
    )
    store.open_run(manifest)
    for pos, probs in answers.items():
        answer = Answer(
            probs=np.asarray(probs, dtype=float),
            off_option_mass=0.7 if pos in suspect else 0.0,
            estimator="logits",
            suspect="too much mass off the letters" if pos in suspect else "",
        )
        store.record_answer(name, ds.keys[pos], ds.ids[pos], answer)


def hand_similarity(p: Sequence[float], h: Sequence[float], drop: Sequence[bool] = ()) -> float:
    """1 − JSD (base 2) as the paper defines it, with scipy, dropping masked options."""
    p_arr, h_arr = np.asarray(p, dtype=float), np.asarray(h, dtype=float)
    if len(drop):
        keep = ~np.asarray(drop)
        p_arr, h_arr = p_arr[keep], h_arr[keep]
    return 1.0 - float(jensenshannon(p_arr, h_arr, base=2))


def hand_scores(
    answers: Mapping[int, Sequence[float]], positions: Sequence[int] | None = None
) -> dict[str, float]:
    """Per country, the mean similarity over the answered questions it has data for."""
    sims: dict[str, list[float]] = {}
    for pos in positions if positions is not None else answers:
        _, selections, _, _ = ROWS[pos]
        for country, h in selections.items():  # type: ignore[union-attr]
            sims.setdefault(country, []).append(hand_similarity(answers[pos], h))
    return {c: float(np.mean(v)) for c, v in sims.items()}
