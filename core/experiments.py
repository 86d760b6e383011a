"""The paper's three experiments as presets: default, cross-national and linguistic prompting.

An experiment is a set of named runs (made or resumed through :func:`core.runner.run`, so the
response cache and resumption apply) and a summary that answers the paper's questions: under
``country:X``, did the model move toward X? Under ``language:L``, toward the people who mostly
speak L?

The CLI (``goqa experiment``) and the app run an experiment the same way:

1. :func:`plan` settles the conditions, run names and questions (:class:`ExperimentPlan`);
2. :func:`preflight` resolves every condition before any request (unknown countries and
   missing translations stop here, for all conditions at once);
3. :func:`run_experiment` makes or resumes the runs one after the other, reporting progress;
4. :func:`summarise_runs` scores the stored runs under a metric (:class:`ExperimentSummary`),
   with each ``country:X`` run's :class:`core.steerability.Steerability`.

**Steering formats.** A cross-national experiment asks in one steering format
(:data:`core.prompts.STEERING_FORMATS`): the paper's ("How would someone from X answer"),
``bio`` or ``portray``. The format is the template of every run of the experiment, its default
run included (:func:`core.prompts.template_for_format`), and the default run-name prefix carries
it (``exp-local-bio``), so each format's experiment has its own runs and its own default run:
``bio``'s and ``portray``'s default runs ask exactly ``v2``'s default prompts (same answer turn
as their steered prompts, so a gain measures the steering alone), and the response cache
answers them for free once one of them (or a ``v2`` default run) was asked. The paper format's
default run keeps the chosen template (the paper's typo or ``v2``'s fix).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from core import asking, countries, diagnostics, languages, metrics, runner, runs, stats
from core import steerability as steer
from core.backends.base import DEFAULT_MAX_OFF_OPTION, Backend
from core.dataset import Dataset
from core.errors import GoqaError, InvalidValueError
from core.estimators import EstimatorSpec
from core.prompts import (
    STEERING_FORMAT,
    Condition,
    SteeringFormat,
    TemplateName,
    parse_steering_format,
    parse_template,
    template_for_format,
)
from core.store import Selection, Store

ExperimentKind = Literal["default", "cross-national", "linguistic"]
"""The paper's experiments: default, cross-national and linguistic prompting."""
KINDS: tuple[ExperimentKind, ...] = ("default", "cross-national", "linguistic")
PAPER_COUNTRIES = ("China", "Russia", "Turkey")
PAPER_LANGUAGES = ("ru", "zh", "tr")
PREFIX = "exp"
"""Run names start ``exp-BACKEND-`` unless the caller gives another prefix; each run is
named by :func:`core.runs.run_name` with the prefix, ``PREFIX-CONDITION``, so running the
experiment again resumes its runs."""


def default_prefix(
    backend_name: str, estimator: str = "first-token", steering: str = "paper"
) -> str:
    """The run-name prefix of an experiment on ``backend_name``: ``exp-local``, or with
    another estimator than ``first-token`` ``exp-local-order-averaged``, and with another
    steering format than the paper's ``exp-local-bio`` (``exp-local-order-averaged-bio``), so
    that its runs never resume the first-token or the paper-format ones."""
    method = "" if estimator == "first-token" else f"-{estimator}"
    fmt = "" if steering == "paper" else f"-{steering}"
    return f"{PREFIX}-{backend_name}{method}{fmt}"


def parse_kind(text: str) -> ExperimentKind:
    """``text`` as an experiment kind (from a command line, a picker, a manifest).

    Raises:
        ValueError: ``text`` is not an experiment kind, naming it and the accepted ones.
    """
    for known in KINDS:
        if text == known:
            return known
    raise InvalidValueError(f"Unknown experiment {text!r}: choose one of {', '.join(KINDS)}.")


def default_targets(kind: str) -> tuple[str, ...]:
    """The paper's targets of an experiment kind (none for ``default``)."""
    return {"cross-national": PAPER_COUNTRIES, "linguistic": PAPER_LANGUAGES}.get(kind, ())


