"""core.calibration: temperature scaling against the population average, cross-validated.

Tempering is checked by hand; the population average on a small constructed dataset; the fit
on models made over- or under-confident by a known temperature (tempering composes, so the
answer is known exactly); the cross-validation by refitting every fold independently and by
a question that alone would pull the temperature far.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from support.dataset_csv import Row, csv_bytes

from core import calibration, metrics
from core.calibration import (
    TEMPERATURE_BOUNDS,
    calibrate,
    calibrated_scores,
    fit_temperature,
    population_average,
    temper,
)
from core.dataset import Dataset, parse_csv
from core.errors import InvalidValueError

COUNTRIES = ("Albania", "Brazil", "Chile", "Denmark", "Egypt", "France")


def build(rows: list[Row]) -> Dataset:
    return parse_csv(csv_bytes(rows), name="constructed")


def random_dataset(seed: int, n: int) -> Dataset:
    """n questions of 2-5 options (some with DK/Refused), every country with data."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for i in range(n):
        k = int(rng.integers(2, 6))
        options = [f"Option {j}" for j in range(k)]
        if rng.random() < 0.3:
            options.append("DK/Refused")
        selections = {
            c: [float(x) for x in rng.dirichlet(np.ones(len(options)))] for c in COUNTRIES
        }
        rows.append((f"Question {i}?", selections, options, "GAS"))
    return build(rows)


def answered(ds: Dataset) -> np.ndarray:
    return np.arange(len(ds))


# --------------------------------------------------------------------------- temper


def test_temper_hand_computed() -> None:
    # [0.8, 0.2] at T=2: sqrt weights 0.894.., 0.447..: ratio 2, so [2/3, 1/3].
    np.testing.assert_allclose(temper(np.array([0.8, 0.2]), 2.0), [2 / 3, 1 / 3], rtol=1e-14)
    # At T=0.5: squares 0.64, 0.04 -> [16/17, 1/17].
    np.testing.assert_allclose(temper(np.array([0.8, 0.2]), 0.5), [16 / 17, 1 / 17], rtol=1e-14)
    # Rows at once, unnormalised input: [1, 3] at T=1/2 -> [1, 9] / 10.
    out = temper(np.array([[1.0, 3.0, 0.0], [0.8, 0.2, 0.0]]), 0.5)
    np.testing.assert_allclose(out, [[0.1, 0.9, 0.0], [16 / 17, 1 / 17, 0.0]], rtol=1e-14)


def test_temper_identity_zeros_and_extremes() -> None:
    p = np.array([[0.5, 0.3, 0.2], [2.0, 6.0, 0.0]])
    np.testing.assert_allclose(temper(p, 1.0), [[0.5, 0.3, 0.2], [0.25, 0.75, 0.0]], rtol=1e-14)
    for t in (0.05, 0.3, 3.0, 20.0):
        out = temper(np.array([0.6, 0.0, 0.4, 0.0]), t)
        assert out[1] == 0.0 and out[3] == 0.0
        assert out.sum() == pytest.approx(1.0, abs=1e-15)
    # A row of zeros stays zeros, no NaN.
    assert temper(np.zeros((1, 3)), 2.0).tolist() == [[0.0, 0.0, 0.0]]
    # Log space: tiny entries neither underflow to NaN nor overflow.
    sharp = temper(np.array([1e-300, 1.0]), 0.05)
    assert sharp.tolist() == [0.0, 1.0]
    flat = temper(np.array([1e-300, 1.0]), 20.0)
    np.testing.assert_allclose(flat, np.array([1e-15, 1.0]) / (1.0 + 1e-15), rtol=1e-12)
    # Composition: T1 then T2 is T1 * T2 (what the over-confidence tests rely on).
    q = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(temper(temper(q, 0.4), 2.5), q, rtol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "hot", True, None])
def test_temper_rejects_bad_temperature(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="not a finite number above 0"):
        temper(np.array([0.5, 0.5]), bad)  # type: ignore[arg-type]


