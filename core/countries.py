"""Country keys of GlobalOpinionQA: one alias table from raw dataset keys to countries.

The dataset names countries as its two sources spelled them (``Britain`` and ``Great
Britain``, ``S. Korea`` and ``South Korea``) and qualifies some samples
(``India (Current national sample)``). Every raw key keeps working as it is; the table adds a
canonical display name, an ISO 3166-1 alpha-2 code and the sample qualifier. An unknown key
gets its own name and no code.

:func:`match` turns what a user typed into a key: in any script and any Unicode form
(``中国``, ``Россия``, ``Deutschland``, ``cote d'ivoire``), never silently trading a national
sample for a non-national one.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from core.errors import GoqaError

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

# Other names people type for the countries most asked about: native names and scripts, and
# common English forms. Name -> ISO code; matched after the same normalisation as the input
# (see _norm), so case, accents and Unicode forms do not matter.
_OTHER_NAMES: dict[str, str] = {
    # English variants
    "UK": "GB",
    "USA": "US",
    "America": "US",
    "United States of America": "US",
    "U.S.A.": "US",
    "Korea": "KR",
    "Republic of Korea": "KR",
    "Russian Federation": "RU",
    "Holland": "NL",
    "Viet Nam": "VN",
    "Burma": "MM",
    "Türkiye": "TR",
    "Czech": "CZ",
    "Palestine": "PS",
    "Cote d'Ivoire": "CI",
    # native names
    "中国": "CN",
    "中國": "CN",
    "中华人民共和国": "CN",
    "中華人民共和國": "CN",
    "Zhongguo": "CN",
    "Россия": "RU",
    "Российская Федерация": "RU",
    "Rossiya": "RU",
    "日本": "JP",
    "にほん": "JP",
    "にっぽん": "JP",
    "Nihon": "JP",
    "Nippon": "JP",
    "한국": "KR",
    "대한민국": "KR",
    "韓國": "KR",
    "韩国": "KR",
    "台灣": "TW",
    "台湾": "TW",
    "臺灣": "TW",
    "香港": "HK",
    "澳門": "MO",
    "澳门": "MO",
    "Deutschland": "DE",
    "España": "ES",
    "México": "MX",
    "Brasil": "BR",
    "Italia": "IT",
    "Polska": "PL",
    "Nederland": "NL",
    "Sverige": "SE",
    "Norge": "NO",
    "Danmark": "DK",
    "Suomi": "FI",
    "Österreich": "AT",
    "Schweiz": "CH",
    "Suisse": "CH",
    "Svizzera": "CH",
    "België": "BE",
    "Belgique": "BE",
    "Česko": "CZ",
    "Česká republika": "CZ",
    "Slovensko": "SK",
    "Magyarország": "HU",
    "Hrvatska": "HR",
    "Srbija": "RS",
    "Србија": "RS",
    "България": "BG",
    "Україна": "UA",
    "Украина": "UA",
    "Беларусь": "BY",
    "Қазақстан": "KZ",
    "Казахстан": "KZ",
    "Ελλάδα": "GR",
    "Ελλάς": "GR",
    "Κύπρος": "CY",
    "Türkiye Cumhuriyeti": "TR",
    "ישראל": "IL",
    "مصر": "EG",
    "الأردن": "JO",
    "لبنان": "LB",
    "تونس": "TN",
    "المغرب": "MA",
    "العراق": "IQ",
    "الكويت": "KW",
    "ليبيا": "LY",
    "فلسطين": "PS",
    "ایران": "IR",
    "پاکستان": "PK",
    "भारत": "IN",
    "Bharat": "IN",
    "বাংলাদেশ": "BD",
    "ประเทศไทย": "TH",
    "ไทย": "TH",
    "Việt Nam": "VN",
    "Pilipinas": "PH",
}

Sample = Literal["national", "current national", "old national", "non-national"]
"""What kind of sample a country key stands for (the qualifier in brackets after its name)."""

SAMPLE_PREFERENCE: tuple[Sample, ...] = (
    "national",
    "current national",
    "old national",
    "non-national",
)
"""The order in which one country's samples stand in for it: the plain national sample,
then the current national one, then the old national one; a non-national sample last, and
only where a caller allows it (:func:`preferred`)."""

_QUALIFIERS: dict[str, Sample] = {
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
    sample: Sample

    @property
    def label(self) -> str:
        """Display name with the sample qualifier when it is not the plain national one."""
        return self.display if self.sample == "national" else f"{self.display} ({self.sample})"


@lru_cache(maxsize=4096)
def resolve(key: str) -> Country:
    """Resolve a raw dataset key to a :class:`Country` (never fails)."""
    base = key.strip()
    sample: Sample = "national"
    match = _QUALIFIER_RE.match(base)
    if match and match["qual"].strip().lower() in _QUALIFIERS:
        base, sample = match["base"].strip(), _QUALIFIERS[match["qual"].strip().lower()]
    display, iso2 = _ALIASES.get(base, (base, None))
    return Country(key=key, display=display, iso2=iso2, sample=sample)


def sample_rank(sample: str) -> int:
    """Where ``sample`` stands in :data:`SAMPLE_PREFERENCE` (0 is preferred; anything
    unknown after every known kind): a sort key for choosing among one country's samples."""
    for rank, known in enumerate(SAMPLE_PREFERENCE):
        if sample == known:
            return rank
    return len(SAMPLE_PREFERENCE)


