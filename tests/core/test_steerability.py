"""core.steerability: gain, ranks and excess gain on constructed pairs with a known answer, the
paired bootstrap against a loop written out by hand, kl's direction, and the stored-run use
case."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.runs import MODEL, OTHER, ROWS, put_run

from core import dataset, metrics, runs
from core import steerability as steer
from core.metrics import PairScores
from core.prompts import Condition
from core.store import Store


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> dataset.Dataset:
    """Four questions; countries Russia, Germany, Brazil (support.runs.ROWS)."""
    return dataset.load(str(write_csv(ROWS, "tiny.csv")))


def pairs(ds: dataset.Dataset, values: dict[tuple[int, str], float]) -> PairScores:
    """PairScores from ``{(position, country key): value}``."""
    items = sorted(values.items(), key=lambda kv: (kv[0][0], ds.country_index[kv[0][1]]))
    return PairScores(
        position=np.array([p for (p, _), _ in items], dtype=np.int64),
        country=np.array([ds.country_index[c] for (_, c), _ in items], dtype=np.int64),
        similarity=np.array([v for _, v in items], dtype=np.float64),
    )


DEFAULT = {
    (0, "Russia"): 0.5, (1, "Russia"): 0.6, (3, "Russia"): 0.4,
    (0, "Germany"): 0.7, (1, "Germany"): 0.5, (2, "Germany"): 0.6,
    (0, "Brazil"): 0.3, (2, "Brazil"): 0.8, (3, "Brazil"): 0.5,
}  # fmt: skip
STEERED = {
    (0, "Russia"): 0.8, (1, "Russia"): 0.7, (3, "Russia"): 0.6,
    (0, "Germany"): 0.6, (1, "Germany"): 0.5, (2, "Germany"): 0.7,
    (0, "Brazil"): 0.4, (2, "Brazil"): 0.8,  # Brazil's question 3 is missing here: not paired
}  # fmt: skip


def test_gain_ranks_and_excess_by_hand(tiny: dataset.Dataset) -> None:
    s = steer.steerability(tiny, pairs(tiny, DEFAULT), pairs(tiny, STEERED), "Russia", "jsd")
    # Russia on questions 0, 1, 3: 0.5, 0.6, 0.4 -> 0.8, 0.7, 0.6.
    assert (s.target, s.display, s.metric) == ("Russia", "Russia", "jsd")
    assert s.n_questions == 3 and s.n_shared_questions == 4
    assert s.similarity_default == pytest.approx(0.5, abs=1e-12)
    assert s.similarity_steered == pytest.approx(0.7, abs=1e-12)
    assert s.gain == pytest.approx(0.2, abs=1e-12)
    # Default means: Russia 0.5, Germany 0.6, Brazil (0.3 + 0.8) / 2 = 0.55 -> Russia 3rd;
    # steered: Russia 0.7, Germany 0.6, Brazil 0.6 -> 1st.
    assert (s.rank_default, s.rank_steered, s.n_countries) == (3, 1, 3)
    # Germany's gains -0.1, 0, +0.1 (mean 0); Brazil's +0.1, 0 on its 2 paired questions.
    assert s.n_others == 2
    assert s.mean_gain_others == pytest.approx(0.025, abs=1e-12)
    assert s.excess_gain == pytest.approx(0.175, abs=1e-12)
    assert s.ci_low <= s.excess_gain <= s.ci_high
    assert s.gain_ci_low <= s.gain <= s.gain_ci_high
    data = s.to_json()
    assert data["excess_gain"] == pytest.approx(0.175, abs=1e-12)
    assert data["higher_is_better"] is True and data["metric"] == "jsd"
    assert data["conclusion"] == s.conclusion and data["verdict"] == s.verdict()


def test_kl_gain_is_a_fall_in_divergence(tiny: dataset.Dataset) -> None:
    # The same numbers read as divergences: Russia's rose by 0.2, i.e. it moved away.
    s = steer.steerability(tiny, pairs(tiny, DEFAULT), pairs(tiny, STEERED), "Russia", "kl")
    assert s.gain == pytest.approx(-0.2, abs=1e-12)
    assert s.mean_gain_others == pytest.approx(-0.025, abs=1e-12)
    assert s.excess_gain == pytest.approx(-0.175, abs=1e-12)
    # Lower is better: Russia's 0.5 is the lowest by default (1st), its 0.7 the highest after.
    assert (s.rank_default, s.rank_steered) == (1, 3)
    assert s.to_json()["higher_is_better"] is False
    assert not s.moved_toward_more


@functools.cache
def _four_countries(n_q: int) -> dataset.Dataset:
    from support.dataset_csv import csv_bytes

    names = ["Russia", "Germany", "Brazil", "Japan"]
    rows = [(f"Q{i}?", {c: [0.5, 0.5] for c in names}, ["Yes", "No"], "GAS") for i in range(n_q)]
    return dataset.parse_csv(csv_bytes(rows))


def _synthetic(
    n_q: int, excess: float, seed: int, centred: bool = False
) -> tuple[dataset.Dataset, PairScores, PairScores, dict[str, float]]:
    """A dataset of ``n_q`` questions and 4 countries (all asked everything); steering adds
    ``excess`` + noise toward the first country and noise elsewhere (``centred``: noise of
    mean exactly 0 per country, so the observed excess is ``excess`` itself)."""
    names = ["Russia", "Germany", "Brazil", "Japan"]
    ds = _four_countries(n_q)
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.7, size=(n_q, 4))
    shift = rng.normal(0.0, 0.05, size=(n_q, 4))
    if centred:
        shift -= shift.mean(axis=0)
    shift[:, 0] += excess
    pos = np.repeat(np.arange(n_q), 4)
    cty = np.tile([ds.country_index[c] for c in names], n_q)
    d = PairScores(pos, cty, base.ravel())
    s = PairScores(pos, cty, (base + shift).ravel())
    gains = {c: float(shift[:, j].mean()) for j, c in enumerate(names)}
    return ds, d, s, gains


def test_bootstrap_matches_a_loop_over_resamples_written_out() -> None:
    ds, d, s, gains = _synthetic(30, 0.02, seed=1)
    got = steer.steerability(ds, d, s, "Russia", n_resamples=200, seed=7)
    assert got.excess_gain == pytest.approx(
        gains["Russia"] - np.mean([gains[c] for c in ("Germany", "Brazil", "Japan")]), abs=1e-12
    )
    # The same draws, by hand: core.stats draws one (B, n_q) block of question indices from
    # the first of two streams spawned from the seed.
    stream = np.random.default_rng(np.random.SeedSequence(7).spawn(2)[0])
    idx = stream.integers(0, 30, size=(200, 30))
    by_country = (s.similarity - d.similarity).reshape(30, 4)  # Russia, Germany, Brazil, Japan
    excess, own = [], []
    for draw in idx:
        means = by_country[draw].mean(axis=0)
        own.append(means[0])
        excess.append(means[0] - means[1:].mean())
    assert got.ci_low == pytest.approx(np.percentile(excess, 2.5), abs=1e-12)
    assert got.ci_high == pytest.approx(np.percentile(excess, 97.5), abs=1e-12)
    assert got.gain_ci_low == pytest.approx(np.percentile(own, 2.5), abs=1e-12)
    assert got.gain_ci_high == pytest.approx(np.percentile(own, 97.5), abs=1e-12)


def test_interval_is_seeded_and_decides() -> None:
    ds, d, s, _ = _synthetic(300, 0.05, seed=2, centred=True)
    moved = steer.steerability(ds, d, s, "Russia", seed=3)
    assert moved.excess_gain == pytest.approx(0.05, abs=1e-12)
    assert moved.ci_low < 0.05 < moved.ci_high
    assert moved.ci_high - moved.ci_low < 0.03  # about 4 standard errors of 0.0034
    assert moved.ci_low > 0 and moved.moved_toward_more
    assert moved.conclusion == "toward target"
    assert moved.verdict() == "moved toward Russia more than toward the other countries"
    assert steer.steerability(ds, d, s, "Russia", seed=3) == moved
    other_seed = steer.steerability(ds, d, s, "Russia", seed=4)
    assert other_seed.excess_gain == moved.excess_gain and other_seed.ci_low != moved.ci_low

    ds, d, s, _ = _synthetic(300, 0.0, seed=5, centred=True)
    flat = steer.steerability(ds, d, s, "Russia", seed=3)
    assert flat.ci_low < 0 < flat.ci_high
    assert not flat.moved_toward_more and flat.conclusion == "inconclusive"
    assert flat.verdict().startswith("inconclusive: the 95% interval of the excess gain spans 0")

    ds, d, s, _ = _synthetic(300, -0.05, seed=6)
    away = steer.steerability(ds, d, s, "Russia", seed=3)
    assert away.ci_high < 0 and away.conclusion == "toward others"


def test_the_interval_covers_the_true_excess_about_95_times_in_100() -> None:
    # Fresh data each time (the true excess is 0.02): a 95% interval misses it about 1 time in
    # 20. Too narrow an interval (questions not resampled jointly, say) misses far more.
    hits = 0
    for rep in range(200):
        ds, d, s, _ = _synthetic(60, 0.02, seed=100 + rep)
        got = steer.steerability(ds, d, s, "Russia", n_resamples=300, seed=rep)
        hits += got.ci_low < 0.02 < got.ci_high
    assert 178 <= hits <= 198  # 190 expected; binomial sd about 3


def test_other_samples_of_the_target_are_not_other_countries(
    write_csv: Callable[..., Path],
) -> None:
    rows = [
        (f"Q{i}?", {"China": [0.5, 0.5], "China (Non-national sample)": [0.4, 0.6],
                    "Russia": [0.2, 0.8]}, ["Yes", "No"], "GAS")
        for i in range(3)
    ]  # fmt: skip
    ds = dataset.load(str(write_csv(rows, "cn.csv")))
    keys = ["China", "China (Non-national sample)", "Russia"]
    default = pairs(ds, {(q, c): 0.5 for q in range(3) for c in keys})
    steered = pairs(
        ds,
        {(q, c): 0.5 + {"China": 0.3, "China (Non-national sample)": 0.3, "Russia": 0.1}[c]
         for q in range(3) for c in keys},
    )  # fmt: skip
    s = steer.steerability(ds, default, steered, "China", n_resamples=50)
    assert s.n_others == 1  # Russia only
    assert s.mean_gain_others == pytest.approx(0.1, abs=1e-12)
    assert s.excess_gain == pytest.approx(0.2, abs=1e-12)
    assert s.n_countries == 3


def test_no_shared_question_and_unknown_target_are_explained(tiny: dataset.Dataset) -> None:
    default = pairs(tiny, {(0, "Russia"): 0.5, (0, "Germany"): 0.5})
    steered = pairs(tiny, {(1, "Russia"): 0.5, (0, "Germany"): 0.6})
    with pytest.raises(steer.NoSharedQuestionsError) as info:
        steer.steerability(tiny, default, steered, "Russia", default_run="d", steered_run="s")
    assert "'d' and 's' share no question on which Russia is scored" in str(info.value)
    assert info.value.fix
    with pytest.raises(steer.SteerabilityError, match="'Mars' is not a country"):
        steer.steerability(tiny, default, steered, "Mars")
    with pytest.raises(ValueError, match="Unknown metric"):
        steer.steerability(tiny, default, default, "Russia", "nope")


def test_stored_runs(tiny: dataset.Dataset) -> None:
    with Store() as store:
        put_run(store, tiny, "base", MODEL)
        put_run(store, tiny, "ru", OTHER, condition=Condition("country", "russia"))
        put_run(store, tiny, "lang", OTHER, condition=Condition("language", "ru"))
        put_run(store, tiny, "far", {0: [0.2, 0.2, 0.6]}, condition=Condition("country", "Brazil"))
        put_run(store, tiny, "ru-only", {1: [0.5, 0.5]}, condition=Condition("country", "Russia"))
        for metric in ("jsd", "tv", "kl"):
            (got,) = steer.steerability_of_runs(store, tiny, "base", ["ru"], metric=metric)
            base = runs.load_run(store, tiny, "base", metric=metric)
            ru = runs.load_run(store, tiny, "ru", metric=metric)
            expected = steer.steerability(
                tiny, base.scores.pairs, ru.scores.pairs, "Russia", metric,
                default_run="base", steered_run="ru",
            )  # fmt: skip
            assert got == expected
            # Russia's pairs in both runs: questions 1 and 3 (OTHER has no question 0).
            values = {
                run: {
                    int(p): float(v)
                    for p, c, v in zip(r.scores.pairs.position, r.scores.pairs.country,
                                       r.scores.pairs.similarity, strict=True)
                    if c == tiny.country_index["Russia"]
                }
                for run, r in (("base", base), ("ru", ru))
            }  # fmt: skip
            sign = 1.0 if metrics.HIGHER_IS_BETTER[metric] else -1.0
            assert got.n_questions == 2
            assert got.gain == pytest.approx(
                sign * np.mean([values["ru"][q] - values["base"][q] for q in (1, 3)]), abs=1e-12
            )
        with pytest.raises(steer.NotCrossNationalError, match="'language:ru'"):
            steer.steerability_of_runs(store, tiny, "base", ["ru", "lang"])
        with pytest.raises(steer.NotCrossNationalError, match="not the default condition"):
            steer.steerability_of_runs(store, tiny, "ru", ["ru"])
        # Brazil was asked question 0, the only one run "far" answered.
        (far,) = steer.steerability_of_runs(store, tiny, "base", ["far"])
        assert far.n_questions == 1 and far.target == "Brazil"
        # A steered run whose only question is not one its target was asked.
        put_run(store, tiny, "de", {2: [0.3, 0.3, 0.4]}, condition=Condition("country", "Russia"))
        with pytest.raises(steer.NoSharedQuestionsError, match="'base' and 'de'"):
            steer.steerability_of_runs(store, tiny, "base", ["de"])
        (one,) = steer.steerability_of_runs(store, tiny, "base", ["ru-only"])
        assert one.n_questions == 1 and one.n_shared_questions == 1


# --------------------------------------------------------------------------- in an experiment


def test_the_experiment_summary_carries_steerability_under_its_metric(
    tiny: dataset.Dataset,
) -> None:
    from dataclasses import replace

    from core import experiments

    conds = [Condition("default"), Condition("country", "Russia")]
    with Store() as store:
        put_run(store, tiny, "p-default", MODEL)
        put_run(store, tiny, "p-country-Russia", OTHER, condition=conds[1])
        for metric in ("jsd", "kl"):
            summary = experiments.summarise_runs(tiny, store, "p", conds, "keep", metric=metric)
            (result,) = summary.conditions
            (expected,) = steer.steerability_of_runs(
                store, tiny, "p-default", ["p-country-Russia"], metric=metric
            )
            assert result.steerability == expected
            assert summary.metric == result.metric == result.movement.metric == metric
            data = summary.to_json()
            assert data["metric"] == experiments.metric_json(metric)
            assert data["conditions"][0]["steerability"] == expected.to_json()  # type: ignore[index]
            # core.stats.compare counts "better" in the metric's direction (a fall in
            # divergence for kl): the experiment takes its counts as they are.
            assert result.comparison.metric == metric
            fake = replace(result, comparison=replace(result.comparison, n_better=3, n_worse=1))
            assert (fake.n_closer, fake.n_further) == (3, 1)
            gains = [m.gain for m in result.movement.moved_most]
            assert gains == sorted(gains, reverse=True)
            sign = 1 if metric == "jsd" else -1
            assert all(m.gain == sign * m.delta for m in result.movement.moved_most)
        # A target nobody was asked about on the shared questions: no steerability, no error.
        put_run(store, tiny, "q-default", {2: [0.3, 0.3, 0.4]})
        put_run(store, tiny, "q-country-Russia", {2: [0.2, 0.2, 0.6]}, condition=conds[1])
        (lonely,) = experiments.summarise_runs(tiny, store, "q", conds, "keep").conditions
        assert lonely.steerability is None
        assert (
            experiments.summarise_runs(tiny, store, "q", conds, "keep").to_json()["conditions"][0][
                "steerability"
            ]
            is None
        )  # type: ignore[index]
