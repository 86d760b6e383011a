"""core.metrics beyond the paper's metric: every metric of issue 12 per (question, country) pair,
checked against independent implementations (scipy and hand-written loops), and ranked per
country with the default metric giving exactly today's scores."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, wasserstein_distance
from support.dataset_csv import Row, WriteCsv

from core import metrics
from core.dataset import Dataset, parse_csv
from core.errors import InvalidValueError
from core.metrics import KL_EPSILON, MetricName, Policy
from core.ordinal import scale

COUNTRIES = ("Albania", "Brazil", "Chile", "Denmark", "Egypt")
NOMINAL = ("Apples", "Pears", "Plums", "Figs", "Dates", "Limes")
LN2 = math.log(2.0)


def random_vector(rng: np.random.Generator, k: int) -> np.ndarray:
    """Non-negative, unnormalised, often with zeros; never all zero."""
    v = rng.random(k) * rng.choice([0.01, 1.0, 7.0])
    v[rng.random(k) < 0.3] = 0.0
    if not v.any():
        v[rng.integers(k)] = rng.random() + 0.1
    return v


def random_rows(seed: int, n: int = 60) -> list[Row]:
    """Numeric scales published out of order, nominal lists, some with DK/Refused; some
    countries with all-zero or DK-only rows; a few one-hot and identical rows."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for i in range(n):
        k = int(rng.integers(2, 7))
        if i % 3 == 2:
            options = list(NOMINAL[:k])
        else:
            options = [str(int(x)) for x in rng.permutation(k)]  # "2", "0", "3", "1", ...
        dk = bool(rng.random() < 0.4)
        if dk:
            options.insert(int(rng.integers(0, k + 1)), "DK/Refused")
        width = len(options)
        selections: dict[str, list[float]] = {}
        for c in COUNTRIES:
            roll = rng.random()
            if roll < 0.08:
                values = np.zeros(width)  # no data
            elif roll < 0.16 and dk:
                values = np.array([1.0 if o == "DK/Refused" else 0.0 for o in options])
            elif roll < 0.26:
                values = np.eye(width)[int(rng.integers(width))]  # one-hot
            else:
                values = random_vector(rng, width)
            selections[c] = [float(x) for x in values]
        rows.append((f"Question {i}?", selections, options, "GAS"))
    return rows


