"""Runs as use cases: name and plan a run, make it, load it with its scores and statistics,
compare two runs, and choose the reference of a comparison.

The command line (``goqa run``, ``report``, ``compare``, ``export``, ``sensitivity``), the app
(the Run and Results views) and the HTML report (:func:`core.report_html.render_run`) call
these functions and only arrange what they return, so every front end shows the same numbers:

* :func:`run_name` — the one naming scheme for runs nobody named.
* :func:`plan_run` → :class:`RunPlan`, then :func:`execute` — which questions, condition,
  template, policy, backend and name, settled before any request; then the run itself.
* :func:`load_run` → :class:`LoadedRun` — a run's answers, its scores under a policy, the
  uniform answer's scores, how its answers matched the dataset, its counts of failed and
  suspect answers and, with ``statistics=True`` (or later :func:`with_statistics`), bootstrap
  intervals, the best other country's people and diagnostics.
* :func:`compare_runs` (or :func:`compare_loaded`) → :class:`RunComparison` — two runs on
  their shared questions with the paired statistics of :func:`core.stats.compare`; each run's
  similarities are computed once, in :func:`load_run`, and reused for everything.
* :func:`default_reference` — the run a comparison is made against when none is named.
* :func:`score_distributions` — scores and the uniform baseline of distributions that are
  not (yet) a stored run: a run's answers so far, a predictions file.

**A run made on another dataset** is scored the same way everywhere: each stored answer is
matched to this dataset's questions by its question key (and number of options); the answers
that match are scored, those that do not are left out, and :class:`DatasetMatch` says how
many of each (the CLI prints it, the app shows it). A run none of whose answers match raises
:class:`NoMatchingAnswersError`, naming the dataset it was made on.

**Suspect answers** are left out of every score unless ``include_suspect``; the loaded run says
how many were left out.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from core import breakdown, countries, diagnostics, metrics, runner, stats
from core import calibration as calibration_mod
from core.backends.base import DEFAULT_MAX_OFF_OPTION, Backend
from core.dataset import Dataset, skipped_note
from core.errors import InvalidValueError
from core.estimators import EstimatorSpec
from core.metrics import Policy
from core.prompts import Condition, TemplateName, parse_template
from core.store import RunManifest, RunSummary, Selection, Store
from core.usecase_errors import UseCaseError

DEFAULT_RESAMPLES = stats.DEFAULT_RESAMPLES
"""Question resamples behind every bootstrap interval, in the CLI and the app alike."""
DEFAULT_SEED = stats.DEFAULT_SEED
"""Seed of the bootstrap and the permutation test."""
BEST_OTHER_MIN_SHARED = 5
"""A country's "best other" people must share at least this many questions with it."""

# core.stats silences numpy's warnings with warnings.catch_warnings, whose filters are
# process-wide: two threads computing statistics at once (the app's workers) would race.
_STATISTICS_LOCK = threading.Lock()


# --------------------------------------------------------------------------- errors


class RunsError(UseCaseError):
    """A run cannot be planned, loaded or compared as asked."""

    title = "Runs"


class NoMatchingAnswersError(RunsError):
    """None of a run's stored answers matches a question of the dataset in use."""

    title = "Another dataset"


class NothingToReportError(RunsError):
    """A run has no scored answer (none yet, or all of them suspect)."""

    title = "Nothing to report"


class NothingToRunError(RunsError):
    """No question that can be asked is selected.

    Attributes:
        skipped: ``(position, reason)`` of the selected questions that cannot be asked.
    """

    title = "Nothing to run"

    def __init__(
        self, message: str, fix: str = "", *, skipped: tuple[tuple[int, str], ...] = ()
    ) -> None:
        super().__init__(message, fix)
        self.skipped = skipped


def as_policy(name: str) -> Policy:
    """``name`` as a non-substantive policy (from a stored manifest, a picker, a script).

    Raises:
        RunsError: ``name`` is neither ``keep`` nor ``drop``.
    """
    for known in metrics.POLICIES:
        if name == known:
            return known
    raise RunsError(f"Unknown non-substantive policy {name!r}.", "Use 'keep' or 'drop'.")


# --------------------------------------------------------------------------- naming


def condition_slug(condition: Condition) -> str:
    """The condition as it appears in run names: ``default``, ``country-Russia``,
    ``language-ru`` (``:`` becomes ``-`` and spaces ``_``)."""
    return str(condition).replace(":", "-").replace(" ", "_")


