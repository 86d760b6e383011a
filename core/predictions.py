"""Predictions files: model distributions computed anywhere, read and scored by goqa
(``goqa score``).

One JSON object per line, ``{"question_id": 12, "probs": [0.1, 0.7, 0.2]}`` (or ``"key"``
instead of ``"question_id"``), the probabilities aligned with the question's options. A bad
line does not stop the read: it is reported by its line number (:class:`PredictionProblem`)
and the good lines are scored. A file that cannot be read at all, or that has no usable line,
is a :class:`PredictionsError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import jsonlines
from core.dataset import Dataset
from core.metrics import DEFAULT_METRIC, MetricName, Policy, pad_probs
from core.runs import ScoredDistributions, score_distributions
from core.usecase_errors import UseCaseError

EXAMPLE = '{"question_id": 12, "probs": [...]}'
"""One line's shape, for messages."""


class PredictionsError(UseCaseError):
    """A predictions file cannot be read, or holds nothing that can be scored."""

    title = "Predictions file"


@dataclass(frozen=True)
class PredictionProblem:
    """A line of a predictions file that was skipped, and why.

    Attributes:
        line: its 1-based line number.
        message: what is wrong with it ("probabilities are all zero").
    """

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Predictions:
    """The usable lines of a predictions file, in dataset order.

    Attributes:
        path: the file.
        positions: (M,) dataset positions of the predicted questions, ascending.
        probs: (M, K) their distributions, zero padded to the dataset's widest question.
        problems: the skipped lines, in line order.
    """

    path: Path
    positions: np.ndarray
    probs: np.ndarray
    problems: tuple[PredictionProblem, ...]


def _problem(text: str) -> PredictionProblem:
    """A ``"line N: message"`` string of :mod:`core.jsonlines` as a problem."""
    head, _, rest = text.partition(": ")
    if head.startswith("line ") and head[5:].isdigit():
        return PredictionProblem(int(head[5:]), rest)
    return PredictionProblem(0, text)


def read_predictions(path: Path, dataset: Dataset) -> Predictions:
    """Read a predictions file against ``dataset``.

    A line is skipped (and reported) when it is not a JSON object, has no ``probs``, names a
    question the dataset does not have, gives something other than one finite non-negative
    number per option, only zeros, or repeats a question (the first is kept).

    Raises:
        PredictionsError: the file is missing, a directory, not UTF-8 or unreadable.
    """
    try:
        read = jsonlines.read(path, "Predictions file", EXAMPLE)
    except jsonlines.JSONLinesError as exc:
        raise PredictionsError(str(exc)) from None
    found: dict[int, np.ndarray] = {}
    problems = [_problem(p) for p in read.problems]
    for n, obj in read.objects:
        if "probs" not in obj:
            problems.append(
                PredictionProblem(n, "expected an object with 'probs' and 'question_id' or 'key'")
            )
            continue
        key, qid = obj.get("key"), obj.get("question_id")
        if isinstance(key, str) and key in dataset.key_index:
            pos = dataset.key_index[key]
        elif isinstance(qid, int) and not isinstance(qid, bool) and qid in dataset.id_index:
            pos = dataset.id_index[qid]
        else:
            ref = obj.get("key", qid)
            problems.append(
                PredictionProblem(n, f"unknown question {ref!r} in dataset {dataset.name!r}")
            )
            continue
        probs = obj["probs"]
        k = int(dataset.n_options[pos])
        if not isinstance(probs, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in probs
        ):
            odd = (
                next((x for x in probs if isinstance(x, str | bool) or x is None), None)
                if isinstance(probs, list)
                else None
            )
            got = f" (found {odd!r})" if odd is not None else ""
            problems.append(PredictionProblem(n, f"probs must be a list of numbers{got}"))
            continue
        try:
            arr = np.asarray(probs, dtype=np.float64)
        except OverflowError:  # an integer too large for a float
            problems.append(PredictionProblem(n, "a probability is too large a number"))
            continue
        with np.errstate(over="ignore"):
            total = float(arr.sum())
        if arr.shape != (k,):
            problems.append(
                PredictionProblem(
                    n, f"{arr.shape[0]} probabilities for a question with {k} options"
                )
            )
        elif not np.all(np.isfinite(arr)) or np.any(arr < 0):
            problems.append(PredictionProblem(n, "probabilities must be finite and non-negative"))
        elif total <= 0:
            problems.append(PredictionProblem(n, "probabilities are all zero"))
        elif not np.isfinite(total):
            problems.append(
                PredictionProblem(
                    n, "probabilities are too large to add up; scale them to sum to 1"
                )
            )
        elif pos in found:
            problems.append(
                PredictionProblem(
                    n,
                    f"question {dataset.ids[pos]} appears twice (the first is kept; delete "
                    "this line)",
                )
            )
        else:
            found[pos] = arr
    problems.sort(key=lambda p: p.line)
    positions = np.array(sorted(found), dtype=np.int64)
    rows = pad_probs(dataset, [found[int(p)] for p in positions])
    return Predictions(path, positions, rows, tuple(problems))


def score_predictions(
    dataset: Dataset,
    predictions: Predictions,
    policy: Policy = "keep",
    min_questions: int = 1,
    metric: MetricName = DEFAULT_METRIC,
) -> ScoredDistributions:
    """Per-country scores of the predictions, with the uniform answer's on the same questions,
    under ``metric`` (:mod:`core.metrics`).

    Raises:
        PredictionsError: no line of the file was usable.
    """
    if len(predictions.positions) == 0:
        raise PredictionsError(
            f"No usable predictions in {predictions.path}; nothing to score.",
            'Each line must be {"question_id": ID, "probs": [...]} (or "key" instead of '
            '"question_id") with one non-negative probability per option of that question '
            "(see 'goqa show ID').",
        )
    return score_distributions(
        dataset, predictions.positions, predictions.probs, policy, min_questions, metric
    )
