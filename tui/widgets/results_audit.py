"""The estimator audit of Results: one run beside the runs of its questions made with other
estimators (:mod:`core.audit`).

:class:`EstimatorAuditPane` finds a run's related runs (:func:`core.audit.related_runs`, in a
thread: it reads the store) and audits them (:func:`core.audit.report_audit`, in a thread:
it bootstraps). It shows the audit as ``goqa audit`` computes it, arranged in three tabs
under a headline that is always in view:

* the headline: the runs, the common questions, the first-token vs free-text argmax
  agreement, the refusal rate, the share of order flips, the parse rate;
* **Countries**: each country's score under each estimator with its 95% interval (``*``:
  significantly different from the first run's, Benjamini–Hochberg q < 0.05), ranked by the
  first run, with the spread across estimators;
* **Questions**: the questions where the estimators disagree most (the largest
  Jensen–Shannon distance between two runs' answers), which two, and each run's most likely
  option; Enter opens a question in Browse;
* **Summary**: every run, every pair's argmax agreement and mean distance, refusals, order
  sensitivity, parse rate, the letter prior, and the caveats.

Messages: :class:`EstimatorAuditPane.RelatedFound`, :class:`EstimatorAuditPane.AuditLoaded`,
:class:`EstimatorAuditPane.NoRelatedRuns`, :class:`EstimatorAuditPane.AuditFailed` and
:class:`EstimatorAuditPane.QuestionChosen`. Run names are the user's text: shown as plain
text, never markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from core import audit
from core.audit import EstimatorAudit, EstimatorScore
from core.dataset import Dataset
from core.store import Store
from core.wording import counted

from .question_drill import clip

SIGNIFICANT = 0.05
"""A later run's score differs from the first run's when its q-value is below this."""
QUESTION_TEXT_WIDTH = 80
"""The question's text is cut to this many cells in the questions table."""


def percent(value: float | None) -> str:
    """``72%``, or ``—`` when undefined."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.0%}"


def score_cell(score: EstimatorScore | None) -> str:
    """``0.812 (0.801–0.823)``, ``*`` when it differs significantly from the first run;
    ``—`` without a score."""
    if score is None:
        return "—"
    text = f"{score.similarity:.3f}"
    if score.ci_low is not None and score.ci_high is not None:
        text += f" ({score.ci_low:.3f}–{score.ci_high:.3f})"
    if score.q_value is not None and score.q_value < SIGNIFICANT:
        text += "*"
    return text


def _estimators(result: EstimatorAudit) -> dict[str, str]:
    """Run name -> the name its column and pairs are shown by (its estimator's, or the run's
    own when two runs share an estimator)."""
    names = [r.estimator for r in result.runs]
    return {r.name: (r.estimator if names.count(r.estimator) == 1 else r.name) for r in result.runs}


def headline(result: EstimatorAudit) -> str:
    """The audit in a line or two: the common questions, then each summary figure the runs
    allow (argmax agreement, refusals, order flips, parse rate, the mean largest distance).
    The estimators are the Countries tab's columns."""
    parts = [counted(result.common, "common question")]
    for pair in result.first_token_vs_free_text:
        parts.append(
            f"first-token vs free-text argmax agreement {percent(pair.agreement)} "
            f"({pair.agree:g}/{pair.n})"
        )
    for refusal in result.refusals:
        parts.append(f"refusal rate {percent(refusal.rate)} ({refusal.refused}/{refusal.replies})")
    for order in result.order:
        parts.append(
            f"argmax changes with the option order {percent(order.share)} "
            f"({order.flipped}/{order.questions})"
        )
    for parse in result.parse:
        parts.append(f"parse rate {percent(parse.rate)} ({parse.ok}/{parse.ok + parse.failed})")
    if result.mean_max_distance is not None:
        parts.append(f"mean largest JSD {result.mean_max_distance:.3f}")
    return " · ".join(parts)


