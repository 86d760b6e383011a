"""core.breakdown: rank stability across metrics (Kendall's τ, movers), human-entropy terciles
and scores split by tercile, source and scale, on constructed data with hand-computed answers."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from scipy.stats import kendalltau
from support.dataset_csv import Row, WriteCsv

from core import breakdown, metrics
from core.dataset import Dataset, parse_csv
from core.errors import InvalidValueError
from core.metrics import PairScores

SCALE3 = ["1", "2", "3"]
MODEL_Q1 = [0.5, 0.3, 0.2]


# --------------------------------------------------------------------------- rank stability


@pytest.fixture
def ranked_ds(write_csv: WriteCsv) -> Dataset:
    """Question 0 (ordinal, 1-2-3) asked in Albania..Denmark; question 1 (nominal) in Egypt.

    Against the model [0.5, 0.3, 0.2] on question 0, by hand:

    ========  ===============  ====  ===========  =====
    country   people           tv    wasserstein  jsd
    ========  ===============  ====  ===========  =====
    Albania   [.5, .5, 0]      0.8   0.9          0.656
    Brazil    [.2, .3, .5]     0.7   0.7          0.690
    Chile     [.1, .1, .8]     0.4   0.5          0.469
    Denmark   [0, 0, 1]        0.2   0.35         lower
    ========  ===============  ====  ===========  =====

    tv and jsd swap Albania and Brazil. Egypt answers question 1 exactly as the model does
    (tv = jsd = 1, first) and has no ordinal question, so wasserstein does not rank it.
    """
    rows: list[Row] = [
        (
            "Scale?",
            {
                "Albania": [0.5, 0.5, 0.0],
                "Brazil": [0.2, 0.3, 0.5],
                "Chile": [0.1, 0.1, 0.8],
                "Denmark": [0.0, 0.0, 1.0],
            },
            SCALE3,
            "GAS",
        ),
        ("Fruit?", {"Egypt": [0.7, 0.3]}, ["Apples", "Pears"], "WVS"),
    ]
    return parse_csv(write_csv(rows).read_bytes())


def model_probs(ds: Dataset) -> np.ndarray:
    return metrics.pad_probs(ds, [np.array(MODEL_Q1), np.array([0.7, 0.3])])


def test_the_constructed_case_is_what_the_docstring_says(ranked_ds: Dataset) -> None:
    assert ranked_ds.countries == ("Albania", "Brazil", "Chile", "Denmark", "Egypt")
    assert metrics.scale_orders(ranked_ds).ordinal.tolist() == [True, False]
    pos, probs = np.arange(2), model_probs(ranked_ds)
    tv = metrics.score_with(ranked_ds, pos, probs, "tv")
    assert [(c.country, round(c.similarity, 12)) for c in tv.countries] == [
        ("Egypt", 1.0),
        ("Albania", 0.8),
        ("Brazil", 0.7),
        ("Chile", 0.4),
        ("Denmark", 0.2),
    ]
    w = metrics.score_with(ranked_ds, pos, probs, "wasserstein")
    assert [(c.country, round(c.similarity, 12)) for c in w.countries] == [
        ("Albania", 0.9),
        ("Brazil", 0.7),
        ("Chile", 0.5),
        ("Denmark", 0.35),
    ]
    jsd = metrics.score_with(ranked_ds, pos, probs, "jsd")
    assert [c.country for c in jsd.countries] == ["Egypt", "Brazil", "Albania", "Chile", "Denmark"]


def test_kendall_tau_between_metrics_by_hand(ranked_ds: Dataset) -> None:
    result = breakdown.rank_stability(
        ranked_ds, np.arange(2), model_probs(ranked_ds), metric_names=("jsd", "tv", "wasserstein")
    )
    assert result.metrics == ("jsd", "tv", "wasserstein")
    assert [(g.a, g.b) for g in result.agreements] == [
        ("jsd", "tv"),
        ("jsd", "wasserstein"),
        ("tv", "wasserstein"),
    ]
    jsd_tv = result.agreement("tv", "jsd")
    # Five countries, ten pairs, one discordant (Albania-Brazil): (9 - 1) / 10.
    assert jsd_tv.n_common == 5
    assert jsd_tv.tau == pytest.approx(0.8, abs=1e-12)
    jsd_w = result.agreement("jsd", "wasserstein")
    # Egypt is not ranked by wasserstein: four countries, six pairs, one discordant.
    assert jsd_w.n_common == 4
    assert jsd_w.tau == pytest.approx(4 / 6, abs=1e-12)
    tv_w = result.agreement("tv", "wasserstein")
    assert (tv_w.n_common, tv_w.tau) == (4, pytest.approx(1.0, abs=1e-12))
    assert result.ranking("wasserstein").rank("Egypt") is None
    assert result.ranking("jsd").rank("Egypt") == 1
    assert result.ranking("jsd").ranks == (1, 2, 3, 4, 5)


def test_tied_scores_share_a_rank_and_tau_b_counts_the_ties(ranked_ds: Dataset) -> None:
    result = breakdown.rank_stability(
        ranked_ds, np.arange(2), model_probs(ranked_ds), metric_names=("jsd", "argmax")
    )
    argmax = result.ranking("argmax")
    # The model's top option is 1; Albania is tied between 1 and 2 (a hit), Egypt matches.
    assert [(c.country, c.similarity) for c in argmax.scores.countries] == [
        ("Albania", 1.0),
        ("Egypt", 1.0),
        ("Brazil", 0.0),
        ("Chile", 0.0),
        ("Denmark", 0.0),
    ]
    assert argmax.ranks == (1, 1, 3, 3, 3)
    # jsd: Egypt > Brazil > Albania > Chile > Denmark. Of ten pairs, 5 concordant, 1
    # discordant (Albania-Brazil), 4 tied under argmax: tau-b = (5 - 1) / sqrt(10 * 6).
    tau = result.agreement("jsd", "argmax").tau
    assert tau == pytest.approx(4 / math.sqrt(60), abs=1e-12)
    assert tau == pytest.approx(kendalltau([3, 4, 2, 1, 5], [1, 0, 0, 0, 1]).statistic)


def test_the_countries_that_move_most(ranked_ds: Dataset) -> None:
    result = breakdown.rank_stability(
        ranked_ds,
        np.arange(2),
        model_probs(ranked_ds),
        metric_names=("jsd", "tv", "wasserstein"),
        n_movers=3,
    )
    # Ranks (jsd, tv, wasserstein): Albania 3, 2, 1; Brazil 2, 3, 2; Chile 4, 4, 3;
    # Denmark 5, 5, 4; Egypt 1, 1, -. Spread ties go in country order.
    movers = [(m.country, m.ranks, m.spread, m.best_metric, m.worst_metric) for m in result.movers]
    assert movers == [
        ("Albania", (("jsd", 3), ("tv", 2), ("wasserstein", 1)), 2, "wasserstein", "jsd"),
        ("Brazil", (("jsd", 2), ("tv", 3), ("wasserstein", 2)), 1, "jsd", "tv"),
        ("Chile", (("jsd", 4), ("tv", 4), ("wasserstein", 3)), 1, "wasserstein", "jsd"),
    ]
    every = breakdown.rank_stability(
        ranked_ds,
        np.arange(2),
        model_probs(ranked_ds),
        metric_names=("jsd", "tv", "wasserstein"),
        n_movers=None,
    )
    assert [(m.country, m.spread) for m in every.movers][3:] == [("Denmark", 1), ("Egypt", 0)]
    assert every.movers[-1].ranks == (("jsd", 1), ("tv", 1))


def test_identical_rankings_give_tau_one_and_no_movers(ranked_ds: Dataset) -> None:
    result = breakdown.rank_stability(
        ranked_ds, np.arange(2), model_probs(ranked_ds), metric_names=("jsd", "jsd-e")
    )
    agreement = result.agreement("jsd", "jsd-e")
    assert (agreement.tau, agreement.n_common) == (pytest.approx(1.0, abs=1e-12), 5)
    assert {m.spread for m in result.movers} == {0}


def test_kl_ranks_lowest_first(ranked_ds: Dataset) -> None:
    result = breakdown.rank_stability(
        ranked_ds, np.arange(2), model_probs(ranked_ds), metric_names=("kl", "jsd", "tv")
    )
    kl = result.ranking("kl")
    assert not kl.higher_is_better
    # KL(people || model) in bits, by hand (smoothing aside): Egypt 0, Albania .5 log2(5/3)
    # = .368, Brazil .3 log2(5/2) = .397, Chile 1.21, Denmark log2 5 = 2.32: tv's order.
    assert [(c.country, round(c.similarity, 3)) for c in kl.scores.countries] == [
        ("Egypt", 0.0),
        ("Albania", 0.368),
        ("Brazil", 0.397),
        ("Chile", 1.209),
        ("Denmark", 2.322),
    ]
    assert kl.ranks == (1, 2, 3, 4, 5)
    assert result.agreement("kl", "tv").tau == pytest.approx(1.0, abs=1e-12)  # not -1
    assert result.agreement("kl", "jsd").tau == pytest.approx(0.8, abs=1e-12)


def test_tau_is_none_with_fewer_than_two_common_countries(write_csv: WriteCsv) -> None:
    rows: list[Row] = [
        ("Scale?", {"Albania": [0.2, 0.3, 0.5]}, SCALE3, "GAS"),
        ("Fruit?", {"Brazil": [0.5, 0.5], "Chile": [1.0, 0.0]}, ["Apples", "Pears"], "GAS"),
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    probs = metrics.pad_probs(ds, [np.array(MODEL_Q1), np.array([0.6, 0.4])])
    result = breakdown.rank_stability(ds, np.arange(2), probs, metric_names=("tv", "wasserstein"))
    g = result.agreement("tv", "wasserstein")
    assert (g.tau, g.n_common) == (None, 1)
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["agreements"] == [{"a": "tv", "b": "wasserstein", "tau": None, "n_common": 1}]


def test_rank_stability_json(ranked_ds: Dataset) -> None:
    result = breakdown.rank_stability(ranked_ds, np.arange(2), model_probs(ranked_ds))
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["metrics"] == list(metrics.METRIC_NAMES)
    assert len(data["agreements"]) == 21
    assert len(data["movers"]) == 5
    kl = next(r for r in data["rankings"] if r["metric"] == "kl")
    assert kl["higher_is_better"] is False
    tv = next(r for r in data["rankings"] if r["metric"] == "tv")
    assert tv["countries"][1] == {
        "rank": 2,
        "country": "Albania",
        "display": "Albania",
        "iso2": "AL",
        "value": pytest.approx(0.8),
        "n_questions": 1,
    }
    # Spreads over all seven metrics: Albania 2 (jsd 3, wasserstein 1), Denmark 2 (jsd 5,
    # argmax 3), Brazil 1, Chile 1, Egypt 0 (1 everywhere, unranked by wasserstein).
    assert [(m["country"], m["spread"]) for m in data["movers"]] == [
        ("Albania", 2),
        ("Denmark", 2),
        ("Brazil", 1),
        ("Chile", 1),
        ("Egypt", 0),
    ]
    assert data["movers"][0]["ranks"]["wasserstein"] == 1
    assert "wasserstein" not in data["movers"][4]["ranks"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric_names": ("jsd", "TV")}, "Unknown metric 'TV'"),
        ({"metric_names": ("jsd", "jsd")}, "named twice"),
        ({"metric_names": ()}, "No metric"),
        ({"policy": "ignore"}, "Unknown non-substantive policy 'ignore'"),
        ({"n_movers": -1}, "-1 movers"),
    ],
)
def test_rank_stability_refuses_bad_arguments(
    ranked_ds: Dataset, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidValueError, match=message):
        breakdown.rank_stability(ranked_ds, np.arange(2), model_probs(ranked_ds), **kwargs)  # type: ignore[arg-type]


def test_tau_matches_scipy_on_the_sample_with_ties(sample: Dataset) -> None:
    pos = np.arange(len(sample))
    rng = np.random.default_rng(3)
    probs = np.zeros((len(sample), sample.kmax))
    for p in pos:
        k = int(sample.n_options[p])
        probs[p, :k] = rng.dirichlet(np.ones(k))
    start = time.perf_counter()
    result = breakdown.rank_stability(sample, pos, probs, min_questions=3)
    assert time.perf_counter() - start < 2.0
    checked = 0
    for g in result.agreements:
        a = {c.country: c.similarity for c in result.ranking(g.a).scores.countries}
        b = {c.country: c.similarity for c in result.ranking(g.b).scores.countries}
        common = [c for c in sample.countries if c in a and c in b]
        assert g.n_common == len(common)
        x = [metrics.oriented(g.a, a[c]) for c in common]
        y = [metrics.oriented(g.b, b[c]) for c in common]
        expected = kendalltau(x, y).statistic
        assert g.tau == pytest.approx(expected, abs=1e-12), (g.a, g.b)
        checked += 1
    assert checked == 21
    # argmax means tie (few questions per country): the tie handling was exercised.
    argmax = [c.similarity for c in result.ranking("argmax").scores.countries]
    assert len(set(argmax)) < len(argmax)
    assert result.agreement("jsd", "jsd-e").tau == pytest.approx(1.0, abs=1e-12)
    wasserstein = result.ranking("wasserstein").scores.countries
    assert result.agreement("jsd", "wasserstein").n_common == len(wasserstein)


# --------------------------------------------------------------------------- entropy terciles

YES_NO = ["Apples", "Pears"]
SCALE4 = ["1", "2", "3", "4"]


@pytest.fixture
def entropy_ds(write_csv: WriteCsv) -> Dataset:
    """Six questions in Albania (A) and Brazil (B); normalised entropies by hand, per country
    then their mean under keep / drop:

    - 0: A [1, 0] 0; B [0, 1] 0. Mean 0 / 0.
    - 1: A [1, 0] 0; B [.5, .5] 1. Mean .5 / .5.
    - 2: A and B uniform over 4 options: 2 bits, normalised 1. Mean 1 / 1.
    - 3: A and B [.5, .5]: 1 bit, normalised 1. Mean 1 / 1.
    - 4 (Apples, Pears, DK/Refused): A [.25, .25, .5] 1.5 bits / log2 3 (keep), 1 (drop);
      B DK only: 0 (keep), no data (drop). Mean .4732 / 1.
    - 5: A and B [.5, .5, 0, 0]: 1 bit / 2 = .5. Mean .5 / .5.

    Sources: 0-2 GAS, 3-5 WVS. Scales: 2 and 5 ordinal, the rest nominal.
    """
    rows: list[Row] = [
        ("Q0?", {"Albania": [1.0, 0.0], "Brazil": [0.0, 1.0]}, YES_NO, "GAS"),
        ("Q1?", {"Albania": [1.0, 0.0], "Brazil": [0.5, 0.5]}, YES_NO, "GAS"),
        ("Q2?", {"Albania": [0.25] * 4, "Brazil": [0.25] * 4}, SCALE4, "GAS"),
        ("Q3?", {"Albania": [0.5, 0.5], "Brazil": [0.5, 0.5]}, YES_NO, "WVS"),
        (
            "Q4?",
            {"Albania": [0.25, 0.25, 0.5], "Brazil": [0.0, 0.0, 1.0]},
            [*YES_NO, "DK/Refused"],
            "WVS",
        ),
        ("Q5?", {"Albania": [0.5, 0.5, 0, 0], "Brazil": [0.5, 0.5, 0, 0]}, SCALE4, "WVS"),
    ]
    return parse_csv(write_csv(rows).read_bytes())


Q4_KEEP = 1.5 / math.log2(3) / 2


def test_the_entropy_dataset_is_what_the_docstring_says(entropy_ds: Dataset) -> None:
    assert entropy_ds.sources == ("GAS", "GAS", "GAS", "WVS", "WVS", "WVS")
    assert metrics.scale_orders(entropy_ds).ordinal.tolist() == [
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    assert entropy_ds.nonsubstantive[4, :3].tolist() == [False, False, True]


def test_question_entropy_is_normalised_per_country_and_averaged(entropy_ds: Dataset) -> None:
    positions, entropy = breakdown.question_entropy(entropy_ds)
    assert positions.tolist() == [0, 1, 2, 3, 4, 5]
    # Two uniform questions of 4 and 2 options are equally contested (raw bits: 2 and 1).
    assert entropy == pytest.approx([0.0, 0.5, 1.0, 1.0, Q4_KEEP, 0.5], abs=1e-12)
    positions, entropy = breakdown.question_entropy(entropy_ds, policy="drop")
    assert positions.tolist() == [0, 1, 2, 3, 4, 5]
    assert entropy == pytest.approx([0.0, 0.5, 1.0, 1.0, 1.0, 0.5], abs=1e-12)
    positions, entropy = breakdown.question_entropy(entropy_ds, [5, 1, 1])
    assert positions.tolist() == [1, 5]
    assert entropy == pytest.approx([0.5, 0.5])


def test_terciles_with_hand_checked_cuts(entropy_ds: Dataset) -> None:
    t = breakdown.entropy_terciles(entropy_ds)
    # Sorted: 0, e4, .5, .5, 1, 1. The 1/3 quantile sits 2/3 of the way from e4 to .5; the
    # 2/3 quantile 1/3 of the way from .5 to 1.
    assert t.cuts == (
        pytest.approx(Q4_KEEP + (0.5 - Q4_KEEP) * 2 / 3, abs=1e-12),
        pytest.approx(0.5 + 0.5 / 3, abs=1e-12),
    )
    assert t.positions_of("consensus").tolist() == [0, 4]
    assert t.positions_of("middle").tolist() == [1, 5]
    assert t.positions_of("contested").tolist() == [2, 3]
    assert t.of_questions(6).tolist() == [0, 1, 2, 2, 0, 1]


def test_questions_on_a_cut_go_to_the_lower_group(entropy_ds: Dataset) -> None:
    t = breakdown.entropy_terciles(entropy_ds, policy="drop")
    # Sorted: 0, .5, .5, 1, 1, 1: both cuts fall between equal values, at .5 and 1.
    assert t.cuts == (pytest.approx(0.5), pytest.approx(1.0))
    assert t.positions_of("consensus").tolist() == [0, 1, 5]
    assert t.positions_of("middle").tolist() == [2, 3, 4]
    assert t.positions_of("contested").tolist() == []
    assert t.to_json()["n_questions"] == {"consensus": 3, "middle": 3, "contested": 0}


def test_terciles_of_nothing(entropy_ds: Dataset) -> None:
    t = breakdown.entropy_terciles(entropy_ds, [])
    assert t.cuts is None and t.positions.size == 0
    assert t.of_questions(6).tolist() == [-1] * 6


# --------------------------------------------------------------------------- breakdown

# (question, country index, value): Albania 0, Brazil 1. Brazil has no value on 3 and 4.
PAIRS = [
    (0, 0, 0.1),
    (1, 0, 0.2),
    (2, 0, 0.3),
    (3, 0, 0.4),
    (4, 0, 0.5),
    (5, 0, 0.6),
    (0, 1, 0.9),
    (1, 1, 0.8),
    (2, 1, 0.7),
    (5, 1, 0.2),
]


def hand_pairs() -> PairScores:
    q, c, v = zip(*PAIRS, strict=True)
    return PairScores(np.array(q), np.array(c), np.array(v, dtype=float))


def means(group: breakdown.Group) -> dict[str, float]:
    return {c.country: c.similarity for c in group.countries}


def test_breakdown_by_hand(entropy_ds: Dataset) -> None:
    result = breakdown.breakdown(entropy_ds, hand_pairs(), "tv")
    assert [s.name for s in result.splits] == ["entropy", "source", "scale"]
    overall = result.overall
    assert (overall.n_questions, overall.n_pairs) == (6, 10)
    assert means(overall) == pytest.approx({"Albania": 0.35, "Brazil": 0.65})
    assert overall.mean == pytest.approx(0.5)

    entropy = result.split("entropy")
    assert [g.label for g in entropy.groups] == ["consensus", "middle", "contested"]
    consensus = entropy.group("consensus")  # questions 0 and 4
    assert (consensus.n_questions, consensus.n_pairs) == (2, 3)
    assert means(consensus) == pytest.approx({"Albania": 0.3, "Brazil": 0.9})
    # The mean over countries, not over pairs ((.1 + .5 + .9) / 3 = .5).
    assert consensus.mean == pytest.approx(0.6)
    middle = entropy.group("middle")  # 1 and 5
    assert means(middle) == pytest.approx({"Albania": 0.4, "Brazil": 0.5})
    assert (middle.n_pairs, middle.mean) == (4, pytest.approx(0.45))
    contested = entropy.group("contested")  # 2 and 3
    assert means(contested) == pytest.approx({"Albania": 0.35, "Brazil": 0.7})
    assert (contested.n_pairs, contested.mean) == (3, pytest.approx(0.525))

    source = result.split("source")
    assert [g.label for g in source.groups] == ["GAS", "WVS"]
    assert means(source.group("GAS")) == pytest.approx({"Albania": 0.2, "Brazil": 0.8})
    assert source.group("GAS").mean == pytest.approx(0.5)
    assert means(source.group("WVS")) == pytest.approx({"Albania": 0.5, "Brazil": 0.2})
    assert source.group("WVS").mean == pytest.approx(0.35)
    assert [c.n_questions for c in source.group("WVS").countries] == [3, 1]

    scale = result.split("scale")
    assert means(scale.group("ordinal")) == pytest.approx({"Albania": 0.45, "Brazil": 0.45})
    assert means(scale.group("nominal")) == pytest.approx({"Albania": 0.3, "Brazil": 0.85})
    assert scale.group("nominal").mean == pytest.approx(0.575)
    assert (scale.group("nominal").n_questions, scale.group("nominal").n_pairs) == (4, 6)


def test_min_questions_leaves_out_countries_per_group(entropy_ds: Dataset) -> None:
    result = breakdown.breakdown(entropy_ds, hand_pairs(), "tv", min_questions=2)
    consensus = result.split("entropy").group("consensus")
    assert means(consensus) == pytest.approx({"Albania": 0.3})  # Brazil has one question
    assert consensus.mean == pytest.approx(0.3)
    assert consensus.n_pairs == 3  # the pairs are still counted
    wvs = result.split("source").group("WVS")
    assert means(wvs) == pytest.approx({"Albania": 0.5})


def test_empty_groups_keep_their_place(entropy_ds: Dataset) -> None:
    only_gas = PairScores(np.array([0, 1]), np.array([0, 0]), np.array([0.1, 0.3]))
    result = breakdown.breakdown(entropy_ds, only_gas, "tv")
    wvs = result.split("source").group("WVS")
    assert (wvs.n_questions, wvs.n_pairs, wvs.mean, wvs.countries) == (0, 0, None, ())
    assert result.split("scale").group("ordinal").mean is None
    # Terciles over the scored questions only: 0 (entropy 0) and 1 (0.5).
    assert result.terciles.positions.tolist() == [0, 1]
    assert result.split("entropy").group("consensus").mean == pytest.approx(0.1)
    assert result.split("entropy").group("middle").mean is None
    assert result.split("entropy").group("contested").mean == pytest.approx(0.3)
    nothing = breakdown.breakdown(
        entropy_ds, PairScores(np.zeros(0, int), np.zeros(0, int), np.zeros(0)), "jsd"
    )
    assert nothing.overall.mean is None and nothing.terciles.cuts is None
    data = json.loads(json.dumps(nothing.to_json(), allow_nan=False))
    assert data["terciles"]["cuts"] is None


def test_dataset_wide_terciles_can_be_passed(entropy_ds: Dataset) -> None:
    only_gas = PairScores(np.array([0, 1]), np.array([0, 0]), np.array([0.1, 0.3]))
    wide = breakdown.entropy_terciles(entropy_ds)
    result = breakdown.breakdown(entropy_ds, only_gas, "tv", terciles=wide)
    assert result.terciles is wide
    assert result.split("entropy").group("middle").mean == pytest.approx(0.3)  # question 1
    assert result.split("entropy").group("contested").mean is None


def test_wasserstein_has_no_nominal_pairs(entropy_ds: Dataset) -> None:
    pos = np.arange(len(entropy_ds))
    probs = metrics.uniform_probs(entropy_ds, pos)
    pairs = metrics.pair_values(entropy_ds, pos, probs, "wasserstein")
    result = breakdown.breakdown(entropy_ds, pairs, "wasserstein")
    nominal = result.split("scale").group("nominal")
    assert (nominal.n_questions, nominal.n_pairs, nominal.mean) == (0, 0, None)
    ordinal = result.split("scale").group("ordinal")
    assert (ordinal.n_questions, ordinal.n_pairs) == (2, 4)
    # Uniform against uniform on question 2 is 1; on question 5, [.25]*4 vs [.5, .5, 0, 0]:
    # CDF gaps .25, .5, .25 over K - 1 = 3 steps: 1 - 1/3.
    assert means(ordinal) == pytest.approx({"Albania": 5 / 6, "Brazil": 5 / 6})
    assert result.terciles.positions.tolist() == [2, 5]


def test_kl_breakdown_is_lowest_first(entropy_ds: Dataset) -> None:
    result = breakdown.breakdown(entropy_ds, hand_pairs(), "kl")
    assert [c.country for c in result.overall.countries] == ["Albania", "Brazil"]
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["metric"] == "kl" and data["higher_is_better"] is False
    tv = breakdown.breakdown(entropy_ds, hand_pairs(), "tv")
    assert [c.country for c in tv.overall.countries] == ["Brazil", "Albania"]
    source = next(s for s in data["splits"] if s["name"] == "source")
    assert source["groups"][1]["countries"][0] == {
        "country": "Brazil",
        "display": "Brazil",
        "iso2": "BR",
        "value": pytest.approx(0.2),
        "n_questions": 1,
    }


def test_breakdown_refuses_unknown_names(entropy_ds: Dataset) -> None:
    with pytest.raises(InvalidValueError, match="Unknown metric 'emd'"):
        breakdown.breakdown(entropy_ds, hand_pairs(), "emd")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="policy 'both'"):
        breakdown.breakdown(entropy_ds, hand_pairs(), "tv", "both")  # type: ignore[arg-type]
