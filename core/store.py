"""The results store: one SQLite file (WAL) holding runs, answers, the response cache,
translations and the claims of runs in progress.

Every answer is written in its own transaction the moment it arrives, so a crash or Ctrl-C
loses at most the requests still in flight; running the same run name again resumes.
No secret is ever written: manifests hold the *name* of a key's environment variable at most.

What can go wrong with the file, and what the store does about it:

* **Two processes, one run.** :meth:`Store.claim_run` lets one process at a time ask a run
  (a row in ``claims`` with pid, host and time); a second one gets :class:`RunClaimedError`
  naming the holder. A claim left by a process that died on this machine is taken over.
* **Busy.** Another process holding the write lock makes the store wait in bounded steps,
  telling ``on_busy`` ("the store is busy (another goqa is writing); waiting…"). An answer a
  server already returned is kept in memory meanwhile and written when the lock frees; if it
  does not free within ``busy_limit`` seconds the kept answers go to a JSON-lines file beside
  the store (``goqa.sqlite3.pending-….jsonl``), which the next writing goqa imports.
* **Read-only.** A store that cannot be written (read-only file, directory or file system)
  opens read-only: everything that reads works; a write raises :class:`StoreReadOnlyError`.
* **Not a goqa store.** Another program's SQLite file or a file that is not SQLite at all is
  refused (:class:`NotAStoreError`) and never changed; an older goqa store is migrated.
* **Disk full, damaged.** :class:`StoreFullError`, :class:`StoreDamagedError`: each message
  names its own cause; what was stored before stays intact (a failed write is rolled back).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import secrets
import socket
import sqlite3
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from core import paths
from core.backends.base import Answer
from core.errors import GoqaError

SCHEMA_VERSION = 2
"""1: runs, answers, cache, translations. 2: + claims."""

_TABLES: dict[str, str] = {
    "meta": "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "runs": """CREATE TABLE IF NOT EXISTS runs (
        name TEXT PRIMARY KEY,
        manifest TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "answers": """CREATE TABLE IF NOT EXISTS answers (
        run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
        question_key TEXT NOT NULL,
        question_id INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        answer TEXT,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (run, question_key)
    )""",
    "cache": """CREATE TABLE IF NOT EXISTS cache (
        key TEXT PRIMARY KEY,
        answer TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "translations": """CREATE TABLE IF NOT EXISTS translations (
        question_key TEXT NOT NULL,
        language TEXT NOT NULL,
        question TEXT NOT NULL,
        options TEXT NOT NULL,
        origin TEXT NOT NULL,
        backend TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        back_translation TEXT NOT NULL DEFAULT '',
        doubtful INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        PRIMARY KEY (question_key, language)
    )""",
    "claims": """CREATE TABLE IF NOT EXISTS claims (
        run TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        token TEXT NOT NULL DEFAULT '',
        claimed_at TEXT NOT NULL
    )""",
}
_COLUMNS: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "runs": ("name", "manifest", "created_at"),
    "answers": (
        "run",
        "question_key",
        "question_id",
        "status",
        "answer",
        "error",
        "attempts",
        "updated_at",
    ),
    "cache": ("key", "answer", "created_at"),
    "translations": (
        "question_key",
        "language",
        "question",
        "options",
        "origin",
        "backend",
        "model",
        "back_translation",
        "doubtful",
        "created_at",
    ),
    "claims": ("run", "pid", "host", "token", "claimed_at"),
}
_MIGRATIONS: dict[int, tuple[str, ...]] = {1: (_TABLES["claims"],)}
"""Statements that take a store from version N to N + 1."""

SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_BUSY_LIMIT = 300.0
"""Seconds a busy store is waited for before kept answers go to a file beside it."""
_ATTEMPT_MS = 200  # one wait inside SQLite; between attempts the store can say it waits
_TELL_EVERY = 10.0  # seconds between "still waiting" messages
_RETRY_EVERY = 1.0  # while answers are kept in memory, try to write them this often

# SQLite's primary result codes (the low byte of an extended code).
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    3,
    5,
    6,
    8,
    10,
    11,
    13,
    14,
    26,
)

BusyCallback = Callable[[str], None]
"""Receives one line for a person: the store is busy and goqa waits, or it is free again."""

log = logging.getLogger("goqa.store")


# --------------------------------------------------------------------------- errors


class StoreError(GoqaError):
    """A store problem with a message that says what to do."""

    title = "Results store problem"


MAX_RUN_NAME = 120
"""Characters a new run's name may have."""


def check_run_name(name: str) -> str:
    """``name`` if it can name a new run, else a :class:`StoreError` saying why.

    Any text is safe to store and show (every front end escapes it), but a name must be
    findable again: not blank, no leading or trailing space, no control characters (a newline
    splits a listing), at most :data:`MAX_RUN_NAME` characters.
    """
    problem = ""
    if not name.strip():
        problem = "it is blank"
    elif name != name.strip():
        problem = "it starts or ends with a space"
    elif any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        problem = "it holds a control character (a newline or tab, say)"
    elif len(name) > MAX_RUN_NAME:
        problem = f"it has {len(name)} characters (at most {MAX_RUN_NAME})"
    if problem:
        raise StoreError(
            f"A run cannot be called {name[:60]!r}{'…' if len(name) > 60 else ''}: {problem}. "
            "Choose another --name."
        )
    return name


class StoreBusyError(StoreError):
    """Another process held the store's write lock longer than the store waits."""

    title = "Results store busy"


class StoreReadOnlyError(StoreError):
    """The store is read-only (file, directory or file system) and a write was asked for."""

    title = "Results store is read-only"


class StoreFullError(StoreError):
    """The disk holding the store is full."""

    title = "Disk full"


class NotAStoreError(StoreError):
    """The file at the store's path is not a goqa store (another database, or not SQLite)."""

    title = "Not a goqa store"


class StoreDamagedError(StoreError):
    """The store's file is corrupt."""

    title = "Results store damaged"


class RunClaimedError(StoreError):
    """Another process (or another task of this one) is running this run name."""

    title = "Run already running"

    def __init__(self, message: str, holder: RunClaim) -> None:
        super().__init__(message)
        self.holder = holder


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    if code is not None:
        return code in (_BUSY, _LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def read_only_reason(path: Path) -> str:
    """Why the store at ``path`` cannot be written ("" when it can).

    Checks the file system, the file (and its ``-wal``/``-shm`` companions) and the directory,
    as the kernel would for this process: ``os.access`` reports a read-only mount or an
    immutable file even to root.
    """
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    with suppress(OSError):
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f"the file system holding {directory} is mounted read-only"
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            return f"the file {candidate} is read-only"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"the directory {directory} is read-only"
    return ""


def describe_error(exc: sqlite3.Error, path: Path, doing: str) -> StoreError:
    """A :class:`StoreError` whose message names the cause of an SQLite error.

    Args:
        exc: what SQLite raised.
        path: the store's file.
        doing: what goqa was doing, as a verb phrase ("store the answer").

    Returns:
        A busy, read-only, disk-full, not-a-store or damaged error, or a plain
        :class:`StoreError` for anything else; only a corrupt file is called damaged.
    """
    code = _primary_code(exc)
    text = str(exc)
    if _is_busy(exc):
        return StoreBusyError(
            f"The results store {path} is busy: another goqa (or another program) is writing "
            f"to it, so goqa could not {doing}. Wait for it to finish, then try again."
        )
    if code in (_READONLY, _PERM) or "readonly" in text:
        why = read_only_reason(path) or "SQLite says it is read-only"
        return StoreReadOnlyError(read_only_message(path, why, doing))
    if code == _FULL or "full" in text:
        return StoreFullError(
            f"The disk holding the results store {path} is full, so goqa could not {doing}. "
            "Everything stored before is intact. Free some space, then run the same command "
            "again (the same --name resumes)."
        )
    if code == _NOTADB:
        return NotAStoreError(_not_sqlite_message(path, "SQLite says it is not a database"))
    if code == _CORRUPT:
        return StoreDamagedError(
            f"The results store {path} is damaged ({text}). Move it aside (goqa starts a new "
            f"store there); 'sqlite3 {path} .recover' may rescue its answers."
        )
    if code == _CANTOPEN:
        return StoreError(
            f"goqa cannot open the results store {path} ({text}) to {doing}. Check that the "
            "directory exists and is readable, or set GOQA_DATA_DIR to another directory."
        )
    if code == _IOERR:
        return StoreError(
            f"Reading or writing the results store {path} failed with an I/O error ({text}) "
            f"while trying to {doing}. Check the disk (and the network share, if it is one)."
        )
    return StoreError(f"The results store {path} failed ({text}) while trying to {doing}.")


def read_only_message(path: Path, why: str, doing: str) -> str:
    return (
        f"The results store {path} is read-only ({why}), so goqa cannot {doing}. Commands "
        "that only read it (runs, report, export, compare) still work. To write, make it "
        "writable or set GOQA_DATA_DIR to a writable directory."
    )


def _not_sqlite_message(path: Path, what: str) -> str:
    return (
        f"{path} is not a goqa results store ({what}); goqa leaves it untouched. Move it "
        "aside (goqa then starts a new store there) or set GOQA_DATA_DIR to another directory."
    )


# --------------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class QuestionFilter:
    """The filters a command-line run chose its questions by; all unset: every question.

    Attributes:
        search: the ``--search`` text (None: no search).
        source: the ``--source`` survey (None: every source).
        country: the ``--country`` name as typed (None: every country).
        limit: the ``--limit`` (0: no limit).
    """

    search: str | None = None
    source: str | None = None
    country: str | None = None
    limit: int = 0


_FILTER_KEYS = ("search", "source", "country", "limit")


@dataclass(frozen=True)
class Selection:
    """What chose a run's questions, as its manifest records it under ``selection``.

    The app records the question ids, a command-line run its filters (which select the same
    questions again on the same dataset: :func:`core.runs.planned_positions`), an experiment
    its kind and a prompt-sensitivity variant its base run; the runner adds how many
    questions were planned. :meth:`from_manifest` reads what every version of goqa stored
    (keys it does not know are kept in ``extra`` and written back by :meth:`to_manifest`).

    Attributes:
        via: the front end that planned the run (``tui``), "" when not recorded.
        ids: the question ids asked (the app), None when not recorded.
        filters: the command line's filters, None when not recorded.
        experiment: the experiment kind the run belongs to ("" for none).
        sensitivity_of: the run this one re-asks under a prompt variant ("" for none).
        planned: questions planned (set by :func:`core.runner.run`), None when unknown.
        extra: any other key of a stored selection, verbatim.
    """

    via: str = ""
    ids: tuple[int, ...] | None = None
    filters: QuestionFilter | None = None
    experiment: str = ""
    sensitivity_of: str = ""
    planned: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_manifest(self) -> dict[str, Any]:
        """The JSON-ready mapping stored in a manifest (the shape older versions wrote)."""
        out: dict[str, Any] = {}
        if self.via:
            out["via"] = self.via
        if self.ids is not None:
            out["ids"] = list(self.ids)
        if self.filters is not None:
            f = self.filters
            out.update(search=f.search, source=f.source, country=f.country, limit=f.limit)
        if self.experiment:
            out["experiment"] = self.experiment
        if self.sensitivity_of:
            out["sensitivity_of"] = self.sensitivity_of
        if self.planned is not None:
            out["planned"] = self.planned
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any] | None) -> Selection:
        """Read a stored manifest's ``selection`` (any version's; never raises).

        A known key whose value has an unexpected type is kept in ``extra`` as it is, so
        that writing the selection back changes nothing.
        """
        data = data if isinstance(data, Mapping) else {}
        extra: dict[str, Any] = {}
        known = {"via", "ids", "experiment", "sensitivity_of", "planned", *_FILTER_KEYS}
        for key, value in data.items():
            if key not in known:
                extra[key] = value

        def text(key: str) -> str:
            value = data.get(key, "")
            if isinstance(value, str):
                return value
            extra[key] = value
            return ""

        ids: tuple[int, ...] | None = None
        raw_ids = data.get("ids")
        if isinstance(raw_ids, list):
            ids = tuple(i for i in raw_ids if isinstance(i, int) and not isinstance(i, bool))
        elif "ids" in data:
            extra["ids"] = raw_ids
        filters = None
        if any(k in data for k in _FILTER_KEYS):
            search, source, country = (data.get(k) for k in ("search", "source", "country"))
            limit = data.get("limit")
            filters = QuestionFilter(
                search=search if isinstance(search, str) and search else None,
                source=str(source) if source else None,
                country=str(country) if country else None,
                limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else 0,
            )
        planned: int | None = None
        raw_planned = data.get("planned")
        if raw_planned is not None:
            try:
                planned = int(raw_planned)
            except (TypeError, ValueError):
                extra["planned"] = raw_planned
        return cls(
            via=text("via"),
            ids=ids,
            filters=filters,
            experiment=text("experiment"),
            sensitivity_of=text("sensitivity_of"),
            planned=planned,
            extra=extra,
        )


