"""The results screen: stored runs, one run's country leaderboard, two runs compared.

The top table lists every run in the store. Highlighting a run loads its scores (in a thread
worker) into the leaderboard, with each country's uniform-answer score beside it: the floor a
model has to beat. ``m`` marks a run as the reference A; ``c`` compares the highlighted run B
against it (or, with nothing marked, against the latest ``default`` run of the same model),
country by country, on the questions both answered, sorted by how far B moved toward each
country. Enter on a country lists its per-question similarities; Enter on a question opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core import countries, metrics, runner
from core.dataset import Dataset
from core.prompts import LETTERS, Condition
from core.store import RunSummary, Store

from ..widgets.leaderboard import Leaderboard, LeaderboardRow, rows_from_scores
from .run import leave_screen, report_error


def _policy(name: str) -> metrics.Policy:
    return "drop" if name == "drop" else "keep"


@dataclass(frozen=True)
class LoadedRun:
    """One run's answers and scores, ready to show."""

    name: str
    policy: str
    answers: runner.RunAnswers
    scores: metrics.Scores
    baseline: metrics.Scores


@dataclass(frozen=True)
class Comparison:
    """Two runs scored on the questions both answered.

    ``a`` is the reference (usually ``default``), ``b`` the run under study; a positive
    difference ``b - a`` means B answers more like that country than A does.
    """

    a: LoadedRun
    b: LoadedRun
    positions: np.ndarray
    scores_a: metrics.Scores
    scores_b: metrics.Scores
    focus: tuple[str, ...]

    def difference(self, country: str) -> float | None:
        sa, sb = self.scores_a.get(country), self.scores_b.get(country)
        if sa is None or sb is None:
            return None
        return sb.similarity - sa.similarity

    def rows(self) -> list[LeaderboardRow]:
        rows = []
        for cb in self.scores_b.countries:
            ca = self.scores_a.get(cb.country)
            if ca is None:
                continue
            diff = cb.similarity - ca.similarity
            mark = "focus" if cb.country in self.focus else ("toward" if diff > 0 else "away")
            rows.append(
                LeaderboardRow(
                    key=cb.country,
                    label=cb.display,
                    value=diff,
                    n=min(ca.n_questions, cb.n_questions),
                    extras=(ca.similarity, cb.similarity),
                    mark=mark,
                )
            )
        return rows


def load_run(store: Store, dataset: Dataset, name: str, policy: str | None = None) -> LoadedRun:
    """A run's stored answers, its scores and the uniform baseline on the same questions."""
    manifest = store.manifest(name)
    pol = _policy(policy or manifest.policy)
    answers = runner.run_answers(store, dataset, name)
    scores = metrics.score(dataset, answers.positions, answers.probs, pol)
    baseline = metrics.uniform_baseline(dataset, answers.positions, pol)
    return LoadedRun(name, pol, answers, scores, baseline)


