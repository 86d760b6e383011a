"""Diagnostics beyond the similarity score: overconfidence, stereotype overshoot, prompt
sensitivity.

* :func:`overconfidence` — is the model surer than people are? Per question, the entropy of
  the model's distribution against the entropy of people's, and how often the model puts more
  than 90% on one option where no country's people do.
* :func:`overshoot` — under cross-national prompting ("How would someone from X answer"),
  does the model caricature X, pushing past X's real answers away from everybody else?
* Prompt sensitivity — pure pieces to re-ask with the options in another order
  (:func:`shuffled_order`, :func:`shuffled_render`), map answers back (:func:`unshuffle`,
  :func:`unshuffle_rows`) and judge the score change against the bootstrap interval
  (:func:`sensitivity`), plus a per-question view (:func:`answer_shift`).

All distances are :func:`core.metrics.js_distance` (Jensen–Shannon *distance*, base 2, in
[0, 1]), the same quantity the similarity score is built from; entropies are in bits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core import countries, metrics
from core.dataset import Dataset, Question
from core.metrics import Policy, Scores
from core.prompts import Condition, Prompt, render
from core.stats import BootstrapResult

OVERCONFIDENT_THRESHOLD = 0.9


# --------------------------------------------------------------------------- shared pieces


def entropy_bits(p: np.ndarray | Sequence[float]) -> np.ndarray:
    """Row-wise Shannon entropy in bits of non-negative weights (normalised first).

    ``0 log 0`` counts as 0; a row that sums to 0 gives NaN. Uniform over K options gives
    ``log2(K)``.
    """
    p = np.asarray(p, dtype=np.float64)
    total = p.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = p / total
        terms = np.where(q > 0, -q * np.log2(np.where(q > 0, q, 1.0)), 0.0)
    out = terms.sum(axis=-1)
    return np.where(total[..., 0] > 0, out, np.nan)


def _normalise(rows: np.ndarray) -> np.ndarray:
    total = rows.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, rows / total, 0.0)


def _human_rows(
    dataset: Dataset, positions: np.ndarray, policy: Policy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Human pairs of the questions at ``positions``, policy applied, renormalised.

    Returns:
        (local question index into ``positions`` (N,), country index (N,), rows (N, Kmax)),
        without pairs left with no mass by the policy.
    """
    local_of = np.full(len(dataset), -1, dtype=np.int64)
    local_of[positions] = np.arange(positions.shape[0])
    local = local_of[dataset.pair_question]
    sel = np.flatnonzero(local >= 0)
    q = dataset.pair_question[sel]
    rows = metrics.apply_policy(dataset.pair_human[sel], dataset.nonsubstantive[q], policy)
    ok = rows.sum(axis=1) > 0
    return local[sel][ok], dataset.pair_country[sel][ok].astype(np.int64), _normalise(rows[ok])


# --------------------------------------------------------------------------- overconfidence


@dataclass(frozen=True)
class Overconfidence:
    """Model certainty against human certainty, per answered question.

    Human entropy is the **mean over countries of each country's own entropy** on the
    question: the uncertainty *within* a population, which is what a model answering as "a
    person" should be compared with. The entropy of the pooled distribution would add the
    disagreement *between* countries and make people look less certain than any of them is.

    Attributes:
        positions: (M,) questions with a model answer and at least one country's data.
        model_entropy, human_entropy: (M,) bits.
        model_top: (M,) the model's largest option probability.
        human_top: (M,) the largest option share of any country on the question.
        overconfident: (M,) ``model_top > threshold`` while ``human_top <= threshold``.
        threshold: the share that counts as "nearly everyone" (0.9).
        policy: non-substantive policy applied before everything.
    """

    positions: np.ndarray
    model_entropy: np.ndarray
    human_entropy: np.ndarray
    model_top: np.ndarray
    human_top: np.ndarray
    overconfident: np.ndarray
    threshold: float
    policy: str

    @property
    def n_questions(self) -> int:
        return int(self.positions.shape[0])

    @property
    def share_overconfident(self) -> float:
        """Share of questions where the model is near-unanimous and no country is."""
        return float(self.overconfident.mean()) if self.n_questions else float("nan")

    @property
    def mean_model_entropy(self) -> float:
        return float(self.model_entropy.mean()) if self.n_questions else float("nan")

    @property
    def mean_human_entropy(self) -> float:
        return float(self.human_entropy.mean()) if self.n_questions else float("nan")

    @property
    def share_below_human(self) -> float:
        """Share of questions where the model's entropy is below people's."""
        if not self.n_questions:
            return float("nan")
        return float((self.model_entropy < self.human_entropy).mean())

    def to_json(self) -> dict[str, object]:
        """Run-level figures plus the overconfident questions' positions."""
        return {
            "policy": self.policy,
            "threshold": self.threshold,
            "human_entropy": "mean over countries of per-country entropy (bits)",
            "n_questions": self.n_questions,
            "mean_model_entropy": self.mean_model_entropy,
            "mean_human_entropy": self.mean_human_entropy,
            "share_below_human": self.share_below_human,
            "share_overconfident": self.share_overconfident,
            "overconfident_positions": self.positions[self.overconfident].tolist(),
        }


