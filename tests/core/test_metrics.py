"""core.metrics: 1 - Jensen-Shannon distance (base 2), vectorised, checked against scipy."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from core import metrics
from core.dataset import Dataset, parse_csv
from core.metrics import js_distance, similarity


def scipy_similarity(p: np.ndarray, h: np.ndarray) -> float:
    return 1.0 - float(jensenshannon(p, h, base=2))


def random_vector(rng: np.random.Generator, k: int) -> np.ndarray:
    """Non-negative, unnormalised, often with zeros; never all zero."""
    v = rng.random(k) * rng.choice([0.01, 1.0, 7.0, 100.0])
    v[rng.random(k) < 0.3] = 0.0
    if not v.any():
        v[rng.integers(k)] = rng.random() + 0.1
    return v


# --------------------------------------------------------------------------- the distance


def test_matches_scipy_on_random_pairs() -> None:
    rng = np.random.default_rng(20230628)
    n_zero = 0
    for _ in range(2000):
        k = int(rng.integers(2, 10))
        p, h = random_vector(rng, k), random_vector(rng, k)
        n_zero += int((p == 0).any() or (h == 0).any())
        assert similarity(p, h) == pytest.approx(scipy_similarity(p, h), abs=1e-12)
    assert n_zero > 500  # the zero cases were really exercised


def test_matches_scipy_vectorised() -> None:
    rng = np.random.default_rng(7)
    p = np.stack([random_vector(rng, 6) for _ in range(500)])
    h = np.stack([random_vector(rng, 6) for _ in range(500)])
    expected = np.array([scipy_similarity(a, b) for a, b in zip(p, h, strict=True)])
    got = similarity(p, h)
    assert got.shape == (500,)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(js_distance(h, p), 1 - expected, rtol=0, atol=1e-12)  # symmetric


def test_hand_computed_values() -> None:
    assert similarity([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 1.0
    assert similarity([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.0, abs=1e-15)
    assert similarity([0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.3, 0.7]) == pytest.approx(0.0, abs=1e-15)
    # p = [1, 0], h = [0.5, 0.5]; m = [0.75, 0.25]
    kl_pm = math.log2(1 / 0.75)  # 0.41503749927884376
    kl_hm = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)  # 0.20751874963942185
    jsd = 0.5 * (kl_pm + kl_hm)  # 0.31127812445913283
    assert jsd == pytest.approx(0.31127812445913283, abs=1e-15)
    assert js_distance([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.sqrt(jsd), abs=1e-15)
    assert similarity([1.0, 0.0], [0.5, 0.5]) == pytest.approx(0.4420769547158562, abs=1e-15)
    # Unnormalised inputs are normalised first: [4, 0] is [1, 0], [3, 3] is [0.5, 0.5].
    assert similarity([4.0, 0.0], [3.0, 3.0]) == pytest.approx(0.4420769547158562, abs=1e-15)


def test_base_is_two() -> None:
    # Natural-log JS distance of disjoint supports would be sqrt(ln 2) = 0.8326, not 1.
    assert js_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0, abs=1e-15)
    assert metrics.JSD_BASE == 2


def test_apply_policy() -> None:
    w = np.array([[0.2, 0.3, 0.5]])
    mask = np.array([[False, False, True]])
    assert metrics.apply_policy(w, mask, "keep") is w
    np.testing.assert_array_equal(metrics.apply_policy(w, mask, "drop"), [[0.2, 0.3, 0.0]])
    with pytest.raises(ValueError, match="keep.*drop"):
        metrics.apply_policy(w, mask, "ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- scores


def naive_scores(
    ds: Dataset, positions: list[int], probs: np.ndarray, policy: str = "keep"
) -> dict[str, tuple[float, int]]:
    """Per-country (mean similarity, n) by an explicit loop over questions and countries."""
    sims: dict[str, list[float]] = defaultdict(list)
    for row, pos in enumerate(positions):
        q = ds.at(pos)
        p = probs[row, : len(q.options)].copy()
        if policy == "drop":
            p[q.nonsubstantive] = 0.0
        if p.sum() <= 0:
            continue
        for country, h in zip(q.countries, q.human, strict=True):
            h = h.copy()
            if policy == "drop":
                h[q.nonsubstantive] = 0.0
            if h.sum() <= 0:
                continue
            sims[country].append(scipy_similarity(p, h))
    return {c: (float(np.mean(v)), len(v)) for c, v in sims.items()}


def random_model(ds: Dataset, positions: list[int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    probs = np.zeros((len(positions), ds.kmax))
    for row, pos in enumerate(positions):
        k = int(ds.n_options[pos])
        probs[row, :k] = rng.dirichlet(np.ones(k))
        probs[row, :k][rng.random(k) < 0.2] = 0.0
        if probs[row, :k].sum() == 0:
            probs[row, 0] = 1.0
    return probs


def assert_same(scores: metrics.Scores, expected: dict[str, tuple[float, int]]) -> None:
    got = {c.country: (c.similarity, c.n_questions) for c in scores.countries}
    assert set(got) == set(expected)
    for country, (mean, n) in expected.items():
        assert got[country][1] == n, country
        assert got[country][0] == pytest.approx(mean, abs=1e-12), country


@pytest.mark.parametrize("policy", ["keep", "drop"])
def test_score_matches_naive_loop_on_sample(sample: Dataset, policy: str) -> None:
    positions = list(range(len(sample)))
    probs = random_model(sample, positions, seed=1)
    scores = metrics.score(sample, np.array(positions), probs, policy=policy)  # type: ignore[arg-type]
    assert_same(scores, naive_scores(sample, positions, probs, policy))
    assert len(scores.countries) == 128
    assert scores.n_questions_scored == 189


def test_score_on_a_shuffled_subset(sample: Dataset) -> None:
    rng = np.random.default_rng(3)
    positions = [int(p) for p in rng.permutation(len(sample))[:60]]
    probs = random_model(sample, positions, seed=4)
    scores = metrics.score(sample, np.array(positions), probs)
    assert_same(scores, naive_scores(sample, positions, probs))
    assert scores.n_questions_scored == 60
    assert set(scores.pairs.position.tolist()) == set(positions)


def test_scores_sorted_descending(sample: Dataset) -> None:
    positions = np.arange(len(sample))
    scores = metrics.score(sample, positions, random_model(sample, list(positions), seed=9))
    values = [c.similarity for c in scores.countries]
    assert values == sorted(values, reverse=True)
    assert values[0] > values[-1]


def test_ties_break_by_country_key(write_csv) -> None:
    rows = [
        ("Q?", {"Zambia": [0.5, 0.5], "Albania": [0.5, 0.5], "Mali": [0.9, 0.1]}, ["a", "b"], "GAS")
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    scores = metrics.score(ds, np.array([0]), np.array([[0.5, 0.5]]))
    assert [c.country for c in scores.countries] == ["Albania", "Zambia", "Mali"]
    assert scores.countries[0].similarity == 1.0


def test_min_questions(sample: Dataset) -> None:
    positions = np.arange(len(sample))
    probs = random_model(sample, list(positions), seed=2)
    everyone = metrics.score(sample, positions, probs)
    some = metrics.score(sample, positions, probs, min_questions=20)
    kept = [c for c in everyone.countries if c.n_questions >= 20]
    assert 0 < len(kept) < len(everyone.countries)
    assert some.countries == tuple(kept)
    # 0 and 1 mean the same: a country needs at least one question.
    assert metrics.score(sample, positions, probs, min_questions=0).countries == everyone.countries


SKIP_ROWS = [
    (
        "Q1?",
        {"A": [0.0, 0.0, 0.0], "B": [0.2, 0.5, 0.3], "C": [0.0, 0.0, 0.0]},
        ["x", "y", "DK/Refused"],
        "GAS",
    ),
    (
        "Q2?",
        {"A": [0.6, 0.4, 0.0], "B": [0.1, 0.1, 0.8], "C": [0.0, 0.0, 0.0]},
        ["x", "y", "DK/Refused"],
        "GAS",
    ),
    ("Q3?", {"A": [0.0, 0.0, 1.0], "B": [0.3, 0.3, 0.4]}, ["x", "y", "Don't know"], "WVS"),
]


def test_all_zero_rows_are_no_data(write_csv) -> None:
    ds = parse_csv(write_csv(SKIP_ROWS).read_bytes())
    p = np.array([[0.3, 0.3, 0.4], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    scores = metrics.score(ds, np.arange(3), p)
    assert scores.get("C") is None  # only zero rows: no score at all
    a, b = scores.get("A"), scores.get("B")
    assert a is not None and b is not None
    assert a.n_questions == 2 and b.n_questions == 3
    expected_a = (scipy_similarity(p[1], [0.6, 0.4, 0.0]) + scipy_similarity(p[2], [0, 0, 1])) / 2
    assert a.similarity == pytest.approx(expected_a, abs=1e-12)
    assert np.isfinite(scores.pairs.similarity).all()
    assert len(scores.pairs.similarity) == 5


def test_drop_policy_by_hand(write_csv) -> None:
    ds = parse_csv(write_csv(SKIP_ROWS).read_bytes())
    p = np.array([[0.2, 0.2, 0.6], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    scores = metrics.score(ds, np.arange(3), p, policy="drop")
    b = scores.get("B")
    a = scores.get("A")
    assert a is not None and b is not None
    # Q1: p -> [0.5, 0.5], h_B -> [0.2, 0.5] / 0.7; Q2: p -> [2/3, 1/3], h_B -> [0.5, 0.5];
    # Q3: p -> [0.5, 0.5], h_B -> [0.5, 0.5].
    b_expected = [
        scipy_similarity(np.array([0.5, 0.5]), np.array([2 / 7, 5 / 7])),
        scipy_similarity(np.array([2 / 3, 1 / 3]), np.array([0.5, 0.5])),
        1.0,
    ]
    assert b.n_questions == 3
    assert b.similarity == pytest.approx(sum(b_expected) / 3, abs=1e-12)
    # A's Q3 answer is all "Don't know": no data once dropped.
    assert a.n_questions == 1
    assert a.similarity == pytest.approx(
        scipy_similarity(np.array([2 / 3, 1 / 3]), np.array([0.6, 0.4])), abs=1e-12
    )
    keep = metrics.score(ds, np.arange(3), p, policy="keep").get("B")
    assert keep is not None and keep.similarity != pytest.approx(b.similarity, abs=1e-6)


def test_model_mass_only_on_dropped_options_scores_nothing(write_csv) -> None:
    ds = parse_csv(write_csv(SKIP_ROWS).read_bytes())
    p = np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    scores = metrics.score(ds, np.array([0, 1]), p, policy="drop")
    assert scores.n_questions_scored == 1
    assert set(scores.pairs.position.tolist()) == {1}


def test_probs_shape_checked(sample: Dataset) -> None:
    with pytest.raises(ValueError, match="probs"):
        metrics.score(sample, np.array([0, 1]), np.ones((3, 5)))


def test_uniform_baseline(sample: Dataset) -> None:
    base = metrics.uniform_baseline(sample)
    positions = list(range(len(sample)))
    probs = np.zeros((len(sample), sample.kmax))
    for pos in positions:
        probs[pos, : sample.n_options[pos]] = 1.0 / sample.n_options[pos]
    assert_same(base, naive_scores(sample, positions, probs))
    np.testing.assert_array_equal(metrics.uniform_probs(sample, np.arange(len(sample))), probs)
    # Restricted to WVS questions only.
    wvs = sample.filter(source="WVS")
    base_wvs = metrics.uniform_baseline(sample, np.array(wvs))
    assert base_wvs.n_questions_scored == 31
    assert_same(base_wvs, naive_scores(sample, wvs, probs[wvs]))


def test_uniform_is_a_floor_for_a_perfect_model(sample: Dataset) -> None:
    # A model that answers exactly like Japan scores 1.0 for Japan, above the uniform floor.
    japan = [p for p, q in enumerate(sample) if "Japan" in q.countries]
    probs = np.zeros((len(japan), sample.kmax))
    for row, pos in enumerate(japan):
        q = sample.at(pos)
        probs[row, : len(q.options)] = q.distribution("Japan")
    got = metrics.score(sample, np.array(japan), probs).get("Japan")
    floor = metrics.uniform_baseline(sample, np.array(japan)).get("Japan")
    assert got is not None and floor is not None
    assert got.similarity == pytest.approx(1.0, abs=1e-7)
    assert got.n_questions == len(japan)
    assert floor.similarity < 0.9


def naive_human(ds: Dataset, ref: str, positions: list[int] | None = None) -> dict:
    sims: dict[str, list[float]] = defaultdict(list)
    for pos, q in enumerate(ds):
        if positions is not None and pos not in positions:
            continue
        a = q.distribution(ref)
        if a is None:
            continue
        for country in q.countries:
            b = q.distribution(country)
            if country == ref or b is None:
                continue
            sims[country].append(scipy_similarity(a, b))
    return {c: (float(np.mean(v)), len(v)) for c, v in sims.items()}


@pytest.mark.parametrize("ref", ["Japan", "India (Current national sample)", "Britain"])
def test_human_similarity_matches_loop(sample: Dataset, ref: str) -> None:
    scores = metrics.human_similarity(sample, ref)
    assert scores.get(ref) is None
    expected = naive_human(sample, ref)
    assert len(expected) > 10
    assert_same(scores, expected)


def test_human_similarity_restricted_positions(sample: Dataset) -> None:
    wvs = sample.filter(source="WVS")
    scores = metrics.human_similarity(sample, "Japan", positions=np.array(wvs))
    assert_same(scores, naive_human(sample, "Japan", wvs))
    assert set(scores.pairs.position.tolist()) <= set(wvs)


def test_human_similarity_unknown_country(sample: Dataset) -> None:
    with pytest.raises(KeyError, match="Atlantis"):
        metrics.human_similarity(sample, "Atlantis")


def test_to_json_shape(sample: Dataset) -> None:
    positions = np.arange(len(sample))
    scores = metrics.score(sample, positions, random_model(sample, list(positions), seed=5))
    data = scores.to_json()
    assert set(data) == {"n_questions_scored", "jsd_base", "countries"}
    assert data["n_questions_scored"] == 189
    assert data["jsd_base"] == 2
    countries = data["countries"]
    assert isinstance(countries, list) and len(countries) == 128
    for entry in countries:
        assert set(entry) == {"country", "display", "iso2", "similarity", "n_questions"}
        assert type(entry["similarity"]) is float
        assert type(entry["n_questions"]) is int
    by_key = {e["country"]: e for e in countries}
    assert by_key["Britain"]["display"] == "United Kingdom"
    assert by_key["Britain"]["iso2"] == "GB"
    assert by_key["India (Old national sample)"]["display"] == "India (old national)"
    # Plain JSON, round trip exact.
    assert json.loads(json.dumps(data)) == data


def test_pad_probs_pads_and_cuts_to_the_widest_question(write_csv) -> None:
    ds = parse_csv(
        write_csv(
            [
                ("Two?", {"A": [0.5, 0.5]}, ["x", "y"], "GAS"),
                ("Four?", {"A": [0.25, 0.25, 0.25, 0.25]}, ["a", "b", "c", "d"], "GAS"),
            ]
        ).read_bytes()
    )
    assert ds.kmax == 4
    narrow = np.array([[0.3, 0.7], [0.1, 0.9]])
    out = metrics.pad_probs(ds, narrow, np.array([0, 1]))
    np.testing.assert_array_equal(out, [[0.3, 0.7, 0, 0], [0.1, 0.9, 0, 0]])
    assert out.shape == (2, 4) and out.dtype == np.float64
    wide = np.arange(12, dtype=float).reshape(2, 6)
    np.testing.assert_array_equal(metrics.pad_probs(ds, wide), wide[:, :4])
    # Rows of different lengths (one per question, as answers come).
    ragged = metrics.pad_probs(ds, [np.array([1.0, 0.0]), np.array([0.1, 0.2, 0.3, 0.4])])
    np.testing.assert_array_equal(ragged, [[1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4]])
    assert metrics.pad_probs(ds, []).shape == (0, 4)
    with pytest.raises(ValueError):
        metrics.pad_probs(ds, narrow, np.array([0]))  # one row per position
    with pytest.raises(ValueError):
        metrics.pad_probs(ds, np.array([0.5, 0.5]))  # not (M, K)


def test_every_scorer_pads_the_same_way(sample: Dataset) -> None:
    """Scoring narrow rows equals scoring them padded by hand: nobody pads differently."""
    from core import diagnostics

    pos = np.arange(10)
    k = int(sample.n_options[pos].max())
    rows = metrics.uniform_probs(sample, pos)[:, :k]
    by_hand = np.zeros((10, sample.kmax))
    by_hand[:, :k] = rows
    assert (
        metrics.score(sample, pos, rows).countries == metrics.score(sample, pos, by_hand).countries
    )
    np.testing.assert_array_equal(
        diagnostics.unshuffle_rows(sample, pos, rows, seed=0),
        diagnostics.unshuffle_rows(sample, pos, by_hand, seed=0),
    )