def test_temper_rejects_bad_probs() -> None:
    with pytest.raises(InvalidValueError, match="finite and non-negative"):
        temper(np.array([0.5, -0.1]), 2.0)
    with pytest.raises(InvalidValueError):
        temper(np.array([0.5, math.nan]), 2.0)


# --------------------------------------------------------------------------- population average


def small_dataset() -> Dataset:
    return build(
        [
            (
                "Q0?",
                {
                    "Albania": [0.6, 0.2, 0.2],
                    "Brazil": [0.2, 0.2, 0.6],
                    "Chile": [2.0, 2.0, 0.0],  # unnormalised: [0.5, 0.5, 0]
                    "Denmark": [0.0, 0.0, 1.0],  # non-substantive answers only
                },
                ["Yes", "No", "DK/Refused"],
                "GAS",
            ),
            ("Q1?", {"Albania": [0.3, 0.7]}, ["Yes", "No"], "GAS"),
            ("Q2?", {"Brazil": [0.0, 0.0], "Chile": [0.0, 0.0]}, ["Yes", "No"], "GAS"),
        ]
    )


def test_population_average_keep_hand_computed() -> None:
    ds = small_dataset()
    avg = population_average(ds, np.array([0, 1, 2]), "keep")
    np.testing.assert_allclose(
        avg,
        [
            [(0.6 + 0.2 + 0.5 + 0) / 4, (0.2 + 0.2 + 0.5 + 0) / 4, (0.2 + 0.6 + 0 + 1) / 4],
            [0.3, 0.7, 0.0],
            [0.0, 0.0, 0.0],  # no country has data
        ],
        rtol=1e-14,
    )


def test_population_average_drop_hand_computed() -> None:
    ds = small_dataset()
    # Drop: Albania [0.75, 0.25], Brazil [0.5, 0.5], Chile [0.5, 0.5]; Denmark has no mass left.
    avg = population_average(ds, np.array([1, 0]), "drop")
    np.testing.assert_allclose(avg, [[0.3, 0.7, 0.0], [1.75 / 3, 1.25 / 3, 0.0]], rtol=1e-14)
    assert population_average(ds).shape == (3, ds.kmax)  # None: every question, in order
    with pytest.raises(ValueError):
        population_average(ds, None, "ignore")  # type: ignore[arg-type]