def conditions(kind: str, targets: Sequence[str] = ()) -> list[Condition]:
    """The conditions an experiment needs: always ``default`` first (the reference), then one
    per target country or language.

    Raises:
        ValueError: unknown experiment kind.
    """
    parse_kind(kind)
    out = [Condition("default")]
    if kind == "cross-national":
        out += [Condition("country", t) for t in (targets or PAPER_COUNTRIES)]
    elif kind == "linguistic":
        out += [Condition("language", t) for t in (targets or PAPER_LANGUAGES)]
    return out


@dataclass(frozen=True)
class Movement:
    """How one country's score changed from the default run to a conditioned run."""

    country: str
    display: str
    score_default: float
    score_conditioned: float
    rank_default: int
    rank_conditioned: int
    metric: metrics.MetricName = metrics.DEFAULT_METRIC

    @property
    def delta(self) -> float:
        """``score_conditioned - score_default`` as the metric reads (for ``kl``, a rise is a
        move away)."""
        return self.score_conditioned - self.score_default

    @property
    def gain(self) -> float:
        """The move toward the country: ``delta``, negated for ``kl`` (lower is better)."""
        return float(metrics.oriented(self.metric, self.delta))


@dataclass(frozen=True)
class TargetSummary:
    """Did the conditioned run move toward its target population?

    ``targets`` are the countries the condition aims at (one for ``country:X``; the speakers'
    countries for ``language:L``) that the dataset scores; ``moved_most`` the countries the
    model moved toward most (largest ``gain``); ``metric`` what the scores hold.
    """

    condition: str
    targets: tuple[Movement, ...]
    moved_most: tuple[Movement, ...]
    n_countries: int
    metric: metrics.MetricName = metrics.DEFAULT_METRIC

    @property
    def moved_toward(self) -> bool:
        return bool(self.targets) and all(
            m.gain > 0 and m.rank_conditioned <= m.rank_default for m in self.targets
        )


def _ranks(scores: metrics.Scores) -> dict[str, tuple[int, float]]:
    return {c.country: (i + 1, c.similarity) for i, c in enumerate(scores.countries)}


def target_keys(dataset: Dataset, condition: Condition) -> list[str]:
    """Dataset country keys a condition targets (national samples preferred)."""
    if condition.kind == "country":
        return [countries.match(condition.value, dataset.countries).key]
    if condition.kind == "language":
        codes = set(languages.speaker_countries(condition.value))
        found: dict[str, countries.Country] = {}
        for key in dataset.countries:
            c = countries.resolve(key)
            if c.iso2 in codes:
                best = found.get(c.iso2)
                if best is None or countries.sample_rank(c.sample) < countries.sample_rank(
                    best.sample
                ):
                    found[c.iso2] = c
        return sorted(c.key for c in found.values())
    return []


def summarise(
    dataset: Dataset,
    condition: Condition,
    default: metrics.Scores,
    conditioned: metrics.Scores,
    top: int = 5,
) -> TargetSummary:
    """Compare a conditioned run's scores with the default run's (countries scored in both).

    Both are under the same metric (``default.metric``): ranks follow its order, and the
    largest moves are the largest gains toward a country (falls, for ``kl``).
    """
    metric = default.metric
    rd, rc = _ranks(default), _ranks(conditioned)
    moves = []
    for key in rd.keys() & rc.keys():
        moves.append(
            Movement(
                country=key,
                display=countries.resolve(key).label,
                score_default=rd[key][1],
                score_conditioned=rc[key][1],
                rank_default=rd[key][0],
                rank_conditioned=rc[key][0],
                metric=metric,
            )
        )
    by_key = {m.country: m for m in moves}
    targets = tuple(by_key[k] for k in target_keys(dataset, condition) if k in by_key)
    moved = tuple(sorted(moves, key=lambda m: (-m.gain, m.country))[:top])
    return TargetSummary(str(condition), targets, moved, len(moves), metric)


