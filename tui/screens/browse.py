"""The browse screen: find a question, see its human distributions, ask the model.

The list (left, or on top in a narrow terminal) shows what the filters let through; the
detail pane shows the highlighted question's text and the live chart, an
:class:`~tui.widgets.ask_chart.AskChart` that does the asking (an exclusive worker, partial
answers streamed, stale ones dropped) and keeps the answers by :class:`AskKey`, so moving
back to a question shows what it was answered. Translations are read in a worker too.

A suspect answer (off-option mass above the config's ``max_off_option``…) is drawn with its
reason under the chart; an ask that fails shows why in place of the model's bars. Without a
results store the screen still browses, and asks without the response cache.

``E`` toggles the estimators the chart shows (:mod:`core.estimators`): the configured one
alone, or all five side by side, one series each, named in the legend. With all five, ``a``
asks all five at once; each draws as it lands, and one that fails says why in its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Select, Static
from textual.worker import Worker

from core import compared as comparison
from core import countries
from core.backends.base import Answer
from core.dataset import Question
from core.estimators import EstimatorSpec
from core.prompts import Condition
from core.translate import translation_table
from tui.contract import GoqaContract, available_store
from tui.widgets.ask_chart import (
    FIRST_TOKEN,
    AskChart,
    AskRequest,
    EstimatorRow,
    ask_request,
    estimator_specs,
    estimators_caption,
)
from tui.widgets.country_picker import ANY, CountryPicker
from tui.widgets.pickers import Picker
from tui.widgets.question_list import QuestionList
from tui.widgets.status import StatusBar, condition_label

NARROW = 110
"""Below this many columns the list sits above the detail instead of beside it."""

_CHART_GROUP = Binding.Group("Chart", compact=True)

SOURCES: tuple[tuple[str, str], ...] = (("All sources", ""), ("GAS · Pew", "GAS"), ("WVS", "WVS"))


@dataclass(frozen=True)
class AskKey:
    """What one answer depends on, as the browse screen tracks it."""

    question: str
    backend: str
    condition: Condition
    template: str
    estimator: EstimatorSpec = FIRST_TOKEN


def describe_answer(answer: Answer | None, pending: bool, cached: bool, total: int) -> str:
    """The caption under the chart: estimator and readout (``estimator first-token
    (logprobs)``), samples, off-option mass, provenance."""
    if answer is None:
        return "asking…" if pending else ""
    parts = []
    if answer.estimator == "sampling":
        n = f"n={answer.samples}" + (f"/{total}" if pending and total else "")
        parts.append(f"estimator {answer.method} (sampling {n})")
        if answer.unparseable:
            parts.append(f"{answer.unparseable} unparseable")
    elif answer.estimator == answer.method:
        parts.append(f"estimator {answer.method}")
    else:
        parts.append(f"estimator {answer.method} ({answer.estimator})")
    parts.append(f"off-option mass {answer.off_option_mass * 100:.1f}%")
    if answer.truncated:
        parts.append("top-k truncated")
    if cached:
        parts.append("from cache")
    if answer.note and not pending:
        parts.append(answer.note)
    return " · ".join(parts)


class QuestionDetail(VerticalScroll, can_focus=True):
    """The scrollable detail pane (question text and chart); it can fill the screen."""

    ALLOW_MAXIMIZE = True


class BrowseScreen(Screen[None]):
    """Browse questions, compare distributions, ask the model."""

    ESCAPE_TO_MINIMIZE = False  # Escape cancels an ask first, then leaves the zoom

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "question_mark", "app.help", "Help", id="browse.help", tooltip="A tour of the keys"
        ),
        Binding("a", "ask", "Ask", id="browse.ask", tooltip="Ask the model this question"),
        Binding("slash", "focus_search", "Search", id="browse.search", tooltip="Filter by words"),
        Binding(
            "c",
            "app.choose_condition",
            "Condition",
            id="browse.condition",
            tooltip="Default, a country or a language",
        ),
        Binding("b", "app.choose_backend", "Backend", id="browse.backend", tooltip="Backend"),
        Binding(
            "E",
            "toggle_estimators",
            "Estimators",
            id="browse.estimators",
            tooltip="Chart the configured estimator alone, or all five side by side",
        ),
        Binding(
            "plus",
            "add_country",
            "Add country",
            id="browse.add-country",
            tooltip="Add a country to the chart",
            group=_CHART_GROUP,
        ),
        Binding(
            "equals_sign",
            "add_country",
            "Add country",
            id="browse.add-country-equals",
            show=False,
            tooltip="Add a country to the chart",
        ),
        Binding(
            "minus",
            "remove_country",
            "Remove country",
            id="browse.remove-country",
            tooltip="Remove a country from the chart",
            group=_CHART_GROUP,
        ),
        Binding(
            "s",
            "cycle_source",
            "Source",
            id="browse.source",
            show=False,
            tooltip="Source filter: all → GAS → WVS",
        ),
        Binding(
            "f",
            "country_filter",
            "Country",
            id="browse.country",
            show=False,
            tooltip="Only questions asked in a country",
        ),
        Binding("x", "clear_filters", "Clear", id="browse.clear", show=False, tooltip="No filter"),
        Binding(
            "r",
            "reset_countries",
            "Reset",
            id="browse.reset",
            show=False,
            tooltip="Let the chart choose its countries again",
        ),
        Binding(
            "z",
            "zoom",
            "Zoom",
            id="browse.zoom",
            show=False,
            tooltip="Show the question and chart on the whole screen (again: back)",
        ),
        Binding("escape", "back", "Back", id="browse.back", show=False, tooltip="Cancel / back"),
        Binding(
            "down",
            "focus_list",
            "To the list",
            id="browse.to-list",
            show=False,
            tooltip="From the search box down to the list",
        ),
    ]

    every_estimator: reactive[bool] = reactive(False, init=False)
    """The chart shows all five estimators (else the configured one alone)."""

    @dataclass
    class TranslationsRead(Message):
        """The question texts of one language, read from the store in a worker."""

        language: str
        texts: dict[str, str]

    def __init__(self) -> None:
        super().__init__()
        self.position: int | None = None
        self.source = ""
        self.country = ANY
        self.pinned: list[str] = []
        self.hidden: set[str] = set()
        self._country_counts: dict[str, int] = {}
        self._translations_for: str | None = None
        """The language whose translations were last asked for (None: read again)."""
        self._translations: tuple[str, dict[str, str]] = ("", {})
        """A language and its question texts by key, as last read."""
        self.compared: list[comparison.Compared] = []
        """The countries the chart shows now."""

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    @property
    def chart(self) -> AskChart:
        """The chart, which asks the model and keeps its answers by :class:`AskKey`."""
        return self.query_one("#chart", AskChart)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="browse-body"):
            with Vertical(id="list-pane"):
                with Horizontal(id="filters"):
                    yield Input(placeholder="Search… /", id="search", compact=True)
                    source = Select(SOURCES, value="", allow_blank=False, id="source", compact=True)
                    source.tooltip = "Source filter (s)"
                    yield source
                    country = Button("Country: any", id="country-filter", compact=True)
                    country.tooltip = "Only questions asked in a country (f)"
                    yield country
                yield Static(id="list-header")
                yield QuestionList(id="questions")
            with QuestionDetail(id="detail"):
                with Horizontal(id="ask-bar"):
                    yield Button("Ask ▶", id="ask", compact=True, variant="primary")
                    yield Button("", id="condition-button", compact=True)
                    yield Button("", id="backend-button", compact=True)
                    yield Button("+ country", id="add-country", compact=True)
                    yield Button("− country", id="remove-country", compact=True)
                yield Static(id="question-text", markup=False)
                yield AskChart(id="chart")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        questions = self.query_one(QuestionList)
        questions.border_title = "Questions · loading…"
        self.query_one("#detail", QuestionDetail).border_title = "Question"
        self.chart.empty_message = "Loading the dataset…"
        for attribute in ("condition", "backend_name", "template", "policy", "config"):
            self.watch(self.app, attribute, self._context_changed, init=False)
        self.watch(self.app, "dataset_ready", self._dataset_ready)
        self.watch(self.app, "dataset_problem", self._dataset_problem, init=False)
        # The store opens in a worker of its own, perhaps after the first question is shown.
        self.watch(self.app, "store_ready", self._store_ready, init=False)
        self._update_ask_bar()
        questions.focus()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    def _dataset_problem(self, problem: str) -> None:
        if not problem:
            return
        questions = self.query_one(QuestionList)
        questions.loading_message = "No dataset: " + problem
        questions.border_title = "Questions · none"
        questions.refresh()
        self.chart.empty_message = "No dataset loaded."

    def _store_ready(self, ready: bool) -> None:
        """The store opened after the question was shown: look in its cache and translations."""
        if not ready:
            return
        # Look again where nothing was found: there was no store to look in.
        self.chart.forget(lambda s: s.answer is not None or s.pending or bool(s.error))
        self._context_changed()

    def _dataset_ready(self, ready: bool) -> None:
        if not ready:
            return
        data = self.goqa.dataset
        questions = self.query_one(QuestionList)
        questions.set_dataset(data)
        self.query_one("#list-header", Static).update(questions.header)
        self.chart.empty_message = "No question selected."
        counts = np.bincount(data.pair_country, minlength=len(data.countries))
        self._country_counts = {c: int(n) for c, n in zip(data.countries, counts, strict=True)}
        self._apply_filters()
        if self.focused is None:
            questions.focus()

    # ------------------------------------------------------------------ filters

    def _apply_filters(self) -> None:
        if not self.goqa.dataset_ready:
            return
        data = self.goqa.dataset
        search = self.query_one("#search", Input).value.strip()
        positions = data.filter(
            search=search or None, source=self.source or None, country=self.country or None
        )
        self.goqa.filtered_positions = positions
        questions = self.query_one(QuestionList)
        questions.set_rows(positions)
        questions.border_title = f"Questions · {len(positions)} of {len(data)} shown"
        if not positions:
            self._show(None)

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        self._apply_filters()

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.query_one(QuestionList).focus()

    @on(Select.Changed, "#source")
    def _source_changed(self, event: Select.Changed) -> None:
        value = event.value if isinstance(event.value, str) else ""
        if value != self.source:
            self.source = value
            self._apply_filters()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_focus_list(self) -> None:
        self.query_one(QuestionList).focus()

    def action_cycle_source(self) -> None:
        values = [v for _, v in SOURCES]
        self.query_one("#source", Select).value = values[
            (values.index(self.source) + 1) % len(values)
        ]

    @on(Button.Pressed, "#country-filter")
    def action_country_filter(self) -> None:
        if not self.goqa.dataset_ready:
            return
        self.app.push_screen(
            CountryPicker(
                self.goqa.dataset.countries,
                title="Only questions asked in…",
                current=self.country,
                allow_any=True,
                counts=self._country_counts,
            ),
            self.set_country_filter,
        )

    def set_country_filter(self, key: str | None) -> None:
        """Show only questions with data for country ``key`` (:data:`ANY` for all)."""
        if key is None:
            return
        self.country = key
        label = countries.resolve(key).label if key else "any"
        self.query_one("#country-filter", Button).label = f"Country: {label}"
        self._apply_filters()

    def action_clear_filters(self) -> None:
        self.query_one("#search", Input).value = ""
        self.query_one("#source", Select).value = ""
        self.source = ""
        self.set_country_filter(ANY)

    def jump_to(self, position: int) -> None:
        """Highlight the question at ``position``, clearing filters that hide it."""
        questions = self.query_one(QuestionList)
        if not questions.select_position(position):
            self.action_clear_filters()
            questions.select_position(position)
        questions.focus()

    # ------------------------------------------------------------------ selection

    @on(QuestionList.Highlighted)
    def _highlighted(self, event: QuestionList.Highlighted) -> None:
        self._show(event.position)

    @on(QuestionList.Selected)
    def _selected(self) -> None:
        detail = self.query_one("#detail", QuestionDetail)
        detail.focus()
        if self.has_class("-narrow"):
            self.maximize(detail)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            self.query_one(QuestionList).focus()
        else:
            detail = self.query_one("#detail", QuestionDetail)
            detail.focus()
            self.maximize(detail)

    def action_back(self) -> None:
        if self.chart.asking:
            self.chart.cancel()
            self.notify("Ask cancelled.", timeout=3)
        elif self.maximized is not None:
            self.minimize()
            self.query_one(QuestionList).focus()
        elif self.focused is not self.query_one(QuestionList):
            self.query_one(QuestionList).focus()

    @property
    def question(self) -> Question | None:
        """The highlighted question."""
        if self.position is None or not self.goqa.dataset_ready:
            return None
        return self.goqa.dataset.at(self.position)

    def _show(self, position: int | None) -> None:
        self.position = position
        q = self.question
        detail = self.query_one("#detail", QuestionDetail)
        text = self.query_one("#question-text", Static)
        if q is None:
            detail.border_title = "Question"
            text.update("")
            self.chart.data = None
            return
        detail.border_title = (
            f"Question {q.id} · {q.source} · {len(q.countries)} "
            f"{'country' if len(q.countries) == 1 else 'countries'}"
        )
        self._show_text(q)
        detail.scroll_home(animate=False)
        self._refresh_chart()
        self._look_up_cached()

    def _show_text(self, q: Question) -> None:
        """The question as the model is asked it: under ``language:`` the translation (with
        the English below), when one is stored or bundled."""
        condition = self.goqa.condition
        shown = Text(q.text.strip())
        if condition.kind == "language":
            if self._translations_for != condition.value:
                self._translations_for = condition.value
                self._read_translations(condition.value)
            language, texts = self._translations
            text = texts.get(q.key) if language == condition.value else None
            if text:
                shown = Text.assemble(text.strip(), "\n\n", (q.text.strip(), "dim"))
        self.query_one("#question-text", Static).update(shown)

    @work(thread=True, exclusive=True, group="translations", exit_on_error=False)
    def _read_translations(self, language: str) -> None:
        """Question key -> translated text for ``language``, as asking would use it
        (:func:`core.translate.translation_table`); read once per language, not on every
        move through the list, and in a thread: it is a query of the store."""
        store, _ = available_store(self.goqa, session=True)
        table = translation_table(language, store)
        texts = {key: question for key, (question, _) in table.items()}
        self.post_message(self.TranslationsRead(language, texts))

    @on(TranslationsRead)
    def _translations_read(self, event: TranslationsRead) -> None:
        condition = self.goqa.condition
        if condition.kind != "language" or condition.value != event.language:
            return
        self._translations = (event.language, event.texts)
        if (q := self.question) is not None:
            self._show_text(q)

    # ------------------------------------------------------------------ asking

    @property
    def estimators(self) -> tuple[EstimatorSpec, ...]:
        """The estimators the chart shows, the configured one first."""
        return estimator_specs(self.goqa.config, self.every_estimator)

    def _ask_key(self, q: Question, spec: EstimatorSpec | None = None) -> AskKey:
        app = self.goqa
        estimator = spec if spec is not None else app.config.estimator_spec()
        return AskKey(q.key, app.backend_name, app.condition, app.template, estimator)

    def _context_changed(self) -> None:
        self._translations_for = None  # read again: translations may have been added
        self._update_ask_bar()
        if (q := self.question) is not None:
            self._show_text(q)
        self._refresh_chart()
        self._look_up_cached()

    def _update_ask_bar(self) -> None:
        app = self.goqa
        labels = {
            "#condition-button": f"Condition: {condition_label(app.condition)}",
            "#backend-button": f"Backend: {app.backend_name}",
        }
        for selector, label in labels.items():
            button = self.query_one(selector, Button)
            button.label = label
            # An auto-width button keeps its first width; size it to the new label so a
            # longer condition does not wrap out of the one-line bar.
            button.styles.width = len(label) + 2

    @on(Button.Pressed, "#condition-button")
    def _condition_pressed(self) -> None:
        self.goqa.action_choose_condition()

    @on(Button.Pressed, "#backend-button")
    def _backend_pressed(self) -> None:
        self.goqa.action_choose_backend()

    @on(Button.Pressed, "#ask")
    def action_ask(self) -> None:
        """Ask the model the highlighted question under the app's condition, under each
        estimator the chart shows."""
        q = self.question
        if q is None:
            self.notify("Select a question first.", severity="warning", timeout=4)
            return
        for spec in self.estimators:
            self._ask(q, spec)
        self._refresh_chart()

    def _ask(self, q: Question, spec: EstimatorSpec) -> None:
        key = self._ask_key(q, spec)
        self.chart.ask(key, lambda: self._request(q, key), spec)

    def action_toggle_estimators(self) -> None:
        """Show all five estimators, or the configured one alone. Shown all at once for a
        question already asked, the estimators not asked yet are asked."""
        self.every_estimator = not self.every_estimator

    def watch_every_estimator(self, every: bool) -> None:
        q = self.question
        if every and q is not None:
            primary = self.chart.states.get(self._ask_key(q))
            if primary is not None and (primary.pending or primary.answer or primary.error):
                for spec in self.estimators[1:]:
                    state = self.chart.states.get(self._ask_key(q, spec))
                    if state is None or not (state.pending or state.answer is not None):
                        self._ask(q, spec)
        self._refresh_chart()

    def _request(self, q: Question, key: AskKey) -> AskRequest:
        return ask_request(self.goqa, q, key.condition, key.template, key.backend)

    @on(AskChart.PartialAnswerReceived)
    @on(AskChart.AnswerReceived)
    @on(AskChart.CachedAnswerFound)
    def _answer_arrived(
        self,
        event: AskChart.PartialAnswerReceived
        | AskChart.AnswerReceived
        | AskChart.CachedAnswerFound,
    ) -> None:
        if isinstance(event.key, AskKey):
            self._refresh_chart(event.key)

    @on(AskChart.AskEnded)
    def _ask_ended(self, event: AskChart.AskEnded) -> None:
        """An ask failed (the reason stays in the chart until asked again) or was cancelled."""
        if event.error is not None:
            self.goqa.show_error(event.error)
        if isinstance(event.key, AskKey):
            self._refresh_chart(event.key)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        self.goqa.report_worker(event)

    def _look_up_cached(self) -> None:
        """Show an answer the store already holds (from the CLI or an earlier ask)."""
        q = self.question
        if q is None:
            return
        key = self._ask_key(q)
        if key.estimator.name != "first-token" or key in self.chart.states:
            return  # only first-token answers are looked up without asking
        try:
            request = self._request(q, key)
        except Exception:  # e.g. an unknown backend: asking will say so
            return
        self.chart.look_up(key, request)

    # ------------------------------------------------------------------ chart

    def _condition_country(self) -> str | None:
        condition = self.goqa.condition
        return condition.value if condition.kind == "country" else None

    def _refresh_chart(self, only: AskKey | None = None) -> None:
        q = self.question
        if q is None:
            return
        specs = self.estimators
        keys = [self._ask_key(q, spec) for spec in specs]
        if only is not None and only not in keys:
            return
        key = keys[0]
        app = self.goqa
        state = self.chart.states.get(key)
        answer = state.answer if state else None
        pending = bool(state and state.pending)
        error = state.error if state and not pending else ""
        model = answer.probs if answer is not None and float(answer.probs.sum()) > 0 else None
        self.compared = comparison.choose(
            q,
            model,
            "drop" if app.policy == "drop" else "keep",
            self._condition_country(),
            self.pinned,
            self.hidden,
        )
        nonsubstantive = (
            " · non-substantive options left out of the similarity"
            if app.policy == "drop" and bool(q.nonsubstantive.any())
            else ""
        )
        where = f"{key.backend} · {condition_label(key.condition)}"
        if len(specs) > 1:
            asked = any(k in self.chart.states for k in keys)
            again = " again" if asked else ""
            caption = estimators_caption(
                [EstimatorRow(k, k.estimator) for k in keys],
                self.chart.states,
                again=f"a asks {key.backend}{again} ({condition_label(key.condition)}) "
                f"· E: {specs[0].name} alone",
            )
            self.chart.draw_estimators(
                q,
                [EstimatorRow(k, k.estimator) for k in keys],
                self.compared,
                caption=caption + nonsubstantive,
                asking=f"asking {key.backend}…",
            )
            self.query_one(
                "#detail", QuestionDetail
            ).border_subtitle = f"{len(specs)} estimators · {where}"
            return
        cfg = app.config.backends.get(key.backend)
        total = cfg.samples if cfg is not None else 0
        caption = describe_answer(answer, pending, bool(state and state.cached), total)
        if answer is None and not pending:
            again = " again" if error else ""
            caption = (
                f"Human answers only · a asks {key.backend}{again} "
                f"({condition_label(key.condition)}, {key.estimator.name}) · E: all 5 estimators"
            )
        self.chart.draw(
            q,
            key,
            self.compared,
            model_tag=where,
            caption=caption + nonsubstantive,
            asking=f"asking {key.backend}…",
        )
        self.query_one(
            "#detail", QuestionDetail
        ).border_subtitle = f"estimator {key.estimator.label}"

    def _shown_countries(self) -> list[str]:
        return [c.key for c in self.compared] if self.question is not None else []

    @on(Button.Pressed, "#add-country")
    def action_add_country(self) -> None:
        q = self.question
        if q is None:
            return
        shown = set(self._shown_countries())
        choices = [k for k in q.countries if k not in shown]
        if not choices:
            self.notify("Every country of this question is already in the chart.", timeout=4)
            return
        self.app.push_screen(
            CountryPicker(choices, title="Add a country to the chart"), self._add_country
        )

    def _add_country(self, key: str | None) -> None:
        if key:
            self.hidden.discard(key)
            if key not in self.pinned:
                self.pinned.append(key)
            self._refresh_chart()

    @on(Button.Pressed, "#remove-country")
    def action_remove_country(self) -> None:
        shown = self._shown_countries()
        if not shown:
            return
        items = [(countries.resolve(k).label, k) for k in shown]
        self.app.push_screen(
            Picker("Remove a country from the chart", items, search=len(items) > 8),
            self._remove_country,
        )

    def _remove_country(self, key: str | None) -> None:
        if key:
            self.hidden.add(key)
            if key in self.pinned:
                self.pinned.remove(key)
            self._refresh_chart()

    def action_reset_countries(self) -> None:
        self.pinned.clear()
        self.hidden.clear()
        self._refresh_chart()
