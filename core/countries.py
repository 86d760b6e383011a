"""Country keys of GlobalOpinionQA: one alias table from raw dataset keys to countries.

The dataset names countries as its two sources spelled them (``Britain`` and ``Great
Britain``, ``S. Korea`` and ``South Korea``) and qualifies some samples
(``India (Current national sample)``). Every raw key keeps working as it is; the table adds a
canonical display name, an ISO 3166-1 alpha-2 code and the sample qualifier. An unknown key
gets its own name and no code.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

# Base name as it appears in the dataset (qualifier removed) -> (display name, ISO code).
# Several spellings may share one code; Northern Ireland is deliberately its own entry.
_ALIASES: dict[str, tuple[str, str]] = {
    "Albania": ("Albania", "AL"),
    "Algeria": ("Algeria", "DZ"),
    "Andorra": ("Andorra", "AD"),
    "Angola": ("Angola", "AO"),
    "Argentina": ("Argentina", "AR"),
    "Armenia": ("Armenia", "AM"),
    "Australia": ("Australia", "AU"),
    "Austria": ("Austria", "AT"),
    "Azerbaijan": ("Azerbaijan", "AZ"),
    "Bangladesh": ("Bangladesh", "BD"),
    "Belarus": ("Belarus", "BY"),
    "Belgium": ("Belgium", "BE"),
    "Bolivia": ("Bolivia", "BO"),
    "Bosnia Herzegovina": ("Bosnia and Herzegovina", "BA"),
    "Bosnia and Herzegovina": ("Bosnia and Herzegovina", "BA"),
    "Brazil": ("Brazil", "BR"),
    "Britain": ("United Kingdom", "GB"),
    "Great Britain": ("United Kingdom", "GB"),
    "United Kingdom": ("United Kingdom", "GB"),
    "Bulgaria": ("Bulgaria", "BG"),
    "Burkina Faso": ("Burkina Faso", "BF"),
    "Canada": ("Canada", "CA"),
    "Chile": ("Chile", "CL"),
    "China": ("China", "CN"),
    "Colombia": ("Colombia", "CO"),
    "Croatia": ("Croatia", "HR"),
    "Cyprus": ("Cyprus", "CY"),
    "Czech Rep.": ("Czechia", "CZ"),
    "Czech Republic": ("Czechia", "CZ"),
    "Czechia": ("Czechia", "CZ"),
    "Denmark": ("Denmark", "DK"),
    "Ecuador": ("Ecuador", "EC"),
    "Egypt": ("Egypt", "EG"),
    "El Salvador": ("El Salvador", "SV"),
    "Estonia": ("Estonia", "EE"),
    "Ethiopia": ("Ethiopia", "ET"),
    "Finland": ("Finland", "FI"),
    "France": ("France", "FR"),
    "Georgia": ("Georgia", "GE"),
    "Germany": ("Germany", "DE"),
    "Ghana": ("Ghana", "GH"),
    "Greece": ("Greece", "GR"),
    "Guatemala": ("Guatemala", "GT"),
    "Haiti": ("Haiti", "HT"),
    "Honduras": ("Honduras", "HN"),
    "Hong Kong": ("Hong Kong", "HK"),
    "Hong Kong SAR": ("Hong Kong", "HK"),
    "Hungary": ("Hungary", "HU"),
    "Iceland": ("Iceland", "IS"),
    "India": ("India", "IN"),
    "Indonesia": ("Indonesia", "ID"),
    "Iran": ("Iran", "IR"),
    "Iraq": ("Iraq", "IQ"),
    "Israel": ("Israel", "IL"),
    "Italy": ("Italy", "IT"),
    "Ivory Coast": ("Côte d'Ivoire", "CI"),
    "Japan": ("Japan", "JP"),
    "Jordan": ("Jordan", "JO"),
    "Kazakhstan": ("Kazakhstan", "KZ"),
    "Kenya": ("Kenya", "KE"),
    "Kuwait": ("Kuwait", "KW"),
    "Kyrgyzstan": ("Kyrgyzstan", "KG"),
    "Latvia": ("Latvia", "LV"),
    "Lebanon": ("Lebanon", "LB"),
    "Libya": ("Libya", "LY"),
    "Lithuania": ("Lithuania", "LT"),
    "Macau SAR": ("Macau", "MO"),
    "Macau": ("Macau", "MO"),
    "Malaysia": ("Malaysia", "MY"),
    "Maldives": ("Maldives", "MV"),
    "Mali": ("Mali", "ML"),
    "Mexico": ("Mexico", "MX"),
    "Moldova": ("Moldova", "MD"),
    "Mongolia": ("Mongolia", "MN"),
    "Montenegro": ("Montenegro", "ME"),
    "Morocco": ("Morocco", "MA"),
    "Myanmar": ("Myanmar", "MM"),
    "Netherlands": ("Netherlands", "NL"),
    "New Zealand": ("New Zealand", "NZ"),
    "Nicaragua": ("Nicaragua", "NI"),
    "Nigeria": ("Nigeria", "NG"),
    "North Macedonia": ("North Macedonia", "MK"),
    "Macedonia": ("North Macedonia", "MK"),
    "Northern Ireland": ("Northern Ireland", "GB-NIR"),
    "Norway": ("Norway", "NO"),
    "Pakistan": ("Pakistan", "PK"),
    "Palest. ter.": ("Palestinian territories", "PS"),
    "Palestinian territories": ("Palestinian territories", "PS"),
    "Peru": ("Peru", "PE"),
    "Philippines": ("Philippines", "PH"),
    "Poland": ("Poland", "PL"),
    "Portugal": ("Portugal", "PT"),
    "Puerto Rico": ("Puerto Rico", "PR"),
    "Romania": ("Romania", "RO"),
    "Russia": ("Russia", "RU"),
    "Rwanda": ("Rwanda", "RW"),
    "S. Africa": ("South Africa", "ZA"),
    "South Africa": ("South Africa", "ZA"),
    "S. Korea": ("South Korea", "KR"),
    "South Korea": ("South Korea", "KR"),
    "Senegal": ("Senegal", "SN"),
    "Serbia": ("Serbia", "RS"),
    "Singapore": ("Singapore", "SG"),
    "Slovakia": ("Slovakia", "SK"),
    "Slovenia": ("Slovenia", "SI"),
    "Spain": ("Spain", "ES"),
    "Sweden": ("Sweden", "SE"),
    "Switzerland": ("Switzerland", "CH"),
    "Taiwan": ("Taiwan", "TW"),
    "Taiwan ROC": ("Taiwan", "TW"),
    "Tajikistan": ("Tajikistan", "TJ"),
    "Tanzania": ("Tanzania", "TZ"),
    "Thailand": ("Thailand", "TH"),
    "Trinidad and Tobago": ("Trinidad and Tobago", "TT"),
    "Tunisia": ("Tunisia", "TN"),
    "Turkey": ("Turkey", "TR"),
    "Uganda": ("Uganda", "UG"),
    "Ukraine": ("Ukraine", "UA"),
    "United States": ("United States", "US"),
    "U.S.": ("United States", "US"),
    "Uruguay": ("Uruguay", "UY"),
    "Uzbekistan": ("Uzbekistan", "UZ"),
    "Venezuela": ("Venezuela", "VE"),
    "Vietnam": ("Vietnam", "VN"),
    "Zambia": ("Zambia", "ZM"),
    "Zimbabwe": ("Zimbabwe", "ZW"),
}

_QUALIFIERS = {
    "non-national sample": "non-national",
    "current national sample": "current national",
    "old national sample": "old national",
    "national sample": "national",
}
_QUALIFIER_RE = re.compile(r"^(?P<base>.*?)\s*\((?P<qual>[^()]*)\)\s*$")


@dataclass(frozen=True)
class Country:
    """One raw dataset key, resolved through the alias table.

    Attributes:
        key: the raw key exactly as in the dataset, e.g. ``India (Current national sample)``.
        display: canonical name, e.g. ``India``; the raw base name for unknown keys.
        iso2: ISO 3166-1 alpha-2 code (``GB-NIR`` for Northern Ireland), or None if unknown.
        sample: ``national``, ``non-national``, ``current national`` or ``old national``.
    """

    key: str
    display: str
    iso2: str | None
    sample: str

    @property
    def label(self) -> str:
        """Display name with the sample qualifier when it is not the plain national one."""
        return self.display if self.sample == "national" else f"{self.display} ({self.sample})"


@lru_cache(maxsize=4096)
def resolve(key: str) -> Country:
    """Resolve a raw dataset key to a :class:`Country` (never fails)."""
    base, sample = key.strip(), "national"
    match = _QUALIFIER_RE.match(base)
    if match and match["qual"].strip().lower() in _QUALIFIERS:
        base, sample = match["base"].strip(), _QUALIFIERS[match["qual"].strip().lower()]
    display, iso2 = _ALIASES.get(base, (base, None))
    return Country(key=key, display=display, iso2=iso2, sample=sample)


def known_base_names() -> tuple[str, ...]:
    """Every spelling in the alias table (used by generators and suggestions)."""
    return tuple(_ALIASES)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


class UnknownCountryError(ValueError):
    """A country name that matches no key; carries close matches for the message."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"Unknown country {name!r}.{hint} "
            "Run 'goqa data info' to list the countries of the dataset."
        )
        self.name = name
        self.suggestions = suggestions


