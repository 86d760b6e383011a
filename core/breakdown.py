"""Beyond one number: how a run's country ranking moves with the metric, and its scores split
by kind of question (issue 12).

* :func:`rank_stability` — one run's countries ranked under each metric of
  :mod:`core.metrics`, Kendall's τ between every pair of metrics, and the countries whose rank
  moves most.
* :func:`entropy_terciles` — each question's human disagreement (mean normalised entropy over
  countries) and its tercile: *consensus*, *middle*, *contested*.
* :func:`breakdown` — a run's pair values (any metric) split by entropy tercile, by source
  (GAS / WVS) and by scale (ordinal / nominal), per country and overall.

Choices, all of them deliberate:

* **Ranks** are competition ranks ("1224"): a country's rank under a metric is 1 + the number
  of countries with a strictly better score (:func:`core.metrics.oriented`: lower is better for
  ``kl``), so countries with equal scores share a rank instead of being ordered by the
  tie-break of :class:`core.metrics.Scores`. Each metric ranks the countries it scores on at
  least ``min_questions`` questions; ``wasserstein`` scores ordinal questions only, so a country
  asked only nominal questions has no rank under it, and its ranks run over fewer countries.
* **Kendall's τ** is tau-b, the value of :func:`scipy.stats.kendalltau` (the tests check it
  against scipy), between two metrics' oriented country scores over the countries both rank
  (``n_common``): ``Σ sign(Δx) sign(Δy) / sqrt(Σ |sign(Δx)| · Σ |sign(Δy)|)`` over the pairs of
  countries. On the scores, tau-b counts tied scores as ties, as on ranks with shared ties. It
  is computed for every pair of metrics at once with numpy: scipy's per-call overhead alone
  would cost as much as scoring a whole run once. No p-value: both rankings come from the same
  answers, so "unrelated rankings" is no hypothesis worth testing (the question-resampling
  bootstrap of :mod:`core.stats` is the tool for uncertainty). τ is None when fewer than two
  countries are common or one side's scores are all equal on them.
* **Movers**: a country's *spread* is its worst rank minus its best over the metrics that rank
  it; ``best_metric`` / ``worst_metric`` are the first metric (in the order asked) where it
  reaches them. Countries are listed by spread, largest first, ties in dataset country order.
* **Human entropy** of a question: for each country with data, the Shannon entropy of its
  answer distribution after the non-substantive policy, divided by ``log2(K)`` with K the
  options the policy keeps (all of them under ``keep``, the substantive ones under ``drop``),
  then averaged over those countries. Normalised so that a two-option and a ten-option
  question compare: 0 when everyone in every country gives the same answer, 1 when every
  country is spread evenly over all options (raw bits would make every many-option question
  look contested). A question with fewer than two kept options has entropy 0. K is the
  question's options, also for a country that was asked only some of them (merged GAS waves).
  It measures disagreement *within* each country's people, as :mod:`core.diagnostics` does: a
  question on which every country is unanimous is consensus even when the countries are
  unanimous for different answers.
* **Terciles** are cut at ``np.quantile(entropy, [1/3, 2/3])`` (numpy's default linear
  interpolation) over the questions considered (by default those a run scored, so the groups
  are thirds of *its* questions): *consensus* holds entropy <= the lower cut, *middle* <= the
  upper cut, *contested* the rest; a question on a cut goes to the lower group.
* **Group means** follow the rest of goqa (``LoadedRun.uniform_mean``): a group's country
  score is the mean of its pair values on the group's questions (countries with fewer than
  ``min_questions`` of them left out), and the group's ``mean`` is the mean over those
  countries, each country counting once, not the mean over pairs. ``n_questions`` and
  ``n_pairs`` count every scored question and pair of the group. Every group of a split is
  present even with no pair (``nominal`` under ``wasserstein``): ``mean`` None, no country.
  Sources are GAS and WVS, then any other source the dataset names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core import metrics
from core.countries import resolve
from core.dataset import SOURCES, Dataset
from core.diagnostics import entropy_bits
from core.errors import InvalidValueError
from core.metrics import METRIC_NAMES, POLICIES, CountryScore, MetricName, PairScores, Policy

DEFAULT_MOVERS = 5
"""How many movers :func:`rank_stability` keeps by default."""

TercileLabel = Literal["consensus", "middle", "contested"]
TERCILE_LABELS: tuple[TercileLabel, ...] = ("consensus", "middle", "contested")
SCALE_LABELS = ("ordinal", "nominal")
SplitName = Literal["entropy", "source", "scale"]
SPLIT_NAMES: tuple[SplitName, ...] = ("entropy", "source", "scale")


def _check_policy(policy: str) -> Policy:
    for name in POLICIES:
        if name == policy:
            return name
    raise InvalidValueError(
        f"Unknown non-substantive policy {policy!r}.", f"Choose one of: {', '.join(POLICIES)}."
    )


def _check_metric(metric: str) -> MetricName:
    for name in METRIC_NAMES:
        if name == metric:
            return name
    raise InvalidValueError(
        f"Unknown metric {metric!r}.", f"Choose one of: {', '.join(METRIC_NAMES)}."
    )


# --------------------------------------------------------------------------- rank stability


@dataclass(frozen=True)
class MetricRanking:
    """The countries under one metric, best first.

    Attributes:
        metric: the metric.
        scores: :func:`core.metrics.score_with`'s scores (``scores.countries`` best first).
        ranks: the competition rank of each of ``scores.countries``, in the same order.
    """

    metric: MetricName
    scores: metrics.Scores
    ranks: tuple[int, ...]

    @property
    def higher_is_better(self) -> bool:
        return metrics.HIGHER_IS_BETTER[self.metric]

    def rank(self, country: str) -> int | None:
        """``country``'s rank (1 is best), None when this metric does not rank it."""
        for score, rank in zip(self.scores.countries, self.ranks, strict=True):
            if score.country == country:
                return rank
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "n_questions_scored": self.scores.n_questions_scored,
            "countries": [
                {
                    "rank": rank,
                    "country": c.country,
                    "display": c.display,
                    "iso2": c.iso2,
                    "value": c.similarity,
                    "n_questions": c.n_questions,
                }
                for c, rank in zip(self.scores.countries, self.ranks, strict=True)
            ],
        }