def _policy(name: str) -> metrics.Policy:
    for known in metrics.POLICIES:
        if name == known:
            return known
    raise InvalidValueError(f"Unknown non-substantive policy {name!r}: use 'keep' or 'drop'.")


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class ExperimentPlan:
    """Everything an experiment needs, settled before any request.

    Attributes:
        kind: one of :data:`KINDS`.
        conditions: ``default`` first (the reference), then one per target.
        prefix: run names are ``PREFIX-CONDITION`` (:func:`core.runs.run_name`), so running
            again resumes.
        positions: dataset positions of the questions every run asks.
        backend_name, template, policy: as for :func:`core.runner.run`.
        concurrency, max_retries: the backend's settings.
        selection: recorded in every run's manifest (with the experiment's kind).
        max_off_option: off-option mass above which an answer is suspect (config).
        estimator: how every run estimates its answers.

    The steering format of a ``country:`` condition is the template's (:attr:`steering`).
    """

    kind: ExperimentKind
    conditions: tuple[Condition, ...]
    prefix: str
    positions: tuple[int, ...]
    backend_name: str
    template: TemplateName
    policy: metrics.Policy
    concurrency: int = 8
    max_retries: int = 4
    selection: Selection = field(default_factory=Selection)
    max_off_option: float = DEFAULT_MAX_OFF_OPTION
    estimator: EstimatorSpec = field(default_factory=EstimatorSpec)

    @property
    def run_names(self) -> tuple[str, ...]:
        """One run name per condition, in order (the default run first)."""
        return tuple(runs.run_name(c, prefix=self.prefix) for c in self.conditions)

    @property
    def steering(self) -> SteeringFormat:
        """How the ``country:`` conditions ask (``paper``, ``bio`` or ``portray``)."""
        return STEERING_FORMAT[self.template]


def plan(
    kind: str,
    targets: Sequence[str],
    positions: Sequence[int],
    *,
    backend_name: str,
    template: str,
    policy: str,
    prefix: str | None = None,
    concurrency: int = 8,
    max_retries: int = 4,
    selection: Selection | None = None,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
    estimator: EstimatorSpec | None = None,
    steering: str | None = None,
) -> ExperimentPlan:
    """Settle an experiment: its conditions (see :func:`conditions`) and run names.

    Args:
        kind: ``default``, ``cross-national`` or ``linguistic``.
        targets: countries or language codes; empty for the paper's.
        positions: the questions to ask (non-empty).
        template: the template of every run (any of :data:`core.prompts.TEMPLATE_NAMES`).
        prefix: run-name prefix (default :func:`default_prefix` of the backend, the
            estimator and the steering format).
        steering: the steering format of a cross-national experiment (``paper``, ``bio``,
            ``portray``); it decides the template with ``template``
            (:func:`core.prompts.template_for_format`: ``paper`` keeps ``paper`` or ``v2``).
            None: ``template`` as given.

    Raises:
        ValueError: unknown kind, template, format or policy, a format other than the
            paper's for another experiment than cross-national, no question, or a blank
            prefix.
    """
    checked_kind = parse_kind(kind)
    if steering is not None:
        fmt = parse_steering_format(steering)
        if fmt != "paper" and checked_kind != "cross-national":
            raise InvalidValueError(
                f"The steering format {fmt!r} applies to the cross-national experiment only, "
                f"not to {checked_kind!r}.",
                "Leave the format out (or use paper), or run the cross-national experiment.",
            )
        template = template_for_format(fmt, template)
    checked_template = parse_template(template)
    conds = conditions(checked_kind, [t.strip() for t in targets if t.strip()])
    if not positions:
        raise runs.NothingToRunError("No question is selected; nothing to run.")
    spec = estimator or EstimatorSpec()
    if prefix is None:
        prefix = default_prefix(backend_name, spec.name, STEERING_FORMAT[checked_template])
    else:
        prefix = prefix.strip()
    if not prefix:
        raise InvalidValueError("Give the experiment's runs a name prefix, e.g. exp-local.")
    checked_policy = _policy(policy)
    return ExperimentPlan(
        kind=checked_kind,
        conditions=tuple(conds),
        prefix=prefix,
        positions=tuple(int(p) for p in positions),
        backend_name=backend_name,
        template=checked_template,
        policy=checked_policy,
        concurrency=concurrency,
        max_retries=max_retries,
        selection=replace(selection or Selection(), experiment=checked_kind),
        max_off_option=max_off_option,
        estimator=spec,
    )


class ExperimentTranslationsError(GoqaError):
    """Some of an experiment's ``language:`` conditions lack translations.

    Attributes:
        gaps: one :class:`core.asking.MissingTranslationsError` per language.
    """

    title = "Translations missing"

    def __init__(self, gaps: Sequence[asking.MissingTranslationsError]) -> None:
        self.gaps = tuple(gaps)
        listed = ", ".join(f"language:{g.language} ({g.missing} missing)" for g in self.gaps)
        super().__init__(
            f"Translations are missing for {listed}. Make them with 'goqa translate "
            "--language CODE [--backend NAME]' or import human ones with 'goqa translate "
            "--import FILE.jsonl', then run the experiment again."
        )


