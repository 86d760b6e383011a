"""Presentation mode: one question at a time, asked live, its answer filling the screen.

The screen steps through a chosen list of questions on a timer (counted from the moment an
answer is complete, so the audience always gets the full interval to read) or on a key. Each
question is asked under the current condition by the chart, an
:class:`~tui.widgets.ask_chart.AskChart` (as in Browse: through the response cache, with the
app's store and backend); a sampling backend's partial estimates redraw the bars sample by
sample. The condition cycles through ``default`` and the ``country:``/``language:`` conditions
the user has configured or used recently. A suspect answer carries its reason under the
chart; a failed ask shows why in place of the model's bars. Without a results store the
demo still runs, without the response cache.

``E`` shows the configured estimator alone or all five (:mod:`core.estimators`), as in
Browse: each question is then asked under all five at once, each drawn as it lands, and the
timer waits until every one has answered or failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from core import compared as comparison
from core.backends.base import Answer
from core.estimators import EstimatorSpec
from core.metrics import Policy
from core.prompts import Condition
from tui.contract import GoqaContract, available_store, leave
from tui.widgets.ask_chart import (
    AskChart,
    AskState,
    EstimatorRow,
    ask_request,
    estimator_specs,
    estimators_caption,
)

DemoKey = tuple[int, Condition, EstimatorSpec]
"""What an answer on screen is kept under: the question's position, condition, estimator."""

MAX_RECENT = 6
"""How many recently used ``country:`` and ``language:`` conditions join the cycle (each)."""


def condition_cycle(
    start: Condition, extra: Sequence[Condition], recent: Sequence[str]
) -> list[Condition]:
    """The conditions the ``c`` key cycles through: default, then countries, then languages.

    Args:
        start: the condition the demo starts under (always included).
        extra: other conditions to include (the app's current one).
        recent: condition strings of stored runs, most recent first.
    """
    seen: dict[str, Condition] = {}
    for cond in [Condition("default"), start, *extra]:
        seen.setdefault(str(cond), cond)
    per_kind = {"country": 0, "language": 0}
    for text in recent:
        try:
            cond = Condition.parse(text)
        except ValueError:
            continue
        if cond.kind in per_kind and str(cond) not in seen and per_kind[cond.kind] < MAX_RECENT:
            per_kind[cond.kind] += 1
            seen[str(cond)] = cond
    order = {"default": 0, "country": 1, "language": 2}
    return sorted(seen.values(), key=lambda c: order.get(c.kind, 3))