@dataclass(frozen=True)
class MetricAgreement:
    """Kendall's tau-b between two metrics' country orders.

    Attributes:
        a, b: the two metrics (``a`` first in the order asked).
        tau: in [-1, 1], 1 for the same order; None when it is undefined (fewer than two
            common countries, or all scores equal on one side).
        n_common: the countries both metrics rank.
    """

    a: MetricName
    b: MetricName
    tau: float | None
    n_common: int

    def to_json(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "tau": self.tau,
            "n_common": self.n_common,
        }


@dataclass(frozen=True)
class RankMove:
    """How far one country's rank moves across the metrics.

    Attributes:
        country, display: the raw key and its display name.
        ranks: ``(metric, rank)`` for every metric that ranks the country, in the order asked.
        spread: worst rank minus best rank (0 under a single metric).
        best_metric, worst_metric: the first metric giving the best / the worst rank.
    """

    country: str
    display: str
    ranks: tuple[tuple[MetricName, int], ...]
    spread: int
    best_metric: MetricName
    worst_metric: MetricName

    def to_json(self) -> dict[str, object]:
        return {
            "country": self.country,
            "display": self.display,
            "ranks": dict(self.ranks),
            "spread": self.spread,
            "best_metric": self.best_metric,
            "worst_metric": self.worst_metric,
        }


@dataclass(frozen=True)
class RankStability:
    """One run's country ranking under several metrics and how far they agree.

    Attributes:
        metrics: the metrics, in the order asked.
        policy, min_questions: what the scores were computed with.
        rankings: one :class:`MetricRanking` per metric, in ``metrics`` order.
        agreements: one :class:`MetricAgreement` per unordered pair of metrics, in the order
            (m0, m1), (m0, m2), ..., (m1, m2), ...
        movers: the countries whose rank moves most (see the module doc), at most the number
            asked for.
    """

    metrics: tuple[MetricName, ...]
    policy: Policy
    min_questions: int
    rankings: tuple[MetricRanking, ...]
    agreements: tuple[MetricAgreement, ...]
    movers: tuple[RankMove, ...]

    def ranking(self, metric: MetricName) -> MetricRanking:
        """The ranking under ``metric``; KeyError when it was not computed."""
        for r in self.rankings:
            if r.metric == metric:
                return r
        raise KeyError(metric)

    def agreement(self, a: MetricName, b: MetricName) -> MetricAgreement:
        """The agreement of ``a`` and ``b``, in either order; KeyError when not computed."""
        for g in self.agreements:
            if (g.a, g.b) in ((a, b), (b, a)):
                return g
        raise KeyError((a, b))

    def to_json(self) -> dict[str, object]:
        return {
            "metrics": list(self.metrics),
            "policy": self.policy,
            "min_questions": self.min_questions,
            "rank": "competition rank, 1 is best; equal scores share a rank",
            "tau": "Kendall's tau-b over the countries both metrics rank",
            "rankings": [r.to_json() for r in self.rankings],
            "agreements": [g.to_json() for g in self.agreements],
            "movers": [m.to_json() for m in self.movers],
        }