def summary_text(result: EstimatorAudit) -> Text:
    """The Summary tab: runs, pairs, estimator-specific figures, letter priors, caveats."""
    shown = _estimators(result)
    out = Text()

    def heading(text: str) -> None:
        if out.plain:
            out.append("\n\n")
        out.append(text, style="bold")

    heading("Runs")
    for n, r in enumerate(result.runs):
        role = " (reference)" if n == 0 else ""
        out.append(
            f"\n• {r.name}{role}: {r.label} · {r.model} · {r.condition} · {r.answered} "
            f"answered, {r.failed} failed, {r.scored} scored"
            + (f", {r.suspect_left_out} suspect left out" if r.suspect_left_out else "")
        )
    heading("Pairs (on the questions both answered)")
    for p in result.pairs:
        distance = "—" if p.mean_distance is None else f"{p.mean_distance:.3f}"
        out.append(
            f"\n• {shown[p.a]} vs {shown[p.b]}: argmax agreement {percent(p.agreement)} "
            f"({p.agree:g}/{p.n}) · mean JSD {distance}"
        )
    if result.refusals:
        heading("Refusals (free-text)")
        for refusal in result.refusals:
            out.append(
                f"\n• {refusal.run}: {refusal.refused} of {refusal.replies} replies refused "
                f"({percent(refusal.rate)}) over {counted(refusal.questions, 'question')}; "
                f"{refusal.no_choice} with no reply choosing an option"
            )
    if result.order:
        heading("Option order (order-averaged)")
        for order in result.order:
            spread = "—" if order.mean_spread is None else f"{order.mean_spread:.3f}"
            out.append(
                f"\n• {order.run}: the most likely option changes with the order on "
                f"{order.flipped} of {order.questions} questions ({percent(order.share)}); "
                f"mean largest JSD between two orders {spread}"
            )
    if result.parse:
        heading("Parse rate (verbalized)")
        for parse in result.parse:
            out.append(
                f"\n• {parse.run}: {parse.ok} of {parse.ok + parse.failed} questions parsed "
                f"({percent(parse.rate)})"
            )
    if result.priors:
        heading("Letter prior (prior-corrected)")
        for prior in result.priors:
            for row in prior.by_options:
                letters = " ".join(f"{chr(65 + i)} {p:.2f}" for i, p in enumerate(row.prior))
                out.append(
                    f"\n• {prior.run}, {row.options} options: {letters} "
                    f"(from {counted(row.size, 'calibration question')})"
                )
            if prior.missing:
                missing = ", ".join(str(k) for k in prior.missing)
                out.append(f"\n• {prior.run}: no prior for {missing} options (calibration failed)")
            if not prior.by_options and not prior.missing:
                out.append(f"\n• {prior.run}: no calibration recorded")
    heading("How to read it")
    out.append(
        f"\nScores are 1 − Jensen–Shannon distance (base 2) on the {result.common} questions "
        f"every run answered, policy {result.policy}"
        + (", suspect answers included" if result.include_suspect else "")
        + f"; {result.level:.0%} intervals: bootstrap over questions, {result.n_resamples} "
        f"resamples, seed {result.seed}; * q < {SIGNIFICANT:g} (paired, Benjamini–Hochberg) "
        f"against {result.runs[0].name}."
    )
    if result.caveats:
        heading("Caveats")
        for caveat in result.caveats:
            out.append(f"\n• {caveat}")
    return out


