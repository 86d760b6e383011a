"""One run's scores on the world map, with a caption above and a detail line below.

:class:`RunMap` owns the map of a loaded run (:class:`core.runs.LoadedRun`): what it draws
(one sample per country, the national one preferred, as :mod:`core.worldmap` chooses), where
the crosshair is, and the detail line about the country under it: its score, bootstrap
interval, uniform score and the best other country's people, once the run's statistics are
in. The board beside it tells it which country it is on with :meth:`RunMap.follow`.

The colours follow the run's metric (:attr:`core.runs.LoadedRun.metric`) so that the full
colour is always the closer end: for a divergence (``kl``, lower is better) the scale is
reversed, and the legend names the metric and which end is closer.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from core import countries, worldmap
from core.metrics import HIGHER_IS_BETTER
from core.runs import LoadedRun

from .metric_label import unit, with_unit
from .worldmap import WorldMap


class RunMap(Vertical):
    """A caption, the :class:`~tui.widgets.worldmap.WorldMap` of a run and a detail line."""

    def __init__(
        self,
        *,
        map_id: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty map.

        Args:
            map_id: the id of the inner :class:`WorldMap` (its caption and detail lines get
                ``<map_id>-caption`` and ``<map_id>-detail``).
        """
        super().__init__(name=name, id=id, classes=classes)
        self._map_id = map_id
        self._run: LoadedRun | None = None
        self._map_keys: dict[str, str] = {}
        self._board_key: str | None = None

    def compose(self) -> ComposeResult:
        base = self._map_id
        yield Static("", id=f"{base}-caption" if base else None, classes="run-map-caption")
        yield WorldMap(id=base)
        yield Static("", id=f"{base}-detail" if base else None, classes="run-map-detail")

    @property
    def world(self) -> WorldMap:
        return self.query_one(WorldMap)

    def show_run(self, run: LoadedRun) -> None:
        """Draw ``run``'s scores (one sample per country, national preferred)."""
        self._run = run
        self._map_keys = worldmap.keys_from_scores(run.scores.countries)
        world = self.world
        metric = run.metric
        world.higher_is_better = HIGHER_IS_BETTER[metric]
        world.legend_label = f"{metric} {unit(metric)}".strip()
        world.values = worldmap.values_from_scores(run.scores.countries)
        self.query_one(".run-map-caption", Static).update(
            Text(
                f"{run.name}: {world.legend_label} by country (a country sampled twice shows "
                "its national sample) · arrows or the mouse pick a country · w hides the map"
            )
        )
        self._update_detail()

    def show_statistics(self, run: LoadedRun) -> None:
        """``run`` again, with its statistics: the detail line gains the interval."""
        self._run = run
        self._update_detail()

    def clear(self) -> None:
        """Draw no run."""
        self._run = None
        self._map_keys = {}
        self.world.values = {}
        self._update_detail()

    def follow(self, key: str | None) -> None:
        """Put the crosshair on country ``key`` (a raw dataset key; None leaves it)."""
        self._board_key = key
        if key is not None:
            self.world.show_country(countries.resolve(key).iso2)
        self._update_detail()

    @on(WorldMap.CountryHovered)
    def _hovered(self, event: WorldMap.CountryHovered) -> None:
        self._update_detail()

    def _detail_key(self) -> str | None:
        """The raw key the detail line is about: the followed country when the crosshair is
        on it, else the sample the map draws for the hovered country."""
        iso2 = self.world.hovered()
        if iso2 is None:
            return None
        key = self._board_key
        if key is not None and countries.resolve(key).iso2 == iso2:
            return key
        return self._map_keys.get(iso2)

    @property
    def detail(self) -> str:
        """The detail line as shown ("" when the crosshair is on no scored country)."""
        key = self._detail_key()
        run = self._run
        score = run.scores.get(key) if run is not None and key else None
        if key is None or score is None:
            return ""
        drawn = self._map_keys.get(countries.resolve(key).iso2 or "")
        assert run is not None  # a score was found in it
        head = f"{score.display}:"
        if key != drawn:  # else the map's own line above already gives the score and n
            shown = with_unit(run.metric, score.similarity)
            head = f"{score.display}: {shown} (n = {score.n_questions}) ·"
        parts = []
        statistics = run.statistics if run is not None else None
        if statistics is not None:
            interval = statistics.intervals.get(key)
            if interval is not None:
                parts.append(f"95% CI {interval.ci_low:.3f}–{interval.ci_high:.3f}")
            base = statistics.baselines.get(key)
            if base is not None:
                parts.append(f"uniform {base.uniform:.3f}")
                if base.best_other_display and base.best_other_similarity is not None:
                    parts.append(
                        f"best other: {base.best_other_display}'s people "
                        f"{base.best_other_similarity:.3f} ({base.best_other_n_shared} shared)"
                    )
        else:
            parts.append("95% CI: computing…")
        return f"{head} {' · '.join(parts)}"

    def _update_detail(self) -> None:
        self.query_one(".run-map-detail", Static).update(Text(self.detail))