def run_name(
    condition: Condition,
    backend: str = "",
    *,
    prefix: str | None = None,
    when: datetime | None = None,
    taken: Collection[str] = (),
    estimator: str = "first-token",
) -> str:
    """The name goqa gives a run nobody named. One scheme for the CLI, the app and the
    experiments:

    * A single run (``goqa run`` without ``--name``, the Run view's default):
      ``CONDITION-BACKEND-YYYYMMDD-HHMM`` in local time, to the minute, e.g.
      ``default-local-20261122-0930`` or ``country-Russia-vllm-20261122-0930``. When that name
      is ``taken`` (a run made the same minute), ``-2``, ``-3``… is appended, so a new run
      never resumes an older one by accident.
    * A run of an experiment (``prefix`` given, e.g. ``exp-local``): ``PREFIX-CONDITION``,
      e.g. ``exp-local-country-Russia``, with no time: the experiment's runs keep their names,
      so running it again resumes them (``taken`` is not consulted).

    ``CONDITION`` is :func:`condition_slug`. A single run made with another estimator than
    ``first-token`` has it after the backend: ``default-local-order-averaged-20261122-0930``
    (an experiment's prefix carries it instead: :func:`core.experiments.default_prefix`).

    Args:
        condition: the run's condition.
        backend: the backend's name in the config (single runs).
        prefix: the experiment's run-name prefix.
        when: the time to stamp (default now, local time).
        taken: names already in the store.
    """
    slug = condition_slug(condition)
    if prefix is not None:
        return f"{prefix}-{slug}"
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M")
    method = "" if estimator == "first-token" else f"-{estimator}"
    base = f"{slug}-{backend}{method}-{stamp}"
    if base not in taken:
        return base
    i = 2
    while f"{base}-{i}" in taken:
        i += 1
    return f"{base}-{i}"


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class RunPlan:
    """Everything one start of a run needs, settled before any request.

    Attributes:
        name: the run's name (a stored run of that name is resumed).
        backend_name: the backend's name in the config.
        condition, template, policy: how the questions are asked and scored.
        positions: dataset positions of the questions to ask, in order (askable only).
        skipped: ``(position, reason)`` of the selected questions left out because they
            cannot be asked (show them with :func:`core.dataset.skipped_note`).
        selection: what chose the questions, recorded in the run's manifest.
        concurrency, max_retries: the backend's settings.
        max_off_option: off-option mass above which an answer is stored as suspect.
        estimator: how each answer is estimated (part of the run's identity).
    """

    name: str
    backend_name: str
    condition: Condition
    template: TemplateName
    policy: Policy
    positions: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...] = ()
    selection: Selection = field(default_factory=Selection)
    concurrency: int = 8
    max_retries: int = 4
    max_off_option: float = DEFAULT_MAX_OFF_OPTION
    estimator: EstimatorSpec = field(default_factory=EstimatorSpec)


def select_questions(
    dataset: Dataset, positions: Sequence[int], limit: int = 0
) -> tuple[list[int], list[tuple[int, str]]]:
    """The questions a run (or each run of an experiment) asks of a selection.

    Questions that cannot be asked are left out first, then ``limit`` keeps the first N of
    the rest.

    Returns:
        ``(kept, skipped)``: the positions to ask, in order, and ``(position, reason)`` of
        the questions left out (show them with :func:`core.dataset.skipped_note`).

    Raises:
        NothingToRunError: nothing is left to ask (the message names what was left out).
    """
    kept, skipped = dataset.askable(positions)
    if limit:
        kept = kept[:limit]
    if not kept:
        note = skipped_note(dataset, skipped)
        raise NothingToRunError(
            "No question that can be asked matches the filters; nothing to run."
            + (f" {note}" if note else ""),
            "Widen the filters (--search, --source, --country, --limit; in the app, the "
            "browse filter).",
            skipped=tuple(skipped),
        )
    return kept, skipped


def plan_run(
    dataset: Dataset,
    positions: Sequence[int],
    *,
    condition: Condition,
    backend_name: str,
    template: str,
    policy: str,
    name: str = "",
    taken: Collection[str] = (),
    limit: int = 0,
    selection: Selection | None = None,
    concurrency: int = 8,
    max_retries: int = 4,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
    estimator: EstimatorSpec | None = None,
) -> RunPlan:
    """Settle a run: its questions, name and settings.

    The questions are :func:`select_questions` of ``positions`` (what cannot be asked is
    listed in ``skipped``, then ``limit`` applies).

    Args:
        positions: the selected questions (a filter's result), in order.
        template, policy: checked here (they may come from a stored manifest).
        name: the run's name; blank gives :func:`run_name` (unique among ``taken``).
        taken: names already in the store (for the default name).
        limit: keep only the first N askable questions (0 keeps all).
        selection: recorded in the manifest (the CLI's filters, the app's question ids).

    Raises:
        NothingToRunError: no question that can be asked is left.
        RunsError: an unknown policy.
        core.errors.InvalidValueError: an unknown template.
        core.countries.UnknownCountryError: a ``country:`` condition naming no country of
            ``dataset``.
    """
    checked_template = parse_template(template)  # an unknown one stops here, before anything
    pol = as_policy(policy)
    if condition.kind == "country":  # an unknown country too, before a run is announced
        countries.match(condition.value, dataset.countries)
    kept, skipped = select_questions(dataset, positions, limit)
    spec = estimator or EstimatorSpec()
    return RunPlan(
        name=name.strip() or run_name(condition, backend_name, taken=taken, estimator=spec.name),
        backend_name=backend_name,
        condition=condition,
        template=checked_template,
        policy=pol,
        positions=tuple(kept),
        skipped=tuple(skipped),
        selection=selection or Selection(),
        concurrency=concurrency,
        max_retries=max_retries,
        max_off_option=max_off_option,
        estimator=spec,
    )


