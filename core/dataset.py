"""GlobalOpinionQA: load the published CSV format into plain, vectorisable data.

The file has four columns: ``question``, ``selections`` (the text
``defaultdict(<class 'list'>, {'Country': [p0, p1, ...], ...})``), ``options`` (a Python
literal list of strings and, in 24 published rows, numbers) and ``source`` (``GAS`` or
``WVS``). Literals are read with ``ast.literal_eval`` on the ``{...}`` part only; nothing is
ever ``eval``-ed.

A loaded :class:`Dataset` keeps every (question, country) pair in flat numpy arrays so the
metric runs over all of them at once; :class:`Question` objects are light views on demand.

Quirks of the published file and what the loader does with them:

- **Numeric options** (``[0.0, 1.0, ..., 10.0]``, ``['Not important at all', 1.0, ...,
  'Very important']``, even ``[0.0, 9.0, 10.0, 'DK/Refused', 1.0, ...]``) are real options.
  They are kept in the published order, which the distributions are aligned to, and stored
  as the strings a person would write (:func:`option_text`: ``1.0`` -> ``"1"``, ``2.5`` ->
  ``"2.5"``); ``Dataset.options``, ``Question.options`` and the question key all use those
  strings.
- **Questions that cannot be asked** load like any other (their human data is real) but carry
  flags, the reasons they cannot be put to a model: an empty question text (one WVS row of
  the published file), more options than the 26 letters A-Z, two options that read the
  same. :meth:`Dataset.askable` splits a selection into the positions to ask and the ones to
  leave out with their reasons; runs leave flagged questions out.
- **Identical questions** (same text and options) get distinct keys: the first keeps
  :func:`question_key`, the n-th repeat in file order gets ``<key>-n`` (see
  :func:`unique_keys`).
"""

from __future__ import annotations

import ast
import contextlib
import csv
import hashlib
import io
import math
import os
import pickle
import re
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from core import paths
from core.errors import GoqaError

SOURCES = ("GAS", "WVS")
COLUMNS = ("question", "selections", "options", "source")
FULL_REVISION = "cb2880488749218abb81802a94c2c62ebfde2f35"
FULL_FILENAME = "global_opinions.csv"
_CACHE_FORMAT = 5
MAX_OPTIONS = 26
"""Options a prompt can label with the single letters A-Z; more makes a question unaskable."""
MAX_FILE_BYTES = 200 * 1024 * 1024
"""Largest dataset file read (the published file is 4.7 MB); bigger is refused unread."""

_NON_SUBSTANTIVE = re.compile(
    r"(\((VOL|DO NOT READ)\)\s*$)|(^DK\b)|(\bdon['\u2019]?t know\b)|(^no answer\b)|(^missing\b)"
    r"|(^other missing\b)|(\brefused\b)|(^not applicable\b)",
    re.IGNORECASE,
)


def is_non_substantive(option: str) -> bool:
    """True for options that are not an opinion: DK/Refused, ``... (VOL)``, Missing, etc."""
    return bool(_NON_SUBSTANTIVE.search(option.strip()))


class DatasetError(GoqaError):
    """A dataset that cannot be used at all; the message says what to do.

    Attributes:
        problems: the bad rows, when the file was read but no row was usable.
        rows_read: data rows read before giving up (0 if the file could not be read as a CSV).
    """

    title = "Dataset problem"

    def __init__(
        self, message: str, problems: Sequence[RowProblem] = (), rows_read: int = 0
    ) -> None:
        super().__init__(message)
        self.problems = tuple(problems)
        self.rows_read = rows_read


class UnknownQuestionError(DatasetError, KeyError):
    """No question has the id or key asked for; the message says where to find them."""

    title = "No such question"


class NotAskableError(DatasetError):
    """A question that loads and can be browsed but cannot be put to a model (no text, more
    options than letters, two options that read the same): see :meth:`Dataset.askable`."""

    title = "Question cannot be asked"


