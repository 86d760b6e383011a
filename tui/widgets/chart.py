"""The live distribution chart: grouped horizontal bars, one group per answer option.

Each group is headed by the option's letter and text, then one row per series::

    A  Very big problem
       Model        │██████████▍          │  52.1%
       Russia       │███████▊             │  38.9%

The data lives in one reactive (:attr:`DistributionChart.data`, a frozen
:class:`ChartData`); replacing it redraws the chart, so a sampling backend's growing answer
simply sets a new value. Colours come from ``COMPONENT_CLASSES``, so themes restyle it.

A suspect answer (too much probability off the option letters, say) is flagged in the
legend and explained on a ``⚠ suspect: …`` line under the chart; an ask that failed shows
its reason in place of the model's bars. Every text is drawn as plain text, never as markup.

Several model series may be drawn together (one per estimator of the model's distribution,
:mod:`core.estimators`): each carries its own status, failure and suspicion, so one that is
still asking or has failed says so in its own rows while the others draw their bars. The
first model series is styled ``chart--model``, the others ``chart--estimator-2``…``5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from core.textbars import eighths_bar

LEGEND_SWATCH = "██"
"""A series' colour in the legend."""
COMPACT_LEGEND_WIDTH = 72
"""Narrower than this, the legend runs on instead of one line per series."""
COMPACT_ESTIMATORS_WIDTH = 100
"""With several model series (estimators), narrower than this the legend runs on too (their
remarks, which would wrap each line, are left out)."""
SERIES_STYLES = 4
"""Countries cycle through this many ``chart--series-N`` component classes."""
ESTIMATOR_STYLES = 5
"""Model series (estimators) cycle through this many styles: ``chart--model`` for the
first, ``chart--estimator-2``… for the others."""
SUSPECT_MARK = "⚠"
"""Starts the line under a suspect answer."""
FAILED_MARK = "✗"
"""Starts the reason an ask failed."""


@dataclass(frozen=True)
class Series:
    """One row per option: the model's or a country's distribution.

    The last five attributes describe one model series of several (an estimator); a chart
    with a single model series may leave them at their defaults and use the same fields of
    :class:`ChartData` instead.

    Attributes:
        label: name shown in the legend (and at the start of each row unless ``short``).
        values: one fraction per option (summing to 1, or all zero).
        kind: ``model`` or ``country``.
        similarity: 1 - JSD to the model on this question, for countries once answered.
        tag: a short remark for the legend (``conditioned``, ``pinned``…).
        short: the name at the start of each row ("": ``label``).
        pending: this model series is still arriving (its bars are drawn muted).
        status: a message instead of its bars (``asking local…``), or "".
        error: why it has no answer, drawn in place of its bars and under the chart, or "".
        suspect: why its answer is doubtful, or "".
    """

    label: str
    values: tuple[float, ...]
    kind: Literal["model", "country"] = "country"
    similarity: float | None = None
    tag: str = ""
    short: str = ""
    pending: bool = False
    status: str = ""
    error: str = ""
    suspect: str = ""

    @property
    def row_label(self) -> str:
        """The name at the start of each of its rows."""
        return self.short or self.label


@dataclass(frozen=True)
class ChartData:
    """Everything the chart shows.

    Attributes:
        options: the question's options, in order.
        nonsubstantive: per option, True for DK/Refused-like options (drawn muted).
        series: the model (if any) first, then the compared countries.
        caption: the line under the chart (estimator, off-option mass…).
        pending: the model's answer is still arriving (its bars are drawn muted).
        status: a message instead of model bars (``asking local…``), or "".
        suspect: why the model's answer is doubtful (its off-option mass, a prefill the
            server ignored…), or "": drawn as a warning line under the chart.
        error: why the model could not be asked (its answer was unusable, the request
            failed…), or "": drawn in place of the model's bars and in full under the chart.
    """

    options: tuple[str, ...]
    nonsubstantive: tuple[bool, ...]
    series: tuple[Series, ...]
    caption: str = ""
    pending: bool = False
    status: str = ""
    suspect: str = ""
    error: str = ""

    def get(self, label: str) -> Series | None:
        """The series called ``label`` (None if absent)."""
        return next((s for s in self.series if s.label == label), None)

    @property
    def models(self) -> tuple[Series, ...]:
        """The model series (one per estimator shown), in legend order."""
        return tuple(s for s in self.series if s.kind == "model")


@dataclass(frozen=True)
class _ModelLook:
    """How one model series is drawn: its own fields, or the chart's for a lone model."""

    pending: bool
    status: str
    error: str
    suspect: str


