"""Steerability: did asking "as someone from X" move the model toward X, more than toward the
other countries? The paper's cross-national question, answered with uncertainty.

For a target country X, a run under the ``default`` condition and a run under ``country:X``
over the same questions, :func:`steerability` pairs the two runs' values question by question
(only the (question, country) pairs scored in both take part) and reports:

* X's score under default and under ``country:X`` (its mean over the shared questions where X
  has data) and the **gain**, oriented so that a positive gain always means *moved toward X*:
  ``steered - default`` for a similarity, ``default - steered`` for ``kl`` (a divergence,
  lower is better; :func:`core.metrics.oriented`);
* X's **rank** among the countries scored on the shared questions before and after
  (1 = most similar; a country ties ahead of X only with a strictly better score);
* the **mean gain of the other countries** (the unweighted mean over the other countries of
  each one's gain on its own shared questions; other samples of X itself, such as
  ``China (Non-national sample)`` for ``China``, are not "other countries") and the
  **excess gain** ``gain - mean gain of the others``: conditioning on X may move the model
  toward everybody (a flatter answer, say); the excess is what moved toward X in particular;
* a paired bootstrap percentile interval on the excess gain (and on the gain), resampling the
  shared questions with replacement, X's and the others' values of a question together;
  ``moved_toward_more`` when the interval lies above 0, the opposite when below, else
  inconclusive.

:func:`steerability_of_runs` does the same for stored runs (the use case the CLI and the app
call), resolving each ``country:`` run's target as :func:`core.experiments.target_keys` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core import countries, metrics, runs
from core.dataset import Dataset
from core.metrics import MetricName, PairScores
from core.prompts import Condition
from core.stats import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    _bootstrap_means,
    _interval_bounds,
    _percentiles,
    _question_matrix,
    _streams,
)
from core.store import Store
from core.usecase_errors import UseCaseError

Conclusion = Literal["toward target", "toward others", "inconclusive"]
"""What the excess gain's interval says: above 0, below 0, or spanning 0 (or undefined)."""


class SteerabilityError(UseCaseError):
    """Steerability cannot be computed for these runs (see the message and the fix)."""

    title = "Steerability"


class NotCrossNationalError(SteerabilityError):
    """A run given as steered is not a ``country:X`` run (or the reference is not default)."""


class NoSharedQuestionsError(SteerabilityError):
    """The two runs share no question on which the target country is scored."""


@dataclass(frozen=True)
class Steerability:
    """How far conditioning on a target country moved the model toward it.

    Every value is under ``metric``: for ``kl`` ``similarity_*`` hold divergences (lower is
    better), while ``gain``, ``mean_gain_others`` and ``excess_gain`` are oriented so that
    positive always means "moved toward".

    Attributes:
        target: the target's raw dataset key; ``display`` its name.
        metric: the metric of every value.
        default_run, steered_run: the two runs' names (or labels).
        n_questions: shared questions on which the target is scored.
        similarity_default, similarity_steered: the target's mean over those questions.
        gain: toward the target, ``similarity_steered - similarity_default`` (negated for
            ``kl``); ``gain_ci_low``/``gain_ci_high`` its bootstrap interval.
        rank_default, rank_steered: the target's rank among the ``n_countries`` countries
            scored on the shared questions (1 = best).
        n_others: the other countries the target is compared with (other samples of the
            target's own country left out); ``mean_gain_others`` the mean of their gains.
        excess_gain: ``gain - mean_gain_others``; ``ci_low``/``ci_high`` its paired
            bootstrap percentile interval (NaN with no other country).
        n_shared_questions: questions the runs share (resampled by the bootstrap).
        n_resamples, seed, level: the bootstrap's settings.
    """

    target: str
    display: str
    metric: MetricName
    default_run: str
    steered_run: str
    n_questions: int
    similarity_default: float
    similarity_steered: float
    gain: float
    gain_ci_low: float
    gain_ci_high: float
    rank_default: int
    rank_steered: int
    n_countries: int
    n_others: int
    mean_gain_others: float
    excess_gain: float
    ci_low: float
    ci_high: float
    n_shared_questions: int
    n_resamples: int
    seed: int
    level: float

    @property
    def moved_toward_more(self) -> bool:
        """The model moved toward the target more than toward the others: the excess gain's
        interval lies above 0."""
        return bool(self.ci_low > 0)

    @property
    def conclusion(self) -> Conclusion:
        """``toward target`` (interval above 0), ``toward others`` (below 0) or
        ``inconclusive`` (it spans 0, or there is no other country to compare with)."""
        if self.ci_low > 0:
            return "toward target"
        if self.ci_high < 0:
            return "toward others"
        return "inconclusive"

    def verdict(self) -> str:
        """The conclusion in plain words, naming the target."""
        if self.conclusion == "toward target":
            return f"moved toward {self.display} more than toward the other countries"
        if self.conclusion == "toward others":
            return f"moved toward the other countries more than toward {self.display}"
        if self.n_others == 0:
            return "inconclusive: no other country to compare with"
        return (
            f"inconclusive: the {self.level:.0%} interval of the excess gain spans 0 (no clear "
            f"move toward {self.display} more than toward the others)"
        )

    def to_json(self) -> dict[str, object]:
        """Plain JSON-ready data (NaN as null), with the conclusion and the verdict."""
        return {
            "target": self.target,
            "display": self.display,
            "metric": self.metric,
            "higher_is_better": metrics.HIGHER_IS_BETTER[self.metric],
            "default_run": self.default_run,
            "steered_run": self.steered_run,
            "n_questions": self.n_questions,
            "similarity_default": _opt(self.similarity_default),
            "similarity_steered": _opt(self.similarity_steered),
            "gain": _opt(self.gain),
            "gain_ci_low": _opt(self.gain_ci_low),
            "gain_ci_high": _opt(self.gain_ci_high),
            "rank_default": self.rank_default,
            "rank_steered": self.rank_steered,
            "n_countries": self.n_countries,
            "n_others": self.n_others,
            "mean_gain_others": _opt(self.mean_gain_others),
            "excess_gain": _opt(self.excess_gain),
            "ci_low": _opt(self.ci_low),
            "ci_high": _opt(self.ci_high),
            "moved_toward_more": self.moved_toward_more,
            "conclusion": self.conclusion,
            "verdict": self.verdict(),
            "n_shared_questions": self.n_shared_questions,
            "bootstrap": {"n_resamples": self.n_resamples, "seed": self.seed, "level": self.level},
        }


