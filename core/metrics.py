"""The paper's metric: similarity = 1 - Jensen-Shannon distance (base 2), per country.

For a question q, a model distribution p over its K options and a country c with human
distribution h (both renormalised to sum 1), ``similarity(q, c) = 1 - JSD(p, h)``. A country's
score is the mean similarity over the questions where it has data. Everything is computed over
flat arrays of (question, country) pairs, never in a Python loop per pair.

Other metrics (issue 12) are computed the same way by :func:`pair_values` and ranked by
:func:`score_with`; ``jsd`` (the paper's, above) stays the default and gives exactly the numbers
of :func:`score`. Per pair, with p the model's and h the country's distribution, both after the
non-substantive policy and renormalised (a side with no mass left: the pair is not scored):

- ``jsd``: ``1 - JSD(p, h)``, base 2 (the paper's).
- ``jsd-e``: ``1 - JSD(p, h)`` with natural logarithms, scipy's default (some replications);
  it is ``1 - sqrt(ln 2) * (1 - jsd)``, so it ranks exactly like ``jsd`` but reads higher.
- ``tv``: ``1 - ½ Σ |p - h|``, one minus the total variation distance.
- ``wasserstein``: ``1 - W1(p, h) / (K - 1)`` on ordinal questions only (OpinionQA's metric):
  the K substantive options are placed at 0 .. K-1 in scale order (:func:`core.ordinal.scale`,
  whatever order they are published in), non-substantive options have no place on a scale so
  they are left out under either policy, and both sides are renormalised over the scale.
  Nominal questions give no pair at all: they are missing from the pairs, not NaN, and a
  country's score and ``n_questions`` count its ordinal questions only.
- ``kl``: ``KL(h ‖ p)`` in bits, the information lost when the model's answer stands in for
  the country's. A divergence: 0 is best, lower is better. Both sides are smoothed with
  :data:`KL_EPSILON` over the question's options (those the policy keeps), ``x -> (x + ε) /
  (1 + K ε)``, so a model that rules out an answer people gave costs a large, finite amount.
- ``cosine``: ``p · h / (‖p‖ ‖h‖)``.
- ``argmax``: 1 when the model's most likely option is the country's plurality answer, else 0.
  Ties (values within :data:`ARGMAX_TIE` of the row's maximum): any of the country's tied top
  options counts as its plurality answer, and a model tied between several top options gets
  the share of them that are the country's, the expected hit of breaking its tie at random;
  so the uniform answer scores (country top options) / K, never a fixed published position.

``kl`` and ``wasserstein`` live on a question's own options (mass a model put beyond them, which
goqa's runner never does, is ignored); the others use the zero-padded row as ``jsd`` does.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.countries import resolve
from core.dataset import Dataset
from core.errors import InvalidValueError
from core.ordinal import scale

Policy = Literal["keep", "drop"]
POLICIES: tuple[Policy, ...] = ("keep", "drop")
JSD_BASE = 2

MetricName = Literal["jsd", "jsd-e", "tv", "wasserstein", "kl", "cosine", "argmax"]
METRIC_NAMES: tuple[MetricName, ...] = (
    "jsd",
    "jsd-e",
    "tv",
    "wasserstein",
    "kl",
    "cosine",
    "argmax",
)
DEFAULT_METRIC: MetricName = "jsd"
METRIC_INFO: dict[MetricName, str] = {
    "jsd": "1 - Jensen-Shannon distance, base 2 (the paper's metric, the default)",
    "jsd-e": "1 - Jensen-Shannon distance, natural log (scipy's default base)",
    "tv": "1 - total variation distance (half the L1 distance)",
    "wasserstein": "1 - Wasserstein-1 distance / (K - 1) on the scale order, ordinal questions only",
    "kl": "KL divergence KL(country || model) in bits, smoothed by 1e-6; lower is better",
    "cosine": "cosine similarity of the two distributions",
    "argmax": "1 if the model's most likely option is the country's plurality answer",
}
HIGHER_IS_BETTER: dict[MetricName, bool] = {name: name != "kl" for name in METRIC_NAMES}
KL_EPSILON = 1e-6
"""Additive smoothing of both distributions for ``kl`` (see the module docstring)."""
ARGMAX_TIE = 1e-12
"""Normalised probabilities this close to a row's maximum tie with it for ``argmax``."""