def _model_look(data: ChartData, series: Series) -> _ModelLook:
    if len(data.models) == 1:
        return _ModelLook(
            series.pending or data.pending,
            series.status or data.status,
            series.error or data.error,
            series.suspect or data.suspect,
        )
    return _ModelLook(series.pending, series.status, series.error, series.suspect)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class DistributionChart(Widget):
    """Grouped horizontal bars of the model's and countries' answer distributions."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chart--option",
        "chart--letter",
        "chart--nonsubstantive",
        "chart--label",
        "chart--axis",
        "chart--value",
        "chart--model",
        "chart--pending",
        "chart--series-1",
        "chart--series-2",
        "chart--series-3",
        "chart--series-4",
        "chart--estimator-2",
        "chart--estimator-3",
        "chart--estimator-4",
        "chart--estimator-5",
        "chart--similarity",
        "chart--caption",
        "chart--suspect",
        "chart--error",
        "chart--empty",
    }
    """
    | Class | Description |
    | :- | :- |
    | `chart--option` | An option's text in its group heading. |
    | `chart--letter` | An option's letter. |
    | `chart--nonsubstantive` | Heading of a DK/Refused-like option. |
    | `chart--label` | A row's series name. |
    | `chart--axis` | The `│` rules around the bars. |
    | `chart--value` | The percentage. |
    | `chart--model` | The model's bars. |
    | `chart--pending` | The model's bars while its answer is still arriving. |
    | `chart--series-1`…`4` | Country bars, in legend order. |
    | `chart--estimator-2`…`5` | Bars of the second to fifth model series (estimators). |
    | `chart--similarity` | Similarities in the legend. |
    | `chart--caption` | The line under the chart. |
    | `chart--suspect` | The warning line under a suspect answer. |
    | `chart--error` | Why an ask failed, in place of the model's bars and under the chart. |
    | `chart--empty` | The message shown without data. |
    """

    DEFAULT_CSS = """
    DistributionChart {
        height: auto;
        padding: 0 1;
        & > .chart--letter { color: $text-accent; text-style: bold; }
        & > .chart--option { color: $text; text-style: bold; }
        & > .chart--nonsubstantive { color: $text-muted; text-style: italic; }
        & > .chart--label { color: $text-muted; }
        & > .chart--axis { color: $foreground 30%; }
        & > .chart--value { color: $text; }
        & > .chart--model { color: $accent; }
        & > .chart--pending { color: $accent 50%; }
        & > .chart--series-1 { color: $primary; }
        & > .chart--series-2 { color: $secondary; }
        & > .chart--series-3 { color: $success; }
        & > .chart--series-4 { color: $warning; }
        & > .chart--estimator-2 { color: $text; }
        & > .chart--estimator-3 { color: $accent-lighten-3; }
        & > .chart--estimator-4 { color: $accent-darken-3; }
        & > .chart--estimator-5 { color: $foreground 55%; }
        & > .chart--similarity { color: $text-success; }
        & > .chart--caption { color: $text-muted; }
        & > .chart--suspect { color: $text-warning; text-style: bold; }
        & > .chart--error { color: $text-error; text-style: bold; }
        & > .chart--empty { color: $text-muted; text-style: italic; }
    }
    """

    data: reactive[ChartData | None] = reactive(None, layout=True)
    """What the chart shows; None shows a hint instead."""

    empty_message: reactive[str] = reactive("Select a question to see its distributions.")
    """Shown when :attr:`data` is None."""

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _series_class(self, index: int, series: Series, pending: bool) -> str:
        """``index`` counts the countries, or for a model series the model series before it."""
        if series.kind == "model":
            if pending:
                return "chart--pending"
            slot = index % ESTIMATOR_STYLES
            return "chart--model" if slot == 0 else f"chart--estimator-{slot + 1}"
        return f"chart--series-{index % SERIES_STYLES + 1}"

    def render(self) -> Text:
        data = self.data
        if data is None:
            return Text(self.empty_message, style=self._style("chart--empty"))
        width = max(self.size.width, 30)
        longest = max((len(s.row_label) for s in data.series), default=5)
        label_width = min(longest, 28 if width >= 100 else 20)
        looks = {id(s): _model_look(data, s) for s in data.models}
        if any(look.status or look.error for look in looks.values()):
            label_width = max(label_width, 5)
        # "  label │bars│ 100.0%": 2 + label + 2 + bars + 1 + 7, and a spare column
        bar_width = max(width - label_width - 13, 6)
        label_style = self._style("chart--label")
        axis = self._style("chart--axis")
        value_style = self._style("chart--value")
        out = Text(no_wrap=False, overflow="fold")

        counts = {"model": 0, "country": 0}
        classes: list[str] = []
        for series in data.series:
            look = looks.get(id(series))
            classes.append(
                self._series_class(counts[series.kind], series, look is not None and look.pending)
            )
            counts[series.kind] += 1
        self._legend(out, data, classes)

        for i, option in enumerate(data.options):
            letter = chr(ord("A") + i)
            nonsub = i < len(data.nonsubstantive) and data.nonsubstantive[i]
            out.append("\n")
            out.append(f"{letter} ", self._style("chart--letter"))
            heading = option + ("  · non-substantive" if nonsub else "")
            out.append(heading, self._style("chart--nonsubstantive" if nonsub else "chart--option"))
            for series, cls in zip(data.series, classes, strict=True):
                out.append("\n  ")
                out.append(_clip(series.row_label, label_width).ljust(label_width), label_style)
                out.append(" │", axis)
                look = looks.get(id(series))
                if look is not None and look.error and not series.values:
                    failed = _clip(f"{FAILED_MARK} {look.error}", bar_width).ljust(bar_width)
                    out.append(failed, self._style("chart--error"))
                    out.append("│", axis)
                    continue
                if look is not None and look.status and not series.values:
                    out.append(_clip(look.status, bar_width).ljust(bar_width), self._style(cls))
                    out.append("│", axis)
                    continue
                value = series.values[i] if i < len(series.values) else 0.0
                out.append(eighths_bar(value, bar_width), self._style(cls))
                out.append("│", axis)
                out.append(f"{value * 100:6.1f}%", value_style)
        if len(data.models) > 1 and self._compact_legend(data):
            # The run-on legend leaves out the estimators' remarks: one line each here.
            for series in data.models:
                if series.tag and not looks[id(series)].error:
                    out.append("\n")
                    out.append(f"{series.row_label}: {series.tag}", label_style)
        if data.caption:
            out.append("\n")
            out.append(data.caption, self._style("chart--caption"))
        if len(data.models) > 1:
            # One line per estimator that is doubtful or failed, named: the others drew.
            for series in data.models:
                look = looks[id(series)]
                if look.suspect:
                    out.append("\n")
                    out.append(
                        f"{SUSPECT_MARK} {series.row_label} suspect: {look.suspect}",
                        self._style("chart--suspect"),
                    )
                if look.error:
                    out.append("\n")
                    out.append(
                        f"{FAILED_MARK} {series.row_label} not answered: {look.error}",
                        self._style("chart--error"),
                    )
            return out
        suspect = next((looks[id(s)].suspect for s in data.models), data.suspect)
        error = next((looks[id(s)].error for s in data.models), data.error)
        if suspect:
            out.append("\n")
            out.append(f"{SUSPECT_MARK} suspect: {suspect}", self._style("chart--suspect"))
        if error:
            out.append("\n")
            out.append(f"{FAILED_MARK} not answered: {error}", self._style("chart--error"))
        return out

    def _compact_legend(self, data: ChartData) -> bool:
        """The legend runs on (a narrow chart, or several estimators on a chart under
        :data:`COMPACT_ESTIMATORS_WIDTH`)."""
        several = len(data.models) > 1
        return self.size.width < (COMPACT_ESTIMATORS_WIDTH if several else COMPACT_LEGEND_WIDTH)

    def _legend(self, out: Text, data: ChartData, classes: list[str]) -> None:
        """One line per series, or all on wrapping lines when the chart is narrow."""
        compact = self._compact_legend(data)
        sim_style = self._style("chart--similarity")
        muted = self._style("chart--label")
        for n, (series, cls) in enumerate(zip(data.series, classes, strict=True)):
            if n:
                out.append("   " if compact else "\n")
            out.append(f"{LEGEND_SWATCH} ", self._style(cls))
            out.append(series.label)
            if series.similarity is not None:
                out.append(" " if compact else "  similarity ", muted)
                out.append(f"{series.similarity:.3f}", sim_style)
            if series.tag and not (compact and series.kind == "model"):
                out.append(f" ({series.tag})" if compact else f"  {series.tag}", muted)
            if series.kind == "model" and _model_look(data, series).suspect:
                # The reason follows under the chart; the legend flags it where the eye starts.
                out.append(f" {SUSPECT_MARK} suspect", self._style("chart--suspect"))
        if data.series:
            out.append("\n")
