"""A searchable modal to pick one country key of the dataset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text

from core import countries
from tui.widgets.pickers import Picker

ANY = ""
"""The value returned for the "any country" entry."""


def _names(key: str) -> tuple[str, ...]:
    c = countries.resolve(key)
    return tuple(n.lower() for n in (c.display, c.label, c.key, c.iso2 or "") if n)


def rank_country(query: str, names: tuple[str, ...]) -> int | None:
    """0: the ISO code or a name is the query; 1: a name starts with it; 2: a word of a
    name starts with it; 3: a name contains it; None: no match."""
    if query in names:
        return 0
    if any(n.startswith(query) for n in names):
        return 1
    if any(w.startswith(query) for n in names for w in n.replace("(", " ").split()):
        return 2
    return 3 if any(query in n for n in names) else None


class CountryPicker(Picker[str]):
    """Pick a raw country key; matches the key, the display name or the ISO code.

    Dismisses with the key, :data:`ANY` for the optional "any country" entry, or None.
    """

    def __init__(
        self,
        keys: Sequence[str],
        *,
        title: str = "Choose a country",
        current: str | None = None,
        allow_any: bool = False,
        counts: Mapping[str, int] | None = None,
        count_label: str = "questions",
        hint: str = "Type a name or an ISO code · Enter chooses · Esc closes",
    ) -> None:
        """Build the picker.

        Args:
            keys: the raw country keys to offer.
            current: the key to highlight first.
            allow_any: add an "Any country" entry first (value :data:`ANY`).
            counts: a number to show beside each key (e.g. questions it answered).
            count_label: what the number counts.
        """
        ordered = sorted(keys, key=lambda k: (countries.resolve(k).label.lower(), k))
        items: list[tuple[str | Text, str]] = []
        names: list[tuple[str, ...]] = []
        if allow_any:
            items.append((Text("Any country", style="italic"), ANY))
            names.append(("any country", "all"))
        for key in ordered:
            c = countries.resolve(key)
            label = Text(c.label)
            if c.label != key:
                label.append(f"  {key}", style="dim")
            if counts is not None and key in counts:
                label.append(f"  {counts[key]} {count_label}", style="dim")
            items.append((label, key))
            names.append(_names(key))
        super().__init__(
            title,
            items,
            placeholder="Country name or code",
            current=current,
            hint=hint,
            rank=lambda query, i: rank_country(query, names[i]),
        )