def planned_positions(dataset: Dataset, selection: Selection) -> list[int] | None:
    """The questions a stored run was planned over, from its manifest's ``selection``.

    The app records the question ids; the CLI records its filters (search, source, country,
    limit), which select the same questions again on the same dataset. Returns None when
    the selection says neither.

    Raises:
        core.countries.UnknownCountryError: the recorded country is not in ``dataset``.
    """
    if selection.ids is not None:
        return [dataset.id_index[i] for i in selection.ids if i in dataset.id_index]
    f = selection.filters
    if f is None:
        return None
    key = countries.match(f.country, dataset.countries).key if f.country else None
    positions = dataset.filter(f.search, f.source, key)
    return positions[: f.limit] if f.limit > 0 else positions


def planned_manifest(plan: RunPlan, dataset: Dataset, backend: Backend) -> RunManifest:
    """The manifest :func:`execute` will open the run with (its identity, to check with
    :meth:`core.store.Store.check_resumable` before anything is asked)."""
    return runner.manifest_for(
        plan.name,
        backend,
        plan.backend_name,
        plan.condition,
        plan.template,
        dataset,
        plan.policy,
        plan.selection,
        estimator=plan.estimator,
    )


async def execute(
    plan: RunPlan,
    dataset: Dataset,
    backend: Backend,
    store: Store,
    *,
    on_progress: runner.ProgressCallback | None = None,
    on_answer: runner.AnswerCallback | None = None,
) -> runner.RunOutcome:
    """Make (or resume) the planned run through :func:`core.runner.run`.

    The backend is not closed. Raises what :func:`core.runner.run` raises.
    """
    return await runner.run(
        name=plan.name,
        dataset=dataset,
        positions=list(plan.positions),
        backend=backend,
        backend_name=plan.backend_name,
        condition=plan.condition,
        template=plan.template,
        store=store,
        policy=plan.policy,
        concurrency=plan.concurrency,
        max_retries=plan.max_retries,
        selection=plan.selection,
        on_progress=on_progress,
        on_answer=on_answer,
        max_off_option=plan.max_off_option,
        estimator=plan.estimator,
    )


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ScoredDistributions:
    """Scores of some model distributions and of the uniform answer on the same questions.

    Attributes:
        scores: per-country scores, best first.
        uniform: the uniform answer's scores on the scored questions (the floor to beat).
    """

    scores: metrics.Scores
    uniform: metrics.Scores


def _scored(
    dataset: Dataset,
    pairs: metrics.PairScores,
    policy: Policy,
    min_questions: int,
    metric: metrics.MetricName = metrics.DEFAULT_METRIC,
) -> ScoredDistributions:
    scores = metrics.aggregate(dataset, pairs, min_questions, metric)
    positions = np.unique(pairs.position)
    uniform = metrics.score_with(
        dataset, positions, metrics.uniform_probs(dataset, positions), metric, policy
    )
    return ScoredDistributions(scores, uniform)