def preflight(dataset: Dataset, experiment: ExperimentPlan, store: Store) -> None:
    """Resolve every condition of ``experiment`` before anything is asked.

    Raises:
        core.countries.UnknownCountryError: a target country matches no country.
        ExperimentTranslationsError: translations are missing (all languages listed at once).
    """
    # Questions that cannot be asked are left out by the runs (and reported there).
    questions = [dataset.at(p) for p in dataset.askable(experiment.positions)[0]]
    gaps = []
    for cond in experiment.conditions:
        try:
            asking.prompt_builder(dataset, cond, experiment.template, store, questions)
        except asking.MissingTranslationsError as exc:
            gaps.append(exc)
    if gaps:
        raise ExperimentTranslationsError(gaps)


RunStartedCallback = Callable[[int, str, Condition], None]
"""Called with (run index, run name, condition) before a run starts."""
RunProgressCallback = Callable[[int, runner.Progress, int], None]
"""Called with (run index, progress, fresh answers) after every question of a run."""
RunDoneCallback = Callable[[int, runner.RunOutcome], None]
"""Called with (run index, outcome) when a run returns."""


async def run_experiment(
    dataset: Dataset,
    experiment: ExperimentPlan,
    backend: Backend,
    store: Store,
    *,
    on_run_started: RunStartedCallback | None = None,
    on_progress: RunProgressCallback | None = None,
    on_run_done: RunDoneCallback | None = None,
) -> tuple[runner.RunOutcome, ...]:
    """Make or resume the experiment's runs, one after the other (the default run first).

    Every run goes through :func:`core.runner.run`: answers are cached and stored as they
    land, and a cancelled experiment resumes where it stopped. The backend is not closed.

    Raises:
        UnknownCountryError, ExperimentTranslationsError: from :func:`preflight`, before any
            request is sent.
        StoreError: a run name belongs to an incompatible run (another backend or model).
    """
    preflight(dataset, experiment, store)
    outcomes = []
    for index, (cond, name) in enumerate(
        zip(experiment.conditions, experiment.run_names, strict=True)
    ):
        if on_run_started is not None:
            on_run_started(index, name, cond)

        def progress(p: runner.Progress, fresh: int, index: int = index) -> None:
            if on_progress is not None:
                on_progress(index, p, fresh)

        outcome = await runner.run(
            name=name,
            dataset=dataset,
            positions=list(experiment.positions),
            backend=backend,
            backend_name=experiment.backend_name,
            condition=cond,
            template=experiment.template,
            store=store,
            policy=experiment.policy,
            concurrency=experiment.concurrency,
            max_retries=experiment.max_retries,
            selection=experiment.selection,
            on_progress=progress,
            max_off_option=experiment.max_off_option,
            estimator=experiment.estimator,
        )
        outcomes.append(outcome)
        if on_run_done is not None:
            on_run_done(index, outcome)
    return tuple(outcomes)


# --------------------------------------------------------------------------- the summary


def movement_json(m: Movement) -> dict[str, object]:
    """A :class:`Movement` as plain JSON-ready data (with its ``delta``)."""
    return {
        "country": m.country,
        "display": m.display,
        "score_default": m.score_default,
        "score_conditioned": m.score_conditioned,
        "delta": m.delta,
        "gain": m.gain,
        "rank_default": m.rank_default,
        "rank_conditioned": m.rank_conditioned,
    }


