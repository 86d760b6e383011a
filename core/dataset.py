"""GlobalOpinionQA: load the published CSV format into plain, vectorisable data.

The file has four columns: ``question``, ``selections`` (the text
``defaultdict(<class 'list'>, {'Country': [p0, p1, ...], ...})``), ``options`` (a Python
literal list of strings) and ``source`` (``GAS`` or ``WVS``). Literals are read with
``ast.literal_eval`` on the ``{...}`` part only; nothing is ever ``eval``-ed.

A loaded :class:`Dataset` keeps every (question, country) pair in flat numpy arrays so the
metric runs over all of them at once; :class:`Question` objects are light views on demand.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import math
import pickle
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from core import paths

SOURCES = ("GAS", "WVS")
COLUMNS = ("question", "selections", "options", "source")
FULL_REVISION = "cb2880488749218abb81802a94c2c62ebfde2f35"
FULL_FILENAME = "global_opinions.csv"
_CACHE_FORMAT = 3

_NON_SUBSTANTIVE = re.compile(
    r"(\((VOL|DO NOT READ)\)\s*$)|(^DK\b)|(\bdon['\u2019]?t know\b)|(^no answer\b)|(^missing\b)"
    r"|(^other missing\b)|(\brefused\b)|(^not applicable\b)",
    re.IGNORECASE,
)


def is_non_substantive(option: str) -> bool:
    """True for options that are not an opinion: DK/Refused, ``... (VOL)``, Missing, etc."""
    return bool(_NON_SUBSTANTIVE.search(option.strip()))


class DatasetError(Exception):
    """A dataset that cannot be used at all; the message says what to do.

    Attributes:
        problems: the bad rows, when the file was read but no row was usable.
        rows_read: data rows read before giving up (0 if the file could not be read as a CSV).
    """

    def __init__(
        self, message: str, problems: Sequence[RowProblem] = (), rows_read: int = 0
    ) -> None:
        super().__init__(message)
        self.problems = tuple(problems)
        self.rows_read = rows_read


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
        key: short content hash of the text and options, stable across files.
        text: the question as published.
        options: the answer options, in order.
        source: ``GAS`` (Pew Global Attitudes) or ``WVS`` (World Values Survey).
        countries: raw country keys that have a distribution for this question.
        human: array (len(countries), len(options)) of the published values (not renormalised).
        nonsubstantive: bool array (len(options),), True for DK/Refused-like options.
    """

    id: int
    key: str
    text: str
    options: tuple[str, ...]
    source: str
    countries: tuple[str, ...]
    human: np.ndarray
    nonsubstantive: np.ndarray

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


def headline(text: str) -> str:
    """One line for lists: Pew battery items ("…problems in our country...Air pollution") put
    the item that distinguishes them after the last ``...``; bring it to the front."""
    flat = " ".join(text.split())
    stem, sep, item = flat.rpartition("...")
    if sep and item.strip() and len(item.strip()) < 160:
        return f"{item.strip()} — {stem.strip()}"
    return flat


def question_key(text: str, options: tuple[str, ...] | list[str]) -> str:
    """Stable 12-hex-digit key for a question: hash of its text and options."""
    blob = text.strip() + "\x1f" + "\x1e".join(o.strip() for o in options)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Dataset:
    """A parsed GlobalOpinionQA file.

    Per-question columns are indexed by *position* (0..len-1); ``ids[pos]`` is the question's
    id, its 0-based row in the file (equal to the position unless bad rows were skipped). Every
    (question, country) pair with a distribution is one row of the ``pair_*`` arrays, grouped
    by question: position ``p`` owns rows ``pair_start[p]:pair_start[p+1]``.
    """

    name: str
    path: str
    sha256: str
    ids: tuple[int, ...]
    texts: tuple[str, ...]
    options: tuple[tuple[str, ...], ...]
    sources: tuple[str, ...]
    keys: tuple[str, ...]
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
        )

    def question(self, qid: int) -> Question:
        """The question with id ``qid``; KeyError if the file has no such (valid) row."""
        if qid not in self.id_index:
            raise KeyError(
                f"No question id {qid} in dataset {self.name!r} (ids run from {self.ids[0]} "
                f"to {self.ids[-1]}; see 'goqa questions')."
            )
        return self.at(self.id_index[qid])

    def find(self, ref: str | int) -> Question:
        """A question by id (``12``) or key (``3fa2c0d19b7e``); KeyError with a hint if absent."""
        text = str(ref).strip()
        if text in self.key_index:
            return self.at(self.key_index[text])
        if text.isdigit():
            return self.question(int(text))
        raise KeyError(
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
        value = ast.literal_eval(body)
    except ValueError:
        # literal_eval rejects a bare nan/inf with an unhelpful "malformed node <ast.Name…>".
        if re.search(r"[\[,]\s*-?(nan|inf|infinity)\s*[,\]]", body, re.IGNORECASE):
            raise ValueError("a value is NaN or infinite") from None
        raise
    if not isinstance(value, dict):
        raise ValueError("selections is not a mapping")
    return value


def _check_row(row: dict[str, str]) -> tuple[str, tuple[str, ...], str, dict[str, list[float]]]:
    text = (row.get("question") or "").strip()
    if not text:
        raise ValueError("empty question text")
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
    if not all(isinstance(o, str) for o in options):
        raise ValueError("options must all be strings")
    if not (row.get("selections") or "").strip():
        raise ValueError("selections is empty (no country has data)")
    try:
        selections = _parse_selections(row.get("selections") or "")
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        reason = str(exc)
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
        keys=tuple(question_key(t, o) for t, o in zip(texts, options, strict=True)),
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
        DatasetError: the file does not exist, with the command that makes it.
    """
    if spec in (None, "", "sample"):
        return "sample", sample_path()
    if spec == "full":
        path = full_path()
        if not path.exists():
            raise DatasetError(
                "The full GlobalOpinionQA file is not downloaded yet. "
                "Run 'goqa data download' (about 4.7 MB), then use --dataset full."
            )
        return "full", path
    path = Path(spec).expanduser()
    if not path.exists():
        raise DatasetError(
            f"Dataset file {str(path)!r} does not exist. Use --dataset sample, --dataset full "
            "or a path to a CSV with columns question,selections,options,source."
        )
    if path.is_dir():
        raise DatasetError(f"Dataset path {str(path)!r} is a directory; give the CSV file.")
    return path.name, path


def load(spec: str | None = None, use_cache: bool = True) -> Dataset:
    """Load a dataset by ``--dataset`` spec, through the parsed-dataset cache.

    The cache is keyed by the file's sha256, so an edited file is parsed again.
    """
    name, path = resolve_source(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"Cannot read {str(path)!r}: {exc.strerror}.") from None
    digest = hashlib.sha256(data).hexdigest()
    cache_file = paths.cache_dir() / "parsed" / f"{digest}.v{_CACHE_FORMAT}.pickle"
    if use_cache and cache_file.exists():
        try:
            with cache_file.open("rb") as fh:
                cached: Dataset = pickle.load(fh)
            if cached.sha256 == digest:
                return _renamed(cached, name, str(path))
        except Exception:  # a corrupt cache is only a cache: parse again
            cache_file.unlink(missing_ok=True)
    dataset = parse_csv(data, name=name, path=str(path))
    if use_cache:
        dataset.pair_xlogx  # noqa: B018  computed once and kept in the cache file
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(dataset, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache_file)
    return dataset


def _renamed(dataset: Dataset, name: str, path: str) -> Dataset:
    if dataset.name == name and dataset.path == path:
        return dataset
    from dataclasses import replace

    return replace(dataset, name=name, path=path)