def score_distributions(
    dataset: Dataset,
    positions: np.ndarray,
    probs: np.ndarray,
    policy: Policy = "keep",
    min_questions: int = 1,
    metric: metrics.MetricName = metrics.DEFAULT_METRIC,
) -> ScoredDistributions:
    """Score distributions that are not a stored run (answers so far, a predictions file).

    Args:
        positions: (M,) dataset positions; ``probs`` (M, K) the distributions, zero padded.
        policy: ``keep`` or ``drop`` the non-substantive options.
        min_questions: countries scored on fewer questions are left out.
        metric: the metric of the scores and of the uniform answer's (:mod:`core.metrics`).
    """
    pairs = metrics.pair_values(dataset, positions, probs, metric, policy)
    return _scored(dataset, pairs, policy, min_questions, metric)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class DatasetMatch:
    """How a run's stored answers meet the dataset they are scored on.

    Attributes:
        run_dataset, run_dataset_sha256: the dataset the run was made on (its manifest).
        dataset: the name of the dataset in use.
        same_dataset: both are the same file (same sha256).
        matched: answers whose question (key and number of options) the dataset has; they
            are scored (suspect ones only with ``include_suspect``).
        unmatched: answers the dataset does not have; left out of everything.
    """

    run_dataset: str
    run_dataset_sha256: str
    dataset: str
    same_dataset: bool
    matched: int
    unmatched: int

    @property
    def total(self) -> int:
        return self.matched + self.unmatched

    def note(self, run: str) -> str:
        """One line for a person; "" when the run was made on this dataset and every answer
        matched."""
        if self.same_dataset and not self.unmatched:
            return ""
        head = f"Run {run!r}"
        if not self.same_dataset:
            head += (
                f" was made on dataset {self.run_dataset!r} ({self.run_dataset_sha256[:12]}), "
                f"not on {self.dataset!r}"
            )
        return (
            f"{head}: {self.matched} of {self.total} answers match a question of "
            f"{self.dataset!r} by key and are scored; {self.unmatched} are left out."
        )

    def to_json(self) -> dict[str, object]:
        return {
            "run_dataset": self.run_dataset,
            "run_dataset_sha256": self.run_dataset_sha256,
            "dataset": self.dataset,
            "same_dataset": self.same_dataset,
            "matched": self.matched,
            "unmatched": self.unmatched,
        }


@dataclass(frozen=True)
class RunDiagnostics:
    """Run-level figures beyond the score (see :mod:`core.diagnostics`).

    Attributes:
        overconfidence: model entropy against people's, near-unanimous answers.
        mean_off_option: mean probability off the option letters over the scored answers.
        n_answered: answers scored; ``suspect_left_out`` suspect answers left out.
    """

    overconfidence: diagnostics.Overconfidence
    mean_off_option: float
    n_answered: int
    suspect_left_out: int

    def to_json(self) -> dict[str, object]:
        """``{"figures": {label: value}}``, as the HTML report's diagnostics section takes."""
        over = self.overconfidence
        return {
            "figures": {
                "questions answered": self.n_answered,
                "suspect answers left out": self.suspect_left_out,
                "mean model entropy (bits)": over.mean_model_entropy,
                "mean human entropy (bits)": over.mean_human_entropy,
                "share overconfident (>90% on one option, no country so)": (
                    over.share_overconfident
                ),
                "mean off-option mass": self.mean_off_option,
            }
        }


@dataclass(frozen=True)
class RunStatistics:
    """Uncertainty, reference points and diagnostics of one loaded run.

    Attributes:
        run: the run's name.
        intervals: bootstrap percentile intervals of every country's score.
        baselines: per country the uniform answer's, the population average's and the best
            other people's scores, the shuffled-country null and the model's lift.
        diagnostics: overconfidence and off-option mass.
        splits: the scores by human entropy tercile, by source and by scale
            (:func:`core.breakdown.breakdown`).
        calibration: one temperature fitted to the run by k-fold cross-validation against
            the population average (:func:`core.calibration.calibrate`); None with fewer
            than two answered questions.
        calibrated: the run's scores under its metric after that calibration (every
            question tempered by a temperature fitted on the other folds).
    """

    run: str
    intervals: stats.BootstrapResult
    baselines: stats.Baselines
    diagnostics: RunDiagnostics
    splits: breakdown.Breakdown | None = None
    calibration: calibration_mod.Calibration | None = None
    calibrated: metrics.Scores | None = None

    def calibration_summary(self) -> str:
        """One sentence on the calibration ("" without one): the temperature, and what it
        does to the divergence from the population average."""
        cal = self.calibration
        if cal is None:
            return ""
        low, high = cal.fold_range
        shape = (
            "over-confident: calibration flattens its answers"
            if cal.temperature > 1.0
            else "under-confident: calibration sharpens its answers"
            if cal.temperature < 1.0
            else "already calibrated"
        )
        bound = " (at the edge of the search range)" if cal.at_bound else ""
        return (
            f"T = {cal.temperature:.2f}{bound} (folds {low:.2f}–{high:.2f}, {cal.n_folds}-fold): "
            f"{shape}; mean JS distance to the population average "
            f"{cal.objective_raw:.3f} → {cal.objective_calibrated:.3f} out of fold."
        )