def test_population_average_matches_a_loop_on_the_sample(sample: Dataset) -> None:
    for policy in metrics.POLICIES:
        avg = population_average(sample, None, policy)
        for pos in (0, 7, len(sample) - 1):
            q = sample.at(pos)
            human = metrics.apply_policy(q.human, q.nonsubstantive, policy)
            rows = [h / h.sum() for h in human if h.sum() > 0]
            want = np.zeros(sample.kmax)
            want[: len(q.options)] = np.mean(rows, axis=0)
            np.testing.assert_allclose(avg[pos], want, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- the fit


def scorable_positions(ds: Dataset, policy: metrics.Policy) -> tuple[np.ndarray, np.ndarray]:
    avg = population_average(ds, None, policy)
    pos = np.flatnonzero(avg.sum(axis=1) > 0)
    return pos, avg[pos]


@pytest.mark.parametrize("policy", metrics.POLICIES)
def test_over_confident_model_gets_temperature_above_one(
    sample: Dataset, policy: metrics.Policy
) -> None:
    pos, avg = scorable_positions(sample, policy)
    model = temper(avg, 0.4)  # sharpened: over-confident
    cal = calibrate(sample, pos, model, policy=policy)
    # temper(model, 2.5) is the population average itself (tempering composes), so the mean
    # distance is 0 there and > 0 elsewhere: every fit must land on 2.5, to the optimiser's
    # tolerance (1e-6 in log T) and a little slack for the flat floor of a sqrt-shaped minimum.
    assert cal.temperature == pytest.approx(2.5, rel=1e-4)
    assert all(t == pytest.approx(2.5, rel=1e-4) for t in cal.fold_temperatures)
    assert not cal.at_bound
    assert cal.n_questions == len(pos) and cal.n_folds == 5
    assert cal.objective_raw > 0.05
    assert cal.objective_calibrated < 1e-3 and cal.objective_in_sample < 1e-3
    # The calibrated answers are closer to the people of most countries, and on average.
    raw = metrics.score_with(sample, pos, model, "jsd", policy)
    calibrated = calibrated_scores(sample, cal, "jsd")
    gains = [calibrated.get(c.country).similarity - c.similarity for c in raw.countries]  # type: ignore[union-attr]
    # Measured: +0.08 on average; 86% (keep) and 85% (drop) of the 128 countries gain, those
    # that lose have few questions (median 3), where the world's answer is far from theirs.
    assert np.mean(gains) > 0.05
    assert np.mean(np.array(gains) > 0) > 0.8


def test_under_confident_model_gets_temperature_below_one(sample: Dataset) -> None:
    pos, avg = scorable_positions(sample, "keep")
    cal = calibrate(sample, pos, temper(avg, 3.0))
    assert cal.temperature == pytest.approx(1 / 3, rel=1e-4)
    assert cal.temperature < 1
    assert cal.objective_calibrated < cal.objective_raw


def test_noisy_over_confident_model(sample: Dataset) -> None:
    """Not an exact inverse: a model whose answers only resemble the world's, sharpened."""
    pos, avg = scorable_positions(sample, "keep")
    rng = np.random.default_rng(3)
    k = sample.n_options[pos]
    noise = np.where(
        np.arange(sample.kmax)[None, :] < k[:, None], rng.gamma(20.0, size=avg.shape), 0
    )
    model = temper(avg * noise + 1e-3 * (noise > 0), 0.4)
    cal = calibrate(sample, pos, model)
    assert 1.8 < cal.temperature < 3.5
    assert cal.objective_calibrated < cal.objective_raw - 0.03
    raw = metrics.score_with(sample, pos, model)
    better = calibrated_scores(sample, cal)
    assert np.mean([c.similarity for c in better.countries]) > np.mean(
        [c.similarity for c in raw.countries]
    )


def test_fit_is_the_minimum_of_the_objective_over_a_fine_grid(sample: Dataset) -> None:
    pos, avg = scorable_positions(sample, "keep")
    rng = np.random.default_rng(0)
    k = sample.n_options[pos]
    probs = np.zeros_like(avg)
    for i, kk in enumerate(k):
        probs[i, :kk] = rng.dirichlet(np.full(kk, 0.5))
    fit = fit_temperature(sample, pos, probs, avg)

    def mean_distance(t: float) -> float:
        # Independent of the module: scipy's distance of the plain powers.
        return float(np.mean(jensenshannon(probs ** (1 / t), avg, base=2, axis=1)))

    values = [mean_distance(t) for t in np.exp(np.linspace(math.log(0.05), math.log(20.0), 300))]
    assert fit.mean_distance == pytest.approx(mean_distance(fit.temperature), abs=1e-12)
    assert fit.mean_distance <= min(values) + 1e-12
    assert fit.temperature != 1.0


@pytest.mark.parametrize("policy", metrics.POLICIES)
def test_fast_distances_equal_the_metric(policy: metrics.Policy) -> None:
    """The fits' flat evaluator against ``objective`` (metrics.row_values) on tempered rows:
    rows with zeros on either side, rows equal to their target (distance 0), all policies."""
    ds = random_dataset(6, 30)
    avg = population_average(ds, None, policy)
    rng = np.random.default_rng(2)
    probs = np.zeros((len(ds), ds.kmax))
    for i, k in enumerate(ds.n_options):
        probs[i, :k] = rng.dirichlet(np.full(int(k), 0.7))
        probs[i, int(rng.integers(k))] = 0.0 if rng.random() < 0.5 else probs[i, 0]
    probs[:5] = temper(avg[:5], 0.5)  # exactly the target at T = 2
    pos = answered(ds)
    ok = np.isfinite(calibration.objective(ds, pos, probs, avg, policy))
    assert ok.sum() >= 25
    fast = calibration._Distances(ds, pos[ok], calibration._log(probs[ok]), avg[ok], policy)
    for t in (0.05, 0.4, 1.0, 2.0, 7.0, 20.0):
        want = calibration.objective(ds, pos[ok], temper(probs[ok], t), avg[ok], policy)
        got = fast(math.log(t))
        # Near 0 a distance is the square root of a divergence at rounding level (1e-16),
        # ~1e-8 in either implementation; elsewhere the two agree to 1e-12.
        far = want > 1e-6
        assert far.sum() >= 20
        np.testing.assert_allclose(got[far], want[far], rtol=0, atol=1e-12)
        assert np.all(got[~far] < 3e-8)
    assert np.all(fast(math.log(2.0))[:5] < 3e-8)


def test_objective_raw_is_the_mean_js_distance_to_the_population_average() -> None:
    ds = small_dataset()
    probs = np.array([[0.7, 0.2, 0.1], [0.9, 0.1, 0.0]])
    cal = calibrate(ds, np.array([0, 1]), probs, folds=2)
    avg = population_average(ds)
    want = np.mean([jensenshannon(probs[i], avg[i], base=2) for i in range(2)])
    assert cal.objective_raw == pytest.approx(want, abs=1e-14)
    # Under drop the DK column goes from both sides before the distance.
    drop = calibrate(ds, np.array([0, 1]), probs, policy="drop", folds=2)
    avg_drop = population_average(ds, None, "drop")
    want_drop = np.mean(
        [
            jensenshannon([0.7, 0.2], avg_drop[0, :2], base=2),
            jensenshannon([0.9, 0.1], avg_drop[1, :2], base=2),
        ]
    )
    assert drop.objective_raw == pytest.approx(want_drop, abs=1e-14)


def test_temperature_beyond_the_bounds_is_flagged(sample: Dataset) -> None:
    pos, avg = scorable_positions(sample, "keep")
    far = calibrate(sample, pos, temper(avg, 0.01))  # would need T = 100
    assert far.at_bound
    assert far.temperature == pytest.approx(TEMPERATURE_BOUNDS[1], rel=1e-3)
    low = calibrate(sample, pos, temper(avg, 100.0))  # would need T = 0.01
    assert low.at_bound
    assert low.temperature == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)
    assert not calibrate(sample, pos, temper(avg, 0.5)).at_bound