class EstimatorAuditPane(Vertical):
    """A run's estimator audit: headline, then Countries, Questions and Summary tabs."""

    @dataclass
    class RelatedFound(Message):
        """The runs of run ``name``'s questions made with other estimators were found."""

        name: str
        related: tuple[str, ...]

    @dataclass
    class AuditLoaded(Message):
        """The audit of run ``name`` is ready and shown."""

        name: str
        audit: EstimatorAudit

    @dataclass
    class NoRelatedRuns(Message):
        """Run ``name`` has no related run: there is nothing to audit it against."""

        name: str

    @dataclass
    class AuditFailed(Message):
        """A related-runs look-up or an audit failed (the pane keeps what it showed)."""

        error: BaseException

    @dataclass
    class QuestionChosen(Message):
        """Enter was pressed on a question of the audit."""

        position: int
        """Its dataset position."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.audit: EstimatorAudit | None = None
        """The audit on show (None before one is made)."""
        self.run: str | None = None
        """The run it audits."""
        self._positions: list[int] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="audit-headline")
        with TabbedContent(id="audit-tabs"):
            with TabPane("Countries", id="audit-countries-tab"):
                yield DataTable[Any](id="audit-countries", cursor_type="row", zebra_stripes=True)
            with TabPane("Questions", id="audit-questions-tab"):
                yield DataTable[Any](id="audit-questions", cursor_type="row", zebra_stripes=True)
            with TabPane("Summary", id="audit-summary-tab"):
                with VerticalScroll(id="audit-summary-scroll"):
                    yield Static("", id="audit-summary")

    @property
    def countries_table(self) -> DataTable[Any]:
        return self.query_one("#audit-countries", DataTable)

    @property
    def questions_table(self) -> DataTable[Any]:
        return self.query_one("#audit-questions", DataTable)

    @property
    def headline_text(self) -> str:
        """The headline as shown."""
        return str(self.query_one("#audit-headline", Static).render())

    @property
    def summary_text(self) -> str:
        """The Summary tab's text as shown."""
        return str(self.query_one("#audit-summary", Static).render())

    # ------------------------------------------------------------------ workers

    def find_related(self, store: Store, name: str) -> None:
        """Look for run ``name``'s related runs in a thread; :class:`RelatedFound` follows."""
        self._related_worker(store, name)

    @work(thread=True, exclusive=True, group="audit-related", exit_on_error=False)
    def _related_worker(self, store: Store, name: str) -> None:
        related = tuple(audit.related_runs(store, name))
        if not get_current_worker().is_cancelled:
            self.post_message(self.RelatedFound(name, related))

    def load(self, store: Store, dataset: Dataset, name: str, *, include_suspect: bool) -> None:
        """Audit run ``name`` against its related runs in a thread; :class:`AuditLoaded`
        follows, or :class:`NoRelatedRuns`."""
        self._audit_worker(store, dataset, name, include_suspect)

    def cancel(self) -> None:
        """Give up an audit under way (its result is never shown)."""
        self.workers.cancel_group(self, "audit")

    @work(thread=True, exclusive=True, group="audit", exit_on_error=False)
    def _audit_worker(
        self, store: Store, dataset: Dataset, name: str, include_suspect: bool
    ) -> None:
        result = audit.report_audit(store, dataset, name, include_suspect=include_suspect)
        if get_current_worker().is_cancelled:
            return
        if result is None:
            self.post_message(self.NoRelatedRuns(name))
        else:
            self.post_message(self._Audited(name, result))

    @dataclass
    class _Audited(Message):
        name: str
        audit: EstimatorAudit

    @on(_Audited)
    def _audited(self, event: _Audited) -> None:
        event.stop()
        self.show(event.name, event.audit)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # A worker's state does not bubble: say what failed with the pane's own message.
        error = event.worker.error
        if event.worker.node is self and event.state == WorkerState.ERROR and error is not None:
            self.post_message(self.AuditFailed(error))

    # ------------------------------------------------------------------ showing

    def show(self, name: str, result: EstimatorAudit) -> None:
        """Put ``result`` (the audit of run ``name``) on the pane, then post
        :class:`AuditLoaded`."""
        self.audit, self.run = result, name
        self.query_one("#audit-headline", Static).update(Text(headline(result)))
        self._fill_countries(result)
        self._fill_questions(result)
        self.query_one("#audit-summary", Static).update(summary_text(result))
        self.post_message(self.AuditLoaded(name, result))

    def _fill_countries(self, result: EstimatorAudit) -> None:
        shown = _estimators(result)
        table = self.countries_table
        table.clear(columns=True)
        table.add_column("Country", key="country")
        for r in result.runs:
            table.add_column(Text(shown[r.name]), key=f"run:{r.name}")
        table.add_column("spread", key="spread")
        for c in result.countries:
            spread = "—" if c.spread is None else f"{c.spread:.3f}"
            table.add_row(
                Text(c.display),
                *(Text(score_cell(s)) for s in c.scores),
                spread,
                key=c.country,
            )

    def _fill_questions(self, result: EstimatorAudit) -> None:
        shown = _estimators(result)
        table = self.questions_table
        table.clear(columns=True)
        table.add_column("#", key="id")
        table.add_column("max JSD", key="distance")
        table.add_column("most apart", key="pair")
        for r in result.runs:
            table.add_column(Text(shown[r.name]), key=f"argmax:{r.name}")
        table.add_column("Question", key="text")
        self._positions = []
        for q in result.questions:
            a, b = q.pair
            table.add_row(
                str(q.question_id),
                f"{q.max_distance:.3f}",
                Text(f"{shown.get(a, a)} vs {shown.get(b, b)}"),
                *q.argmax,
                Text(clip(" ".join(q.question.split()), QUESTION_TEXT_WIDTH)),
                key=str(q.position),
            )
            self._positions.append(q.position)

    def clear(self) -> None:
        """Show no audit."""
        self.audit, self.run = None, None
        self.query_one("#audit-headline", Static).update("")
        self.countries_table.clear(columns=True)
        self.questions_table.clear(columns=True)
        self.query_one("#audit-summary", Static).update("")

    def focus_table(self) -> None:
        """Focus the table of the tab on show."""
        tabs = self.query_one(TabbedContent)
        if tabs.active == "audit-questions-tab":
            self.questions_table.focus()
        elif tabs.active == "audit-summary-tab":
            self.query_one("#audit-summary-scroll").focus()
        else:
            self.countries_table.focus()

    @property
    def question_positions(self) -> Sequence[int]:
        """Dataset positions in the questions table, in order."""
        return list(self._positions)

    @on(DataTable.RowSelected, "#audit-questions")
    def _question_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.QuestionChosen(int(event.row_key.value)))
