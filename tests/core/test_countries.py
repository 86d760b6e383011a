"""core.countries: raw dataset keys -> display names, ISO codes and sample qualifiers."""

from __future__ import annotations

import pytest

from core import countries
from core.countries import (
    Country,
    NonNationalOnlyError,
    UnknownCountryError,
    known_base_names,
    match,
    resolve,
)
from core.dataset import Dataset


def test_every_sample_key_has_an_iso_code(sample: Dataset) -> None:
    unresolved = [k for k in sample.countries if resolve(k).iso2 is None]
    assert unresolved == []
    for key in sample.countries:
        country = resolve(key)
        assert country.key == key
        assert country.iso2 is not None
        assert country.iso2 == "GB-NIR" or (len(country.iso2) == 2 and country.iso2.isupper())


def test_sample_keys_collapse_to_fewer_countries(sample: Dataset) -> None:
    codes = {resolve(k).iso2 for k in sample.countries}
    # 128 raw keys; spelling variants and qualified samples share a code.
    assert len(codes) < len(sample.countries)
    assert {"GB", "GB-NIR", "KR", "CZ", "TW", "PS", "HK", "MO", "IN", "CN"} <= codes


@pytest.mark.parametrize(
    ("key", "display", "iso2"),
    [
        ("Britain", "United Kingdom", "GB"),
        ("Great Britain", "United Kingdom", "GB"),
        ("S. Korea", "South Korea", "KR"),
        ("South Korea", "South Korea", "KR"),
        ("Czech Rep.", "Czechia", "CZ"),
        ("Czechia", "Czechia", "CZ"),
        ("Taiwan", "Taiwan", "TW"),
        ("Taiwan ROC", "Taiwan", "TW"),
        ("Palest. ter.", "Palestinian territories", "PS"),
        ("Hong Kong SAR", "Hong Kong", "HK"),
        ("Macau SAR", "Macau", "MO"),
        ("Northern Ireland", "Northern Ireland", "GB-NIR"),
        ("S. Africa", "South Africa", "ZA"),
        ("Ivory Coast", "Côte d'Ivoire", "CI"),
        ("Bosnia Herzegovina", "Bosnia and Herzegovina", "BA"),
    ],
)
def test_aliases(key: str, display: str, iso2: str) -> None:
    country = resolve(key)
    assert (country.key, country.display, country.iso2, country.sample) == (
        key,
        display,
        iso2,
        "national",
    )
    assert country.label == display


@pytest.mark.parametrize(
    ("key", "sample", "label"),
    [
        ("India (Current national sample)", "current national", "India (current national)"),
        ("India (Old national sample)", "old national", "India (old national)"),
        ("India (Non-national sample)", "non-national", "India (non-national)"),
        ("China (Non-national sample)", "non-national", "China (non-national)"),
        ("S. Africa (Non-national sample)", "non-national", "South Africa (non-national)"),
        ("Ivory Coast (Non-national sample)", "non-national", "Côte d'Ivoire (non-national)"),
        ("Brazil (National sample)", "national", "Brazil"),
    ],
)
def test_qualifiers(key: str, sample: str, label: str) -> None:
    country = resolve(key)
    assert country.key == key
    assert country.sample == sample
    assert country.label == label
    assert country.iso2 is not None


def test_unknown_key_keeps_working() -> None:
    assert resolve("Atlantis") == Country("Atlantis", "Atlantis", None, "national")
    qualified = resolve("Atlantis (Non-national sample)")
    assert (qualified.display, qualified.iso2, qualified.sample) == (
        "Atlantis",
        None,
        "non-national",
    )
    # An unknown parenthetical is part of the name, not a qualifier.
    odd = resolve("Foo (bar)")
    assert (odd.display, odd.iso2, odd.sample) == ("Foo (bar)", None, "national")


def test_northern_ireland_is_not_the_uk() -> None:
    assert resolve("Northern Ireland").iso2 != resolve("Britain").iso2
    assert "Northern Ireland" in known_base_names()


