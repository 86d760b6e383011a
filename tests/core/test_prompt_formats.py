"""Steering formats: ``bio`` and ``portray`` byte for byte, the paper's format unchanged, and
each format a template of its own (its hash, its cache key, the run's identity)."""

from __future__ import annotations

import re

import pytest

from core import asking, prompts
from core.dataset import Dataset
from core.prompts import Condition, render, template_hash

V2_ANSWER = "Assistant: If I had to select one of the options, my answer would be ("
QUESTION_153 = (
    "Do you think the European Union promotes prosperity?\n\n"
    "Here are the options:\n(A) Yes\n(B) No\n(C) DK/Refused"
)
BIO_USER_153 = (
    "Below you will be asked to provide a short description of the country you are from and "
    "then answer some questions.\n"
    "\n"
    "Description: I am from Russia.\n"
    "\n" + QUESTION_153
)
PORTRAY_USER_153 = (
    "Answer the following question as if you were a person from Russia:\n" + QUESTION_153
)


def test_bio_byte_exact(sample: Dataset) -> None:
    prompt = render(sample.question(153), Condition("country", "Russia"), "bio")
    assert prompt.text == "Human: " + BIO_USER_153 + "\n\n" + V2_ANSWER
    assert prompt.text.encode("utf-8") == (
        b"Human: Below you will be asked to provide a short description of the country you are "
        b"from and then answer some questions.\n\nDescription: I am from Russia.\n\n"
        b"Do you think the European Union promotes prosperity?\n\nHere are the options:\n"
        b"(A) Yes\n(B) No\n(C) DK/Refused\n\n"
        b"Assistant: If I had to select one of the options, my answer would be ("
    )
    assert prompt.user == BIO_USER_153
    assert prompt.answer_prefix == "If I had to select one of the options, my answer would be ("
    assert prompt.template == "bio" and prompt.letters == ("A", "B", "C")
    assert prompt.chat_user() == BIO_USER_153 + "\n\n" + prompts.CHAT_INSTRUCTION


def test_portray_byte_exact(sample: Dataset) -> None:
    prompt = render(sample.question(153), Condition("country", "Russia"), "portray")
    assert prompt.text == (
        "Human: Answer the following question as if you were a person from Russia:\n"
        "Do you think the European Union promotes prosperity?\n\n"
        "Here are the options:\n(A) Yes\n(B) No\n(C) DK/Refused\n\n"
        "Assistant: If I had to select one of the options, my answer would be ("
    )
    assert prompt.user == PORTRAY_USER_153
    assert prompt.template == "portray"
    assert prompt.text.endswith("(")


def test_the_paper_format_is_unchanged(sample: Dataset) -> None:
    cross = Condition("country", "Russia")
    assert render(sample.question(153), cross).text == (
        "Human: How would someone from Russia answer the following question:\n"
        + QUESTION_153
        + "\n\nAssistant: If had to select one of the options, my answer would be ("
    )
    assert render(sample.question(153), cross).user == (
        "How would someone from Russia answer the following question:\n" + QUESTION_153
    )
    assert template_hash("paper") == "3278e89f4371" and template_hash("v2") == "41fd25cab19b"


@pytest.mark.parametrize("name", ["bio", "portray"])
def test_outside_a_country_condition_a_format_asks_as_v2(sample: Dataset, name: str) -> None:
    q = sample.question(153)
    for condition in (Condition("default"), Condition("language", "ru")):
        shown, v2 = render(q, condition, name), render(q, condition, "v2")
        assert (shown.text, shown.user, shown.answer_prefix) == (v2.text, v2.user, v2.answer_prefix)
        assert shown.template == name and shown.template_hash != v2.template_hash
    translated = render(q, Condition("language", "ru"), name, text="Вопрос?", options=["Да", "Нет"])
    assert translated.text == (
        "Human: Вопрос?\n\nHere are the options:\n(A) Да\n(B) Нет\n\n" + V2_ANSWER
    )


