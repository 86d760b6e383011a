"""Experiment presets: the paper's conditions and the "did it move toward the target" summary."""

from __future__ import annotations

import numpy as np
import pytest

from core import experiments, metrics
from core.prompts import Condition


def test_presets_follow_the_paper() -> None:
    assert [str(c) for c in experiments.conditions("cross-national")] == [
        "default",
        "country:China",
        "country:Russia",
        "country:Turkey",
    ]
    assert [str(c) for c in experiments.conditions("linguistic")] == [
        "default",
        "language:ru",
        "language:zh",
        "language:tr",
    ]
    assert [str(c) for c in experiments.conditions("linguistic", ["de"])] == [
        "default",
        "language:de",
    ]
    with pytest.raises(ValueError, match="cross-national"):
        experiments.conditions("nope")


def test_run_names_are_stable_so_reruns_resume() -> None:
    assert experiments.run_name("exp-local", Condition("country", "Russia")) == (
        "exp-local-country-Russia"
    )


def test_language_targets_are_the_speakers_countries(sample) -> None:
    keys = experiments.target_keys(sample, Condition("language", "ru"))
    assert "Russia" in keys and "Belarus" in keys and "Kazakhstan" in keys
    assert "China" not in keys
    # One key per country: the national sample is preferred over the non-national one.
    zh = experiments.target_keys(sample, Condition("language", "zh"))
    assert "China" in zh and "China (Non-national sample)" not in zh
    assert experiments.target_keys(sample, Condition("country", "uk")) == ["Britain"]


def _scores_toward(sample, target: str, shift: float) -> tuple[metrics.Scores, metrics.Scores]:
    """Model answers equal to ``target``'s people's, blended with uniform by ``shift``."""
    positions = np.array([p for p in range(len(sample)) if target in sample.at(p).countries])
    uniform = metrics.uniform_probs(sample, positions)
    human = np.zeros_like(uniform)
    for row, p in enumerate(positions):
        dist = sample.at(p).distribution(target)
        human[row, : len(dist)] = dist
    default = metrics.score(sample, positions, uniform)
    conditioned = metrics.score(sample, positions, (1 - shift) * uniform + shift * human)
    return default, conditioned


def test_summary_sees_a_model_move_toward_its_target(sample) -> None:
    default, conditioned = _scores_toward(sample, "Russia", 0.9)
    summary = experiments.summarise(sample, Condition("country", "Russia"), default, conditioned)
    (russia,) = summary.targets
    assert russia.country == "Russia"
    assert russia.delta > 0.1
    assert russia.rank_conditioned < russia.rank_default
    assert russia.rank_conditioned <= 3  # from 30th; a country with few questions may top it
    assert summary.moved_toward
    assert summary.moved_most[0].delta >= summary.moved_most[-1].delta


def test_summary_without_movement_says_so(sample) -> None:
    default, _ = _scores_toward(sample, "Russia", 0.0)
    summary = experiments.summarise(sample, Condition("country", "Russia"), default, default)
    assert not summary.moved_toward
    assert all(m.delta == 0 for m in summary.targets)