def random_model(ds: Dataset, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    probs = np.zeros((len(ds), ds.kmax))
    for pos in range(len(ds)):
        k = int(ds.n_options[pos])
        q = ds.at(pos)
        roll = rng.random()
        if roll < 0.1 and q.countries:
            probs[pos, :k] = q.human[0]  # identical to the first country (may be all zero)
        elif roll < 0.2:
            probs[pos, int(rng.integers(k))] = 1.0  # one-hot (may be on DK/Refused)
        if probs[pos].sum() == 0:
            probs[pos, :k] = random_vector(rng, k)
    return probs


# --------------------------------------------------------------------------- references


def ref_jsd(p: np.ndarray, h: np.ndarray) -> float:
    return 1.0 - float(jensenshannon(p, h, base=2))


def ref_jsd_e(p: np.ndarray, h: np.ndarray) -> float:
    return 1.0 - float(jensenshannon(p, h))  # scipy's default: natural logarithm


def ref_tv(p: np.ndarray, h: np.ndarray) -> float:
    p, h = p / p.sum(), h / h.sum()
    return 1.0 - 0.5 * sum(abs(a - b) for a, b in zip(p, h, strict=True))


def ref_cosine(p: np.ndarray, h: np.ndarray) -> float:
    dot = sum(a * b for a, b in zip(p, h, strict=True))
    return dot / (math.sqrt(sum(a * a for a in p)) * math.sqrt(sum(b * b for b in h)))


def smooth(x: np.ndarray) -> np.ndarray:
    x = x / x.sum()
    return (x + KL_EPSILON) / (1.0 + len(x) * KL_EPSILON)


def ref_kl(p: np.ndarray, h: np.ndarray) -> float:
    """KL(country || model) in bits, both smoothed."""
    return float(entropy(smooth(h), smooth(p), base=2))


def ref_argmax(p: np.ndarray, h: np.ndarray) -> float:
    p, h = p / p.sum(), h / h.sum()
    model_top = {i for i, x in enumerate(p) if x >= p.max() - 1e-12}
    country_top = {i for i, x in enumerate(h) if x >= h.max() - 1e-12}
    return len(model_top & country_top) / len(model_top)


Reference = Callable[[np.ndarray, np.ndarray], float]
REFERENCES: dict[MetricName, Reference] = {
    "jsd": ref_jsd,
    "jsd-e": ref_jsd_e,
    "tv": ref_tv,
    "cosine": ref_cosine,
    "kl": ref_kl,
    "argmax": ref_argmax,
}


def naive_pairs(
    ds: Dataset, probs: np.ndarray, metric: MetricName, policy: Policy
) -> dict[tuple[int, int], float]:
    """(position, country index) -> value, by an explicit loop over questions and countries."""
    out: dict[tuple[int, int], float] = {}
    for pos in range(len(ds)):
        q = ds.at(pos)
        k = len(q.options)
        if metric == "wasserstein":
            # Independent of core.ordinal: these test questions are numeric or nominal.
            if any(o in NOMINAL for o in q.options):
                continue
            keep = sorted(
                (i for i in range(k) if q.options[i] != "DK/Refused"),
                key=lambda i: float(q.options[i]),
            )
        else:
            keep = [i for i in range(k) if policy == "keep" or not q.nonsubstantive[i]]
        p = probs[pos, keep]
        if p.sum() <= 0:
            continue
        for country, row in zip(q.countries, q.human, strict=True):
            h = row[keep]
            if h.sum() <= 0:
                continue
            ci = ds.country_index[country]
            if metric == "wasserstein":
                points = np.arange(len(keep), dtype=float)
                w1 = wasserstein_distance(points, points, u_weights=p, v_weights=h)
                out[pos, ci] = 1.0 - w1 / (len(keep) - 1)
            else:
                out[pos, ci] = REFERENCES[metric](p, h)
    return out


def as_dict(pairs: metrics.PairScores) -> dict[tuple[int, int], float]:
    got = {
        (int(p), int(c)): float(v)
        for p, c, v in zip(pairs.position, pairs.country, pairs.similarity, strict=True)
    }
    assert len(got) == len(pairs.similarity)  # no pair twice
    return got


@pytest.fixture
def random_ds(write_csv: WriteCsv) -> Dataset:
    return parse_csv(write_csv(random_rows(seed=20231012)).read_bytes())


# --------------------------------------------------------------------------- names


def test_parse_metric_accepts_every_name() -> None:
    assert metrics.METRIC_NAMES == ("jsd", "jsd-e", "tv", "wasserstein", "kl", "cosine", "argmax")
    for name in metrics.METRIC_NAMES:
        assert metrics.parse_metric(name) == name
    assert metrics.parse_metric("  TV ") == "tv"
    assert metrics.parse_metric("JSD-E") == "jsd-e"
    assert metrics.DEFAULT_METRIC == "jsd"


@pytest.mark.parametrize("bad", ["emd", "", "js", "jsd_e"])
def test_parse_metric_rejects_unknown_names(bad: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        metrics.parse_metric(bad)
    message = str(caught.value)
    assert f"Unknown metric {bad!r}" in message
    assert "jsd, jsd-e, tv, wasserstein, kl, cosine, argmax" in message
    assert isinstance(caught.value, ValueError)


def test_tables_cover_every_metric() -> None:
    assert set(metrics.METRIC_INFO) == set(metrics.METRIC_NAMES)
    assert all(text and "\n" not in text for text in metrics.METRIC_INFO.values())
    assert {m for m, up in metrics.HIGHER_IS_BETTER.items() if not up} == {"kl"}
    assert set(metrics.HIGHER_IS_BETTER) == set(metrics.METRIC_NAMES)


def test_unknown_metric_and_policy_are_refused(sample: Dataset) -> None:
    pos = np.arange(3)
    probs = metrics.uniform_probs(sample, pos)
    with pytest.raises(InvalidValueError, match="Unknown metric 'TV'"):
        metrics.pair_values(sample, pos, probs, "TV")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-substantive policy"):
        metrics.pair_values(sample, pos, probs, "tv", "ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- against references


@pytest.mark.parametrize("policy", ["keep", "drop"])
@pytest.mark.parametrize("metric", metrics.METRIC_NAMES)
def test_every_metric_matches_its_reference(
    random_ds: Dataset, metric: MetricName, policy: Policy
) -> None:
    probs = random_model(random_ds, seed=5)
    expected = naive_pairs(random_ds, probs, metric, policy)
    got = as_dict(metrics.pair_values(random_ds, np.arange(len(random_ds)), probs, metric, policy))
    assert set(got) == set(expected)
    assert len(got) > 120  # the data really has pairs of every kind
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-10, abs=1e-12), (metric, key)


@pytest.mark.parametrize("metric", metrics.METRIC_NAMES)
def test_a_shuffled_subset_scores_the_same_pairs(random_ds: Dataset, metric: MetricName) -> None:
    probs = random_model(random_ds, seed=6)
    every = as_dict(metrics.pair_values(random_ds, np.arange(len(random_ds)), probs, metric))
    subset = np.random.default_rng(1).permutation(len(random_ds))[:25]
    some = as_dict(metrics.pair_values(random_ds, subset, probs[subset], metric))
    assert some and set(some) == {k for k in every if k[0] in set(subset.tolist())}
    for key, value in some.items():
        assert value == every[key]


def test_the_edge_cases_were_exercised(random_ds: Dataset) -> None:
    # The random data above must contain what the brief calls edge cases.
    probs = random_model(random_ds, seed=5)
    pairs = metrics.pair_values(random_ds, np.arange(len(random_ds)), probs, "tv")
    assert (pairs.similarity == 1.0).sum() >= 3  # identical
    assert (pairs.similarity <= 1e-12).sum() >= 3  # disjoint one-hot rows
    dropped = metrics.pair_values(random_ds, np.arange(len(random_ds)), probs, "tv", "drop")
    assert len(dropped.similarity) < len(pairs.similarity)  # DK-only rows leave under drop
    zero_rows = int((random_ds.pair_human.sum(axis=1) == 0).sum())
    assert zero_rows >= 5 and len(pairs.similarity) <= len(random_ds.pair_question) - zero_rows


# --------------------------------------------------------------------------- hand-computed values


def one_question(write_csv: WriteCsv, options: list[str], **countries: list[float]) -> Dataset:
    return parse_csv(write_csv([("Q?", countries, options, "GAS")]).read_bytes())


def value(ds: Dataset, p: list[float], metric: MetricName, policy: Policy = "keep") -> float:
    pairs = metrics.pair_values(ds, np.array([0]), np.array([p]), metric, policy)
    assert len(pairs.similarity) == 1
    return float(pairs.similarity[0])


def test_identical_distributions_are_best_under_every_metric(write_csv: WriteCsv) -> None:
    ds = one_question(write_csv, ["0", "1", "2"], A=[0.2, 0.3, 0.5])
    best = {"jsd": 1.0, "jsd-e": 1.0, "tv": 1.0, "wasserstein": 1.0, "kl": 0.0}
    best |= {"cosine": 1.0, "argmax": 1.0}
    for metric in metrics.METRIC_NAMES:
        assert value(ds, [2.0, 3.0, 5.0], metric) == pytest.approx(best[metric], abs=1e-12)


def test_disjoint_one_hot_answers(write_csv: WriteCsv) -> None:
    ds = one_question(write_csv, ["0", "1", "2"], A=[0.0, 0.0, 1.0])
    p = [1.0, 0.0, 0.0]
    assert value(ds, p, "jsd") == pytest.approx(0.0, abs=1e-12)
    # Natural log: the distance of disjoint supports is sqrt(ln 2), not 1.
    assert value(ds, p, "jsd-e") == pytest.approx(1.0 - math.sqrt(LN2), abs=1e-12)
    assert value(ds, p, "tv") == pytest.approx(0.0, abs=1e-12)
    assert value(ds, p, "cosine") == pytest.approx(0.0, abs=1e-12)
    assert value(ds, p, "argmax") == 0.0
    assert value(ds, p, "wasserstein") == pytest.approx(0.0, abs=1e-12)  # W1 = 2 = K - 1
    e = KL_EPSILON
    kl = (e * math.log2(e / (1 + e)) + (1 + e) * math.log2((1 + e) / e)) / (1 + 3 * e)
    assert value(ds, p, "kl") == pytest.approx(kl, rel=1e-12)
    assert value(ds, p, "kl") == pytest.approx(19.93, abs=0.01)  # bits: in nats 13.8


def test_one_step_on_the_scale(write_csv: WriteCsv) -> None:
    ds = one_question(write_csv, ["0", "1", "2", "3", "4"], A=[0.0, 1.0, 0.0, 0.0, 0.0])
    # One step of four: 1 - 1/4; tv cannot tell a near miss from a far one.
    assert value(ds, [1.0, 0, 0, 0, 0], "wasserstein") == pytest.approx(0.75, abs=1e-12)
    assert value(ds, [0, 0, 0, 0, 1.0], "wasserstein") == pytest.approx(0.25, abs=1e-12)
    assert value(ds, [1.0, 0, 0, 0, 0], "tv") == value(ds, [0, 0, 0, 0, 1.0], "tv") == 0.0


def test_kl_is_country_given_model(write_csv: WriteCsv) -> None:
    ds = one_question(write_csv, ["a", "b"], A=[0.5, 0.5])
    # KL(country || model): a model that rules out an answer half the people gave pays
    # ~ 0.5 log2(0.5 / 1) + 0.5 log2(0.5 / 1e-6) bits; the other direction is exactly 1 bit.
    got = value(ds, [1.0, 0.0], "kl")
    assert got == pytest.approx(ref_kl(np.array([1.0, 0.0]), np.array([0.5, 0.5])), rel=1e-12)
    assert got == pytest.approx(0.5 * math.log2(0.5) + 0.5 * math.log2(0.5 / 1e-6), abs=0.01)
    assert float(entropy([1.0, 0.0], [0.5, 0.5], base=2)) == pytest.approx(1.0)
    assert value(ds, [0.5, 0.5], "kl") == pytest.approx(0.0, abs=1e-15)


def test_cosine_and_tv_by_hand(write_csv: WriteCsv) -> None:
    ds = one_question(write_csv, ["a", "b", "c"], A=[0.0, 3.0, 4.0])
    # p = [1, 1, 0]/2, h = [0, 3, 4]/7: cos = 3 / (sqrt 2 * 5); tv = 1/2 (1/2 + |1/2 - 3/7| + 4/7)
    assert value(ds, [1.0, 1.0, 0.0], "cosine") == pytest.approx(3 / (math.sqrt(2) * 5), abs=1e-15)
    tv = 0.5 * (0.5 + abs(0.5 - 3 / 7) + 4 / 7)
    assert value(ds, [1.0, 1.0, 0.0], "tv") == pytest.approx(1 - tv, abs=1e-15)


@pytest.mark.parametrize(
    ("p", "h", "expected"),
    [
        ([1, 1, 1], [0.5, 0.5, 0.0], 2 / 3),  # model tied three ways, two are the country's
        ([1, 1, 1], [0.6, 0.2, 0.2], 1 / 3),  # not 1: the first listed option is no winner
        ([0.5, 0.5, 0.0], [0.2, 0.2, 0.6], 0.0),
        ([0.4, 0.6, 0.0], [0.6, 0.4, 0.0], 0.0),
        ([0.1, 0.6, 0.3], [0.3, 0.35, 0.35], 1.0),  # the country is tied: either top counts
        ([0.1, 0.3, 0.6], [0.3, 0.35, 0.35], 1.0),
    ],
)
def test_argmax_ties(write_csv: WriteCsv, p: list[float], h: list[float], expected: float) -> None:
    ds = one_question(write_csv, ["a", "b", "c"], A=h)
    assert value(ds, [float(x) for x in p], "argmax") == pytest.approx(expected, abs=1e-15)


def test_policy_applies_to_every_metric(write_csv: WriteCsv) -> None:
    ds = one_question(write_csv, ["Yes", "No", "DK/Refused"], A=[0.3, 0.3, 0.4], B=[0, 0, 1.0])
    p = np.array([[0.6, 0.2, 0.2]])
    for metric in ("jsd", "jsd-e", "tv", "kl", "cosine", "argmax"):
        keep = metrics.pair_values(ds, np.array([0]), p, metric, "keep")
        drop = metrics.pair_values(ds, np.array([0]), p, metric, "drop")
        assert keep.country.tolist() == [0, 1] and drop.country.tolist() == [0], metric
        ref = REFERENCES[metric]
        assert drop.similarity[0] == pytest.approx(
            ref(np.array([0.6, 0.2]), np.array([0.3, 0.3])), abs=1e-12
        )
        assert keep.similarity[0] == pytest.approx(
            ref(np.array([0.6, 0.2, 0.2]), np.array([0.3, 0.3, 0.4])), rel=1e-10, abs=1e-12
        )
    # A model whose mass is all on the dropped option scores nothing under drop.
    dk_only = np.array([[0.0, 0.0, 1.0]])
    for metric in metrics.METRIC_NAMES:
        assert len(metrics.pair_values(ds, np.array([0]), dk_only, metric, "drop").position) == 0


# --------------------------------------------------------------------------- ordinal order


def test_an_out_of_order_numeric_scale_is_ordered_by_number(write_csv: WriteCsv) -> None:
    # Published "2, 0, 1": the model says 0, people say 2, two steps of two apart. In the
    # published order the two options would be neighbours (value 0.5).
    ds = one_question(write_csv, ["2", "0", "1"], A=[1.0, 0.0, 0.0])
    assert scale(ds.options[0], [False] * 3).order == (1, 2, 0)
    assert value(ds, [0.0, 1.0, 0.0], "wasserstein") == pytest.approx(0.0, abs=1e-12)
    assert value(ds, [0.0, 0.0, 1.0], "wasserstein") == pytest.approx(0.5, abs=1e-12)


def test_an_out_of_order_word_scale_is_ordered_by_scale(write_csv: WriteCsv) -> None:
    # "Better, Worse, About the same": on the scale About the same lies between the others.
    ds = one_question(write_csv, ["Better", "Worse", "About the same"], A=[0.0, 0.0, 1.0])
    assert scale(ds.options[0], [False] * 3).order == (0, 2, 1)
    assert value(ds, [1.0, 0.0, 0.0], "wasserstein") == pytest.approx(0.5, abs=1e-12)
    assert value(ds, [0.0, 1.0, 0.0], "wasserstein") == pytest.approx(0.5, abs=1e-12)
    worse = one_question(write_csv, ["Better", "Worse", "About the same"], A=[0.0, 1.0, 0.0])
    assert value(worse, [1.0, 0.0, 0.0], "wasserstein") == pytest.approx(0.0, abs=1e-12)
    expected = wasserstein_distance([0, 1, 2], [0, 1, 2], [0.5, 0.3, 0.2], [0.0, 0.0, 1.0]) / 2
    assert value(worse, [0.5, 0.2, 0.3], "wasserstein") == pytest.approx(1 - expected, abs=1e-12)


def test_wasserstein_leaves_out_dk_and_nominal_questions(write_csv: WriteCsv) -> None:
    rows: list[Row] = [
        ("Scale?", {"A": [0.0, 0.5, 0.5, 0.0]}, ["0", "DK/Refused", "1", "2"], "GAS"),
        ("Fruit?", {"A": [0.2, 0.8, 0.0]}, ["Apples", "Pears", "Plums"], "GAS"),
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    assert not scale(ds.options[1], [False] * 3).ordinal
    probs = np.array([[0.0, 0.9, 0.1, 0.0], [0.2, 0.8, 0.0, 0.0]])
    for policy in metrics.POLICIES:
        pairs = metrics.pair_values(ds, np.arange(2), probs, "wasserstein", policy)
        assert pairs.position.tolist() == [0]  # the nominal question has no pair
        # Scale 0, 1, 2: model all on 1, people all on 1 once DK is set aside.
        assert pairs.similarity[0] == pytest.approx(1.0, abs=1e-12)
    scores = metrics.score_with(ds, np.arange(2), probs, "wasserstein")
    assert scores.n_questions_scored == 1
    assert scores.countries[0].n_questions == 1


def test_a_two_point_scale_is_tv(write_csv: WriteCsv) -> None:
    ds = one_question(write_csv, ["Agree", "Disagree"], A=[0.7, 0.3])
    assert scale(ds.options[0], [False, False]).ordinal
    assert value(ds, [0.2, 0.8], "wasserstein") == pytest.approx(value(ds, [0.2, 0.8], "tv"))
    assert value(ds, [0.2, 0.8], "wasserstein") == pytest.approx(0.5, abs=1e-12)


# --------------------------------------------------------------------------- the sample


def sample_model(ds: Dataset, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    probs = np.zeros((len(ds), ds.kmax))
    for pos in range(len(ds)):
        k = int(ds.n_options[pos])
        probs[pos, :k] = rng.dirichlet(np.ones(k))
    return probs


@pytest.mark.parametrize("policy", ["keep", "drop"])
def test_jsd_is_todays_score_on_the_sample(sample: Dataset, policy: Policy) -> None:
    positions = np.arange(len(sample))
    probs = sample_model(sample, seed=11)
    today = metrics.score(sample, positions, probs, policy)
    now = metrics.score_with(sample, positions, probs, "jsd", policy)
    assert now.countries == today.countries  # the same countries, order and numbers
    assert now.n_questions_scored == today.n_questions_scored and now.metric == today.metric
    for field in ("position", "country", "similarity"):
        np.testing.assert_array_equal(getattr(now.pairs, field), getattr(today.pairs, field))
    assert now.to_json() == today.to_json() and "metric" not in now.to_json()
    assert len(now.countries) == 128
    pairs = metrics.pair_values(sample, positions, probs, policy=policy)
    np.testing.assert_allclose(pairs.similarity, today.pairs.similarity, rtol=0, atol=1e-12)
    by_country = {c.country: c.similarity for c in today.countries}
    for c in now.countries:
        assert c.similarity == pytest.approx(by_country[c.country], abs=1e-12)


def test_jsd_e_ranks_like_jsd_with_lower_values(sample: Dataset) -> None:
    positions = np.arange(len(sample))
    probs = sample_model(sample, seed=12)
    base2 = metrics.score_with(sample, positions, probs, "jsd")
    natural = metrics.score_with(sample, positions, probs, "jsd-e")
    assert [c.country for c in natural.countries] == [c.country for c in base2.countries]
    for a, b in zip(base2.countries, natural.countries, strict=True):
        assert b.similarity == pytest.approx(1 - math.sqrt(LN2) * (1 - a.similarity), abs=1e-12)
        assert b.similarity > a.similarity  # 1 - 0.83 d > 1 - d


def test_wasserstein_only_on_the_samples_ordinal_questions(sample: Dataset) -> None:
    positions = np.arange(len(sample))
    ordinal = {
        p
        for p in range(len(sample))
        if scale(
            sample.options[p],
            [bool(f) for f in sample.nonsubstantive[p, : sample.n_options[p]]],
            sample.keys[p],
        ).ordinal
    }
    assert len(ordinal) == 141
    scores = metrics.score_with(
        sample, positions, metrics.uniform_probs(sample, positions), "wasserstein"
    )
    assert set(scores.pairs.position.tolist()) == ordinal
    assert scores.n_questions_scored == 141
    orders = metrics.scale_orders(sample)
    assert set(np.flatnonzero(orders.ordinal).tolist()) == ordinal
    assert metrics.scale_orders(sample) is orders  # classified once per dataset


def test_wasserstein_on_the_sample_matches_scipy(sample: Dataset) -> None:
    positions = np.arange(len(sample))
    probs = sample_model(sample, seed=13)
    got = as_dict(metrics.pair_values(sample, positions, probs, "wasserstein"))
    checked = 0
    for pos in range(len(sample)):
        q = sample.at(pos)
        found = scale(q.options, [bool(f) for f in q.nonsubstantive], q.key)
        if not found.ordinal:
            continue
        order = list(found.order)
        points = np.arange(len(order), dtype=float)
        for country, row in zip(q.countries, q.human, strict=True):
            if row[order].sum() <= 0:
                assert (pos, sample.country_index[country]) not in got
                continue
            w1 = wasserstein_distance(points, points, probs[pos, order], row[order])
            key = (pos, sample.country_index[country])
            assert got[key] == pytest.approx(1 - w1 / (len(order) - 1), abs=1e-12)
            checked += 1
    assert checked == len(got) > 1000


def test_kl_ranks_lowest_first(sample: Dataset) -> None:
    positions = np.arange(len(sample))
    probs = sample_model(sample, seed=14)
    scores = metrics.score_with(sample, positions, probs, "kl", min_questions=5)
    values = [c.similarity for c in scores.countries]
    assert values == sorted(values) and values[0] < values[-1]
    assert all(c.n_questions >= 5 for c in scores.countries)
    head = scores.to_json()
    assert head["metric"] == "kl" and head["higher_is_better"] is False
    assert "jsd_base" not in head and scores.metric == "kl"


@pytest.mark.parametrize("metric", metrics.METRIC_NAMES)
def test_country_scores_are_means_of_pair_values(sample: Dataset, metric: MetricName) -> None:
    positions = np.arange(len(sample))
    probs = sample_model(sample, seed=15)
    scores = metrics.score_with(sample, positions, probs, metric)
    pairs = scores.pairs
    for c in scores.countries[:10]:
        mine = pairs.similarity[pairs.country == sample.country_index[c.country]]
        assert c.n_questions == len(mine)
        assert c.similarity == pytest.approx(float(np.mean(mine)), abs=1e-12)
    values = [c.similarity for c in scores.countries]
    assert values == sorted(values, reverse=metrics.HIGHER_IS_BETTER[metric])
