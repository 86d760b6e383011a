"""core.stats under every metric (issue 12): the population average, the best other country
for a divergence, the shuffled-country null with its q-values, the model's lift, and the
direction of bootstrap orders and paired comparisons when lower is better (kl)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy
from support.dataset_csv import Row, WriteCsv

from core import metrics, stats
from core.calibration import population_average
from core.dataset import Dataset, parse_csv
from core.metrics import KL_EPSILON, METRIC_NAMES, MetricName, PairScores

THREE = ("France", "Germany", "Japan")
SIX = ("Albania", "Brazil", "Chile", "Denmark", "Egypt", "France")
SCALE = ["0", "1", "2", "3"]  # numeric options: an ordinal scale, so wasserstein applies


def dataset_of(write_csv: WriteCsv, rows: list[Row]) -> Dataset:
    return parse_csv(write_csv(rows).read_bytes())


def smoothed(x: list[float] | np.ndarray) -> np.ndarray:
    """kl's documented smoothing: normalise, then (x + eps) / (1 + K eps)."""
    v = np.asarray(x, dtype=float)
    v = v / v.sum()
    return (v + KL_EPSILON) / (1.0 + v.size * KL_EPSILON)


def kl_bits(h: list[float], p: list[float]) -> float:
    """KL(h || p) in bits after smoothing, by scipy."""
    return float(entropy(smoothed(h), smoothed(p), base=2))


def human(ds: Dataset, country: str, position: int) -> np.ndarray:
    """A country's published row on a question, padded to the dataset's width."""
    rows = np.flatnonzero(
        (ds.pair_question == position) & (ds.pair_country == ds.country_index[country])
    )
    assert rows.size == 1
    return ds.pair_human[rows[0]]


def value(ds: Dataset, position: int, p: np.ndarray, h: np.ndarray, metric: MetricName) -> float:
    return float(metrics.row_values(ds, np.array([position]), p[None, :], h[None, :], metric)[0])


def scores_of(ds: Dataset, probs: np.ndarray, metric: MetricName) -> PairScores:
    return metrics.pair_values(ds, np.arange(len(ds)), probs, metric)


# --------------------------------------------------------------------------- population average


@pytest.fixture
def two_questions(write_csv: WriteCsv) -> Dataset:
    """Q1 all three countries (Japan's row unnormalised: [0.6, 0.4]); Q2 without Japan."""
    rows: list[Row] = [
        (
            "Q1?",
            {"France": [0.8, 0.2], "Germany": [0.4, 0.6], "Japan": [3.0, 2.0]},
            ["Yes", "No"],
            "GAS",
        ),
        ("Q2?", {"France": [0.2, 0.3, 0.5], "Germany": [0.5, 0.5, 0.0]}, ["A", "B", "C"], "GAS"),
    ]
    return dataset_of(write_csv, rows)


def test_population_average_probs_by_hand(two_questions: Dataset) -> None:
    average = population_average(two_questions, np.array([1, 0]))
    assert average.shape == (2, two_questions.kmax)
    np.testing.assert_allclose(average[0], [0.35, 0.4, 0.25], atol=1e-15)  # positions order
    np.testing.assert_allclose(average[1], [0.6, 0.4, 0.0], atol=1e-15)


def test_population_average_score_by_hand(two_questions: Dataset) -> None:
    # tv: France 1 - ½(0.2 + 0.2) = 0.8 on Q1 and 1 - ½(0.15 + 0.1 + 0.25) = 0.75 on Q2.
    tv = stats.baselines(two_questions, metric="tv")
    expected_tv = {"France": 0.775, "Germany": 0.775, "Japan": 1.0}
    for country, expected in expected_tv.items():
        row = tv.get(country)
        assert row is not None and row.population_average == pytest.approx(expected, abs=1e-12)
    # jsd and kl against scipy, with the average itself written out by hand.
    q1, q2 = [0.6, 0.4], [0.35, 0.4, 0.25]
    france = stats.baselines(two_questions).get("France")
    assert france is not None and france.population_average == pytest.approx(
        np.mean(
            [
                1 - jensenshannon(q1, [0.8, 0.2], base=2),
                1 - jensenshannon(q2, [0.2, 0.3, 0.5], base=2),
            ]
        ),
        abs=1e-12,
    )
    kl_france = stats.baselines(two_questions, metric="kl").get("France")
    assert kl_france is not None and kl_france.population_average == pytest.approx(
        np.mean([kl_bits([0.8, 0.2], q1), kl_bits([0.2, 0.3, 0.5], q2)]), rel=1e-9
    )
    japan = stats.baselines(two_questions, metric="kl").get("Japan")
    assert japan is not None and japan.population_average == pytest.approx(0.0, abs=1e-12)