def preferred(samples: Iterable[Country], *, non_national: bool = False) -> Country | None:
    """The sample that stands for a country: national, else current national, else old
    national (ties by key).

    Args:
        samples: keys of one country (already resolved).
        non_national: a non-national sample may be chosen when it is all there is. Off by
            default: a non-national sample does not represent the country, so choosing it
            must be the caller's deliberate decision.

    Returns:
        The preferred sample, or None when there is none to choose.
    """
    allowed = [c for c in samples if non_national or c.sample != "non-national"]
    return min(allowed, key=lambda c: (sample_rank(c.sample), c.key), default=None)


def known_base_names() -> tuple[str, ...]:
    """Every spelling in the alias table (used by generators and suggestions)."""
    return tuple(_ALIASES)


def _norm(text: str) -> str:
    """A comparable form of a name in any script.

    Unicode compatibility forms are unified (NFKC: full-width ``ＵＳＡ`` is ``usa``), case is
    folded, accents are dropped (``México`` = ``mexico``), and any run of punctuation,
    symbols or spaces becomes one space; letters, marks and digits of every script stay.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    unaccented = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    folded = unicodedata.normalize("NFKC", unaccented).casefold()
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in folded)
    return " ".join(kept.split())


@lru_cache(maxsize=1)
def _codes_by_name() -> dict[str, frozenset[str]]:
    """Normalised name -> ISO codes, from the alias table and the other names."""
    table: dict[str, set[str]] = {}
    for base, (display, iso2) in _ALIASES.items():
        for name in (base, display):
            table.setdefault(_norm(name), set()).add(iso2)
    for name, iso2 in _OTHER_NAMES.items():
        table.setdefault(_norm(name), set()).add(iso2)
    return {k: frozenset(v) for k, v in table.items()}


class UnknownCountryError(GoqaError, ValueError):
    """A country name that matches no key; carries close matches for the message."""

    title = "Unknown country"

    def __init__(self, name: str, suggestions: list[str], message: str | None = None) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            message
            or (
                f"Unknown country {name!r}.{hint} "
                "Run 'goqa data info' to list the countries of the dataset."
            )
        )
        self.name = name
        self.suggestions = suggestions


class NonNationalOnlyError(UnknownCountryError):
    """The country is present only as a non-national sample, which is never used silently.

    A non-national sample (``China (Non-national sample)``) is not representative of the
    country, so :func:`match` does not stand it in for the country's name. ``suggestions``
    holds the non-national keys; asking for one of them (or its label, ``China
    (non-national)``) by name selects it.
    """

    def __init__(self, name: str, keys: list[str]) -> None:
        quoted = ", ".join(repr(k) for k in keys)
        super().__init__(
            name,
            keys,
            message=(
                f"{name!r} has no national sample here, only a non-national one: {quoted}. "
                "A non-national sample does not represent the whole country, so it is not "
                f"used in its place; to use it anyway, give the key itself, e.g. {keys[0]!r}."
            ),
        )


def match(name: str, keys: list[str] | tuple[str, ...]) -> Country:
    """Find the dataset key a user meant by ``name``.

    Names are compared after Unicode normalisation (NFKC, case folding, accents and
    punctuation ignored), so any script works. Matches, in order:

    1. a raw key (``India (Old national sample)``) or a qualified label (``India (old
       national)``): exactly that sample, non-national included;
    2. a display name, ISO code, alias spelling or other name (``Russia``, ``RU``, ``UK``,
       ``Россия``, ``中国``): the country's national samples, preferring the plain national
       one, then the current, then the old national one. A non-national sample is never
       chosen this way: if it is all there is, :class:`NonNationalOnlyError` says so.

    Args:
        name: what the user typed (``Russia``, ``uk``, ``Great Britain``, ``KR``, ``中国``).
        keys: the raw country keys available (normally the dataset's, or one question's).

    Raises:
        NonNationalOnlyError: the country is among ``keys`` only as a non-national sample.
        UnknownCountryError: nothing matches (with close matches on a typo).
    """
    wanted = _norm(name)
    resolved = [resolve(k) for k in keys]
    if not wanted:
        raise UnknownCountryError(name, [])
    for country in resolved:
        if _norm(country.key) == wanted:
            return country
    for country in resolved:
        if country.sample != "national" and _norm(country.label) == wanted:
            return country
    codes = _codes_by_name().get(wanted, frozenset())
    candidates = [
        c
        for c in resolved
        if _norm(c.display) == wanted
        or (c.iso2 is not None and (_norm(c.iso2) == wanted or c.iso2 in codes))
    ]
    chosen = preferred(candidates)
    if chosen is not None:
        return chosen
    if candidates:
        raise NonNationalOnlyError(name, sorted(c.key for c in candidates))
    raise UnknownCountryError(name, _suggestions(wanted, resolved))


def _suggestions(wanted: str, resolved: list[Country]) -> list[str]:
    """Up to three keys or names close to ``wanted`` (a typo), in any script."""
    by_norm: dict[str, str] = {}
    for c in sorted(resolved, key=lambda c: c.key):
        by_norm.setdefault(_norm(c.key), c.key)
        by_norm.setdefault(_norm(c.display), c.display)
    present = {c.iso2: c.display for c in resolved if c.iso2}
    for other, iso2 in _OTHER_NAMES.items():
        if iso2 in present:
            by_norm.setdefault(_norm(other), present[iso2])
    close = difflib.get_close_matches(wanted, list(by_norm), n=6, cutoff=0.6)
    return list(dict.fromkeys(by_norm[c] for c in close))[:3]
