"""The store's file as it may be found: read-only, another program's database, not SQLite,
an older goqa's store, a full disk. Each gets its own message; none is called damaged unless
it is, and no file that is not ours is changed.

Read-only and full disks are real: a small tmpfs mounted (and remounted read-only) here.
Tests run as root, where ``chmod`` stops nothing; without ``mount`` they are skipped.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from support import REPO
from support.mounts import fill, remount, tmpfs

from core.backends.base import Answer
from core.store import (
    SCHEMA_VERSION,
    NotAStoreError,
    RunManifest,
    Selection,
    Store,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
)

MANIFEST = RunManifest(
    name="r1",
    backend="vllm",
    backend_kind="openai",
    base_url="http://localhost:8000/v1",
    model="llama",
    mode="completions",
    condition="default",
    template="paper",
    template_hash="3278e89f4371",
    dataset="sample",
    dataset_sha256="a" * 64,
    dataset_revision="",
    policy="keep",
    selection=Selection(planned=2),
)


def answer(*probs: float, suspect: str = "") -> Answer:
    return Answer(
        probs=np.array(probs),
        off_option_mass=0.1,
        estimator="logprobs",
        top_tokens=(),
        prompt_tokens=1,
        latency_s=0.0,
        suspect=suspect,
    )


# --------------------------------------------------------------------------- real mounts


def make_store(path: Path) -> None:
    with Store(path) as store:
        store.open_run(MANIFEST)
        store.record_answer("r1", "k1", 1, answer(0.25, 0.75))
        store.record_answer("r1", "k2", 2, answer(0.5, 0.5, suspect="too much off-option"))
        store.record_failure("r1", "k3", 3, "HTTP 500")


# --------------------------------------------------------------------------- read-only


def test_a_read_only_file_system_still_reads(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro") as mnt:
        path = mnt / "goqa.sqlite3"
        make_store(path)
        remount(mnt, "ro")
        with Store(path) as store:  # asked for writing; the disk cannot
            assert store.read_only is True
            assert "mounted read-only" in store.read_only_reason
            (summary,) = store.runs()
            assert (summary.n_ok, summary.n_failed, summary.n_suspect) == (2, 1, 1)
            assert [a.question_key for a in store.answers("r1", "ok")] == ["k1", "k2"]
            assert [a.question_key for a in store.suspect_answers("r1")] == ["k2"]
            with pytest.raises(StoreReadOnlyError) as info:
                store.record_answer("r1", "k4", 4, answer(1.0, 0.0))
            message = str(info.value)
            assert str(path) in message and "read-only" in message
            assert "mounted read-only" in message and "GOQA_DATA_DIR" in message
            assert "damaged" not in message
            with pytest.raises(StoreReadOnlyError, match="start run"):
                with store.claim_run("r1"):
                    pass
        assert sorted(p.name for p in mnt.iterdir()) == ["goqa.sqlite3"]


def test_a_wal_left_by_a_killed_writer_is_read_on_a_read_only_disk(tmp_path: Path) -> None:
    # A writer killed before its last checkpoint leaves -wal and -shm behind, holding the
    # newest answers; on a read-only disk they are still read.
    script = textwrap.dedent(
        """
        import os, sys, numpy as np
        from core.backends.base import Answer
        from core.store import Store
        sys.path.insert(0, sys.argv[2])
        from test_store_files import MANIFEST, answer
        store = Store(sys.argv[1])
        store.open_run(MANIFEST)
        store.record_answer("r1", "k1", 1, answer(0.25, 0.75))
        os._exit(0)   # no close, no checkpoint
        """
    )
    # The writer imports this module (from its directory), which imports ``support``.
    pythonpath = os.pathsep.join([str(REPO), str(REPO / "tests")])
    with tmpfs(tmp_path / "ro") as mnt:
        path = mnt / "goqa.sqlite3"
        subprocess.run(
            [sys.executable, "-c", script, str(path), str(Path(__file__).parent)],
            check=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": pythonpath},
        )
        assert Path(f"{path}-wal").stat().st_size > 0
        remount(mnt, "ro")
        with Store(path, read_only=True) as store:
            assert [a.question_key for a in store.answers("r1")] == ["k1"]


def test_a_read_only_directory_without_a_store_is_an_empty_store(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro") as mnt:
        remount(mnt, "ro")
        with Store(mnt / "goqa.sqlite3") as store:
            assert store.read_only and store.runs() == []
            with pytest.raises(StoreReadOnlyError):
                store.open_run(MANIFEST)
        assert list(mnt.iterdir()) == []


def test_read_only_by_request_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "goqa.sqlite3"
    with Store(path, read_only=True) as store:
        assert store.runs() == []
        with pytest.raises(StoreReadOnlyError, match="opened for reading only"):
            store.cache_put("k", answer(1.0))
    assert not path.exists()
    make_store(path)
    with Store(path, read_only=True) as store:
        assert store.summary("r1").n_ok == 2


def test_an_immutable_store_file_opens_read_only(tmp_path: Path) -> None:
    # chattr +i: even root cannot write the file (a second, independent read-only cause).
    path = tmp_path / "goqa.sqlite3"
    make_store(path)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this file system")
    try:
        with Store(path) as store:
            assert store.read_only and f"the file {path} is read-only" in store.read_only_reason
            assert store.summary("r1").n_failed == 1
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# --------------------------------------------------------------------------- not ours


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "goqa.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users VALUES (1, 'ada')")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for read_only in (False, True):
        with pytest.raises(NotAStoreError) as info:
            Store(path, read_only=read_only)
        message = str(info.value)
        assert "is not a goqa results store" in message
        assert "another program" in message and "users" in message
        assert "Move it aside" in message and "damaged" not in message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"users"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["goqa.sqlite3"]


def test_a_table_with_our_name_but_not_our_columns_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "goqa.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE cache (url TEXT, body BLOB)")
    with pytest.raises(NotAStoreError, match="cache"):
        Store(path)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (os.urandom(4096), "not an SQLite database"),
        (b"name,score\nada,3\n", "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "SQLite says it is not a database"),
    ],
)
def test_a_file_that_is_not_a_database(tmp_path: Path, content: bytes, what: str) -> None:
    path = tmp_path / "goqa.sqlite3"
    path.write_bytes(content)
    with pytest.raises(NotAStoreError) as info:
        Store(path)
    assert what in str(info.value) and "Move it aside" in str(info.value)
    assert path.read_bytes() == content


def test_a_directory_at_the_store_path(tmp_path: Path) -> None:
    (tmp_path / "goqa.sqlite3").mkdir()
    with pytest.raises(NotAStoreError, match="it is a directory"):
        Store(tmp_path / "goqa.sqlite3")


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "goqa.sqlite3"
    path.touch()
    with Store(path) as store:
        store.open_run(MANIFEST)
        assert store.summary("r1").planned == 2


# --------------------------------------------------------------------------- versions

V1_TABLES = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE runs (name TEXT PRIMARY KEY, manifest TEXT NOT NULL, created_at TEXT NOT NULL)",
    """CREATE TABLE answers (run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
        question_key TEXT NOT NULL, question_id INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), answer TEXT, error TEXT,
        attempts INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL,
        PRIMARY KEY (run, question_key))""",
    "CREATE TABLE cache (key TEXT PRIMARY KEY, answer TEXT NOT NULL, created_at TEXT NOT NULL)",
    """CREATE TABLE translations (question_key TEXT NOT NULL, language TEXT NOT NULL,
        question TEXT NOT NULL, options TEXT NOT NULL, origin TEXT NOT NULL,
        backend TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
        back_translation TEXT NOT NULL DEFAULT '', doubtful INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL, PRIMARY KEY (question_key, language))""",
]


def v1_store(path: Path) -> None:
    """A store as goqa's schema version 1 wrote it (no claims), with one run."""
    import json

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        for sql in V1_TABLES:
            db.execute(sql)
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute(
            "INSERT INTO runs VALUES ('old', ?, '2024-01-01T00:00:00+00:00')",
            (json.dumps({**MANIFEST.to_json(), "name": "old"}),),
        )
        db.execute(
            "INSERT INTO answers VALUES ('old', 'k1', 1, 'ok', ?, NULL, 1, 'x')",
            (json.dumps(answer(0.5, 0.5).to_json()),),
        )


