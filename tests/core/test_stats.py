"""core.stats: question bootstrap, paired comparison, BH, baselines."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import ArrayLike

from core import metrics, stats
from core.countries import resolve
from core.dataset import Dataset, parse_csv
from core.metrics import PairScores

COUNTRIES = ("France", "Germany", "Japan")


def grid_dataset(write_csv: Callable[..., Path], n_questions: int) -> Dataset:
    """``n_questions`` two-option questions on which every country of COUNTRIES has data."""
    rows = [
        (f"Question {i}?", {c: [0.5, 0.5] for c in COUNTRIES}, ["Yes", "No"], "GAS")
        for i in range(n_questions)
    ]
    return parse_csv(write_csv(rows, name=f"grid{n_questions}.csv").read_bytes())


def pairs_of(ds: Dataset, per_country: dict[str, tuple[ArrayLike, ArrayLike]]) -> PairScores:
    """PairScores from {country: (positions, similarities)}."""
    pos, cty, sim = [], [], []
    for name, (p, s) in per_country.items():
        pos.append(np.asarray(p))
        cty.append(np.full(pos[-1].shape[0], ds.country_index[name]))
        sim.append(np.asarray(s, dtype=float))
    return PairScores(
        position=np.concatenate(pos).astype(np.int64),
        country=np.concatenate(cty).astype(np.int64),
        similarity=np.concatenate(sim),
    )


@pytest.fixture
def grid60(write_csv: Callable[..., Path]) -> Dataset:
    return grid_dataset(write_csv, 60)


# --------------------------------------------------------------------------- bootstrap


def test_interval_contains_the_sample_mean(grid60: Dataset) -> None:
    rng = np.random.default_rng(3)
    fr = rng.beta(8, 2, 40)
    de = rng.beta(2, 2, 25)
    pairs = pairs_of(grid60, {"France": (np.arange(40), fr), "Germany": (np.arange(20, 45), de)})
    result = stats.bootstrap(grid60, pairs)
    assert [i.country for i in result.intervals] == ["France", "Germany"]  # leaderboard order
    france, germany = result.get("France"), result.get("Germany")
    assert france is not None and germany is not None
    assert france.similarity == pytest.approx(fr.mean(), abs=1e-12)
    assert germany.similarity == pytest.approx(de.mean(), abs=1e-12)
    assert (france.n_questions, germany.n_questions) == (40, 25)
    for interval, values in ((france, fr), (germany, de)):
        assert interval.ci_low < interval.similarity < interval.ci_high
        # About mean ± 1.96 standard errors.
        se = values.std(ddof=1) / np.sqrt(values.size)
        assert interval.half_width == pytest.approx(1.96 * se, rel=0.2)
    assert result.get("Japan") is None
    assert (result.n_resamples, result.seed, result.level) == (1000, 0, 0.95)


def test_questions_move_together(grid60: Dataset) -> None:
    """Germany = France + 0.1 on the same questions: resampling questions (not pairs) shifts
    the interval by exactly 0.1; resampling each country on its own would not."""
    fr = np.random.default_rng(5).beta(5, 2, 60)
    pairs = pairs_of(grid60, {"France": (np.arange(60), fr), "Germany": (np.arange(60), fr - 0.1)})
    result = stats.bootstrap(grid60, pairs, n_resamples=500, seed=11)
    france, germany = result.get("France"), result.get("Germany")
    assert france is not None and germany is not None
    assert germany.ci_low == pytest.approx(france.ci_low - 0.1, abs=1e-12)
    assert germany.ci_high == pytest.approx(france.ci_high - 0.1, abs=1e-12)


def test_country_with_one_question_has_a_point_interval(grid60: Dataset) -> None:
    fr = np.linspace(0.4, 0.9, 60)
    pairs = pairs_of(grid60, {"France": (np.arange(60), fr), "Japan": ([7], [0.42])})
    japan = stats.bootstrap(grid60, pairs).get("Japan")
    assert japan is not None
    # Resamples that miss question 7 are skipped for Japan, the others all give 0.42.
    assert japan.ci_low == japan.ci_high == pytest.approx(0.42)


def test_same_seed_same_result_other_seed_other_result(grid60: Dataset) -> None:
    fr = np.random.default_rng(1).random(60)
    pairs = pairs_of(grid60, {"France": (np.arange(60), fr)})
    a = stats.bootstrap(grid60, pairs, seed=7)
    b = stats.bootstrap(grid60, pairs, seed=7)
    c = stats.bootstrap(grid60, pairs, seed=8)
    assert a == b
    assert (a.intervals[0].ci_low, a.intervals[0].ci_high) != (
        c.intervals[0].ci_low,
        c.intervals[0].ci_high,
    )
    assert c.seed == 8
    narrow = stats.bootstrap(grid60, pairs, seed=7, level=0.5).intervals[0]
    assert narrow.half_width < 0.5 * a.intervals[0].half_width


def test_rejects_bad_level(grid60: Dataset) -> None:
    pairs = pairs_of(grid60, {"France": (np.arange(3), [0.1, 0.2, 0.3])})
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap(grid60, pairs, level=95)


@pytest.mark.parametrize("share", [1.0, 0.4])
def test_coverage_of_the_true_mean(write_csv: Callable[..., Path], share: float) -> None:
    """200 simulated runs with per-question similarity ~ Beta(6, 2) (mean 0.75): the 95%
    interval covers 0.75 about 95% of the time, also for a country on a subset of questions."""
    ds = grid_dataset(write_csv, 100)
    mu = 6 / 8
    rng = np.random.default_rng(2023)
    covered = 0
    n_sims = 200
    for sim in range(n_sims):
        own = np.flatnonzero(rng.random(100) < share) if share < 1 else np.arange(100)
        pairs = pairs_of(
            ds,
            {
                "France": (own, rng.beta(6, 2, own.size)),
                "Germany": (np.arange(100), rng.beta(2, 5, 100)),
            },
        )
        france = stats.bootstrap(ds, pairs, n_resamples=1000, seed=sim).get("France")
        assert france is not None
        covered += france.ci_low <= mu <= france.ci_high
    assert 0.90 <= covered / n_sims <= 0.99


def test_json_with_intervals(sample: Dataset) -> None:
    rng = np.random.default_rng(0)
    pos = np.arange(len(sample))
    probs = rng.random((len(sample), sample.kmax))
    scores = metrics.score(sample, pos, probs)
    result = stats.bootstrap(sample, scores.pairs, n_resamples=200, seed=4)
    data = json.loads(json.dumps(stats.scores_json_with_intervals(scores, result)))
    assert data["bootstrap"] == {"n_resamples": 200, "seed": 4, "level": 0.95}
    assert len(data["countries"]) == len(scores.countries)
    for row in data["countries"]:
        assert row["ci_low"] <= row["similarity"] <= row["ci_high"]
        interval = result.get(row["country"])
        assert interval is not None and row["ci_low"] == interval.ci_low


# --------------------------------------------------------------------------- sign-flip test


def brute_force_p(diffs: np.ndarray) -> float:
    observed = abs(diffs.sum())
    hits = sum(
        abs(np.dot(signs, diffs)) >= observed - 1e-12
        for signs in itertools.product((1.0, -1.0), repeat=diffs.size)
    )
    return hits / 2**diffs.size


def test_exact_sign_flip_by_hand() -> None:
    # ±1±2±3 reaches |6| only with all signs equal: 2 of 8.
    assert stats.sign_flip_test([1, 2, 3]) == 0.25
    assert stats.sign_flip_test([1, 2, 3, 4]) == 2 / 16
    assert stats.sign_flip_test([1, -1]) == 1.0
    assert stats.sign_flip_test([0.3]) == 1.0
    assert np.isnan(stats.sign_flip_test([]))


def test_exact_matches_brute_force() -> None:
    rng = np.random.default_rng(9)
    for n in (2, 5, 9, 12):
        diffs = rng.normal(0.02, 0.05, n)
        assert stats.sign_flip_test(diffs) == pytest.approx(brute_force_p(diffs), abs=1e-15)


def test_sampled_close_to_exact_above_the_threshold() -> None:
    diffs = np.random.default_rng(4).normal(0.01, 0.05, 13)
    exact = brute_force_p(diffs)
    sampled = stats.sign_flip_test(diffs, n_permutations=20_000, seed=1)
    assert sampled != exact  # really the sampled path
    assert sampled == pytest.approx(exact, abs=0.015)
    assert stats.sign_flip_test(diffs, exact_max_n=13) == pytest.approx(exact, abs=1e-15)


def test_shift_is_significant_noise_is_not() -> None:
    rng = np.random.default_rng(12)
    shifted = rng.normal(0.05, 0.03, 40)
    assert stats.sign_flip_test(shifted) < 0.001
    noise = rng.normal(0.0, 0.03, 40)
    noise -= noise.mean()  # zero mean exactly
    assert stats.sign_flip_test(noise) > 0.2


# --------------------------------------------------------------------------- BH


def test_benjamini_hochberg_textbook() -> None:
    # Sorted: 0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04.
    q = stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02], rtol=0, atol=1e-15)
    # Monotonicity step: 0.04*3/2 = 0.06 > 0.05*3/3 = 0.05, so the middle one takes 0.05.
    np.testing.assert_allclose(
        stats.benjamini_hochberg([0.01, 0.04, 0.05]), [0.03, 0.05, 0.05], atol=1e-15
    )
    np.testing.assert_allclose(stats.benjamini_hochberg([0.9, 0.8]), [0.9, 0.9], atol=1e-15)
    q = stats.benjamini_hochberg([0.01, np.nan, 0.02])
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02) and q[2] == pytest.approx(0.02)


def test_benjamini_hochberg_matches_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    if not hasattr(scipy_stats, "false_discovery_control"):
        pytest.skip("scipy too old for false_discovery_control")
    rng = np.random.default_rng(1)
    for _ in range(20):
        p = rng.random(int(rng.integers(1, 60))) ** 3
        np.testing.assert_allclose(
            stats.benjamini_hochberg(p), scipy_stats.false_discovery_control(p), atol=1e-12
        )


# --------------------------------------------------------------------------- comparison


def constructed_runs(ds: Dataset) -> tuple[PairScores, PairScores, dict[str, np.ndarray]]:
    """A and B: France +0.05 (clear), Germany zero-mean noise, Japan 8 questions (+0.02 each
    but one) for the exact path; B also has a France pair on a question A lacks."""
    rng = np.random.default_rng(21)
    q40 = np.arange(40)
    base_fr, base_de, base_jp = rng.beta(6, 3, 40), rng.beta(6, 3, 40), rng.beta(6, 3, 8)
    noise = rng.normal(0, 0.03, 40)
    noise -= noise.mean()
    jp_diff = np.array([0.02] * 7 + [-0.01])
    fr_diff = 0.05 + rng.normal(0, 0.02, 40)
    a = pairs_of(
        ds,
        {"France": (q40, base_fr), "Germany": (q40, base_de), "Japan": (np.arange(8), base_jp)},
    )
    b = pairs_of(
        ds,
        {
            "France": (np.r_[q40, 50], np.r_[base_fr + fr_diff, 0.99]),
            "Germany": (q40, base_de + noise),
            "Japan": (np.arange(8), base_jp + jp_diff),
        },
    )
    return a, b, {"France": fr_diff, "Germany": noise, "Japan": jp_diff}


def test_compare_constructed(grid60: Dataset) -> None:
    a, b, diffs = constructed_runs(grid60)
    result = stats.compare(grid60, a, b, label_a="base", label_b="new")
    assert [c.country for c in result.countries] == ["France", "Japan", "Germany"]  # diff desc
    fr, jp, de = result.countries
    for row in result.countries:
        d = diffs[row.country]
        assert row.n_shared == d.size  # France's extra question in B is not shared
        assert row.diff == pytest.approx(d.mean(), abs=1e-12)
        assert row.diff == pytest.approx(row.score_b - row.score_a, abs=1e-12)
        assert row.ci_low <= row.diff <= row.ci_high
    assert fr.p_value < 0.001 and fr.ci_low > 0
    assert de.p_value > 0.2 and de.ci_low < 0 < de.ci_high
    assert jp.p_value == pytest.approx(brute_force_p(diffs["Japan"]), abs=1e-15)  # exact path
    assert jp.p_value == 4 / 256  # only all-positive or flipping just the -0.01 reach 0.13
    np.testing.assert_allclose(
        [r.q_value for r in result.countries],
        stats.benjamini_hochberg([r.p_value for r in result.countries]),
    )
    assert result.n_shared_questions == 40
    assert result.n_better == 2 and result.n_worse == 0
    assert result.mean_diff == pytest.approx(np.mean([d.mean() for d in diffs.values()]))
    assert result.mean_diff_ci_low < result.mean_diff < result.mean_diff_ci_high
    data = json.loads(json.dumps(result.to_json()))
    assert data["label_a"] == "base" and data["label_b"] == "new"
    assert data["countries"][0]["country"] == "France"
    assert data["bootstrap"] == {"n_resamples": 1000, "seed": 0, "level": 0.95}


def test_compare_is_seeded(grid60: Dataset) -> None:
    a, b, _ = constructed_runs(grid60)
    assert stats.compare(grid60, a, b, seed=3) == stats.compare(grid60, a, b, seed=3)
    one, other = stats.compare(grid60, a, b, seed=3), stats.compare(grid60, a, b, seed=4)
    assert one.get("Germany") != other.get("Germany")


def test_compare_against_itself_is_null(grid60: Dataset) -> None:
    a, _, _ = constructed_runs(grid60)
    result = stats.compare(grid60, a, a)
    for row in result.countries:
        assert row.diff == 0 and row.ci_low == 0 and row.ci_high == 0
        assert row.p_value == 1.0
    assert result.n_better == result.n_worse == 0


def test_compare_takes_distributions(sample: Dataset) -> None:
    rng = np.random.default_rng(8)
    pos_a = np.arange(len(sample))
    pos_b = rng.permutation(len(sample))[:120]
    probs_a = rng.random((pos_a.size, sample.kmax))
    probs_b = rng.random((pos_b.size, sample.kmax))
    from_probs = stats.compare(sample, (pos_a, probs_a), (pos_b, probs_b), policy="drop")
    pairs_a = metrics.pair_similarities(sample, pos_a, probs_a, "drop")
    pairs_b = metrics.pair_similarities(sample, pos_b, probs_b, "drop")
    assert from_probs == stats.compare(sample, pairs_a, pairs_b, policy="drop")
    assert from_probs.n_shared_questions == len(set(pos_b) & set(pairs_b.position.tolist()))
    # Each country's scores are the plain means on the shared questions.
    row = from_probs.countries[0]
    ci = sample.country_index[row.country]
    shared_pos = set(pos_b.tolist())
    on_a = (pairs_a.country == ci) & np.isin(pairs_a.position, list(shared_pos))
    assert row.n_shared == int(on_a.sum())
    assert row.score_a == pytest.approx(pairs_a.similarity[on_a].mean())


# --------------------------------------------------------------------------- baselines


def manual_best_other(
    ds: Dataset, country: str, positions: np.ndarray | None, policy: str, min_shared: int
) -> tuple[str | None, float | None, int]:
    own_iso = resolve(country).iso2
    best: tuple[str | None, float | None, int] = (None, None, 0)
    for other in metrics.human_similarity(ds, country, policy, positions).countries:  # type: ignore[arg-type]
        if other.n_questions < min_shared or (own_iso and resolve(other.country).iso2 == own_iso):
            continue
        if best[1] is None or other.similarity > best[1]:
            best = (other.country, other.similarity, other.n_questions)
    return best


@pytest.mark.parametrize(
    ("policy", "subset", "min_shared"), [("keep", False, 1), ("drop", True, 3)]
)
def test_best_other_matches_a_loop(
    sample: Dataset, policy: str, subset: bool, min_shared: int
) -> None:
    positions = np.random.default_rng(2).permutation(len(sample))[:120] if subset else None
    result = stats.baselines(sample, positions, policy, min_shared=min_shared)  # type: ignore[arg-type]
    uniform = metrics.uniform_baseline(sample, positions, policy)  # type: ignore[arg-type]
    assert [c.country for c in result.countries] == [c.country for c in uniform.countries]
    found = 0
    for row in result.countries:
        u = uniform.get(row.country)
        assert u is not None and row.uniform == u.similarity
        key, value, n = manual_best_other(sample, row.country, positions, policy, min_shared)
        assert row.best_other == key
        assert row.best_other_n_shared == n
        if value is None:
            assert row.best_other_similarity is None
        else:
            found += 1
            assert row.best_other_similarity == pytest.approx(value, abs=1e-12)
            assert resolve(row.country).iso2 != resolve(key or "").iso2 or row.iso2 is None
    assert found > 20


def test_human_similarity_matrix_matches_metrics(sample: Dataset) -> None:
    matrix = stats.human_similarity_matrix(sample, policy="drop")
    for ref in ("Russia", "Japan", "Nigeria"):
        r = sample.country_index[ref]
        expected = metrics.human_similarity(sample, ref, "drop")
        assert int((matrix.n_shared[r] > 0).sum()) == len(expected.countries)
        for other in expected.countries:
            c = sample.country_index[other.country]
            assert matrix.n_shared[r, c] == other.n_questions
            assert matrix.mean[r, c] == pytest.approx(other.similarity, abs=1e-12)
    np.testing.assert_array_equal(matrix.n_shared, matrix.n_shared.T)
    assert np.isnan(np.diag(matrix.mean)).all()


def test_same_country_samples_are_not_others(write_csv: Callable[..., Path]) -> None:
    current, old = "India (Current national sample)", "India (Old national sample)"
    rows = [
        (
            "Q1?",
            {current: [0.7, 0.3], old: [0.7, 0.3], "France": [0.5, 0.5], "Japan": [0.1, 0.9]},
            ["Yes", "No"],
            "GAS",
        ),
        ("Q2?", {current: [0.2, 0.8], old: [0.25, 0.75], "France": [0.4, 0.6]}, ["A", "B"], "WVS"),
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    mixed = stats.baselines(ds, exclude_same_iso2=False).get(current)
    assert mixed is not None and mixed.best_other == old and mixed.best_other_n_shared == 2
    apart = stats.baselines(ds).get(current)
    assert apart is not None and apart.best_other == "France"
    sims = metrics.similarity(
        np.array([[0.7, 0.3], [0.2, 0.8]]), np.array([[0.5, 0.5], [0.4, 0.6]])
    )
    assert apart.best_other_similarity == pytest.approx(sims.mean(), abs=1e-12)
    japan = stats.baselines(ds, min_shared=2).get("Japan")
    assert japan is not None and japan.best_other is None and japan.best_other_n_shared == 0
    assert json.loads(json.dumps(stats.baselines(ds).to_json()))["countries"]
