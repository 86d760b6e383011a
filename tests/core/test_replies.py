"""core.replies: the verbalized and free-text prompts, and their strict parsers.

The replies are in the shapes models really write: bare JSON, JSON in a fence with prose
around it, shares as strings with ``%``, a wrapping ``{"distribution": ...}``, option texts as
keys, refusals, hedges, prose with numbers.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.prompts import render
from core.replies import (
    CHOICE_KINDS,
    FreeTextChoice,
    VerbalizedReading,
    free_text_user,
    is_refusal,
    parse_free_text,
    parse_verbalized,
    verbalized_instruction,
    verbalized_schema,
    verbalized_user,
)

ABC = ("A", "B", "C")
ABCD = ("A", "B", "C", "D")
YES_NO_DK = ("Yes", "No", "DK/Refused")
AGREE = ("Strongly agree", "Agree", "Disagree", "Strongly disagree")


def probs_of(reading: VerbalizedReading) -> list[float]:
    assert reading.ok, reading.reason
    assert reading.probs is not None
    assert reading.probs.dtype == np.float64
    assert reading.reason == ""
    assert reading.refused is False
    return [float(p) for p in reading.probs]


def reason_of(reading: VerbalizedReading) -> str:
    assert not reading.ok
    assert reading.probs is None
    assert reading.scale == ""
    return reading.reason


# --------------------------------------------------------------------------- verbalized prompts


def test_instruction_for_a_country_lists_every_letter_and_no_number() -> None:
    assert verbalized_instruction(("A", "B"), "Russia") == (
        "Estimate what percentage of people in Russia would choose each option. Reply with a "
        "JSON object only, mapping each option letter to a percentage, the percentages adding "
        'up to 100: {"A": <percent>, "B": <percent>}'
    )
    general = verbalized_instruction(ABCD, None)
    assert general.startswith("Estimate what percentage of people would choose each option. ")
    assert general.endswith('{"A": <percent>, "B": <percent>, "C": <percent>, "D": <percent>}')
    # The only number is the total: a concrete example share would anchor the estimate.
    assert re.findall(r"\d+", general) == ["100"]
    assert verbalized_instruction(ABC, "  ") == verbalized_instruction(ABC, None)
    assert "people in South Korea would" in verbalized_instruction(ABC, " South \n Korea ")


def test_verbalized_user_is_the_question_then_the_instruction() -> None:
    prompt = render(text="Is it good?", options=["Yes", "No"])
    assert verbalized_user(prompt, "Japan") == (
        "Is it good?\n\nHere are the options:\n(A) Yes\n(B) No\n\n"
        + verbalized_instruction(("A", "B"), "Japan")
    )


def test_schema_requires_every_letter_as_a_percentage() -> None:
    assert verbalized_schema(("A", "B")) == {
        "type": "object",
        "properties": {
            "A": {"type": "number", "minimum": 0, "maximum": 100},
            "B": {"type": "number", "minimum": 0, "maximum": 100},
        },
        "required": ["A", "B"],
        "additionalProperties": False,
    }
    # A fresh schema each time: a caller that edits one does not edit the next.
    verbalized_schema(("A",))["required"].append("Z")
    assert verbalized_schema(("A",))["required"] == ["A"]


def test_a_reply_in_the_hinted_format_reads_back() -> None:
    hint = verbalized_instruction(ABC, None).split("adding up to 100: ", 1)[1]
    assert hint == '{"A": <percent>, "B": <percent>, "C": <percent>}'
    reply = hint.replace("<percent>", "20", 1).replace("<percent>", "30", 1)
    reply = reply.replace("<percent>", "50")
    assert probs_of(parse_verbalized(reply, ABC)) == [0.2, 0.3, 0.5]


# --------------------------------------------------------------------------- verbalized: accepted


def test_percentages() -> None:
    reading = parse_verbalized('{"A": 40, "B": 35, "C": 25}', ABC)
    assert probs_of(reading) == [0.4, 0.35, 0.25]
    assert reading.scale == "percent"


def test_fractions() -> None:
    reading = parse_verbalized('{"A": 0.5, "B": 0.3, "C": 0.2}', ABC)
    assert probs_of(reading) == [0.5, 0.3, 0.2]
    assert reading.scale == "fraction"
    # Within 0.03 of 1, normalised.
    near = parse_verbalized('{"A": 0.49, "B": 0.49}', ("A", "B"))
    assert probs_of(near) == [0.5, 0.5]
    assert near.scale == "fraction"


def test_a_fence_wins_over_braces_in_the_prose_around_it() -> None:
    reply = (
        'Using the format {"A": <percent>, "B": <percent>}, here is my estimate:\n\n'
        '```json\n{"A": 62, "B": 38}\n```\n\n'
        "These {rough} figures reflect surveys."
    )
    reading = parse_verbalized(reply, ("A", "B"))
    assert probs_of(reading) == [0.62, 0.38]
    assert reading.scale == "percent"


def test_a_fence_without_a_language_tag() -> None:
    reply = 'My estimate:\n```\n{"A": 10, "B": 90}\n```'
    assert probs_of(parse_verbalized(reply, ("A", "B"))) == [0.1, 0.9]


def test_the_first_object_in_prose_without_a_fence() -> None:
    reply = 'Here you go: {"A": 70, "B": 30} and later {"A": 1, "B": 99} for comparison.'
    assert probs_of(parse_verbalized(reply, ("A", "B"))) == [0.7, 0.3]


def test_shares_written_as_strings_with_percent_signs() -> None:
    reading = parse_verbalized('{"A": "40%", "B": "35 %", "C": "25.0%"}', ABC)
    assert probs_of(reading) == [0.4, 0.35, 0.25]
    assert reading.scale == "percent"
    plain = parse_verbalized('{"A": "0.6", "B": ".4"}', ("A", "B"))
    assert probs_of(plain) == [0.6, 0.4]
    assert plain.scale == "fraction"


def test_a_percent_sign_forces_the_percent_scale() -> None:
    # Read as fractions these would add up to 1; the "%" says they are 0.5 percent each.
    reading = parse_verbalized('{"A": "0.5%", "B": 0.5}', ("A", "B"))
    assert reason_of(reading) == "the shares add up to 1, not about 100 (or 1)"


def test_one_wrapping_object_is_unwrapped_but_only_one() -> None:
    reply = '{"distribution": {"A": 70, "B": 20, "C": 10}}'
    assert probs_of(parse_verbalized(reply, ABC)) == [0.7, 0.2, 0.1]
    assert probs_of(parse_verbalized('{"shares": {"A": 0.25, "B": 0.75}}', ("A", "B"))) == [
        0.25,
        0.75,
    ]
    twice = parse_verbalized('{"result": {"distribution": {"A": 50, "B": 50}}}', ("A", "B"))
    assert reason_of(twice) == "unknown option 'distribution'"


def test_letter_key_forms() -> None:
    reply = '{"(A)": 10, " b) ": 20, "C.": 30, "Option D": 40}'
    assert probs_of(parse_verbalized(reply, ABCD)) == [0.1, 0.2, 0.3, 0.4]
    reply = '{"a": 10, "option b": 20, "( C )": 30, "OptionD": 40}'
    assert probs_of(parse_verbalized(reply, ABCD)) == [0.1, 0.2, 0.3, 0.4]


def test_option_texts_as_keys() -> None:
    reply = '{"yes": 55, "No": 40, "DK/Refused": 5}'
    assert probs_of(parse_verbalized(reply, ABC, YES_NO_DK)) == [0.55, 0.4, 0.05]
    reply = '{" strongly  AGREE ": 10, "Agree": 20, "disagree": 30, "Strongly disagree": 40}'
    assert probs_of(parse_verbalized(reply, ABCD, AGREE)) == [0.1, 0.2, 0.3, 0.4]
    # A curly apostrophe in the reply's key matches the straight one in the option.
    reply = '{"Yes": 50, "No": 30, "Don\u2019t know": 20}'
    assert probs_of(parse_verbalized(reply, ABC, ("Yes", "No", "Don't know"))) == [
        0.5,
        0.3,
        0.2,
    ]
    # Without the option texts, a text key names nothing.
    assert reason_of(parse_verbalized('{"Yes": 60, "No": 40}', ("A", "B"))) == (
        "unknown option 'Yes'"
    )


def test_braces_and_escaped_quotes_inside_strings_do_not_end_the_object() -> None:
    options = ('He said "go}" twice', "No")
    reply = 'Estimate: {"He said \\"go}\\" twice": 70, "No": 30} done.'
    assert probs_of(parse_verbalized(reply, ("A", "B"), options)) == [0.7, 0.3]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"A": 33, "B": 33, "C": 33}', [1 / 3, 1 / 3, 1 / 3]),  # 99
        ('{"A": 60, "B": 41, "C": 0}', [60 / 101, 41 / 101, 0.0]),  # 101
        ('{"A": 50, "B": 47, "C": 0}', [50 / 97, 47 / 97, 0.0]),  # 97
        ('{"A": 50, "B": 50, "C": 3}', [50 / 103, 50 / 103, 3 / 103]),  # 103
    ],
)
def test_sums_near_100_are_accepted_and_normalised(reply: str, expected: list[float]) -> None:
    reading = parse_verbalized(reply, ABC)
    assert probs_of(reading) == expected
    assert reading.scale == "percent"
    assert sum(probs_of(reading)) == pytest.approx(1.0, abs=1e-15)


# --------------------------------------------------------------------------- verbalized: refused


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ('{"A": 50, "B": 40, "C": 0}', "the shares add up to 90, not about 100 (or 1)"),
        ('{"A": 80, "B": 63, "C": 0}', "the shares add up to 143, not about 100 (or 1)"),
        ('{"A": 50, "B": 46.9, "C": 0}', "the shares add up to 96.9, not about 100 (or 1)"),
        ('{"A": 50, "B": 53.1, "C": 0}', "the shares add up to 103.1, not about 100 (or 1)"),
        ('{"A": 0.5, "B": 0.4, "C": 0}', "the shares add up to 0.9, not about 100 (or 1)"),
        ('{"A": 0, "B": 0, "C": 0}', "the shares add up to 0, not about 100 (or 1)"),
        ('{"A": 2, "B": 3, "C": 5}', "the shares add up to 10, not about 100 (or 1)"),
    ],
)
def test_sums_far_from_100_or_1_are_rejected(reply: str, reason: str) -> None:
    assert reason_of(parse_verbalized(reply, ABC)) == reason


def test_missing_options() -> None:
    assert reason_of(parse_verbalized('{"A": 50, "B": 50}', ABCD)) == ("no share for options C, D")
    assert reason_of(parse_verbalized('{"A": 50, "B": 50}', ABC)) == "no share for option C"
    assert reason_of(parse_verbalized("{}", ("A", "B"))) == "no share for options A, B"


def test_unknown_keys() -> None:
    # E is a letter, but not one of this question's options.
    assert reason_of(parse_verbalized('{"A": 50, "B": 30, "E": 20}', ABC)) == ("unknown option 'E'")
    assert reason_of(parse_verbalized('{"A": 50, "B": 50, " Maybe ": 0}', ("A", "B"))) == (
        "unknown option 'Maybe'"
    )


def test_two_keys_for_one_option() -> None:
    assert reason_of(parse_verbalized('{"A": 50, "a": 50, "B": 0}', ("A", "B"))) == (
        "two shares for option A ('A' and 'a')"
    )
    # The same key twice: json.loads alone would keep the last one silently.
    assert reason_of(parse_verbalized('{"A": 20, "B": 30, "A": 70}', ("A", "B"))) == (
        "two shares for option A ('A' and 'A')"
    )
    reply = '{"A": 50, "Yes": 50, "B": 0, "C": 0}'
    assert reason_of(parse_verbalized(reply, ABC, YES_NO_DK)) == (
        "two shares for option A ('A' and 'Yes')"
    )


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ('{"A": -10, "B": 110}', "the share for option A is negative (-10)"),
        ('{"A": 110, "B": "-10%"}', "the share for option B is negative (-10)"),
        ('{"A": NaN, "B": 100}', "the share for option A is not a finite number (NaN)"),
        ('{"A": 100, "B": Infinity}', "the share for option B is not a finite number (Infinity)"),
        ('{"A": 1e999, "B": 0}', "the share for option A is not a finite number (Infinity)"),
        ('{"A": true, "B": false}', "the share for option A is not a number (true)"),
        ('{"A": 100, "B": null}', "the share for option B is not a number (null)"),
        ('{"A": "lots", "B": 0}', "the share for option A is not a number ('lots')"),
        ('{"A": "40,5", "B": 59.5}', "the share for option A is not a number ('40,5')"),
        ('{"A": "1e2", "B": 0}', "the share for option A is not a number ('1e2')"),
        ('{"A": [60], "B": 40}', "the share for option A is not a number (a list)"),
    ],
)
def test_shares_that_are_not_non_negative_numbers(reply: str, reason: str) -> None:
    assert reason_of(parse_verbalized(reply, ("A", "B"))) == reason


def test_prose_with_numbers_is_not_read() -> None:
    reading = parse_verbalized("About 60% would pick A and 40% would pick B.", ("A", "B"))
    assert reason_of(reading) == "no JSON object in the reply"
    assert reading.refused is False


@pytest.mark.parametrize(
    "reply",
    [
        "As an AI language model, I cannot provide estimates of public opinion.",
        "I\u2019m not able to estimate how people in Russia would answer.",
        "It is not appropriate for me to guess at a population's views.",
    ],
)
def test_refusals_are_marked(reply: str) -> None:
    reading = parse_verbalized(reply, ("A", "B"))
    assert reason_of(reading) == "no JSON object in the reply"
    assert reading.refused is True


def test_empty_and_cut_off_replies() -> None:
    empty = parse_verbalized("", ("A", "B"))
    assert reason_of(empty) == "no JSON object in the reply"
    assert empty.refused is False
    cut = parse_verbalized('Sure: {"A": 40, "B": ', ("A", "B"))
    assert reason_of(cut) == (
        "no complete JSON object in the reply (an object opens but never closes)"
    )


def test_invalid_json_and_non_objects() -> None:
    assert reason_of(parse_verbalized("{'A': 40, 'B': 60}", ("A", "B"))) == (
        "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"
    )
    assert reason_of(parse_verbalized("```json\n[40, 60]\n```", ("A", "B"))) == (
        "the reply's JSON is a list, not an object"
    )
    # The fence is the one place looked at, even when an object follows it.
    reply = '```\nA: 40, B: 60\n```\n{"A": 40, "B": 60}'
    assert reason_of(parse_verbalized(reply, ("A", "B"))).startswith("invalid JSON: ")


# --------------------------------------------------------------------------- free text


def test_free_text_user_asks_without_forcing_a_letter() -> None:
    prompt = render(text="Is it good?", options=["Yes", "No"])
    assert free_text_user(prompt) == (
        "Is it good?\n\nHere are the options:\n(A) Yes\n(B) No\n\n"
        "Which of these options would you choose?"
    )
    assert "letter" not in free_text_user(prompt)


def test_choice_kinds() -> None:
    assert CHOICE_KINDS == ("option", "declined", "refused", "unparsed", "ambiguous")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B) No. I think it does not.", FreeTextChoice("B", "option")),
        ("A", FreeTextChoice("A", "option")),
        ("I would go with (B).", FreeTextChoice("B", "option")),
        ("After some thought, my answer is C", FreeTextChoice("C", "declined")),
        # A letter wins over an option's text elsewhere in the reply.
        ("I'd say (A), though many would say No.", FreeTextChoice("A", "option")),
    ],
)
def test_letters(reply: str, expected: FreeTextChoice) -> None:
    assert parse_free_text(reply, ABC, YES_NO_DK, (False, False, True)) == expected


def test_option_text() -> None:
    assert parse_free_text("I would choose no.", ABC, YES_NO_DK) == FreeTextChoice("B", "option")
    assert parse_free_text("Yes, definitely.", ABC, YES_NO_DK) == FreeTextChoice("A", "option")


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("I would strongly agree with that statement.", "A"),
        ("I agree with it, mostly.", "B"),
        ("I disagree.", "C"),  # "agree" inside "disagree" is not a whole word
        ("Strongly\ndisagree, honestly.", "D"),
    ],
)
def test_the_longer_option_text_wins(reply: str, letter: str) -> None:
    assert parse_free_text(reply, ABCD, AGREE) == FreeTextChoice(letter, "option")


def test_several_options_named_is_ambiguous() -> None:
    assert parse_free_text("Both yes and no, it depends.", ABC, YES_NO_DK) == FreeTextChoice(
        None, "ambiguous"
    )
    # Each named on its own, not one inside the other.
    reply = "I agree in part, but I strongly disagree with the rest."
    assert parse_free_text(reply, ABCD, AGREE) == FreeTextChoice(None, "ambiguous")


def test_refusal_without_an_option() -> None:
    options = ("Good", "Bad")
    reply = "I'm sorry, but I can't take sides on political questions."
    assert parse_free_text(reply, ("A", "B"), options) == FreeTextChoice(None, "refused")
    reply = "I can\u2019t choose between these."
    assert parse_free_text(reply, ("A", "B"), options) == FreeTextChoice(None, "refused")


def test_a_hedge_then_a_letter_counts_as_that_option() -> None:
    reply = "As an AI I have no opinions, but if I had to choose: (B)"
    assert is_refusal(reply)
    assert parse_free_text(reply, ("A", "B"), ("Good", "Bad")) == FreeTextChoice("B", "option")


def test_a_non_substantive_option_is_declined() -> None:
    flags = (False, False, True)
    assert parse_free_text("(C) DK/Refused", ABC, YES_NO_DK, flags) == FreeTextChoice(
        "C", "declined"
    )
    options = ("Yes", "No", "Don't know")
    reply = "Honestly, I don\u2019t  know."
    assert parse_free_text(reply, ABC, options, flags) == FreeTextChoice("C", "declined")
    # The same option unflagged is an ordinary option.
    assert parse_free_text(reply, ABC, options) == FreeTextChoice("C", "option")


def test_lower_case_letters_and_short_texts_are_not_options() -> None:
    options = ("Good", "Bad")
    assert parse_free_text("b) is what I'd pick", ("A", "B"), options) == FreeTextChoice(
        None, "unparsed"
    )
    assert parse_free_text("a", ("A", "B"), options) == FreeTextChoice(None, "unparsed")
    # One-character option texts are not looked for in the text.
    assert parse_free_text("I'd go with 2", ABC, ("1", "2", "3")) == FreeTextChoice(
        None, "unparsed"
    )
    assert parse_free_text("I'd go with 10", ("A", "B"), ("0", "10")) == FreeTextChoice(
        "B", "option"
    )


def test_nothing_recognisable_is_unparsed() -> None:
    assert parse_free_text("Hmm, that is a tough one.", ABC, YES_NO_DK) == FreeTextChoice(
        None, "unparsed"
    )
    assert parse_free_text("", ABC, YES_NO_DK) == FreeTextChoice(None, "unparsed")
    # "no" inside "know" and "Yes" inside "Yesterday" are not whole words.
    reply = "Yesterday I did not know enough to say."
    assert parse_free_text(reply, ABC, YES_NO_DK) == FreeTextChoice(None, "unparsed")
    # Without option texts only letters are read.
    assert parse_free_text("Yes", ABC) == FreeTextChoice(None, "unparsed")


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("As an AI, I do not take positions.", True),
        ("I am an AI and have no stake in this.", True),
        ("I\u2019m an AI assistant.", True),
        ("I don't have personal opinions on politics.", True),
        ("I do not have any personal beliefs.", True),
        ("I cannot answer that.", True),
        ("I can not select one.", True),
        ("I won't pick a side here.", True),
        ("I will not express a preference.", True),
        ("I can't  take sides.", True),
        ("I am not able to help with that.", True),
        ("I'd rather not say.", True),
        ("I prefer not to answer.", True),
        ("It is not appropriate for me to decide.", True),
        ("I choose Yes.", False),
        ("I can choose (A).", False),
        ("As an aide to the minister, I would say yes.", False),
        ("I don't have strong feelings either way.", False),
        ("", False),
    ],
)
def test_is_refusal(text: str, refusal: bool) -> None:
    assert is_refusal(text) is refusal


def test_a_leading_i_pronoun_is_not_option_i() -> None:
    letters = tuple("ABCDEFGHIJK")
    assert parse_free_text("I'd choose (C).", letters) == FreeTextChoice("C", "option")


def test_a_refusal_that_names_no_letter_is_a_refusal_even_with_a_no_option() -> None:
    letters = ("A", "B")
    options = ("Yes", "No")
    text = "As an AI, I have no personal opinions on this."
    assert parse_free_text(text, letters, options) == FreeTextChoice(None, "refused")
    hedged = "As an AI I have no opinions, but if I had to choose: (B)"
    assert parse_free_text(hedged, letters, options) == FreeTextChoice("B", "option")