def test_answers_tempering_cannot_change_give_temperature_one(sample: Dataset) -> None:
    pos = np.arange(len(sample))
    cal = calibrate(sample, pos, metrics.uniform_probs(sample, pos))
    assert cal.temperature == 1.0 and cal.fold_temperatures == (1.0,) * 5
    assert not cal.at_bound
    assert cal.objective_calibrated == pytest.approx(cal.objective_raw, abs=1e-15)


# --------------------------------------------------------------------------- cross-validation


def test_every_fold_is_tempered_by_a_fit_without_it() -> None:
    ds = random_dataset(1, 23)
    pos = answered(ds)
    rng = np.random.default_rng(5)
    probs = np.zeros((len(ds), ds.kmax))
    for i, k in enumerate(ds.n_options):
        probs[i, :k] = rng.dirichlet(np.full(int(k), 0.3))
    cal = calibrate(ds, pos, probs, folds=4, seed=11)
    avg = population_average(ds)
    assert cal.n_folds == 4 and sorted(np.bincount(cal.fold).tolist()) == [5, 6, 6, 6]
    for f in range(4):
        out = cal.fold == f
        refit = fit_temperature(ds, pos[~out], probs[~out], avg[~out])
        assert cal.fold_temperatures[f] == refit.temperature
        np.testing.assert_array_equal(cal.row_temperature[out], refit.temperature)
        np.testing.assert_allclose(
            cal.calibrated_probs[out], temper(probs[out], refit.temperature), rtol=1e-13
        )
    assert cal.temperature == fit_temperature(ds, pos, probs, avg).temperature
    out_of_fold = np.mean(
        [jensenshannon(a, b, base=2) for a, b in zip(cal.calibrated_probs, avg, strict=True)]
    )
    assert cal.objective_calibrated == pytest.approx(out_of_fold, abs=1e-12)