def test_an_older_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "goqa.sqlite3"
    v1_store(path)
    with Store(path, read_only=True) as store:  # reading needs no migration
        assert store.summary("old").n_ok == 1 and store.claim("old") is None
    with Store(path) as store:
        with store.claim_run("old"):
            assert store.claim("old") is not None
        assert [a.question_key for a in store.answers("old")] == ["k1"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )


def test_a_newer_store_asks_for_a_newer_goqa(tmp_path: Path) -> None:
    path = tmp_path / "goqa.sqlite3"
    make_store(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as info:
        Store(path)
    assert "newer goqa" in str(info.value) and "pip install -U goqa" in str(info.value)


# --------------------------------------------------------------------------- disk full


def test_a_full_disk_is_said_so_and_the_store_stays_intact(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", size="1m") as mnt:
        path = mnt / "goqa.sqlite3"
        make_store(path)
        with Store(path) as store:
            store.open_run(MANIFEST)
            filler = fill(mnt, leave=0)
            big = answer(*([1.0 / 400] * 400))
            with pytest.raises(StoreFullError) as info:
                for i in range(200):
                    store.record_answer("r1", f"big{i}", 100 + i, big, cache_key=f"c{i}")
            message = str(info.value)
            assert "is full" in message and "intact" in message
            assert "damaged" not in message and "busy" not in message
            assert store.integrity_ok()
            n_stored = len(store.answers("r1", "ok"))
            filler.unlink()
            store.record_answer("r1", "after", 999, answer(1.0, 0.0))  # room again: works
        with Store(path) as store:
            assert store.integrity_ok()
            assert len(store.answers("r1", "ok")) == n_stored + 1
            assert store.summary("r1").n_failed == 1