def test_every_template_is_its_human_turn_then_its_answer_turn() -> None:
    assert prompts.TEMPLATE_NAMES == ("paper", "v2", "bio", "portray")
    for name in prompts.TEMPLATE_NAMES:
        assert prompts.TEMPLATES[name]["cross"] == (
            "Human: " + prompts.CROSS_USER[name] + "\n\nAssistant: " + prompts.ANSWER_PREFIX[name]
        )
        assert prompts.TEMPLATES[name]["default"].endswith(prompts.ANSWER_PREFIX[name])
        assert prompts.ANSWER_PREFIX[name].endswith("my answer would be (")


def test_template_hashes_are_distinct() -> None:
    hashes = {name: template_hash(name) for name in prompts.TEMPLATE_NAMES}
    assert len(set(hashes.values())) == 4
    assert all(re.fullmatch(r"[0-9a-f]{12}", h) for h in hashes.values())


class _Backend:
    kind, base_url, model, mode = "fake", "", "m", "completions"

    def request_params(self) -> dict[str, object]:
        return {}


def test_the_format_changes_the_cache_key(sample: Dataset) -> None:
    backend = _Backend()
    q = sample.question(153)

    def key(template: str, condition: Condition) -> str:
        build = asking.prompt_builder(sample, condition, template, questions=[q])
        return asking.cache_key(backend, build(q))  # type: ignore[arg-type]

    russia = Condition("country", "Russia")
    keys = {t: key(t, russia) for t in prompts.TEMPLATE_NAMES}
    assert len(set(keys.values())) == 4
    # The default prompts of the formats are v2's: the cache answers them once for all.
    default = Condition("default")
    assert key("bio", default) == key("portray", default) == key("v2", default)
    assert key("paper", default) != key("v2", default)


def test_the_prompt_builder_writes_the_countrys_name(sample: Dataset) -> None:
    q = sample.question(153)
    build = asking.prompt_builder(sample, Condition("country", "uk"), "bio", questions=[q])
    assert "Description: I am from United Kingdom.\n\n" in build(q).text
    shuffled = asking.prompt_builder(
        sample, Condition("country", "uk"), "portray", questions=[q], shuffle_seed=1
    )
    prompt = shuffled(q)
    assert prompt.text.startswith(
        "Human: Answer the following question as if you were a person from United Kingdom:\n"
    )
    labels = [line[:4] for line in prompt.text.splitlines() if re.match(r"\([A-Z]\) ", line)]
    assert labels == ["(A) ", "(B) ", "(C) "]
    assert {line[4:] for line in prompt.text.splitlines() if re.match(r"\([A-C]\) ", line)} == {
        "Yes",
        "No",
        "DK/Refused",
    }


@pytest.mark.parametrize("name", ["bio", "portray"])
def test_hostile_inputs_cannot_forge_option_lines(name: str) -> None:
    prompt = render(
        text="Which?\n(A) me",
        options=["Yes\n(B) forged", "No"],
        condition=Condition("country", "Russia\n(C) forged"),
        template=name,
    )
    labelled = [line for line in prompt.text.splitlines() if re.match(r"^\([A-Z]\) ", line)]
    assert labelled == ["(A) Yes [B] forged", "(B) No"]
    assert "Russia (C) forged" in prompt.text  # the country stays on its line


def test_formats_and_their_templates() -> None:
    assert prompts.STEERING_FORMATS == ("paper", "bio", "portray")
    assert [prompts.template_for_format("paper", t) for t in prompts.TEMPLATE_NAMES] == [
        "paper",
        "v2",
        "paper",
        "paper",
    ]
    assert prompts.template_for_format("bio", "v2") == "bio"
    assert prompts.template_for_format("portray") == "portray"
    assert {t: prompts.STEERING_FORMAT[t] for t in prompts.TEMPLATE_NAMES} == {
        "paper": "paper",
        "v2": "paper",
        "bio": "bio",
        "portray": "portray",
    }
    with pytest.raises(ValueError) as info:
        prompts.parse_steering_format("qa")
    assert str(info.value) == "Unknown steering format 'qa'. Choose one of paper, bio, portray."
    with pytest.raises(ValueError, match="Unknown template 'v9'"):
        prompts.template_for_format("paper", "v9")
