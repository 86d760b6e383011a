"""Uncertainty for the paper's scores: bootstrap intervals, paired comparisons, baselines.

A country's score is a mean over questions, and questions are what we sampled, so every
interval here resamples *questions*: one resample draws questions with replacement and keeps
all of a drawn question's (question, country) similarities together. In matrix form a block of
resamples is a (B, n_questions) matrix of draw counts; multiplying it by the (n_questions,
n_countries) matrix of per-question similarities gives every country's resampled sum at once.

* :func:`bootstrap` puts a percentile interval on every country of a leaderboard.
* :func:`compare` pairs two runs (two conditions or two models) on their shared questions:
  per country the mean difference B − A, a paired bootstrap interval, a two-sided sign-flip
  permutation p-value (exact for small n) and Benjamini–Hochberg q-values across countries.
* :func:`baselines` puts reference points beside a leaderboard: the uniform answer's score,
  the best score any *other* country's people reach on the same questions, the population
  average (the "global respondent") and, given the model's pair values, a shuffled-country
  permutation p-value and the model's lift over the best of those baselines.

Every function takes a ``metric`` (one of :data:`core.metrics.METRIC_NAMES`, ``jsd`` by
default, which gives exactly the numbers of before metrics were added). "Better" follows the
metric's direction: higher for the similarities, lower for ``kl`` (a divergence); orders,
counts of improvements and lifts are turned accordingly, while differences stay ``B - A`` in
the metric's own units.

Everything is seeded (``numpy.random.Generator``) and the seed travels with the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np

from core import metrics
from core.calibration import population_average
from core.countries import resolve
from core.dataset import Dataset
from core.errors import InvalidValueError
from core.metrics import DEFAULT_METRIC, HIGHER_IS_BETTER, MetricName, PairScores, Policy, Scores

DEFAULT_RESAMPLES = 1000
DEFAULT_PERMUTATIONS = 10_000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
DEFAULT_ALPHA = 0.05
EXACT_MAX_N = 12
DEFAULT_NULL_RESAMPLES = 1000
"""Resamples of the shuffled-country null in :func:`baselines`."""
# Resamples are drawn in blocks so a block's (B, n_questions) count matrix stays ~32 MB.
_BLOCK_CELLS = 4_000_000
# The pair loop of the human-vs-human matrix works on this many (question, c, c') pairs at once.
_PAIR_BLOCK = 200_000
# Metrics whose value does not change when the two sides swap; the others (kl, and argmax
# under ties) are computed in both directions between two countries' people.
_SYMMETRIC: frozenset[MetricName] = frozenset({"jsd", "jsd-e", "tv", "wasserstein", "cosine"})
# A null mean this close to the model's (relative to max(1, |model|)) counts as "as close":
# the same numbers summed in another order differ in the last bits.
_TIE_RTOL = 1e-9


class Distributions(Protocol):
    """Anything with a run's ``positions`` (M,) and ``probs`` (M, K), e.g. RunAnswers."""

    @property
    def positions(self) -> np.ndarray: ...

    @property
    def probs(self) -> np.ndarray: ...