def test_a_question_never_pulls_its_own_temperature() -> None:
    """Nine questions the world splits 50/50 (tempering a 50/50 answer changes nothing) and one
    the model answers far too sharply: only that question wants a temperature, so every fit
    that sees it lands far above 1, and the fit without it (its own fold's) has nothing to go
    on: T = 1, its answer left as it was."""
    even = {c: [0.5, 0.5] for c in COUNTRIES}
    rows: list[Row] = [(f"Even {i}?", even, ["Yes", "No"], "GAS") for i in range(9)]
    skewed = {c: [0.6, 0.3, 0.1] for c in COUNTRIES}
    rows.insert(4, ("Skewed?", skewed, ["Yes", "No", "Maybe"], "GAS"))
    ds = build(rows)
    probs = np.zeros((10, 3))
    probs[:, :2] = 0.5
    probs[4] = temper(np.array([0.6, 0.3, 0.1]), 0.2)  # needs T = 5
    probs[4, :] = probs[4] / probs[4].sum()
    cal = calibrate(ds, answered(ds), probs, folds=5, seed=0)
    assert cal.temperature == pytest.approx(5.0, rel=1e-4)
    own = int(cal.fold[4])
    assert cal.fold_temperatures[own] == 1.0 and cal.row_temperature[4] == 1.0
    np.testing.assert_allclose(cal.calibrated_probs[4], probs[4], rtol=1e-13)
    others = [t for f, t in enumerate(cal.fold_temperatures) if f != own]
    assert others == pytest.approx([5.0] * 4, rel=1e-4)
    # In sample the skewed question is fitted perfectly; out of fold it is not.
    assert cal.objective_in_sample < 1e-4 < cal.objective_calibrated


def test_folds_are_seeded() -> None:
    ds = random_dataset(2, 40)
    probs = temper(population_average(ds), 0.5)
    a = calibrate(ds, answered(ds), probs, seed=7)
    b = calibrate(ds, answered(ds), probs, seed=7)
    c = calibrate(ds, answered(ds), probs, seed=8)
    np.testing.assert_array_equal(a.fold, b.fold)
    np.testing.assert_array_equal(a.calibrated_probs, b.calibrated_probs)
    assert a.fold_temperatures == b.fold_temperatures and a.seed == 7
    assert not np.array_equal(a.fold, c.fold) and c.seed == 8
    # The assignment is the documented one: a seeded permutation dealt round the folds.
    want = np.empty(40, dtype=np.int64)
    want[np.random.default_rng(7).permutation(40)] = np.arange(40) % 5
    np.testing.assert_array_equal(a.fold, want)


def test_fold_count_rules() -> None:
    ds = random_dataset(3, 12)
    probs = temper(population_average(ds), 0.5)
    five = calibrate(ds, answered(ds), probs, folds=5)
    assert five.n_folds == 5 and sorted(np.bincount(five.fold).tolist()) == [2, 2, 2, 3, 3]
    # Fewer questions than folds: leave-one-out.
    three = calibrate(ds, np.array([0, 5, 9]), probs[[0, 5, 9]], folds=5)
    assert three.n_folds == 3 and sorted(three.fold.tolist()) == [0, 1, 2]
    assert len(three.fold_temperatures) == 3
    two = calibrate(ds, np.array([0, 1]), probs[:2], folds=2)
    assert two.n_folds == 2
    for bad in (1, 0, True, 2.5):
        with pytest.raises(InvalidValueError, match="at least 2 folds"):
            calibrate(ds, answered(ds), probs, folds=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="Seed"):
        calibrate(ds, answered(ds), probs, seed=-1)


