"""core.diagnostics: overconfidence, stereotype overshoot, prompt sensitivity."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from core import diagnostics, metrics, stats
from core.dataset import Dataset, parse_csv
from core.metrics import CountryScore, Scores
from core.prompts import Condition, render
from core.stats import BootstrapResult, CountryInterval


def h2(*p: float) -> float:
    """Entropy in bits, by the formula."""
    return -sum(x * math.log2(x) for x in p if x > 0)


# --------------------------------------------------------------------------- entropy


def test_entropy_of_uniform_is_log2_k() -> None:
    for k in range(1, 14):
        assert diagnostics.entropy_bits(np.ones(k) / k) == pytest.approx(math.log2(k), abs=1e-12)
    rows = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [2.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    got = diagnostics.entropy_bits(rows)
    np.testing.assert_allclose(got[:3], [0.0, 1.0, 1.5], atol=1e-12)
    assert np.isnan(got[3])


# --------------------------------------------------------------------------- overconfidence


@pytest.fixture
def two_country(write_csv: Callable[..., Path]) -> Dataset:
    rows = [
        ("Q1?", {"France": [0.5, 0.5], "Japan": [0.6, 0.4]}, ["Yes", "No"], "GAS"),
        ("Q2?", {"France": [0.95, 0.05], "Japan": [0.5, 0.5]}, ["Yes", "No"], "GAS"),
        ("Q3?", {"France": [0.3, 0.7], "Japan": [0.4, 0.6]}, ["Yes", "No"], "GAS"),
        (
            "Q4?",
            {"France": [0.45, 0.45, 0.1], "Japan": [0.45, 0.45, 0.1]},
            ["Yes", "No", "Don't know"],
            "GAS",
        ),
        ("Q5?", {"France": [0.5, 0.5]}, ["Yes", "No"], "GAS"),
    ]
    return parse_csv(write_csv(rows).read_bytes())


def test_overconfidence_constructed(two_country: Dataset) -> None:
    positions = np.array([0, 1, 2, 3])  # Q5 unanswered
    probs = np.array(
        [
            [0.95, 0.05, 0.0],  # surer than anyone: overconfident
            [0.97, 0.03, 0.0],  # France is at 0.95 too: not
            [0.5, 0.5, 0.0],  # not
            [0.02, 0.03, 0.95],  # 95% on "Don't know", people 10%: overconfident under keep
        ]
    )
    keep = diagnostics.overconfidence(two_country, positions, probs)
    np.testing.assert_array_equal(keep.positions, [0, 1, 2, 3])
    np.testing.assert_array_equal(keep.overconfident, [True, False, False, True])
    assert keep.share_overconfident == 0.5
    assert keep.model_entropy[0] == pytest.approx(h2(0.95, 0.05))
    assert keep.human_entropy[0] == pytest.approx((h2(0.5, 0.5) + h2(0.6, 0.4)) / 2)
    assert keep.human_top[1] == pytest.approx(0.95)
    assert keep.mean_model_entropy == pytest.approx(
        np.mean([h2(0.95, 0.05), h2(0.97, 0.03), 1.0, h2(0.02, 0.03, 0.95)])
    )
    assert keep.share_below_human == 0.75  # Q3's model (1 bit) is not below people's

    drop = diagnostics.overconfidence(two_country, positions, probs, policy="drop")
    # Without "Don't know" the model says [0.4, 0.6]: no longer near-unanimous.
    np.testing.assert_array_equal(drop.overconfident, [True, False, False, False])
    assert drop.model_top[3] == pytest.approx(0.6)
    assert drop.human_entropy[3] == pytest.approx(1.0)
    data = json.loads(json.dumps(drop.to_json()))
    assert data["overconfident_positions"] == [0] and data["share_overconfident"] == 0.25


def test_overconfidence_threshold_is_strict(two_country: Dataset) -> None:
    probs = np.array([[0.9, 0.1]])
    result = diagnostics.overconfidence(two_country, [0], probs)
    assert not result.overconfident[0]
    assert diagnostics.overconfidence(two_country, [0], probs, threshold=0.85).overconfident[0]


# --------------------------------------------------------------------------- overshoot


@pytest.fixture
def three_country(write_csv: Callable[..., Path]) -> Dataset:
    target = [0.6, 0.3, 0.1]
    others = [0.2, 0.3, 0.5]
    sel = {"Russia": target, "France": others, "Japan": others}
    rows = [
        ("Q1?", sel, ["A", "B", "C"], "GAS"),
        ("Q2?", sel, ["A", "B", "C"], "GAS"),
        ("Q3?", sel, ["A", "B", "C"], "GAS"),
        ("Q4?", {"France": others, "Japan": target}, ["A", "B", "C"], "GAS"),  # no Russia
    ]
    return parse_csv(write_csv(rows).read_bytes())


def test_overshoot_constructed(three_country: Dataset) -> None:
    default = np.array([[0.3, 0.3, 0.4]] * 4)
    conditioned = np.array(
        [
            [0.95, 0.04, 0.01],  # past Russia's people, in their direction: overshoot
            [0.5, 0.3, 0.2],  # toward Russia but not past: no
            [0.01, 0.04, 0.95],  # far, but away from Russia's direction: no
            [0.99, 0.005, 0.005],  # Russia has no data here: not counted
        ]
    )
    result = diagnostics.overshoot(
        three_country,
        "russia",
        default_positions=np.arange(4),
        default_probs=default,
        conditioned_positions=np.arange(4),
        conditioned_probs=conditioned,
    )
    assert result.target == "Russia" and result.n_questions == 3
    assert result.n_overshoot == 1 and result.rate == pytest.approx(1 / 3)
    np.testing.assert_array_equal(result.worst(), [0])
    assert result.positions[0] == 0 and result.overshoots.tolist() == [True, False, False]
    m = np.array([0.2, 0.3, 0.5])
    expected = jensenshannon(conditioned[0], m, base=2) - jensenshannon([0.6, 0.3, 0.1], m, base=2)
    assert result.magnitude[0] == pytest.approx(expected, abs=1e-12)
    assert result.mean_magnitude == pytest.approx(expected, abs=1e-12)
    by_pos = {int(p): i for i, p in enumerate(result.positions)}
    assert result.magnitude[by_pos[1]] < 0  # undershoot
    assert result.magnitude[by_pos[2]] > 0 and result.cosine[by_pos[2]] < 0  # wrong way
    assert result.cosine[by_pos[0]] > 0 and result.cosine[by_pos[1]] > 0
    assert result.distance_default[by_pos[0]] == pytest.approx(
        jensenshannon(default[0], m, base=2), abs=1e-12
    )
    data = json.loads(json.dumps(result.to_json()))
    assert [w["position"] for w in data["worst"]] == [0]


def test_overshoot_only_on_shared_questions(three_country: Dataset) -> None:
    """The conditioned run answered Q1 and Q2 only; an unmoved answer never overshoots."""
    default = np.array([[0.3, 0.3, 0.4]] * 3)
    result = diagnostics.overshoot(
        three_country,
        "Russia",
        default_positions=[0, 1, 2],
        default_probs=default,
        conditioned_positions=[1, 0],
        conditioned_probs=np.array([[0.3, 0.3, 0.4], [0.95, 0.04, 0.01]]),
    )
    assert sorted(result.positions.tolist()) == [0, 1]
    assert result.worst().tolist() == [0]
    assert result.cosine[result.positions.tolist().index(1)] == 0.0


def test_overshoot_others_exclude_the_targets_other_samples(
    write_csv: Callable[..., Path],
) -> None:
    target, others = [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]
    rows = [
        (
            "Q1?",
            {"China": target, "China (Non-national sample)": target, "Japan": others},
            ["A", "B", "C"],
            "GAS",
        )
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    kwargs = {
        "default_positions": [0],
        "default_probs": np.array([[0.3, 0.3, 0.4]]),
        "conditioned_positions": [0],
        "conditioned_probs": np.array([[0.7, 0.2, 0.1]]),
    }
    apart = diagnostics.overshoot(ds, "China", **kwargs)  # type: ignore[arg-type]
    assert apart.distance_target[0] == pytest.approx(jensenshannon(target, others, base=2))
    mixed = diagnostics.overshoot(ds, "China", exclude_same_iso2=False, **kwargs)  # type: ignore[arg-type]
    m = (np.array(target) + np.array(others)) / 2
    assert mixed.distance_target[0] == pytest.approx(jensenshannon(target, m, base=2))


# --------------------------------------------------------------------------- sensitivity


def test_shuffled_order_is_a_deterministic_permutation() -> None:
    for k in range(1, 14):
        perm = diagnostics.shuffled_order("3fa2c0d19b7e", k, seed=0)
        assert sorted(perm.tolist()) == list(range(k))
        np.testing.assert_array_equal(perm, diagnostics.shuffled_order("3fa2c0d19b7e", k, seed=0))
        if k > 1:
            assert perm.tolist() != list(range(k))  # a shuffle that changes nothing is useless
    orders = {tuple(diagnostics.shuffled_order("abc", 7, seed=s)) for s in range(10)}
    assert len(orders) > 5
    keys = {tuple(diagnostics.shuffled_order(f"key{i}", 7)) for i in range(10)}
    assert len(keys) > 5
    assert diagnostics.shuffled_order("abc", 2).tolist() == [1, 0]


def test_unshuffle_round_trip_is_exact() -> None:
    rng = np.random.default_rng(0)
    for k in range(1, 14):
        p = rng.dirichlet(np.ones(k))
        perm = diagnostics.shuffled_order(f"q{k}", k, seed=3)
        shown = diagnostics.shuffle(p, perm)
        assert np.array_equal(diagnostics.unshuffle(shown, perm), p)
        assert np.array_equal(diagnostics.shuffle(diagnostics.unshuffle(p, perm), perm), p)
    with pytest.raises(ValueError):
        diagnostics.unshuffle(np.ones(3) / 3, [1, 0])


def test_shuffled_prompt_maps_back_to_the_right_option(two_country: Dataset) -> None:
    q = two_country.at(3)  # Yes / No / Don't know
    perm = np.array([2, 0, 1])
    prompt = diagnostics.shuffled_render(q, Condition("default"), "paper", perm)
    assert "(A) Don't know\n(B) Yes\n(C) No" in prompt.text
    assert prompt.text.replace("(A) Don't know\n(B) Yes\n(C) No", "") == render(
        q, Condition("default"), "paper"
    ).text.replace("(A) Yes\n(B) No\n(C) Don't know", "")
    # A model sure of "(C)" in the shuffled prompt means "No", option 1 originally.
    back = diagnostics.unshuffle(np.array([0.0, 0.0, 1.0]), perm)
    assert q.options[int(back.argmax())] == "No"
    # A translation is reordered the same way; the country condition still applies.
    translated = diagnostics.shuffled_render(
        q, Condition("country", "Japan"), "v2", perm, options=("Oui", "Non", "NSP")
    )
    assert "(A) NSP\n(B) Oui\n(C) Non" in translated.text and "Japan" in translated.text
    with pytest.raises(ValueError):
        diagnostics.shuffled_render(q, None, "paper", [0, 0, 1])


def test_unshuffle_rows_matches_per_row(two_country: Dataset) -> None:
    rng = np.random.default_rng(5)
    positions = np.array([3, 0, 2])
    original = np.zeros((3, two_country.kmax))
    for r, p in enumerate(positions):
        original[r, : two_country.n_options[p]] = rng.dirichlet(np.ones(two_country.n_options[p]))
    shown = np.zeros_like(original)
    for r, p in enumerate(positions):
        k = int(two_country.n_options[p])
        perm = diagnostics.shuffled_order(two_country.keys[p], k, seed=9)
        shown[r, :k] = diagnostics.shuffle(original[r, :k], perm)
    assert not np.array_equal(shown, original)
    np.testing.assert_array_equal(
        diagnostics.unshuffle_rows(two_country, positions, shown, seed=9), original
    )


def scores_of(values: dict[str, float]) -> Scores:
    rows = tuple(CountryScore(k, k, None, v, 30) for k, v in values.items())
    pairs = metrics.PairScores(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    return Scores(rows, 30, pairs)


def test_sensitivity_flags_constructed() -> None:
    base = scores_of({"France": 0.80, "Germany": 0.70, "Japan": 0.60, "Kenya": 0.5})
    variant = scores_of({"France": 0.77, "Germany": 0.72, "Japan": 0.62})
    intervals = BootstrapResult(
        (
            CountryInterval("France", "France", None, 0.80, 0.78, 0.83, 30),  # half 0.025
            CountryInterval("Germany", "Germany", None, 0.70, 0.69, 0.75, 30),  # half 0.03
            CountryInterval("Japan", "Japan", None, 0.60, 0.55, 0.61, 30),  # lopsided, half 0.03
            CountryInterval("Kenya", "Kenya", None, 0.50, 0.45, 0.55, 30),
        ),
        1000,
        0,
        0.95,
    )
    result = diagnostics.sensitivity(base, variant, intervals)
    assert [c.country for c in result.countries] == ["France", "Germany", "Japan"]  # |change|
    fr, de, jp = result.countries
    assert fr.change == pytest.approx(-0.03) and fr.half_width == pytest.approx(0.025)
    assert fr.outside_ci and fr.exceeds_half_width and fr.flagged
    assert not de.outside_ci and not de.exceeds_half_width and not de.flagged
    assert jp.outside_ci and not jp.exceeds_half_width and jp.flagged
    assert result.n_flagged == 2 and result.share_flagged == pytest.approx(2 / 3)
    assert result.mean_abs_change == pytest.approx(np.mean([0.03, 0.02, 0.02]))
    data = json.loads(json.dumps(result.to_json()))
    assert [c["flagged"] for c in data["countries"]] == [True, False, True]


def test_sensitivity_end_to_end_on_sample(sample: Dataset) -> None:
    """The same answers asked shuffled and mapped back score identically: nothing flagged."""
    rng = np.random.default_rng(1)
    positions = np.arange(len(sample))
    probs = np.zeros((len(sample), sample.kmax))
    shown = np.zeros_like(probs)
    for p in positions:
        k = int(sample.n_options[p])
        probs[p, :k] = rng.dirichlet(np.ones(k))
        perm = diagnostics.shuffled_order(sample.keys[p], k)
        shown[p, :k] = diagnostics.shuffle(probs[p, :k], perm)
    base = metrics.score(sample, positions, probs)
    variant = metrics.score(sample, positions, diagnostics.unshuffle_rows(sample, positions, shown))
    result = diagnostics.sensitivity(base, variant, stats.bootstrap(sample, base.pairs))
    assert result.n_flagged == 0 and result.mean_abs_change == 0.0
    shift = diagnostics.answer_shift(sample, positions, probs, positions, shown)
    assert shift.share_top_changed > 0.3  # read without unshuffling, answers look different
    same = diagnostics.answer_shift(
        sample, positions, probs, positions, diagnostics.unshuffle_rows(sample, positions, shown)
    )
    assert same.mean_distance == pytest.approx(0.0, abs=1e-7) and same.share_top_changed == 0.0