@dataclass(frozen=True)
class RowProblem:
    """A skipped row: ``row`` is the 1-based data row number (the header is row 0)."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(frozen=True)
class Question:
    """One survey question with its human answer distributions.

    Attributes:
        id: 0-based row index in the loaded file (skipped bad rows leave gaps).
        key: short content hash of the text and options, stable across files; unique within
            a dataset (a repeated question gets a ``-2``, ``-3``… suffix, see unique_keys()).
        text: the question as published (may be empty: see ``flags``).
        options: the answer options, in the published order, as display strings (a numeric
            option ``1.0`` is ``"1"``, see option_text()).
        source: ``GAS`` (Pew Global Attitudes) or ``WVS`` (World Values Survey).
        countries: raw country keys that have a distribution for this question.
        human: array (len(countries), len(options)) of the published values (not renormalised).
        nonsubstantive: bool array (len(options),), True for DK/Refused-like options.
        flags: why the question cannot be asked of a model (empty: it can), e.g.
            ``("empty question text: ...",)``. Its human data is still real and browsable.
    """

    id: int
    key: str
    text: str
    options: tuple[str, ...]
    source: str
    countries: tuple[str, ...]
    human: np.ndarray
    nonsubstantive: np.ndarray
    flags: tuple[str, ...] = ()

    @property
    def is_askable(self) -> bool:
        """True when a prompt can be rendered and sent for this question (no flags)."""
        return not self.flags

    @property
    def headline(self) -> str:
        """A one-line summary that keeps the part that tells questions apart (see headline())."""
        return headline(self.text)

    def distribution(self, country: str) -> np.ndarray | None:
        """The country's distribution renormalised to sum 1, or None when it has no data."""
        try:
            row = self.human[self.countries.index(country)]
        except ValueError:
            return None
        total = float(row.sum())
        return row / total if total > 0 else None


NO_TEXT_HEADLINE = "(no question text in the source file)"
"""What :func:`headline` shows for a question whose text is empty."""


def headline(text: str) -> str:
    """One line for lists: Pew battery items ("…problems in our country...Air pollution") put
    the item that distinguishes them after the last ``...``; bring it to the front."""
    flat = " ".join(text.split())
    if not flat:
        return NO_TEXT_HEADLINE
    stem, sep, item = flat.rpartition("...")
    if sep and item.strip() and len(item.strip()) < 160:
        return f"{item.strip()} — {stem.strip()}"
    return flat


def question_key(text: str, options: tuple[str, ...] | list[str]) -> str:
    """Stable 12-hex-digit key for a question: hash of its text and (display) options.

    Surrounding whitespace of the text and of each option does not count. Two identical
    questions in one file share this hash; :func:`unique_keys` tells them apart.
    """
    blob = text.strip() + "\x1f" + "\x1e".join(o.strip() for o in options)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def unique_keys(hashes: Iterable[str]) -> tuple[str, ...]:
    """Make content hashes unique in file order: the n-th repeat of ``h`` becomes ``h-n``.

    Args:
        hashes: :func:`question_key` of each question, in file order.

    Returns:
        The keys, one per hash: the first occurrence keeps the bare hash (so a question's key
        is the same in every file that has it once), the second becomes ``h-2``, the third
        ``h-3``. Deterministic: the same file always gives the same keys. A bare hash never
        contains ``-``, so a suffixed key cannot collide with another question's hash.
    """
    seen: dict[str, int] = {}
    keys = []
    for h in hashes:
        seen[h] = seen.get(h, 0) + 1
        keys.append(h if seen[h] == 1 else f"{h}-{seen[h]}")
    return tuple(keys)


def option_text(option: str | int | float) -> str:
    """An option as a person would write it: strings unchanged, ``1.0`` -> ``"1"``.

    Integral floats lose the ``.0`` (``10.0`` -> ``"10"``, ``-0.0`` -> ``"0"``); other floats
    keep their shortest exact form (``2.5`` -> ``"2.5"``).

    Raises:
        ValueError: a NaN or infinite number, a bool or any other non-string.
    """
    if isinstance(option, str):
        return option
    if isinstance(option, bool) or not isinstance(option, int | float):
        raise ValueError(
            f"options must be strings or numbers; got {type(option).__name__} {option!r}"
        )
    if isinstance(option, int):
        return str(option)
    if math.isnan(option) or math.isinf(option):
        raise ValueError(f"options has a NaN or infinite number {option!r}")
    if option.is_integer() and abs(option) < 1e16:
        return str(int(option))
    return repr(option)


