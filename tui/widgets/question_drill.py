"""One country's questions in a run, or in two runs compared: the drill-down of Results.

:class:`QuestionDrill` lists a country's per-question similarities, as
:meth:`core.runs.LoadedRun.question_similarities` (one run, most similar first) or
:meth:`core.runs.RunComparison.question_differences` (A, B and Δ, largest move toward the
country first) give them, beside the model's and the people's most chosen option and the
question's text. Enter on a question posts :class:`QuestionDrill.QuestionChosen`.

The values are under the run's metric (:attr:`core.runs.LoadedRun.metric`): the column's
header names it, and Δ is positive where B is closer under every metric (for ``kl``, a
divergence, A's value minus B's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

from core import countries, metrics
from core.dataset import Dataset
from core.prompts import LETTERS
from core.runs import LoadedRun, RunComparison

from .metric_label import unit


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def top_option(dataset: Dataset, position: int, dist: np.ndarray | None) -> str:
    """The most chosen option of a distribution over question ``position``'s options:
    ``(B) 41% Agree``; ``—`` with no distribution (or no mass on the options)."""
    if dist is None:
        return "—"
    k = int(dataset.n_options[position])
    d = np.asarray(dist, dtype=float)[:k]
    if d.sum() <= 0:
        return "—"
    i = int(np.argmax(d))
    return f"({LETTERS[i]}) {d[i] / d.sum():.0%} {dataset.options[position][i]}"


def value_header(metric: metrics.MetricName) -> str:
    """The header of a run's per-question values: ``similarity`` (the paper's metric), the
    metric's name, or ``kl bits`` for a divergence."""
    if metric == metrics.DEFAULT_METRIC:
        return "similarity"
    return metric if metrics.HIGHER_IS_BETTER[metric] else f"{metric} {unit(metric)}"


class QuestionDrill(Vertical):
    """A caption and a table of one country's questions: similarities, top options, text."""

    @dataclass
    class QuestionChosen(Message):
        """Enter was pressed on a question."""

        position: int
        """Its dataset position."""

    def __init__(
        self,
        *,
        table_id: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty list.

        Args:
            table_id: the id of the inner table (its caption gets ``<table_id>-caption``).
        """
        super().__init__(name=name, id=id, classes=classes)
        self._table_id = table_id
        self.country: str | None = None
        """The raw key of the country listed (None before the first list)."""
        self._positions: list[int] = []

    def compose(self) -> ComposeResult:
        base = self._table_id
        yield Static("", id=f"{base}-caption" if base else None, classes="drill-caption")
        table: DataTable[Any] = DataTable(id=base, cursor_type="row", zebra_stripes=True)
        yield table

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one(DataTable)

    @property
    def positions(self) -> list[int]:
        """Dataset positions listed, in order."""
        return list(self._positions)

    def show_run(self, dataset: Dataset, run: LoadedRun, country: str) -> None:
        """List ``country``'s questions in ``run``, closest first (under its metric)."""
        table = self._start(country)
        top_w = self._top_width()
        sims = run.question_similarities(dataset, country)
        probs = dict(zip(run.answers.positions.tolist(), run.answers.probs, strict=True))
        table.add_column("id", key="id", width=6)
        header = value_header(run.metric)
        table.add_column(header, key="sim", width=max(10, len(header)))
        table.add_column("model's top", key="model", width=top_w)
        table.add_column("people's top", key="human", width=top_w)
        text_width = self._text_width(6 + max(10, len(header)) + 2 * top_w, 5)
        table.add_column("Question", key="text", width=text_width)
        for p, sim in sims:
            table.add_row(
                str(dataset.ids[p]),
                f"{sim:.3f}",
                Text(top_option(dataset, p, probs.get(p))),
                Text(top_option(dataset, p, dataset.at(p).distribution(country))),
                Text(clip(dataset.texts[p], text_width)),
                key=str(p),
            )
        self._positions = [p for p, _ in sims]
        label = countries.resolve(country).label
        self._caption(
            f"{label} in {run.name}: {len(sims)} questions, closest first under "
            f"{run.metric} · Enter opens a question · Esc back"
        )

    def show_comparison(self, dataset: Dataset, comp: RunComparison, country: str) -> None:
        """List ``country``'s questions both compared runs answered, the largest move toward
        the country (B − A) first."""
        table = self._start(country)
        top_w = self._top_width()
        moves = comp.question_differences(dataset, country)
        table.add_column("id", key="id", width=6)
        table.add_column("A", key="a", width=6)
        table.add_column("B", key="b", width=6)
        table.add_column("Δ", key="d", width=7)
        table.add_column("people's top", key="human", width=top_w)
        text_width = self._text_width(6 + 6 + 6 + 7 + top_w, 6)
        table.add_column("Question", key="text", width=text_width)
        for p, sim_a, sim_b in moves:
            d = float(metrics.oriented(comp.metric, sim_b - sim_a))
            table.add_row(
                str(dataset.ids[p]),
                f"{sim_a:.3f}",
                f"{sim_b:.3f}",
                Text(f"{d:+.3f}", style="bold" if abs(d) >= 0.1 else ""),
                Text(top_option(dataset, p, dataset.at(p).distribution(country))),
                Text(clip(dataset.texts[p], text_width)),
                key=str(p),
            )
        self._positions = [p for p, _, _ in moves]
        label = countries.resolve(country).label
        self._caption(
            f"{label}: {len(moves)} questions, B {comp.b.name} vs A {comp.a.name} under "
            f"{comp.metric}, largest move toward first · Enter opens a question · Esc back"
        )

    def focus_table(self) -> None:
        self.table.focus()

    def _start(self, country: str) -> DataTable[Any]:
        self.country = country
        table = self.table
        table.clear(columns=True)
        return table

    def _caption(self, text: str) -> None:
        # Plain text: a run name in it is not markup.
        self.query_one(".drill-caption", Static).update(Text(text))

    def _room(self) -> int:
        """The width the list has (or will have once shown: its container's)."""
        parent = self.parent
        container = parent.size.width if isinstance(parent, Widget) else 0
        return container or self.size.width or self.screen.size.width or 120

    def _top_width(self) -> int:
        return 24 if self._room() >= 110 else 16

    def _text_width(self, fixed: int, columns: int) -> int:
        """Room left for the question text beside ``columns`` columns of ``fixed`` cells."""
        return max(16, self._room() - fixed - 2 * columns - 2 - 2)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.QuestionChosen(int(event.row_key.value)))
