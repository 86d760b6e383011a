"""Prompt templates, versioned, byte-exact to the paper for ``paper``.

Durmus et al. 2023 ask with a Human/Assistant scaffold whose assistant turn ends in ``(`` so
the next token is an option letter. ``paper`` keeps the paper's text verbatim, including its
typo "If had to select"; ``v2`` corrects it. ``chat`` puts the human part in a user message
and asks for the letter only, for chat endpoints without an assistant prefill.

**Steering formats** (how a ``country:X`` condition asks; :data:`STEERING_FORMATS`). The
paper's, ``paper``: "How would someone from X answer the following question". Two more,
adapted from the steering prompts of OpinionQA (Santurkar et al. 2023), which steer a model
toward a group with a short self-description (BIO) or an instruction to portray a member
(PORTRAY):

- ``bio``: "Below you will be asked to provide a short description of the country you are
  from and then answer some questions." then "Description: I am from X." then the question;
- ``portray``: "Answer the following question as if you were a person from X:" then the
  question.

Each format other than the paper's is a template of its own (``bio``, ``portray``), so the run's
manifest records it (``template``, and ``template_hash`` differs) and the response cache keys
its prompts apart. Under the ``default`` and ``language:`` conditions those templates ask
exactly as ``v2`` does, and their answer turn is ``v2``'s ("If I had to select one of the
options, my answer would be ("), so every estimator and backend reads them unchanged and a
format's default run is ``v2``'s default run byte for byte (the cache answers it for free).

How options are written (every template, ``paper`` included):

- One line per option, ``(A) text``, lettered A, B, C… in the published order, which is the
  order the human distributions follow. Nothing is sorted: the published
  ``[0.0, 9.0, 10.0, 'DK/Refused', 1.0, ...]`` is shown as ``(A) 0``, ``(B) 9``, ``(C) 10``,
  ``(D) DK/Refused``, ``(E) 1``… so that letter ``E`` is the answer the data calls ``1.0``.
- Numeric options arrive from :mod:`core.dataset` as the strings a person would write:
  ``[0.0, 1.0, ..., 10.0]`` renders ``(A) 0`` … ``(K) 10``, and
  ``['Not important at all', 1.0, ..., 9.0, 'Very important']`` renders
  ``(A) Not important at all``, ``(B) 1`` … ``(J) 9``, ``(K) Very important``. (Python's
  ``str(1.0)`` would give ``1.0``; the paper's text says nothing about these rows.)
- An option can never forge another option line (:func:`option_line_text`): line breaks
  inside an option become one space, and a single-capital-letter label such as ``(B)``
  inside an option becomes ``[B]``. Lines of the question text that start with such a label
  get the same treatment, so a prompt for K options has exactly K lines that start with a
  ``(X)`` label, the K letters in order. No option or text of the published file is changed
  by this.
- A question has at most 26 options (one letter each, which is what backends read back); a
  question with more is flagged unaskable by :mod:`core.dataset`, and :func:`format_options`
  refuses it.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from typing import Literal

from core.dataset import MAX_OPTIONS, Question
from core.errors import InvalidValueError

LETTERS = string.ascii_uppercase[:MAX_OPTIONS]

# Every character str.splitlines() breaks a line at.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK_RUN = re.compile(f"[ \t]*(?:\r\n|[{_LINE_BREAKS}])[{_LINE_BREAKS} \t]*")
_ANY_LINE_BREAK = re.compile(f"\r\n|[{_LINE_BREAKS}]")
# A label the prompt itself uses: one capital letter in parentheses, e.g. "(B)" or "( B )".
_LABEL = re.compile(r"\(\s*([A-Z])\s*\)")
_LINE_START_LABEL = re.compile(r"^([^\S\n]*)\(\s*([A-Z])\s*\)", re.MULTILINE)

_DEFAULT = (
    "Human: {question}\n\nHere are the options:\n{options}\n\n"
    "Assistant: If had to select one of the options, my answer would be ("
)
_CROSS = (
    "Human: How would someone from {country} answer the following question:\n{question}\n\n"
    "Here are the options:\n{options}\n\n"
    "Assistant: If had to select one of the options, my answer would be ("
)
_FIX = ("If had to select", "If I had to select")
# The human turn of a cross-national prompt, per steering format (the scaffolds above and below
# are "Human: " + this + "\n\nAssistant: " + the answer prefix).
_PAPER_CROSS_USER = (
    "How would someone from {country} answer the following question:\n{question}\n\n"
    "Here are the options:\n{options}"
)
_BIO_CROSS_USER = (
    "Below you will be asked to provide a short description of the country you are from and "
    "then answer some questions.\n\nDescription: I am from {country}.\n\n{question}\n\n"
    "Here are the options:\n{options}"
)
_PORTRAY_CROSS_USER = (
    "Answer the following question as if you were a person from {country}:\n{question}\n\n"
    "Here are the options:\n{options}"
)
_V2_PREFIX = "If I had to select one of the options, my answer would be ("

TemplateName = Literal["paper", "v2", "bio", "portray"]
"""A prompt template's name: ``paper`` (the paper's text verbatim), ``v2`` (typo fixed), or a
steering format's (``bio``, ``portray``: ``v2`` with another cross-national text)."""
TEMPLATE_NAMES: tuple[TemplateName, ...] = ("paper", "v2", "bio", "portray")