RunLike = PairScores | Distributions | tuple[np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- shared pieces


def _interval_bounds(level: float) -> tuple[float, float]:
    if not 0.0 < level < 1.0:
        raise ValueError(f"Confidence level must be between 0 and 1, got {level}.")
    tail = (1.0 - level) / 2.0 * 100.0
    return tail, 100.0 - tail


def _question_matrix(
    position: np.ndarray, country: np.ndarray, values: np.ndarray, n_countries: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scatter flat (question, country, value) triples into dense matrices.

    Returns:
        (questions (n_q,), values (n_q, n_countries) zero where absent, present (same, 0/1)).
    """
    questions, row = np.unique(position, return_inverse=True)
    flat = row.astype(np.int64) * n_countries + country.astype(np.int64)
    size = questions.shape[0] * n_countries
    vals = np.bincount(flat, weights=values, minlength=size).reshape(-1, n_countries)
    present = np.bincount(flat, minlength=size).reshape(-1, n_countries).astype(np.float64)
    return questions, vals, present


def _resample_counts(rng: np.random.Generator, n_items: int, n_draws: int) -> np.ndarray:
    """(n_draws, n_items) multiplicities of ``n_draws`` bootstrap resamples of ``n_items``."""
    idx = rng.integers(0, n_items, size=(n_draws, n_items))
    idx += np.arange(n_draws, dtype=idx.dtype)[:, None] * n_items
    counts = np.bincount(idx.ravel(), minlength=n_draws * n_items)
    return counts.reshape(n_draws, n_items).astype(np.float64)


def _bootstrap_means(
    values: np.ndarray, present: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_resamples, n_countries) resampled means; NaN where a country drew no question."""
    n_q = values.shape[0]
    out = np.empty((n_resamples, values.shape[1]))
    block = max(1, min(n_resamples, _BLOCK_CELLS // max(n_q, 1)))
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        w = _resample_counts(rng, n_q, stop - start)
        sums = w @ values
        counts = w @ present
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:stop] = np.where(counts > 0, sums / counts, np.nan)
    return out


def _percentiles(means: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _interval_bounds(level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN
        bounds = np.nanpercentile(means, [lo, hi], axis=0)
    return bounds[0], bounds[1]


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the bootstrap and the permutation test from one seed."""
    boot, perm = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(boot), np.random.default_rng(perm)


def _opt(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _direction(metric: MetricName) -> float:
    """+1 when higher values of ``metric`` are better, -1 for a divergence (``kl``)."""
    if metric not in HIGHER_IS_BETTER:
        raise InvalidValueError(
            f"Unknown metric {metric!r}.", f"Choose one of: {', '.join(metrics.METRIC_NAMES)}."
        )
    return 1.0 if HIGHER_IS_BETTER[metric] else -1.0


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class CountryInterval:
    """A country's score with its bootstrap percentile interval.

    Attributes:
        country: raw dataset key; ``display``/``iso2`` as in :class:`core.metrics.CountryScore`.
        similarity: the score itself (mean metric value over the country's questions).
        ci_low, ci_high: percentile interval over question resamples.
        n_questions: questions the country was scored on.
    """

    country: str
    display: str
    iso2: str | None
    similarity: float
    ci_low: float
    ci_high: float
    n_questions: int

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2.0


@dataclass(frozen=True)
class BootstrapResult:
    """Intervals for every scored country, in leaderboard order (best score first: highest,
    lowest for ``kl``); ``metric`` is what the scores and intervals are values of."""

    intervals: tuple[CountryInterval, ...]
    n_resamples: int
    seed: int
    level: float
    metric: MetricName = DEFAULT_METRIC

    def get(self, country: str) -> CountryInterval | None:
        """The interval of a raw country key, or None."""
        return next((i for i in self.intervals if i.country == country), None)

    def meta_json(self) -> dict[str, object]:
        """The settings; ``metric`` only when it is not the default (``jsd``)."""
        data: dict[str, object] = {
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "level": self.level,
        }
        if self.metric != DEFAULT_METRIC:
            data["metric"] = self.metric
        return data


def bootstrap(
    dataset: Dataset,
    pairs: PairScores,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    min_questions: int = 1,
    metric: MetricName = DEFAULT_METRIC,
) -> BootstrapResult:
    """Percentile bootstrap intervals on every country's score, resampling questions.

    Each resample draws the scored questions with replacement (all of a question's countries
    move together). A country's resampled score is its mean value over its questions
    weighted by their multiplicities; a resample that drew none of its questions is skipped for
    that country.

    Args:
        dataset: the dataset the pairs index (for country names).
        pairs: values of scored (question, country) pairs (``Scores.pairs``), of ``metric``.
        n_resamples: bootstrap resamples B.
        seed: seed of the ``numpy.random.Generator``; recorded in the result.
        level: coverage of the percentile interval (0.95 gives the 2.5th and 97.5th).
        min_questions: countries with fewer scored questions are left out (as in aggregate).
        metric: the metric ``pairs`` holds; it sets the order (best first, lowest for ``kl``).

    Returns:
        A :class:`BootstrapResult` whose intervals follow the leaderboard's order for
        ``metric`` (as :func:`core.metrics.score_with` ranks).
    """
    _interval_bounds(level)
    _direction(metric)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1.")
    scores = metrics._aggregate(dataset, pairs, min_questions, metric)
    n_c = len(dataset.countries)
    rng, _ = _streams(seed)
    if pairs.similarity.shape[0] == 0:
        return BootstrapResult((), n_resamples, seed, level, metric)
    _, values, present = _question_matrix(pairs.position, pairs.country, pairs.similarity, n_c)
    low, high = _percentiles(_bootstrap_means(values, present, n_resamples, rng), level)
    intervals = []
    for cs in scores.countries:
        ci = dataset.country_index[cs.country]
        intervals.append(
            CountryInterval(
                cs.country,
                cs.display,
                cs.iso2,
                cs.similarity,
                float(low[ci]),
                float(high[ci]),
                cs.n_questions,
            )
        )
    return BootstrapResult(tuple(intervals), n_resamples, seed, level, metric)


def scores_json_with_intervals(scores: Scores, result: BootstrapResult) -> dict[str, object]:
    """``scores.to_json()`` with ``ci_low``/``ci_high`` on each country and a top-level
    ``bootstrap: {n_resamples, seed, level}``. A country without an interval gets nulls."""
    data = scores.to_json()
    rows = data["countries"]
    assert isinstance(rows, list)
    for row in rows:
        interval = result.get(row["country"])
        row["ci_low"] = interval.ci_low if interval else None
        row["ci_high"] = interval.ci_high if interval else None
    data["bootstrap"] = result.meta_json()
    return data


# --------------------------------------------------------------------------- multiple testing


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) controlling the false discovery rate.

    ``q_(i) = min_{j >= i} p_(j) * m / j`` over the p-values sorted ascending, capped at 1.
    NaN entries are ignored (they stay NaN and do not count in ``m``).
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.shape[0]
    if m == 0:
        return q
    order = finite[np.argsort(p[finite], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


# --------------------------------------------------------------------------- sign-flip test


def _sign_flip_pvalues(
    diffs: np.ndarray,
    present: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    exact_max_n: int,
) -> np.ndarray:
    """Two-sided paired sign-flip p-values, one per column of ``diffs`` (n_q, n_cols).

    The statistic is a column's sum of differences (its mean times its fixed n). Columns with
    at most ``exact_max_n`` differences are enumerated exactly (all 2^n sign vectors, zero
    padding does not change the proportion); the others use ``n_permutations`` random sign
    vectors shared across columns (a question's sign flips for every country at once), with the
    usual ``(1 + hits) / (1 + n_permutations)``. Columns with no difference get NaN.
    """
    n = present.sum(axis=0).astype(np.int64)
    observed = np.abs(diffs.sum(axis=0))
    # Sums in another order differ in the last bits; ties must still count as "as extreme".
    tol = 1e-9 * np.abs(diffs).sum(axis=0) + 1e-12
    threshold = observed - tol
    p = np.full(diffs.shape[1], np.nan)

    exact = np.flatnonzero((n > 0) & (n <= exact_max_n))
    if exact.size:
        width = int(n[exact].max())
        sub_p = present[:, exact] > 0
        # Pack each exact column's differences to the left of a (width, n_exact) matrix.
        rank = np.cumsum(sub_p, axis=0) - 1
        q_idx, col = np.nonzero(sub_p)
        packed = np.zeros((width, exact.size))
        packed[rank[q_idx, col], col] = diffs[q_idx, exact[col]]
        bits = (np.arange(2**width)[:, None] >> np.arange(width)[None, :]) & 1
        signs = 1.0 - 2.0 * bits
        stats = np.abs(signs @ packed)
        p[exact] = (stats >= threshold[exact]).mean(axis=0)

    sampled = np.flatnonzero(n > exact_max_n)
    if sampled.size:
        sub = diffs[:, sampled]
        hits = np.zeros(sampled.size)
        n_q = diffs.shape[0]
        block = max(1, min(n_permutations, _BLOCK_CELLS // max(n_q, 1)))
        for start in range(0, n_permutations, block):
            size = min(block, n_permutations - start)
            signs = 1.0 - 2.0 * rng.integers(0, 2, size=(size, n_q))
            hits += (np.abs(signs @ sub) >= threshold[sampled]).sum(axis=0)
        p[sampled] = (1.0 + hits) / (1.0 + n_permutations)
    return p


def sign_flip_test(
    differences: Sequence[float] | np.ndarray,
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    exact_max_n: int = EXACT_MAX_N,
) -> float:
    """Two-sided paired sign-flip permutation p-value for H0 "the differences are symmetric
    about 0" with the mean difference as statistic; exact for ``len <= exact_max_n``.

    Example: differences ``[1, 2, 3]`` give ``2/8 = 0.25`` (only ``±(1+2+3)`` reach 6).
    """
    d = np.asarray(differences, dtype=np.float64).reshape(-1, 1)
    if d.shape[0] == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    return float(_sign_flip_pvalues(d, np.ones_like(d), n_permutations, rng, exact_max_n)[0])


# --------------------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class CountryComparison:
    """Run B against run A for one country, on the questions both scored for it.

    Attributes:
        score_a, score_b: mean metric value of each run over the shared questions.
        diff: ``score_b - score_a`` in the metric's units (negative is an improvement for
            ``kl``).
        ci_low, ci_high: paired bootstrap percentile interval of ``diff``.
        p_value: two-sided sign-flip permutation p-value (exact when n_shared <= exact_max_n).
        q_value: Benjamini–Hochberg adjusted p-value across the compared countries.
        n_shared: questions in the comparison.
    """

    country: str
    display: str
    iso2: str | None
    score_a: float
    score_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    q_value: float
    n_shared: int

    def to_json(self) -> dict[str, object]:
        return {
            "country": self.country,
            "display": self.display,
            "iso2": self.iso2,
            "score_a": self.score_a,
            "score_b": self.score_b,
            "diff": self.diff,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "n_shared": self.n_shared,
        }


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two runs, countries sorted by improvement (B over A), largest
    first: by ``diff`` (B − A) descending, ascending for ``kl``.

    Totals: ``mean_diff`` is the unweighted mean of the countries' differences with its own
    bootstrap interval (same resamples); ``n_better``/``n_worse`` count countries with
    ``q_value < alpha`` where B is better/worse than A in the metric's direction (a positive
    difference is better, for ``kl`` a negative one). ``metric`` names what the scores are;
    the JSON has it (and ``higher_is_better``) only when it is not the default ``jsd``.
    """

    countries: tuple[CountryComparison, ...]
    label_a: str
    label_b: str
    policy: str
    n_shared_questions: int
    mean_diff: float
    mean_diff_ci_low: float
    mean_diff_ci_high: float
    n_better: int
    n_worse: int
    alpha: float
    n_resamples: int
    n_permutations: int
    exact_max_n: int
    seed: int
    level: float
    metric: MetricName = DEFAULT_METRIC

    def get(self, country: str) -> CountryComparison | None:
        return next((c for c in self.countries if c.country == country), None)

    def to_json(self) -> dict[str, object]:
        # The default metric's JSON is what it always was; another metric says which it is.
        head: dict[str, object] = (
            {}
            if self.metric == DEFAULT_METRIC
            else {"metric": self.metric, "higher_is_better": HIGHER_IS_BETTER[self.metric]}
        )
        return {
            "label_a": self.label_a,
            "label_b": self.label_b,
            "policy": self.policy,
            **head,
            "n_shared_questions": self.n_shared_questions,
            "n_countries": len(self.countries),
            "mean_diff": _opt(self.mean_diff),
            "mean_diff_ci_low": _opt(self.mean_diff_ci_low),
            "mean_diff_ci_high": _opt(self.mean_diff_ci_high),
            "n_better": self.n_better,
            "n_worse": self.n_worse,
            "alpha": self.alpha,
            "bootstrap": {
                "n_resamples": self.n_resamples,
                "seed": self.seed,
                "level": self.level,
            },
            "permutation": {
                "test": "paired sign-flip, two-sided",
                "n_permutations": self.n_permutations,
                "exact_max_n": self.exact_max_n,
                "seed": self.seed,
            },
            "correction": "benjamini-hochberg",
            "countries": [c.to_json() for c in self.countries],
        }


def _as_pairs(dataset: Dataset, run: RunLike, policy: Policy, metric: MetricName) -> PairScores:
    if isinstance(run, PairScores):
        return run
    if isinstance(run, tuple):
        positions, probs = run
    else:
        positions, probs = run.positions, run.probs
    return metrics.pair_values(dataset, positions, probs, metric, policy)


def compare(
    dataset: Dataset,
    a: RunLike,
    b: RunLike,
    *,
    policy: Policy = "keep",
    n_resamples: int = DEFAULT_RESAMPLES,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    alpha: float = DEFAULT_ALPHA,
    exact_max_n: int = EXACT_MAX_N,
    min_questions: int = 1,
    label_a: str = "A",
    label_b: str = "B",
    metric: MetricName = DEFAULT_METRIC,
) -> Comparison:
    """Compare run B with run A country by country on their shared questions.

    Only (question, country) pairs scored in both runs take part, so each country's
    difference is paired question by question. The bootstrap resamples the shared questions
    (all countries together, as :func:`bootstrap` does); the permutation test flips the sign
    of each question's difference.

    Args:
        dataset: the dataset both runs answered.
        a, b: each a :class:`PairScores`, a ``(positions, probs)`` tuple, or an object with
            ``positions`` and ``probs`` (``core.runner.RunAnswers``).
        policy: non-substantive policy applied to distributions (ignored for PairScores).
        n_resamples, n_permutations, seed, level: bootstrap and permutation settings; one
            seed feeds two independent streams.
        alpha: FDR level for the ``n_better``/``n_worse`` totals.
        exact_max_n: enumerate all sign vectors for countries with at most this many questions.
        min_questions: countries with fewer shared questions are left out.
        label_a, label_b: names for the two sides (run names), carried into the JSON.
        metric: what to compare on; PairScores must already hold its values, distributions
            are scored with it (:func:`core.metrics.pair_values`). For ``kl`` lower is better:
            the order, ``n_better`` and ``n_worse`` follow (see :class:`Comparison`).
    """
    _interval_bounds(level)
    sign = _direction(metric)
    pa, pb = _as_pairs(dataset, a, policy, metric), _as_pairs(dataset, b, policy, metric)
    n_c = len(dataset.countries)
    key_a = pa.position.astype(np.int64) * n_c + pa.country
    key_b = pb.position.astype(np.int64) * n_c + pb.country
    _, ia, ib = np.intersect1d(key_a, key_b, assume_unique=True, return_indices=True)
    position, country = pa.position[ia], pa.country[ia]
    sim_a, sim_b = pa.similarity[ia], pb.similarity[ib]
    counts = np.bincount(country, minlength=n_c)
    keep = np.flatnonzero(counts >= max(1, min_questions))
    in_keep = np.isin(country, keep)
    position, country = position[in_keep], country[in_keep]
    sim_a, sim_b = sim_a[in_keep], sim_b[in_keep]
    diff = sim_b - sim_a

    boot_rng, perm_rng = _streams(seed)
    n = counts[keep]
    mean_a = np.bincount(country, weights=sim_a, minlength=n_c)[keep] / np.maximum(n, 1)
    mean_b = np.bincount(country, weights=sim_b, minlength=n_c)[keep] / np.maximum(n, 1)
    mean_d = np.bincount(country, weights=diff, minlength=n_c)[keep] / np.maximum(n, 1)

    if keep.size:
        questions, d_matrix, present = _question_matrix(position, country, diff, n_c)
        d_matrix, present = d_matrix[:, keep], present[:, keep]
        means = _bootstrap_means(d_matrix, present, n_resamples, boot_rng)
        low, high = _percentiles(means, level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            total_low, total_high = _percentiles(np.nanmean(means, axis=1)[:, None], level)
        p = _sign_flip_pvalues(d_matrix, present, n_permutations, perm_rng, exact_max_n)
        q = benjamini_hochberg(p)
        n_questions = int(questions.shape[0])
        total = float(mean_d.mean())
    else:
        low = high = p = q = np.zeros(0)
        total_low = total_high = np.full(1, np.nan)
        n_questions, total = 0, float("nan")

    rows = []
    gain = sign * mean_d  # improvement of B over A, whatever the metric's direction
    for j in np.lexsort((keep, -gain)):
        c = resolve(dataset.countries[int(keep[j])])
        rows.append(
            CountryComparison(
                country=c.key,
                display=c.label,
                iso2=c.iso2,
                score_a=float(mean_a[j]),
                score_b=float(mean_b[j]),
                diff=float(mean_d[j]),
                ci_low=float(low[j]),
                ci_high=float(high[j]),
                p_value=float(p[j]),
                q_value=float(q[j]),
                n_shared=int(n[j]),
            )
        )
    significant = q < alpha
    return Comparison(
        countries=tuple(rows),
        label_a=label_a,
        label_b=label_b,
        policy=policy,
        n_shared_questions=n_questions,
        mean_diff=total,
        mean_diff_ci_low=float(total_low[0]),
        mean_diff_ci_high=float(total_high[0]),
        n_better=int(np.sum(significant & (gain > 0))),
        n_worse=int(np.sum(significant & (gain < 0))),
        alpha=alpha,
        n_resamples=n_resamples,
        n_permutations=n_permutations,
        exact_max_n=exact_max_n,
        seed=seed,
        level=level,
        metric=metric,
    )


# --------------------------------------------------------------------------- baselines


@dataclass(frozen=True)
class _HumanPairs:
    """Every ordered pair of two countries' people on a shared question, with its value.

    Rows are the (question, country) pairs with mass left after the policy, grouped by
    question. Row i's pairs are a contiguous run (``left == i``), one per other row j of the
    same question (``right == j``), in row order; a pair's value is the metric with j's people
    standing where the model stands, ``row_values(q, p=h_j, h=h_i)`` (for ``kl`` the
    divergence ``KL(h_i || h_j)``).
    """

    question: np.ndarray  # (N,) question position of each row
    country: np.ndarray  # (N,) country index of each row
    left: np.ndarray  # (P,) the row standing for "the country"
    right: np.ndarray  # (P,) the row standing where the model stands
    values: np.ndarray  # (P,) the metric's value; NaN where it does not apply


def _human_pairs(
    dataset: Dataset, positions: np.ndarray | None, policy: Policy, metric: MetricName
) -> _HumanPairs:
    """The :class:`_HumanPairs` of ``positions`` (all questions when None).

    A symmetric metric is computed once per unordered pair and copied to the mirrored one;
    ``kl`` and ``argmax`` (asymmetric when a side has tied top options) in both directions.
    """
    rows = np.arange(dataset.pair_question.shape[0])
    if positions is not None:
        allowed = np.zeros(len(dataset), dtype=bool)
        allowed[np.asarray(positions, dtype=np.int64)] = True
        rows = rows[allowed[dataset.pair_question]]
    if metric == "wasserstein":  # nominal questions have no value: leave them out at once
        rows = rows[metrics.scale_orders(dataset).ordinal[dataset.pair_question[rows]]]
    question = dataset.pair_question[rows].astype(np.int64)
    human = metrics.apply_policy(dataset.pair_human[rows], dataset.nonsubstantive[question], policy)
    ok = human.sum(axis=1) > 0
    rows, question, human = rows[ok], question[ok], human[ok]
    country = dataset.pair_country[rows].astype(np.int64)

    # Rows stay grouped by question; row i pairs with every other row j of its group, the
    # b-th of them being j = start + b, skipping i itself.
    n_rows = rows.shape[0]
    starts = np.flatnonzero(np.r_[True, question[1:] != question[:-1]]) if n_rows else rows[:0]
    sizes = np.diff(np.r_[starts, n_rows]).astype(np.int64)
    group_start = np.repeat(starts, sizes).astype(np.int64)
    n_other = np.repeat(sizes, sizes) - 1
    row_start = np.cumsum(n_other) - n_other
    left = np.repeat(np.arange(n_rows, dtype=np.int64), n_other)
    b = np.arange(left.shape[0], dtype=np.int64) - row_start[left]
    a = left - group_start[left]
    right = group_start[left] + b + (b >= a)
    del a, b

    values = np.full(left.shape[0], np.nan)
    symmetric = metric in _SYMMETRIC
    todo = np.flatnonzero(right > left) if symmetric else np.arange(left.shape[0])
    if metric in ("jsd", "jsd-e"):
        _js_values(dataset, question, human, left, right, todo, metric, values)
    else:
        for start in range(0, todo.shape[0], _PAIR_BLOCK):
            idx = todo[start : start + _PAIR_BLOCK]
            i, j = left[idx], right[idx]
            p, h = (human[i], human[j]) if symmetric else (human[j], human[i])
            values[idx] = metrics.row_values(dataset, question[i], p, h, metric, policy)
    if symmetric and todo.size:
        # The mirror of (i, j), i < j, is pair number (i - start) of row j (no skip: i < j).
        i, j = left[todo], right[todo]
        values[row_start[j] + (i - group_start[i])] = values[todo]
    return _HumanPairs(question, country, left, right, values)


def _js_values(
    dataset: Dataset,
    question: np.ndarray,
    human: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    todo: np.ndarray,
    metric: MetricName,
    out: np.ndarray,
) -> None:
    """``out[todo]`` = ``row_values`` of jsd or jsd-e for rows with mass, policy applied.

    The pairs go by their question's number of options K and only K columns are computed
    (the zero padding beyond adds nothing): the matrix's cost is its real cells, not
    ``dataset.kmax`` of them per pair.
    """
    width = dataset.n_options[question[left[todo]]]
    order = np.argsort(width, kind="stable")
    todo, width = todo[order], width[order]
    cuts = np.flatnonzero(np.r_[True, width[1:] != width[:-1]]) if todo.size else todo[:0]
    scale = np.sqrt(np.log(2.0)) if metric == "jsd-e" else 1.0
    for first, stop in zip(cuts, np.r_[cuts[1:], todo.shape[0]], strict=True):
        k = int(width[first])
        for start in range(int(first), int(stop), _PAIR_BLOCK):
            idx = todo[start : min(start + _PAIR_BLOCK, int(stop))]
            # The argument order the jsd matrix always used: the earlier row first.
            dist = metrics.js_distance(human[left[idx], :k], human[right[idx], :k])
            out[idx] = 1.0 - dist * scale  # scale 1.0 for jsd leaves dist as it is


@dataclass(frozen=True)
class HumanSimilarity:
    """Mean metric value between every two countries' people over their shared questions.

    Attributes:
        mean: (n_countries, n_countries); ``mean[c, c']`` is the mean over the shared questions
            of the metric with c' people standing where a model stands and c as the country
            (``row_values(p=h_c', h=h_c)``): how well c' people stand in for c. For ``jsd`` the
            mean of ``1 - JSD(h_c, h_c')``, symmetric; for ``kl`` the mean of
            ``KL(h_c || h_c')``, not symmetric. NaN with no shared question and on the diagonal.
        n_shared: (n_countries, n_countries) number of shared questions *on which the metric
            has a value*: for ``wasserstein`` the shared ordinal questions only.
        metric: the metric of ``mean``.
    """

    mean: np.ndarray
    n_shared: np.ndarray
    metric: MetricName = DEFAULT_METRIC


def _matrix(pairs: _HumanPairs, n_c: int, metric: MetricName) -> HumanSimilarity:
    ok = np.isfinite(pairs.values)
    flat = pairs.country[pairs.left[ok]] * n_c + pairs.country[pairs.right[ok]]
    sums = np.bincount(flat, weights=pairs.values[ok], minlength=n_c * n_c)
    n_shared = np.bincount(flat, minlength=n_c * n_c).reshape(n_c, n_c).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_shared > 0, sums.reshape(n_c, n_c) / n_shared, np.nan)
    return HumanSimilarity(mean=mean, n_shared=n_shared, metric=metric)


def human_similarity_matrix(
    dataset: Dataset,
    positions: np.ndarray | None = None,
    policy: Policy = "keep",
    metric: MetricName = DEFAULT_METRIC,
) -> HumanSimilarity:
    """A metric between every two countries' human distributions, averaged over shared questions.

    The same quantity as :func:`core.metrics.human_similarity` (for ``jsd``) for every
    reference country at once: each unordered (question, c, c') triple of a symmetric metric is
    computed once; ``kl`` and ``argmax`` are computed both ways (see :class:`HumanSimilarity`
    for which way round an entry is).

    Args:
        positions: restrict to these questions (e.g. the ones a run answered).
        policy: ``drop`` removes non-substantive options from both sides first.
        metric: one of :data:`core.metrics.METRIC_NAMES`.
    """
    _direction(metric)
    return _matrix(_human_pairs(dataset, positions, policy, metric), len(dataset.countries), metric)


@dataclass(frozen=True)
class _Null:
    """The shuffled-country null of the countries that have one (``country``, ascending)."""

    country: np.ndarray
    p_value: np.ndarray
    model_mean: np.ndarray
    null_mean: np.ndarray
    n_questions: np.ndarray
    left_out: np.ndarray  # (n_countries,) model questions with no other country's people


def _shuffled_null(
    dataset: Dataset,
    pairs: _HumanPairs,
    model: PairScores,
    codes: np.ndarray | None,
    n_permutations: int,
    rng: np.random.Generator,
    sign: float,
) -> _Null:
    """See :func:`baselines`: per country, how often random other people are as close.

    Args:
        codes: (n_countries,) ISO codes (unique stand-ins where unknown) whose equal pairs are
            not "other" countries, or None to allow them.
        sign: +1 when higher is better, -1 for ``kl``.
    """
    n_c = len(dataset.countries)
    valid = np.isfinite(pairs.values)
    if codes is not None:
        valid &= codes[pairs.country[pairs.left]] != codes[pairs.country[pairs.right]]
    n_rows = pairs.question.shape[0]
    # The pool: each row's eligible others' values, still one contiguous run per row.
    k = np.bincount(pairs.left[valid], minlength=n_rows).astype(np.int64)
    pool = pairs.values[valid]
    offset = np.cumsum(k) - k
    lookup = np.full(len(dataset) * n_c, -1, dtype=np.int64)
    lookup[pairs.question * n_c + pairs.country] = np.arange(n_rows)
    row = lookup[model.position.astype(np.int64) * n_c + model.country.astype(np.int64)]
    usable = row >= 0
    usable[usable] = k[row[usable]] > 0
    left_out = np.bincount(model.country[~usable], minlength=n_c).astype(np.int64)
    rows, values = row[usable], model.similarity[usable]
    order = np.argsort(pairs.country[rows], kind="stable")
    rows, values = rows[order], values[order]
    present, starts, counts = np.unique(pairs.country[rows], return_index=True, return_counts=True)
    if rows.shape[0] == 0:
        empty = np.zeros(0)
        return _Null(present, empty, empty, empty, counts, left_out)

    model_mean = np.add.reduceat(values, starts) / counts
    threshold = sign * model_mean - _TIE_RTOL * np.maximum(1.0, np.abs(model_mean))
    k_rows = k[rows][:, None]
    k_float = k_rows.astype(np.float64)
    base = offset[rows][:, None]
    hits = np.zeros(present.shape[0])
    null_total = np.zeros(present.shape[0])
    size = rows.shape[0]
    block = max(1, min(n_permutations, _BLOCK_CELLS // size))
    for start in range(0, n_permutations, block):
        n_draws = min(block, n_permutations - start)
        # Column r is resample r: a uniformly random other country's people on every
        # question of every country. Rows (not resamples) run along memory, so each row's
        # draws gather from its own short run of the pool, which keeps the gather in cache.
        pick = (rng.random((size, n_draws)) * k_float).astype(np.int64)
        np.minimum(pick, k_rows - 1, out=pick)
        pick += base
        means = np.add.reduceat(pool[pick], starts, axis=0) / counts[:, None]
        hits += (sign * means >= threshold[:, None]).sum(axis=1)
        null_total += means.sum(axis=1)
    p = (1.0 + hits) / (1.0 + n_permutations)
    return _Null(present, p, model_mean, null_total / n_permutations, counts, left_out)


BaselineName = Literal["uniform", "population average", "best other country"]


@dataclass(frozen=True)
class CountryBaseline:
    """Reference points for one country of a leaderboard, all in the metric's units.

    Attributes:
        uniform: score of the uniform answer on the country's questions.
        best_other: raw key of the other country whose people come closest to this country's
            (None when no eligible country shares a question); ``best_other_display`` its name.
        best_other_similarity: that country's mean value over the shared questions.
        best_other_n_shared: how many questions that mean is over.
        n_questions: the country's questions in the leaderboard's set.
        population_average: score of the population average (the mean of all countries'
            distributions, this country's included) on the country's questions.
        model: the model's score (mean of its pair values) when model pairs were given.
        lift: the model's margin over the best of the three baselines, positive when the model
            beats all of them (``model - best``; ``best - model`` for ``kl``).
        best_baseline: which baseline that is.
        p_value: shuffled-country null: the share of resamples in which random other
            countries' people come at least as close as the model, ``(1 + hits) / (1 + R)``.
        q_value: Benjamini–Hochberg adjusted ``p_value`` across the countries.
        null_mean: mean over the resamples of the null's mean value.
        null_model: the model's mean over the null's questions (what the null is compared to).
        null_n_questions: questions in the null (the model's on which another country's
            people have data).
        null_left_out: the model's questions left out of the null because no other country's
            people have data on them.
    """

    country: str
    display: str
    iso2: str | None
    n_questions: int
    uniform: float
    best_other: str | None
    best_other_display: str | None
    best_other_similarity: float | None
    best_other_n_shared: int
    population_average: float | None = None
    model: float | None = None
    lift: float | None = None
    best_baseline: BaselineName | None = None
    p_value: float | None = None
    q_value: float | None = None
    null_mean: float | None = None
    null_model: float | None = None
    null_n_questions: int = 0
    null_left_out: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "country": self.country,
            "display": self.display,
            "iso2": self.iso2,
            "n_questions": self.n_questions,
            "uniform": self.uniform,
            "best_other": self.best_other,
            "best_other_display": self.best_other_display,
            "best_other_similarity": self.best_other_similarity,
            "best_other_n_shared": self.best_other_n_shared,
            "population_average": self.population_average,
            "model": self.model,
            "lift": self.lift,
            "best_baseline": self.best_baseline,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "null_mean": self.null_mean,
            "null_model": self.null_model,
            "null_n_questions": self.null_n_questions,
            "null_left_out": self.null_left_out,
        }


@dataclass(frozen=True)
class Baselines:
    """Baselines for the countries scored on a question set, in uniform-score order (best
    first for ``metric``).

    ``n_permutations`` is the number of shuffled-country resamples drawn with ``seed``; 0 when
    no model pairs were given (then there is no null, no lift and no model score).
    """

    countries: tuple[CountryBaseline, ...]
    policy: str
    min_shared: int
    exclude_same_iso2: bool
    metric: MetricName = DEFAULT_METRIC
    n_permutations: int = 0
    seed: int = DEFAULT_SEED

    def get(self, country: str) -> CountryBaseline | None:
        return next((c for c in self.countries if c.country == country), None)

    def to_json(self) -> dict[str, object]:
        null = (
            {
                "test": "shuffled country, one-sided",
                "n_permutations": self.n_permutations,
                "seed": self.seed,
                "correction": "benjamini-hochberg",
            }
            if self.n_permutations
            else None
        )
        return {
            "policy": self.policy,
            "min_shared": self.min_shared,
            "exclude_same_iso2": self.exclude_same_iso2,
            "metric": self.metric,
            "higher_is_better": HIGHER_IS_BETTER[self.metric],
            "null": null,
            "countries": [c.to_json() for c in self.countries],
        }


def baselines(
    dataset: Dataset,
    positions: np.ndarray | None = None,
    policy: Policy = "keep",
    *,
    min_shared: int = 1,
    exclude_same_iso2: bool = True,
    metric: MetricName = DEFAULT_METRIC,
    model_pairs: PairScores | None = None,
    n_permutations: int = DEFAULT_NULL_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Baselines:
    """Reference points for every country: uniform, best other country, population average;
    with the model's pair values also a shuffled-country null and the model's lift.

    All under ``metric`` and on the same questions as the leaderboard (``positions``):

    * ``uniform``: the score of the uniform answer.
    * best other country: *how representable is this country by someone else*; the best over
      other countries c' (highest mean, lowest for ``kl``) of the mean metric value of c'
      people standing in for c over the questions both have (:class:`HumanSimilarity`).
    * ``population_average``: the score of :func:`core.calibration.population_average` used as a model's
      answers; the average includes the country itself.
    * shuffled-country null (with ``model_pairs``): for country c with the model's questions
      Q_c, one resample replaces the model's answer on each q in Q_c by the distribution of a
      uniformly random *other* country's people with data on q (never c itself; not one of
      c's other samples when ``exclude_same_iso2``) and takes the mean over Q_c. Questions on
      which no other country has data are left out of both the null and the model's mean it
      is compared with (counted in ``null_left_out``). ``p = (1 + #{null at least as close as
      the model}) / (1 + R)``, "at least as close" being ``null >= model`` (``<=`` for ``kl``,
      ties within 1e-9 relative included); q-values by :func:`benjamini_hochberg` across the
      countries. ``min_shared`` does not apply to the null.
    * ``lift`` (with ``model_pairs``): the model's score over the best of the three baselines,
      positive when the model beats them all, whatever the metric's direction.

    Args:
        positions: the leaderboard's questions (``np.unique(scores.pairs.position)``); when
            None, the questions of ``model_pairs``, or all questions without them.
        min_shared: a c' must share at least this many questions with c to be considered (a
            mean over one or two questions is a poor rival).
        exclude_same_iso2: skip c' with the same ISO code as c (e.g. ``India (Old national
            sample)`` for ``India (Current national sample)``, ``Britain`` for ``Great
            Britain``): another sample of the same country is not "another country".
        metric: one of :data:`core.metrics.METRIC_NAMES`.
        model_pairs: the run's pair values under the same ``metric`` and ``policy``
            (``Scores.pairs`` of :func:`core.metrics.score_with`); pairs outside ``positions``
            are ignored.
        n_permutations: resamples R of the null (at least 1), drawn from a
            ``numpy.random.Generator`` seeded with ``seed``; both are recorded.

    Raises:
        InvalidValueError: an unknown metric.
        ValueError: ``n_permutations`` below 1 with model pairs.
    """
    sign = _direction(metric)
    if model_pairs is not None and n_permutations < 1:
        raise ValueError("n_permutations must be at least 1.")
    if positions is None and model_pairs is not None:
        positions = np.unique(model_pairs.position)
    pos = (
        np.arange(len(dataset))
        if positions is None
        else np.unique(np.asarray(positions, dtype=np.int64))
    )
    n_c = len(dataset.countries)
    uniform = metrics.score_with(dataset, pos, metrics.uniform_probs(dataset, pos), metric, policy)
    average = population_average(dataset, pos, policy)
    has_data = average.sum(axis=1) > 0
    population = metrics.score_with(dataset, pos[has_data], average[has_data], metric, policy)
    population_of = {c.country: c.similarity for c in population.countries}

    pairs = _human_pairs(dataset, None if positions is None else pos, policy, metric)
    matrix = _matrix(pairs, n_c, metric)
    iso = [resolve(k).iso2 for k in dataset.countries]
    codes = np.array([code or f"\x00{i}" for i, code in enumerate(iso)])
    eligible = (matrix.n_shared >= max(1, min_shared)) & ~np.eye(n_c, dtype=bool)
    if exclude_same_iso2:
        eligible &= codes[:, None] != codes[None, :]
    candidates = np.where(eligible, sign * matrix.mean, -np.inf)
    best = np.argmax(candidates, axis=1) if n_c else np.zeros(0, dtype=np.int64)
    found = np.isfinite(candidates[np.arange(n_c), best])
    best_value = matrix.mean[np.arange(n_c), best]

    model_score = np.full(n_c, np.nan)
    null: _Null | None = None
    q_values = np.zeros(0)
    if model_pairs is not None:
        inside = np.isin(model_pairs.position, pos)
        model = PairScores(
            model_pairs.position[inside].astype(np.int64),
            model_pairs.country[inside].astype(np.int64),
            np.asarray(model_pairs.similarity[inside], dtype=np.float64),
        )
        n_model = np.bincount(model.country, minlength=n_c)
        sums = np.bincount(model.country, weights=model.similarity, minlength=n_c)
        model_score = np.where(n_model > 0, sums / np.maximum(n_model, 1), np.nan)
        null = _shuffled_null(
            dataset,
            pairs,
            model,
            codes if exclude_same_iso2 else None,
            n_permutations,
            np.random.default_rng(seed),
            sign,
        )
        q_values = benjamini_hochberg(null.p_value)

    rows = []
    for cs in uniform.countries:
        ci = dataset.country_index[cs.country]
        other = resolve(dataset.countries[int(best[ci])]) if found[ci] else None
        best_other = float(best_value[ci]) if found[ci] else None
        row = CountryBaseline(
            country=cs.country,
            display=cs.display,
            iso2=cs.iso2,
            n_questions=cs.n_questions,
            uniform=cs.similarity,
            best_other=other.key if other else None,
            best_other_display=other.label if other else None,
            best_other_similarity=best_other,
            best_other_n_shared=int(matrix.n_shared[ci, best[ci]]) if found[ci] else 0,
            population_average=population_of.get(cs.country),
        )
        if null is not None and np.isfinite(model_score[ci]):
            row = _with_model(row, float(model_score[ci]), sign, null, q_values, ci)
        rows.append(row)
    return Baselines(
        tuple(rows),
        policy,
        max(1, min_shared),
        exclude_same_iso2,
        metric=metric,
        n_permutations=n_permutations if model_pairs is not None else 0,
        seed=seed,
    )


def _with_model(
    row: CountryBaseline,
    model: float,
    sign: float,
    null: _Null,
    q_values: np.ndarray,
    ci: int,
) -> CountryBaseline:
    """``row`` with the model's score, its lift over the best baseline and its null."""
    offered: list[tuple[BaselineName, float | None]] = [
        ("uniform", row.uniform),
        ("population average", row.population_average),
        ("best other country", row.best_other_similarity),
    ]
    # The first best on ties, in the order above.
    name, value = max(
        ((n, v) for n, v in offered if v is not None), key=lambda item: sign * item[1]
    )
    row = replace(
        row,
        model=model,
        lift=sign * (model - value),
        best_baseline=name,
        null_left_out=int(null.left_out[ci]),
    )
    hit = np.flatnonzero(null.country == ci)
    if hit.size == 0:
        return row
    j = int(hit[0])
    return replace(
        row,
        p_value=float(null.p_value[j]),
        q_value=float(q_values[j]),
        null_mean=float(null.null_mean[j]),
        null_model=float(null.model_mean[j]),
        null_n_questions=int(null.n_questions[j]),
    )
