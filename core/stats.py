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
* :func:`baselines` puts two reference points beside a leaderboard: the uniform answer's score
  and, per country, the best score any *other* country's people reach on the same questions.

Everything is seeded (``numpy.random.Generator``) and the seed travels with the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core import metrics
from core.countries import resolve
from core.dataset import Dataset
from core.metrics import PairScores, Policy, Scores

DEFAULT_RESAMPLES = 1000
DEFAULT_PERMUTATIONS = 10_000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
DEFAULT_ALPHA = 0.05
EXACT_MAX_N = 12
# Resamples are drawn in blocks so a block's (B, n_questions) count matrix stays ~32 MB.
_BLOCK_CELLS = 4_000_000
# The pair loop of the human-vs-human matrix works on this many (question, c, c') pairs at once.
_PAIR_BLOCK = 200_000


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


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class CountryInterval:
    """A country's score with its bootstrap percentile interval.

    Attributes:
        country: raw dataset key; ``display``/``iso2`` as in :class:`core.metrics.CountryScore`.
        similarity: the score itself (mean similarity over the country's questions).
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
    """Intervals for every scored country, in leaderboard order (highest score first)."""

    intervals: tuple[CountryInterval, ...]
    n_resamples: int
    seed: int
    level: float

    def get(self, country: str) -> CountryInterval | None:
        """The interval of a raw country key, or None."""
        return next((i for i in self.intervals if i.country == country), None)

    def meta_json(self) -> dict[str, object]:
        return {"n_resamples": self.n_resamples, "seed": self.seed, "level": self.level}


def bootstrap(
    dataset: Dataset,
    pairs: PairScores,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    min_questions: int = 1,
) -> BootstrapResult:
    """Percentile bootstrap intervals on every country's score, resampling questions.

    Each resample draws the scored questions with replacement (all of a question's countries
    move together). A country's resampled score is its mean similarity over its questions
    weighted by their multiplicities; a resample that drew none of its questions is skipped for
    that country.

    Args:
        dataset: the dataset the pairs index (for country names).
        pairs: similarities of scored (question, country) pairs (``Scores.pairs``).
        n_resamples: bootstrap resamples B.
        seed: seed of the ``numpy.random.Generator``; recorded in the result.
        level: coverage of the percentile interval (0.95 gives the 2.5th and 97.5th).
        min_questions: countries with fewer scored questions are left out (as in aggregate).

    Returns:
        A :class:`BootstrapResult` whose intervals follow ``metrics.aggregate``'s order.
    """
    _interval_bounds(level)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1.")
    scores = metrics.aggregate(dataset, pairs, min_questions)
    n_c = len(dataset.countries)
    rng, _ = _streams(seed)
    if pairs.similarity.shape[0] == 0:
        return BootstrapResult((), n_resamples, seed, level)
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
    return BootstrapResult(tuple(intervals), n_resamples, seed, level)


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
        score_a, score_b: mean similarity of each run over the shared questions.
        diff: ``score_b - score_a``.
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
    """A paired comparison of two runs, countries sorted by ``diff`` (B − A), largest first.

    Totals: ``mean_diff`` is the unweighted mean of the countries' differences with its own
    bootstrap interval (same resamples); ``n_better``/``n_worse`` count countries with
    ``q_value < alpha`` and a positive/negative difference.
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

    def get(self, country: str) -> CountryComparison | None:
        return next((c for c in self.countries if c.country == country), None)

    def to_json(self) -> dict[str, object]:
        return {
            "label_a": self.label_a,
            "label_b": self.label_b,
            "policy": self.policy,
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


def _as_pairs(dataset: Dataset, run: RunLike, policy: Policy) -> PairScores:
    if isinstance(run, PairScores):
        return run
    if isinstance(run, tuple):
        positions, probs = run
    else:
        positions, probs = run.positions, run.probs
    return metrics.pair_similarities(dataset, positions, probs, policy)


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
    """
    _interval_bounds(level)
    pa, pb = _as_pairs(dataset, a, policy), _as_pairs(dataset, b, policy)
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
    for j in np.lexsort((keep, -mean_d)):
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
        n_better=int(np.sum(significant & (mean_d > 0))),
        n_worse=int(np.sum(significant & (mean_d < 0))),
        alpha=alpha,
        n_resamples=n_resamples,
        n_permutations=n_permutations,
        exact_max_n=exact_max_n,
        seed=seed,
        level=level,
    )


# --------------------------------------------------------------------------- baselines


@dataclass(frozen=True)
class HumanSimilarity:
    """Mean similarity between every two countries' people over their shared questions.

    Attributes:
        mean: (n_countries, n_countries) mean of ``1 - JSD(h_c, h_c')``; NaN with no shared
            question and on the diagonal.
        n_shared: (n_countries, n_countries) number of shared questions.
    """

    mean: np.ndarray
    n_shared: np.ndarray


def human_similarity_matrix(
    dataset: Dataset, positions: np.ndarray | None = None, policy: Policy = "keep"
) -> HumanSimilarity:
    """Similarity of every two countries' human distributions, averaged over shared questions.

    The same quantity as :func:`core.metrics.human_similarity` for every reference country at
    once: each unordered (question, c, c') triple is computed once, in blocks.

    Args:
        positions: restrict to these questions (e.g. the ones a run answered).
        policy: ``drop`` removes non-substantive options from both sides first.
    """
    n_c = len(dataset.countries)
    rows = np.arange(dataset.pair_question.shape[0])
    if positions is not None:
        allowed = np.zeros(len(dataset), dtype=bool)
        allowed[np.asarray(positions, dtype=np.int64)] = True
        rows = rows[allowed[dataset.pair_question]]
    question = dataset.pair_question[rows]
    human = metrics.apply_policy(dataset.pair_human[rows], dataset.nonsubstantive[question], policy)
    ok = human.sum(axis=1) > 0
    rows, question, human = rows[ok], question[ok], human[ok]
    country = dataset.pair_country[rows].astype(np.int64)

    sums = np.zeros(n_c * n_c)
    counts = np.zeros(n_c * n_c)
    # Rows stay grouped by question; each row pairs with the later rows of its own question.
    n_rows = rows.shape[0]
    starts = np.flatnonzero(np.r_[True, question[1:] != question[:-1]]) if n_rows else rows[:0]
    ends = np.r_[starts[1:], n_rows].astype(np.int64)[: starts.shape[0]]
    group_end = np.repeat(ends, ends - starts)
    later = group_end - np.arange(n_rows) - 1
    cum = np.cumsum(later)
    first = 0
    while first < n_rows:
        last = int(np.searchsorted(cum, (cum[first] - later[first]) + _PAIR_BLOCK, "right"))
        last = max(last, first + 1)
        k = later[first:last]
        left = np.repeat(np.arange(first, last), k)
        offset = np.arange(left.shape[0]) - np.repeat(np.cumsum(k) - k, k)
        right = left + 1 + offset
        sim = metrics.similarity(human[left], human[right])
        for x, y in ((country[left], country[right]), (country[right], country[left])):
            flat = x * n_c + y
            sums += np.bincount(flat, weights=sim, minlength=n_c * n_c)
            counts += np.bincount(flat, minlength=n_c * n_c)
        first = last
    n_shared = counts.reshape(n_c, n_c).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_shared > 0, sums.reshape(n_c, n_c) / n_shared, np.nan)
    return HumanSimilarity(mean=mean, n_shared=n_shared)


@dataclass(frozen=True)
class CountryBaseline:
    """Reference points for one country of a leaderboard.

    Attributes:
        uniform: score of the uniform answer on the country's questions.
        best_other: raw key of the other country whose people come closest to this country's
            (None when no eligible country shares a question); ``best_other_display`` its name.
        best_other_similarity: that country's mean similarity over the shared questions.
        best_other_n_shared: how many questions that mean is over.
        n_questions: the country's questions in the leaderboard's set.
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
        }


@dataclass(frozen=True)
class Baselines:
    """Baselines for the countries scored on a question set, in uniform-score order."""

    countries: tuple[CountryBaseline, ...]
    policy: str
    min_shared: int
    exclude_same_iso2: bool

    def get(self, country: str) -> CountryBaseline | None:
        return next((c for c in self.countries if c.country == country), None)

    def to_json(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "min_shared": self.min_shared,
            "exclude_same_iso2": self.exclude_same_iso2,
            "countries": [c.to_json() for c in self.countries],
        }


def baselines(
    dataset: Dataset,
    positions: np.ndarray | None = None,
    policy: Policy = "keep",
    *,
    min_shared: int = 1,
    exclude_same_iso2: bool = True,
) -> Baselines:
    """The uniform answer's score and the best other country's, for every country.

    "Best other" answers *how representable is this country by someone else*: the maximum over
    other countries c' of the mean of ``1 - JSD(h_c', h_c)`` over the questions both have
    (restricted to ``positions``, normally the questions a run was scored on).

    Args:
        positions: the leaderboard's questions (``np.unique(scores.pairs.position)``); all
            questions when None.
        min_shared: a c' must share at least this many questions with c to be considered (a
            mean over one or two questions is a poor rival).
        exclude_same_iso2: skip c' with the same ISO code as c (e.g. ``India (Old national
            sample)`` for ``India (Current national sample)``, ``Britain`` for ``Great
            Britain``): another sample of the same country is not "another country".
    """
    uniform = metrics.uniform_baseline(dataset, positions, policy)
    matrix = human_similarity_matrix(dataset, positions, policy)
    n_c = len(dataset.countries)
    iso = [resolve(k).iso2 for k in dataset.countries]
    eligible = (matrix.n_shared >= max(1, min_shared)) & ~np.eye(n_c, dtype=bool)
    if exclude_same_iso2:
        codes = np.array([code or f"\x00{i}" for i, code in enumerate(iso)])
        eligible &= codes[:, None] != codes[None, :]
    candidates = np.where(eligible, matrix.mean, -np.inf)
    best = np.argmax(candidates, axis=1)
    best_value = candidates[np.arange(n_c), best]

    rows = []
    for cs in uniform.countries:
        ci = dataset.country_index[cs.country]
        found = bool(np.isfinite(best_value[ci]))
        other = resolve(dataset.countries[int(best[ci])]) if found else None
        rows.append(
            CountryBaseline(
                country=cs.country,
                display=cs.display,
                iso2=cs.iso2,
                n_questions=cs.n_questions,
                uniform=cs.similarity,
                best_other=other.key if other else None,
                best_other_display=other.label if other else None,
                best_other_similarity=float(best_value[ci]) if found else None,
                best_other_n_shared=int(matrix.n_shared[ci, best[ci]]) if found else 0,
            )
        )
    return Baselines(tuple(rows), policy, max(1, min_shared), exclude_same_iso2)
