"""The paper's three experiments as presets: default, cross-national and linguistic prompting.

An experiment is a set of named runs (made or resumed through :func:`core.runner.run`, so the
response cache and resumption apply) and a summary that answers the paper's questions: under
``country:X``, did the model move toward X? Under ``language:L``, toward the people who mostly
speak L?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core import countries, languages, metrics
from core.dataset import Dataset
from core.prompts import Condition

KINDS = ("default", "cross-national", "linguistic")
PAPER_COUNTRIES = ("China", "Russia", "Turkey")
PAPER_LANGUAGES = ("ru", "zh", "tr")


def run_name(prefix: str, condition: Condition) -> str:
    """The run name an experiment uses for one condition (stable, so reruns resume)."""
    return f"{prefix}-{str(condition).replace(':', '-').replace(' ', '_')}"


def conditions(kind: str, targets: Sequence[str] = ()) -> list[Condition]:
    """The conditions an experiment needs: always ``default`` first (the reference), then one
    per target country or language.

    Raises:
        ValueError: unknown experiment kind.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown experiment {kind!r}: choose one of {', '.join(KINDS)}.")
    out = [Condition("default")]
    if kind == "cross-national":
        out += [Condition("country", t) for t in (targets or PAPER_COUNTRIES)]
    elif kind == "linguistic":
        out += [Condition("language", t) for t in (targets or PAPER_LANGUAGES)]
    return out


@dataclass(frozen=True)
class Movement:
    """How one country's score changed from the default run to a conditioned run."""

    country: str
    display: str
    score_default: float
    score_conditioned: float
    rank_default: int
    rank_conditioned: int

    @property
    def delta(self) -> float:
        return self.score_conditioned - self.score_default


@dataclass(frozen=True)
class TargetSummary:
    """Did the conditioned run move toward its target population?

    ``targets`` are the countries the condition aims at (one for ``country:X``; the speakers'
    countries for ``language:L``) that the dataset scores; ``moved_most`` the countries whose
    scores rose most.
    """

    condition: str
    targets: tuple[Movement, ...]
    moved_most: tuple[Movement, ...]
    n_countries: int

    @property
    def moved_toward(self) -> bool:
        return bool(self.targets) and all(
            m.delta > 0 and m.rank_conditioned <= m.rank_default for m in self.targets
        )


def _ranks(scores: metrics.Scores) -> dict[str, tuple[int, float]]:
    return {c.country: (i + 1, c.similarity) for i, c in enumerate(scores.countries)}


def target_keys(dataset: Dataset, condition: Condition) -> list[str]:
    """Dataset country keys a condition targets (national samples preferred)."""
    if condition.kind == "country":
        return [countries.match(condition.value, dataset.countries).key]
    if condition.kind == "language":
        codes = set(languages.speaker_countries(condition.value))
        found: dict[str, countries.Country] = {}
        rank = {"national": 0, "current national": 1, "old national": 2, "non-national": 3}
        for key in dataset.countries:
            c = countries.resolve(key)
            if c.iso2 in codes:
                best = found.get(c.iso2)
                if best is None or rank.get(c.sample, 9) < rank.get(best.sample, 9):
                    found[c.iso2] = c
        return sorted(c.key for c in found.values())
    return []


def summarise(
    dataset: Dataset,
    condition: Condition,
    default: metrics.Scores,
    conditioned: metrics.Scores,
    top: int = 5,
) -> TargetSummary:
    """Compare a conditioned run's scores with the default run's (countries scored in both)."""
    rd, rc = _ranks(default), _ranks(conditioned)
    moves = []
    for key in rd.keys() & rc.keys():
        moves.append(
            Movement(
                country=key,
                display=countries.resolve(key).label,
                score_default=rd[key][1],
                score_conditioned=rc[key][1],
                rank_default=rd[key][0],
                rank_conditioned=rc[key][0],
            )
        )
    by_key = {m.country: m for m in moves}
    targets = tuple(by_key[k] for k in target_keys(dataset, condition) if k in by_key)
    moved = tuple(sorted(moves, key=lambda m: (-m.delta, m.country))[:top])
    return TargetSummary(str(condition), targets, moved, len(moves))