SteeringFormat = Literal["paper", "bio", "portray"]
"""How a ``country:X`` condition asks: the paper's "How would someone from X answer", a short
self-description (``bio``) or an instruction to answer as a person from X (``portray``)."""
STEERING_FORMATS: tuple[SteeringFormat, ...] = ("paper", "bio", "portray")

ConditionKind = Literal["default", "country", "language"]
"""How a model is asked: plainly, as someone from a country, or in a language."""
CONDITION_KINDS: tuple[ConditionKind, ...] = ("default", "country", "language")

TEMPLATES: dict[TemplateName, dict[str, str]] = {
    "paper": {"default": _DEFAULT, "cross": _CROSS},
    "v2": {"default": _DEFAULT.replace(*_FIX), "cross": _CROSS.replace(*_FIX)},
    "bio": {
        "default": _DEFAULT.replace(*_FIX),
        "cross": "Human: " + _BIO_CROSS_USER + "\n\nAssistant: " + _V2_PREFIX,
    },
    "portray": {
        "default": _DEFAULT.replace(*_FIX),
        "cross": "Human: " + _PORTRAY_CROSS_USER + "\n\nAssistant: " + _V2_PREFIX,
    },
}

CHAT_INSTRUCTION = "Answer with the letter of one option only, for example (A)."
ANSWER_PREFIX: dict[TemplateName, str] = {
    "paper": "If had to select one of the options, my answer would be (",
    "v2": _V2_PREFIX,
    "bio": _V2_PREFIX,
    "portray": _V2_PREFIX,
}
CROSS_USER: dict[TemplateName, str] = {
    "paper": _PAPER_CROSS_USER,
    "v2": _PAPER_CROSS_USER,
    "bio": _BIO_CROSS_USER,
    "portray": _PORTRAY_CROSS_USER,
}
"""The human turn of each template's cross-national prompt (a chat endpoint's user message)."""
STEERING_FORMAT: dict[TemplateName, SteeringFormat] = {
    "paper": "paper",
    "v2": "paper",
    "bio": "bio",
    "portray": "portray",
}
"""The steering format each template asks a ``country:X`` condition in."""


def parse_template(name: str) -> TemplateName:
    """``name`` as a template name (for values from a config, a command line, a store).

    Raises:
        ValueError: ``name`` is not a template, naming it and the accepted ones.
    """
    for known in TEMPLATE_NAMES:
        if name == known:
            return known
    raise InvalidValueError(
        f"Unknown template {name!r}: choose one of {', '.join(TEMPLATE_NAMES)}."
    )


def parse_steering_format(name: str) -> SteeringFormat:
    """``name`` as a steering format (``--format``, a picker).

    Raises:
        InvalidValueError: ``name`` is not a format, naming it and the accepted ones.
    """
    for known in STEERING_FORMATS:
        if name == known:
            return known
    raise InvalidValueError(
        f"Unknown steering format {name!r}.", f"Choose one of {', '.join(STEERING_FORMATS)}."
    )


def template_for_format(steering: str, template: str = "paper") -> TemplateName:
    """The template that asks in steering format ``steering``.

    ``paper`` keeps ``template`` when it asks in the paper's format (``paper`` or ``v2``, the
    typo or not) and is ``paper`` otherwise; ``bio`` and ``portray`` are their own templates.

    Raises:
        InvalidValueError: an unknown format or template.
    """
    fmt = parse_steering_format(steering)
    name = parse_template(template)
    if fmt == "paper":
        return name if STEERING_FORMAT[name] == "paper" else "paper"
    return fmt


def parse_condition_kind(text: str) -> ConditionKind:
    """``text`` as a condition kind (``default``, ``country`` or ``language``).

    Raises:
        ValueError: ``text`` is not a condition kind, naming it and the accepted ones.
    """
    for known in CONDITION_KINDS:
        if text == known:
            return known
    raise InvalidValueError(
        f"Unknown condition kind {text!r}: choose one of {', '.join(CONDITION_KINDS)}."
    )