def question_flags(text: str, options: Sequence[str]) -> tuple[str, ...]:
    """Why a question cannot be asked of a model; empty when it can.

    Args:
        text: the question text as loaded.
        options: its options as display strings.

    Returns:
        Reasons, each a sentence fragment that names the problem: an empty text, more than
        :data:`MAX_OPTIONS` options, or two options that read the same (a model could not
        tell them apart, so its answer could not be attributed).
    """
    flags = []
    if not text.strip():
        flags.append("empty question text: the row has no wording to put to a model")
    if len(options) > MAX_OPTIONS:
        flags.append(f"{len(options)} options: a prompt labels at most {MAX_OPTIONS} (letters A-Z)")
    first: dict[str, int] = {}
    for i, option in enumerate(options):
        norm = " ".join(option.split()).casefold()
        if norm in first:
            flags.append(
                f"options {first[norm] + 1} and {i + 1} both read {option.strip()!r}: "
                "a model could not tell them apart"
            )
            break
        first[norm] = i
    return tuple(flags)


@dataclass(frozen=True)
class Dataset:
    """A parsed GlobalOpinionQA file.

    Per-question columns are indexed by *position* (0..len-1); ``ids[pos]`` is the question's
    id, its 0-based row in the file (equal to the position unless bad rows were skipped). Every
    (question, country) pair with a distribution is one row of the ``pair_*`` arrays, grouped
    by question: position ``p`` owns rows ``pair_start[p]:pair_start[p+1]``.

    ``keys`` are unique (see :func:`unique_keys`). ``flags[pos]`` lists why the question at
    ``pos`` cannot be asked of a model (see :func:`question_flags`); use :meth:`askable`
    to pick the questions of a run.
    """

    name: str
    path: str
    sha256: str
    ids: tuple[int, ...]
    texts: tuple[str, ...]
    options: tuple[tuple[str, ...], ...]
    sources: tuple[str, ...]
    keys: tuple[str, ...]
    flags: tuple[tuple[str, ...], ...]  # (Q,) reasons a question cannot be asked; () if it can
    countries: tuple[str, ...]
    n_options: np.ndarray  # (Q,) int
    nonsubstantive: np.ndarray  # (Q, Kmax) bool
    pair_start: np.ndarray  # (Q+1,) int
    pair_question: np.ndarray  # (N,) int
    pair_country: np.ndarray  # (N,) int, index into countries
    pair_human: np.ndarray  # (N, Kmax) float, published values, zero padded
    problems: tuple[RowProblem, ...] = field(default=())
    rows_read: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator[Question]:
        return (self.at(p) for p in range(len(self)))

    @property
    def kmax(self) -> int:
        return int(self.pair_human.shape[1])

    @cached_property
    def key_index(self) -> dict[str, int]:
        """Question key -> position."""
        return {k: i for i, k in enumerate(self.keys)}

    @cached_property
    def id_index(self) -> dict[int, int]:
        """Question id -> position."""
        return {q: i for i, q in enumerate(self.ids)}

    @cached_property
    def country_index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.countries)}

    @cached_property
    def pair_distribution(self) -> np.ndarray:
        """``pair_human`` with each row renormalised to sum 1 (NaN rows: no data)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.pair_human / self.pair_human.sum(axis=1, keepdims=True)

    @cached_property
    def pair_xlogx(self) -> np.ndarray:
        """Sum of h·ln h over each row of ``pair_distribution`` (the metric reuses it)."""
        h = self.pair_distribution
        return np.einsum("nk,nk->n", h, np.log(h + (h == 0)))

    def at(self, pos: int) -> Question:
        """Build the :class:`Question` at position ``pos``."""
        lo, hi = int(self.pair_start[pos]), int(self.pair_start[pos + 1])
        k = int(self.n_options[pos])
        return Question(
            id=self.ids[pos],
            key=self.keys[pos],
            text=self.texts[pos],
            options=self.options[pos],
            source=self.sources[pos],
            countries=tuple(self.countries[c] for c in self.pair_country[lo:hi]),
            human=self.pair_human[lo:hi, :k],
            nonsubstantive=self.nonsubstantive[pos, :k],
            flags=self.flags[pos],
        )

    @property
    def flagged(self) -> tuple[tuple[int, str], ...]:
        """Every question that cannot be asked: (position, reasons joined by "; ")."""
        return tuple((p, "; ".join(f)) for p, f in enumerate(self.flags) if f)

    def askable(
        self, positions: Iterable[int] | None = None
    ) -> tuple[list[int], list[tuple[int, str]]]:
        """Split a selection into the questions a run asks and the ones it leaves out.

        Runs ask only askable questions by default: a flagged question (empty text, more than
        26 options, indistinguishable options) has no prompt that a model could answer.

        Args:
            positions: dataset positions, in run order; None means every question.

        Returns:
            ``(kept, skipped)``: ``kept`` the askable positions in the given order;
            ``skipped`` a ``(position, reason)`` for each left out, in the given order
            (show them with :func:`skipped_note`).
        """
        kept: list[int] = []
        skipped: list[tuple[int, str]] = []
        for p in range(len(self)) if positions is None else positions:
            p = int(p)
            if self.flags[p]:
                skipped.append((p, "; ".join(self.flags[p])))
            else:
                kept.append(p)
        return kept, skipped

    def question(self, qid: int) -> Question:
        """The question with id ``qid``; :class:`UnknownQuestionError` (a KeyError) if the
        file has no such (valid) row."""
        if qid not in self.id_index:
            raise UnknownQuestionError(
                f"No question id {qid} in dataset {self.name!r} (ids run from {self.ids[0]} "
                f"to {self.ids[-1]}; see 'goqa questions')."
            )
        return self.at(self.id_index[qid])

    def find(self, ref: str | int) -> Question:
        """A question by id (``12``) or key (``3fa2c0d19b7e``); :class:`UnknownQuestionError`
        (a KeyError) with a hint if absent."""
        text = str(ref).strip()
        if text in self.key_index:
            return self.at(self.key_index[text])
        if text.isdigit():
            return self.question(int(text))
        raise UnknownQuestionError(
            f"No question {text!r} in dataset {self.name!r}: give an id or a question key "
            "(see 'goqa questions')."
        )

    def countries_per_question(self) -> np.ndarray:
        return np.diff(self.pair_start)

    def filter(
        self,
        search: str | None = None,
        source: str | None = None,
        country: str | None = None,
    ) -> list[int]:
        """Positions of questions matching a case-insensitive search, a source and a country key."""
        needle = search.lower() if search else None
        cidx = self.country_index.get(country) if country else None
        if country and cidx is None:
            return []
        has_country: np.ndarray | None = None
        if cidx is not None:
            has_country = np.zeros(len(self), dtype=bool)
            has_country[self.pair_question[self.pair_country == cidx]] = True
        ids = []
        for i in range(len(self)):
            if source and self.sources[i] != source.upper():
                continue
            if has_country is not None and not has_country[i]:
                continue
            if (
                needle
                and needle not in self.texts[i].lower()
                and not any(needle in o.lower() for o in self.options[i])
            ):
                continue
            ids.append(i)
        return ids


# --------------------------------------------------------------------------- parsing


# The published wrapper ``defaultdict(<class 'list'>, {...})`` or a bare ``{...}``; anything
# else around the mapping (e.g. ``__import__('os')... or {...}``) makes the row bad.
_SELECTIONS_RE = re.compile(
    r"\s*(?:defaultdict\(\s*<class 'list'>\s*,\s*(?P<wrapped>\{.*\})\s*\)|(?P<bare>\{.*\}))\s*",
    re.DOTALL,
)


def _parse_selections(text: str) -> dict[str, list[float]]:
    match = _SELECTIONS_RE.fullmatch(text)
    if not match:
        raise ValueError(
            "selections is not defaultdict(<class 'list'>, {...}) or a {'Country': [...]} mapping"
        )
    body = match["wrapped"] or match["bare"]
    try:
        tree = ast.parse(body, mode="eval").body
        value = ast.literal_eval(tree)
    except ValueError:
        # literal_eval rejects a bare nan/inf with an unhelpful "malformed node <ast.Name…>".
        if re.search(r"[\[,]\s*-?(nan|inf|infinity)\s*[,\]]", body, re.IGNORECASE):
            raise ValueError("a value is NaN or infinite") from None
        raise
    if not isinstance(value, dict):
        raise ValueError("selections is not a mapping")
    # literal_eval keeps the last of two equal keys: a country given twice is ambiguous.
    if isinstance(tree, ast.Dict):
        counts = Counter(k.value for k in tree.keys if isinstance(k, ast.Constant))
        twice = [k for k, n in counts.items() if n > 1]
        if twice:
            raise ValueError(f"selections gives country {twice[0]!r} twice")
    return value


def skipped_note(dataset: Dataset, skipped: Sequence[tuple[int, str]], limit: int = 3) -> str:
    """One line telling a user which questions a run leaves out and why ("" if none).

    Args:
        dataset: the dataset the positions belong to (for question ids).
        skipped: the ``skipped`` half of :meth:`Dataset.askable`.
        limit: how many questions to name before "and N more".
    """
    if not skipped:
        return ""
    named = "; ".join(f"#{dataset.ids[p]} ({reason})" for p, reason in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    s = "" if len(skipped) == 1 else "s"
    return f"{len(skipped)} question{s} left out, cannot be asked: {named}{more}."


def _check_row(row: dict[str, str]) -> tuple[str, tuple[str, ...], str, dict[str, list[float]]]:
    # An empty text is kept (the row's human data is real) and flagged by question_flags().
    text = (row.get("question") or "").strip()
    source = (row.get("source") or "").strip()
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (expected GAS or WVS)")
    try:
        options = ast.literal_eval((row.get("options") or "").strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(
            f"options is not a Python list literal ({type(exc).__name__}); "
            "write it as ['Yes', 'No']"
        ) from None
    if not isinstance(options, list | tuple) or not options:
        raise ValueError("options is not a non-empty list")
    options = [option_text(o) for o in options]
    if not (row.get("selections") or "").strip():
        raise ValueError("selections is empty (no country has data)")
    try:
        selections = _parse_selections(row.get("selections") or "")
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        reason = str(exc)
        if "malformed node" in reason:  # a call such as float("nan"), or a name
            reason = "only numbers, strings, lists and a {'Country': [...]} mapping may appear"
        if not reason.startswith("selections"):
            reason = f"selections is not a readable literal ({reason})"
        raise ValueError(reason) from None
    if not selections:
        raise ValueError("selections is empty (no country has data)")
    for country, values in selections.items():
        if not isinstance(country, str) or not isinstance(values, list | tuple):
            raise ValueError(f"selections entry {country!r} is not 'name: [numbers]'")
        if len(values) != len(options):
            raise ValueError(f"{country!r} has {len(values)} values for {len(options)} options")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"{country!r} has a non-numeric value {v!r}")
            if math.isnan(v) or math.isinf(v):
                raise ValueError(f"{country!r} has a NaN or infinite value")
            if v < 0:
                raise ValueError(f"{country!r} has a negative value {v}")
        if not math.isfinite(sum(values)):
            # Each value is finite but together they overflow: normalising would give zeros.
            raise ValueError(f"{country!r} has values too large to add up ({max(values):g})")
    return text, tuple(options), source, selections


def parse_csv(data: bytes, name: str = "dataset", path: str = "") -> Dataset:
    """Parse the published CSV format from bytes.

    Rows that cannot be used are skipped and listed in ``Dataset.problems``.

    Raises:
        DatasetError: the file is not text, lacks the four columns, or has no usable row.
    """
    if not data.strip():
        raise DatasetError(f"{name}: the file is empty. Expected a CSV with columns {COLUMNS}.")
    if b"\x00" in data[:65536]:
        raise DatasetError(f"{name}: the file is binary, not a CSV. Check the path.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start}). Save it as UTF-8, "
            f"e.g. 'iconv -f latin1 -t utf-8 {name} > fixed.csv'."
        ) from None
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(
            f"{name}: missing column(s) {', '.join(missing)}; found {reader.fieldnames}. "
            f"A GlobalOpinionQA file has the header: {','.join(COLUMNS)}"
        )
    ids: list[int] = []
    texts: list[str] = []
    options: list[tuple[str, ...]] = []
    sources: list[str] = []
    per_q: list[dict[str, list[float]]] = []
    problems: list[RowProblem] = []
    rows_read = 0
    try:
        for rownum, row in enumerate(reader, start=1):
            rows_read += 1
            if None in row:
                problems.append(RowProblem(rownum, "more fields than the header"))
                continue
            if None in row.values():
                # DictReader fills absent fields with None: a short record, usually a file cut
                # off mid-row or a quote left open.
                present = sum(v is not None for v in row.values())
                problems.append(
                    RowProblem(
                        rownum,
                        f"only {present} of {len(COLUMNS)} fields (file truncated mid-row, or a "
                        "quote left open?)",
                    )
                )
                continue
            try:
                q_text, q_opts, q_src, sel = _check_row(row)
            except ValueError as exc:
                problems.append(RowProblem(rownum, str(exc)))
                continue
            ids.append(rownum - 1)
            texts.append(q_text)
            options.append(q_opts)
            sources.append(q_src)
            per_q.append(sel)
    except csv.Error as exc:
        problems.append(RowProblem(rows_read + 1, f"CSV syntax error: {exc} (file truncated?)"))
    if not texts:
        if not rows_read:
            raise DatasetError(
                f"{name}: no usable question rows: the file has a header but no data. Add rows "
                "in the published format, or use --dataset sample."
            )
        raise DatasetError(
            f"{name}: no usable question rows. First problem: {problems[0]}. Fix the rows; "
            f"'goqa data validate --dataset {path or name}' lists every problem.",
            problems=problems,
            rows_read=rows_read,
        )

    countries = tuple(sorted({c for sel in per_q for c in sel}))
    cidx = {c: i for i, c in enumerate(countries)}
    n_options = np.array([len(o) for o in options], dtype=np.int32)
    kmax = int(n_options.max())
    counts = np.array([len(sel) for sel in per_q], dtype=np.int64)
    pair_start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=pair_start[1:])
    n_pairs = int(pair_start[-1])
    pair_question = np.repeat(np.arange(len(texts), dtype=np.int32), counts)
    pair_country = np.empty(n_pairs, dtype=np.int32)
    pair_human = np.zeros((n_pairs, kmax), dtype=np.float64)
    nonsub = np.zeros((len(texts), kmax), dtype=bool)
    at = 0
    for qi, sel in enumerate(per_q):
        k = int(n_options[qi])
        nonsub[qi, :k] = [is_non_substantive(o) for o in options[qi]]
        for country in sorted(sel):
            pair_country[at] = cidx[country]
            pair_human[at, :k] = sel[country]
            at += 1
    return Dataset(
        name=name,
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        ids=tuple(ids),
        texts=tuple(texts),
        options=tuple(options),
        sources=tuple(sources),
        keys=unique_keys(question_key(t, o) for t, o in zip(texts, options, strict=True)),
        flags=tuple(question_flags(t, o) for t, o in zip(texts, options, strict=True)),
        countries=countries,
        n_options=n_options,
        nonsubstantive=nonsub,
        pair_start=pair_start,
        pair_question=pair_question,
        pair_country=pair_country,
        pair_human=pair_human,
        problems=tuple(problems),
        rows_read=rows_read,
    )


# --------------------------------------------------------------------------- sources


def sample_path() -> Path:
    """The bundled 189-question sample (CC BY-NC-SA 4.0, see core/data/README.md)."""
    return Path(str(resources.files("core.data") / "global_opinions_sample.csv"))


def full_path(revision: str = FULL_REVISION) -> Path:
    """Where ``goqa data download`` puts the full file for ``revision``."""
    return paths.cache_dir() / "datasets" / revision / FULL_FILENAME


def resolve_source(spec: str | None) -> tuple[str, Path]:
    """Turn a ``--dataset`` value into (name, path).

    ``None`` or ``sample`` is the bundled sample; ``full`` the downloaded full file; anything
    else a path to a CSV in the published format.

    Raises:
        DatasetError: the file does not exist (with the command that makes it), or is not a
            regular file (a directory, a device such as /dev/zero, a FIFO) or is larger than
            :data:`MAX_FILE_BYTES`; nothing is read.
    """
    if spec in (None, "", "sample"):
        return "sample", sample_path()
    if spec == "full":
        try:
            path = full_path()
        except OSError as exc:
            raise DatasetError(
                f"The cache directory cannot be used ({exc.strerror or exc}), so there is no "
                "downloaded full file. Set GOQA_CACHE_DIR to a writable directory, then run "
                "'goqa data download'."
            ) from None
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise DatasetError(
                "The full GlobalOpinionQA file is not downloaded yet. "
                "Run 'goqa data download' (about 4.7 MB), then use --dataset full."
            ) from None
        except OSError as exc:
            raise DatasetError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
        _check_file(path, info)
        return "full", path
    path = Path(spec).expanduser()
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(
            f"Dataset file {str(path)!r} does not exist. Use --dataset sample, --dataset full "
            "or a path to a CSV with columns question,selections,options,source."
        ) from None
    except OSError as exc:
        raise DatasetError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    _check_file(path, info)
    return path.name, path


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check_file(path: Path, info: os.stat_result) -> None:
    """Refuse, before reading, what cannot be a dataset file: not regular, or absurdly big."""
    if stat.S_ISDIR(info.st_mode):
        raise DatasetError(
            f"Dataset path {str(path)!r} is a directory; give the CSV file inside it, e.g. "
            f"--dataset {str(path / FULL_FILENAME)!r}."
        )
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(
            f"Dataset path {str(path)!r} is {_file_kind(info.st_mode)}, not a regular file; "
            "give the path of a CSV file saved on disk (copy a stream to a file first)."
        )
    if info.st_size > MAX_FILE_BYTES:
        raise DatasetError(
            f"Dataset file {str(path)!r} is {info.st_size / 1024**2:,.1f} MB; a GlobalOpinionQA "
            f"file is about 4.7 MB and goqa reads at most {MAX_FILE_BYTES / 1024**2:g} MB. Check "
            "the path: it is probably not the dataset."
        )


def _read_file(path: Path) -> bytes:
    """The file's bytes, re-checking the opened file itself (it may have been swapped)."""
    try:
        # O_NONBLOCK: a FIFO put in place after the check must not hang the open.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise DatasetError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    with os.fdopen(fd, "rb") as fh:
        _check_file(path, os.fstat(fd))
        try:
            data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise DatasetError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    if len(data) > MAX_FILE_BYTES:  # grew after the check
        raise DatasetError(
            f"Dataset file {str(path)!r} is larger than {MAX_FILE_BYTES / 1024**2:g} MB; "
            "a GlobalOpinionQA file is about 4.7 MB. Check the path."
        )
    return data