def oriented(metric: MetricName, values: np.ndarray | float) -> np.ndarray | float:
    """``values`` turned so that higher is better under every metric (``kl`` negated).

    What code that compares scores (a gain, a lift, a "closer than") uses so that one sign
    convention holds for divergences and similarities alike.
    """
    return values if HIGHER_IS_BETTER[metric] else -values


def parse_metric(text: str) -> MetricName:
    """The metric a name (``--metric``, a config value, a picker) stands for.

    Args:
        text: one of :data:`METRIC_NAMES`; surrounding spaces and case do not count.

    Raises:
        InvalidValueError: ``text`` names no metric; the message names it and the choices.
    """
    wanted = text.strip().lower()
    for name in METRIC_NAMES:
        if name == wanted:
            return name
    raise _unknown_metric(text)


def _unknown_metric(value: object) -> InvalidValueError:
    return InvalidValueError(
        f"Unknown metric {value!r}.", f"Choose one of: {', '.join(METRIC_NAMES)}."
    )


def js_distance(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon distance in base 2 between distributions.

    Args:
        p, h: arrays (..., K) of non-negative weights; each row is normalised to sum 1 first,
            exactly as ``scipy.spatial.distance.jensenshannon`` does.

    Returns:
        Array (...) of distances in [0, 1].
    """
    p = np.asarray(p, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = p / np.sum(p, axis=-1, keepdims=True)
        h = h / np.sum(h, axis=-1, keepdims=True)
        m = (p + h) * 0.5
        # sum x * log(x / m) with 0 * log 0 = 0, as scipy.special.rel_entr does; log(x + (x == 0))
        # is exact for x > 0 and 0 for x == 0, and plain numpy logs are several times faster
        # than the scipy ufunc on large arrays. p > 0 or h > 0 implies m > 0.
        log_m = np.log(m + (m == 0))
        js = np.einsum("...k,...k->...", p, np.log(p + (p == 0)) - log_m)
        js += np.einsum("...k,...k->...", h, np.log(h + (h == 0)) - log_m)
    js = js / np.log(JSD_BASE)
    return np.sqrt(np.maximum(js, 0.0) / 2.0)


def similarity(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Row-wise ``1 - js_distance(p, h)``."""
    return 1.0 - js_distance(p, h)


def apply_policy(weights: np.ndarray, nonsubstantive: np.ndarray, policy: Policy) -> np.ndarray:
    """Zero the non-substantive options under ``drop`` (renormalisation happens in the metric)."""
    if policy == "keep":
        return weights
    if policy == "drop":
        return np.where(nonsubstantive, 0.0, weights)
    raise ValueError(f"Unknown non-substantive policy {policy!r}: use 'keep' or 'drop'.")


@dataclass(frozen=True)
class CountryScore:
    """One country's score: mean similarity over ``n_questions`` questions."""

    country: str
    display: str
    iso2: str | None
    similarity: float
    n_questions: int


@dataclass(frozen=True)
class PairScores:
    """Similarity of every scored (question, country) pair.

    ``position`` indexes the dataset's questions, ``country`` its ``countries`` tuple.
    """

    position: np.ndarray
    country: np.ndarray
    similarity: np.ndarray


@dataclass(frozen=True)
class Scores:
    """Per-country scores sorted best first (highest similarity; lowest for ``kl``).

    ``metric`` says what ``CountryScore.similarity`` and ``pairs.similarity`` hold: the
    paper's similarity unless :func:`score_with` scored with another metric.
    """

    countries: tuple[CountryScore, ...]
    n_questions_scored: int
    pairs: PairScores
    metric: MetricName = DEFAULT_METRIC

    def to_json(self) -> dict[str, object]:
        # The default metric's JSON is what it always was; another metric says which it is.
        head: dict[str, object] = (
            {"jsd_base": JSD_BASE}
            if self.metric == DEFAULT_METRIC
            else {"metric": self.metric, "higher_is_better": HIGHER_IS_BETTER[self.metric]}
        )
        return {
            "n_questions_scored": self.n_questions_scored,
            **head,
            "countries": [
                {
                    "country": c.country,
                    "display": c.display,
                    "iso2": c.iso2,
                    "similarity": c.similarity,
                    "n_questions": c.n_questions,
                }
                for c in self.countries
            ],
        }

    def get(self, country: str) -> CountryScore | None:
        return next((c for c in self.countries if c.country == country), None)


def pad_probs(
    dataset: Dataset,
    rows: np.ndarray | Sequence[np.ndarray],
    positions: np.ndarray | Sequence[int] | None = None,
) -> np.ndarray:
    """Model distributions as one array as wide as the dataset's widest question.

    Every function that takes ``probs`` for several questions wants them this way: row ``i``
    holds question ``i``'s probabilities first, then zeros.

    Args:
        dataset: its widest question (``dataset.kmax`` options) sets the width.
        rows: an (M, K) array (K narrower or wider than the dataset's), or M one-dimensional
            arrays of any lengths, one per question.
        positions: the M dataset positions the rows answer; when given, there must be one
            row per position.

    Returns:
        (M, dataset.kmax) float64: each row's values, zero padded (values beyond
        ``dataset.kmax`` are cut).

    Raises:
        ValueError: ``rows`` is neither shape, or its number of rows is not ``len(positions)``.
    """
    kmax = dataset.kmax
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2:
            raise ValueError("probs must be (len(positions), K)")
        out = np.zeros((rows.shape[0], kmax))
        width = min(kmax, rows.shape[1])
        out[:, :width] = rows[:, :width]
    else:
        out = np.zeros((len(rows), kmax))
        for i, row in enumerate(rows):
            values = np.asarray(row, dtype=np.float64)
            if values.ndim != 1:
                raise ValueError("each row of probs must be one distribution")
            width = min(kmax, values.shape[0])
            out[i, :width] = values[:width]
    if positions is not None and out.shape[0] != len(positions):
        raise ValueError("probs must be (len(positions), K)")
    return out


def pair_similarities(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    policy: Policy = "keep",
) -> PairScores:
    """Similarity of the model to every country on every answered question.

    Args:
        dataset: the questions and human distributions.
        positions: (M,) dataset positions of the answered questions (unique).
        probs: (M, >=K) model distributions, one row per position, zero padded to the right.
        policy: ``keep`` scores all options; ``drop`` removes non-substantive options from
            both distributions and renormalises.
    """
    padded, model_row, sel, q = _answered_pairs(dataset, positions, probs)
    if policy == "keep":
        sims = _fast_similarity(padded, model_row, dataset, sel)
    else:
        mask = dataset.nonsubstantive[q]
        sims = similarity(
            apply_policy(padded[model_row], mask, policy),
            apply_policy(dataset.pair_human[sel], mask, policy),
        )
    ok = np.isfinite(sims)  # a side with no mass (no data for this country) gives NaN
    return PairScores(
        position=q[ok].astype(np.int64),
        country=dataset.pair_country[sel][ok].astype(np.int64),
        similarity=sims[ok],
    )


def _answered_pairs(
    dataset: Dataset, positions: np.ndarray, probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | slice, np.ndarray]:
    """The (question, country) pairs of the answered questions, with the model's rows.

    Returns:
        ``(padded, model_row, sel, question)``: the model rows padded to ``dataset.kmax``;
        for each selected pair, its row in ``padded``; the selection of the dataset's pair
        arrays (a slice when every question is answered, to save gather copies); and each
        selected pair's question position.

    Raises:
        ValueError: ``probs`` is not one row per position, or a row is not finite,
            non-negative and of positive finite sum.
    """
    positions = np.asarray(positions, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != positions.shape[0]:
        raise ValueError("probs must be (len(positions), K)")
    with np.errstate(over="ignore", invalid="ignore"):
        sums = probs.sum(axis=1)
    bad = ~(np.isfinite(sums) & (sums > 0)) | np.any(~np.isfinite(probs) | (probs < 0), axis=1)
    if bad.any():
        # A wrong number is worse than an error: a row that overflows when added up would
        # normalise to zeros and score as if the model had said nothing.
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"model probabilities for question {dataset.ids[positions[row]]} must be finite, "
            "non-negative numbers with a positive, finite sum; scale them to sum to 1"
        )
    row_of = np.full(len(dataset), -1, dtype=np.int64)
    row_of[positions] = np.arange(positions.shape[0])
    padded = pad_probs(dataset, probs)

    rows = row_of[dataset.pair_question]
    if positions.shape[0] == len(dataset):
        # Every question answered: work on the pair arrays themselves, no gather copies.
        sel: np.ndarray | slice = slice(None)
        q = dataset.pair_question
    else:
        sel = np.flatnonzero(rows >= 0)
        q = dataset.pair_question[sel]
    return padded, rows[sel], sel, q


def _fast_similarity(
    model: np.ndarray, model_row: np.ndarray, dataset: Dataset, sel: np.ndarray | slice
) -> np.ndarray:
    """``similarity`` for many pairs that share model rows, with one log per cell.

    With m = (p + h) / 2, the JS divergence is
    ``[Σ p ln p + Σ h ln h − 2 Σ m ln m] / 2``: the first sum is computed once per model row,
    the second once per dataset (``Dataset.pair_xlogx``), so only ``m ln m`` is per pair.
    Near-identical pairs, where that difference cancels, are recomputed with
    :func:`js_distance` so results match scipy to 1e-12 everywhere.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        p_all = model / model.sum(axis=1, keepdims=True)
        p_terms = np.einsum("mk,mk->m", p_all, np.log(p_all + (p_all == 0)))
        p = p_all[model_row]
        h = dataset.pair_distribution[sel]
        m = (p + h) * 0.5
        js = p_terms[model_row] + dataset.pair_xlogx[sel]
        js -= 2.0 * np.einsum("nk,nk->n", m, np.log(m + (m == 0)))
    js /= np.log(JSD_BASE)
    close = np.flatnonzero(js < 1e-6)
    dist = np.sqrt(np.maximum(js, 0.0) / 2.0)
    if close.size:
        dist[close] = js_distance(p[close], h[close])
    return 1.0 - dist


def aggregate(
    dataset: Dataset,
    pairs: PairScores,
    min_questions: int = 1,
    metric: MetricName = DEFAULT_METRIC,
) -> Scores:
    """Average pair values per country and rank the countries best first for ``metric``
    (the pairs hold that metric's values)."""
    return _aggregate(dataset, pairs, min_questions, metric)


def _aggregate(
    dataset: Dataset, pairs: PairScores, min_questions: int, metric: MetricName
) -> Scores:
    """Mean pair value per country, ranked best first for ``metric`` (ties: country order)."""
    n_countries = len(dataset.countries)
    counts = np.bincount(pairs.country, minlength=n_countries)
    sums = np.bincount(pairs.country, weights=pairs.similarity, minlength=n_countries)
    keep = np.flatnonzero(counts >= max(1, min_questions))
    means = sums[keep] / counts[keep]
    order = np.lexsort((keep, -means if HIGHER_IS_BETTER[metric] else means))
    scores = []
    for i in order:
        ci = int(keep[i])
        c = resolve(dataset.countries[ci])
        scores.append(CountryScore(c.key, c.label, c.iso2, float(means[i]), int(counts[ci])))
    return Scores(
        countries=tuple(scores),
        n_questions_scored=int(np.unique(pairs.position).shape[0]),
        pairs=pairs,
        metric=metric,
    )


def score(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    policy: Policy = "keep",
    min_questions: int = 1,
) -> Scores:
    """Per-country scores S(c) for model distributions on some questions (see module doc)."""
    return aggregate(dataset, pair_similarities(dataset, positions, probs, policy), min_questions)


def uniform_probs(dataset: Dataset, positions: np.ndarray) -> np.ndarray:
    """The uniform distribution over each question's options, zero padded."""
    positions = np.asarray(positions, dtype=np.int64)
    k = dataset.n_options[positions]
    cols = np.arange(dataset.kmax)
    return np.where(cols[None, :] < k[:, None], 1.0 / k[:, None], 0.0)


def uniform_baseline(
    dataset: Dataset, positions: np.ndarray | None = None, policy: Policy = "keep"
) -> Scores:
    """Scores of a model that answers uniformly: the floor a model should beat."""
    pos = np.arange(len(dataset)) if positions is None else np.asarray(positions)
    return score(dataset, pos, uniform_probs(dataset, pos), policy)


def human_similarity(
    dataset: Dataset,
    country: str,
    policy: Policy = "keep",
    positions: np.ndarray | None = None,
) -> Scores:
    """How alike other countries' people answer to ``country``'s, over their shared questions.

    Each other country c gets the mean of ``1 - JSD(h_country, h_c)`` over the questions where
    both have data (``positions`` restricts the questions). The reference country is left out.
    """
    ci = dataset.country_index.get(country)
    if ci is None:
        raise KeyError(f"Country {country!r} is not in dataset {dataset.name!r}.")
    ref_row = np.full(len(dataset), -1, dtype=np.int64)
    own = np.flatnonzero(dataset.pair_country == ci)
    ref_row[dataset.pair_question[own]] = own
    if positions is not None:
        allowed = np.zeros(len(dataset), dtype=bool)
        allowed[np.asarray(positions, dtype=np.int64)] = True
        ref_row[~allowed] = -1
    refs = ref_row[dataset.pair_question]
    sel = np.flatnonzero((refs >= 0) & (dataset.pair_country != ci))
    q = dataset.pair_question[sel]
    mask = dataset.nonsubstantive[q]
    a = apply_policy(dataset.pair_human[refs[sel]], mask, policy)
    b = apply_policy(dataset.pair_human[sel], mask, policy)
    ok = (a.sum(axis=1) > 0) & (b.sum(axis=1) > 0)
    pairs = PairScores(
        position=q[ok].astype(np.int64),
        country=dataset.pair_country[sel][ok].astype(np.int64),
        similarity=similarity(a[ok], b[ok]),
    )
    return aggregate(dataset, pairs)


# --------------------------------------------------------------------------- other metrics


@dataclass(frozen=True)
class ScaleOrders:
    """Every question's scale (:func:`core.ordinal.scale`) as arrays indexed by position.

    Attributes:
        ordinal: (Q,) bool, True for a question whose substantive options form a scale.
        order: (Q, Kmax) int: ``order[q, j]`` is the published index of the option at scale
            position ``j`` for ``j < n_scale[q]``, and ``Kmax`` (a zero column the metric
            appends) beyond; for a nominal question the substantive options in published order.
        n_scale: (Q,) int, the number of substantive options (K of ``1 - W1 / (K - 1)``).
    """

    ordinal: np.ndarray
    order: np.ndarray
    n_scale: np.ndarray


_SCALE_ORDERS: dict[int, tuple[weakref.ref[Dataset], ScaleOrders]] = {}


def scale_orders(dataset: Dataset) -> ScaleOrders:
    """The scale of each of ``dataset``'s questions, classified once per dataset object.

    A loop over questions (never over pairs); the result is kept while ``dataset`` lives.
    """
    cached = _SCALE_ORDERS.get(id(dataset))
    if cached is not None and cached[0]() is dataset:
        return cached[1]
    n, kmax = len(dataset), dataset.kmax
    ordinal = np.zeros(n, dtype=bool)
    order = np.full((n, kmax), kmax, dtype=np.int64)
    n_scale = np.zeros(n, dtype=np.int64)
    for pos in range(n):
        k = int(dataset.n_options[pos])
        flags = [bool(f) for f in dataset.nonsubstantive[pos, :k]]
        found = scale(dataset.options[pos], flags, dataset.keys[pos])
        ordinal[pos] = found.ordinal
        order[pos, : len(found.order)] = found.order
        n_scale[pos] = len(found.order)
    result = ScaleOrders(ordinal, order, n_scale)
    key = id(dataset)
    _SCALE_ORDERS[key] = (weakref.ref(dataset, lambda _: _SCALE_ORDERS.pop(key, None)), result)
    return result


def pair_values(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    metric: MetricName = DEFAULT_METRIC,
    policy: Policy = "keep",
) -> PairScores:
    """One metric's value for every scored (question, country) pair of the answered questions.

    Computed over all pairs at once (see the module docstring for each metric's definition).
    ``jsd`` is :func:`pair_similarities` itself.

    Args:
        dataset: the questions and human distributions.
        positions: (M,) dataset positions of the answered questions (unique).
        probs: (M, >=K) model distributions, one row per position, zero padded to the right.
        metric: one of :data:`METRIC_NAMES`.
        policy: ``keep`` or ``drop`` non-substantive options, as for :func:`pair_similarities`
            (``wasserstein`` always leaves them out: they have no place on a scale).

    Returns:
        :class:`PairScores` whose ``similarity`` holds the metric's value (for ``kl`` a
        divergence, lower is better). Pairs where either side has no mass left are absent, as
        for ``jsd``; for ``wasserstein`` so are all pairs of nominal questions.

    Raises:
        InvalidValueError: an unknown metric.
        ValueError: bad ``probs`` (see :func:`pair_similarities`) or an unknown policy.
    """
    if metric not in METRIC_NAMES:
        raise _unknown_metric(metric)
    if policy not in POLICIES:
        apply_policy(np.zeros(0), np.zeros(0, dtype=bool), policy)  # raises
    if metric in ("jsd", "jsd-e"):
        base2 = pair_similarities(dataset, positions, probs, policy)
        if metric == "jsd":
            return base2
        # The natural-log distance is sqrt(ln 2) times the base-2 one (same divergence, other
        # unit, under a square root): exact, and it reuses the fast path.
        natural = 1.0 - (1.0 - base2.similarity) * np.sqrt(np.log(2.0))
        return PairScores(base2.position, base2.country, natural)
    padded, model_row, sel, q = _answered_pairs(dataset, positions, probs)
    country = dataset.pair_country[sel]
    if metric == "wasserstein":
        # CDFs in scale order: the model's once per question, the people's once per dataset.
        orders = scale_orders(dataset)
        answered = np.asarray(positions, dtype=np.int64)
        model_cdf = _scale_cdf(padded, orders.order[answered])
        human_cdf = _human_scale_cdf(dataset)[sel]
        on_scale = np.flatnonzero(orders.ordinal[q])
        q, country, model_row = q[on_scale], country[on_scale], model_row[on_scale]
        values = _cdf_wasserstein(model_cdf[model_row], human_cdf[on_scale], orders.n_scale[q])
    else:
        # Each model row is masked and normalised once per question, not once per pair;
        # the people's rows are normalised once per dataset (``pair_distribution``).
        answered = np.asarray(positions, dtype=np.int64)
        model = _normalised(apply_policy(padded, dataset.nonsubstantive[answered], policy))
        if policy == "keep":
            human = dataset.pair_distribution[sel]
        else:
            human = _normalised(
                apply_policy(dataset.pair_human[sel], dataset.nonsubstantive[q], policy)
            )
        values = _normalised_values(dataset, q, model[model_row], human, metric, policy)
    ok = np.isfinite(values)  # a side with no mass gives NaN
    return PairScores(
        position=q[ok].astype(np.int64),
        country=country[ok].astype(np.int64),
        similarity=values[ok],
    )


def score_with(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    metric: MetricName = DEFAULT_METRIC,
    policy: Policy = "keep",
    min_questions: int = 1,
) -> Scores:
    """Per-country scores under any metric: the mean pair value over a country's questions.

    Countries are ranked best first (lowest first for ``kl``), ties by country order. With
    ``metric="jsd"`` the result equals :func:`score`'s.

    Args:
        dataset, positions, probs, policy: as for :func:`pair_values`.
        metric: one of :data:`METRIC_NAMES`.
        min_questions: a country needs at least this many scored questions to be ranked.

    Returns:
        :class:`Scores` with ``metric`` set; ``n_questions`` counts the scored pairs of a
        country (for ``wasserstein`` its ordinal questions only).
    """
    pairs = pair_values(dataset, positions, probs, metric, policy)
    return _aggregate(dataset, pairs, min_questions, metric)


def row_values(
    dataset: Dataset,
    question: np.ndarray,
    p: np.ndarray,
    h: np.ndarray,
    metric: MetricName = DEFAULT_METRIC,
    policy: Policy = "keep",
) -> np.ndarray:
    """One metric between any two rows of distributions on the same questions, row by row.

    What :func:`pair_values` computes for the model against a country, for any two sides:
    two countries' people (a baseline), a calibrated model against a country, the population
    average against a country. ``p`` stands where the model does (for ``kl`` the
    divergence is ``KL(h ‖ p)``).

    Args:
        dataset: the dataset the questions belong to (options, flags, scale orders).
        question: (N,) the dataset position of each row's question.
        p, h: (N, dataset.kmax) non-negative weights, zero padded; normalised here.
        metric: one of :data:`METRIC_NAMES`.
        policy: ``keep`` or ``drop`` the non-substantive options (``wasserstein`` always
            leaves them out).

    Returns:
        (N,) values; NaN where a side has no mass left, and for ``wasserstein`` on a
        nominal question.

    Raises:
        InvalidValueError: an unknown metric.
    """
    if metric not in METRIC_NAMES:
        raise _unknown_metric(metric)
    question = np.asarray(question, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if metric == "wasserstein":
        orders = scale_orders(dataset)
        values = _wasserstein(p, h, orders.order[question], orders.n_scale[question])
        return np.where(orders.ordinal[question], values, np.nan)
    mask = dataset.nonsubstantive[question]
    p = _normalised(apply_policy(p, mask, policy))
    h = _normalised(apply_policy(h, mask, policy))
    return _normalised_values(dataset, question, p, h, metric, policy)


def _normalised_values(
    dataset: Dataset,
    question: np.ndarray,
    p: np.ndarray,
    h: np.ndarray,
    metric: MetricName,
    policy: Policy,
) -> np.ndarray:
    """:func:`row_values` of rows already masked by the policy and normalised (NaN rows for
    a side with no mass), for every metric but ``wasserstein``."""
    if metric in ("jsd", "jsd-e"):
        with np.errstate(invalid="ignore"):
            dist = js_distance(p, h)
        if metric == "jsd-e":
            dist = dist * np.sqrt(np.log(2.0))
        return 1.0 - dist
    if metric == "kl":
        support = np.arange(dataset.kmax)[None, :] < dataset.n_options[question][:, None]
        if policy == "drop":
            support &= ~dataset.nonsubstantive[question]
        return _kl_bits(p, h, support)
    if metric == "tv":
        return 1.0 - 0.5 * np.abs(p - h).sum(axis=1)
    if metric == "cosine":
        return _cosine(p, h)
    return _argmax_hit(p, h)


def _normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1; a row with no mass becomes NaN (the pair is not scored)."""
    total = x.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = x / total
    out[~(total[:, 0] > 0)] = np.nan
    return out


def _cosine(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Cosine of normalised rows."""
    dot = np.einsum("nk,nk->n", p, h)
    norms = np.sqrt(np.einsum("nk,nk->n", p, p) * np.einsum("nk,nk->n", h, h))
    return np.minimum(dot / norms, 1.0)  # identical rows are 1, not 1 + 1 ulp


def _kl_bits(p: np.ndarray, h: np.ndarray, support: np.ndarray) -> np.ndarray:
    """``KL(h ‖ p)`` in bits of normalised rows (zero off ``support``), both smoothed by
    :data:`KL_EPSILON` over ``support``."""
    k = support.sum(axis=1, keepdims=True)
    scale = 1.0 + k * KL_EPSILON
    hs = (h + KL_EPSILON) / scale
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.log2(hs * scale / (p + KL_EPSILON))  # log2(hs / ps); scale cancels
    terms = hs * ratio
    terms[~support] = 0.0
    return np.maximum(terms.sum(axis=1), 0.0)


def _argmax_hit(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Share of the model's top options (ties within ARGMAX_TIE) that are the country's, of
    normalised rows."""
    with np.errstate(invalid="ignore"):
        top_p = p >= np.max(p, axis=1, keepdims=True) - ARGMAX_TIE
        top_h = h >= np.max(h, axis=1, keepdims=True) - ARGMAX_TIE
    hits = (top_p & top_h).sum(axis=1) / np.maximum(top_p.sum(axis=1), 1)
    return np.where(np.isnan(p[:, 0]) | np.isnan(h[:, 0]), np.nan, hits)


def _wasserstein(
    p: np.ndarray, h: np.ndarray, order: np.ndarray, n_scale: np.ndarray
) -> np.ndarray:
    """``1 - W1 / (K - 1)`` with options at 0 .. K-1 in scale order (``order``, see ScaleOrders).

    W1 between distributions on unit-spaced points is the L1 distance of their CDFs.
    """
    return _cdf_wasserstein(_scale_cdf(p, order), _scale_cdf(h, order), n_scale)


def _scale_cdf(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rows of weights as normalised CDFs over their scale (``order``, see ScaleOrders)."""
    pad = np.zeros((x.shape[0], 1))
    return np.cumsum(_normalised(np.take_along_axis(np.hstack([x, pad]), order, axis=1)), axis=1)


def _cdf_wasserstein(p_cdf: np.ndarray, h_cdf: np.ndarray, n_scale: np.ndarray) -> np.ndarray:
    """``1 - W1 / (K - 1)`` from two rows of CDFs: W1 on unit-spaced points is the L1
    distance of the CDFs (the last value, 1 on both sides, left out)."""
    gap = np.abs(p_cdf - h_cdf)
    inner = np.arange(p_cdf.shape[1])[None, :] < (n_scale - 1)[:, None]
    gap[~inner] = 0.0
    return 1.0 - gap.sum(axis=1) / np.maximum(n_scale - 1, 1)


_HUMAN_CDF: dict[int, tuple[weakref.ref[Dataset], np.ndarray]] = {}


def _human_scale_cdf(dataset: Dataset) -> np.ndarray:
    """Every (question, country) pair's CDF over its question's scale, once per dataset."""
    cached = _HUMAN_CDF.get(id(dataset))
    if cached is not None and cached[0]() is dataset:
        return cached[1]
    orders = scale_orders(dataset)
    cdf = _scale_cdf(dataset.pair_human, orders.order[dataset.pair_question])
    key = id(dataset)
    _HUMAN_CDF[key] = (weakref.ref(dataset, lambda _: _HUMAN_CDF.pop(key, None)), cdf)
    return cdf