def test_population_average_after_the_drop_policy(write_csv: WriteCsv) -> None:
    rows: list[Row] = [
        (
            "Q?",
            {"France": [0.5, 0.3, 0.2], "Germany": [0.2, 0.2, 0.6], "Japan": [0.0, 0.0, 1.0]},
            ["Yes", "No", "DK/Refused"],
            "GAS",
        )
    ]
    ds = dataset_of(write_csv, rows)
    np.testing.assert_allclose(
        population_average(ds, [0], "keep")[0], [0.7 / 3, 0.5 / 3, 0.6], atol=1e-15
    )
    # Japan has nothing left after dropping DK: the average is France's and Germany's only.
    np.testing.assert_allclose(
        population_average(ds, [0], "drop")[0], [0.5625, 0.4375, 0.0], atol=1e-15
    )


# --------------------------------------------------------------------------- best other, kl


@pytest.fixture
def cyclic(write_csv: WriteCsv) -> Dataset:
    """Each country's row is the previous one's shifted: KL is smallest one way round the
    cycle and largest the other, while jsd ties."""
    rows: list[Row] = [
        (
            "Q?",
            {"France": [0.6, 0.3, 0.1], "Germany": [0.3, 0.1, 0.6], "Japan": [0.1, 0.6, 0.3]},
            ["A", "B", "C"],
            "GAS",
        )
    ]
    return dataset_of(write_csv, rows)


def test_best_other_under_kl_is_the_smallest_divergence_the_right_way_round(
    cyclic: Dataset,
) -> None:
    f, g, j = [0.6, 0.3, 0.1], [0.3, 0.1, 0.6], [0.1, 0.6, 0.3]
    # KL(France || Germany) = 0.817 < KL(France || Japan) = 1.092, but the other way round
    # KL(Germany || France) = 1.092 > KL(Japan || France) = 0.817.
    assert kl_bits(f, g) < kl_bits(f, j) and kl_bits(g, f) > kl_bits(j, f)
    result = stats.baselines(cyclic, metric="kl")
    expected = {"France": ("Germany", f, g), "Germany": ("Japan", g, j), "Japan": ("France", j, f)}
    for country, (other, h, p) in expected.items():
        row = result.get(country)
        assert row is not None and row.best_other == other and row.best_other_n_shared == 1
        assert row.best_other_similarity == pytest.approx(kl_bits(h, p), rel=1e-9)
        assert row.best_other_similarity == pytest.approx(
            value(cyclic, 0, human(cyclic, other, 0), human(cyclic, country, 0), "kl"), abs=1e-12
        )
    matrix = stats.human_similarity_matrix(cyclic, metric="kl")
    fr, de = cyclic.country_index["France"], cyclic.country_index["Germany"]
    assert matrix.metric == "kl"
    assert matrix.mean[fr, de] == pytest.approx(kl_bits(f, g), rel=1e-9)  # Germans for France
    assert matrix.mean[de, fr] == pytest.approx(kl_bits(g, f), rel=1e-9)
    assert np.isnan(np.diag(matrix.mean)).all()
    assert (result.metric, result.n_permutations) == ("kl", 0)
    data = json.loads(json.dumps(result.to_json()))
    assert data["metric"] == "kl" and data["higher_is_better"] is False and data["null"] is None