@dataclass(frozen=True)
class LoadedRun:
    """One stored run, scored: what every report of a run shows.

    Attributes:
        summary: the run's manifest and its stored counts (answered, failed, suspect).
        policy: the non-substantive policy it is scored under.
        include_suspect: suspect answers are in ``answers`` and the scores (else left out;
            :attr:`suspect_left_out` says how many).
        min_questions: countries scored on fewer questions are left out of ``scores``.
        answers: the matched answers as arrays (``answers.unknown_keys`` = unmatched).
        scores: per-country scores, best first (``scores.pairs`` every similarity).
        uniform: the uniform answer's scores on the same questions.
        match: how the answers matched the dataset in use.
        statistics: intervals, baselines and diagnostics (None until computed).
        metric: what every score and pair value of the run holds (:mod:`core.metrics`; the
            paper's ``jsd`` unless loaded under another).
    """

    summary: RunSummary
    policy: Policy
    include_suspect: bool
    min_questions: int
    answers: runner.RunAnswers
    scores: metrics.Scores
    uniform: metrics.Scores
    match: DatasetMatch
    statistics: RunStatistics | None = None
    metric: metrics.MetricName = metrics.DEFAULT_METRIC

    @property
    def name(self) -> str:
        return self.summary.manifest.name

    @property
    def manifest(self) -> RunManifest:
        return self.summary.manifest

    @property
    def n_failed(self) -> int:
        """Failed questions (not scored; asked again when the run resumes)."""
        return self.summary.n_failed

    @property
    def n_suspect(self) -> int:
        """Suspect answers stored for the run (scored or not)."""
        return self.summary.n_suspect

    @property
    def suspect_left_out(self) -> int:
        """Suspect answers left out of the scores (0 when they are included)."""
        return self.answers.suspect_excluded

    @property
    def n_suspect_included(self) -> int:
        """Suspect answers among those scored (0 unless they are included)."""
        return sum(1 for a in self.answers.answers if a.suspect)

    @property
    def scored_positions(self) -> np.ndarray:
        """The questions with at least one scored (question, country) pair."""
        return np.unique(self.scores.pairs.position)

    def scores_on(self, dataset: Dataset, positions: np.ndarray) -> metrics.Scores:
        """The run's scores on some of its questions only (its similarities reused)."""
        return metrics.aggregate(
            dataset, _restricted(self.scores.pairs, positions), self.min_questions, self.metric
        )

    def question_similarities(self, dataset: Dataset, country: str) -> list[tuple[int, float]]:
        """``(position, value)`` of the run to ``country``'s people on every question
        scored for it, most similar first (lowest first for ``kl``; ties in question order)."""
        ci = dataset.country_index.get(country)
        sims = {} if ci is None else _country_pairs(self.scores.pairs, ci)
        return sorted(sims.items(), key=lambda item: -metrics.oriented(self.metric, item[1]))

    @property
    def uniform_mean(self) -> float:
        """The uniform answer's score averaged over countries (0 with none scored)."""
        values = [c.similarity for c in self.uniform.countries]
        return float(np.mean(values)) if values else 0.0

    @property
    def n_above_uniform(self) -> int:
        """Countries the run scores better than the uniform answer does (higher; lower for
        ``kl``)."""
        return sum(
            1
            for c in self.scores.countries
            if (u := self.uniform.get(c.country)) is not None
            and metrics.oriented(self.metric, c.similarity - u.similarity) > 0
        )

    def check_reportable(self) -> None:
        """Raise :class:`NothingToReportError` when no country is scored."""
        if self.scores.countries:
            return
        if self.suspect_left_out:
            raise NothingToReportError(
                f"Run {self.name!r} has no usable answers: its {self.suspect_left_out} "
                "answered question(s) are all suspect.",
                "--include-suspect scores them anyway; --suspect lists them.",
            )
        raise NothingToReportError(
            f"Run {self.name!r} has no answered questions yet; nothing to report."
        )

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        """The run as ``goqa report --json`` prints it.

        ``Scores.to_json()`` (with ``ci_low``/``ci_high``, ``uniform``, ``best_other`` and
        ``best_other_similarity``, ``population_average``, ``lift``, ``best_baseline``,
        ``null_p`` and ``null_q`` on each country, the ``bootstrap`` and ``null`` settings
        and the ``splits`` once the statistics are computed), plus ``run`` (the manifest), ``failed``, ``suspect``,
        ``suspect_left_out`` and ``dataset_match``.

        Args:
            top: keep only the first N countries.
        """
        st = self.statistics
        data: dict[str, Any] = (
            stats.scores_json_with_intervals(self.scores, st.intervals)
            if st is not None
            else self.scores.to_json()
        )
        data["run"] = self.manifest.to_json()
        data["failed"] = self.n_failed
        data["suspect"] = self.n_suspect
        data["suspect_left_out"] = self.suspect_left_out
        data["dataset_match"] = self.match.to_json()
        rows = data["countries"]
        if st is not None:
            for row in rows:
                b, o = self.uniform.get(row["country"]), st.baselines.get(row["country"])
                row["uniform"] = b.similarity if b else None
                row["best_other"] = o.best_other if o else None
                row["best_other_similarity"] = o.best_other_similarity if o else None
                row["population_average"] = o.population_average if o else None
                row["lift"] = o.lift if o else None
                row["best_baseline"] = o.best_baseline if o else None
                row["null_p"] = o.p_value if o else None
                row["null_q"] = o.q_value if o else None
            baselines_json = st.baselines.to_json()
            data["null"] = baselines_json["null"]
            if st.splits is not None:
                data["splits"] = st.splits.to_json()
            if st.calibration is not None and st.calibrated is not None:
                data["calibration"] = {
                    **st.calibration.to_json(),
                    "summary": st.calibration_summary(),
                }
                for row in rows:
                    c = st.calibrated.get(row["country"])
                    row["calibrated"] = c.similarity if c else None
        if top:
            data["countries"] = rows[:top]
        return data