# --------------------------------------------------------------------------- match


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Russia", "Russia"),
        ("russia", "Russia"),
        ("  RUSSIA ", "Russia"),
        ("RU", "Russia"),
        ("ru", "Russia"),
        ("Great Britain", "Great Britain"),  # an exact raw key wins
        ("Britain", "Britain"),
        ("United Kingdom", "Britain"),
        ("uk", "Britain"),
        ("GB", "Britain"),
        ("KR", "S. Korea"),
        ("south korea", "South Korea"),
        ("czech republic", "Czech Rep."),  # an alias not present as a key
        ("Palestinian territories", "Palest. ter."),
        ("hong kong", "Hong Kong SAR"),
        ("Macau", "Macau SAR"),
        ("Northern Ireland", "Northern Ireland"),
        ("GB-NIR", "Northern Ireland"),
        ("China", "China"),  # the national sample, not China (Non-national sample)
        ("India (Old national sample)", "India (Old national sample)"),
    ],
)
def test_match(sample: Dataset, name: str, key: str) -> None:
    assert match(name, sample.countries).key == key


def test_match_prefers_national_sample() -> None:
    keys = ["India (Non-national sample)", "India (Old national sample)", "India"]
    assert match("India", keys).key == "India"
    assert match("IN", keys).key == "India"
    keys = [
        "India (Non-national sample)",
        "India (Old national sample)",
        "India (Current national sample)",
    ]
    assert match("india", keys).key == "India (Current national sample)"
    assert match("India", keys[:2]).key == "India (Old national sample)"
    # Only a non-national sample: never used in the country's place, and the error says so.
    with pytest.raises(NonNationalOnlyError) as info:
        match("India", keys[:1])
    assert info.value.suggestions == ["India (Non-national sample)"]
    assert "no national sample" in str(info.value)
    assert "'India (Non-national sample)'" in str(info.value)
    # Asked for by its key or its label, it is what the user wants.
    assert match("India (Non-national sample)", keys[:1]).key == "India (Non-national sample)"
    assert match("india (non-national)", keys[:1]).key == "India (Non-national sample)"


def test_match_typo_suggests() -> None:
    keys = ["Russia", "Germany", "France", "S. Korea"]
    with pytest.raises(UnknownCountryError) as info:
        match("Rusia", keys)
    assert info.value.suggestions[0] == "Russia"
    assert "Did you mean: Russia" in str(info.value)
    assert "goqa data info" in str(info.value)
    assert info.value.name == "Rusia"
    with pytest.raises(UnknownCountryError) as info:
        match("Grmany", keys)
    assert "Germany" in info.value.suggestions


def test_match_no_close_match_has_no_hint() -> None:
    with pytest.raises(UnknownCountryError) as info:
        match("Qqqqqq", ["Russia", "Germany"])
    assert info.value.suggestions == []
    assert "Did you mean" not in str(info.value)


def test_match_only_among_given_keys() -> None:
    # Japan is a known country but not among the keys: it must not be invented.
    with pytest.raises(UnknownCountryError):
        match("Japan", ["Russia", "Germany"])
    assert isinstance(UnknownCountryError("x", []), ValueError)


# --------------------------------------------------------------------------- national samples


def test_china_non_national_only_is_refused_not_substituted() -> None:
    # One question's keys: China is there only as a non-national sample.
    keys = ["China (Non-national sample)", "Japan", "Russia"]
    for name in ("China", "CN", "中国", "china"):
        with pytest.raises(NonNationalOnlyError) as info:
            match(name, keys)
        assert isinstance(info.value, UnknownCountryError)  # callers' "no match" path
        assert info.value.name == name
        assert "China (Non-national sample)" in str(info.value)
    assert match("China (non-national sample)", keys).key == "China (Non-national sample)"


def test_national_sample_wins_over_non_national_in_any_script(sample: Dataset) -> None:
    assert "China (Non-national sample)" in sample.countries
    for name in ("China", "中国", "中國", "ＣＨＩＮＡ", "cn"):
        assert match(name, sample.countries).key == "China"


def test_several_non_national_spellings_listed() -> None:
    keys = ["S. Africa (Non-national sample)", "South Africa (Non-national sample)"]
    with pytest.raises(NonNationalOnlyError) as info:
        match("South Africa", keys)
    assert info.value.suggestions == keys


# --------------------------------------------------------------------------- any script


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("中国", "China"),
        ("Россия", "Russia"),
        ("россия", "Russia"),
        ("РОССИЯ", "Russia"),
        ("日本", "Japan"),
        ("한국", "S. Korea"),
        ("대한민국", "S. Korea"),
        ("Deutschland", "Germany"),
        ("DEUTSCHLAND", "Germany"),
        ("España", "Spain"),
        ("espana", "Spain"),
        ("México", "Mexico"),
        ("Brasil", "Brazil"),
        ("Türkiye", "Turkey"),
        ("Україна", "Ukraine"),
        ("Ελλάδα", "Greece"),
        ("ελλαδα", "Greece"),
        ("ישראל", "Israel"),
        ("مصر", "Egypt"),
        ("भारत", "India (Current national sample)"),
        ("台灣", "Taiwan"),
        ("香港", "Hong Kong SAR"),
        ("ＲＵＳＳＩＡ", "Russia"),  # full-width forms fold to ASCII (NFKC)
        ("Ｒｕｓｓｉａ", "Russia"),
        ("USA", "United States"),
        ("U.S.A.", "United States"),
    ],
)
def test_match_in_any_script(sample: Dataset, name: str, key: str) -> None:
    assert match(name, sample.countries).key == key


