"""What an estimator is: its name and settings, the option orders it asks under, and the
arithmetic that turns what a model said into one distribution.

An *estimator* is how goqa reads a model's distribution over a question's options. The
paper's is ``first-token``; the others answer the doubts the literature since has raised
about it (the README's "Choosing an estimator" cites the papers):

``first-token`` (the default)
    The probability of the first token after "my answer would be (": exact logits (local),
    top-k log-probabilities (HTTP) or, where neither exists, counts over samples.
``order-averaged``
    The same question asked under ``orders`` option orders (default 4), each answer mapped
    back to the published order, then averaged. The orders (:func:`option_orders`): for a
    nominal question, evenly spaced cyclic rotations of the substantive options plus their
    reversal; for an ordinal scale (:mod:`core.ordinal`) only the scale and the reversed
    scale, never a rotation. Non-substantive options (DK/Refused) always stay last. Each
    order's answer is kept (``Answer.parts``), so the spread across orders shows.
``prior-corrected``
    PriDe (Zheng et al. 2023): the model's prior over the letters A, B, C... is estimated
    from a calibration subset (``calibration`` questions per number of options, chosen by
    a seeded hash of their keys) asked under every cyclic rotation of their options; the
    prior is divided out of each first-token distribution and the result renormalised
    (:func:`letter_prior`, :func:`correct_prior`). The subset and the prior are recorded.
``verbalized``
    The model is asked for the share of people (in the conditioned country, or in general)
    who would choose each option, as JSON, and the reply parsed strictly
    (:mod:`core.replies`). One greedy request per question.
``free-text``
    The model answers without the prefill, ``samples`` times at temperature 1 (default 8);
    each reply is parsed for the option it chose, a refusal, or nothing
    (:mod:`core.replies`). The distribution is the share of replies choosing each option.

This module is pure (no backend, no store): :mod:`core.estimation` asks the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core import ordinal
from core.dataset import Question
from core.errors import InvalidValueError
from core.metrics import js_distance

EstimatorName = Literal[
    "first-token", "order-averaged", "prior-corrected", "verbalized", "free-text"
]
"""An estimator's name, as the command line, the config and a run's manifest spell it."""
ESTIMATOR_NAMES: tuple[EstimatorName, ...] = (
    "first-token",
    "order-averaged",
    "prior-corrected",
    "verbalized",
    "free-text",
)
SUMMARY: dict[EstimatorName, str] = {
    "first-token": "probability of the first answer token (the paper's)",
    "order-averaged": "first-token averaged over several option orders",
    "prior-corrected": "first-token with the model's letter prior divided out (PriDe)",
    "verbalized": "shares the model writes down as JSON",
    "free-text": "options chosen in unforced written answers",
}

DEFAULT_ORDERS = 4
DEFAULT_SAMPLES = 8
DEFAULT_CALIBRATION = 8
MAX_ORDERS = 12
MAX_SAMPLES = 100
MAX_CALIBRATION = 100
VERBALIZED_MAX_TOKENS = 200
FREE_TEXT_MAX_TOKENS = 160
FREE_TEXT_TEMPERATURE = 1.0
_PRIOR_FLOOR = 1e-12


def parse_estimator_name(text: str) -> EstimatorName:
    """``text`` as an estimator name.

    Raises:
        InvalidValueError: not an estimator, naming it and the accepted ones.
    """
    cleaned = text.strip().lower()
    for known in ESTIMATOR_NAMES:
        if cleaned == known:
            return known
    raise InvalidValueError(
        f"Unknown estimator {text!r}: choose one of {', '.join(ESTIMATOR_NAMES)}.",
        "See 'goqa help ask' and the README's \"Choosing an estimator\".",
    )


@dataclass(frozen=True)
class EstimatorSpec:
    """An estimator with its settings.

    Attributes:
        name: one of :data:`ESTIMATOR_NAMES`.
        orders: option orders asked (``order-averaged``).
        samples: replies drawn (``free-text``).
        calibration: calibration questions per number of options (``prior-corrected``).
        seed: chooses the calibration subset and seeds generated replies.
    """

    name: EstimatorName = "first-token"
    orders: int = DEFAULT_ORDERS
    samples: int = DEFAULT_SAMPLES
    calibration: int = DEFAULT_CALIBRATION
    seed: int = 0

    def __post_init__(self) -> None:
        for field_name, value, high in (
            ("orders", self.orders, MAX_ORDERS),
            ("samples", self.samples, MAX_SAMPLES),
            ("calibration", self.calibration, MAX_CALIBRATION),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise InvalidValueError(
                    f"The estimator's {field_name} is {value!r}; it must be a whole number "
                    f"from 1 to {high}."
                )

    def params(self) -> dict[str, Any]:
        """The settings this estimator uses (part of a run's identity and its manifest)."""
        if self.name == "order-averaged":
            return {"orders": self.orders}
        if self.name == "prior-corrected":
            return {"calibration": self.calibration, "seed": self.seed}
        if self.name == "free-text":
            return {"samples": self.samples, "seed": self.seed}
        return {}

    @property
    def label(self) -> str:
        """``order-averaged (up to 4 orders)`` (a question may have fewer distinct ones),
        ``prior-corrected (calibration 8)`` (questions per
        number of options), ``free-text (8 samples)``, ``first-token``."""
        if self.name == "order-averaged":
            return f"order-averaged (up to {self.orders} order{'s' if self.orders != 1 else ''})"
        if self.name == "prior-corrected":
            return f"prior-corrected (calibration {self.calibration})"
        if self.name == "free-text":
            return f"free-text ({self.samples} samples)"
        return self.name

    @classmethod
    def from_manifest(cls, name: str, params: Mapping[str, Any] | None) -> EstimatorSpec:
        """The spec a stored run was made with.

        Raises:
            InvalidValueError: an unknown name or settings out of range.
        """
        params = params or {}

        def whole(key: str, default: int) -> int:
            value = params.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidValueError(
                    f"The stored estimator setting {key} is {value!r}, not a whole number."
                )
            return value

        return cls(
            name=parse_estimator_name(name or "first-token"),
            orders=whole("orders", DEFAULT_ORDERS),
            samples=whole("samples", DEFAULT_SAMPLES),
            calibration=whole("calibration", DEFAULT_CALIBRATION),
            seed=whole("seed", 0),
        )


# --------------------------------------------------------------------------- option orders


def option_orders(question: Question, k: int) -> tuple[tuple[int, ...], ...]:
    """The option orders an ``order-averaged`` estimate asks ``question`` under.

    Each order lists published option indices in the order shown. Non-substantive options
    stay last, in their published order. For a nominal question the orders are the
    substantive options rotated by evenly spaced shifts (``round(j * m / (k - 1))`` for
    ``j < k - 1``, ``m`` substantive options), with the reversed published order second;
    for an ordinal scale only the scale and its reverse. Duplicates are dropped, so a
    question may get fewer than ``k`` orders (two options have only two).

    Args:
        question: the question.
        k: orders wanted (at least 1).
    """
    scale = ordinal.scale(question.options, list(question.nonsubstantive), question.key)
    substantive = list(scale.order)
    tail = [i for i, flag in enumerate(question.nonsubstantive) if flag]
    if scale.ordinal:
        candidates = [substantive, substantive[::-1]]
    else:
        m = len(substantive)
        rotations = max(1, k - 1)
        shifts: list[int] = []
        for j in range(rotations):
            shift = round(j * m / rotations) % m if m else 0
            if shift not in shifts:
                shifts.append(shift)
        rotated = [substantive[s:] + substantive[:s] for s in shifts]
        candidates = rotated[:1] + [substantive[::-1]] + rotated[1:]
    orders: list[tuple[int, ...]] = []
    for candidate in candidates:
        order = tuple(candidate + tail)
        if order not in orders:
            orders.append(order)
    return tuple(orders[: max(1, k)])


def cyclic_orders(n_options: int) -> tuple[tuple[int, ...], ...]:
    """Every cyclic rotation of ``n_options`` options (the published order first): each
    option is shown once in each position, which is what a letter prior is estimated from."""
    base = list(range(n_options))
    return tuple(tuple(base[s:] + base[:s]) for s in range(n_options))


def to_published(shown_probs: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Probabilities read in a shown order, back in the published order."""
    out = np.empty(len(order), dtype=np.float64)
    out[np.asarray(order, dtype=np.intp)] = shown_probs
    return out


def to_shown(published_probs: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Published-order probabilities in a shown order (the inverse of :func:`to_published`)."""
    return np.asarray(published_probs, dtype=np.float64)[np.asarray(order, dtype=np.intp)]


# --------------------------------------------------------------------------- order spread


def order_spread(parts: Sequence[np.ndarray]) -> float:
    """The largest Jensen–Shannon distance (base 2) between two orders' answers, 0 for one."""
    worst = 0.0
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            worst = max(worst, float(js_distance(parts[i], parts[j])))
    return worst


def argmax_changes(parts: Sequence[np.ndarray]) -> bool:
    """The most likely option is not the same under every order."""
    return len({int(np.argmax(p)) for p in parts}) > 1


# --------------------------------------------------------------------------- letter prior


def calibration_subset(
    questions: Sequence[Question], size: int, seed: int = 0
) -> dict[int, tuple[Question, ...]]:
    """The calibration questions of a ``prior-corrected`` estimate, per number of options.

    For every number of options K among ``questions``, the ``size`` questions with K options
    whose ``sha256(seed, key)`` is smallest: the same questions whatever the order of
    ``questions`` or the machine.
    """
    by_k: dict[int, list[tuple[str, Question]]] = {}
    for q in questions:
        digest = hashlib.sha256(f"goqa-calibration\x1f{seed}\x1f{q.key}".encode()).hexdigest()
        by_k.setdefault(len(q.options), []).append((digest, q))
    return {
        k: tuple(q for _, q in sorted(items, key=lambda item: item[0])[:size])
        for k, items in sorted(by_k.items())
    }


def question_prior(shown: Sequence[np.ndarray]) -> np.ndarray:
    """One calibration question's letter prior (PriDe): the normalised geometric mean,
    over the cyclic rotations, of the probability of each *position*.

    Args:
        shown: per rotation, the probabilities in the shown (letter) order.
    """
    logs = np.log(np.maximum(np.asarray(shown, dtype=np.float64), _PRIOR_FLOOR))
    mean = logs.mean(axis=0)
    weights = np.exp(mean - mean.max())
    return weights / weights.sum()


def letter_prior(per_question: Sequence[np.ndarray]) -> np.ndarray:
    """The letter prior over calibration questions: the mean of their priors, normalised."""
    prior = np.mean(np.asarray(per_question, dtype=np.float64), axis=0)
    return prior / prior.sum()


def correct_prior(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``probs / prior`` renormalised: the letter prior divided out of a first-token
    distribution whose options are shown in letter order."""
    corrected = np.asarray(probs, dtype=np.float64) / np.maximum(prior, _PRIOR_FLOOR)
    total = corrected.sum()
    return corrected / total if total > 0 else corrected