def _competition_ranks(values: np.ndarray) -> np.ndarray:
    """1 + the number of strictly greater values, for each value (higher is better)."""
    return 1 + (values[None, :] > values[:, None]).sum(axis=1)


def rank_stability(
    dataset: Dataset,
    positions: np.ndarray | Sequence[int],
    probs: np.ndarray,
    policy: Policy = "keep",
    metric_names: Sequence[MetricName] = METRIC_NAMES,
    min_questions: int = 1,
    n_movers: int | None = DEFAULT_MOVERS,
) -> RankStability:
    """Rank the countries under every metric and measure how far the rankings agree.

    Args:
        dataset: the questions and human distributions.
        positions: (M,) dataset positions of the answered questions (unique).
        probs: (M, >=K) model distributions, zero padded (see :func:`core.metrics.pad_probs`).
        policy: ``keep`` or ``drop`` the non-substantive options.
        metric_names: the metrics to compare, each once, at least one.
        min_questions: a metric ranks a country scored on at least this many questions.
        n_movers: keep this many movers; None keeps every ranked country.

    Returns:
        :class:`RankStability`.

    Raises:
        InvalidValueError: an unknown metric or policy, a metric named twice, no metric, or a
            negative ``n_movers``.
        ValueError: bad ``probs`` (see :func:`core.metrics.pair_values`).
    """
    pol = _check_policy(policy)
    names = tuple(_check_metric(m) for m in metric_names)
    if not names:
        raise InvalidValueError("No metric to rank the countries by.", "Name at least one.")
    if len(set(names)) != len(names):
        raise InvalidValueError(
            f"A metric is named twice in {', '.join(names)}.", "Name each metric once."
        )
    if n_movers is not None and n_movers < 0:
        raise InvalidValueError(
            f"Cannot list {n_movers} movers.", "Ask for 0 or more (or all of them)."
        )
    pos = np.asarray(positions, dtype=np.int64)
    n_countries = len(dataset.countries)
    # (metrics, countries) oriented score and rank; NaN / 0 where a metric does not rank.
    oriented = np.full((len(names), n_countries), np.nan)
    ranks = np.zeros((len(names), n_countries), dtype=np.int64)
    rankings = []
    for i, name in enumerate(names):
        scores = metrics.score_with(dataset, pos, probs, name, pol, min_questions)
        index = np.array([dataset.country_index[c.country] for c in scores.countries], dtype=int)
        values = np.asarray(
            metrics.oriented(name, np.array([c.similarity for c in scores.countries]))
        )
        rank = _competition_ranks(values)
        oriented[i, index] = values
        ranks[i, index] = rank
        rankings.append(MetricRanking(name, scores, tuple(int(r) for r in rank)))

    tau, n_common = _kendall_tau_b(oriented, ranks > 0)
    agreements = [
        MetricAgreement(
            names[i],
            names[j],
            float(tau[i, j]) if np.isfinite(tau[i, j]) else None,
            int(n_common[i, j]),
        )
        for i in range(len(names))
        for j in range(i + 1, len(names))
    ]

    return RankStability(
        metrics=names,
        policy=pol,
        min_questions=min_questions,
        rankings=tuple(rankings),
        agreements=tuple(agreements),
        movers=_movers(dataset, names, ranks, n_movers),
    )