@pytest.mark.parametrize("name", ["cote d'ivoire", "Côte d’Ivoire", "CÔTE D'IVOIRE", "CI"])
def test_accents_and_apostrophes_do_not_matter(name: str) -> None:
    keys = ["Ivory Coast (Non-national sample)", "Ivory Coast"]
    assert match(name, keys).key == "Ivory Coast"
    # The bundled sample has only the non-national sample of Côte d'Ivoire.
    with pytest.raises(NonNationalOnlyError):
        match(name, keys[:1])


def test_decomposed_and_composed_unicode_match() -> None:
    composed = "M\u00e9xico"
    decomposed = "Me\u0301xico"
    assert match(composed, ["Mexico"]).key == match(decomposed, ["Mexico"]).key == "Mexico"


@pytest.mark.parametrize(
    "name", ["Атлантида", "アトランティス", "亚特兰蒂斯", "🏳️", "???", "", "   "]
)
def test_unknown_in_any_script_is_the_usual_error(sample: Dataset, name: str) -> None:
    with pytest.raises(UnknownCountryError) as info:
        match(name, sample.countries)
    assert not isinstance(info.value, NonNationalOnlyError)
    assert info.value.suggestions == []
    assert f"Unknown country {name!r}." in str(info.value)
    assert "goqa data info" in str(info.value)


def test_typo_in_another_script_suggests() -> None:
    with pytest.raises(UnknownCountryError) as info:
        match("Росия", ["Russia", "Germany"])
    assert info.value.suggestions == ["Russia"]
    assert "Did you mean: Russia?" in str(info.value)


def test_native_name_of_an_absent_country_is_not_invented() -> None:
    with pytest.raises(UnknownCountryError):
        match("日本", ["Russia", "Germany"])


def test_name_table_is_unambiguous() -> None:
    table = countries._codes_by_name()
    ambiguous = {name: codes for name, codes in table.items() if len(codes) != 1}
    assert ambiguous == {}
    alias_codes = {iso for _, iso in countries._ALIASES.values()}
    assert set(countries._OTHER_NAMES.values()) <= alias_codes
    assert countries._norm("中国") == "中国"
    assert countries._norm("  Côte d'Ivoire ") == "cote d ivoire"


def test_sample_preference_order() -> None:
    ranks = [countries.sample_rank(s) for s in countries.SAMPLE_PREFERENCE]
    assert ranks == [0, 1, 2, 3]
    assert countries.sample_rank("something else") == 4


def _resolved(*keys: str) -> list[Country]:
    return [resolve(k) for k in keys]


def test_preferred_sample_national_first() -> None:
    samples = _resolved("India (Old national sample)", "India (Current national sample)", "India")
    assert countries.preferred(samples) == resolve("India")


def test_preferred_sample_with_only_old_and_current() -> None:
    samples = _resolved("India (Old national sample)", "India (Current national sample)")
    chosen = countries.preferred(samples)
    assert chosen is not None and chosen.key == "India (Current national sample)"
    assert match("India", [s.key for s in samples]).key == "India (Current national sample)"


def test_preferred_sample_never_non_national_unless_allowed() -> None:
    only = _resolved("China (Non-national sample)")
    assert countries.preferred(only) is None
    assert countries.preferred(only, non_national=True) == only[0]
    with pytest.raises(NonNationalOnlyError):
        match("China", [c.key for c in only])
    # Beside an old national sample, the non-national one still loses.
    both = _resolved("China (Non-national sample)", "China (Old national sample)")
    assert countries.preferred(both, non_national=True) == resolve("China (Old national sample)")
    assert countries.preferred([]) is None


def test_populous_default_prefers_the_national_sample() -> None:
    from core.compared import _populous_order

    keys = ["India (Old national sample)", "India (Current national sample)", "Peru"]
    assert _populous_order(keys) == [
        "India (Current national sample)",
        "India (Old national sample)",
        "Peru",
    ]