@dataclass(frozen=True)
class ConditionResult:
    """One conditioned run against the experiment's default run.

    Attributes:
        condition: the run's condition; ``run`` its name.
        movement: target scores and ranks, default → conditioned, and the largest moves.
        comparison: the paired comparison (default = A, conditioned = B) with BH q-values
            (its differences are B − A as the metric reads).
        overshoot: stereotype overshoot (``country:`` conditions only, else None).
        steerability: toward the target, with its paired bootstrap interval (``country:``
            conditions whose target is scored on the shared questions, else None).
        metric: the metric of every score.
    """

    condition: Condition
    run: str
    movement: TargetSummary
    comparison: stats.Comparison
    overshoot: diagnostics.Overshoot | None
    steerability: steer.Steerability | None = None
    metric: metrics.MetricName = metrics.DEFAULT_METRIC

    @property
    def n_closer(self) -> int:
        """Countries significantly closer (BH q < alpha) than under default prompting
        (a lower divergence, for ``kl``)."""
        return self.comparison.n_better  # core.stats.compare counts in the metric's direction

    @property
    def n_further(self) -> int:
        """Countries significantly further (BH q < alpha) than under default prompting."""
        return self.comparison.n_worse

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "condition": str(self.condition),
            "run": self.run,
            "moved_toward_target": self.movement.moved_toward,
            "targets": [movement_json(m) for m in self.movement.targets],
            "moved_most": [movement_json(m) for m in self.movement.moved_most],
            "countries_closer": self.n_closer,
            "countries_further": self.n_further,
        }
        if self.overshoot is not None:
            out["overshoot"] = {
                "rate": self.overshoot.rate,
                "n_questions": self.overshoot.n_questions,
                "n_overshoot": self.overshoot.n_overshoot,
            }
        out["steerability"] = None if self.steerability is None else self.steerability.to_json()
        return out


@dataclass(frozen=True)
class ExperimentSummary:
    """What an experiment found: the default run's leaders and one result per condition.

    Attributes:
        default_run: name of the default run.
        default_top: its best-matched countries, best first.
        uniform_mean: mean over countries of the uniform answer's score on its questions
            (the floor a model has to beat).
        conditions: one :class:`ConditionResult` per conditioned run, in plan order.
        metric: the metric of every score (:mod:`core.metrics`).
    """

    default_run: str
    default_top: tuple[metrics.CountryScore, ...]
    uniform_mean: float
    conditions: tuple[ConditionResult, ...]
    metric: metrics.MetricName = metrics.DEFAULT_METRIC

    def to_json(self) -> dict[str, object]:
        return {
            "metric": metric_json(self.metric),
            "default": {
                "run": self.default_run,
                "top": [
                    {
                        "country": c.country,
                        "display": c.display,
                        "similarity": c.similarity,
                        "n": c.n_questions,
                    }
                    for c in self.default_top
                ],
                "uniform_mean": self.uniform_mean,
            },
            "conditions": [c.to_json() for c in self.conditions],
        }


def metric_json(metric: str) -> dict[str, object]:
    """What a report says of its metric: ``{"name", "description", "higher_is_better"}``."""
    name = metrics.parse_metric(metric)
    return {
        "name": name,
        "description": metrics.METRIC_INFO[name],
        "higher_is_better": metrics.HIGHER_IS_BETTER[name],
    }


def summarise_runs(
    dataset: Dataset,
    store: Store,
    prefix: str,
    conds: Sequence[Condition],
    policy: str,
    top: int = 5,
    *,
    metric: str = metrics.DEFAULT_METRIC,
) -> ExperimentSummary:
    """Score an experiment's stored runs against its default run.

    Args:
        prefix: the runs' name prefix; ``conds`` the plan's conditions, ``default`` first.
        policy: the non-substantive policy every run is scored under.
        top: how many leading countries and largest moves to keep.
        metric: the metric every score, move and steerability is under
            (:data:`core.metrics.METRIC_NAMES`; the paper's ``jsd`` by default).

    Raises:
        StoreError: a run of the experiment is not stored.
        InvalidValueError: an unknown metric.
        ValueError: ``conds`` is empty or does not start with ``default``.
    """
    if not conds or conds[0].kind != "default":
        raise ValueError("An experiment's conditions start with the default condition.")
    pol = _policy(policy)
    metric_name = metrics.parse_metric(metric)
    default_name = runs.run_name(conds[0], prefix=prefix)
    default = runs.load_run(store, dataset, default_name, policy=pol, metric=metric_name)
    uniform = default.uniform
    uniform_mean = float(
        sum(c.similarity for c in uniform.countries) / max(len(uniform.countries), 1)
    )
    results = []
    for cond in conds[1:]:
        name = runs.run_name(cond, prefix=prefix)
        conditioned = runs.load_run(store, dataset, name, policy=pol, metric=metric_name)
        overshoot = None
        steered = None
        if cond.kind == "country":
            target = steer.target_of(dataset, cond)
            try:
                steered = steer.steerability(
                    dataset,
                    default.scores.pairs,
                    conditioned.scores.pairs,
                    target,
                    metric_name,
                    default_run=default_name,
                    steered_run=name,
                )
            except steer.NoSharedQuestionsError:
                steered = None  # the target is not scored on these questions: nothing to say
            overshoot = diagnostics.overshoot(
                dataset,
                target,
                default_positions=default.answers.positions,
                default_probs=default.answers.probs,
                conditioned_positions=conditioned.answers.positions,
                conditioned_probs=conditioned.answers.probs,
                policy=pol,
            )
        results.append(
            ConditionResult(
                condition=cond,
                run=name,
                movement=summarise(dataset, cond, default.scores, conditioned.scores, top),
                comparison=runs.compare_loaded(dataset, default, conditioned).paired,
                overshoot=overshoot,
                steerability=steered,
                metric=metric_name,
            )
        )
    return ExperimentSummary(
        default_run=default_name,
        default_top=default.scores.countries[:top],
        uniform_mean=uniform_mean,
        conditions=tuple(results),
        metric=metric_name,
    )