@pytest.mark.parametrize("metric", ["kl", "argmax", "wasserstein", "tv", "jsd-e"])
def test_matrix_matches_a_loop_under_every_metric(sample: Dataset, metric: MetricName) -> None:
    matrix = stats.human_similarity_matrix(sample, policy="drop", metric=metric)
    ordinal = metrics.scale_orders(sample).ordinal
    for ref, other in (("Russia", "Japan"), ("Japan", "Russia"), ("Nigeria", "Brazil")):
        r, o = sample.country_index[ref], sample.country_index[other]
        row_of = {
            (int(q), int(c)): i
            for i, (q, c) in enumerate(zip(sample.pair_question, sample.pair_country, strict=True))
            if c in (r, o)
        }
        vals = []
        for pos in range(len(sample)):
            if (pos, r) not in row_of or (pos, o) not in row_of:
                continue
            h, p = sample.pair_human[row_of[pos, r]], sample.pair_human[row_of[pos, o]]
            kept = ~sample.nonsubstantive[pos]
            if not (h * kept).sum() > 0 or not (p * kept).sum() > 0:
                continue
            if metric == "wasserstein" and not ordinal[pos]:
                continue
            vals.append(
                float(
                    metrics.row_values(sample, np.array([pos]), p[None], h[None], metric, "drop")[0]
                )
            )
        assert matrix.n_shared[r, o] == len(vals) > 0  # wasserstein: ordinal questions only
        assert matrix.mean[r, o] == pytest.approx(np.mean(vals), abs=1e-12)


def test_symmetric_metrics_give_a_symmetric_matrix(sample: Dataset) -> None:
    for metric in ("jsd", "tv", "cosine", "wasserstein"):
        m = stats.human_similarity_matrix(sample, metric=metric)
        np.testing.assert_array_equal(m.n_shared, m.n_shared.T)
        np.testing.assert_allclose(m.mean, m.mean.T, atol=0, equal_nan=True)
    kl = stats.human_similarity_matrix(sample, metric="kl")
    assert not np.allclose(kl.mean, kl.mean.T, equal_nan=True)
    # The default is the paper's similarity, entry for entry.
    default, jsd = (
        stats.human_similarity_matrix(sample),
        stats.human_similarity_matrix(sample, metric="jsd"),
    )
    np.testing.assert_array_equal(default.mean, jsd.mean)
    wasserstein = stats.human_similarity_matrix(sample, metric="wasserstein")
    assert (wasserstein.n_shared <= default.n_shared).all()
    assert (wasserstein.n_shared < default.n_shared).any()  # nominal questions do not count


# --------------------------------------------------------------------------- shuffled null


def random_rows(seed: int, n_questions: int, alike: bool) -> list[Row]:
    """Every country of SIX on every question; ``alike``: all near one shared answer."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for i in range(n_questions):
        shared = rng.dirichlet(np.ones(4))
        selections = {}
        for c in SIX:
            mine = rng.dirichlet(np.ones(4))
            row = 0.95 * shared + 0.05 * mine if alike else mine
            selections[c] = [float(x) for x in row]
        rows.append((f"Question {i}?", selections, SCALE, "GAS"))
    return rows


@pytest.fixture
def varied(write_csv: WriteCsv) -> Dataset:
    return dataset_of(write_csv, random_rows(4, 30, alike=False))


@pytest.fixture
def alike(write_csv: WriteCsv) -> Dataset:
    return dataset_of(write_csv, random_rows(5, 30, alike=True))


def people_of(ds: Dataset, country: str) -> np.ndarray:
    """A model that answers exactly as ``country``'s people do."""
    return np.stack([human(ds, country, pos) for pos in range(len(ds))])


@pytest.mark.parametrize("metric", METRIC_NAMES)
def test_a_model_that_is_one_countrys_people_beats_every_shuffle_for_it(
    varied: Dataset, metric: MetricName
) -> None:
    pairs = scores_of(varied, people_of(varied, "France"), metric)
    result = stats.baselines(varied, metric=metric, model_pairs=pairs, n_permutations=200, seed=1)
    france = result.get("France")
    assert france is not None
    # No other country's people are as close to the French as the French: no hit at all.
    assert france.p_value == 1 / 201
    assert france.null_n_questions == 30 and france.null_left_out == 0
    assert result.n_permutations == 200 and result.seed == 1
    if metric != "argmax":  # argmax: a plurality shared on every question is not impossible
        assert france.lift is not None and france.lift > 0