def match(name: str, keys: list[str] | tuple[str, ...]) -> Country:
    """Find the dataset key a user meant by ``name``.

    Matches, in order: the raw key, the display name or ISO code (preferring the plain national
    sample), then any alias spelling. Raises :class:`UnknownCountryError` with close matches
    on a typo.

    Args:
        name: what the user typed (``Russia``, ``uk``, ``Great Britain``, ``KR``).
        keys: the raw country keys available (normally the dataset's).
    """
    wanted = _norm(name)
    resolved = [resolve(k) for k in keys]
    for country in resolved:
        if _norm(country.key) == wanted:
            return country
    alias_codes = {iso for base, (_, iso) in _ALIASES.items() if _norm(base) == wanted}
    candidates = [
        c
        for c in resolved
        if _norm(c.display) == wanted
        or (c.iso2 is not None and (_norm(c.iso2) == wanted or c.iso2 in alias_codes))
        or (wanted == "uk" and c.iso2 == "GB")
    ]
    if candidates:
        rank = {"national": 0, "current national": 1, "old national": 2, "non-national": 3}
        return sorted(candidates, key=lambda c: (rank.get(c.sample, 9), c.key))[0]
    names = sorted({c.key for c in resolved} | {c.display for c in resolved})
    by_norm = {_norm(n): n for n in names}
    close = difflib.get_close_matches(wanted, list(by_norm), n=3, cutoff=0.6)
    raise UnknownCountryError(name, [by_norm[c] for c in close])
