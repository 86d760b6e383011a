"""The paper's metric: similarity = 1 - Jensen-Shannon distance (base 2), per country.

For a question q, a model distribution p over its K options and a country c with human
distribution h (both renormalised to sum 1), ``similarity(q, c) = 1 - JSD(p, h)``. A country's
score is the mean similarity over the questions where it has data. Everything is computed over
flat arrays of (question, country) pairs, never in a Python loop per pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.countries import resolve
from core.dataset import Dataset

Policy = Literal["keep", "drop"]
POLICIES: tuple[Policy, ...] = ("keep", "drop")
JSD_BASE = 2


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
    """Per-country scores sorted by similarity, highest first."""

    countries: tuple[CountryScore, ...]
    n_questions_scored: int
    pairs: PairScores

    def to_json(self) -> dict[str, object]:
        return {
            "n_questions_scored": self.n_questions_scored,
            "jsd_base": JSD_BASE,
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
    if policy == "keep":
        sims = _fast_similarity(padded, rows[sel], dataset, sel)
    else:
        mask = dataset.nonsubstantive[q]
        sims = similarity(
            apply_policy(padded[rows[sel]], mask, policy),
            apply_policy(dataset.pair_human[sel], mask, policy),
        )
    ok = np.isfinite(sims)  # a side with no mass (no data for this country) gives NaN
    return PairScores(
        position=q[ok].astype(np.int64),
        country=dataset.pair_country[sel][ok].astype(np.int64),
        similarity=sims[ok],
    )


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


def aggregate(dataset: Dataset, pairs: PairScores, min_questions: int = 1) -> Scores:
    """Average pair similarities per country and rank the countries."""
    n_countries = len(dataset.countries)
    counts = np.bincount(pairs.country, minlength=n_countries)
    sums = np.bincount(pairs.country, weights=pairs.similarity, minlength=n_countries)
    keep = np.flatnonzero(counts >= max(1, min_questions))
    means = sums[keep] / counts[keep]
    order = np.lexsort((keep, -means))
    scores = []
    for i in order:
        ci = int(keep[i])
        c = resolve(dataset.countries[ci])
        scores.append(CountryScore(c.key, c.label, c.iso2, float(means[i]), int(counts[ci])))
    return Scores(
        countries=tuple(scores),
        n_questions_scored=int(np.unique(pairs.position).shape[0]),
        pairs=pairs,
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
