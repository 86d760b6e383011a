"""Translations for linguistic prompting: by a model (batched, cached in the store, with an
optional back-translation that flags doubtful items) or imported from human translators.

A model backend needs ``generate(text, max_tokens) -> str`` (free text, temperature 0).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from core import jsonlines
from core.backends.base import BackendError
from core.dataset import Dataset, Question
from core.errors import GoqaError
from core.languages import language_name
from core.store import Store, Translation

_WORD = re.compile(r"\w+", re.UNICODE)
DOUBT_THRESHOLD = 0.35


class TranslationError(GoqaError):
    """A translation problem with a message that names the fix."""

    title = "Translation problem"


_BUNDLED = "translations_sample.jsonl"


@cache
def bundled_translations(language: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Translations shipped with goqa for the first 30 sample questions (ru, zh, tr), by key.

    They let the linguistic experiment run offline on the bundled sample; stored translations
    (imported or made by a model) take precedence over them.
    """
    text = (resources.files("core.data") / _BUNDLED).read_text(encoding="utf-8")
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in text.splitlines():
        if line.strip():
            obj = json.loads(line)
            if obj["language"] == language:
                out[obj["key"]] = (obj["question"], tuple(obj["options"]))
    return out


TranslationTable = dict[str, tuple[str, tuple[str, ...]]]
"""Question key -> (translated question, translated options)."""


def translation_table(language: str, store: Store | None) -> TranslationTable:
    """Every translation into ``language`` that goqa can ask with, by question key.

    The bundled translations (:func:`bundled_translations`), overridden key by key by the
    store's (imported or made by a model): a stored translation is the user's own choice.
    Asking (:func:`core.asking.prompt_builder`) and showing a question in the app both read
    this table, so the question shown is the question asked.

    Args:
        language: the language code (``ru``).
        store: the results store holding stored translations, or None for the bundled
            ones only. Reading it is a database query: call this off the event loop.

    Returns:
        A new dict (changing it changes neither the store nor the bundled table).
    """
    table = dict(bundled_translations(language))
    if store is not None:
        table.update({k: (t.question, t.options) for k, t in store.translations(language).items()})
    return table


def _request(question: str, options: Sequence[str], target: str, source: str = "English") -> str:
    payload = json.dumps({"question": question, "options": list(options)}, ensure_ascii=False)
    return (
        f"Translate this survey question and its answer options from {source} into {target}. "
        "Keep the meaning and the number and order of the options exactly. Reply with JSON "
        'only, in the form {"question": "...", "options": ["...", ...]}.\n\n'
        f"{payload}"
    )


def parse_reply(text: str, n_options: int) -> tuple[str, tuple[str, ...]]:
    """Pull ``{"question", "options"}`` out of a model's reply.

    Raises:
        TranslationError: no JSON object, wrong fields, or a different number of options.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise TranslationError("the model's reply holds no JSON object")
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise TranslationError(f"the model's reply is not valid JSON ({exc.msg})") from None
    question, options = obj.get("question"), obj.get("options")
    if not isinstance(question, str) or not question.strip():
        raise TranslationError("the reply has no 'question' text")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise TranslationError("the reply's 'options' is not a list of strings")
    if len(options) != n_options:
        raise TranslationError(f"the reply has {len(options)} options, expected {n_options}")
    return question.strip(), tuple(o.strip() for o in options)


def overlap(a: str, b: str) -> float:
    """Word-set Jaccard overlap of two texts, case-insensitive (1.0 = same words)."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


@dataclass(frozen=True)
class TranslateOutcome:
    translated: int
    skipped: int
    failed: tuple[tuple[str, str], ...]  # (question key, reason)
    doubtful: int