def _country_pairs(pairs: metrics.PairScores, ci: int) -> dict[int, float]:
    sel = pairs.country == ci
    return dict(zip(pairs.position[sel].tolist(), pairs.similarity[sel].tolist(), strict=True))


def load_run(
    store: Store,
    dataset: Dataset,
    name: str,
    *,
    policy: str | None = None,
    include_suspect: bool = False,
    min_questions: int = 1,
    statistics: bool = False,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    min_shared: int = BEST_OTHER_MIN_SHARED,
    metric: str = metrics.DEFAULT_METRIC,
) -> LoadedRun:
    """A stored run with its scores (and, with ``statistics``, its statistics).

    The run's answers are matched to ``dataset`` by question key (see the module's doc): the
    matched ones are scored, :attr:`LoadedRun.match` counts both kinds.

    Args:
        policy: the non-substantive policy (default: the run's own).
        include_suspect: score suspect answers too (left out by default).
        min_questions: leave out countries scored on fewer questions.
        statistics: also compute :class:`RunStatistics` (CPU-bound: about a second on the
            full dataset; the app does it in a second worker with :func:`with_statistics`).
        n_resamples, seed, min_shared: as for :func:`with_statistics`.
        metric: the metric the run is scored under (:data:`core.metrics.METRIC_NAMES`).

    Raises:
        InvalidValueError: an unknown metric.
        StoreError: no run has this name.
        NoMatchingAnswersError: the run has answers, none of them for a question of
            ``dataset``.
        RunsError: the policy is unknown.
    """
    metric_name = metrics.parse_metric(metric)
    summary = store.summary(name)
    manifest = summary.manifest
    pol = as_policy(policy or manifest.policy)
    answers = runner.run_answers(store, dataset, name, include_suspect)
    matched = int(answers.positions.shape[0]) + answers.suspect_excluded
    match = DatasetMatch(
        run_dataset=manifest.dataset,
        run_dataset_sha256=manifest.dataset_sha256,
        dataset=dataset.name,
        same_dataset=manifest.dataset_sha256 == dataset.sha256,
        matched=matched,
        unmatched=answers.unknown_keys,
    )
    if not matched and answers.unknown_keys:
        raise NoMatchingAnswersError(
            f"None of the {answers.unknown_keys} answers of run {name!r} matches a question of "
            f"dataset {dataset.name!r}: the run was made on dataset {manifest.dataset!r} "
            f"({manifest.dataset_sha256[:12]}).",
            f"Use that dataset (--dataset {manifest.dataset}).",
        )
    pairs = metrics.pair_values(dataset, answers.positions, answers.probs, metric_name, pol)
    scored = _scored(dataset, pairs, pol, min_questions, metric_name)
    run = LoadedRun(
        summary=summary,
        policy=pol,
        include_suspect=include_suspect,
        min_questions=min_questions,
        answers=answers,
        scores=scored.scores,
        uniform=scored.uniform,
        match=match,
        metric=metric_name,
    )
    if statistics:
        run = with_statistics(
            dataset, run, n_resamples=n_resamples, seed=seed, min_shared=min_shared
        )
    return run


def with_statistics(
    dataset: Dataset,
    run: LoadedRun,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    min_shared: int = BEST_OTHER_MIN_SHARED,
    baselines: stats.Baselines | None = None,
) -> LoadedRun:
    """``run`` with its :class:`RunStatistics` (CPU-bound: call it in a thread in the app).

    Args:
        n_resamples, seed: bootstrap resamples and seed (:func:`core.stats.bootstrap`).
        min_shared: questions a "best other" country must share (:func:`core.stats.baselines`).
        baselines: the run's own baselines, if already known (:func:`core.stats.baselines`
            with ``model_pairs=run.scores.pairs``: its null and lift are this run's, so
            baselines are never shared between runs).
    """
    positions = run.scored_positions
    with _STATISTICS_LOCK:
        intervals = stats.bootstrap(
            dataset,
            run.scores.pairs,
            n_resamples=n_resamples,
            seed=seed,
            min_questions=run.min_questions,
            metric=run.metric,
        )
        if baselines is None:
            baselines = stats.baselines(
                dataset,
                positions,
                run.policy,
                min_shared=min_shared,
                metric=run.metric,
                model_pairs=run.scores.pairs,
                seed=seed,
            )
        over = diagnostics.overconfidence(
            dataset, run.answers.positions, run.answers.probs, run.policy
        )
        splits = breakdown.breakdown(
            dataset, run.scores.pairs, run.metric, run.policy, run.min_questions
        )
        cal, calibrated = _calibrated(dataset, run, seed)
    off = [a.off_option_mass for a in run.answers.answers]
    diag = RunDiagnostics(
        overconfidence=over,
        mean_off_option=float(np.mean(off)) if off else 0.0,
        n_answered=int(run.answers.positions.shape[0]),
        suspect_left_out=run.suspect_left_out,
    )
    return replace(
        run,
        statistics=RunStatistics(run.name, intervals, baselines, diag, splits, cal, calibrated),
    )


