"""Temperature scaling: how much of a model's distance to people is over- or under-confidence.

A model can pick the options people pick and still score poorly because it is too sure (most
of its mass on one option) or not sure enough. Temperature scaling separates the two: every
answer ``p`` becomes ``p^(1/T)`` renormalised (:func:`temper`); ``T > 1`` flattens an
over-confident model, ``T < 1`` sharpens an under-confident one, and the ranking of the options
within a question never changes.

One temperature is fitted per run, against the **population average**
(:func:`population_average`): for each question the mean of every country's normalised human
distribution, the answer of a "global respondent" who weighs each country equally. Fitting to it rather than to one country
keeps the calibration neutral: it can make a model more or less sure, not closer to any
country in particular.

**The objective.** For a temperature T, the mean over the fitted questions of the
Jensen-Shannon *distance* (base 2, the paper's metric) between the tempered model row and the
population-average row, i.e. the mean of ``1 - row_values(..., metric="jsd")``
(:func:`core.metrics.row_values`, after the non-substantive policy; see :func:`objective`).
A question where either side has no mass left (no country has data, or under ``drop`` only
non-substantive options do) is not scored and takes no part in any fit.

**The fit** (:func:`fit_temperature`) is over ``log T`` in
``[log 0.05, log 20]`` (:data:`TEMPERATURE_BOUNDS`): the objective is evaluated at
:data:`GRID_POINTS` log-spaced temperatures across the bounds, then
``scipy.optimize.minimize_scalar(method="bounded")`` refines between the best grid point's
neighbours (the grid guards against a local minimum). A fit that ends at a bound says so
(``at_bound``): the objective was still falling there, so the true optimum may lie beyond.
When no temperature improves the objective at all (rows that tempering cannot change, e.g.
one-hot or uniform answers), the fit is ``T = 1``: no change. Every evaluation of the
objective is one pass of array operations over all the questions (the grid is evaluated once
and shared by all the fits); a whole :func:`calibrate` of 2,556 questions takes 0.2-0.4 s.

**Cross-validation.** The scorable questions are shuffled with ``numpy.random.default_rng(seed)``
and dealt into ``min(folds, n)`` folds of near-equal size (``n`` questions; so with at most
``folds`` questions it is leave-one-out). Each fold's questions are tempered by the temperature
fitted on the other folds only, so no question's calibrated answer comes from a temperature
fitted on it; these out-of-fold answers are :attr:`Calibration.calibrated_probs`, which
:func:`calibrated_scores` scores under any metric. The temperature to report is the one fitted
on all questions, with the folds' temperatures beside it to show how stable it is.

Tempering commutes with dropping the non-substantive options (both act per option and the
renormalisation cancels), so the calibrated rows are the full rows tempered, valid under
either policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from core import metrics
from core.dataset import Dataset
from core.errors import InvalidValueError
from core.metrics import MetricName, Policy, Scores

DEFAULT_FOLDS = 5
DEFAULT_SEED = 0
TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The temperatures a fit searches (as ``log T``); beyond them, tempering is all or nothing."""
GRID_POINTS = 17
"""Log-spaced temperatures evaluated across the bounds before the bounded refinement."""
LOG_T_TOLERANCE = 1e-6
"""``xatol`` of the bounded refinement, in ``log T`` (a relative precision on T)."""
_AT_BOUND = 1e-4
"""A fitted ``log T`` this close to a bound is reported as at the bound."""
_NO_GAIN = 1e-12
"""A fit that improves the objective by no more than this over T = 1 is T = 1."""