async def translate(
    questions: Sequence[Question],
    language: str,
    backend: Any,
    backend_name: str,
    store: Store,
    concurrency: int = 4,
    back_translate: bool = False,
    force: bool = False,
    on_done: Callable[[Question, Translation | None, str | None], None] | None = None,
) -> TranslateOutcome:
    """Translate questions with a model and store the results (existing ones are kept).

    Args:
        backend: a backend with ``async generate(text, max_tokens) -> str``.
        back_translate: translate back into English and flag items whose words overlap the
            original less than ``DOUBT_THRESHOLD`` as doubtful.
    """
    if not hasattr(backend, "generate"):
        raise TranslationError(
            f"Backend {backend_name!r} cannot generate free text; use an openai, anthropic or "
            "local backend, or import human translations with --import."
        )
    existing = store.translations(language)
    # A question that cannot be asked (no text, too many options) is never sent to translate.
    todo = [q for q in questions if q.is_askable and (force or q.key not in existing)]
    target = language_name(language)
    sem = asyncio.Semaphore(max(1, concurrency))
    failed: list[tuple[str, str]] = []
    done: list[Translation] = []

    async def one(q: Question) -> None:
        async with sem:
            try:
                max_tokens = min(1024, 64 + 2 * (len(q.text) + sum(len(o) for o in q.options)))
                reply = await backend.generate(_request(q.text, q.options, target), max_tokens)
                text, options = parse_reply(reply, len(q.options))
                back, doubtful = "", False
                if back_translate:
                    back_reply = await backend.generate(
                        _request(text, options, "English", source=target), max_tokens
                    )
                    back_text, _ = parse_reply(back_reply, len(q.options))
                    back = back_text
                    doubtful = overlap(back_text, q.text) < DOUBT_THRESHOLD
            except (BackendError, TranslationError) as exc:
                failed.append((q.key, str(exc)))
                if on_done:
                    on_done(q, None, str(exc))
                return
        t = Translation(
            question_key=q.key,
            language=language,
            question=text,
            options=options,
            origin="model",
            backend=backend_name,
            model=getattr(backend, "model", ""),
            back_translation=back,
            doubtful=doubtful,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        store.put_translations([t])
        done.append(t)
        if on_done:
            on_done(q, t, None)

    await asyncio.gather(*(one(q) for q in todo))
    return TranslateOutcome(
        translated=len(done),
        skipped=len(questions) - len(todo),
        failed=tuple(failed),
        doubtful=sum(t.doubtful for t in done),
    )


def import_file(path: Path, dataset: Dataset, store: Store) -> tuple[int, list[str]]:
    """Import human translations from JSONL lines ``{"key", "language", "question", "options"}``.

    Returns (imported count, problems by line). Lines for unknown keys or with the wrong number
    of options are reported, not imported.
    """
    try:
        read = jsonlines.read(
            path, "Translations file", '{"key", "language", "question", "options"}'
        )
    except jsonlines.JSONLinesError as exc:
        raise TranslationError(str(exc)) from None
    items: list[Translation] = []
    problems = list(read.problems)
    for n, obj in read.objects:
        key, lang = obj.get("key"), obj.get("language")
        question, options = obj.get("question"), obj.get("options")
        if not isinstance(key, str) or key not in dataset.key_index:
            problems.append(f"line {n}: unknown question key {key!r}")
            continue
        if not isinstance(lang, str) or not lang.strip():
            problems.append(f"line {n}: missing 'language' code")
            continue
        if not isinstance(question, str) or not question.strip():
            problems.append(f"line {n}: missing 'question' text")
            continue
        k = int(dataset.n_options[dataset.key_index[key]])
        if (
            not isinstance(options, list)
            or len(options) != k
            or not all(isinstance(o, str) for o in options)
        ):
            problems.append(f"line {n}: 'options' must be a list of {k} strings")
            continue
        items.append(
            Translation(
                question_key=key,
                language=lang.strip(),
                question=question,
                options=tuple(options),
                origin="human",
            )
        )
    store.put_translations(items)
    return len(items), jsonlines.in_line_order(problems)