def _restrict(answers: runner.RunAnswers, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isin(answers.positions, positions)
    return answers.positions[keep], answers.probs[keep]


def compare_runs(store: Store, dataset: Dataset, a: str, b: str) -> Comparison:
    """Score runs ``a`` and ``b`` on their shared questions under A's policy."""
    run_a = load_run(store, dataset, a)
    run_b = load_run(store, dataset, b, run_a.policy)
    shared = np.intersect1d(run_a.answers.positions, run_b.answers.positions)
    pol = _policy(run_a.policy)
    scores_a = metrics.score(dataset, *_restrict(run_a.answers, shared), pol)
    scores_b = metrics.score(dataset, *_restrict(run_b.answers, shared), pol)
    focus = []
    for name in (a, b):
        try:
            cond = Condition.parse(store.manifest(name).condition)
        except ValueError:
            continue
        if cond.kind == "country":
            try:
                focus.append(countries.match(cond.value, dataset.countries).key)
            except countries.UnknownCountryError:
                pass
    return Comparison(run_a, run_b, shared, scores_a, scores_b, tuple(focus))


def default_reference(runs: list[RunSummary], b: RunSummary) -> RunSummary | None:
    """The run to compare ``b`` with when none is marked: the newest ``default`` run of the
    same backend kind and model on the same dataset (None if there is none)."""
    for r in reversed(runs):
        m = r.manifest
        if (
            m.name != b.manifest.name
            and m.condition == "default"
            and m.model == b.manifest.model
            and m.backend_kind == b.manifest.backend_kind
            and m.dataset_sha256 == b.manifest.dataset_sha256
        ):
            return r
    return None


def _created(text: str) -> str:
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


class ResultsScreen(Screen[None]):
    """Browse stored runs, their country scores, comparisons and per-question similarities."""

    SUB_TITLE = "Results"
    AUTO_FOCUS = "#results-runs"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    DEFAULT_CSS = """
    ResultsScreen #results-runs {
        height: auto;
        min-height: 3;
        max-height: 30%;
    }
    ResultsScreen #results-status {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    ResultsScreen ContentSwitcher { height: 1fr; }
    ResultsScreen #results-questions-view { height: 1fr; }
    ResultsScreen #results-questions-caption { height: auto; padding: 0 1; color: $text-muted; }
    ResultsScreen #results-questions { height: 1fr; }
    """

    BINDINGS = [
        Binding(
            "m",
            "mark",
            "Mark A",
            id="results.mark",
            tooltip="Mark the highlighted run as the reference A for a comparison",
        ),
        Binding(
            "c",
            "compare",
            "Compare",
            id="results.compare",
            tooltip="Compare the highlighted run with A (or the latest default run)",
        ),
        Binding(
            "v",
            "view_scores",
            "Scores",
            id="results.scores",
            tooltip="Back to the highlighted run's own scores",
        ),
        Binding(
            "r",
            "reload",
            "Reload",
            id="results.reload",
            tooltip="Read the runs from the store again",
        ),
        Binding(
            "h",
            "human_baseline",
            "People alike",
            id="results.human",
            tooltip="Open the countries view on the highlighted country",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            id="results.back",
            tooltip="Up one level: questions → countries → runs → leave",
        ),
    ]

    marked: reactive[str | None] = reactive(None)
    """Name of the run marked as the comparison's reference A."""
    view: reactive[str] = reactive("scores")
    """What the lower pane shows: ``scores``, ``compare`` or ``questions``."""

    @dataclass
    class RunLoaded(Message):
        """A run's scores are ready."""

        run: LoadedRun

    @dataclass
    class ComparisonLoaded(Message):
        """Two runs' scores on their shared questions are ready."""

        comparison: Comparison

    def __init__(self) -> None:
        super().__init__()
        self._runs: list[RunSummary] = []
        self.loaded: LoadedRun | None = None
        self.comparison: Comparison | None = None
        self.question_country: str | None = None
        self._board_view = "scores"
        self._question_rows: list[int] = []
        self._shown_run: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        runs: DataTable[Any] = DataTable(id="results-runs", cursor_type="row", zebra_stripes=True)
        yield runs
        yield Static("", id="results-status")
        with ContentSwitcher(initial="results-scores"):
            yield Leaderboard(extra_labels=("uniform",), show_search=False, id="results-scores")
            yield Leaderboard(
                value_label="Δ B−A",
                extra_labels=("A", "B"),
                diverging=True,
                show_search=False,
                id="results-compare",
            )
            with Vertical(id="results-questions-view"):
                yield Static("", id="results-questions-caption")
                questions: DataTable[Any] = DataTable(
                    id="results-questions", cursor_type="row", zebra_stripes=True
                )
                yield questions
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#results-runs", DataTable)
        table.add_column("A", key="mark", width=1)
        table.add_column("Run", key="name")
        table.add_column("Condition", key="condition")
        table.add_column("Backend / model", key="backend")
        table.add_column("ok/failed/planned", key="counts")
        table.add_column("Created", key="created")
        self.action_reload()

    def on_screen_resume(self) -> None:
        # Back from another view: show new runs, but stay on what was shown unless it changed.
        if self.is_mounted:
            self._reload(force=False)

    # ------------------------------------------------------------------ the run list

    @property
    def runs(self) -> list[RunSummary]:
        return list(self._runs)

    def action_reload(self) -> None:
        self._reload(force=True)

    def _reload(self, force: bool) -> None:
        """Read the runs again; load the highlighted one if ``force`` or its answers changed."""
        app: Any = self.app
        table = self.query_one("#results-runs", DataTable)
        current = self._highlighted_name()
        before = {r.manifest.name: (r.n_ok, r.n_failed) for r in self._runs}
        try:
            self._runs = app.store.runs()
        except Exception as exc:
            report_error(self, exc)
            self._runs = []
        names = [r.manifest.name for r in reversed(self._runs)]  # newest first
        row = names.index(current) if current in names else 0
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for r in reversed(self._runs):
                m = r.manifest
                counts = f"{r.n_ok}/{r.n_failed}/{r.planned}" + ("" if r.finished else " …")
                table.add_row(
                    "A" if m.name == self.marked else "",
                    m.name,
                    m.condition,
                    f"{m.backend} ({m.model})" if m.model else m.backend,
                    counts,
                    _created(m.created_at),
                    key=m.name,
                )
            if names:
                table.move_cursor(row=row)
        if not self._runs:
            self._status("No runs stored yet. Start one from the run screen (or 'goqa run').")
            self.query_one("#results-scores", Leaderboard).clear("")
            return
        name = names[row]
        summary = self._summary(name)
        changed = summary is None or before.get(name) != (summary.n_ok, summary.n_failed)
        if force or changed or self.loaded is None or self.loaded.name != name:
            self._load(name)

    def _highlighted_name(self) -> str | None:
        table = self.query_one("#results-runs", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def _summary(self, name: str | None) -> RunSummary | None:
        return next((r for r in self._runs if r.manifest.name == name), None)

    @on(DataTable.RowHighlighted, "#results-runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            name = str(event.row_key.value)
            if self.loaded is None or self.loaded.name != name or self.view == "questions":
                self._load(name)

    @on(DataTable.RowSelected, "#results-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._load(str(event.row_key.value))
        self.query_one("#results-scores", Leaderboard).focus_table()

    def _load(self, name: str) -> None:
        self.view = "scores"
        self._board_view = "scores"
        self._status(f"Loading {name}…")
        self._load_worker(name)

    @work(thread=True, exclusive=True, group="results-load", exit_on_error=False)
    def _load_worker(self, name: str) -> None:
        app: Any = self.app
        loaded = load_run(app.store, app.dataset, name)
        if not get_current_worker().is_cancelled:
            self.post_message(self.RunLoaded(loaded))

    @on(RunLoaded)
    def _run_loaded(self, event: RunLoaded) -> None:
        run = event.run
        self.loaded = run
        if self.view != "scores":
            return
        scores, base = run.scores, run.baseline
        n = run.answers.positions.shape[0]
        beat = sum(
            1
            for c in scores.countries
            if (b := base.get(c.country)) and c.similarity > b.similarity
        )
        mean_base = (
            float(np.mean([c.similarity for c in base.countries])) if base.countries else 0.0
        )
        caption = (
            f"{run.name}: {n} questions scored · policy {run.policy} · {beat} of "
            f"{len(scores.countries)} countries above their uniform score (┆, mean "
            f"{mean_base:.3f}) · Enter: per-question"
        )
        board = self.query_one("#results-scores", Leaderboard)
        same_run = bool(board.rows) and self._shown_run == run.name
        board.set_rows(rows_from_scores(scores, base), caption=caption, keep_cursor=same_run)
        self._shown_run = run.name
        top = scores.countries[0] if scores.countries else None
        against = f"A = {self.marked}" if self.marked else "the latest default run"
        self._status(
            (
                f"{run.name}: most like {top.display} ({top.similarity:.3f}) · "
                f"m marks it as A · c compares it with {against}"
            )
            if top
            else f"{run.name} has no scored answer yet."
        )
        if run.answers.unknown_keys:
            self.notify(
                f"{run.answers.unknown_keys} stored answers of {run.name} match no question of "
                "this dataset and were left out.",
                severity="warning",
            )

    # ------------------------------------------------------------------ comparing

    def action_mark(self) -> None:
        name = self._highlighted_name()
        if name is None:
            return
        self.marked = None if self.marked == name else name
        table = self.query_one("#results-runs", DataTable)
        for r in self._runs:
            table.update_cell(
                r.manifest.name, "mark", "A" if r.manifest.name == self.marked else ""
            )
        self._status(
            f"A = {self.marked}: highlight another run and press c to compare."
            if self.marked
            else "No reference run marked."
        )

    def action_compare(self) -> None:
        b = self._summary(self._highlighted_name())
        if b is None:
            self.notify("No run to compare.", severity="warning")
            return
        a_name = self.marked
        if a_name is None or a_name == b.manifest.name:
            ref = default_reference(self._runs, b)
            if ref is None:
                self.notify(
                    "Mark the reference run with m first (no default run of the same model "
                    "to compare with).",
                    severity="warning",
                )
                return
            a_name = ref.manifest.name
        self.compare(a_name, b.manifest.name)

    def compare(self, a: str, b: str) -> None:
        """Show run ``b`` against the reference run ``a``."""
        self.view = "compare"
        self._board_view = "compare"
        self._status(f"Comparing {b} with {a}…")
        self._compare_worker(a, b)

    @work(thread=True, exclusive=True, group="results-load", exit_on_error=False)
    def _compare_worker(self, a: str, b: str) -> None:
        app: Any = self.app
        comparison = compare_runs(app.store, app.dataset, a, b)
        if not get_current_worker().is_cancelled:
            self.post_message(self.ComparisonLoaded(comparison))

    @on(ComparisonLoaded)
    def _comparison_loaded(self, event: ComparisonLoaded) -> None:
        comp = event.comparison
        self.comparison = comp
        rows = comp.rows()
        toward = sum(1 for r in rows if r.value > 0)
        focus = ""
        for key in comp.focus:
            diff = comp.difference(key)
            if diff is not None:
                rank = 1 + sum(1 for r in rows if r.value > diff)
                focus += f" · {countries.resolve(key).label} {diff:+.3f} (#{rank})"
        caption = (
            f"B {comp.b.name} vs A {comp.a.name} on {comp.positions.shape[0]} shared questions"
            f" (policy {comp.a.policy}) · B moved toward {toward} of {len(rows)} countries{focus}"
        )
        board = self.query_one("#results-compare", Leaderboard)
        board.set_rows(rows, caption=caption, keep_cursor=False)
        if comp.positions.shape[0] == 0:
            self.notify("The two runs share no answered question.", severity="warning")
        self._status(
            "Δ = score(B) − score(A): positive (green) means B answers more like that "
            "country · Enter: per question · v: back to the run's own scores"
        )
        board.focus_table()

    def action_view_scores(self) -> None:
        name = self._highlighted_name()
        if name is not None:
            self._load(name)

    # ------------------------------------------------------------------ questions of a country

    @on(Leaderboard.CountrySelected)
    def _country_selected(self, event: Leaderboard.CountrySelected) -> None:
        self.show_questions(event.country)

    def show_questions(self, country: str) -> None:
        """List ``country``'s per-question similarities for the run (or both compared runs)."""
        app: Any = self.app
        dataset: Dataset = app.dataset
        ci = dataset.country_index.get(country)
        if ci is None:
            return
        self.question_country = country
        table = self.query_one("#results-questions", DataTable)
        table.clear(columns=True)
        label = countries.resolve(country).label
        comparing = self._board_view == "compare" and self.comparison is not None
        top_w = 24 if self._pane_width() >= 110 else 16
        if comparing:
            comp = self.comparison
            assert comp is not None
            sim_a = _country_pairs(comp.scores_a.pairs, ci)
            sim_b = _country_pairs(comp.scores_b.pairs, ci)
            positions = sorted(set(sim_a) & set(sim_b), key=lambda p: -(sim_b[p] - sim_a[p]))
            table.add_column("id", key="id", width=6)
            table.add_column("A", key="a", width=6)
            table.add_column("B", key="b", width=6)
            table.add_column("Δ", key="d", width=7)
            table.add_column("people's top", key="human", width=top_w)
            text_width = self._text_width(6 + 6 + 6 + 7 + top_w, 6)
            table.add_column("Question", key="text", width=text_width)
            for p in positions:
                d = sim_b[p] - sim_a[p]
                table.add_row(
                    str(dataset.ids[p]),
                    f"{sim_a[p]:.3f}",
                    f"{sim_b[p]:.3f}",
                    Text(f"{d:+.3f}", style="bold" if abs(d) >= 0.1 else ""),
                    _top_option(dataset, p, dataset.at(p).distribution(country)),
                    _clip(dataset.texts[p], text_width),
                    key=str(p),
                )
            caption = (
                f"{label}: {len(positions)} questions, B {comp.b.name} vs A {comp.a.name}, "
                "largest move toward first · Enter opens a question · Esc back"
            )
        else:
            run = self.loaded
            if run is None:
                return
            sims = _country_pairs(run.scores.pairs, ci)
            probs = dict(zip(run.answers.positions.tolist(), run.answers.probs, strict=True))
            positions = sorted(sims, key=lambda p: -sims[p])
            table.add_column("id", key="id", width=6)
            table.add_column("similarity", key="sim", width=10)
            table.add_column("model's top", key="model", width=top_w)
            table.add_column("people's top", key="human", width=top_w)
            text_width = self._text_width(6 + 10 + 2 * top_w, 5)
            table.add_column("Question", key="text", width=text_width)
            for p in positions:
                table.add_row(
                    str(dataset.ids[p]),
                    f"{sims[p]:.3f}",
                    _top_option(dataset, p, probs.get(p)),
                    _top_option(dataset, p, dataset.at(p).distribution(country)),
                    _clip(dataset.texts[p], text_width),
                    key=str(p),
                )
            caption = (
                f"{label} in {run.name}: {len(positions)} questions, most similar first · "
                "Enter opens a question · Esc back"
            )
        self._question_rows = positions
        self.query_one("#results-questions-caption", Static).update(caption)
        self.view = "questions"
        table.focus()

    def _pane_width(self) -> int:
        return self.query_one(ContentSwitcher).size.width or self.size.width or 120

    def _text_width(self, fixed: int, columns: int) -> int:
        """Room left for the question text beside ``columns`` columns of ``fixed`` cells."""
        return max(16, self._pane_width() - fixed - 2 * columns - 2 - 2)

    @property
    def question_positions(self) -> list[int]:
        """Positions listed in the per-question view, in order."""
        return list(self._question_rows)

    @on(DataTable.RowSelected, "#results-questions")
    def _question_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        position = int(event.row_key.value)
        opener = getattr(self.app, "open_question", None) or getattr(
            self.app, "jump_to_question", None
        )
        if callable(opener):
            opener(position)
        else:
            dataset: Dataset = self.app.dataset  # type: ignore[attr-defined]
            self.notify(f"Question #{dataset.ids[position]}: {dataset.texts[position]}")

    def action_human_baseline(self) -> None:
        """Open the countries view on the country under the board's cursor."""
        board = "#results-compare" if self._board_view == "compare" else "#results-scores"
        key = self.question_country if self.view == "questions" else None
        key = key or self.query_one(board, Leaderboard).highlighted_key
        opener = getattr(self.app, "open_country", None)
        if key is None:
            self.notify("Highlight a country first.", severity="warning")
        elif callable(opener):
            opener(key)
        else:
            self.notify("The countries view is not available here.", severity="warning")

    # ------------------------------------------------------------------ navigation

    def watch_view(self, view: str) -> None:
        target = {
            "scores": "results-scores",
            "compare": "results-compare",
            "questions": "results-questions-view",
        }[view]
        self.query_one(ContentSwitcher).current = target

    def action_back(self) -> None:
        if self.view == "questions":
            self.view = self._board_view
            board = "#results-compare" if self._board_view == "compare" else "#results-scores"
            self.query_one(board, Leaderboard).focus_table()
            return
        runs = self.query_one("#results-runs", DataTable)
        if not runs.has_focus:
            runs.focus()
            return
        leave_screen(self)

    def _status(self, text: str) -> None:
        self.query_one("#results-status", Static).update(text)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "results-load" and event.state == WorkerState.ERROR:
            if event.worker.error is not None:
                self._status(f"Could not load: {event.worker.error}")
                report_error(self, event.worker.error)


def _country_pairs(pairs: metrics.PairScores, ci: int) -> dict[int, float]:
    sel = pairs.country == ci
    return dict(zip(pairs.position[sel].tolist(), pairs.similarity[sel].tolist(), strict=True))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _top_option(dataset: Dataset, position: int, dist: np.ndarray | None) -> str:
    if dist is None:
        return "—"
    k = int(dataset.n_options[position])
    d = np.asarray(dist, dtype=float)[:k]
    if d.sum() <= 0:
        return "—"
    i = int(np.argmax(d))
    return f"({LETTERS[i]}) {d[i] / d.sum():.0%} {dataset.options[position][i]}"