@dataclass(frozen=True)
class Condition:
    """How the model is asked: ``default``, ``country:NAME`` or ``language:CODE``."""

    kind: ConditionKind
    value: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == "default" else f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``default``, ``country:Russia`` or ``language:ru``.

        Raises:
            ValueError: with the accepted forms.
        """
        text = (text or "default").strip()
        if text.lower() == "default":
            return cls("default")
        kind, _, value = text.partition(":")
        kind = kind.strip().lower()
        if kind == "language" and value.strip():
            # Language codes are case-insensitive (BCP 47); translations are kept lower-case.
            return cls("language", value.strip().lower())
        if kind == "country" and value.strip():
            return cls("country", value.strip())
        raise InvalidValueError(
            f"Unknown condition {text!r}: use 'default', 'country:NAME' (e.g. country:Russia) "
            "or 'language:CODE' (e.g. language:ru)."
        )


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt.

    Attributes:
        text: the whole Human/Assistant prompt, ending in ``(``, for completion endpoints.
        user: the human part alone (for chat endpoints).
        answer_prefix: the assistant's words before the letter (for a chat prefill).
        template: template name (:data:`TEMPLATE_NAMES`) and ``template_hash`` its text's
            sha256[:12].
        letters: the option letters, ``A``.. in order.
    """

    text: str
    user: str
    answer_prefix: str
    template: TemplateName
    template_hash: str
    letters: tuple[str, ...]

    def chat_user(self) -> str:
        """The user message for chat endpoints with no prefill."""
        return f"{self.user}\n\n{CHAT_INSTRUCTION}"


def template_hash(name: str) -> str:
    """A short hash of a template's full text (every scaffold of that version).

    Raises:
        ValueError: ``name`` is not a template (:func:`parse_template`).
    """
    scaffolds = TEMPLATES[parse_template(name)]
    blob = "\x1e".join(scaffolds[k] for k in sorted(scaffolds))
    blob += "\x1e" + CHAT_INSTRUCTION
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def option_line_text(option: str) -> str:
    """An option made safe to write after its label: one line, no label of its own.

    Line breaks (and the spaces around them) become one space, and a label-like ``(B)``
    becomes ``[B]``. Any other option comes back unchanged, byte for byte.
    """
    if _ANY_LINE_BREAK.search(option):
        option = _LINE_BREAK_RUN.sub(" ", option).strip(" \t")
    return _LABEL.sub(r"[\1]", option)


def question_text(text: str) -> str:
    """The question text with its line breaks made ``\n`` and no line starting with a label.

    Multi-line questions keep their lines; a line starting with ``(C)`` (which would read as
    an option) starts with ``[C]`` instead. A published question comes back unchanged.
    """
    if _ANY_LINE_BREAK.search(text):
        text = _ANY_LINE_BREAK.sub("\n", text)
    return _LINE_START_LABEL.sub(r"\1[\2]", text)


def format_options(options: tuple[str, ...] | list[str]) -> str:
    """Options as the paper lists them: ``(A) text`` lines, one per option.

    Raises:
        ValueError: more than 26 options (core.dataset flags such a question unaskable, and
            ``Dataset.askable`` leaves it out of runs).
    """
    if len(options) > len(LETTERS):
        raise ValueError(
            f"A question has {len(options)} options; at most {len(LETTERS)} can be lettered "
            "(A-Z). Leave it out of the run (Dataset.askable does)."
        )
    return "\n".join(f"({LETTERS[i]}) {option_line_text(opt)}" for i, opt in enumerate(options))


def render(
    question: Question | None = None,
    condition: Condition | None = None,
    template: str = "paper",
    *,
    text: str | None = None,
    options: tuple[str, ...] | list[str] | None = None,
    country_display: str | None = None,
    scaffold: dict[str, str] | None = None,
) -> Prompt:
    """Render the prompt for a question under a condition.

    Args:
        question: the question (its text and options are used unless overridden).
        condition: ``default``, ``country:…`` or ``language:…``; default is ``default``.
        template: ``paper`` (verbatim), ``v2``, ``bio`` or ``portray`` (a steering format:
            see the module's doc); any other name raises ``ValueError`` (scripts and tests
            pass plain strings, so the name is checked here).
        text, options: override the question's text/options (a translation, or a shuffle).
        country_display: the name written into the cross-national prompt (defaults to the
            condition's value as given).
        scaffold: a translated scaffold ``{"default": ..., "answer_prefix": ...}`` for
            linguistic prompting; must keep the ``{question}`` and ``{options}`` fields.
    """
    condition = condition or Condition("default")
    name = parse_template(template)
    q_text = question_text(text if text is not None else (question.text if question else ""))
    q_opts = tuple(options if options is not None else (question.options if question else ()))
    opts = format_options(q_opts)
    prefix = ANSWER_PREFIX[name]
    if condition.kind == "country":
        body = TEMPLATES[name]["cross"]
        country = " ".join((country_display or condition.value).split())
        full = body.format(country=country, question=q_text, options=opts)
        user = CROSS_USER[name].format(country=country, question=q_text, options=opts)
    else:
        body = (scaffold or {}).get("default") or TEMPLATES[name]["default"]
        if scaffold and scaffold.get("answer_prefix"):
            prefix = scaffold["answer_prefix"]
        full = body.format(question=q_text, options=opts)
        user = f"{q_text}\n\nHere are the options:\n{opts}"
    return Prompt(
        text=full,
        user=user,
        answer_prefix=prefix,
        template=name,
        template_hash=template_hash(name),
        letters=tuple(LETTERS[: len(q_opts)]),
    )
