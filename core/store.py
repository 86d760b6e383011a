"""The results store: one SQLite file (WAL) holding runs, answers, the response cache and
translations.

Every answer is written in its own transaction the moment it arrives, so a crash or Ctrl-C
loses at most the requests still in flight; running the same run name again resumes.
No secret is ever written: manifests hold the *name* of a key's environment variable at most.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import paths
from core.backends.base import Answer

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    question_key TEXT NOT NULL,
    question_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    answer TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run, question_key)
);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS translations (
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
);
"""


class StoreError(Exception):
    """A store problem with a message that says what to do."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunManifest:
    """Everything that defines a run (and nothing secret).

    ``params`` holds the backend's answer-changing parameters (``request_params()``);
    ``selection`` the filters that chose the questions.
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
    selection: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    variant: str = ""  # "" or "shuffle:SEED" (options shown in a seeded shuffled order)

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
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
class RunSummary:
    manifest: RunManifest
    n_ok: int
    n_failed: int
    planned: int

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


class Store:
    """A connection to the results store; safe to share between threads and tasks."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else paths.store_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The results store {self.path} cannot be opened ({exc}). If it is damaged, "
                "move it aside; goqa will start a new one."
            ) from None
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ------------------------------------------------------------------ runs

    def open_run(self, manifest: RunManifest) -> RunManifest:
        """Create the run, or return the existing one with the same name if compatible.

        Raises:
            StoreError: a run with this name exists with a different backend, model,
                condition, template or dataset.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT manifest FROM runs WHERE name = ?", (manifest.name,)
            ).fetchone()
            if row is None:
                created = RunManifest(**{**manifest.to_json(), "created_at": now()})
                db.execute(
                    "INSERT INTO runs VALUES (?, ?, ?)",
                    (created.name, json.dumps(created.to_json()), created.created_at),
                )
                return created
            existing = RunManifest(**json.loads(row[0]))
            mine, theirs = manifest.identity(), existing.identity()
            diff = [k for k in mine if mine[k] != theirs[k]]
            if diff:
                what = ", ".join(f"{k} {theirs[k]!r} (now {mine[k]!r})" for k in diff)
                raise StoreError(
                    f"Run {manifest.name!r} already exists with {what}. Choose another --name "
                    f"to start a new run, or 'goqa runs' to see it."
                )
            if manifest.selection != existing.selection or manifest.params != existing.params:
                merged = RunManifest(
                    **{
                        **existing.to_json(),
                        "selection": manifest.selection,
                        "params": manifest.params,
                    }
                )
                db.execute(
                    "UPDATE runs SET manifest = ? WHERE name = ?",
                    (json.dumps(merged.to_json()), manifest.name),
                )
                return merged
            return existing

    def manifest(self, name: str) -> RunManifest:
        rows = self._query("SELECT manifest FROM runs WHERE name = ?", (name,))
        if not rows:
            known = [r[0] for r in self._query("SELECT name FROM runs ORDER BY created_at")]
            hint = f" Stored runs: {', '.join(known[-8:])}." if known else " No runs yet."
            raise StoreError(f"No run called {name!r}.{hint} See 'goqa runs'.")
        return RunManifest(**json.loads(rows[0][0]))

    def runs(self) -> list[RunSummary]:
        """Every run with its answered and failed counts, oldest first."""
        rows = self._query(
            """
            SELECT r.manifest,
                   COALESCE(SUM(a.status = 'ok'), 0),
                   COALESCE(SUM(a.status = 'failed'), 0)
            FROM runs r LEFT JOIN answers a ON a.run = r.name
            GROUP BY r.name ORDER BY r.created_at, r.name
            """
        )
        out = []
        for manifest_json, n_ok, n_failed in rows:
            m = RunManifest(**json.loads(manifest_json))
            planned = int(m.selection.get("planned", n_ok + n_failed))
            out.append(RunSummary(m, int(n_ok), int(n_failed), planned))
        return out

    def delete_run(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM answers WHERE run = ?", (name,))
            db.execute("DELETE FROM runs WHERE name = ?", (name,))

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
        stores probabilities in the original option order)."""
        with self._tx() as db:
            if cache_key is not None:
                db.execute(
                    "INSERT OR REPLACE INTO cache VALUES (?, ?, ?)",
                    (cache_key, json.dumps((cache_answer or answer).to_json()), now()),
                )
            db.execute(
                """
                INSERT INTO answers VALUES (?, ?, ?, 'ok', ?, NULL, 1, ?)
                ON CONFLICT (run, question_key) DO UPDATE SET
                    status = 'ok', answer = excluded.answer, error = NULL,
                    attempts = answers.attempts + 1, updated_at = excluded.updated_at
                """,
                (run, key, qid, json.dumps(answer.to_json()), now()),
            )

    def record_failure(self, run: str, key: str, qid: int, error: str) -> None:
        """Store a failure; a question that already succeeded keeps its answer."""
        with self._tx() as db:
            db.execute(
                """
                INSERT INTO answers VALUES (?, ?, ?, 'failed', NULL, ?, 1, ?)
                ON CONFLICT (run, question_key) DO UPDATE SET
                    error = excluded.error, attempts = answers.attempts + 1,
                    updated_at = excluded.updated_at
                WHERE answers.status = 'failed'
                """,
                (run, key, qid, error, now()),
            )

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
            for key, qid, st, ans, err, attempts, updated in self._query(sql, args)
        ]

    def answered_keys(self, run: str) -> set[str]:
        rows = self._query(
            "SELECT question_key FROM answers WHERE run = ? AND status = 'ok'", (run,)
        )
        return {r[0] for r in rows}

    # ------------------------------------------------------------------ response cache

    def cache_get(self, key: str) -> Answer | None:
        rows = self._query("SELECT answer FROM cache WHERE key = ?", (key,))
        return Answer.from_json(json.loads(rows[0][0])) if rows else None

    def cache_put(self, key: str, answer: Answer) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO cache VALUES (?, ?, ?)",
                (key, json.dumps(answer.to_json()), now()),
            )

    # ------------------------------------------------------------------ translations

    def put_translations(self, items: list[Translation]) -> None:
        with self._tx() as db:
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
