"""The estimator audit: runs of the same questions made with different estimators
(:mod:`core.estimators`), set side by side so their disagreement is in plain sight.

``goqa audit RUN_A RUN_B …``, the estimator-audit section of ``goqa report`` (and of its HTML
page) and the app's audit view all show the :class:`EstimatorAudit` that :func:`audit_runs`
returns:

* **per run**: its estimator, questions answered and failed;
* **per country**: the score under each estimator on the *common* questions (those every run
  answered), with a 95% bootstrap interval (:func:`core.stats.bootstrap`) and, for every run
  after the first, the paired difference from the first run with its interval and q-value
  (:func:`core.runs.compare_loaded`); countries ranked by the first run;
* **per question**: the largest Jensen–Shannon distance (base 2) between two runs' answers on
  it, and which two runs those are (the questions where estimators disagree most first);
* **per pair of runs**, on the questions both answered: the mean distance between their
  answers and how often their most likely options agree (an option tied for most likely
  counts, so a free-text answer with two options chosen equally often agrees with either).
  A ``first-token`` run paired with a ``free-text`` run is the first-token vs free-text
  argmax agreement of Wang et al. 2024 ("My Answer is C");
* **refusals** (a ``free-text`` run): replies that refused to choose over every reply drawn,
  counting the questions whose every reply failed to choose (stored as failures,
  :func:`core.estimation.refusals_in_failure`);
* **order sensitivity** (an ``order-averaged`` run, from each answer's ``parts``): the share
  of questions whose most likely option changes with the option order, and the mean over
  questions of the largest distance between two orders' answers;
* **parse rate** (a ``verbalized`` run): answered questions over answered plus failed ones;
* **letter prior** (a ``prior-corrected`` run): the prior its calibration estimated, per
  number of options.

Runs must have been made on the same dataset (the same file); everything else (the model,
the condition...) may differ, and :attr:`EstimatorAudit.caveats` says what does. Distances
between answers are over all of a question's options, as the models gave them; scores follow
the policy (the first run's unless given). Suspect answers are left out unless included.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core import estimators, metrics, runs, stats
from core.dataset import Dataset
from core.errors import InvalidValueError
from core.estimation import VERBALIZED_FAILURE, refusals_in_failure
from core.estimators import EstimatorSpec
from core.runs import DatasetMatch, LoadedRun, RunsError
from core.store import RunManifest, RunSummary, Store
from core.wording import counted

DEFAULT_TOP = 10
"""Most disagreeing questions an audit keeps."""
_TIE = 1e-9
"""Options within this of the most likely one are tied with it."""
_CAVEAT_FIELDS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("backend_kind", "backend kind"),
    ("base_url", "server"),
    ("mode", "mode"),
    ("condition", "condition"),
    ("template", "template"),
    ("variant", "option-order variant"),
    ("params", "request parameters"),
    ("policy", "policy"),
)
"""Manifest fields beyond the estimator that may differ between audited runs (a caveat)."""
_RELATED_FIELDS = (
    "dataset_sha256",
    "backend_kind",
    "model",
    "mode",
    "condition",
    "template",
    "variant",
)
"""What a run shares with the runs :func:`related_runs` finds for it."""


# --------------------------------------------------------------------------- errors


class AuditError(RunsError):
    """Runs cannot be audited together as asked."""

    title = "Estimator audit"


class TooFewRunsError(AuditError):
    """An audit needs at least two distinct runs."""

    title = "Nothing to audit"


class NoCommonQuestionsError(AuditError):
    """The runs share no answered question."""

    title = "No common questions"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AuditedRun:
    """One run of an audit.

    Attributes:
        name: the run's name.
        estimator: its estimator's name (``first-token``, ``free-text``…).
        label: the estimator with its settings (``order-averaged (up to 4 orders)``).
        estimator_params: the settings as the manifest records them.
        model, backend, condition: from the manifest.
        answered, failed: questions stored as answered and as failed.
        scored: answers matched to the dataset and scored (suspect ones only if included).
        suspect_left_out: suspect answers left out of the scores.
        match: how the run's answers matched the dataset in use.
    """

    name: str
    estimator: str
    label: str
    estimator_params: dict[str, Any]
    model: str
    backend: str
    condition: str
    answered: int
    failed: int
    scored: int
    suspect_left_out: int
    match: DatasetMatch

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "estimator": self.estimator,
            "label": self.label,
            "estimator_params": dict(self.estimator_params),
            "model": self.model,
            "backend": self.backend,
            "condition": self.condition,
            "answered": self.answered,
            "failed": self.failed,
            "scored": self.scored,
            "suspect_left_out": self.suspect_left_out,
            "dataset_match": self.match.to_json(),
        }


@dataclass(frozen=True)
class EstimatorScore:
    """A country's score under one run, on the common questions.

    Attributes:
        run: the run's name.
        similarity: the score; ``ci_low``/``ci_high`` its bootstrap percentile interval.
        n_questions: common questions the country was scored on.
        diff: this run's score minus the first run's (None for the first run and where the
            pair has no shared (question, country) pair); ``diff_ci_low``/``diff_ci_high``
            its paired bootstrap interval, ``q_value`` its Benjamini–Hochberg q-value.
    """

    run: str
    similarity: float
    ci_low: float | None
    ci_high: float | None
    n_questions: int
    diff: float | None = None
    diff_ci_low: float | None = None
    diff_ci_high: float | None = None
    q_value: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "similarity": self.similarity,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_questions": self.n_questions,
            "diff": self.diff,
            "diff_ci_low": self.diff_ci_low,
            "diff_ci_high": self.diff_ci_high,
            "q_value": self.q_value,
        }


@dataclass(frozen=True)
class CountryAudit:
    """One country under every run.

    Attributes:
        country, display, iso2: the raw key, the name to show, the ISO code.
        scores: per run, in the audit's run order (None where a run has no score for it).
    """

    country: str
    display: str
    iso2: str | None
    scores: tuple[EstimatorScore | None, ...]

    @property
    def spread(self) -> float | None:
        """Highest score minus lowest across the runs (None with fewer than two)."""
        values = [s.similarity for s in self.scores if s is not None]
        return max(values) - min(values) if len(values) >= 2 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "display": self.display,
            "iso2": self.iso2,
            "spread": self.spread,
            "scores": [s.to_json() if s is not None else None for s in self.scores],
        }


@dataclass(frozen=True)
class QuestionDisagreement:
    """How far apart the runs' answers to one common question are.

    Attributes:
        position, question_id, key, question: where and what the question is.
        max_distance: the largest Jensen–Shannon distance between two runs' answers.
        pair: the two runs (names) whose answers are that far apart.
        argmax: per run (in run order), the letter of its most likely option.
    """

    position: int
    question_id: int
    key: str
    question: str
    max_distance: float
    pair: tuple[str, str]
    argmax: tuple[str, ...]

    def to_json(self, run_names: Sequence[str]) -> dict[str, Any]:
        return {
            "position": self.position,
            "question_id": self.question_id,
            "key": self.key,
            "question": self.question,
            "max_distance": self.max_distance,
            "pair": list(self.pair),
            "argmax": dict(zip(run_names, self.argmax, strict=True)),
        }


@dataclass(frozen=True)
class PairAudit:
    """Two runs on the questions both answered.

    Attributes:
        a, b: the runs' names; ``estimator_a``/``estimator_b`` their estimators.
        n: questions both answered.
        mean_distance: mean Jensen–Shannon distance between their answers.
        agree: questions whose most likely options agree, ties broken at random: a question
            counts ``|A ∩ B| / (|A| |B|)`` for the sets A and B of options tied for most
            likely (1 for one shared option, 1/2 when one side ties two options and the other
            picks one of them, 0 with nothing shared), so a uniform answer does not agree with
            everything.
    """

    a: str
    b: str
    estimator_a: str
    estimator_b: str
    n: int
    mean_distance: float | None
    agree: float

    @property
    def agreement(self) -> float | None:
        """``agree / n`` (None with no shared question)."""
        return self.agree / self.n if self.n else None

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "estimator_a": self.estimator_a,
            "estimator_b": self.estimator_b,
            "n": self.n,
            "mean_distance": self.mean_distance,
            "agree": self.agree,
            "agreement": self.agreement,
        }


@dataclass(frozen=True)
class RefusalRate:
    """How often a ``free-text`` run's replies refused to choose.

    Attributes:
        run: the run's name.
        refused: replies that refused.
        replies: every reply drawn, on ``questions`` questions (answered ones and those whose
            every reply failed to choose, ``no_choice`` of them).
    """

    run: str
    refused: int
    replies: int
    questions: int
    no_choice: int

    @property
    def rate(self) -> float | None:
        return self.refused / self.replies if self.replies else None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "refused": self.refused,
            "replies": self.replies,
            "questions": self.questions,
            "no_choice": self.no_choice,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class OrderSensitivity:
    """How an ``order-averaged`` run's answers move with the option order.

    Attributes:
        run: the run's name.
        questions: scored questions asked under at least two orders.
        flipped: those whose most likely option is not the same under every order.
        mean_spread: mean over them of the largest distance between two orders' answers.
    """

    run: str
    questions: int
    flipped: int
    mean_spread: float | None

    @property
    def share(self) -> float | None:
        return self.flipped / self.questions if self.questions else None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "questions": self.questions,
            "flipped": self.flipped,
            "share": self.share,
            "mean_spread": self.mean_spread,
        }


@dataclass(frozen=True)
class ParseRate:
    """How many of a ``verbalized`` run's replies could be read.

    Attributes:
        run: the run's name; ``ok`` questions answered, ``failed`` questions whose reply
            failed the parse, ``not_asked`` questions whose request itself failed (HTTP
            errors, timeouts: no reply to parse, so not in the rate).
    """

    run: str
    ok: int
    failed: int
    not_asked: int = 0

    @property
    def rate(self) -> float | None:
        total = self.ok + self.failed
        return self.ok / total if total else None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "ok": self.ok,
            "failed": self.failed,
            "not_asked": self.not_asked,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class OptionsPrior:
    """The letter prior of one number of options.

    Attributes:
        options: the number of options K; ``prior`` its K probabilities over A, B, …;
        size: calibration questions it was estimated from.
    """

    options: int
    prior: tuple[float, ...]
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"options": self.options, "prior": list(self.prior), "size": self.size}


@dataclass(frozen=True)
class LetterPrior:
    """What a ``prior-corrected`` run's calibration estimated (its manifest's
    ``calibration``).

    Attributes:
        run: the run's name.
        by_options: per number of options, the prior.
        missing: numbers of options whose calibration failed (their questions failed).
    """

    run: str
    by_options: tuple[OptionsPrior, ...]
    missing: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "by_options": [p.to_json() for p in self.by_options],
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class ManifestDifference:
    """A manifest field, beyond the estimator, on which the audited runs differ.

    Attributes:
        field: the manifest field (``model``); ``label`` as a person reads it.
        values: per run (name, value), in run order.
    """

    field: str
    label: str
    values: tuple[tuple[str, Any], ...]

    def describe(self) -> str:
        """``The runs differ in model: a = m1, b = m2.``"""
        shown = ", ".join(f"{name} = {_short(value)}" for name, value in self.values)
        return f"The runs differ in {self.label}: {shown}."

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "label": self.label,
            "values": {name: value for name, value in self.values},
        }


@dataclass(frozen=True)
class EstimatorAudit:
    """Runs of the same questions under different estimators, side by side (see the
    module's doc for what each part means).

    Attributes:
        runs: the audited runs, the first being the reference the countries are ranked by.
        dataset: the name of the dataset they are scored on.
        policy: the non-substantive policy of the scores.
        include_suspect: suspect answers are scored.
        common: questions every run answered (the scores and ``questions`` are over them).
        countries: per country the score under each run, ranked by the first run.
        questions: the most disagreeing common questions, most first.
        mean_max_distance: mean over the common questions of ``max_distance``.
        pairs: every two runs, in run order.
        refusals, order, parse, priors: the estimator-specific figures of the runs that
            have them.
        differences: manifest fields beyond the estimator on which the runs differ.
        caveats: what a reader should know, one sentence each (the differences among them).
        n_resamples, seed, level: the bootstrap's settings.
    """

    runs: tuple[AuditedRun, ...]
    dataset: str
    policy: metrics.Policy
    include_suspect: bool
    common: int
    countries: tuple[CountryAudit, ...]
    questions: tuple[QuestionDisagreement, ...]
    mean_max_distance: float | None
    pairs: tuple[PairAudit, ...]
    refusals: tuple[RefusalRate, ...]
    order: tuple[OrderSensitivity, ...]
    parse: tuple[ParseRate, ...]
    priors: tuple[LetterPrior, ...]
    differences: tuple[ManifestDifference, ...]
    caveats: tuple[str, ...]
    n_resamples: int
    seed: int
    level: float = stats.DEFAULT_LEVEL

    @property
    def run_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.runs)

    @property
    def first_token_vs_free_text(self) -> tuple[PairAudit, ...]:
        """The pairs of a ``first-token`` run with a ``free-text`` run (the first-token one
        as ``a``): their argmax agreement is the audit's headline figure."""
        out = []
        for p in self.pairs:
            if (p.estimator_a, p.estimator_b) == ("first-token", "free-text"):
                out.append(p)
            elif (p.estimator_a, p.estimator_b) == ("free-text", "first-token"):
                out.append(
                    replace(p, a=p.b, b=p.a, estimator_a=p.estimator_b, estimator_b=p.estimator_a)
                )
        return tuple(out)

    def summary(self) -> tuple[tuple[str, str], ...]:
        """The audit's headline figures as (label, value) sentences for a person, the same
        in the terminal, the app and the HTML report: the mean largest distance per
        question, first-token vs free-text argmax agreement, refusal rate, order flips,
        parse rate and letter prior (each for the runs that have it)."""
        lines: list[tuple[str, str]] = []
        if self.mean_max_distance is not None:
            lines.append(
                (
                    "mean largest JSD per question",
                    f"{self.mean_max_distance:.3f} over {counted(self.common, 'common question')}",
                )
            )
        for p in self.first_token_vs_free_text:
            lines.append(
                (
                    f"first-token vs free-text argmax agreement ({p.a} vs {p.b})",
                    f"{_percent(p.agreement)} ({p.agree:g} of {counted(p.n, 'question')})",
                )
            )
        lines += _estimator_lines(self.refusals, self.order, self.parse, self.priors)
        return tuple(lines)

    def to_json(self) -> dict[str, Any]:
        """The audit as ``goqa audit --json`` prints it (and the HTML section reads)."""
        names = self.run_names
        return {
            "dataset": self.dataset,
            "policy": self.policy,
            "include_suspect": self.include_suspect,
            "common_questions": self.common,
            "bootstrap": {"n_resamples": self.n_resamples, "seed": self.seed, "level": self.level},
            "jsd_base": metrics.JSD_BASE,
            "runs": [r.to_json() for r in self.runs],
            "differences": [d.to_json() for d in self.differences],
            "caveats": list(self.caveats),
            "countries": [c.to_json() for c in self.countries],
            "questions": {
                "n": self.common,
                "mean_max_distance": self.mean_max_distance,
                "top": [q.to_json(names) for q in self.questions],
            },
            "pairs": [p.to_json() for p in self.pairs],
            "first_token_vs_free_text": [p.to_json() for p in self.first_token_vs_free_text],
            "refusals": [r.to_json() for r in self.refusals],
            "order": [o.to_json() for o in self.order],
            "parse": [p.to_json() for p in self.parse],
            "priors": [p.to_json() for p in self.priors],
            "summary": [{"figure": k, "value": v} for k, v in self.summary()],
        }


# --------------------------------------------------------------------------- finding runs


def _related_key(m: RunManifest) -> tuple[Any, ...]:
    return tuple(getattr(m, f) for f in _RELATED_FIELDS)


def _estimator_key(m: RunManifest) -> tuple[str, str]:
    return m.estimator or "first-token", json.dumps(m.estimator_params or {}, sort_keys=True)


def related_runs(store: Store, name: str) -> list[str]:
    """Other stored runs of run ``name``'s questions made with another estimator: the runs
    ``goqa report NAME`` audits it against.

    A related run has the same dataset (sha256), backend kind, model, mode, condition,
    template and option-order variant, and another estimator (name or settings). Of several
    runs with the same estimator the one sharing the most answered questions with ``name`` is
    taken (the newest of those that share as many). A run is only added while every run
    taken (``name`` included) still shares an answered question, so auditing ``name`` with
    them never finds the common questions empty on the run's own dataset.

    Returns:
        Run names, in the order of :data:`core.estimators.ESTIMATOR_NAMES` (``[]`` when
        there are none).

    Raises:
        StoreError: no run is called ``name``.
    """
    summaries = store.runs()
    target = next((r for r in summaries if r.manifest.name == name), None)
    if target is None:
        store.summary(name)  # raises the store's "No run called …" with the stored names
        return []
    own = _estimator_key(target.manifest)
    mine = store.answered_keys(name)
    newest: dict[tuple[str, str], RunSummary] = {}
    overlap: dict[str, int] = {}
    for r in summaries:  # oldest first: a later run replaces an earlier one sharing as many
        m = r.manifest
        if m.name == name or r.n_ok == 0 or _related_key(m) != _related_key(target.manifest):
            continue
        key = _estimator_key(m)
        if key == own:
            continue
        overlap[m.name] = len(mine & store.answered_keys(m.name))
        best = newest.get(key)
        if best is None or overlap[m.name] >= overlap[best.manifest.name]:
            newest[key] = r
    rank: dict[str, int] = {e: i for i, e in enumerate(estimators.ESTIMATOR_NAMES)}
    ordered = sorted(
        newest.values(),
        key=lambda r: (rank.get(r.manifest.estimator, len(rank)), r.manifest.created_at),
    )
    common = store.answered_keys(name)
    chosen: list[str] = []
    for r in ordered:
        shared = common & store.answered_keys(r.manifest.name)
        if shared:
            common = shared
            chosen.append(r.manifest.name)
    return chosen


def _estimator_lines(
    refusals: Sequence[RefusalRate],
    order: Sequence[OrderSensitivity],
    parse: Sequence[ParseRate],
    priors: Sequence[LetterPrior],
) -> list[tuple[str, str]]:
    """What each run's estimator recorded, as (label, sentence) lines."""
    lines: list[tuple[str, str]] = []
    for r in refusals:
        lines.append(
            (
                f"refusal rate ({r.run})",
                f"{_percent(r.rate)} ({r.refused} of {counted(r.replies, 'reply', 'replies')} "
                f"on {counted(r.questions, 'question')}; {r.no_choice} with no reply "
                "choosing an option)",
            )
        )
    for o in order:
        spread = "—" if o.mean_spread is None else f"{o.mean_spread:.3f}"
        lines.append(
            (
                f"argmax changes with the option order ({o.run})",
                f"{_percent(o.share)} ({o.flipped} of {counted(o.questions, 'question')}); "
                f"mean largest JSD between orders {spread}",
            )
        )
    for parsed in parse:
        total = parsed.ok + parsed.failed
        lines.append(
            (
                f"parse rate ({parsed.run})",
                f"{_percent(parsed.rate)} ({parsed.ok} of {counted(total, 'reply', 'replies')}"
                + (
                    f"; {parsed.not_asked} more not asked: the request failed)"
                    if parsed.not_asked
                    else ")"
                ),
            )
        )
    for prior in priors:
        parts = [
            f"{o.options} options: "
            + " ".join(f"{chr(65 + i)} {x:.2f}" for i, x in enumerate(o.prior))
            + f" ({counted(o.size, 'calibration question')})"
            for o in prior.by_options
        ]
        if prior.missing:
            missing = ", ".join(str(k) for k in prior.missing)
            parts.append(f"no prior for {missing} options")
        lines.append((f"letter prior ({prior.run})", "; ".join(parts) or "not recorded"))
    return lines


@dataclass(frozen=True)
class RunFigures:
    """What one run's estimator recorded about its own answers (no other run needed):
    the refusal rate (free-text), order flips (order-averaged), parse rate (verbalized) or
    the letter prior (prior-corrected); empty for first-token."""

    refusals: tuple[RefusalRate, ...] = ()
    order: tuple[OrderSensitivity, ...] = ()
    parse: tuple[ParseRate, ...] = ()
    priors: tuple[LetterPrior, ...] = ()

    def summary(self) -> tuple[tuple[str, str], ...]:
        """(label, sentence) lines, worded as in the audit's summary."""
        return tuple(_estimator_lines(self.refusals, self.order, self.parse, self.priors))

    def to_json(self) -> dict[str, Any]:
        return {
            "refusals": [r.to_json() for r in self.refusals],
            "order": [o.to_json() for o in self.order],
            "parse": [p.to_json() for p in self.parse],
            "priors": [p.to_json() for p in self.priors],
        }


def run_figures(store: Store, run: LoadedRun) -> RunFigures:
    """:class:`RunFigures` of one loaded run (``goqa report`` shows them for any run)."""
    method = run.manifest.estimator or "first-token"
    return RunFigures(
        refusals=(_refusals(store, run),) if method == "free-text" else (),
        order=(_order(run),) if method == "order-averaged" else (),
        parse=(_parse_rate(store, run),) if method == "verbalized" else (),
        priors=(_prior(run),) if method == "prior-corrected" else (),
    )


# --------------------------------------------------------------------------- the audit


def audit_runs(
    store: Store,
    dataset: Dataset,
    names: Sequence[str],
    *,
    policy: str | None = None,
    include_suspect: bool = False,
    seed: int = runs.DEFAULT_SEED,
    resamples: int = runs.DEFAULT_RESAMPLES,
    top: int = DEFAULT_TOP,
) -> EstimatorAudit:
    """Audit runs of the same questions made with different estimators.

    CPU-bound like :func:`core.runs.with_statistics` (a bootstrap per run and a paired
    comparison per run after the first): call it in a thread in the app.

    Args:
        store: where the runs are.
        dataset: the dataset they are scored on (their answers matched by question key).
        names: two or more distinct run names; the first is the reference (countries are
            ranked by it, differences are from it).
        policy: the non-substantive policy of every run (default: the first run's own).
        include_suspect: score suspect answers too.
        seed, resamples: the bootstrap's (and the paired comparison's) seed and resamples.
        top: the most disagreeing questions to keep (0 keeps every common question).

    Raises:
        StoreError: a name is no stored run.
        TooFewRunsError: fewer than two distinct runs.
        AuditError: the runs were made on different datasets.
        NoCommonQuestionsError: no question was answered by every run.
        NoMatchingAnswersError, RunsError: as :func:`core.runs.load_run` (a run made on
            another dataset than ``dataset``; an unknown policy).
    """
    wanted = [str(n) for n in names]
    summaries = [store.summary(n) for n in wanted]  # an unknown run is the first thing to say
    repeated = sorted({n for n in wanted if wanted.count(n) > 1})
    if repeated:
        raise TooFewRunsError(
            f"Run {repeated[0]!r} is named more than once; an audit sets different runs side "
            "by side.",
            "Name each run once.",
        )
    if len(wanted) < 2:
        only = f" only {wanted[0]!r}" if wanted else " none"
        raise TooFewRunsError(
            f"An estimator audit needs at least two runs of the same questions; got{only}.",
            "Name two or more runs made with different estimators (goqa audit RUN_A RUN_B); "
            "'goqa runs' lists them, and 'goqa run --estimator NAME' makes one.",
        )
    _check_same_dataset(summaries)
    first = runs.load_run(store, dataset, wanted[0], policy=policy, include_suspect=include_suspect)
    loaded = [first] + [
        runs.load_run(store, dataset, n, policy=first.policy, include_suspect=include_suspect)
        for n in wanted[1:]
    ]
    return audit_loaded(store, dataset, loaded, seed=seed, resamples=resamples, top=top)


def report_audit(
    store: Store,
    dataset: Dataset,
    name: str,
    *,
    policy: str | None = None,
    include_suspect: bool = False,
    seed: int = runs.DEFAULT_SEED,
    resamples: int = runs.DEFAULT_RESAMPLES,
    top: int = DEFAULT_TOP,
) -> EstimatorAudit | None:
    """The audit of run ``name`` against its :func:`related_runs` (``goqa report``'s
    section), or None when it has none.

    Raises:
        AuditError: as :func:`audit_runs` (e.g. no common question once the runs' answers
            are matched to ``dataset`` and suspect ones left out); a report shows it as a note.
    """
    related = related_runs(store, name)
    if not related:
        return None
    return audit_runs(
        store,
        dataset,
        [name, *related],
        policy=policy,
        include_suspect=include_suspect,
        seed=seed,
        resamples=resamples,
        top=top,
    )


def audit_loaded(
    store: Store,
    dataset: Dataset,
    loaded: Sequence[LoadedRun],
    *,
    seed: int = runs.DEFAULT_SEED,
    resamples: int = runs.DEFAULT_RESAMPLES,
    top: int = DEFAULT_TOP,
) -> EstimatorAudit:
    """:func:`audit_runs` of runs already loaded (:func:`core.runs.load_run`, all under the
    same policy); ``store`` gives their failures (refusals of questions no reply answered).

    Raises:
        TooFewRunsError, NoCommonQuestionsError: as :func:`audit_runs`.
        ValueError: the runs were loaded under different policies.
    """
    if len(loaded) < 2 or len({r.name for r in loaded}) < len(loaded):
        raise TooFewRunsError(
            "An estimator audit needs at least two different runs.",
            "Name two or more runs made with different estimators.",
        )
    if len({r.policy for r in loaded}) > 1:
        raise ValueError("Runs loaded under different policies; load them under the first's.")
    common = _common_positions(loaded)
    ref = loaded[0]
    restricted = [replace(r, scores=r.scores_on(dataset, common)) for r in loaded]
    countries = _country_audits(dataset, restricted, resamples, seed)
    questions, mean_max = _disagreements(dataset, loaded, common, top)
    differences = _differences(loaded)
    return EstimatorAudit(
        runs=tuple(_audited(r) for r in loaded),
        dataset=dataset.name,
        policy=ref.policy,
        include_suspect=ref.include_suspect,
        common=int(common.shape[0]),
        countries=countries,
        questions=questions,
        mean_max_distance=mean_max,
        pairs=_pairs(loaded),
        refusals=tuple(_refusals(store, r) for r in loaded if r.manifest.estimator == "free-text"),
        order=tuple(_order(r) for r in loaded if r.manifest.estimator == "order-averaged"),
        parse=tuple(_parse_rate(store, r) for r in loaded if r.manifest.estimator == "verbalized"),
        priors=tuple(_prior(r) for r in loaded if r.manifest.estimator == "prior-corrected"),
        differences=differences,
        caveats=_caveats(loaded, common, differences),
        n_resamples=resamples,
        seed=seed,
    )


# --------------------------------------------------------------------------- pieces


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    text = text if text else "(none)"
    return text if len(text) <= 60 else text[:59] + "…"


def _label(m: RunManifest) -> str:
    try:
        return EstimatorSpec.from_manifest(m.estimator, m.estimator_params).label
    except (InvalidValueError, TypeError, ValueError):  # a manifest from a newer goqa
        return m.estimator or "first-token"


def _audited(r: LoadedRun) -> AuditedRun:
    m = r.manifest
    return AuditedRun(
        name=r.name,
        estimator=m.estimator or "first-token",
        label=_label(m),
        estimator_params=dict(m.estimator_params or {}),
        model=m.model,
        backend=m.backend,
        condition=m.condition,
        answered=r.summary.n_ok,
        failed=r.summary.n_failed,
        scored=int(r.answers.positions.shape[0]),
        suspect_left_out=r.suspect_left_out,
        match=r.match,
    )


def _check_same_dataset(summaries: Sequence[RunSummary]) -> None:
    first = summaries[0].manifest
    for s in summaries[1:]:
        m = s.manifest
        if m.dataset_sha256 != first.dataset_sha256:
            raise AuditError(
                f"Runs {first.name!r} and {m.name!r} were made on different datasets "
                f"({first.dataset!r} {first.dataset_sha256[:12]}, {m.dataset!r} "
                f"{m.dataset_sha256[:12]}); an estimator audit compares estimators on the "
                "same questions.",
                "Audit runs made on the same dataset ('goqa runs' shows each run's).",
            )


def _common_positions(loaded: Sequence[LoadedRun]) -> np.ndarray:
    common = loaded[0].answers.positions
    for r in loaded[1:]:
        common = np.intersect1d(common, r.answers.positions)
    if common.shape[0]:
        return np.unique(common)
    counts = ", ".join(f"{r.name!r} {int(r.answers.positions.shape[0])}" for r in loaded)
    left_out = sum(r.suspect_left_out for r in loaded)
    fix = (
        "Audit runs made over the same questions (the same --search, --source and --limit), "
        "or finish the runs ('goqa run' with the same --name resumes one)."
    )
    if left_out:
        fix += f" {left_out} suspect answer(s) were left out: --include-suspect scores them."
    raise NoCommonQuestionsError(
        f"The runs share no answered question (answered and scored: {counts}).", fix
    )


def _opt(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _country_audits(
    dataset: Dataset, restricted: Sequence[LoadedRun], resamples: int, seed: int
) -> tuple[CountryAudit, ...]:
    """Per country, each run's score on the common questions with its interval, and every
    later run's paired difference from the first."""
    with runs._STATISTICS_LOCK:  # numpy warning filters are process-wide (see core.runs)
        intervals = [
            stats.bootstrap(dataset, r.scores.pairs, n_resamples=resamples, seed=seed)
            for r in restricted
        ]
    # compare_loaded takes the lock itself.
    paired = [
        runs.compare_loaded(dataset, restricted[0], r, n_resamples=resamples, seed=seed).paired
        for r in restricted[1:]
    ]
    order = [c.country for c in restricted[0].scores.countries]
    for r in restricted[1:]:
        order += [c.country for c in r.scores.countries if c.country not in order]
    out = []
    for key in order:
        cells: list[EstimatorScore | None] = []
        for j, r in enumerate(restricted):
            score = r.scores.get(key)
            if score is None:
                cells.append(None)
                continue
            iv = intervals[j].get(key)
            cmp = paired[j - 1].get(key) if j else None
            cells.append(
                EstimatorScore(
                    run=r.name,
                    similarity=score.similarity,
                    ci_low=_opt(iv.ci_low) if iv else None,
                    ci_high=_opt(iv.ci_high) if iv else None,
                    n_questions=score.n_questions,
                    diff=cmp.diff if cmp else None,
                    diff_ci_low=_opt(cmp.ci_low) if cmp else None,
                    diff_ci_high=_opt(cmp.ci_high) if cmp else None,
                    q_value=_opt(cmp.q_value) if cmp else None,
                )
            )
        shown = next((s for r in restricted if (s := r.scores.get(key)) is not None), None)
        assert shown is not None
        out.append(CountryAudit(key, shown.display, shown.iso2, tuple(cells)))
    return tuple(out)


def _probs_by_position(run: LoadedRun) -> dict[int, np.ndarray]:
    return {
        int(p): np.asarray(a.probs, dtype=np.float64)
        for p, a in zip(run.answers.positions.tolist(), run.answers.answers, strict=True)
    }


def _modes(probs: np.ndarray) -> set[int]:
    return set(np.flatnonzero(probs >= probs.max() - _TIE).tolist())


def _chance_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The chance that the most likely options of ``a`` and ``b`` agree when ties are broken
    at random: ``|A ∩ B| / (|A| |B|)``."""
    modes_a, modes_b = _modes(a), _modes(b)
    return len(modes_a & modes_b) / (len(modes_a) * len(modes_b))


def _letter(probs: np.ndarray) -> str:
    return chr(65 + int(np.argmax(probs)))


def _disagreements(
    dataset: Dataset, loaded: Sequence[LoadedRun], common: np.ndarray, top: int
) -> tuple[tuple[QuestionDisagreement, ...], float | None]:
    by_run = [_probs_by_position(r) for r in loaded]
    rows = []
    for pos in common.tolist():
        answers = [b[pos] for b in by_run]
        worst, pair = -1.0, (0, 1)
        for i in range(len(answers)):
            for j in range(i + 1, len(answers)):
                d = float(metrics.js_distance(answers[i], answers[j]))
                if d > worst + 1e-12:
                    worst, pair = d, (i, j)
        rows.append(
            QuestionDisagreement(
                position=int(pos),
                question_id=int(dataset.ids[pos]),
                key=dataset.keys[pos],
                question=dataset.texts[pos],
                max_distance=max(worst, 0.0),
                pair=(loaded[pair[0]].name, loaded[pair[1]].name),
                argmax=tuple(_letter(a) for a in answers),
            )
        )
    mean = float(np.mean([q.max_distance for q in rows])) if rows else None
    rows.sort(key=lambda q: (-q.max_distance, q.position))
    return tuple(rows[:top] if top else rows), mean


def _pairs(loaded: Sequence[LoadedRun]) -> tuple[PairAudit, ...]:
    by_run = [_probs_by_position(r) for r in loaded]
    out = []
    for i in range(len(loaded)):
        for j in range(i + 1, len(loaded)):
            shared = sorted(by_run[i].keys() & by_run[j].keys())
            distances = [float(metrics.js_distance(by_run[i][p], by_run[j][p])) for p in shared]
            agree = sum(_chance_agreement(by_run[i][p], by_run[j][p]) for p in shared)
            out.append(
                PairAudit(
                    a=loaded[i].name,
                    b=loaded[j].name,
                    estimator_a=loaded[i].manifest.estimator or "first-token",
                    estimator_b=loaded[j].manifest.estimator or "first-token",
                    n=len(shared),
                    mean_distance=float(np.mean(distances)) if distances else None,
                    agree=agree,
                )
            )
    return tuple(out)


def _parse_rate(store: Store, run: LoadedRun) -> ParseRate:
    """Answered questions against those whose reply failed the parse."""
    failed = [a.error or "" for a in store.answers(run.name, status="failed")]
    unparsed = sum(1 for e in failed if e.startswith(VERBALIZED_FAILURE))
    return ParseRate(run.name, run.summary.n_ok, unparsed, len(failed) - unparsed)


def _refusals(store: Store, run: LoadedRun) -> RefusalRate:
    """Over every stored question of the run: answered ones (suspect too) and failures whose
    replies all failed to choose."""
    refused = replies = questions = no_choice = 0
    for stored in store.answers(run.name):
        if stored.status == "ok" and stored.answer is not None:
            if stored.answer.method != "free-text":
                continue
            refused += stored.answer.refusals
            replies += stored.answer.samples
            questions += 1
        elif stored.status == "failed":
            counted = refusals_in_failure(stored.error or "")
            if counted is not None:
                refused += counted[0]
                replies += counted[1]
                questions += 1
                no_choice += 1
    return RefusalRate(run.name, refused, replies, questions, no_choice)


def _order(run: LoadedRun) -> OrderSensitivity:
    """Over the run's scored answers asked under two orders or more."""
    spreads, flipped = [], 0
    for answer in run.answers.answers:
        parts = [np.asarray(p.probs, dtype=np.float64) for p in answer.parts]
        if len(parts) < 2:
            continue
        spreads.append(estimators.order_spread(parts))
        flipped += int(estimators.argmax_changes(parts))
    return OrderSensitivity(
        run.name, len(spreads), flipped, float(np.mean(spreads)) if spreads else None
    )


def _prior(run: LoadedRun) -> LetterPrior:
    calibration = run.manifest.calibration or {}
    by_options = calibration.get("by_options") or {}
    rows = []
    if isinstance(by_options, dict):
        for k, entry in by_options.items():
            if not isinstance(entry, dict):
                continue
            try:
                options = int(k)
                prior = tuple(float(x) for x in entry.get("prior") or ())
                size = int(entry.get("size", len(entry.get("questions") or ())))
            except (TypeError, ValueError):
                continue
            rows.append(OptionsPrior(options, prior, size))
    missing = []
    for k in calibration.get("missing") or ():
        try:
            missing.append(int(k))
        except (TypeError, ValueError):
            continue
    return LetterPrior(
        run.name, tuple(sorted(rows, key=lambda p: p.options)), tuple(sorted(missing))
    )


def _differences(loaded: Sequence[LoadedRun]) -> tuple[ManifestDifference, ...]:
    out = []
    for field_name, label in _CAVEAT_FIELDS:
        values = tuple((r.name, getattr(r.manifest, field_name)) for r in loaded)
        distinct = {json.dumps(v, sort_keys=True, default=str) for _, v in values}
        if len(distinct) > 1:
            out.append(ManifestDifference(field_name, label, values))
    return tuple(out)


def _caveats(
    loaded: Sequence[LoadedRun], common: np.ndarray, differences: Sequence[ManifestDifference]
) -> tuple[str, ...]:
    notes = [d.describe() for d in differences]
    if any(d.field == "policy" for d in differences):
        notes.append(f"Every run is scored under {loaded[0].policy!r}, the first run's policy.")
    seen: dict[tuple[str, str], str] = {}
    for r in loaded:
        key = _estimator_key(r.manifest)
        if key in seen:
            notes.append(
                f"Runs {seen[key]!r} and {r.name!r} use the same estimator "
                f"({_label(r.manifest)}): their disagreement is not the estimator's."
            )
        else:
            seen[key] = r.name
    n = int(common.shape[0])
    for r in loaded:
        left = int(r.answers.positions.shape[0]) - n
        if left > 0:
            notes.append(
                f"{r.name!r} answered {int(r.answers.positions.shape[0])} questions, {left} of "
                "them not answered by every run: left out of the scores and the question table."
            )
    return tuple(notes)
