"""A question as a request: its prompt under a condition and a template, the key the
response cache knows it by, and one ask through that cache.

:class:`PromptBuilder` renders a question under a run's condition (the country's name, the
translation a ``language:`` condition needs) in any option order; :func:`cache_key` hashes
everything that decides a response; :func:`ask_cached` asks through the cache. The runner,
:mod:`core.estimation`, the CLI's ``ask`` and the app's chart all build on these.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from core import countries, diagnostics
from core.backends.base import (
    DEFAULT_MAX_OFF_OPTION,
    Answer,
    Backend,
    InvalidAnswerError,
    PartialCallback,
    validate_answer,
)
from core.backends.retry import RetryPolicy, ask_with_retries
from core.dataset import Dataset, NotAskableError, Question
from core.errors import GoqaError
from core.prompts import Condition, Prompt, TemplateName, parse_template, render
from core.store import Store
from core.translate import translation_table


class MissingTranslationsError(GoqaError):
    """A ``language:`` condition with questions that have no translation yet."""

    title = "Translations missing"

    def __init__(self, language: str, missing: int, total: int) -> None:
        super().__init__(
            f"{missing} of {total} questions have no translation into {language!r}. "
            f"Make them with 'goqa translate --language {language}' (a model translates) or "
            f"'goqa translate --import FILE.jsonl' (human translations), then run again."
        )
        self.language = language
        self.missing = missing


@dataclass(frozen=True)
class PromptBuilder:
    """Renders a question's prompt under one condition and template.

    Built once per run with :func:`prompt_builder`, which resolves the country name and loads
    the translations a ``language:`` condition needs.
    """

    condition: Condition
    template: TemplateName
    country_display: str | None = None
    translations: dict[str, tuple[str, tuple[str, ...]]] | None = None
    shuffle_seed: int | None = None

    def permutation(self, question: Question) -> np.ndarray | None:
        """The shown option order (``perm[i]`` = original index), or None when not shuffled."""
        if self.shuffle_seed is None:
            return None
        return diagnostics.shuffled_order(question.key, len(question.options), self.shuffle_seed)

    def __call__(self, question: Question) -> Prompt:
        return self.render_order(question, self.permutation(question))

    def can_render(self, question: Question) -> bool:
        """The question can be rendered under this condition (a ``language:`` condition
        needs its translation, with as many options)."""
        if self.condition.kind != "language":
            return True
        entry = (self.translations or {}).get(question.key)
        return entry is not None and len(entry[1]) == len(question.options)

    def render_order(self, question: Question, perm: np.ndarray | Sequence[int] | None) -> Prompt:
        """The prompt with the options shown in ``perm`` order (``perm[i]`` = the published
        index shown at position ``i``; None = the published order)."""
        text: str | None = None
        options: tuple[str, ...] | None = None
        if self.condition.kind == "language":
            assert self.translations is not None
            text, options = self.translations[question.key]
        if perm is not None:
            if options is not None:
                return diagnostics.shuffled_render(
                    question, self.condition, self.template, perm, text=text, options=options
                )
            return diagnostics.shuffled_render(
                question, self.condition, self.template, perm, country_display=self.country_display
            )
        if options is not None:
            return render(question, self.condition, self.template, text=text, options=options)
        return render(question, self.condition, self.template, country_display=self.country_display)

    def shown_options(self, question: Question) -> tuple[str, ...]:
        """The option texts as the prompt shows them in the published order (translated
        under a ``language:`` condition)."""
        if self.condition.kind == "language" and self.translations is not None:
            return tuple(self.translations[question.key][1])
        return tuple(question.options)

    def original_order(self, question: Question, answer: Answer) -> Answer:
        """An answer to a shuffled prompt with its probabilities in the original order."""
        perm = self.permutation(question)
        if perm is None:
            return answer
        return replace(answer, probs=diagnostics.unshuffle(answer.probs, perm))


def prompt_builder(
    dataset: Dataset,
    condition: Condition,
    template: str,
    store: Store | None = None,
    questions: Sequence[Question] = (),
    shuffle_seed: int | None = None,
) -> PromptBuilder:
    """Resolve what a condition needs before any request is sent.

    Raises:
        ValueError: ``template`` is not a template's name.
        NotAskableError: one of ``questions`` cannot be asked (no text, too many options).
        core.countries.UnknownCountryError: ``country:NAME`` matches no country (with hints).
        MissingTranslationsError: ``language:CODE`` lacks translations for some questions.
    """
    name = parse_template(template)
    for q in questions:
        if not q.is_askable:
            raise NotAskableError(
                f"Question #{q.id} cannot be asked of a model: {'; '.join(q.flags)}. "
                f"'goqa show {q.id}' shows its human data; runs leave it out."
            )
    if condition.kind == "country":
        country = countries.match(condition.value, dataset.countries)
        return PromptBuilder(
            condition, name, country_display=country.display, shuffle_seed=shuffle_seed
        )
    if condition.kind == "language":
        table = translation_table(condition.value, store)
        missing = sum(
            1 for q in questions if q.key not in table or len(table[q.key][1]) != len(q.options)
        )
        if missing:
            raise MissingTranslationsError(condition.value, missing, len(questions))
        return PromptBuilder(condition, name, translations=table, shuffle_seed=shuffle_seed)
    return PromptBuilder(condition, name, shuffle_seed=shuffle_seed)


def cache_key(backend: Backend, prompt: Prompt) -> str:
    """Hash of everything that decides a response: backend identity, prompt, parameters."""
    blob = json.dumps(
        {
            "kind": backend.kind,
            "base_url": backend.base_url,
            "model": backend.model,
            "mode": backend.mode,
            "prompt": prompt.text,
            "user": prompt.user,
            "prefix": prompt.answer_prefix,
            "letters": prompt.letters,
            "params": backend.request_params(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cached_answer(
    store: Store | None, key: str, max_off_option: float = DEFAULT_MAX_OFF_OPTION
) -> Answer | None:
    """The cache entry for ``key``, checked like a fresh answer; None for a miss or for an
    entry that no longer passes :func:`~core.backends.base.validate_answer` (one stored by
    an older goqa, say), which is then asked again."""
    hit = store.cache_get(key) if store is not None else None
    if hit is None:
        return None
    try:
        return validate_answer(hit, max_off_option)
    except InvalidAnswerError:
        return None


async def ask_cached(
    backend: Backend,
    prompt: Prompt,
    store: Store | None,
    retry: RetryPolicy | None = None,
    on_partial: PartialCallback | None = None,
    max_off_option: float = DEFAULT_MAX_OFF_OPTION,
) -> tuple[Answer, bool]:
    """Ask through the response cache. Returns (answer, came_from_cache).

    Raises:
        BackendError: the request failed or the answer is not valid (nothing is cached).
    """
    key = cache_key(backend, prompt)
    hit = cached_answer(store, key, max_off_option)
    if hit is not None:
        return hit, True
    answer = await ask_with_retries(
        backend, prompt, retry, on_partial, max_off_option=max_off_option
    )
    if store is not None and not store.read_only:
        store.cache_put(key, answer)
    return answer, False