def _calibrated(
    dataset: Dataset, run: LoadedRun, seed: int
) -> tuple[calibration_mod.Calibration | None, metrics.Scores | None]:
    """The run's temperature calibration and its scores after it (None, None with fewer
    than two scorable questions)."""
    positions = run.answers.positions
    if positions.shape[0] < 2:
        return None, None
    try:
        cal = calibration_mod.calibrate(
            dataset, positions, run.answers.probs, run.policy, seed=seed
        )
    except InvalidValueError:  # fewer than two questions the population average can score
        return None, None
    scored = calibration_mod.calibrated_scores(
        dataset, cal, run.metric, run.policy, run.min_questions
    )
    return cal, scored


def rank_stability(dataset: Dataset, run: LoadedRun) -> breakdown.RankStability:
    """The run's country ranking under every metric, Kendall's τ between every two, and the
    countries whose rank moves most (``goqa report NAME --metrics all``, the app's results
    view, the HTML report); under the run's policy and ``min_questions``."""
    return breakdown.rank_stability(
        dataset,
        run.answers.positions,
        run.answers.probs,
        run.policy,
        min_questions=run.min_questions,
    )


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class RunComparison:
    """Two runs scored on the questions both answered, with paired statistics.

    ``a`` is the reference (usually a ``default`` run), ``b`` the run under study; a positive
    difference ``b - a`` means B answers more like that country's people than A does.

    Attributes:
        a, b: the two loaded runs (under A's policy).
        positions: the questions both answered.
        scores_a, scores_b: each run's scores on those questions.
        focus: raw keys of the countries the runs' ``country:`` conditions name.
        paired: per-country differences with intervals, p- and q-values
            (:func:`core.stats.compare`).
    """

    a: LoadedRun
    b: LoadedRun
    positions: np.ndarray
    scores_a: metrics.Scores
    scores_b: metrics.Scores
    focus: tuple[str, ...]
    paired: stats.Comparison

    @property
    def metric(self) -> metrics.MetricName:
        """The metric both runs are scored under."""
        return self.b.metric

    def difference(self, country: str) -> float | None:
        """B's score minus A's for ``country`` on the shared questions (None if either
        lacks it). Positive means B is closer, under every metric: for ``kl`` (lower is
        better) it is A's divergence minus B's."""
        sa, sb = self.scores_a.get(country), self.scores_b.get(country)
        if sa is None or sb is None:
            return None
        return float(metrics.oriented(self.metric, sb.similarity - sa.similarity))

    def differences(self) -> dict[str, float]:
        """B − A for every country both runs scored, in B's order (best first)."""
        out = {}
        for cb in self.scores_b.countries:
            diff = self.difference(cb.country)
            if diff is not None:
                out[cb.country] = diff
        return out

    @property
    def moved_toward(self) -> int:
        """Countries B answers more like than A does (B − A > 0)."""
        return sum(1 for d in self.differences().values() if d > 0)

    def rank(self, country: str) -> int | None:
        """Where ``country`` stands when the countries are sorted by how far B moved toward
        them (1: the largest move); None if either run lacks it."""
        diffs = self.differences()
        if country not in diffs:
            return None
        return 1 + sum(1 for d in diffs.values() if d > diffs[country])

    @property
    def suspect_left_out(self) -> int:
        """Suspect answers left out of both runs together."""
        return self.a.suspect_left_out + self.b.suspect_left_out

    def question_differences(
        self, dataset: Dataset, country: str
    ) -> list[tuple[int, float, float]]:
        """``(position, similarity A, similarity B)`` for ``country`` on every question both
        runs scored for it, the largest move toward the country (B − A) first."""
        ci = dataset.country_index.get(country)
        if ci is None:
            return []
        sim_a = _country_pairs(self.scores_a.pairs, ci)
        sim_b = _country_pairs(self.scores_b.pairs, ci)

        def toward(p: int) -> float:
            return float(metrics.oriented(self.metric, sim_b[p] - sim_a[p]))

        shared = sorted(sim_a.keys() & sim_b.keys(), key=lambda p: (-toward(p), p))
        return [(p, sim_a[p], sim_b[p]) for p in shared]

    def to_json(self) -> dict[str, object]:
        """What ``goqa compare --json`` prints: :meth:`core.stats.Comparison.to_json`."""
        return self.paired.to_json()