def _opt(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _row_nanmean(x: np.ndarray) -> np.ndarray:
    """Mean of each row over its non-NaN entries (NaN for a row with none), silently."""
    valid = ~np.isnan(x)
    n = valid.sum(axis=1)
    total = np.where(valid, x, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def steerability(
    dataset: Dataset,
    default_pairs: PairScores,
    steered_pairs: PairScores,
    target: str,
    metric: str = metrics.DEFAULT_METRIC,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    default_run: str = "default",
    steered_run: str = "steered",
) -> Steerability:
    """The steerability toward ``target`` of a steered run against a default run.

    Computed over all (question, country) pairs at once; the bootstrap draws question
    resamples in blocks (:func:`core.stats._bootstrap_means`).

    Args:
        dataset: the dataset the pairs index.
        default_pairs, steered_pairs: each run's values under ``metric`` (``Scores.pairs`` or
            :func:`core.metrics.pair_values`), one value per (question, country) pair.
        target: the target's raw dataset key (``Russia``; see
            :func:`core.experiments.target_keys`).
        metric: the metric the pairs hold (decides the gain's sign).
        n_resamples, seed, level: the paired bootstrap (seeded; the same inputs give the
            same interval).
        default_run, steered_run: the runs' names, kept in the result and the messages.

    Returns:
        A :class:`Steerability`.

    Raises:
        InvalidValueError: an unknown metric.
        SteerabilityError: ``target`` is not a country of ``dataset``.
        NoSharedQuestionsError: no pair of the target is scored in both runs.
        ValueError: ``level`` outside (0, 1) or ``n_resamples`` below 1.
    """
    name = metrics.parse_metric(metric)
    _interval_bounds(level)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1.")
    ti = dataset.country_index.get(target)
    if ti is None:
        raise SteerabilityError(
            f"{target!r} is not a country of dataset {dataset.name!r}.",
            "Give the target as the dataset spells it (core.experiments.target_keys).",
        )
    display = countries.resolve(target).label
    n_c = len(dataset.countries)
    key_d = default_pairs.position.astype(np.int64) * n_c + default_pairs.country
    key_s = steered_pairs.position.astype(np.int64) * n_c + steered_pairs.country
    _, i_d, i_s = np.intersect1d(key_d, key_s, assume_unique=True, return_indices=True)
    position = default_pairs.position[i_d].astype(np.int64)
    country = default_pairs.country[i_d].astype(np.int64)
    value_d = default_pairs.similarity[i_d].astype(np.float64)
    value_s = steered_pairs.similarity[i_s].astype(np.float64)
    counts = np.bincount(country, minlength=n_c)
    if counts[ti] == 0:
        raise NoSharedQuestionsError(
            f"Runs {default_run!r} and {steered_run!r} share no question on which {display} "
            f"is scored under {name}.",
            "Make both runs over the same questions (an experiment does), with questions "
            "the target's people were asked.",
        )
    sign = 1.0 if metrics.HIGHER_IS_BETTER[name] else -1.0
    gain = sign * (value_s - value_d)
    scored = counts > 0
    n = np.maximum(counts, 1)
    mean_d = np.bincount(country, weights=value_d, minlength=n_c) / n
    mean_s = np.bincount(country, weights=value_s, minlength=n_c) / n
    mean_gain = np.bincount(country, weights=gain, minlength=n_c) / n

    # Rank 1 = best; only a strictly better country stands ahead of the target.
    rank_default = 1 + int(np.sum(scored & (sign * mean_d > sign * mean_d[ti])))
    rank_steered = 1 + int(np.sum(scored & (sign * mean_s > sign * mean_s[ti])))

    iso = countries.resolve(target).iso2
    same_country = np.array(
        [
            i == ti or (iso is not None and countries.resolve(key).iso2 == iso)
            for i, key in enumerate(dataset.countries)
        ]
    )
    others = np.flatnonzero(scored & ~same_country)
    mean_gain_others = float(mean_gain[others].mean()) if others.size else float("nan")
    excess = float(mean_gain[ti]) - mean_gain_others

    questions, g_matrix, present = _question_matrix(position, country, gain, n_c)
    columns = np.r_[ti, others]
    rng, _ = _streams(seed)
    means = _bootstrap_means(g_matrix[:, columns], present[:, columns], n_resamples, rng)
    target_means = means[:, 0]
    excess_draws = target_means - _row_nanmean(means[:, 1:])
    low, high = _percentiles(np.column_stack([target_means, excess_draws]), level)
    return Steerability(
        target=target,
        display=display,
        metric=name,
        default_run=default_run,
        steered_run=steered_run,
        n_questions=int(counts[ti]),
        similarity_default=float(mean_d[ti]),
        similarity_steered=float(mean_s[ti]),
        gain=float(mean_gain[ti]),
        gain_ci_low=float(low[0]),
        gain_ci_high=float(high[0]),
        rank_default=rank_default,
        rank_steered=rank_steered,
        n_countries=int(scored.sum()),
        n_others=int(others.size),
        mean_gain_others=mean_gain_others,
        excess_gain=excess,
        ci_low=float(low[1]),
        ci_high=float(high[1]),
        n_shared_questions=int(questions.shape[0]),
        n_resamples=n_resamples,
        seed=seed,
        level=level,
    )


def target_of(dataset: Dataset, condition: Condition) -> str:
    """The raw dataset key a ``country:X`` condition targets (as
    :func:`core.experiments.target_keys` resolves it).

    Raises:
        NotCrossNationalError: the condition is not ``country:X``.
        core.countries.UnknownCountryError: X matches no country of ``dataset``.
    """
    if condition.kind != "country":
        raise NotCrossNationalError(
            f"Condition {str(condition)!r} targets no country.",
            "Steerability needs a run asked under country:NAME.",
        )
    return countries.match(condition.value, dataset.countries).key


def steerability_of_runs(
    store: Store,
    dataset: Dataset,
    default_run: str,
    steered_runs: Sequence[str],
    *,
    metric: str = metrics.DEFAULT_METRIC,
    policy: str | None = None,
    include_suspect: bool = False,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> tuple[Steerability, ...]:
    """The steerability of each stored ``country:X`` run against a stored default run.

    Args:
        store: where the runs are.
        dataset: the dataset to score on (answers matched by question key, as
            :func:`core.runs.load_run` does).
        default_run: a run made under the ``default`` condition (the reference).
        steered_runs: runs made under ``country:X`` conditions, over the same questions.
        metric: the metric of every value (:data:`core.metrics.METRIC_NAMES`).
        policy: the non-substantive policy of every run (default: the default run's).
        include_suspect: score suspect answers too.
        n_resamples, seed, level: the paired bootstrap.

    Returns:
        One :class:`Steerability` per steered run, in order.

    Raises:
        NotCrossNationalError: the reference is not a default run, or a steered run is not
            a ``country:`` run (checked before anything is scored).
        NoSharedQuestionsError: a steered run shares no question with the default run on
            which its target is scored.
        StoreError, NoMatchingAnswersError, RunsError: as :func:`core.runs.load_run`.
        core.countries.UnknownCountryError: a run's country is not in ``dataset``.
    """
    reference = store.manifest(default_run)
    if reference.condition != "default":
        raise NotCrossNationalError(
            f"Run {default_run!r} was asked under {reference.condition!r}, not the default "
            "condition.",
            "Pass a run made under the default condition as the reference.",
        )
    targets = []
    for name in steered_runs:
        condition = store.manifest(name).condition
        try:
            parsed = Condition.parse(condition)
        except ValueError:
            parsed = Condition("default")
        if parsed.kind != "country":
            raise NotCrossNationalError(
                f"Run {name!r} was asked under {condition!r}, not a country:NAME condition; "
                "steerability is measured on cross-national runs.",
                "Pass runs made with --condition country:NAME ('goqa experiment "
                "cross-national' makes them with their default run).",
            )
        targets.append(target_of(dataset, parsed))
    base = runs.load_run(
        store, dataset, default_run, policy=policy, include_suspect=include_suspect, metric=metric
    )
    out = []
    for name, target in zip(steered_runs, targets, strict=True):
        steered = runs.load_run(
            store,
            dataset,
            name,
            policy=base.policy,
            include_suspect=include_suspect,
            metric=metric,
        )
        out.append(
            steerability(
                dataset,
                base.scores.pairs,
                steered.scores.pairs,
                target,
                base.metric,
                n_resamples=n_resamples,
                seed=seed,
                level=level,
                default_run=default_run,
                steered_run=name,
            )
        )
    return tuple(out)
