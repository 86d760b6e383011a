"""Languages for linguistic prompting: names for prompts, and the populations that mostly
speak each language (to ask "did asking in Russian move the model toward Russian speakers?").

The paper asked in Russian, Chinese (simplified) and Turkish; any BCP-47-like code works, and
a code missing here is written into prompts as given.
"""

from __future__ import annotations

# code -> (English name, ISO alpha-2 codes of countries where most people speak it)
_LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ru": ("Russian", ("RU", "BY", "KZ", "KG")),
    "zh": ("Chinese (simplified)", ("CN", "SG")),
    "zh-cn": ("Chinese (simplified)", ("CN", "SG")),
    "zh-hans": ("Chinese (simplified)", ("CN", "SG")),
    "zh-tw": ("Chinese (traditional)", ("TW", "HK", "MO")),
    "tr": ("Turkish", ("TR", "CY")),
    "en": ("English", ("US", "GB", "AU", "CA", "NZ", "GB-NIR")),
    "es": (
        "Spanish",
        ("ES", "MX", "AR", "CL", "CO", "PE", "VE", "BO", "EC", "GT", "SV", "HN", "NI", "UY"),
    ),
    "pt": ("Portuguese", ("BR", "PT", "AO")),
    "fr": ("French", ("FR", "SN", "ML", "BF", "CI")),
    "de": ("German", ("DE", "AT", "CH")),
    "ar": ("Arabic", ("EG", "JO", "LB", "TN", "MA", "IQ", "KW", "LY", "PS")),
    "ja": ("Japanese", ("JP",)),
    "ko": ("Korean", ("KR",)),
    "hi": ("Hindi", ("IN",)),
    "id": ("Indonesian", ("ID",)),
    "it": ("Italian", ("IT",)),
    "pl": ("Polish", ("PL",)),
    "uk": ("Ukrainian", ("UA",)),
    "vi": ("Vietnamese", ("VN",)),
    "fa": ("Persian", ("IR",)),
    "sw": ("Swahili", ("KE", "TZ")),
    "nl": ("Dutch", ("NL",)),
    "el": ("Greek", ("GR", "CY")),
}


def language_name(code: str) -> str:
    """English name of a language code (``ru`` -> ``Russian``); the code itself if unknown."""
    entry = _LANGUAGES.get(code.lower())
    return entry[0] if entry else code


def speaker_countries(code: str) -> tuple[str, ...]:
    """ISO codes of the countries where most people speak ``code`` (empty if unknown)."""
    entry = _LANGUAGES.get(code.lower())
    return entry[1] if entry else ()


def known_codes() -> tuple[str, ...]:
    return tuple(_LANGUAGES)