# --------------------------------------------------------------------------- prompt sensitivity


@dataclass(frozen=True)
class SensitivityVariant:
    """One re-asking of a stored run: its run name and how it differs."""

    name: str
    description: str
    template: TemplateName
    shuffle_seed: int | None


def sensitivity_variants(base: str, template: str, seed: int = 0) -> list[SensitivityVariant]:
    """The prompt variants of the paper-faithful base run: options shuffled (mapped back to the
    original order) and the other template (``v2`` fixes the paper's "If had" typo; a run of
    any other template, ``v2``, ``bio`` or ``portray``, is re-asked with ``paper``).

    Raises:
        ValueError: ``template`` (a stored manifest's) is not a template's name.
    """
    same = parse_template(template)
    other: TemplateName = "v2" if same == "paper" else "paper"
    return [
        SensitivityVariant(
            f"{base}-shuffled-{seed}", f"options shuffled (seed {seed})", same, seed
        ),
        SensitivityVariant(f"{base}-{other}", f"template {other}", other, None),
    ]


async def run_sensitivity(
    dataset: Dataset,
    store: Store,
    base: str,
    backend: Backend,
    backend_name: str,
    *,
    seed: int = 0,
    concurrency: int = 8,
    max_retries: int = 4,
    on_progress: runner.ProgressCallback | None = None,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
) -> list[runner.RunOutcome]:
    """Re-ask the questions a stored run answered under each variant (resumable runs)."""
    manifest = store.manifest(base)
    positions = [int(p) for p in runner.run_answers(store, dataset, base).positions]
    outcomes = []
    for variant in sensitivity_variants(base, manifest.template, seed):
        outcomes.append(
            await runner.run(
                name=variant.name,
                dataset=dataset,
                positions=positions,
                backend=backend,
                backend_name=backend_name,
                condition=Condition.parse(manifest.condition),
                template=variant.template,
                store=store,
                policy=_policy(manifest.policy),
                concurrency=concurrency,
                max_retries=max_retries,
                selection=Selection(sensitivity_of=base),
                on_progress=on_progress,
                shuffle_seed=variant.shuffle_seed,
                max_off_option=max_off_option,
            )
        )
    return outcomes


def sensitivity_report(
    dataset: Dataset, store: Store, base: str, seed: int = 0, n_resamples: int = 1000
) -> list[tuple[SensitivityVariant, diagnostics.Sensitivity]]:
    """Per variant, how far each country's score moved from the base run, judged against the
    base score's bootstrap interval (on the questions both runs answered)."""
    base_run = runs.load_run(store, dataset, base)
    out = []
    for variant in sensitivity_variants(base, base_run.manifest.template, seed):
        other = runs.load_run(store, dataset, variant.name, policy=base_run.policy)
        shared = np.intersect1d(base_run.answers.positions, other.answers.positions)
        base_scores = base_run.scores_on(dataset, shared)
        variant_scores = other.scores_on(dataset, shared)
        intervals = stats.bootstrap(dataset, base_scores.pairs, n_resamples=n_resamples, seed=seed)
        out.append((variant, diagnostics.sensitivity(base_scores, variant_scores, intervals)))
    return out