@dataclass(frozen=True)
class RunManifest:
    """Everything that defines a run (and nothing secret).

    ``params`` holds the backend's answer-changing parameters (``request_params()``);
    ``selection`` what chose the questions. ``condition``, ``template`` and ``policy`` are
    kept as stored: a front end narrows them where it uses them
    (:meth:`core.prompts.Condition.parse`, :func:`core.prompts.parse_template`,
    :func:`core.runs.as_policy`).
    """

    name: str
    backend: str
    backend_kind: str
    base_url: str
    model: str
    mode: str
    condition: str
    template: str
    template_hash: str
    dataset: str
    dataset_sha256: str
    dataset_revision: str
    policy: str
    params: dict[str, Any] = field(default_factory=dict)
    selection: Selection = field(default_factory=Selection)
    created_at: str = ""
    variant: str = ""  # "" or "shuffle:SEED" (options shown in a seeded shuffled order)
    estimator: str = "first-token"
    """The estimator every answer of the run was made with (:mod:`core.estimators`)."""
    estimator_params: dict[str, Any] = field(default_factory=dict)
    """Its settings (orders, samples, calibration size, seed): part of the run's identity."""
    calibration: dict[str, Any] = field(default_factory=dict)
    """What a ``prior-corrected`` run estimated before asking: per number of options, the
    calibration questions and the letter prior (not part of the identity: it is derived)."""

    def identity(self) -> dict[str, Any]:
        """The fields that must agree for a second invocation to resume this run."""
        return {
            "backend_kind": self.backend_kind,
            "base_url": self.base_url,
            "model": self.model,
            "mode": self.mode,
            "condition": self.condition,
            "template": self.template,
            "template_hash": self.template_hash,
            "dataset_sha256": self.dataset_sha256,
            "variant": self.variant,
            "estimator": self.estimator,
            "estimator_params": self.estimator_params,
        }

    def to_json(self) -> dict[str, Any]:
        """The manifest as stored (and as ``goqa report --json`` prints it under ``run``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["params"] = copy.deepcopy(self.params)  # a copy, as asdict made
        data["estimator_params"] = copy.deepcopy(self.estimator_params)
        data["calibration"] = copy.deepcopy(self.calibration)
        data["selection"] = self.selection.to_manifest()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunManifest:
        """A stored manifest (any version's: missing fields take their defaults)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["selection"] = Selection.from_manifest(data.get("selection"))
        return cls(**values)


@dataclass(frozen=True)
class StoredAnswer:
    question_key: str
    question_id: int
    status: str
    answer: Answer | None
    error: str | None
    attempts: int
    updated_at: str


@dataclass(frozen=True)
class RunClaim:
    """Who is running a run: a process on a host, since when.

    ``token`` is ``START/NONCE``: the process's start time (from ``/proc``), so that a pid
    the system gave to another process since is not taken for the holder, and a nonce that
    tells this claim from a later one of the same process.
    """

    run: str
    pid: int
    host: str
    claimed_at: str
    token: str = ""

    def describe(self) -> str:
        """``pid 4242 on host lab-3, since 2025-01-02T10:00:00+00:00``."""
        return f"pid {self.pid} on host {self.host}, since {self.claimed_at}"

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "since": self.claimed_at}