@pytest.mark.parametrize("metric", ["jsd", "kl", "tv"])
def test_a_noise_model_is_never_closer_than_people(alike: Dataset, metric: MetricName) -> None:
    rng = np.random.default_rng(0)
    noise = rng.dirichlet(np.ones(4), size=len(alike))
    pairs = scores_of(alike, noise, metric)
    result = stats.baselines(alike, metric=metric, model_pairs=pairs, n_permutations=300)
    assert len(result.countries) == len(SIX)
    for row in result.countries:
        assert row.p_value == 1.0  # every resample of other people is at least as close
        assert row.q_value == 1.0
        assert row.lift is not None and row.lift < 0
        assert row.null_mean is not None and row.null_model is not None
        assert metrics.HIGHER_IS_BETTER[metric] == (row.null_mean > row.null_model)


def enumerate_null(
    ds: Dataset, country: str, positions: list[int], metric: MetricName
) -> list[float]:
    """The mean of every choice of one other country per question (all equally likely)."""
    options = []
    for pos in positions:
        h = human(ds, country, pos)
        others = [c for c in ds.at(pos).countries if c != country]
        options.append([value(ds, pos, human(ds, c, pos), h, metric) for c in others])
    return [float(np.mean(choice)) for choice in itertools.product(*options)]


@pytest.mark.parametrize("metric", ["tv", "kl"])
def test_p_value_is_the_share_of_enumerated_shuffles(
    write_csv: WriteCsv, metric: MetricName
) -> None:
    """France on 3 questions with 2 other countries each: 8 equally likely null means; a 4th
    question only France answered is left out of the null (and of the model's mean in it)."""
    rows: list[Row] = [
        (
            f"Q{i}?",
            {"France": fr, "Germany": de, "Japan": jp},
            ["Yes", "No"],
            "GAS",
        )
        for i, (fr, de, jp) in enumerate(
            [
                ([0.5, 0.5], [0.6, 0.4], [0.9, 0.1]),
                ([0.2, 0.8], [0.3, 0.7], [0.6, 0.4]),
                ([0.7, 0.3], [0.4, 0.6], [0.75, 0.25]),
            ]
        )
    ]
    rows.append(("Q3?", {"France": [0.1, 0.9]}, ["Yes", "No"], "GAS"))
    ds = dataset_of(write_csv, rows)
    null = enumerate_null(ds, "France", [0, 1, 2], metric)
    sign = 1.0 if metrics.HIGHER_IS_BETTER[metric] else -1.0
    # A model exactly as good as the fourth-best of the 8 shuffles (ties count as as close).
    model = sorted(null, key=lambda v: -sign * v)[3]
    share = np.mean([sign * v >= sign * model - 1e-12 for v in null])
    assert share == 0.5
    pairs = PairScores(
        position=np.array([0, 1, 2, 3]),
        country=np.full(4, ds.country_index["France"]),
        similarity=np.array([model, model, model, 0.123]),
    )
    r = 20_000
    france = stats.baselines(ds, metric=metric, model_pairs=pairs, n_permutations=r).get("France")
    assert france is not None and france.p_value is not None
    hits = france.p_value * (1 + r) - 1
    assert hits == pytest.approx(round(hits), abs=1e-6)  # (1 + hits) / (1 + R)
    assert france.p_value == pytest.approx((1 + share * r) / (1 + r), abs=4 * np.sqrt(0.25 / r))
    assert france.null_mean == pytest.approx(np.mean(null), abs=0.01)
    assert (france.null_n_questions, france.null_left_out) == (3, 1)
    assert france.null_model == pytest.approx(model, abs=1e-12)
    assert france.model == pytest.approx((3 * model + 0.123) / 4, abs=1e-12)


def test_other_samples_of_the_same_country_are_not_shuffled_in(write_csv: WriteCsv) -> None:
    current, old = "India (Current national sample)", "India (Old national sample)"
    rows: list[Row] = [
        ("Q?", {current: [0.7, 0.3], old: [0.7, 0.3], "France": [0.2, 0.8]}, ["Yes", "No"], "GAS")
    ]
    ds = dataset_of(write_csv, rows)
    pairs = metrics.pair_values(ds, np.array([0]), np.array([[0.6, 0.4]]), "jsd")
    apart = stats.baselines(ds, model_pairs=pairs, n_permutations=2000).get(current)
    assert apart is not None and apart.p_value == 1 / 2001  # only France: never as close
    mixed = stats.baselines(ds, model_pairs=pairs, n_permutations=2000, exclude_same_iso2=False)
    row = mixed.get(current)
    assert row is not None and row.p_value is not None and 0.4 < row.p_value < 0.6