def _kendall_tau_b(values: np.ndarray, ranked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kendall's tau-b between every two rows of ``values`` over the columns both rank.

    Args:
        values: (M, N) scores, higher is better; ignored where ``ranked`` is False.
        ranked: (M, N) bool.

    Returns:
        ``(tau, n_common)``, both (M, M): tau-b (NaN where undefined) and the number of
        columns ranked in both rows.
    """
    v = np.where(ranked, values, 0.0)
    # sign(v[a] - v[b]) for every ordered pair (a, b) of columns, 0 unless both are ranked:
    # each unordered pair counts twice in every sum below, which cancels in the ratio.
    both = (ranked[:, :, None] & ranked[:, None, :]).astype(np.float64)
    sign = np.sign(v[:, :, None] - v[:, None, :]) * both
    numerator = np.einsum("iab,jab->ij", sign, sign)
    # untied[i, j]: pairs untied under row i among the columns row j ranks too.
    untied = np.einsum("iab,jab->ij", np.abs(sign), both)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = numerator / np.sqrt(untied * untied.T)
    tau = np.where((untied > 0) & (untied.T > 0), np.clip(tau, -1.0, 1.0), np.nan)
    n_common = ranked.astype(np.int64) @ ranked.T.astype(np.int64)
    return tau, n_common


def _movers(
    dataset: Dataset, names: tuple[MetricName, ...], ranks: np.ndarray, n_movers: int | None
) -> tuple[RankMove, ...]:
    ranked = ranks > 0
    present = np.flatnonzero(ranked.any(axis=0))
    big = np.iinfo(np.int64).max
    best = np.where(ranked, ranks, big).min(axis=0)
    worst = np.where(ranked, ranks, 0).max(axis=0)
    spread = worst - np.where(ranked.any(axis=0), best, 0)
    order = present[np.lexsort((present, -spread[present]))]
    if n_movers is not None:
        order = order[:n_movers]
    moves = []
    for ci in order:
        which = np.flatnonzero(ranked[:, ci])
        column = ranks[which, ci]
        c = resolve(dataset.countries[ci])
        moves.append(
            RankMove(
                country=c.key,
                display=c.label,
                ranks=tuple((names[m], int(r)) for m, r in zip(which, column, strict=True)),
                spread=int(spread[ci]),
                best_metric=names[int(which[np.argmin(column)])],
                worst_metric=names[int(which[np.argmax(column)])],
            )
        )
    return tuple(moves)


# --------------------------------------------------------------------------- entropy terciles


@dataclass(frozen=True)
class EntropyTerciles:
    """Human disagreement per question and its tercile (see the module doc).

    Attributes:
        positions: (M,) the questions considered that have any country's data left under the
            policy, ascending.
        entropy: (M,) their mean normalised entropy over countries, in [0, 1].
        tercile: (M,) 0 consensus, 1 middle, 2 contested (index into :data:`TERCILE_LABELS`).
        cuts: the lower and upper cut points; None with no question.
        policy: the non-substantive policy the entropies were computed under.
    """

    positions: np.ndarray
    entropy: np.ndarray
    tercile: np.ndarray
    cuts: tuple[float, float] | None
    policy: Policy

    def of_questions(self, n_questions: int) -> np.ndarray:
        """(n_questions,) the tercile of every dataset position, -1 for a question not here."""
        out = np.full(n_questions, -1, dtype=np.int64)
        out[self.positions] = self.tercile
        return out

    def positions_of(self, label: TercileLabel) -> np.ndarray:
        """The positions of the questions in one tercile, ascending."""
        return self.positions[self.tercile == TERCILE_LABELS.index(label)]

    def to_json(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "entropy": "mean over countries of entropy / log2(options kept), per question",
            "cuts": list(self.cuts) if self.cuts is not None else None,
            "n_questions": {
                label: int((self.tercile == i).sum()) for i, label in enumerate(TERCILE_LABELS)
            },
        }


def question_entropy(
    dataset: Dataset, positions: np.ndarray | Sequence[int] | None = None, policy: Policy = "keep"
) -> tuple[np.ndarray, np.ndarray]:
    """Each question's mean normalised human entropy over countries (see the module doc).

    Args:
        dataset: the questions and human distributions.
        positions: the questions to consider (default: all); duplicates count once.
        policy: ``keep`` or ``drop`` the non-substantive options before the entropy.

    Returns:
        ``(positions, entropy)``: the questions with at least one country's data left under
        the policy, ascending, and their entropies in [0, 1].

    Raises:
        InvalidValueError: an unknown policy.
    """
    pol = _check_policy(policy)
    n = len(dataset)
    wanted = np.ones(n, dtype=bool)
    if positions is not None:
        wanted[:] = False
        wanted[np.asarray(positions, dtype=np.int64)] = True
    sel = np.flatnonzero(wanted[dataset.pair_question])
    q = dataset.pair_question[sel]
    rows = metrics.apply_policy(dataset.pair_human[sel], dataset.nonsubstantive[q], pol)
    ok = rows.sum(axis=1) > 0
    q, rows = q[ok], rows[ok]
    on_question = np.arange(dataset.kmax)[None, :] < dataset.n_options[:, None]
    kept = (on_question & ~dataset.nonsubstantive) if pol == "drop" else on_question
    k = kept.sum(axis=1)[q]
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(k >= 2, entropy_bits(rows) / np.log2(np.maximum(k, 2)), 0.0)
    counts = np.bincount(q, minlength=n)
    sums = np.bincount(q, weights=normalised, minlength=n)
    have = np.flatnonzero(counts > 0)
    # Rounding can take a uniform row a hair past 1.
    return have, np.clip(sums[have] / counts[have], 0.0, 1.0)


def entropy_terciles(
    dataset: Dataset, positions: np.ndarray | Sequence[int] | None = None, policy: Policy = "keep"
) -> EntropyTerciles:
    """Split questions into thirds by human disagreement: consensus, middle, contested.

    Args:
        dataset: the questions and human distributions.
        positions: the questions to split (default: all); the cuts are their terciles.
        policy: ``keep`` or ``drop`` the non-substantive options before the entropy.

    Returns:
        :class:`EntropyTerciles` (cuts and groups as the module doc says).

    Raises:
        InvalidValueError: an unknown policy.
    """
    pol = _check_policy(policy)
    have, entropy = question_entropy(dataset, positions, pol)
    if not have.size:
        empty = np.zeros(0, dtype=np.int64)
        return EntropyTerciles(empty, np.zeros(0), empty, None, pol)
    low, high = (float(x) for x in np.quantile(entropy, [1 / 3, 2 / 3]))
    tercile = np.where(entropy <= low, 0, np.where(entropy <= high, 1, 2)).astype(np.int64)
    return EntropyTerciles(have, entropy, tercile, (low, high), pol)


# --------------------------------------------------------------------------- breakdown


@dataclass(frozen=True)
class Group:
    """The scores on one group of questions (a tercile, a source, a kind of scale).

    Attributes:
        label: the group's name (``consensus``, ``GAS``, ``ordinal``, ``all``...).
        n_questions: questions of the group with a scored pair.
        n_pairs: scored (question, country) pairs of the group.
        mean: mean over the group's countries of their scores; None with no country.
        countries: each country's mean over its questions of the group, best first for the
            metric (those with fewer than ``min_questions`` of them left out).
    """

    label: str
    n_questions: int
    n_pairs: int
    mean: float | None
    countries: tuple[CountryScore, ...]

    def get(self, country: str) -> CountryScore | None:
        return next((c for c in self.countries if c.country == country), None)

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "n_questions": self.n_questions,
            "n_pairs": self.n_pairs,
            "mean": self.mean,
            "countries": [
                {
                    "country": c.country,
                    "display": c.display,
                    "iso2": c.iso2,
                    "value": c.similarity,
                    "n_questions": c.n_questions,
                }
                for c in self.countries
            ],
        }


@dataclass(frozen=True)
class Split:
    """One way of dividing the questions, every group present (even with no pair)."""

    name: SplitName
    groups: tuple[Group, ...]

    def group(self, label: str) -> Group:
        """The group called ``label``; KeyError when there is none."""
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(label)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "groups": [g.to_json() for g in self.groups]}


@dataclass(frozen=True)
class Breakdown:
    """A run's scores under one metric, overall and split three ways.

    Attributes:
        metric: what the pair values are (``kl``: lower is better).
        policy: the policy of the entropy terciles (that of the run's scores).
        min_questions: a country needs this many questions in a group to be scored there.
        overall: every pair, as one group labelled ``all``.
        splits: ``entropy`` (consensus, middle, contested), ``source`` (GAS, WVS, then any
            other source of the dataset) and ``scale`` (ordinal, nominal), in that order.
        terciles: the entropy terciles used.
    """

    metric: MetricName
    policy: Policy
    min_questions: int
    overall: Group
    splits: tuple[Split, ...]
    terciles: EntropyTerciles

    @property
    def higher_is_better(self) -> bool:
        return metrics.HIGHER_IS_BETTER[self.metric]

    def split(self, name: SplitName) -> Split:
        """The split called ``name``; KeyError when there is none."""
        for s in self.splits:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "policy": self.policy,
            "min_questions": self.min_questions,
            "mean": "mean over countries of each country's mean over its questions",
            "overall": self.overall.to_json(),
            "terciles": self.terciles.to_json(),
            "splits": [s.to_json() for s in self.splits],
        }


def _group(
    dataset: Dataset,
    pairs: PairScores,
    mask: np.ndarray,
    label: str,
    metric: MetricName,
    min_questions: int,
) -> Group:
    part = PairScores(pairs.position[mask], pairs.country[mask], pairs.similarity[mask])
    scores = metrics.aggregate(dataset, part, min_questions, metric)
    values = [c.similarity for c in scores.countries]
    return Group(
        label=label,
        n_questions=scores.n_questions_scored,
        n_pairs=int(part.position.shape[0]),
        mean=float(np.mean(values)) if values else None,
        countries=scores.countries,
    )


def _split(
    dataset: Dataset,
    pairs: PairScores,
    name: SplitName,
    question_group: np.ndarray,
    labels: Sequence[str],
    metric: MetricName,
    min_questions: int,
) -> Split:
    """Group ``i`` holds the pairs whose question has ``question_group == i``."""
    of_pair = question_group[pairs.position]
    return Split(
        name,
        tuple(
            _group(dataset, pairs, of_pair == i, label, metric, min_questions)
            for i, label in enumerate(labels)
        ),
    )


def breakdown(
    dataset: Dataset,
    pairs: PairScores,
    metric: MetricName = metrics.DEFAULT_METRIC,
    policy: Policy = "keep",
    min_questions: int = 1,
    terciles: EntropyTerciles | None = None,
) -> Breakdown:
    """A run's pair values split by human disagreement, by source and by kind of scale.

    Args:
        dataset: the dataset the pairs were scored on.
        pairs: the run's pair values under ``metric`` (e.g. ``LoadedRun.scores.pairs``).
        metric: the metric the pairs hold (sets the direction of the country order).
        policy: the run's non-substantive policy (for the entropies).
        min_questions: a country needs this many questions of a group to be scored in it.
        terciles: the entropy terciles to use; by default those of the questions the pairs
            score (:func:`entropy_terciles`). Pass ``entropy_terciles(dataset, None, policy)``
            for cuts over the whole dataset, the same for every run. Pairs of a question with
            no tercile are in no entropy group.

    Returns:
        :class:`Breakdown`.

    Raises:
        InvalidValueError: an unknown metric or policy.
    """
    name = _check_metric(metric)
    pol = _check_policy(policy)
    if terciles is None:
        terciles = entropy_terciles(dataset, np.unique(pairs.position), pol)
    n = len(dataset)
    extra = sorted(set(dataset.sources) - set(SOURCES))
    sources = (*SOURCES, *extra)
    source_index = {s: i for i, s in enumerate(sources)}
    by_source = np.array([source_index[s] for s in dataset.sources], dtype=np.int64)
    by_scale = np.where(metrics.scale_orders(dataset).ordinal, 0, 1).astype(np.int64)
    splits = (
        _split(
            dataset, pairs, "entropy", terciles.of_questions(n), TERCILE_LABELS, name, min_questions
        ),
        _split(dataset, pairs, "source", by_source, sources, name, min_questions),
        _split(dataset, pairs, "scale", by_scale, SCALE_LABELS, name, min_questions),
    )
    everything = np.ones(pairs.position.shape[0], dtype=bool)
    return Breakdown(
        metric=name,
        policy=pol,
        min_questions=min_questions,
        overall=_group(dataset, pairs, everything, "all", name, min_questions),
        splits=splits,
        terciles=terciles,
    )