@dataclass(frozen=True)
class RunSummary:
    manifest: RunManifest
    n_ok: int
    n_failed: int
    planned: int
    n_suspect: int = 0
    """Answers among ``n_ok`` marked suspect (left out of scores by default)."""
    claim: RunClaim | None = None
    """The process running it now (None when no live process holds it)."""

    @property
    def finished(self) -> bool:
        return self.n_failed == 0 and self.n_ok >= self.planned


@dataclass(frozen=True)
class Translation:
    question_key: str
    language: str
    question: str
    options: tuple[str, ...]
    origin: str  # "human" or "model"
    backend: str = ""
    model: str = ""
    back_translation: str = ""
    doubtful: bool = False
    created_at: str = ""


@dataclass(frozen=True)
class _Write:
    """One write kept in memory while the store is busy (and the line it spills as)."""

    op: Literal["answer", "failure", "cache"]
    run: str = ""
    key: str = ""
    qid: int = 0
    answer: dict[str, Any] | None = None
    error: str = ""
    cache_key: str | None = None
    cache_answer: dict[str, Any] | None = None

    OPS: ClassVar[tuple[str, ...]] = ("answer", "failure", "cache")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- processes


_HOST = socket.gethostname()


def _process_token(pid: int) -> str:
    """The start time of process ``pid`` (clock ticks since boot), "" when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def _process_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] if fields else ""


def _holder_alive(holder: RunClaim) -> bool:
    """Whether the claim's process may still be running (always True on another host)."""
    if holder.host != _HOST:
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    if _process_state(holder.pid) in ("Z", "X"):
        return False
    started = holder.token.partition("/")[0]
    return not (started and _process_token(holder.pid) not in ("", started))


_TOKENS: dict[int, str] = {}
_ACTIVE: set[tuple[str, str]] = set()
"""(store file, run) of every :meth:`Store.claim_run` block open in this process."""
_ACTIVE_LOCK = threading.Lock()


def _my_token() -> str:
    """This process's token (by pid: a forked child is another process)."""
    pid = os.getpid()
    if pid not in _TOKENS:
        _TOKENS[pid] = _process_token(pid)
    return _TOKENS[pid]


# --------------------------------------------------------------------------- the store


