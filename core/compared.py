"""Which countries' people to set beside a model's answer on one question, and how close
each is to it.

Plain functions over a :class:`~core.dataset.Question` and numpy arrays: the app's Browse and
Demo views feed :func:`choose` to their chart, ``goqa ask`` lists :func:`closest_countries`,
and tests check them directly.

The rule: with a model answer, compare the ``n`` countries closest to the model on this
question (similarity = 1 - JSD, :func:`core.metrics.similarity`, under the chosen
non-substantive policy) plus the conditioned country; before any answer, the conditioned
country plus the most populous countries the question covers. Countries the user pinned are
always added, countries the user hid are never chosen automatically.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from core import countries
from core.dataset import Question
from core.metrics import Policy, apply_policy, similarity

DEFAULT_COMPARED = 3
"""How many countries are chosen automatically."""

# ISO codes by population (largest first): a neutral default before the model has answered.
_BY_POPULATION = (
    "IN", "CN", "US", "ID", "PK", "NG", "BR", "BD", "RU", "ET", "MX", "JP", "EG", "PH",
    "VN", "IR", "TR", "DE", "TH", "TZ", "GB", "FR", "ZA", "IT", "KE", "KR", "CO", "ES",
    "AR", "UG", "UA", "CA", "PL", "MA", "PE", "MY", "AU", "GH", "VE", "CL",
)  # fmt: skip
_RANK = {iso: i for i, iso in enumerate(_BY_POPULATION)}


@dataclass(frozen=True)
class Compared:
    """One country set beside the model.

    Attributes:
        key: the raw country key of the dataset.
        label: the name to show.
        probs: its distribution over the question's options, renormalised to sum 1.
        similarity: 1 - JSD to the model on this question (None before an answer).
        conditioned: it is the country of a ``country:`` condition.
        pinned: the user added it.
    """

    key: str
    label: str
    probs: np.ndarray
    similarity: float | None
    conditioned: bool = False
    pinned: bool = False


def question_similarities(question: Question, model: np.ndarray, policy: Policy) -> np.ndarray:
    """Similarity of the model to every country of ``question`` (NaN where undefined).

    Args:
        question: the question with its human distributions.
        model: (K,) the model's distribution over the question's options.
        policy: ``keep`` or ``drop`` the non-substantive options, as for the scores.

    Returns:
        (len(question.countries),) similarities aligned with ``question.countries``.
    """
    mask = question.nonsubstantive
    k = len(question.options)
    p = apply_policy(np.asarray(model, dtype=np.float64)[None, :k], mask, policy)
    h = apply_policy(question.human, mask, policy)
    out = np.full(len(question.countries), np.nan)
    ok = h.sum(axis=1) > 0
    if p.sum() <= 0 or not ok.any():
        return out
    out[ok] = similarity(np.repeat(p, int(ok.sum()), axis=0), h[ok])
    return out


@dataclass(frozen=True)
class CountrySimilarity:
    """How close one country's people are to the model on one question."""

    key: str
    label: str
    similarity: float


def closest_countries(
    question: Question, model: np.ndarray, policy: Policy = "keep", n: int | None = 5
) -> list[CountrySimilarity]:
    """The countries of ``question`` whose people answer most like ``model``, closest first
    (ties in the question's order), every sample of a country on its own.

    Args:
        model: (K,) the model's distribution over the question's options (may be padded).
        policy: ``keep`` or ``drop`` the non-substantive options.
        n: how many to return (None: all with a defined similarity).
    """
    sims = question_similarities(question, model, policy)
    order = [i for i in np.argsort(-sims, kind="stable") if not np.isnan(sims[i])]
    return [
        CountrySimilarity(
            question.countries[i], countries.resolve(question.countries[i]).label, float(sims[i])
        )
        for i in order[:n]
    ]


def conditioned_key(question: Question, country_name: str | None) -> str | None:
    """The key of ``question`` that a ``country:NAME`` condition names, if it has one."""
    if not country_name:
        return None
    try:
        return countries.match(country_name, question.countries).key
    except countries.UnknownCountryError:
        return None


def _populous_order(keys: Sequence[str]) -> list[str]:
    def rank(key: str) -> tuple[int, int, str]:
        c = countries.resolve(key)
        return (_RANK.get(c.iso2 or "", len(_RANK)), countries.sample_rank(c.sample), key)

    return sorted(keys, key=rank)


def _one_per_country(ranked: Sequence[str], n: int, taken: Sequence[str]) -> list[str]:
    """The first ``n`` keys of ``ranked``, skipping a second sample of the same country."""
    seen = {countries.resolve(k).iso2 or k for k in taken}
    out = []
    for key in ranked:
        country = countries.resolve(key).iso2 or key
        if country not in seen:
            seen.add(country)
            out.append(key)
            if len(out) == n:
                break
    return out


def choose(
    question: Question,
    model: np.ndarray | None,
    policy: Policy = "keep",
    condition_country: str | None = None,
    pinned: Sequence[str] = (),
    hidden: Collection[str] = (),
    n: int = DEFAULT_COMPARED,
) -> list[Compared]:
    """The countries to show beside the model on ``question``, in display order.

    Args:
        question: the question.
        model: the model's distribution, or None before any answer.
        policy: non-substantive policy for the similarity.
        condition_country: the value of a ``country:`` condition (any spelling), or None.
        pinned: raw keys the user added; those the question lacks are skipped.
        hidden: raw keys the user removed; never chosen automatically.
        n: how many countries to choose automatically.

    Returns:
        The conditioned country first, then the automatic choice (closest first, or most
        populous first before an answer; one sample per country), then the pinned ones.
    """
    sims = None if model is None else question_similarities(question, model, policy)
    index = {key: i for i, key in enumerate(question.countries)}
    cond = conditioned_key(question, condition_country)
    candidates = [k for k in question.countries if k not in hidden and k != cond]
    if sims is not None:
        scored = [k for k in candidates if not np.isnan(sims[index[k]])]
        ranked = sorted(scored, key=lambda k: (-sims[index[k]], k))
    else:
        ranked = _populous_order(candidates)
    automatic = _one_per_country(ranked, n, taken=[cond] if cond else [])
    chosen: list[str] = ([cond] if cond else []) + automatic
    chosen += [k for k in pinned if k in index and k not in chosen]
    out = []
    for key in chosen:
        probs = question.distribution(key)
        if probs is None:
            continue
        sim = None if sims is None or np.isnan(sims[index[key]]) else float(sims[index[key]])
        out.append(
            Compared(
                key=key,
                label=countries.resolve(key).label,
                probs=probs,
                similarity=sim,
                conditioned=key == cond,
                pinned=key in pinned,
            )
        )
    return out