def _cache_file(digest: str) -> Path | None:
    """Where the parsed dataset with this sha256 is cached; None if there is no usable cache."""
    try:
        return paths.cache_dir() / "parsed" / f"{digest}.v{_CACHE_FORMAT}.pickle"
    except OSError:  # GOQA_CACHE_DIR is a file, unwritable, on a full disk…
        return None


def _cache_read(cache_file: Path, digest: str) -> Dataset | None:
    try:
        with cache_file.open("rb") as fh:
            cached = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception:  # a corrupt or unreadable cache is only a cache: parse again
        with contextlib.suppress(OSError):
            cache_file.unlink()
        return None
    if isinstance(cached, Dataset) and cached.sha256 == digest:
        return cached
    return None


def _cache_write(cache_file: Path, dataset: Dataset) -> None:
    """Store ``dataset`` atomically; any failure leaves the cache as it was and is ignored.

    Each writer uses its own temporary file (unique name, created exclusively) in the cache
    directory and renames it over the target, so concurrent loads never see a partial file
    and never trip over each other's temporary files.
    """
    tmp: str | None = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f"{cache_file.name}.{os.getpid()}.", suffix=".tmp", dir=cache_file.parent
        )
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(dataset, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache_file)
        tmp = None
    except (OSError, pickle.PicklingError):
        pass  # read-only, full or vanished cache directory: the parsed data is still good
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def load(spec: str | None = None, use_cache: bool = True) -> Dataset:
    """Load a dataset by ``--dataset`` spec, through the parsed-dataset cache.

    The cache is keyed by the file's sha256, so an edited file is parsed again. A cache that
    cannot be read or written (read-only or missing directory, concurrent writers) only
    costs a parse: the dataset is then parsed in memory.

    Raises:
        DatasetError: see :func:`resolve_source` and :func:`parse_csv`.
    """
    name, path = resolve_source(spec)
    data = _read_file(path)
    digest = hashlib.sha256(data).hexdigest()
    cache_file = _cache_file(digest) if use_cache else None
    if cache_file is not None:
        cached = _cache_read(cache_file, digest)
        if cached is not None:
            return _renamed(cached, name, str(path))
    dataset = parse_csv(data, name=name, path=str(path))
    if cache_file is not None:
        dataset.pair_xlogx  # noqa: B018  computed once and kept in the cache file
        _cache_write(cache_file, dataset)
    return dataset


def _renamed(dataset: Dataset, name: str, path: str) -> Dataset:
    if dataset.name == name and dataset.path == path:
        return dataset
    from dataclasses import replace

    return replace(dataset, name=name, path=path)
