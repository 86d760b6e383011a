"""The command palette (ctrl+p): jump to a question, switch condition, backend, theme,
view, metric."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.theme import Theme

from core import countries
from core.dataset import headline
from core.metrics import METRIC_INFO, METRIC_NAMES, POLICIES, MetricName
from core.prompts import TEMPLATE_NAMES, Condition
from tui.contract import CountryOpenRequested, GoqaContract, QuestionOpenRequested

MAX_QUESTION_HITS = 30


class ViewEntry(Protocol):
    """A view as the palette offers it."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def key(self) -> str: ...


class PaletteHost(GoqaContract, Protocol):
    """What the palette uses of the app: the screens' contract and the app's own actions.

    :class:`tui.app.GoqaApp` implements it (mypy checks that in ``tui/app.py``); this module
    does not import the app, which imports it.
    """

    theme: str
    metric: MetricName
    """The session's metric (:class:`tui.contract.MetricChoice`)."""

    @property
    def available_themes(self) -> dict[str, Theme]: ...

    @property
    def views(self) -> Sequence[ViewEntry]:
        """The top-level views, in key order."""
        ...

    def action_view(self, name: str) -> None: ...

    def action_help(self) -> None: ...

    def action_experiments(self) -> None: ...

    def ask_current(self) -> None: ...

    def choose_condition_country(self) -> None: ...

    def choose_condition_language(self) -> None: ...


class GoqaCommands(Provider):
    """goqa's commands; questions are matched by id or by words of their text.

    The palette belongs to the app (not to a screen): it uses :class:`PaletteHost`, and asks
    for navigation with the same messages screens post.
    """

    @property
    def goqa(self) -> PaletteHost:
        return cast("PaletteHost", self.app)

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.goqa
        for view in app.views:
            yield (
                f"Open {view.title.lower()}",
                partial(app.action_view, view.name),
                f"Key {view.key}",
            )
        yield "Help: tour of the keys", app.action_help, "Key ?"
        yield "Ask the current question", app.ask_current, "Key a in Browse"
        yield (
            "Experiments: default, cross-national, linguistic…",
            app.action_experiments,
            "Key e · the paper's experiments over the questions shown in Browse",
        )
        yield "Condition: default", partial(setattr, app, "condition", Condition("default")), ""
        yield "Condition: country…", app.choose_condition_country, "Pick a country"
        yield "Condition: language…", app.choose_condition_language, "Give a language code"
        for name in app.backend_names:
            yield f"Backend: {name}", partial(setattr, app, "backend_name", name), ""
        for theme in app.available_themes:
            yield f"Theme: {theme}", partial(setattr, app, "theme", theme), ""
        for template in TEMPLATE_NAMES:
            yield f"Template: {template}", partial(setattr, app, "template", template), ""
        for policy in POLICIES:
            yield (
                f"Non-substantive options: {policy}",
                partial(setattr, app, "policy", policy),
                "How DK/Refused options count in the similarity",
            )
        for metric in METRIC_NAMES:
            yield (
                f"Metric: {metric}",
                partial(setattr, app, "metric", metric),
                f"Results and Run leaderboards and map: {METRIC_INFO[metric]}",
            )

    def _country_commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.goqa
        if not app.dataset_ready:
            return
        seen: set[str] = set()
        for key in app.dataset.countries:
            c = countries.resolve(key)
            if c.display not in seen:
                seen.add(c.display)
                yield (
                    f"Condition: country {c.display}",
                    partial(setattr, app, "condition", Condition("country", c.display)),
                    "How would someone from this country answer",
                )
            yield (
                f"Country profile: {c.label}",
                partial(self.app.post_message, CountryOpenRequested(key)),
                f"Open {key} in the countries view",
            )

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            yield DiscoveryHit(text, callback, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in (*self._commands(), *self._country_commands()):
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text or None)
        for score, text, position in self._question_hits(query):
            yield Hit(
                score,
                text,
                partial(self.app.post_message, QuestionOpenRequested(position)),
                help="Show this question in Browse",
            )

    def _question_hits(self, query: str) -> list[tuple[float, str, int]]:
        app = self.goqa
        if not app.dataset_ready:
            return []
        data = app.dataset
        needle = query.strip().lower()
        if needle.startswith("q") and needle[1:].strip().isdigit():
            needle = needle[1:].strip()
        hits: list[tuple[float, str, int]] = []
        if needle.isdigit():
            for pos, qid in enumerate(data.ids):
                if str(qid).startswith(needle):
                    exact = str(qid) == needle
                    hits.append((1.0 if exact else 0.6, self._title(pos), pos))
                    if len(hits) >= MAX_QUESTION_HITS:
                        break
            return hits
        words = needle.split()
        if not words or len(needle) < 3:
            return []
        for pos, text in enumerate(data.texts):
            lowered = text.lower()
            if all(w in lowered for w in words):
                hits.append((0.5, self._title(pos), pos))
                if len(hits) >= MAX_QUESTION_HITS:
                    break
        return hits

    def _title(self, pos: int) -> str:
        data = self.goqa.dataset
        label = headline(data.texts[pos])
        return f"Question {data.ids[pos]} · {data.sources[pos]} · {label[:70]}"
