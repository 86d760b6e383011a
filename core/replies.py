"""What models write: prompts and strict parsers for the estimators that read generated text.

The logprob and logit estimators read a model's next-token probabilities after the prefill
``... my answer would be (``. The two estimators here read what the model *writes* instead:

- **verbalized**: the model is asked to estimate what share of people (in a country, or in
  general) would choose each option, and to reply with a JSON object mapping each option
  letter to a percentage (:func:`verbalized_user`, :func:`verbalized_schema`);
  :func:`parse_verbalized` turns the reply into a distribution.
- **free text**: the model is asked which option it would choose, with no prefill and no
  instruction to answer with a letter only, so that its unforced answer is what is read
  (:func:`free_text_user`); :func:`parse_free_text` reads which option it chose.

Both parsers are strict: a reply they cannot read for certain is a failed reading with a
reason, never a guess.

Verbalized replies (:func:`parse_verbalized`), in this order:

1. If the reply contains a fenced code block (three backticks, an optional info string
   such as ``json``, the content, three backticks), the first block's content is parsed,
   and nothing else. Otherwise the first balanced ``{...}`` object in the text is taken: the
   scan starts at the first ``{`` and counts braces outside JSON strings (double quotes,
   with backslash escapes). No ``{`` at all fails with "no JSON object in the reply", and
   the reading is marked ``refused`` when the text reads as a refusal (:func:`is_refusal`).
   A ``{`` that never closes (a reply cut off) fails with "no complete JSON object in the
   reply (an object opens but never closes)".
2. The text is read with :func:`json.loads`; invalid JSON fails with "invalid JSON: " and
   the decoder's message, line and column. (Python's decoder accepts ``NaN`` and
   ``Infinity``; rule 5 rejects those values.) The top level must be an object. If that
   object has exactly one key and its value is an object (``{"shares": {...}}``,
   ``{"distribution": {...}}``), the inner object is used instead: one level only.
3. Keys are stripped of surrounding whitespace. ``A``, ``a``, ``(A)``, ``A)``, ``A.`` and
   ``Option A`` (any case, any space after "option") all mean letter A. A key equal to an
   option's text (from ``options``, the option texts in letter order), compared
   case-insensitively with runs of whitespace collapsed and curly apostrophes read as
   straight ones, means that option's letter; so does the text as the prompt shows it
   (:func:`core.prompts.option_line_text`). A key that names no option of the question
   (a letter beyond the last one included) fails with "unknown option 'X'". Two keys for
   the same option (``"A"`` and ``"a"``, a letter and its option's text, or the same key
   twice) fail with "two shares for option A (...)".
4. Every option must have a share; otherwise the reading fails with "no share for
   option C" or "no share for options C, D".
5. A share is a JSON number (``true``/``false`` are not numbers) or a string holding a
   plain decimal number with an optional ``%``: ``"40"``, ``"40%"``, ``"40.5 %"``. A
   negative share fails with "the share for option A is negative (-5)"; NaN or an infinite
   value with "... is not a finite number (NaN)"; anything else (other text, ``null``, a
   list, an object, exponents such as ``"1e2"``, ``"40,5"``) with "... is not a number
   (...)". A ``%`` on any share puts the whole reply on the percent scale.
6. With ``s`` the sum of the shares: when every share is at most 1, ``|s - 1| <= 0.03`` and
   no ``%`` was seen, the scale is ``fraction``; otherwise, when ``|s - 100| <= 3``, it is
   ``percent`` (so sums from 97 to 103 are accepted, 99 and 101 included); otherwise the
   reading fails with "the shares add up to {s:g}, not about 100 (or 1)" (a sum of 0
   always fails so). Both bounds allow 1e-9 of floating-point rounding.
7. ``probs = shares / s`` as float64, in letter order.

Prose with numbers ("About 60% would pick A") holds no JSON object, so it fails with "no
JSON object in the reply". No number is ever read from prose.

Free-text replies (:func:`parse_free_text`), in this order:

1. A letter named the way the sampling estimator reads it
   (:func:`core.backends.base.parse_letter`: an upper-case letter at the very start —
   ``B``, ``B) text``, ``(B)``, ``**B**`` —, else a parenthesised ``(B)`` anywhere, else
   ``answer is B`` / ``option B`` / ``choice: B``) is the chosen option. A lower-case ``a``
   is a word, not a letter.
2. Otherwise the option texts are looked for in the reply as whole words or phrases
   (case-insensitive, any run of whitespace between words, curly apostrophes read as
   straight ones; texts shorter than 2 characters are ignored). A match lying inside a
   longer matched option's span does not count ("agree" inside "strongly agree"; "agree"
   inside "disagree" is not a whole-word match to begin with). Exactly one option left is
   the chosen one; several are ``ambiguous``, with no letter.
3. Otherwise a reply that reads as a refusal (:func:`is_refusal`) is ``refused``.
4. Otherwise it is ``unparsed``.

A chosen option whose ``nonsubstantive`` flag is set (Don't know, Refused, No answer) has
kind ``declined``, its letter still set. A reply that hedges and then names an option ("As
an AI I have no opinions, but if I had to choose: (B)") counts as that option: rules 1 and 2
come before the refusal check, because a model that names an option has answered. For the
same reason a refusal that happens to contain an option's text as a word ("I have *no*
personal opinions" when an option is "No") is read as that option.

Refusals (:func:`is_refusal`): the text, case-insensitively and with curly apostrophes read
as straight ones, contains one of "as an AI", "I am an AI", "I'm an AI", "I don't / do not
have (any) personal opinion(s) / view(s) / belief(s) / preference(s)", "I cannot / can't /
can not / won't / will not choose / select / answer / pick / provide / express / share /
take sides", "I'm not able to", "I am not able to", "I'd rather not", "I prefer not to" or
"not appropriate for me to" (whole words, any run of whitespace between them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core.backends.base import parse_letter
from core.prompts import Prompt, option_line_text

# --------------------------------------------------------------------------- verbalized

VerbalizedScale = Literal["percent", "fraction", ""]
"""The scale a verbalized reply was read on; ``""`` when it could not be read."""

FREE_TEXT_QUESTION = "Which of these options would you choose?"

_ROUNDING = 1e-9
_PERCENT_TOLERANCE = 3.0
_FRACTION_TOLERANCE = 0.03

_FENCE = re.compile(r"```[ \t]*(?:[A-Za-z][\w.+-]*)?[ \t]*\r?\n?(.*?)```", re.DOTALL)
_KEY_LETTER = re.compile(
    r"^(?:option\s*)?(?:\(\s*([a-z])\s*\)|([a-z])[).]?)$", re.IGNORECASE | re.ASCII
)
_SHARE_TEXT = re.compile(r"^(-?)\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)$")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def verbalized_instruction(letters: tuple[str, ...], country: str | None) -> str:
    """The instruction that asks for an estimated distribution as a JSON object.

    The format hint lists every letter with a ``<percent>`` placeholder and no concrete
    number, which would anchor the model's estimate.

    Args:
        letters: the question's option letters, in order.
        country: whose answers to estimate (``"Russia"``), or None (or blank) for people in
            general.

    Returns:
        The instruction, e.g. ``Estimate what percentage of people in Russia would choose
        each option. Reply with a JSON object only, ..., adding up to 100: {"A": <percent>,
        "B": <percent>}``.
    """
    place = " ".join((country or "").split())
    who = f"people in {place}" if place else "people"
    hint = ", ".join(f'"{letter}": <percent>' for letter in letters)
    return (
        f"Estimate what percentage of {who} would choose each option. Reply with a JSON "
        "object only, mapping each option letter to a percentage, the percentages adding up "
        f"to 100: {{{hint}}}"
    )


def verbalized_user(prompt: Prompt, country: str | None) -> str:
    """The user message for the verbalized estimator.

    Render ``prompt`` with the default condition: the country goes into the instruction
    here, not into the question (a country-condition prompt would name it twice).

    Args:
        prompt: the rendered question; its ``user`` part (question and options) is used.
        country: whose answers to estimate, or None for people in general.

    Returns:
        ``prompt.user``, a blank line, and :func:`verbalized_instruction`.
    """
    return f"{prompt.user}\n\n{verbalized_instruction(prompt.letters, country)}"


def verbalized_schema(letters: tuple[str, ...]) -> dict[str, Any]:
    """A JSON schema for a verbalized reply, for backends that constrain decoding.

    Args:
        letters: the question's option letters, in order.

    Returns:
        A fresh schema: an object whose properties are the letters, each a number from 0 to
        100, all required, no other property allowed.
    """
    return {
        "type": "object",
        "properties": {
            letter: {"type": "number", "minimum": 0, "maximum": 100} for letter in letters
        },
        "required": list(letters),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class VerbalizedReading:
    """A verbalized reply read as a distribution, or the reason it could not be.

    Attributes:
        probs: (K,) float64 shares normalised to sum 1, in letter order; None when the
            reply failed to parse.
        reason: ``""`` when parsed, else a short human-readable reason ("no JSON object in
            the reply", "no share for options C, D", ...).
        scale: ``percent`` or ``fraction`` as read; ``""`` when the reply failed to parse.
        refused: the reply holds no JSON object and reads as a refusal (only ever set on a
            failed parse).
    """

    probs: np.ndarray | None
    reason: str
    scale: VerbalizedScale
    refused: bool = False

    @property
    def ok(self) -> bool:
        """The reply was read: ``probs`` is set."""
        return self.probs is not None


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, so that repeated keys are seen."""


def _failed(reason: str, refused: bool = False) -> VerbalizedReading:
    return VerbalizedReading(probs=None, reason=reason, scale="", refused=refused)


def _balanced_object(text: str) -> str | None:
    """The first balanced ``{...}`` in ``text`` ("" when one opens but never closes)."""
    start = text.find("{")
    if start < 0:
        return None
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return ""


def _json_kind(value: Any) -> str:
    if isinstance(value, _Pairs):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _show(value: Any) -> str:
    if isinstance(value, list):  # _Pairs too
        return _json_kind(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return "a huge number"
    return json.dumps(value)


def _fold(text: str) -> str:
    """``text`` for comparison: curly apostrophes straight, whitespace collapsed, case folded."""
    return " ".join(text.translate(_APOSTROPHES).split()).casefold()


def _key_letter(key: str, letters: tuple[str, ...], by_text: dict[str, str]) -> str | None:
    match = _KEY_LETTER.match(key)
    if match:
        letter = (match.group(1) or match.group(2)).upper()
        return letter if letter in letters else None
    return by_text.get(_fold(key))


def _share(raw: Any, letter: str) -> tuple[float | None, bool, str]:
    """(value, has a percent sign, reason) for one share; value None when it is refused."""
    percent = False
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None, False, f"the share for option {letter} is not a number ({_show(raw)})"
    if isinstance(raw, str):
        match = _SHARE_TEXT.match(raw.strip())
        if not match:
            return None, False, f"the share for option {letter} is not a number ({_show(raw)})"
        sign, digits, mark = match.groups()
        percent = mark == "%"
        value = float(digits) * (-1.0 if sign else 1.0)
    else:
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
    if not math.isfinite(value):
        return None, False, f"the share for option {letter} is not a finite number ({_show(raw)})"
    if value < 0:
        return None, False, f"the share for option {letter} is negative ({value:g})"
    return value, percent, ""


def parse_verbalized(
    text: str, letters: tuple[str, ...], options: Sequence[str] = ()
) -> VerbalizedReading:
    """Read a verbalized reply (a JSON object of shares per option) as a distribution.

    The rules, strict and in order, are this module's (see its docstring); a reply that
    breaks one is a failed reading with the reason.

    Args:
        text: the model's reply.
        letters: the question's option letters, in order.
        options: the option texts in letter order, so that a key may name an option by its
            text; empty to accept letters only.

    Returns:
        A reading with ``probs`` over ``letters`` (float64, summing to 1) and its scale, or
        with ``probs`` None and the reason (``refused`` set when the reply holds no JSON
        object and reads as a refusal).
    """
    fence = _FENCE.search(text)
    if fence:
        blob = fence.group(1).strip()
    else:
        found = _balanced_object(text)
        if found is None:
            return _failed("no JSON object in the reply", refused=is_refusal(text))
        if not found:
            return _failed(
                "no complete JSON object in the reply (an object opens but never closes)"
            )
        blob = found
    try:
        data = json.loads(blob, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as err:
        return _failed(f"invalid JSON: {err.msg} (line {err.lineno}, column {err.colno})")
    except (ValueError, RecursionError) as err:
        # Integers beyond Python's digit limit, or nesting too deep to read.
        return _failed(f"invalid JSON: {type(err).__name__}")
    if not isinstance(data, _Pairs):
        return _failed(f"the reply's JSON is {_json_kind(data)}, not an object")
    if len(data) == 1 and isinstance(data[0][1], _Pairs):
        data = data[0][1]

    by_text: dict[str, str] = {}
    for letter, option in zip(letters, options, strict=False):
        for form in (option, option_line_text(option)):
            by_text.setdefault(_fold(form), letter)

    raw_by_letter: dict[str, Any] = {}
    key_by_letter: dict[str, str] = {}
    for raw_key, raw_value in data:
        key = raw_key.strip()
        named = _key_letter(key, letters, by_text)
        if named is None:
            return _failed(f"unknown option {key!r}")
        if named in key_by_letter:
            return _failed(f"two shares for option {named} ({key_by_letter[named]!r} and {key!r})")
        key_by_letter[named] = key
        raw_by_letter[named] = raw_value

    missing = [letter for letter in letters if letter not in raw_by_letter]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        return _failed(f"no share for option{plural} {', '.join(missing)}")

    values: list[float] = []
    percent_seen = False
    for letter in letters:
        value, percent, reason = _share(raw_by_letter[letter], letter)
        if value is None:
            return _failed(reason)
        values.append(value)
        percent_seen = percent_seen or percent

    shares = np.asarray(values, dtype=np.float64)
    total = float(shares.sum())
    scale: VerbalizedScale
    if (
        not percent_seen
        and all(v <= 1.0 for v in values)
        and abs(total - 1.0) <= _FRACTION_TOLERANCE + _ROUNDING
    ):
        scale = "fraction"
    elif abs(total - 100.0) <= _PERCENT_TOLERANCE + _ROUNDING:
        scale = "percent"
    else:
        return _failed(f"the shares add up to {total:g}, not about 100 (or 1)")
    return VerbalizedReading(probs=shares / total, reason="", scale=scale)


# --------------------------------------------------------------------------- free text

ChoiceKind = Literal["option", "declined", "refused", "unparsed", "ambiguous"]
"""What a free-text reply was read as (see :class:`FreeTextChoice`)."""
CHOICE_KINDS: tuple[ChoiceKind, ...] = ("option", "declined", "refused", "unparsed", "ambiguous")

_MIN_OPTION_TEXT = 2

_REFUSAL = re.compile(
    r"\b(?:"
    r"as\s+an\s+ai"
    r"|i\s+am\s+an\s+ai"
    r"|i'm\s+an\s+ai"
    r"|i\s+(?:don't|do\s+not)\s+have\s+(?:any\s+)?personal\s+"
    r"(?:opinion|view|belief|preference)s?"
    r"|i\s+(?:cannot|can't|can\s+not|won't|will\s+not)\s+"
    r"(?:choose|select|answer|pick|provide|express|share|take\s+sides)"
    r"|i'm\s+not\s+able\s+to"
    r"|i\s+am\s+not\s+able\s+to"
    r"|i'd\s+rather\s+not"
    r"|i\s+prefer\s+not\s+to"
    r"|not\s+appropriate\s+for\s+me\s+to"
    r")\b",
    re.IGNORECASE,
)


def free_text_user(prompt: Prompt) -> str:
    """The user message for the free-text estimator (sent with no assistant prefill).

    It asks which option the model would choose and deliberately does not ask for a letter
    only: the point is to read the model's unforced answer.

    Args:
        prompt: the rendered question; its ``user`` part (question and options) is used.

    Returns:
        ``prompt.user``, a blank line, and "Which of these options would you choose?".
    """
    return f"{prompt.user}\n\n{FREE_TEXT_QUESTION}"


@dataclass(frozen=True)
class FreeTextChoice:
    """The option a free-text reply chose, or why none was read.

    Attributes:
        letter: the chosen option's letter, or None.
        kind: ``option`` (a substantive option), ``declined`` (a non-substantive option such
            as DK/Refused: ``letter`` is set), ``refused`` (a refusal naming no option),
            ``unparsed`` (no option and no refusal) or ``ambiguous`` (several options named
            by their text, none by letter).
    """

    letter: str | None
    kind: ChoiceKind


def is_refusal(text: str) -> bool:
    """Whether ``text`` reads as a refusal to answer ("As an AI...", "I can't choose...").

    Args:
        text: a model's reply.

    Returns:
        True when the text contains one of the refusal phrases listed in this module's
        docstring (case-insensitive, curly apostrophes read as straight ones).
    """
    return _REFUSAL.search(text.translate(_APOSTROPHES)) is not None


def _option_pattern(option: str) -> re.Pattern[str] | None:
    words = option.translate(_APOSTROPHES).split()
    if len(" ".join(words)) < _MIN_OPTION_TEXT:
        return None
    body = r"\s+".join(re.escape(word) for word in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _options_named(text: str, letters: tuple[str, ...], options: Sequence[str]) -> list[str]:
    """The letters of the options whose text the reply names (longest match wins)."""
    reply = text.translate(_APOSTROPHES)
    spans: list[tuple[int, int, str]] = []
    for letter, option in zip(letters, options, strict=False):
        forms = {option, option_line_text(option)}
        for form in forms:
            pattern = _option_pattern(form)
            if pattern is not None:
                spans.extend((m.start(), m.end(), letter) for m in pattern.finditer(reply))

    def inside_longer(start: int, end: int, letter: str) -> bool:
        return any(
            other != letter and s <= start and end <= e and (e - s) > (end - start)
            for s, e, other in spans
        )

    named = {letter for start, end, letter in spans if not inside_longer(start, end, letter)}
    return [letter for letter in letters if letter in named]


def parse_free_text(
    text: str,
    letters: tuple[str, ...],
    options: Sequence[str] = (),
    nonsubstantive: Sequence[bool] = (),
) -> FreeTextChoice:
    """Read which option a free-text reply chose.

    The rules, in order, are this module's (see its docstring): a letter as
    :func:`~core.backends.base.parse_letter` reads it, else a refusal, else exactly one
    option named by its text, else unparsed.

    Args:
        text: the model's reply.
        letters: the question's option letters, in order.
        options: the option texts in letter order (empty: letters only).
        nonsubstantive: per option in letter order, whether it is a non-substantive answer
            (Don't know, Refused); missing entries count as substantive.

    Returns:
        The choice: a letter with kind ``option`` or ``declined``, or no letter with kind
        ``ambiguous``, ``refused`` or ``unparsed``.
    """
    letter = parse_letter(text, letters)
    if letter is None:
        if is_refusal(text):
            # "As an AI I have no opinions" names the option "No" only by accident; a refusal
            # that names an option by its letter ("... but if I had to: (B)") is a choice.
            return FreeTextChoice(letter=None, kind="refused")
        named = _options_named(text, letters, options)
        if len(named) > 1:
            return FreeTextChoice(letter=None, kind="ambiguous")
        if named:
            letter = named[0]
    if letter is None:
        return FreeTextChoice(letter=None, kind="refused" if is_refusal(text) else "unparsed")
    index = letters.index(letter)
    declined = index < len(nonsubstantive) and bool(nonsubstantive[index])
    return FreeTextChoice(letter=letter, kind="declined" if declined else "option")