# --------------------------------------------------------------------------- building blocks


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Each row raised to the power ``1 / temperature`` and renormalised to sum 1.

    Computed in log space (the largest entry of a row is scaled to 1 before exponentiating),
    so no row under- or overflows at any temperature. Zeros stay zero; a row of zeros stays
    zeros. Rows need not be normalised: a row's scale cancels.

    Args:
        probs: (..., K) non-negative, finite weights; the last axis holds a distribution.
        temperature: finite and > 0. Above 1 flattens, below 1 sharpens, 1 only renormalises.

    Returns:
        float64 array of ``probs``' shape.

    Raises:
        InvalidValueError: ``temperature`` is not a finite number above 0, or ``probs``
            holds a negative or non-finite value.
    """
    t = _check_temperature(temperature)
    p = np.asarray(probs, dtype=np.float64)
    if np.any(~np.isfinite(p) | (p < 0)):
        raise InvalidValueError(
            "Probabilities to temper must be finite and non-negative.",
            "Pass distributions (rows of non-negative weights).",
        )
    return _temper_log(_log(p), 1.0 / t)


def _check_temperature(temperature: float) -> float:
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        t = math.nan
    if isinstance(temperature, bool) or not (math.isfinite(t) and t > 0):
        raise InvalidValueError(
            f"Temperature {temperature!r} is not a finite number above 0.",
            "Use a temperature such as 0.5 (sharper), 1 (unchanged) or 2 (flatter).",
        )
    return t


def _log(p: np.ndarray) -> np.ndarray:
    """ln p with -inf for zeros."""
    with np.errstate(divide="ignore"):
        return np.log(p)


def _temper_log(log_p: np.ndarray, inverse_t: float | np.ndarray) -> np.ndarray:
    """:func:`temper` from ``ln p`` (-inf for zeros) and ``1 / T`` (a number, or one per row
    as an (M, 1) array)."""
    z = log_p * inverse_t
    top = np.max(z, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # a row of zeros: all -inf, stays zero
    w = np.exp(z - top)
    total = w.sum(axis=-1, keepdims=True)
    return w / np.where(total > 0, total, 1.0)


def population_average(
    dataset: Dataset, positions: np.ndarray | None = None, policy: Policy = "keep"
) -> np.ndarray:
    """The "global respondent": per question, the mean of the countries' human distributions.

    Each country with data on a question counts once, whatever its sample size: its row is
    put through the non-substantive ``policy`` (``drop`` zeroes the non-substantive options)
    and renormalised to sum 1, then the rows are averaged. A country left with no mass (no
    data, or under ``drop`` only non-substantive answers) is left out of that question's mean.
    One pass over the (question, country) pairs, one ``bincount`` per option column.

    Args:
        dataset: the questions and human distributions.
        positions: (M,) dataset positions; None means every question, in order.
        policy: ``keep`` or ``drop`` the non-substantive options.

    Returns:
        (M, dataset.kmax) float64: each row sums to 1 (zero beyond the question's options and,
        under ``drop``, on its non-substantive ones), or is all zero when no country has
        data on the question.

    Raises:
        ValueError: an unknown policy.
    """
    n = len(dataset)
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)
    q = dataset.pair_question
    human = metrics.apply_policy(dataset.pair_human, dataset.nonsubstantive[q], policy)
    total = human.sum(axis=1)
    ok = total > 0
    share = human[ok] / total[ok, None]
    q_ok = q[ok]
    counts = np.bincount(q_ok, minlength=n)
    sums = np.stack(
        [np.bincount(q_ok, weights=share[:, k], minlength=n) for k in range(dataset.kmax)],
        axis=1,
    )
    mean = sums / np.maximum(counts, 1)[:, None]
    return mean[pos]


def objective(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    target: np.ndarray,
    policy: Policy = "keep",
) -> np.ndarray:
    """Jensen-Shannon distance (base 2) of each model row to its target row, after the policy.

    ``1 - metrics.row_values(dataset, positions, probs, target, "jsd", policy)``: the
    divergence a temperature fit minimises the mean of (the target is the
    :func:`population_average`).

    Args:
        dataset: the dataset the questions belong to.
        positions: (M,) dataset positions of the rows.
        probs, target: (M, dataset.kmax) non-negative weights, zero padded.
        policy: ``keep`` or ``drop`` the non-substantive options.

    Returns:
        (M,) distances in [0, 1]; NaN where a side has no mass left (not scorable).
    """
    return 1.0 - metrics.row_values(dataset, positions, probs, target, "jsd", policy)


@dataclass(frozen=True)
class TemperatureFit:
    """One fitted temperature.

    Attributes:
        temperature: the T minimising the mean distance, within :data:`TEMPERATURE_BOUNDS`.
        mean_distance: the objective at ``temperature``.
        at_bound: True when the fit ended at a bound (the optimum may lie beyond it).
    """

    temperature: float
    mean_distance: float
    at_bound: bool


def fit_temperature(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    target: np.ndarray,
    policy: Policy = "keep",
) -> TemperatureFit:
    """The temperature that brings tempered ``probs`` closest to ``target`` on average.

    Minimises the mean over the rows of :func:`objective` (rows that are not scorable are
    ignored) over ``log T`` within :data:`TEMPERATURE_BOUNDS`, as the module docstring says.
    Each evaluation is one array operation over all rows.

    Args:
        dataset: the dataset the questions belong to.
        positions: (M,) dataset positions of the rows.
        probs: (M, dataset.kmax) the model's rows (valid distributions, zero padded).
        target: (M, dataset.kmax) the rows to come close to (e.g. the population average).
        policy: ``keep`` or ``drop`` the non-substantive options.

    Raises:
        InvalidValueError: no row is scorable.
    """
    positions = np.asarray(positions, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    ok = np.isfinite(objective(dataset, positions, probs, target, policy))
    if not ok.any():
        raise InvalidValueError(
            "No question can be scored against the population average, so there is nothing "
            "to fit a temperature on.",
            "Answer questions that countries have data on.",
        )
    distances = _Distances(dataset, positions[ok], _log(probs[ok]), target[ok], policy)
    return _fit(_Grid(distances), np.ones(int(ok.sum()), dtype=bool))


class _Distances:
    """:func:`objective` of every tempered row at once, for one temperature after another.

    Equal to ``objective(dataset, positions, temper(p, T), target, policy)`` (a test holds
    them equal to 1e-12), but laid out for speed: only the cells of a question's options that
    the policy keeps are stored, flat (a question has 4.4 options on average, the widest 18),
    ``ln h`` is computed once and ``ln p`` comes from the tempering itself, so a call costs
    one ``exp`` and one ``log`` (of m = (p + h) / 2) per cell. The divergence is summed as
    ``Σ p ln(p/m) + Σ h ln(h/m)``, as :func:`core.metrics.js_distance` does, which stays
    accurate for rows close to their target (the fits end there).

    The rows must all be scorable (mass left on both sides after the policy).
    """

    def __init__(
        self,
        dataset: Dataset,
        positions: np.ndarray,
        log_p: np.ndarray,
        target: np.ndarray,
        policy: Policy,
    ) -> None:
        cell = np.arange(dataset.kmax)[None, :] < dataset.n_options[positions][:, None]
        if policy == "drop":
            cell &= ~dataset.nonsubstantive[positions]
        h = np.where(cell, target, 0.0)
        h /= h.sum(axis=1, keepdims=True)
        lp = np.where(cell, log_p, -np.inf)
        top = lp.max(axis=1, keepdims=True)  # finite: a scorable row has mass
        counts = cell.sum(axis=1)
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._row = np.repeat(np.arange(positions.shape[0]), counts)
        flat_lp = (lp - top)[cell]
        self._has_p = np.isfinite(flat_lp)
        # ln p - max ln p of the row: <= 0, and 0 (not -inf) where p is 0, masked by _has_p.
        self._lp = np.where(self._has_p, flat_lp, 0.0)
        self._h = h[cell]
        self._log_h = np.log(self._h + (self._h == 0))

    def __call__(self, log_t: float) -> np.ndarray:
        """(n,) JS distances (base 2) of the rows tempered by ``exp(log_t)`` to their targets."""
        z = self._lp * math.exp(-log_t)  # ln of the tempered weights, before renormalising
        w = np.where(self._has_p, np.exp(z), 0.0)
        total = np.add.reduceat(w, self._starts)  # >= 1: the row's top cell has weight 1
        log_total = np.log(total)[self._row]
        p = w / total[self._row]
        m = (p + self._h) * 0.5
        log_m = np.log(m + (m == 0))
        # p = 0 gives 0 * (finite) = 0, as does h = 0: the 0 ln 0 = 0 convention.
        terms = p * (z - log_total - log_m) + self._h * (self._log_h - log_m)
        js = np.add.reduceat(terms, self._starts) / math.log(metrics.JSD_BASE)
        return np.sqrt(np.maximum(js, 0.0) / 2.0)


class _Grid:
    """:class:`_Distances` at the grid temperatures (and T = 1), computed once for all fits."""

    def __init__(self, distances: _Distances) -> None:
        lo, hi = (math.log(t) for t in TEMPERATURE_BOUNDS)
        self.bounds = (lo, hi)
        self.log_t = np.linspace(lo, hi, GRID_POINTS)
        self.distances = distances
        self.values = np.stack([distances(float(x)) for x in self.log_t])  # (G, n)
        self.unchanged = distances(0.0)


def _fit(grid: _Grid, rows: np.ndarray) -> TemperatureFit:
    """The fit of the module docstring on the ``rows`` (a mask over the grid's rows)."""

    def mean_distance(log_t: float) -> float:
        return float(np.mean(grid.distances(log_t)[rows]))

    lo, hi = grid.bounds
    values = grid.values[:, rows].mean(axis=1)
    best = int(np.argmin(values))
    left = float(grid.log_t[max(best - 1, 0)])
    right = float(grid.log_t[min(best + 1, GRID_POINTS - 1)])
    found = minimize_scalar(
        mean_distance,
        bounds=(left, right),
        method="bounded",
        options={"xatol": LOG_T_TOLERANCE},
    )
    log_t, value = float(found.x), float(found.fun)
    if values[best] < value:  # the bracket's end (a grid point) beat the refinement
        log_t, value = float(grid.log_t[best]), float(values[best])
    unchanged = float(np.mean(grid.unchanged[rows]))
    if value >= unchanged - _NO_GAIN:
        log_t, value = 0.0, unchanged
    at_bound = min(log_t - lo, hi - log_t) < _AT_BOUND
    return TemperatureFit(math.exp(log_t), value, bool(at_bound))


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    """A run's temperature, fitted with k-fold cross-validation, and its calibrated answers.

    Attributes:
        temperature: T fitted on all scorable questions (the figure to report).
        fold_temperatures: the T fitted without each fold, one per fold.
        n_folds: how many folds (``min(folds, n_questions)``).
        seed: the seed of the fold shuffle.
        n_questions: the scorable questions (the fitted ones).
        objective_raw: mean JS distance (base 2) of the raw answers to the population
            average over those questions.
        objective_calibrated: the same for the out-of-fold calibrated answers.
        objective_in_sample: the same for every question tempered by ``temperature``
            (optimistic: the temperature was fitted on them).
        positions: (M,) the dataset positions of the answers, as given.
        calibrated_probs: (M, dataset.kmax) the out-of-fold calibrated answers: each
            scorable question tempered by its fold's temperature, the others by
            ``temperature`` (they took no part in any fit).
        fold: (M,) the fold of each question, -1 for one that is not scorable.
        row_temperature: (M,) the temperature each row of ``calibrated_probs`` was tempered by.
        at_bound: True when the all-data fit or a fold's fit ended at a bound of
            :data:`TEMPERATURE_BOUNDS` (the optimum may lie beyond it).
        policy: the non-substantive policy of the fit.
    """

    temperature: float
    fold_temperatures: tuple[float, ...]
    n_folds: int
    seed: int
    n_questions: int
    objective_raw: float
    objective_calibrated: float
    objective_in_sample: float
    positions: np.ndarray
    calibrated_probs: np.ndarray
    fold: np.ndarray
    row_temperature: np.ndarray
    at_bound: bool
    policy: Policy = "keep"

    @property
    def fold_range(self) -> tuple[float, float]:
        """The smallest and largest fold temperature (their spread)."""
        return min(self.fold_temperatures), max(self.fold_temperatures)

    def to_json(self) -> dict[str, object]:
        """The figures (no arrays): temperatures, folds, objectives, bounds."""
        low, high = self.fold_range
        return {
            "temperature": self.temperature,
            "fold_temperatures": list(self.fold_temperatures),
            "fold_temperature_min": low,
            "fold_temperature_max": high,
            "n_folds": self.n_folds,
            "seed": self.seed,
            "n_questions": self.n_questions,
            "objective": "mean Jensen-Shannon distance (base 2) to the population average",
            "objective_raw": self.objective_raw,
            "objective_calibrated": self.objective_calibrated,
            "objective_in_sample": self.objective_in_sample,
            "temperature_bounds": list(TEMPERATURE_BOUNDS),
            "at_bound": self.at_bound,
            "policy": self.policy,
        }


def calibrate(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    policy: Policy = "keep",
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
) -> Calibration:
    """Fit a run's temperature against the population average, with k-fold cross-validation.

    See the module docstring for the objective, the fit and the folds.

    Args:
        dataset: the questions and human distributions.
        positions: (M,) dataset positions of the answered questions (unique).
        probs: (M, >=K) the model's distributions, one row per position, zero padded.
        policy: ``keep`` or ``drop`` the non-substantive options.
        folds: the number of folds (at least 2); fewer questions than that: leave-one-out.
        seed: seeds the shuffle that deals the questions into folds.

    Returns:
        :class:`Calibration`.

    Raises:
        InvalidValueError: fewer than 2 scorable questions; ``folds`` below 2 or ``seed``
            negative; a row of ``probs`` that is not a distribution; an unknown policy.
    """
    if policy not in metrics.POLICIES:
        raise InvalidValueError(
            f"Unknown non-substantive policy {policy!r}.", "Use 'keep' or 'drop'."
        )
    if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 2:
        raise InvalidValueError(
            f"Cross-validation needs a whole number of at least 2 folds, got {folds!r}.",
            "Use folds=5.",
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidValueError(
            f"Seed {seed!r} is not a whole number of at least 0.", "Use seed=0."
        )
    positions, padded = _checked(dataset, positions, probs)
    target = population_average(dataset, positions, policy)
    distance = objective(dataset, positions, padded, target, policy)
    scorable = np.flatnonzero(np.isfinite(distance))
    n = int(scorable.shape[0])
    if n < 2:
        raise InvalidValueError(
            f"Need at least 2 answered questions to calibrate, and {n} can be scored "
            "against the population average.",
            "Answer more questions (that countries have data on).",
        )
    log_p = _log(padded)
    grid = _Grid(
        _Distances(dataset, positions[scorable], log_p[scorable], target[scorable], policy)
    )

    full = _fit(grid, np.ones(n, dtype=bool))
    n_folds = min(int(folds), n)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[np.random.default_rng(int(seed)).permutation(n)] = np.arange(n) % n_folds
    row_t = np.full(positions.shape[0], full.temperature)
    fold_fits = []
    for f in range(n_folds):
        fit = _fit(grid, fold_of != f)
        fold_fits.append(fit)
        row_t[scorable[fold_of == f]] = fit.temperature
    # One temperature per row: temper every row at once with its own 1 / T.
    calibrated = _temper_log(log_p, 1.0 / row_t[:, None])
    fold = np.full(positions.shape[0], -1, dtype=np.int64)
    fold[scorable] = fold_of
    out_of_fold = objective(
        dataset, positions[scorable], calibrated[scorable], target[scorable], policy
    )
    return Calibration(
        temperature=full.temperature,
        fold_temperatures=tuple(fit.temperature for fit in fold_fits),
        n_folds=n_folds,
        seed=int(seed),
        n_questions=n,
        objective_raw=float(np.mean(distance[scorable])),
        objective_calibrated=float(np.mean(out_of_fold)),
        objective_in_sample=full.mean_distance,
        positions=positions,
        calibrated_probs=calibrated,
        fold=fold,
        row_temperature=row_t,
        at_bound=full.at_bound or any(fit.at_bound for fit in fold_fits),
        policy=policy,
    )


def _checked(
    dataset: Dataset, positions: np.ndarray, probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions as int64 and probs padded to ``dataset.kmax``, both checked."""
    pos = np.asarray(positions, dtype=np.int64)
    if pos.ndim != 1 or np.any((pos < 0) | (pos >= len(dataset))):
        raise InvalidValueError(
            "Positions must be one list of question positions in the dataset.",
            "Pass the run's answered positions.",
        )
    if np.unique(pos).shape[0] != pos.shape[0]:
        raise InvalidValueError(
            "A question appears twice among the positions.", "Pass each question once."
        )
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != pos.shape[0]:
        raise InvalidValueError(
            f"probs must be one row per position ({pos.shape[0]}), got shape {p.shape}.",
            "Pass the run's probabilities, one row per answered question.",
        )
    padded = metrics.pad_probs(dataset, p)
    with np.errstate(over="ignore", invalid="ignore"):
        sums = padded.sum(axis=1)
    bad = ~(np.isfinite(sums) & (sums > 0)) | np.any(~np.isfinite(padded) | (padded < 0), axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"Model probabilities for question {dataset.ids[pos[row]]} must be finite, "
            "non-negative numbers with a positive, finite sum.",
            "Scale them to sum to 1.",
        )
    return pos, padded


def calibrated_scores(
    dataset: Dataset,
    calibration: Calibration,
    metric: MetricName = metrics.DEFAULT_METRIC,
    policy: Policy | None = None,
    min_questions: int = 1,
) -> Scores:
    """Per-country scores of the calibrated (out-of-fold) answers under any metric.

    :func:`core.metrics.score_with` on :attr:`Calibration.calibrated_probs`, to set beside
    the raw answers' scores (the same call on the raw probs).

    Args:
        dataset: the dataset the calibration was made on.
        calibration: the result of :func:`calibrate`.
        metric: one of :data:`core.metrics.METRIC_NAMES`.
        policy: ``keep`` or ``drop``; None means the calibration's own.
        min_questions: a country needs at least this many scored questions to be ranked.
    """
    return metrics.score_with(
        dataset,
        calibration.positions,
        calibration.calibrated_probs,
        metric,
        calibration.policy if policy is None else policy,
        min_questions,
    )