def overconfidence(
    dataset: Dataset,
    positions: np.ndarray | Sequence[int],
    probs: np.ndarray,
    policy: Policy = "keep",
    threshold: float = OVERCONFIDENT_THRESHOLD,
) -> Overconfidence:
    """Entropy of the model against people's, and near-unanimous answers no country gives.

    Args:
        dataset: the questions and human distributions.
        positions: (M,) dataset positions the model answered (unique).
        probs: (M, K) model distributions, zero padded to the right.
        policy: ``drop`` removes non-substantive options from both sides and renormalises.
        threshold: a distribution is near-unanimous when its top option exceeds this.

    Returns:
        :class:`Overconfidence` over the questions with a usable model answer and human data.
    """
    pos = np.asarray(positions, dtype=np.int64)
    model = metrics.apply_policy(
        metrics.pad_probs(dataset, probs, pos), dataset.nonsubstantive[pos], policy
    )
    model_ok = model.sum(axis=1) > 0
    model = _normalise(model)
    local, _, human = _human_rows(dataset, pos, policy)
    m = pos.shape[0]
    n_countries = np.bincount(local, minlength=m)
    entropy_sum = np.bincount(local, weights=entropy_bits(human), minlength=m)
    human_top = np.zeros(m)
    np.maximum.at(human_top, local, human.max(axis=1))
    valid = model_ok & (n_countries > 0)
    model_top = model.max(axis=1)[valid]
    top = human_top[valid]
    return Overconfidence(
        positions=pos[valid],
        model_entropy=entropy_bits(model[valid]),
        human_entropy=entropy_sum[valid] / n_countries[valid],
        model_top=model_top,
        human_top=top,
        overconfident=(model_top > threshold) & (top <= threshold),
        threshold=threshold,
        policy=policy,
    )


# --------------------------------------------------------------------------- overshoot


