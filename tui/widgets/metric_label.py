"""How the app names a metric (:mod:`core.metrics`) where it shows scores under it.

The leaderboards, the map and the status lines of the Results and Run views score under the
session's metric (``M`` switches to the next one). These helpers word it the same way
everywhere: the board's title line, the value column's header, a value with its unit (``bits``
for ``kl``, a divergence where lower is better) and, for ``wasserstein``, why a board over
nominal questions only stays empty.
"""

from __future__ import annotations

import numpy as np

from core import metrics
from core.dataset import Dataset
from core.metrics import HIGHER_IS_BETTER, METRIC_INFO, METRIC_NAMES, MetricName

METRIC_KEY = "M"
"""The key that switches to the next metric (Results and Run views)."""


def next_metric(metric: MetricName) -> MetricName:
    """The metric after ``metric`` in :data:`core.metrics.METRIC_NAMES`, wrapping round."""
    return METRIC_NAMES[(METRIC_NAMES.index(metric) + 1) % len(METRIC_NAMES)]


def metric_title(metric: MetricName) -> str:
    """A board's title line: the metric, its key and what it measures, e.g.
    ``Metric (M): tv — 1 - total variation distance (half the L1 distance)``."""
    return f"Metric ({METRIC_KEY}): {metric} — {METRIC_INFO[metric]}"


def unit(metric: MetricName) -> str:
    """The unit of the metric's values: ``bits`` for ``kl``, "" for the 0..1 scores."""
    return "" if HIGHER_IS_BETTER[metric] else "bits"


def value_label(metric: MetricName) -> str:
    """The header of a board's value column: ``score``, or ``kl bits`` for ``kl``."""
    return "score" if HIGHER_IS_BETTER[metric] else f"{metric} {unit(metric)}"


def with_unit(metric: MetricName, value: float, digits: int = 3) -> str:
    """``0.734``, or ``0.212 bits`` under ``kl``."""
    text = f"{value:.{digits}f}"
    return f"{text} {unit(metric)}" if unit(metric) else text


def no_scores_reason(
    dataset: Dataset, positions: np.ndarray, metric: MetricName, what: str = "run's answers"
) -> str:
    """Why a board under ``metric`` has no country although questions were answered, or "".

    Only ``wasserstein`` leaves answered questions out (it is defined on ordinal scales);
    over questions none of which is ordinal its board is empty for that reason.

    Args:
        dataset: the dataset the positions belong to.
        positions: the dataset positions of the answered (or shared) questions.
        metric: the metric the board is under.
        what: how the sentence names those questions (``run's answers``, ``shared
            questions``, ``answers so far``).
    """
    if metric != "wasserstein" or positions.shape[0] == 0:
        return ""
    ordinal = metrics.scale_orders(dataset).ordinal[np.asarray(positions, dtype=np.int64)]
    if ordinal.any():
        return ""
    return (
        f"No ordinal question among the {what} ({positions.shape[0]}): wasserstein needs an "
        f"ordinal scale, so no country is scored · {METRIC_KEY}: next metric"
    )