def test_fewer_than_two_scorable_questions_is_an_error() -> None:
    ds = small_dataset()
    probs = np.array([[0.7, 0.2, 0.1], [0.9, 0.1, 0.0], [0.5, 0.5, 0.0]])
    with pytest.raises(InvalidValueError, match="at least 2 answered questions") as info:
        calibrate(ds, np.array([0]), probs[:1])
    assert "Answer more questions" in info.value.fix
    # Question 2 has no country data: only one of the two can be scored.
    with pytest.raises(InvalidValueError, match="at least 2 answered questions"):
        calibrate(ds, np.array([1, 2]), probs[1:])


def test_unscorable_questions_take_no_part_and_get_the_full_temperature() -> None:
    ds = small_dataset()
    probs = np.array([[0.7, 0.2, 0.1], [0.9, 0.1, 0.0], [0.8, 0.2, 0.0]])
    cal = calibrate(ds, np.array([0, 1, 2]), probs, folds=2)
    assert cal.n_questions == 2 and cal.fold[2] == -1
    assert sorted(cal.fold[:2].tolist()) == [0, 1]
    assert cal.row_temperature[2] == cal.temperature
    np.testing.assert_allclose(cal.calibrated_probs[2], temper(probs[2], cal.temperature))


def test_bad_inputs_are_errors() -> None:
    ds = small_dataset()
    good = np.array([[0.7, 0.2, 0.1], [0.9, 0.1, 0.0]])
    with pytest.raises(InvalidValueError, match="question 1 must be finite"):
        calibrate(ds, np.array([0, 1]), np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 0.0]]))
    with pytest.raises(InvalidValueError, match="twice"):
        calibrate(ds, np.array([0, 0]), good)
    with pytest.raises(InvalidValueError, match="one row per position"):
        calibrate(ds, np.array([0, 1]), good[:1])
    with pytest.raises(InvalidValueError, match="policy"):
        calibrate(ds, np.array([0, 1]), good, policy="ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- results


def test_calibrated_scores_are_score_with_on_the_calibrated_answers() -> None:
    ds = random_dataset(4, 15)
    probs = temper(population_average(ds, None, "drop"), 0.3) + 0.0
    probs = probs + 0.01 * (np.arange(ds.kmax)[None, :] < ds.n_options[:, None])
    cal = calibrate(ds, answered(ds), probs, policy="drop")
    for metric in ("jsd", "tv", "kl"):
        got = calibrated_scores(ds, cal, metric)
        want = metrics.score_with(ds, cal.positions, cal.calibrated_probs, metric, "drop")
        assert got.metric == metric
        assert [(c.country, c.similarity) for c in got.countries] == [
            (c.country, c.similarity) for c in want.countries
        ]
    keep = calibrated_scores(ds, cal, "jsd", "keep")
    want_keep = metrics.score_with(ds, cal.positions, cal.calibrated_probs, "jsd", "keep")
    assert keep.countries == want_keep.countries


def test_to_json_has_the_figures_and_no_arrays(sample: Dataset) -> None:
    pos, avg = scorable_positions(sample, "keep")
    cal = calibrate(sample, pos, temper(avg, 0.5), seed=3)
    data = cal.to_json()
    json.dumps(data)  # plain values only
    assert data["temperature"] == cal.temperature
    assert data["fold_temperatures"] == list(cal.fold_temperatures)
    assert data["fold_temperature_min"] == min(cal.fold_temperatures)
    assert data["fold_temperature_max"] == max(cal.fold_temperatures)
    assert data["n_folds"] == 5 and data["seed"] == 3 and data["n_questions"] == len(pos)
    assert data["objective_raw"] == cal.objective_raw
    assert data["objective_calibrated"] == cal.objective_calibrated
    assert data["at_bound"] is False and data["policy"] == "keep"
    assert data["temperature_bounds"] == [0.05, 20.0]
    assert not any(isinstance(v, np.ndarray) for v in data.values())
    assert calibration.DEFAULT_FOLDS == 5
