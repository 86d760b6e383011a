"""The countries screen: whose people answer most like a chosen country's people.

For the chosen country, every other country gets the mean human-to-human similarity
(:func:`core.metrics.human_similarity`, ``1 - JSD`` on the questions both answered) with the
number of shared questions. This is the yardstick for a model's scores: if a model
conditioned on Russia scores 0.85 with Belarus, that means more once you know that Russians
and Belarusians themselves agree to 0.93.
"""

from __future__ import annotations

from collections import Counter
from typing import cast

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from core import countries, metrics
from core.dataset import Dataset
from core.prompts import Condition
from tui.contract import GoqaContract, leave
from tui.widgets.leaderboard import Leaderboard, LeaderboardRow


def pick_default_country(
    dataset: Dataset, wanted: str | None, condition: Condition | None = None
) -> str:
    """The raw key to start with: ``wanted`` if it matches, else the condition's country,
    else the United States, else the first country.

    Raises:
        countries.UnknownCountryError: ``wanted`` is given and matches nothing.
    """
    if wanted:
        return countries.match(wanted, dataset.countries).key
    if condition is not None and condition.kind == "country":
        try:
            return countries.match(condition.value, dataset.countries).key
        except countries.UnknownCountryError:
            pass
    try:
        return countries.match("United States", dataset.countries).key
    except countries.UnknownCountryError:
        return dataset.countries[0]


class CountriesScreen(Screen[None]):
    """Pick a country; see the countries whose people answer most like it."""

    SUB_TITLE = "Countries"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding(
            "p", "pick", "Pick country", id="countries.pick", tooltip="Search the country list"
        ),
        Binding(
            "f",
            "toggle_scope",
            "All/selected questions",
            id="countries.scope",
            tooltip="Use all questions or only the current selection",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            id="countries.back",
            tooltip="Back to the list, or leave the screen",
        ),
    ]

    country: reactive[str | None] = reactive(None, init=False)
    """Raw dataset key of the chosen country."""
    selected_only: reactive[bool] = reactive(False, init=False)
    """Compare over the app's filtered questions only (else over all questions)."""

    def __init__(self, country: str | None = None) -> None:
        """Create the screen.

        Args:
            country: a country name, ISO code or raw key to start with (None: a default).
        """
        super().__init__()
        self._wanted = country
        self.scores: metrics.Scores | None = None

    @property
    def goqa(self) -> GoqaContract:
        return cast("GoqaContract", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="countries-picker"):
                yield Input(
                    placeholder="search countries",
                    id="countries-search",
                    tooltip="Type to filter; Enter or ↓ to go to the list",
                )
                yield OptionList(id="countries-list")
            with Vertical():
                yield Static("", id="countries-status")
                yield Leaderboard(
                    value_label="similarity",
                    n_label="shared",
                    show_search=False,
                    id="countries-board",
                )
        yield Footer()

    def on_mount(self) -> None:
        app = self.goqa
        self._fill_list("")
        try:
            start = pick_default_country(app.dataset, self._wanted, app.condition)
        except countries.UnknownCountryError as exc:
            app.show_error(exc)
            start = pick_default_country(app.dataset, None, None)
        self.country = start
        self.query_one("#countries-board", Leaderboard).focus_table()

    # ------------------------------------------------------------------ picker

    def _fill_list(self, needle: str) -> None:
        needle = needle.strip().lower()
        resolved = [countries.resolve(key) for key in self.goqa.dataset.countries]
        seen = Counter(c.label for c in resolved)
        options = []
        for c in sorted(resolved, key=lambda c: (c.label.lower(), c.key)):
            if (
                not needle
                or needle in c.label.lower()
                or needle in c.key.lower()
                or (c.iso2 or "").lower() == needle
            ):
                # Two spellings of one country (GAS and WVS) are told apart by the raw key.
                label = Text(c.label, no_wrap=True, overflow="ellipsis")
                if seen[c.label] > 1:
                    label.append(f" · {c.key}", style="dim")
                options.append(Option(label, id=c.key))
        picker = self.query_one("#countries-list", OptionList)
        picker.set_options(options)
        if self.country is not None:
            try:
                picker.highlighted = picker.get_option_index(self.country)
            except Exception:
                picker.highlighted = 0 if options else None

    @on(Input.Changed, "#countries-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._fill_list(event.value)

    @on(Input.Submitted, "#countries-search")
    def _search_submitted(self) -> None:
        picker = self.query_one("#countries-list", OptionList)
        if picker.option_count == 1:
            option = picker.get_option_at_index(0)
            if option.id:
                self.country = option.id
                self.query_one("#countries-board", Leaderboard).focus_table()
                return
        picker.focus()
        if picker.highlighted is None and picker.option_count:
            picker.highlighted = 0

    @on(OptionList.OptionSelected, "#countries-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.country = event.option.id
            self.query_one("#countries-board", Leaderboard).focus_table()

    @on(OptionList.OptionHighlighted, "#countries-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # Follow the cursor: the computation is vectorised and takes milliseconds.
        if event.option.id and event.option_list.has_focus:
            self.country = event.option.id

    @on(Leaderboard.CountrySelected)
    def _drill(self, event: Leaderboard.CountrySelected) -> None:
        self.country = event.country

    # ------------------------------------------------------------------ computing

    def watch_country(self) -> None:
        self._compute()

    def watch_selected_only(self) -> None:
        self._compute()

    def _compute(self) -> None:
        app = self.goqa
        key = self.country
        if key is None:
            return
        dataset = app.dataset
        positions = None
        if self.selected_only:
            positions = np.asarray(app.filtered_positions, dtype=np.int64)
        policy: metrics.Policy = "drop" if app.policy == "drop" else "keep"
        try:
            scores = metrics.human_similarity(dataset, key, policy, positions)
        except Exception as exc:
            app.show_error(exc)
            return
        self.scores = scores
        label = countries.resolve(key).label
        rows = [
            LeaderboardRow(c.country, c.display, c.similarity, c.n_questions)
            for c in scores.countries
        ]
        own = int(np.count_nonzero(dataset.pair_country == dataset.country_index[key]))
        scope = "the current selection" if self.selected_only else "all questions"
        top = ", ".join(f"{c.display} {c.similarity:.3f}" for c in scores.countries[:3])
        board = self.query_one("#countries-board", Leaderboard)
        board.set_rows(
            rows,
            keep_cursor=False,
            caption=(
                f"People in {label} answer most like: {top or 'no country shares a question'}"
            ),
        )
        self.query_one("#countries-status", Static).update(
            Text(  # a country key from a user's CSV is shown as written, never as markup
                f"{label}: {own} questions · over {scope} · policy {policy} · "
                "shared = questions both answered"
            )
        )
        picker = self.query_one("#countries-list", OptionList)
        try:
            index = picker.get_option_index(key)
        except Exception:
            return
        if picker.highlighted != index:
            with picker.prevent(OptionList.OptionHighlighted):
                picker.highlighted = index

    # ------------------------------------------------------------------ actions

    def action_pick(self) -> None:
        self.query_one("#countries-search", Input).focus()

    def action_toggle_scope(self) -> None:
        self.selected_only = not self.selected_only
        self.notify(
            "Comparing over the current selection of questions."
            if self.selected_only
            else "Comparing over all questions."
        )

    def action_back(self) -> None:
        board = self.query_one("#countries-board", Leaderboard)
        search = self.query_one("#countries-search", Input)
        if search.has_focus and search.value:
            search.value = ""
            return
        if not board.query_one("DataTable").has_focus:
            board.focus_table()
            return
        leave(self)