class DemoScreen(Screen[None]):
    """Step through questions, asking the model live; made to be shown to an audience."""

    SUB_TITLE = "Demo"

    BINDINGS = [
        Binding(
            "space",
            "toggle_pause",
            "Pause/resume",
            id="demo.pause",
            tooltip="Stop or restart the timer",
        ),
        Binding("right,n", "next", "Next", id="demo.next", tooltip="The next question"),
        Binding("left,p", "previous", "Back", id="demo.previous", tooltip="The previous question"),
        Binding(
            "c",
            "cycle_condition",
            "Condition",
            id="demo.condition",
            tooltip="Ask under the next condition: default, country:…, language:…",
        ),
        Binding(
            "E",
            "toggle_estimators",
            "Estimators",
            id="demo.estimators",
            tooltip="Ask the configured estimator alone, or all five side by side",
        ),
        Binding(
            "r",
            "reask",
            "Ask again",
            show=False,
            id="demo.reask",
            tooltip="Ask the current question again (from the cache if it was asked)",
        ),
        Binding("escape", "leave", "Leave", id="demo.leave", tooltip="Leave presentation mode"),
    ]

    index: reactive[int] = reactive(0, init=False)
    """Which of the chosen questions is on screen."""
    paused: reactive[bool] = reactive(False, init=False)
    """True while the timer is stopped."""
    interval: reactive[float] = reactive(8.0, init=False)
    """Seconds a complete answer stays on screen before the next question."""
    condition: reactive[Condition] = reactive(Condition("default"), init=False)
    """The condition the questions are asked under."""
    every_estimator: reactive[bool] = reactive(False, init=False)
    """Each question is asked under all five estimators (else the configured one)."""

    def __init__(self, positions: list[int], condition: Condition, interval: float = 8.0) -> None:
        """Create the screen.

        Args:
            positions: dataset positions of the questions to show, in order.
            condition: the condition to start under.
            interval: seconds each complete answer stays before the next question.
        """
        super().__init__()
        self.positions = list(positions)
        self._start_condition = condition
        self.set_reactive(DemoScreen.interval, max(0.05, float(interval)))
        self.set_reactive(DemoScreen.condition, condition)
        self.conditions: list[Condition] = [condition]
        self.partial_updates = 0
        """Partial estimates drawn so far (a sampling backend sends one per sample)."""
        self._keys: tuple[DemoKey, ...] = ()
        """What the question on screen is asked as, one key per estimator shown (the
        configured estimator first)."""
        self._timer: Timer | None = None

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    @property
    def chart(self) -> AskChart:
        """The chart, which asks the model."""
        return self.query_one("#demo-chart", AskChart)

    @property
    def _key(self) -> DemoKey | None:
        """The configured estimator's key for the question on screen."""
        return self._keys[0] if self._keys else None

    @property
    def estimators(self) -> tuple[EstimatorSpec, ...]:
        """The estimators each question is asked under, the configured one first."""
        return estimator_specs(self.goqa.config, self.every_estimator)

    @property
    def _state(self) -> AskState | None:
        return self.chart.states.get(self._key) if self._key is not None else None

    @property
    def answer(self) -> Answer | None:
        """The complete answer to the question on screen (None while it is being asked)."""
        state = self._state
        return state.answer if state is not None and not state.pending else None

    @property
    def cached(self) -> bool:
        """The answer on screen came from the response cache."""
        state = self._state
        return state is not None and state.cached

    @property
    def error(self) -> str:
        """Why the question on screen could not be asked ("" when it could)."""
        state = self._state
        return state.error if state is not None else ""

    @property
    def _loading(self) -> bool:
        """Some estimator shown is still being asked."""
        return any(
            (state := self.chart.states.get(key)) is not None and state.pending
            for key in self._keys
        )

    @property
    def position(self) -> int | None:
        """The dataset position of the question on screen (None with an empty list)."""
        return self.positions[self.index] if self.positions else None

    def compose(self) -> ComposeResult:
        yield Static("", id="demo-status")
        yield Static("", id="demo-question")
        with VerticalScroll(id="demo-chart-scroll"):
            yield AskChart(id="demo-chart")
        yield Static("", id="demo-closest")
        yield Footer()

    def on_mount(self) -> None:
        store, _ = available_store(self.goqa, session=True)
        try:
            recent = [r.manifest.condition for r in reversed(store.runs())] if store else []
        except Exception:  # the cycle still has the start and default conditions
            recent = []
        self.conditions = condition_cycle(self._start_condition, [self.goqa.condition], recent)
        self._timer = self.set_interval(self.interval, self._tick, pause=self.paused)
        if not self.positions:
            self.query_one("#demo-question", Static).update(
                "No question to show: choose some on the browse screen first."
            )
            self._update_status()
            return
        self._show_question()

    # ------------------------------------------------------------------ stepping

    def _tick(self) -> None:
        if self._loading or self.paused or not self.positions:
            return
        self.index = (self.index + 1) % len(self.positions)

    def action_next(self) -> None:
        if self.positions:
            self.index = (self.index + 1) % len(self.positions)

    def action_previous(self) -> None:
        if self.positions:
            self.index = (self.index - 1) % len(self.positions)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def action_cycle_condition(self) -> None:
        names = [str(c) for c in self.conditions]
        current = str(self.condition)
        nxt = (names.index(current) + 1) % len(names) if current in names else 0
        self.condition = self.conditions[nxt]

    def action_reask(self) -> None:
        self._show_question()

    def action_toggle_estimators(self) -> None:
        self.every_estimator = not self.every_estimator

    def watch_every_estimator(self) -> None:
        self._show_question()

    def action_leave(self) -> None:
        self.chart.cancel()
        self.paused = True
        leave(self)

    def watch_index(self) -> None:
        self._show_question()

    def watch_condition(self) -> None:
        self._show_question()

    def watch_paused(self, paused: bool) -> None:
        if self._timer is not None:
            if paused:
                self._timer.pause()
            else:
                self._timer.reset()
                self._timer.resume()
        self._update_status()

    def watch_interval(self, interval: float) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = self.set_interval(max(0.05, interval), self._tick, pause=self.paused)
        self._update_status()

    # ------------------------------------------------------------------ asking

    def _show_question(self) -> None:
        position = self.position
        if position is None:
            return
        app = self.goqa
        question = app.dataset.at(position)
        condition, template = self.condition, app.template
        self._keys = tuple((position, condition, spec) for spec in self.estimators)
        self.query_one("#demo-question", Static).update(
            Text.assemble(
                (f"#{question.id} · {question.source}\n", "dim"),
                question.text,
            )
        )
        self.query_one("#demo-closest", Static).update("asking…")
        for key in self._keys:
            self.chart.ask(key, lambda: ask_request(app, question, condition, template), key[2])
        self._draw()
        self._update_status()
        if self._timer is not None:
            self._timer.reset()

    @on(AskChart.PartialAnswerReceived)
    def _partial(self, event: AskChart.PartialAnswerReceived) -> None:
        if event.key in self._keys:
            self.partial_updates += 1
            self._draw()

    @on(AskChart.AnswerReceived)
    def _answered(self, event: AskChart.AnswerReceived) -> None:
        if event.key not in self._keys:
            return
        self._draw()
        self._update_status()
        if self._timer is not None and not self._loading:
            # The audience gets the whole interval with the finished answer.
            self._timer.reset()

    @on(AskChart.AskEnded)
    def _ask_ended(self, event: AskChart.AskEnded) -> None:
        if event.error is None or not self.is_attached:
            return
        if event.key in self._keys and len(self._keys) > 1:
            self._draw()  # one estimator failed: it says why in its rows, the others go on
            self._update_status()
        elif event.key == self._key:
            # Stop the timer: the next question would most likely fail the same way.
            self.paused = True
            self._draw()
            self.query_one("#demo-closest", Static).update(
                Text(
                    f"could not ask: {self.error}\nPaused: c changes the condition, space resumes.",
                    style="bold",
                )
            )
            self._update_status()
        self.goqa.show_error(event.error)

    # ------------------------------------------------------------------ drawing

    def _chart_countries(self, position: int) -> int:
        """How many countries fit beside the model at this height (at most 3)."""
        n_options = int(self.goqa.dataset.n_options[position])
        height = self.query_one("#demo-chart-scroll").size.height or 24
        for n in (3, 2, 1):
            series = n + 2  # the model, n closest and the conditioned country
            # A legend line per series (at most), a gap, the option groups and the caption.
            if series + 1 + n_options * (1 + series) + 1 <= height:
                return n
        return 1

    def _draw(self) -> None:
        if not self.is_attached or self.position is None or self._key is None:
            return
        app = self.goqa
        question = app.dataset.at(self.position)
        state = self._state
        answer = state.answer if state is not None else None
        cond_country = self.condition.value if self.condition.kind == "country" else None
        policy: Policy = "drop" if app.policy == "drop" else "keep"
        several = len(self._keys) > 1
        compared = comparison.choose(
            question,
            answer.probs if answer is not None else None,
            policy,
            cond_country,
            n=1 if several else self._chart_countries(self.position),
        )
        if several:
            rows = [EstimatorRow(key, key[2]) for key in self._keys]
            self.chart.draw_estimators(
                question,
                rows,
                compared,
                caption=estimators_caption(
                    rows, self.chart.states, again=f"E: {self._keys[0][2].name} alone"
                ),
                asking=f"asking {app.backend_name}…",
            )
        else:
            self.chart.draw(
                question,
                self._key,
                compared,
                model_tag=str(self.condition) if self.condition.kind != "default" else "",
                caption=_caption(answer, partial=self._loading, cached=self.cached),
                asking=f"asking {app.backend_name}…",
            )
        closest = [c for c in compared if c.similarity is not None and not c.conditioned]
        if closest:
            best = max(closest, key=lambda c: c.similarity or 0.0)
            self.query_one("#demo-closest", Static).update(
                Text(f"Most alike on this question: {best.label} ({best.similarity:.2f})")
            )

    def _update_status(self) -> None:
        if not self.is_attached:
            return
        total = len(self.positions)
        step = f"{self.index + 1}/{total}" if total else "0/0"
        timer = "⏸ paused" if self.paused else f"⏵ every {self.interval:g}s"
        model = self.goqa.backend_name
        shown = self.estimators
        estimators = shown[0].name if len(shown) == 1 else f"{len(shown)} estimators"
        state = "asking…" if self._loading else ("cached" if self.cached else "live")
        if self.error:
            state = "not answered"
        elif answer := self.answer:
            state += " · ⚠ suspect" if answer.suspect else ""
        self.query_one("#demo-status", Static).update(
            Text(f"{step} · {self.condition} · {model} · {estimators} · {state} · {timer}")
        )


def _caption(answer: Answer | None, partial: bool, cached: bool) -> str:
    """The line under the demo's chart: how the answer was estimated, and from where."""
    if answer is None:
        return ""
    if answer.estimator == "sampling":
        so_far = f" {answer.samples} samples so far" if answer.samples else ""
        caption = f"sampling…{so_far}" if partial else f"sampling · {answer.samples} samples"
    else:
        caption = answer.estimator
    if answer.method != "first-token":
        caption = f"{answer.method} · {caption}"
    if answer.off_option_mass > 0.005:
        caption += f" · off-option mass {answer.off_option_mass:.0%}"
    if not partial and cached:
        caption += " · from the cache"
    return caption