def _restricted(pairs: metrics.PairScores, positions: np.ndarray) -> metrics.PairScores:
    keep = np.isin(pairs.position, positions)
    return metrics.PairScores(pairs.position[keep], pairs.country[keep], pairs.similarity[keep])


def _focus(dataset: Dataset, runs: Sequence[LoadedRun]) -> tuple[str, ...]:
    out: list[str] = []
    for run in runs:
        try:
            cond = Condition.parse(run.manifest.condition)
        except ValueError:
            continue
        if cond.kind == "country":
            try:
                key = countries.match(cond.value, dataset.countries).key
            except countries.UnknownCountryError:
                continue
            if key not in out:
                out.append(key)
    return tuple(out)


def compare_loaded(
    dataset: Dataset,
    a: LoadedRun,
    b: LoadedRun,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> RunComparison:
    """Compare two loaded runs, reusing the similarities :func:`load_run` computed.

    Raises:
        ValueError: the runs were loaded under different policies or metrics (load B with
            A's).
    """
    if a.policy != b.policy:
        raise ValueError(f"Runs loaded under policies {a.policy!r} and {b.policy!r}.")
    if a.metric != b.metric:
        raise ValueError(f"Runs loaded under metrics {a.metric!r} and {b.metric!r}.")
    shared = np.intersect1d(a.answers.positions, b.answers.positions)
    with _STATISTICS_LOCK:
        paired = stats.compare(
            dataset,
            a.scores.pairs,
            b.scores.pairs,
            policy=a.policy,
            n_resamples=n_resamples,
            seed=seed,
            label_a=a.name,
            label_b=b.name,
            metric=a.metric,
        )
    return RunComparison(
        a=a,
        b=b,
        positions=shared,
        scores_a=a.scores_on(dataset, shared),
        scores_b=b.scores_on(dataset, shared),
        focus=_focus(dataset, (a, b)),
        paired=paired,
    )


def compare_runs(
    store: Store,
    dataset: Dataset,
    a: str,
    b: str,
    *,
    policy: str | None = None,
    include_suspect: bool = False,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    metric: str = metrics.DEFAULT_METRIC,
) -> RunComparison:
    """Compare run ``b`` with the reference run ``a``, country by country, on the questions
    both answered.

    Args:
        policy: the non-substantive policy of both (default: A's own).
        metric: the metric both are scored under (:data:`core.metrics.METRIC_NAMES`).
        include_suspect: score suspect answers of both runs too.
        n_resamples, seed: bootstrap and permutation settings.

    Raises:
        StoreError, NoMatchingAnswersError: as :func:`load_run`.
    """
    run_a = load_run(
        store, dataset, a, policy=policy, include_suspect=include_suspect, metric=metric
    )
    run_b = load_run(
        store, dataset, b, policy=run_a.policy, include_suspect=include_suspect, metric=metric
    )
    return compare_loaded(dataset, run_a, run_b, n_resamples=n_resamples, seed=seed)


def default_reference(runs: Sequence[RunSummary], b: str) -> RunSummary | None:
    """The run to compare run ``b`` with when none is named: the newest ``default`` run of
    the same backend kind and model on the same dataset (None if there is none, or no run
    ``b`` among ``runs``).

    Args:
        runs: the store's runs, oldest first (:meth:`core.store.Store.runs`).
        b: the name of the run under study.
    """
    target = next((r.manifest for r in runs if r.manifest.name == b), None)
    if target is None:
        return None
    for r in reversed(runs):
        m = r.manifest
        if (
            m.name != b
            and m.condition == "default"
            and m.model == target.model
            and m.backend_kind == target.backend_kind
            and m.dataset_sha256 == target.dataset_sha256
        ):
            return r
    return None


def reference_for(store: Store, b: str) -> str:
    """The name of :func:`default_reference` of run ``b`` in ``store``.

    Raises:
        StoreError: no run ``b``.
        RunsError: no default run of the same model on the same dataset.
    """
    runs = store.runs()
    if not any(r.manifest.name == b for r in runs):
        store.summary(b)  # raises the store's "No run called …" with the stored names
    ref = default_reference(runs, b)
    if ref is None:
        raise RunsError(
            f"No run to compare {b!r} with: there is no default run of the same model on the "
            "same dataset.",
            f"Name both runs: goqa compare REFERENCE {b}.",
        )
    return ref.manifest.name