def test_null_is_seeded(varied: Dataset) -> None:
    pairs = scores_of(varied, np.random.default_rng(3).dirichlet(np.ones(4), len(varied)), "jsd")
    one = stats.baselines(varied, model_pairs=pairs, n_permutations=300, seed=5)
    assert one == stats.baselines(varied, model_pairs=pairs, n_permutations=300, seed=5)
    other = stats.baselines(varied, model_pairs=pairs, n_permutations=300, seed=6)
    assert [c.p_value for c in one.countries] != [c.p_value for c in other.countries]
    ps = [c.p_value for c in one.countries]
    assert any(p is not None and 0.05 < p < 0.95 for p in ps)  # not only 1/(R+1) or 1
    data = json.loads(json.dumps(one.to_json()))
    assert data["null"] == {
        "test": "shuffled country, one-sided",
        "n_permutations": 300,
        "seed": 5,
        "correction": "benjamini-hochberg",
    }
    assert data["countries"][0]["p_value"] == one.countries[0].p_value


def test_q_values_are_benjamini_hochberg_across_countries(varied: Dataset) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    model = 0.5 * people_of(varied, "France") + 0.5 * people_of(varied, "Brazil")
    pairs = scores_of(varied, model, "jsd")
    result = stats.baselines(varied, model_pairs=pairs, n_permutations=400)
    p = np.array([c.p_value for c in result.countries], dtype=float)
    q = np.array([c.q_value for c in result.countries], dtype=float)
    assert len(set(p.tolist())) > 2
    if hasattr(scipy_stats, "false_discovery_control"):
        np.testing.assert_allclose(q, scipy_stats.false_discovery_control(p), atol=1e-12)
    np.testing.assert_allclose(q, stats.benjamini_hochberg(p), atol=0)
    assert (q >= p).all()


# --------------------------------------------------------------------------- lift


@pytest.mark.parametrize("metric", ["jsd", "kl"])
def test_lift_is_positive_when_the_model_beats_every_baseline(
    varied: Dataset, metric: MetricName
) -> None:
    sign = 1.0 if metrics.HIGHER_IS_BETTER[metric] else -1.0
    for probs, beats in ((people_of(varied, "France"), True), (None, False)):
        if probs is None:  # always the country's least likely answer: worse than anything
            probs = np.zeros((len(varied), varied.kmax))
            fr = people_of(varied, "France")[:, :4]
            probs[np.arange(len(varied)), np.argmin(fr, axis=1)] = 1.0
        pairs = scores_of(varied, probs, metric)
        france = stats.baselines(varied, metric=metric, model_pairs=pairs).get("France")
        assert france is not None and france.model is not None and france.lift is not None
        offered = {
            "uniform": france.uniform,
            "population average": france.population_average,
            "best other country": france.best_other_similarity,
        }
        best_name = max(offered, key=lambda name: sign * offered[name])  # type: ignore[operator]
        assert france.best_baseline == best_name
        best = offered[best_name]
        assert best is not None
        expected = france.model - best if sign > 0 else best - france.model
        assert france.lift == pytest.approx(expected, abs=1e-15)
        assert (france.lift > 0) is beats
        if metric == "kl" and beats:
            assert france.model == pytest.approx(0.0, abs=1e-12)  # the French themselves


def test_uniform_model_has_no_lift_over_the_uniform_baseline(varied: Dataset) -> None:
    uniform = metrics.uniform_probs(varied, np.arange(len(varied)))
    for metric in ("jsd", "kl"):
        result = stats.baselines(
            varied, metric=metric, model_pairs=scores_of(varied, uniform, metric)
        )
        for row in result.countries:
            assert row.model == pytest.approx(row.uniform, abs=1e-12)
            assert row.lift is not None and row.lift <= 1e-12
            if row.best_baseline == "uniform":
                assert row.lift == pytest.approx(0.0, abs=1e-12)