@dataclass(frozen=True)
class Overshoot:
    """Stereotype overshoot of a country-conditioned run, questions worst first.

    Arrays are aligned and ordered: overshooting questions first by magnitude (largest
    first), then the others by magnitude.

    Attributes:
        target, target_display: the conditioned country (raw key, display name).
        positions: (M,) questions both runs answered where the target and at least one other
            country have data.
        distance_conditioned: ``JSD(P_c, m_others)``.
        distance_target: ``JSD(h_t, m_others)``: how far the target's people really stand.
        distance_default: ``JSD(P_d, m_others)``, for context.
        cosine: cosine of the move ``P_c - P_d`` with the target's direction
            ``h_t - m_others`` (0 when either vector is zero).
        magnitude: ``distance_conditioned - distance_target``.
        overshoots: (M,) bool, see :func:`overshoot`.
    """

    target: str
    target_display: str
    policy: str
    positions: np.ndarray
    distance_conditioned: np.ndarray
    distance_target: np.ndarray
    distance_default: np.ndarray
    cosine: np.ndarray
    magnitude: np.ndarray
    overshoots: np.ndarray

    @property
    def n_questions(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_overshoot(self) -> int:
        return int(self.overshoots.sum())

    @property
    def rate(self) -> float:
        """Share of the questions that overshoot (NaN with no question)."""
        return self.n_overshoot / self.n_questions if self.n_questions else float("nan")

    @property
    def mean_magnitude(self) -> float:
        """Mean magnitude over the overshooting questions (NaN when none overshoot)."""
        return float(self.magnitude[self.overshoots].mean()) if self.n_overshoot else float("nan")

    def worst(self, limit: int | None = None) -> np.ndarray:
        """Positions of the overshooting questions, worst first."""
        return self.positions[self.overshoots][:limit]

    def to_json(self, limit: int = 20) -> dict[str, object]:
        worst = self.overshoots.nonzero()[0][:limit]
        return {
            "target": self.target,
            "target_display": self.target_display,
            "policy": self.policy,
            "n_questions": self.n_questions,
            "n_overshoot": self.n_overshoot,
            "rate": self.rate if self.n_questions else None,
            "mean_magnitude": self.mean_magnitude if self.n_overshoot else None,
            "worst": [
                {
                    "position": int(self.positions[i]),
                    "magnitude": float(self.magnitude[i]),
                    "distance_conditioned": float(self.distance_conditioned[i]),
                    "distance_target": float(self.distance_target[i]),
                    "cosine": float(self.cosine[i]),
                }
                for i in worst
            ],
        }


def _target_index(dataset: Dataset, target: str) -> int:
    if target in dataset.country_index:
        return dataset.country_index[target]
    return dataset.country_index[countries.match(target, dataset.countries).key]


def overshoot(
    dataset: Dataset,
    target: str,
    *,
    default_positions: np.ndarray | Sequence[int],
    default_probs: np.ndarray,
    conditioned_positions: np.ndarray | Sequence[int],
    conditioned_probs: np.ndarray,
    policy: Policy = "keep",
    exclude_same_iso2: bool = True,
) -> Overshoot:
    """Where prompting "as someone from t" pushes the model past t's people.

    On a question q answered by both runs, with ``P_d`` the default run's distribution,
    ``P_c`` the run conditioned on target country t, ``h_t`` t's human distribution and
    ``m_others`` the mean of the other countries' human distributions on q (each renormalised
    after the policy), q **overshoots** when both hold:

    1. ``JSD(P_c, m_others) > JSD(h_t, m_others)``: the conditioned answer stands further
       from everybody else than t's people do;
    2. ``cos(P_c - P_d, h_t - m_others) > 0``: conditioning moved the model in t's direction
       (a move the other way is a miss, not a caricature).

    The overshoot magnitude is ``JSD(P_c, m_others) - JSD(h_t, m_others)``. JSD here is the
    Jensen–Shannon distance of :func:`core.metrics.js_distance`. The run-level rate is the share
    of the questions answered by both runs, where t and at least one other country have data,
    that overshoot.

    Args:
        dataset: the questions and human distributions.
        target: the conditioned country: a raw key or a name ``countries.match`` accepts.
        default_positions, default_probs: the default run (positions (M,), probs (M, K)).
        conditioned_positions, conditioned_probs: the ``country:t`` run.
        policy: non-substantive policy applied to every distribution.
        exclude_same_iso2: leave the target's other samples (same ISO code, e.g. ``China
            (Non-national sample)`` for ``China``) out of ``m_others``: they are not "others".

    Raises:
        core.countries.UnknownCountryError: ``target`` is no country of the dataset.
    """
    t = _target_index(dataset, target)
    pos_d = np.asarray(default_positions, dtype=np.int64)
    pos_c = np.asarray(conditioned_positions, dtype=np.int64)
    shared, i_d, i_c = np.intersect1d(pos_d, pos_c, assume_unique=True, return_indices=True)
    mask = dataset.nonsubstantive[shared]
    p_d = metrics.apply_policy(metrics.pad_probs(dataset, default_probs, pos_d)[i_d], mask, policy)
    p_c = metrics.apply_policy(
        metrics.pad_probs(dataset, conditioned_probs, pos_c)[i_c], mask, policy
    )

    local, country, human = _human_rows(dataset, shared, policy)
    n = shared.shape[0]
    is_t = country == t
    h_t = np.zeros((n, dataset.kmax))
    h_t[local[is_t]] = human[is_t]
    has_t = np.zeros(n, dtype=bool)
    has_t[local[is_t]] = True
    others = ~is_t
    if exclude_same_iso2:
        t_iso = countries.resolve(dataset.countries[t]).iso2
        if t_iso is not None:
            iso = np.array([countries.resolve(k).iso2 == t_iso for k in dataset.countries])
            others &= ~iso[country]
    n_others = np.bincount(local[others], minlength=n)
    m_others = np.zeros((n, dataset.kmax))
    np.add.at(m_others, local[others], human[others])
    valid = has_t & (n_others > 0) & (p_d.sum(axis=1) > 0) & (p_c.sum(axis=1) > 0)

    p_d, p_c = _normalise(p_d[valid]), _normalise(p_c[valid])
    h_t = h_t[valid]
    m_others = m_others[valid] / n_others[valid, None]
    d_cond = metrics.js_distance(p_c, m_others)
    d_target = metrics.js_distance(h_t, m_others)
    d_default = metrics.js_distance(p_d, m_others)
    move, direction = p_c - p_d, h_t - m_others
    norms = np.linalg.norm(move, axis=1) * np.linalg.norm(direction, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(norms > 1e-12, np.sum(move * direction, axis=1) / norms, 0.0)
    magnitude = d_cond - d_target
    flags = (d_cond > d_target) & (cosine > 0)
    order = np.lexsort((-magnitude, ~flags))
    resolved = countries.resolve(dataset.countries[t])
    return Overshoot(
        target=resolved.key,
        target_display=resolved.label,
        policy=policy,
        positions=shared[valid][order],
        distance_conditioned=d_cond[order],
        distance_target=d_target[order],
        distance_default=d_default[order],
        cosine=cosine[order],
        magnitude=magnitude[order],
        overshoots=flags[order],
    )


# --------------------------------------------------------------------------- prompt sensitivity


def shuffled_order(question_key: str, n_options: int, seed: int = 0) -> np.ndarray:
    """A deterministic option order for a question: ``perm[i]`` is the original index of the
    option shown in position ``i``.

    The same (key, seed) always gives the same order, whatever the machine or the other
    questions. With two or more options the order is never the original one (a shuffle that
    changes nothing would waste the request).
    """
    if n_options < 1:
        raise ValueError("A question needs at least one option.")
    digest = hashlib.sha256(f"goqa-shuffle\x1f{seed}\x1f{question_key}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "big"))
    identity = np.arange(n_options)
    perm = rng.permutation(n_options)
    while n_options > 1 and np.array_equal(perm, identity):
        perm = rng.permutation(n_options)
    return perm


def shuffle(probs: np.ndarray, permutation: np.ndarray | Sequence[int]) -> np.ndarray:
    """Original-order probabilities (..., K) in the shuffled order: ``out[i] = p[perm[i]]``."""
    return np.asarray(probs)[..., np.asarray(permutation)]


def unshuffle(probs: np.ndarray, permutation: np.ndarray | Sequence[int]) -> np.ndarray:
    """Probabilities read in the shuffled order (..., K) back in the original order.

    The inverse of :func:`shuffle`: ``unshuffle(shuffle(p, perm), perm) == p`` exactly.
    """
    probs = np.asarray(probs)
    perm = np.asarray(permutation)
    if probs.shape[-1] != perm.shape[0]:
        raise ValueError(f"{probs.shape[-1]} probabilities for a {perm.shape[0]}-option order.")
    out = np.empty_like(probs)
    out[..., perm] = probs
    return out


def unshuffle_rows(
    dataset: Dataset, positions: np.ndarray | Sequence[int], probs: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Map a shuffled run's stored rows (M, >=K, zero padded) back to the original order.

    Each row is unshuffled with ``shuffled_order(dataset.keys[pos], n_options, seed)``; the
    seed must be the one the run was asked with. Returns (M, Kmax).
    """
    pos = np.asarray(positions, dtype=np.int64)
    rows = metrics.pad_probs(dataset, probs, pos)
    perms = np.tile(np.arange(dataset.kmax), (pos.shape[0], 1))
    for r, p in enumerate(pos):  # one hash per question: cheap, and not per (q, country) pair
        k = int(dataset.n_options[p])
        perms[r, :k] = shuffled_order(dataset.keys[p], k, seed)
    out = np.zeros_like(rows)
    np.put_along_axis(out, perms, rows, axis=1)
    return out


def shuffled_render(
    question: Question,
    condition: Condition | None,
    template: str,
    permutation: np.ndarray | Sequence[int],
    **kw: Any,
) -> Prompt:
    """The question's prompt with its options shown in ``permutation`` order.

    Option letters stay A, B, … in the shown order, so a backend's probabilities come back in
    the shuffled order: map them with :func:`unshuffle`. ``options=`` in ``kw`` (a translation)
    is reordered the same way; other keywords go to :func:`core.prompts.render`.
    """
    options = tuple(kw.pop("options", None) or question.options)
    perm = [int(i) for i in permutation]
    if sorted(perm) != list(range(len(options))):
        raise ValueError(f"{perm} is not a permutation of {len(options)} options.")
    return render(question, condition, template, options=[options[i] for i in perm], **kw)


@dataclass(frozen=True)
class CountrySensitivity:
    """How much one country's score moved under a prompt variant.

    Attributes:
        change: ``score_variant - score_base``.
        ci_low, ci_high: the base score's bootstrap interval; ``half_width`` half its width.
        outside_ci: the variant's score lies outside the base interval.
        exceeds_half_width: ``|change| > half_width``.
        flagged: ``outside_ci`` (percentile intervals can be lopsided, so the interval itself
            is the test; ``exceeds_half_width`` is the symmetric reading).
    """

    country: str
    display: str
    iso2: str | None
    score_base: float
    score_variant: float
    change: float
    ci_low: float
    ci_high: float
    half_width: float
    outside_ci: bool
    exceeds_half_width: bool

    @property
    def flagged(self) -> bool:
        return self.outside_ci

    def to_json(self) -> dict[str, object]:
        return {
            "country": self.country,
            "display": self.display,
            "iso2": self.iso2,
            "score_base": self.score_base,
            "score_variant": self.score_variant,
            "change": self.change,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "half_width": self.half_width,
            "outside_ci": self.outside_ci,
            "exceeds_half_width": self.exceeds_half_width,
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class Sensitivity:
    """Score changes under a prompt variant, largest ``|change|`` first."""

    countries: tuple[CountrySensitivity, ...]

    @property
    def n_flagged(self) -> int:
        return sum(c.flagged for c in self.countries)

    @property
    def share_flagged(self) -> float:
        return self.n_flagged / len(self.countries) if self.countries else float("nan")

    @property
    def mean_abs_change(self) -> float:
        if not self.countries:
            return float("nan")
        return float(np.mean([abs(c.change) for c in self.countries]))

    def get(self, country: str) -> CountrySensitivity | None:
        return next((c for c in self.countries if c.country == country), None)

    def to_json(self) -> dict[str, object]:
        return {
            "n_countries": len(self.countries),
            "n_flagged": self.n_flagged,
            "share_flagged": self.share_flagged if self.countries else None,
            "mean_abs_change": self.mean_abs_change if self.countries else None,
            "countries": [c.to_json() for c in self.countries],
        }


def sensitivity(
    scores_base: Scores, scores_variant: Scores, intervals_base: BootstrapResult
) -> Sensitivity:
    """Per country, the score change under a variant judged against the base's interval.

    Both scores should cover the same questions (score the base run on the questions the
    variant answered); a country missing from either side or from the intervals is left out.
    For a proper test of the change use :func:`core.stats.compare`, which pairs questions.
    """
    rows = []
    for base in scores_base.countries:
        variant = scores_variant.get(base.country)
        interval = intervals_base.get(base.country)
        if variant is None or interval is None:
            continue
        change = variant.similarity - base.similarity
        half = interval.half_width
        rows.append(
            CountrySensitivity(
                country=base.country,
                display=base.display,
                iso2=base.iso2,
                score_base=base.similarity,
                score_variant=variant.similarity,
                change=change,
                ci_low=interval.ci_low,
                ci_high=interval.ci_high,
                half_width=half,
                outside_ci=not interval.ci_low <= variant.similarity <= interval.ci_high,
                exceeds_half_width=abs(change) > half,
            )
        )
    rows.sort(key=lambda c: (-abs(c.change), c.country))
    return Sensitivity(tuple(rows))


@dataclass(frozen=True)
class AnswerShift:
    """Per question, how far a variant's answer moved from the base answer.

    Attributes:
        positions: (M,) questions answered by both runs.
        distance: (M,) ``JSD(P_base, P_variant)`` (distance, base 2).
        top_changed: (M,) the most likely option differs.
    """

    positions: np.ndarray
    distance: np.ndarray
    top_changed: np.ndarray

    @property
    def mean_distance(self) -> float:
        return float(self.distance.mean()) if self.positions.size else float("nan")

    @property
    def share_top_changed(self) -> float:
        return float(self.top_changed.mean()) if self.positions.size else float("nan")


def answer_shift(
    dataset: Dataset,
    base_positions: np.ndarray | Sequence[int],
    base_probs: np.ndarray,
    variant_positions: np.ndarray | Sequence[int],
    variant_probs: np.ndarray,
    policy: Policy = "keep",
) -> AnswerShift:
    """Compare two runs' answers question by question (variant rows already unshuffled)."""
    pos_a = np.asarray(base_positions, dtype=np.int64)
    pos_b = np.asarray(variant_positions, dtype=np.int64)
    shared, ia, ib = np.intersect1d(pos_a, pos_b, assume_unique=True, return_indices=True)
    mask = dataset.nonsubstantive[shared]
    a = metrics.apply_policy(metrics.pad_probs(dataset, base_probs, pos_a)[ia], mask, policy)
    b = metrics.apply_policy(metrics.pad_probs(dataset, variant_probs, pos_b)[ib], mask, policy)
    ok = (a.sum(axis=1) > 0) & (b.sum(axis=1) > 0)
    a, b = a[ok], b[ok]
    return AnswerShift(
        positions=shared[ok],
        distance=metrics.js_distance(a, b),
        top_changed=a.argmax(axis=1) != b.argmax(axis=1),
    )