class Store:
    """A connection to the results store; safe to share between threads and tasks.

    Args:
        path: the SQLite file (default: :func:`core.paths.store_file`).
        read_only: open it for reading only (nothing is created, migrated or imported).
            A store that cannot be written opens read-only anyway; see ``read_only_reason``.
        on_busy: called with one line whenever the store waits for another process's write
            lock, and when it is free again (default: a ``goqa.store`` log warning).
        busy_limit: seconds to wait for a busy store before giving up (kept answers then
            go to a file beside the store).

    Attributes:
        read_only: the store is open for reading only.
        read_only_reason: why the store cannot be written ("" when it can), e.g. "the
            file system holding /data is mounted read-only".
        imported: kept answers imported from files beside the store when it opened.

    Raises:
        NotAStoreError: the file is another program's database, or not SQLite at all.
        StoreError: the store was made by a newer goqa, or cannot be opened (the message
            names the cause).
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        read_only: bool = False,
        on_busy: BusyCallback | None = None,
        busy_limit: float = DEFAULT_BUSY_LIMIT,
    ) -> None:
        try:
            self.path = Path(path) if path else paths.store_file()
        except OSError as exc:
            raise StoreError(
                f"goqa cannot create its data directory ({exc.strerror or exc}: "
                f"{exc.filename}). Set GOQA_DATA_DIR to a writable directory."
            ) from None
        self._key = str(self.path.resolve())
        self.on_busy = on_busy
        self.busy_limit = busy_limit
        self.read_only = False
        self.read_only_reason = ""
        self.imported = 0
        self._lock = threading.RLock()
        self._pending: list[_Write] = []
        self._busy_since: float | None = None
        self._last_told = 0.0
        self._last_try = 0.0
        self._has_claims = True
        self._closed = False
        self._spilled_to: Path | None = None
        self._unreleased: list[RunClaim] = []
        self._check_file()
        why = read_only_reason(self.path)
        if read_only or why:
            self._open_read_only(why)
        else:
            self._open_read_write()

    # ------------------------------------------------------------------ opening

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise NotAStoreError(_not_sqlite_message(self.path, "it is a directory"))
        if self.path.is_symlink() and not self.path.exists():
            raise StoreError(
                f"The results store {self.path} is a symbolic link to "
                f"{os.readlink(self.path)}, which does not exist. Point the link at a goqa "
                "store, remove it (goqa starts a new store), or set GOQA_DATA_DIR."
            )
        if not self.path.exists():
            return
        if not self.path.is_file():  # a FIFO or a device: opening it could block forever
            raise NotAStoreError(_not_sqlite_message(self.path, "it is not a regular file"))
        try:
            with self.path.open("rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise StoreError(
                f"goqa cannot read the results store {self.path} ({exc.strerror or exc}). "
                "Check its permissions, or set GOQA_DATA_DIR to another directory."
            ) from None
        if head and head != SQLITE_HEADER:
            shown = head[:12].decode("ascii", "replace")
            raise NotAStoreError(
                _not_sqlite_message(self.path, f"it is not an SQLite database: it starts {shown!r}")
            )

    @staticmethod
    def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
        return sqlite3.connect(
            target,
            uri=uri,
            check_same_thread=False,
            isolation_level=None,
            timeout=_ATTEMPT_MS / 1000,
        )

    def _open_read_write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"goqa cannot create the directory {self.path.parent} for its results store "
                f"({exc.strerror or exc}). Set GOQA_DATA_DIR to a writable directory."
            ) from None
        try:
            self._db = self._connect(str(self.path))
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path, "open the results store") from None
        try:
            version = self._retry(lambda: self._inspect(self._db), "open the results store")
            self._retry(
                lambda: self._db.execute("PRAGMA journal_mode=WAL").fetchone(),
                "open the results store",
            )
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            if version is None or version < SCHEMA_VERSION:
                with self._tx("set up the results store") as db:
                    self._create_or_migrate(db)
        except StoreReadOnlyError:
            # The checks said writable but SQLite could not write (a read-only -shm, say).
            self._db.close()
            self._open_read_only(read_only_reason(self.path) or "SQLite could not write it")
            return
        except BaseException:
            self._db.close()
            raise
        self._has_claims = True
        self._import_spilled()

    def _open_read_only(self, why: str) -> None:
        self.read_only = True
        self.read_only_reason = why
        version = self._read_only_connection() if self.path.exists() else None
        if not version:  # nothing stored yet: an empty store, in memory (nothing created)
            self._db = self._connect(":memory:")
            for sql in _TABLES.values():
                self._db.execute(sql)
            version = SCHEMA_VERSION
        self._has_claims = version >= 2

    def _read_only_connection(self) -> int | None:
        """Open ``self._db`` read-only on the file; returns its schema version."""
        uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        for immutable in (False, True):
            target = uri + ("&immutable=1" if immutable else "")
            try:
                self._db = self._connect(target, uri=True)
                version = self._retry(lambda: self._inspect(self._db), "read the results store")
            except (sqlite3.Error, StoreError) as exc:
                cause = exc if isinstance(exc, sqlite3.Error) else exc.__cause__
                with suppress(AttributeError, sqlite3.Error):
                    self._db.close()
                cannot_open = isinstance(cause, sqlite3.Error) and _primary_code(cause) in (
                    _CANTOPEN,
                    _READONLY,
                )
                if immutable or not cannot_open:
                    if isinstance(exc, StoreError):
                        raise
                    raise describe_error(exc, self.path, "read the results store") from exc
                # A WAL store in a directory where its -shm file cannot be created: read
                # the file as it is (immutable), which nobody can change here anyway.
                continue
            wal = Path(f"{self.path}-wal")
            if immutable and wal.exists() and wal.stat().st_size > 0:
                self.read_only_reason += (
                    f"; answers in {wal.name} since its last checkpoint cannot be read "
                    "without write access"
                )
            if not version:  # empty: the caller uses an empty store in memory instead
                self._db.close()
            return version
        return None  # pragma: no cover  (the loop returns or raises)

    def _inspect(self, db: sqlite3.Connection) -> int | None:
        """The store's schema version (None for an empty database, 0 for goqa's tables
        without a version: an interrupted first start); never writes.

        Raises:
            NotAStoreError: another program's database.
            StoreError: a store made by a newer goqa.
        """
        try:
            tables = {
                r[0]
                for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            }
            columns = {t: self._columns(db, t) for t in tables & set(_TABLES)}
            version_text = None
            if columns.get("meta") == _COLUMNS["meta"]:
                row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version_text = row[0] if row else None
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise
            raise describe_error(exc, self.path, "open the results store") from exc
        if version_text is None:
            if not tables:
                return None
            ours = tables <= set(_TABLES) and all(columns[t] == _COLUMNS[t] for t in tables)
            if not ours:
                shown = ", ".join(sorted(tables)[:6])
                raise NotAStoreError(
                    _not_sqlite_message(
                        self.path,
                        f"it is an SQLite database of another program, with tables {shown}",
                    )
                )
            return 0
        try:
            version = int(version_text)
        except ValueError:
            raise StoreDamagedError(
                f"The results store {self.path} has a bad schema version {version_text!r}. "
                "Move it aside; goqa will start a new one."
            ) from None
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The results store {self.path} was written by a newer goqa (schema version "
                f"{version}; this goqa knows up to {SCHEMA_VERSION}). Upgrade goqa "
                "(pip install -U goqa), or set GOQA_DATA_DIR to another directory."
            )
        return version

    @staticmethod
    def _columns(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
        return tuple(r[1] for r in db.execute(f"PRAGMA table_info({table})"))

    def _create_or_migrate(self, db: sqlite3.Connection) -> None:
        version = self._inspect(db)  # again, under the write lock: another goqa may be first
        if version is None or version == 0:
            for sql in _TABLES.values():
                db.execute(sql)
        else:
            for step in range(version, SCHEMA_VERSION):
                for sql in _MIGRATIONS[step]:
                    db.execute(sql)
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        """Write what is kept in memory (or spill it beside the store), then close."""
        with self._lock:
            if self._closed:
                return
            problem = self._flush_quickly()
            if problem:
                self._tell(problem)
            self._delete_released()
            self._closed = True
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ waiting and errors

    def _tell(self, message: str) -> None:
        if self.on_busy is not None:
            self.on_busy(message)
        else:
            log.warning("%s", message)

    def _waited(self, started: float, doing: str) -> None:
        """Called after each busy attempt: say so now and then, or give up at the bound."""
        waited = time.monotonic() - started
        if waited >= self.busy_limit:
            raise StoreBusyError(
                f"The results store {self.path} stayed busy for {waited:.0f}s: another goqa "
                f"(or another program) holds its write lock, so goqa could not {doing}. Find "
                "and finish that program, then try again."
            )
        if time.monotonic() - self._last_told >= _TELL_EVERY:
            self._last_told = time.monotonic()
            self._tell(
                "the store is busy (another goqa is writing); waiting… "
                f"({waited:.0f}s of at most {self.busy_limit:.0f}s)"
            )

    def _retry(self, fn: Callable[[], Any], doing: str) -> Any:
        """``fn()`` with bounded waits while the store is busy; other errors described."""
        started = time.monotonic()
        while True:
            try:
                return fn()
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise describe_error(exc, self.path, doing) from exc
            self._waited(started, doing)

    def _begin(self, doing: str, wait: bool = True) -> None:
        """``BEGIN IMMEDIATE``; while busy, wait (boundedly) or, without ``wait``, raise
        :class:`StoreBusyError` after one attempt."""
        started = time.monotonic()
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.Error as exc:
                if not wait or not _is_busy(exc):
                    raise describe_error(exc, self.path, doing) from exc
            self._waited(started, doing)

    def ensure_writable(self, doing: str) -> None:
        """Raise :class:`StoreReadOnlyError` (saying ``doing`` cannot be done) when read-only."""
        if self.read_only:
            why = self.read_only_reason or "it was opened for reading only"
            raise StoreReadOnlyError(read_only_message(self.path, why, doing))

    @contextmanager
    def _tx(self, doing: str, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; an SQLite error becomes a :class:`StoreError` naming its
        cause, and nothing of the transaction is kept."""
        with self._lock:
            self.ensure_writable(doing)
            self._begin(doing, wait)
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise describe_error(exc, self.path, doing) from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _query(
        self, sql: str, args: tuple[Any, ...] = (), doing: str = "read the results store"
    ) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._retry(lambda: self._db.execute(sql, args).fetchall(), doing)

    # ------------------------------------------------------------------ claims

    @contextmanager
    def claim_run(self, name: str) -> Iterator[RunClaim]:
        """Hold run ``name`` for this process while the block runs.

        On leaving, answers kept in memory are written (waiting, boundedly, for a busy
        store) and the claim is released.

        Raises:
            RunClaimedError: a live process holds it (the message names pid, host, time).
            StoreReadOnlyError: the store is read-only.
            StoreBusyError: on leaving, the store stayed busy; the kept answers are in the
                file the message names.
        """
        claim = self._take_claim(name)
        try:
            yield claim
        except BaseException as exc:
            # Interrupted or failed: no long wait now; what cannot be written is spilled.
            problem = self._flush_quickly()
            if problem:
                self._tell(problem)
                exc.add_note(problem)
            self._release(claim)
            raise
        try:
            self.flush()
        finally:
            self._release(claim)

    def _take_claim(self, name: str) -> RunClaim:
        token = f"{_my_token()}/{secrets.token_hex(4)}"
        mine = RunClaim(name, os.getpid(), _HOST, now(), token)
        with self._tx(f"start run {name!r}") as db:
            row = db.execute(
                "SELECT pid, host, claimed_at, token FROM claims WHERE run = ?", (name,)
            ).fetchone()
            if row is not None:
                holder = RunClaim(name, int(row[0]), row[1], row[2], row[3])
                if self._alive(holder):
                    raise RunClaimedError(_claimed_message(holder), holder)
                log.info("run %r: taking over the claim of %s (gone)", name, holder.describe())
            db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                (mine.run, mine.pid, mine.host, mine.token, mine.claimed_at),
            )
        with _ACTIVE_LOCK:
            _ACTIVE.add((self._key, name))
        return mine

    def _alive(self, holder: RunClaim) -> bool:
        """Whether ``holder`` still runs its run: for this process, whether one of its
        :meth:`claim_run` blocks is still open (a claim whose release could not be
        written, the store being busy, is over)."""
        if holder.host == _HOST and holder.pid == os.getpid():
            with _ACTIVE_LOCK:
                return (self._key, holder.run) in _ACTIVE
        return _holder_alive(holder)

    def _release(self, claim: RunClaim) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.discard((self._key, claim.run))
        with self._lock:
            self._unreleased.append(claim)
            self._delete_released()

    def _delete_released(self) -> None:
        """Delete the rows of released claims. Best effort: what a busy store keeps goes
        with the next write or at close (and is over anyway, see :meth:`_alive`)."""
        with self._lock:
            if not self._unreleased or self.read_only:
                return
            try:
                with self._tx("release a run", wait=False) as db:
                    self._delete_claim_rows(db)
            except StoreError:
                return
            self._unreleased.clear()

    def _delete_claim_rows(self, db: sqlite3.Connection) -> None:
        for claim in self._unreleased:
            db.execute(
                "DELETE FROM claims WHERE run = ? AND pid = ? AND host = ? AND token = ?",
                (claim.run, claim.pid, claim.host, claim.token),
            )

    def claim(self, name: str) -> RunClaim | None:
        """The live process holding run ``name`` (None when none does)."""
        return self._live_claims(name).get(name)

    def _live_claims(self, name: str | None = None) -> dict[str, RunClaim]:
        if not self._has_claims:
            return {}
        sql = "SELECT run, pid, host, claimed_at, token FROM claims"
        rows = self._query(sql + " WHERE run = ?", (name,)) if name else self._query(sql)
        found = (RunClaim(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows)
        return {c.run: c for c in found if self._alive(c)}

    def release_claim(self, name: str) -> RunClaim | None:
        """Remove the claim on run ``name`` left by a process that is gone (one on another
        machine, which goqa cannot check). Returns the claim removed, None if there was none.

        Raises:
            RunClaimedError: the holder is a live process on this machine.
        """
        with self._tx(f"release run {name!r}") as db:
            row = db.execute(
                "SELECT pid, host, claimed_at, token FROM claims WHERE run = ?", (name,)
            ).fetchone()
            if row is None:
                return None
            holder = RunClaim(name, int(row[0]), row[1], row[2], row[3])
            if holder.host == _HOST and self._alive(holder):
                raise RunClaimedError(
                    f"Run {name!r} is being run right now ({holder.describe()}); stop that "
                    "goqa first (its claim goes with it).",
                    holder,
                )
            db.execute("DELETE FROM claims WHERE run = ?", (name,))
            return holder

    # ------------------------------------------------------------------ runs

    def open_run(self, manifest: RunManifest) -> RunManifest:
        """Create the run, or return the existing one with the same name if compatible.

        Raises:
            StoreError: a run with this name exists with a different backend, model,
                condition, template or dataset.
        """
        with self._tx(f"start run {manifest.name!r}") as db:
            row = db.execute(
                "SELECT manifest FROM runs WHERE name = ?", (manifest.name,)
            ).fetchone()
            if row is None:
                check_run_name(manifest.name)
                created = replace(manifest, created_at=now())
                db.execute(
                    "INSERT INTO runs VALUES (?, ?, ?)",
                    (created.name, json.dumps(created.to_json()), created.created_at),
                )
                return created
            existing = RunManifest.from_json(json.loads(row[0]))
            _check_same_identity(manifest, existing)
            if manifest.selection != existing.selection or manifest.params != existing.params:
                merged = replace(existing, selection=manifest.selection, params=manifest.params)
                db.execute(
                    "UPDATE runs SET manifest = ? WHERE name = ?",
                    (json.dumps(merged.to_json()), manifest.name),
                )
                return merged
            return existing

    def check_resumable(self, manifest: RunManifest) -> None:
        """Raise now what :meth:`open_run` would raise for ``manifest``: a run of that name
        made with another backend, model, condition, template, dataset or estimator (so a
        front end can say so before it announces the run).

        Raises:
            StoreError: the stored run of that name is not this one.
        """
        rows = self._query("SELECT manifest FROM runs WHERE name = ?", (manifest.name,))
        if rows:
            _check_same_identity(manifest, RunManifest.from_json(json.loads(rows[0][0])))

    def set_calibration(self, name: str, calibration: dict[str, Any]) -> RunManifest:
        """Record what a run estimated before asking (:attr:`RunManifest.calibration`).

        Raises:
            StoreError: no run of that name, or the write failed.
        """
        with self._tx(f"record the calibration of run {name!r}") as db:
            row = db.execute("SELECT manifest FROM runs WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise self._unknown_run(name)
            updated = replace(RunManifest.from_json(json.loads(row[0])), calibration=calibration)
            db.execute(
                "UPDATE runs SET manifest = ? WHERE name = ?",
                (json.dumps(updated.to_json()), name),
            )
            return updated

    def manifest(self, name: str) -> RunManifest:
        rows = self._query("SELECT manifest FROM runs WHERE name = ?", (name,))
        if not rows:
            raise self._unknown_run(name)
        return RunManifest.from_json(json.loads(rows[0][0]))

    def _unknown_run(self, name: str) -> StoreError:
        known = [r[0] for r in self._query("SELECT name FROM runs ORDER BY created_at")]
        hint = f" Stored runs: {', '.join(known[-8:])}." if known else " No runs yet."
        return StoreError(f"No run called {name!r}.{hint} See 'goqa runs'.")

    _SUMMARY_SQL = """
        SELECT r.manifest,
               COALESCE(SUM(a.status = 'ok'), 0),
               COALESCE(SUM(a.status = 'failed'), 0),
               COALESCE(SUM(a.status = 'ok' AND json_valid(a.answer)
                            AND COALESCE(json_extract(a.answer, '$.suspect'), '') <> ''), 0)
        FROM runs r LEFT JOIN answers a ON a.run = r.name
        {where}
        GROUP BY r.name ORDER BY r.created_at, r.name
    """

    def runs(self) -> list[RunSummary]:
        """Every run with its answered, failed and suspect counts and live claim, oldest
        first."""
        return self._summaries(self._query(self._SUMMARY_SQL.format(where="")))

    def summary(self, name: str) -> RunSummary:
        """One run's :class:`RunSummary`.

        Raises:
            StoreError: no run has this name.
        """
        rows = self._query(self._SUMMARY_SQL.format(where="WHERE r.name = ?"), (name,))
        if not rows:
            raise self._unknown_run(name)
        return self._summaries(rows, name)[0]

    def _summaries(self, rows: list[tuple[Any, ...]], name: str | None = None) -> list[RunSummary]:
        claims = self._live_claims(name)
        out = []
        for manifest_json, n_ok, n_failed, n_suspect in rows:
            m = RunManifest.from_json(json.loads(manifest_json))
            planned = m.selection.planned
            if planned is None:
                planned = n_ok + n_failed
            out.append(
                RunSummary(m, int(n_ok), int(n_failed), planned, int(n_suspect), claims.get(m.name))
            )
        return out

    def delete_run(self, name: str) -> int:
        """Delete run ``name`` with its answers (the response cache stays). Returns the
        number of answers deleted.

        Raises:
            StoreError: no run has this name.
            RunClaimedError: a live process is running it.
        """
        with self._tx(f"delete run {name!r}") as db:
            if db.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone() is None:
                raise self._unknown_run(name)
            row = db.execute(
                "SELECT pid, host, claimed_at, token FROM claims WHERE run = ?", (name,)
            ).fetchone()
            if row is not None:
                holder = RunClaim(name, int(row[0]), row[1], row[2], row[3])
                if self._alive(holder):
                    raise RunClaimedError(
                        f"Run {name!r} cannot be deleted while it runs ({holder.describe()}). "
                        "Stop it first, or wait for it to finish.",
                        holder,
                    )
            n = db.execute("DELETE FROM answers WHERE run = ?", (name,)).rowcount
            db.execute("DELETE FROM runs WHERE name = ?", (name,))
            db.execute("DELETE FROM claims WHERE run = ?", (name,))
            return int(n)

    # ------------------------------------------------------------------ answers

    def record_answer(
        self,
        run: str,
        key: str,
        qid: int,
        answer: Answer,
        cache_key: str | None = None,
        cache_answer: Answer | None = None,
    ) -> None:
        """Store a successful answer (replacing an earlier failure), and with ``cache_key``
        the response cache entry too, in the same transaction. ``cache_answer`` is the
        response as the backend gave it when the stored answer was mapped (a shuffled run
        stores probabilities in the original option order).

        While another process holds the write lock the answer is kept in memory and written
        with the next write that gets through (see :meth:`flush`).

        Raises:
            StoreBusyError: the store stayed busy for ``busy_limit`` seconds; every kept
                answer is then in the file beside the store that the message names.
            StoreReadOnlyError, StoreFullError, StoreError: the write failed (the message
                names the cause).
        """
        self._record(
            _Write(
                "answer",
                run=run,
                key=key,
                qid=qid,
                answer=answer.to_json(),
                cache_key=cache_key,
                cache_answer=(cache_answer or answer).to_json() if cache_key else None,
            )
        )

    def record_failure(self, run: str, key: str, qid: int, error: str) -> None:
        """Store a failure; a question that already succeeded keeps its answer.

        Kept in memory while the store is busy, as :meth:`record_answer` does."""
        self._record(_Write("failure", run=run, key=key, qid=qid, error=error))

    @staticmethod
    def _apply(db: sqlite3.Connection, w: _Write) -> None:
        if w.op == "cache" or (w.op == "answer" and w.cache_key is not None):
            db.execute(
                "INSERT OR REPLACE INTO cache VALUES (?, ?, ?)",
                (w.cache_key if w.op == "answer" else w.key, json.dumps(w.cache_answer), now()),
            )
        if w.op == "answer":
            db.execute(
                """
                INSERT INTO answers VALUES (?, ?, ?, 'ok', ?, NULL, 1, ?)
                ON CONFLICT (run, question_key) DO UPDATE SET
                    status = 'ok', answer = excluded.answer, error = NULL,
                    attempts = answers.attempts + 1, updated_at = excluded.updated_at
                """,
                (w.run, w.key, w.qid, json.dumps(w.answer), now()),
            )
        elif w.op == "failure":
            db.execute(
                """
                INSERT INTO answers VALUES (?, ?, ?, 'failed', NULL, ?, 1, ?)
                ON CONFLICT (run, question_key) DO UPDATE SET
                    error = excluded.error, attempts = answers.attempts + 1,
                    updated_at = excluded.updated_at
                WHERE answers.status = 'failed'
                """,
                (w.run, w.key, w.qid, w.error, now()),
            )

    def _record(self, write: _Write) -> None:
        with self._lock:
            self.ensure_writable("store answers")
            self._pending.append(write)
            moment = time.monotonic()
            if self._busy_since is not None and moment - self._last_try < _RETRY_EVERY:
                self._check_busy_bound(moment)
                return
            self._last_try = moment
            try:
                self._write_pending(wait=False)
            except StoreBusyError:
                self._still_busy(moment)
            except StoreError as exc:
                raise _like(exc, self._give_up(exc)) from exc

    def _still_busy(self, moment: float) -> None:
        """The kept writes could not be written: say so (now and then), spill at the bound."""
        if self._busy_since is None:
            self._busy_since = self._last_told = moment
            self._tell(
                "the store is busy (another goqa is writing); waiting… "
                f"({len(self._pending)} answer(s) kept in memory meanwhile)"
            )
        elif moment - self._last_told >= _TELL_EVERY:
            self._last_told = moment
            self._tell(
                f"the store is still busy after {moment - self._busy_since:.0f}s; waiting… "
                f"({len(self._pending)} answer(s) kept in memory; at most {self.busy_limit:.0f}s)"
            )
        self._check_busy_bound(moment)

    def _write_pending(self, wait: bool) -> None:
        """Write every kept write in one transaction; raises without losing them."""
        with self._tx("store answers", wait=wait) as db:
            for w in self._pending:
                self._apply(db, w)
            self._delete_claim_rows(db)
        n = len(self._pending)
        self._pending.clear()
        self._unreleased.clear()
        if self._busy_since is not None:
            self._busy_since = None
            self._tell(f"the store is free again; {n} kept answer(s) written")

    def _check_busy_bound(self, moment: float) -> None:
        if self._busy_since is not None and moment - self._busy_since >= self.busy_limit:
            raise StoreBusyError(
                self._give_up(
                    StoreBusyError(
                        f"The results store {self.path} stayed busy for "
                        f"{moment - self._busy_since:.0f}s: another goqa (or another program) "
                        "holds its write lock."
                    )
                )
            )

    def flush(self) -> None:
        """Write the answers kept in memory, waiting (at most ``busy_limit`` seconds from
        when the store became busy) for a busy store; blocks (see :meth:`try_flush`).

        Raises:
            StoreBusyError: still busy at the bound; the kept answers were written to the
                file beside the store that the message names.
            StoreError: another write failure (kept answers spilled likewise if possible).
        """
        while not self.try_flush():
            pass  # each attempt waits inside SQLite for a moment

    def try_flush(self) -> bool:
        """One attempt to write the answers kept in memory (waiting a moment at most), for
        callers on an event loop that sleep between attempts.

        Returns:
            True when nothing is kept any more, False while the store is still busy.

        Raises:
            StoreBusyError: busy for ``busy_limit`` seconds; the kept answers were written to
                the file beside the store that the message names.
            StoreError: another write failure (kept answers spilled likewise if possible).
        """
        with self._lock:
            if not self._pending:
                return True
            try:
                self._write_pending(wait=False)
            except StoreBusyError:
                self._still_busy(time.monotonic())
                return False
            except StoreError as exc:
                raise _like(exc, self._give_up(exc)) from exc
            return True

    def _flush_quickly(self) -> str:
        """One attempt to write what is kept; on failure spill it. Returns the problem."""
        with self._lock:
            if not self._pending:
                return ""
            try:
                self._write_pending(wait=False)
            except StoreError as exc:
                return self._give_up(exc)
            return ""

    @property
    def kept(self) -> int:
        """Writes kept in memory, waiting for a busy store."""
        return len(self._pending)

    def _give_up(self, exc: StoreError) -> str:
        """Spill the kept writes beside the store; the message says how many, and where."""
        if not self._pending:
            return str(exc)
        n = sum(w.op == "answer" for w in self._pending)
        try:
            spilled = self._spill()
        except OSError as err:
            self._pending.clear()
            self._busy_since = None
            return (
                f"{exc} {n} answer(s) the server had returned could not be kept either "
                f"({err.strerror or err}); they will be asked again when the run resumes."
            )
        self._pending.clear()
        self._busy_since = None
        return (
            f"{exc} {n} answer(s) the server had returned are kept in {spilled}; the next "
            "goqa that writes to this store ('goqa run', the app) imports them."
        )

    # ------------------------------------------------------------------ kept answers on disk

    def spill_files(self) -> list[Path]:
        """Files of kept answers beside the store, waiting to be imported."""
        return sorted(self.path.parent.glob(f"{self.path.name}.pending-*.jsonl"))

    def _spill(self) -> Path:
        """Write the kept writes to a JSON-lines file beside the store: a new one (whole,
        through a temporary file), or the one this store spilled to before (appended)."""
        lines = "".join(json.dumps(w.to_json(), ensure_ascii=False) + "\n" for w in self._pending)
        if self._spilled_to is not None and self._spilled_to.exists():
            with self._spilled_to.open("a", encoding="utf-8") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
            return self._spilled_to
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = self.path.parent / f"{self.path.name}.pending-{_HOST}-{os.getpid()}-{stamp}.jsonl"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        self._spilled_to = target
        return target

    def _import_spilled(self) -> None:
        """Import (then delete) the kept-answer files a busy store left beside it."""
        self._recover_interrupted_imports()
        for path in self.spill_files():
            taken = path.with_name(f"{path.name}.importing-{_HOST}-{os.getpid()}")
            try:
                os.rename(path, taken)  # another goqa importing at the same time loses here
            except OSError:
                continue
            writes = []
            try:
                for line in taken.read_text(encoding="utf-8").splitlines():
                    with suppress(ValueError, TypeError):
                        data = json.loads(line)
                        if isinstance(data, dict) and data.get("op") in _Write.OPS:
                            writes.append(_Write(**data))
                with self._tx(f"import the kept answers in {path.name}") as db:
                    for w in writes:
                        self._apply(db, w)
            except (OSError, StoreError) as exc:
                with suppress(OSError):
                    os.rename(taken, path)
                self._tell(f"could not import {path.name} yet ({exc}); it stays for next time")
                continue
            with suppress(OSError):
                taken.unlink()
            self.imported += sum(w.op == "answer" for w in writes)

    def _recover_interrupted_imports(self) -> None:
        """Put back files whose importer died before finishing (on this machine)."""
        for taken in self.path.parent.glob(f"{self.path.name}.pending-*.jsonl.importing-*"):
            original, _, owner = taken.name.rpartition(".importing-")
            host, _, pid = owner.rpartition("-")
            if host != _HOST or not pid.isdigit():
                continue
            if not _holder_alive(RunClaim("", int(pid), host, "")):
                with suppress(OSError):
                    os.rename(taken, taken.with_name(original))

    # ------------------------------------------------------------------ reading answers

    def answers(self, run: str, status: str | None = None) -> list[StoredAnswer]:
        sql = (
            "SELECT question_key, question_id, status, answer, error, attempts, updated_at "
            "FROM answers WHERE run = ?"
        )
        args: tuple[Any, ...] = (run,)
        if status:
            sql += " AND status = ?"
            args += (status,)
        sql += " ORDER BY question_id"
        return self._stored(self._query(sql, args))

    def suspect_answers(self, run: str) -> list[StoredAnswer]:
        """The run's answers marked suspect, by question id."""
        return self._stored(
            self._query(
                "SELECT question_key, question_id, status, answer, error, attempts, updated_at "
                "FROM answers WHERE run = ? AND status = 'ok' AND json_valid(answer) "
                "AND COALESCE(json_extract(answer, '$.suspect'), '') <> '' ORDER BY question_id",
                (run,),
            )
        )

    @staticmethod
    def _stored(rows: list[tuple[Any, ...]]) -> list[StoredAnswer]:
        return [
            StoredAnswer(
                question_key=key,
                question_id=int(qid),
                status=st,
                answer=Answer.from_json(json.loads(ans)) if ans else None,
                error=err,
                attempts=int(attempts),
                updated_at=updated,
            )
            for key, qid, st, ans, err, attempts, updated in rows
        ]

    def answered_keys(self, run: str) -> set[str]:
        """Keys of the run's answered questions, those kept in memory included."""
        rows = self._query(
            "SELECT question_key FROM answers WHERE run = ? AND status = 'ok'", (run,)
        )
        with self._lock:
            kept = {w.key for w in self._pending if w.op == "answer" and w.run == run}
        return {r[0] for r in rows} | kept

    # ------------------------------------------------------------------ response cache

    def cache_get(self, key: str) -> Answer | None:
        with self._lock:
            for w in reversed(self._pending):
                kept_key = w.cache_key if w.op == "answer" else w.key if w.op == "cache" else None
                if kept_key == key and w.cache_answer is not None:
                    return Answer.from_json(w.cache_answer)
        rows = self._query("SELECT answer FROM cache WHERE key = ?", (key,))
        return Answer.from_json(json.loads(rows[0][0])) if rows else None

    def cache_put(self, key: str, answer: Answer) -> None:
        """Cache a response (kept in memory while the store is busy)."""
        self._record(_Write("cache", key=key, cache_answer=answer.to_json()))

    def cache_get_json(self, key: str) -> dict[str, Any] | None:
        """A cached raw response (generated replies, before any parse), or None."""
        with self._lock:
            for w in reversed(self._pending):
                if w.op == "cache" and w.key == key and w.cache_answer is not None:
                    return dict(w.cache_answer)
        rows = self._query("SELECT answer FROM cache WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            data = json.loads(rows[0][0])
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def cache_put_json(self, key: str, payload: dict[str, Any]) -> None:
        """Cache a raw response (kept in memory while the store is busy): what a reply
        said is kept even when it cannot be parsed, so it is never paid for twice."""
        self._record(_Write("cache", key=key, cache_answer=payload))

    # ------------------------------------------------------------------ translations

    def put_translations(self, items: list[Translation]) -> None:
        with self._tx("store translations") as db:
            db.executemany(
                "INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.question_key,
                        t.language,
                        t.question,
                        json.dumps(list(t.options), ensure_ascii=False),
                        t.origin,
                        t.backend,
                        t.model,
                        t.back_translation,
                        int(t.doubtful),
                        t.created_at or now(),
                    )
                    for t in items
                ],
            )

    def translations(self, language: str) -> dict[str, Translation]:
        """Translations into ``language`` by question key."""
        rows = self._query(
            "SELECT question_key, language, question, options, origin, backend, model, "
            "back_translation, doubtful, created_at FROM translations WHERE language = ?",
            (language,),
        )
        return {
            r[0]: Translation(
                question_key=r[0],
                language=r[1],
                question=r[2],
                options=tuple(json.loads(r[3])),
                origin=r[4],
                backend=r[5],
                model=r[6],
                back_translation=r[7],
                doubtful=bool(r[8]),
                created_at=r[9],
            )
            for r in rows
        }

    def integrity_ok(self) -> bool:
        return self._query("PRAGMA integrity_check")[0][0] == "ok"


def _check_same_identity(manifest: RunManifest, existing: RunManifest) -> None:
    mine, theirs = manifest.identity(), existing.identity()
    diff = [k for k in mine if mine[k] != theirs[k]]
    if diff:
        what = ", ".join(f"{k} {_shown(theirs[k])} (now {_shown(mine[k])})" for k in diff)
        raise StoreError(
            f"Run {manifest.name!r} already exists with {what}. Choose another --name "
            f"to start a new run, or 'goqa runs' to see it."
        )


def _shown(value: Any) -> str:
    """An identity value as a person reads it: settings as ``orders=4``, ``{}`` as none."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return repr(value)


def _like(exc: StoreError, message: str) -> StoreError:
    """An error of the same class as ``exc`` with another message."""
    if isinstance(exc, RunClaimedError):
        return RunClaimedError(message, exc.holder)
    return type(exc)(message)


def _claimed_message(holder: RunClaim) -> str:
    if holder.host != _HOST:
        return (
            f"Run {holder.run!r} is being run by another goqa ({holder.describe()}). One run "
            "name is asked by one process at a time, so that no question is sent twice. goqa "
            "cannot see processes on another machine: if that goqa is no longer running, "
            f"release the run with 'goqa runs release {holder.run}'."
        )
    who = (
        "this goqa (another task of this process)" if holder.pid == os.getpid() else "another goqa"
    )
    return (
        f"Run {holder.run!r} is being run by {who} ({holder.describe()}). One run name is "
        "asked by one process at a time, so that no question is sent twice: wait for it to "
        "finish (or stop it), or choose another --name."
    )