def test_without_a_model_there_is_no_null_and_no_lift(varied: Dataset) -> None:
    result = stats.baselines(varied)
    assert result.n_permutations == 0
    for row in result.countries:
        assert row.population_average is not None
        assert row.model is row.lift is row.p_value is row.q_value is row.best_baseline is None


# --------------------------------------------------------------------------- kl direction


def two_country_pairs(ds: Dataset, fr: np.ndarray, de: np.ndarray) -> PairScores:
    n = fr.size
    return PairScores(
        position=np.r_[np.arange(n), np.arange(n)].astype(np.int64),
        country=np.r_[
            np.full(n, ds.country_index["France"]), np.full(n, ds.country_index["Brazil"])
        ],
        similarity=np.r_[fr, de],
    )


def test_bootstrap_order_under_kl_is_lowest_first(varied: Dataset) -> None:
    rng = np.random.default_rng(2)
    pairs = two_country_pairs(varied, rng.uniform(0.1, 0.3, 30), rng.uniform(0.5, 0.9, 30))
    kl = stats.bootstrap(varied, pairs, n_resamples=200, metric="kl")
    assert [i.country for i in kl.intervals] == ["France", "Brazil"]
    assert kl.meta_json()["metric"] == "kl"
    default = stats.bootstrap(varied, pairs, n_resamples=200)
    assert [i.country for i in default.intervals] == ["Brazil", "France"]
    assert "metric" not in default.meta_json()
    # Same resamples, same intervals: only the order follows the metric.
    assert kl.get("France") == default.get("France")


def test_compare_counts_lower_kl_as_better(varied: Dataset) -> None:
    rng = np.random.default_rng(7)
    a_fr, a_de = rng.uniform(0.3, 0.6, 30), rng.uniform(0.3, 0.6, 30)
    a = two_country_pairs(varied, a_fr, a_de)
    shift = rng.normal(0.1, 0.01, 30)
    b = two_country_pairs(varied, a_fr - shift, a_de + shift)  # France closer, Brazil farther
    kl = stats.compare(varied, a, b, metric="kl")
    assert [c.country for c in kl.countries] == ["France", "Brazil"]  # largest improvement first
    assert (kl.n_better, kl.n_worse) == (1, 1)
    fr = kl.get("France")
    assert fr is not None and fr.diff == pytest.approx(-shift.mean(), abs=1e-12)
    data = json.loads(json.dumps(kl.to_json()))
    assert data["metric"] == "kl" and data["higher_is_better"] is False
    # Under a similarity the same numbers read the other way round.
    jsd = stats.compare(varied, a, b)
    assert [c.country for c in jsd.countries] == ["Brazil", "France"]
    assert (jsd.n_better, jsd.n_worse) == (1, 1)
    assert jsd.metric == "jsd" and "metric" not in jsd.to_json()
    assert [c.p_value for c in jsd.countries] == [c.p_value for c in kl.countries][::-1]
    # One-sided improvement: both countries better under kl.
    better = stats.compare(
        varied, a, two_country_pairs(varied, a_fr - shift, a_de - shift), metric="kl"
    )
    assert (better.n_better, better.n_worse) == (2, 0)


def test_compare_scores_distributions_with_the_metric(varied: Dataset) -> None:
    rng = np.random.default_rng(9)
    pos = np.arange(len(varied))
    probs_a = rng.dirichlet(np.ones(4), len(varied))
    probs_b = 0.2 * probs_a + 0.8 * people_of(varied, "Chile")[:, :4]
    from_probs = stats.compare(varied, (pos, probs_a), (pos, probs_b), metric="kl")
    from_pairs = stats.compare(
        varied,
        metrics.pair_values(varied, pos, probs_a, "kl"),
        metrics.pair_values(varied, pos, probs_b, "kl"),
        metric="kl",
    )
    assert from_probs == from_pairs
    chile = from_probs.get("Chile")
    assert chile is not None and chile.diff < 0 and from_probs.countries[0].country == "Chile"


def test_unknown_metric_is_refused(varied: Dataset) -> None:
    from core.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="Unknown metric"):
        stats.baselines(varied, metric="l2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_permutations"):
        stats.baselines(
            varied,
            model_pairs=scores_of(varied, people_of(varied, "Egypt"), "jsd"),
            n_permutations=0,
        )
