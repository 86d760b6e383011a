"""A busy store: another process holds the write lock.

The store says it waits, keeps every answer a server returned in memory and writes them when
the lock frees; if it never frees within the bound, the run ends saying how many answers were
kept and where (a JSON-lines file beside the store), which the next writing goqa imports. No
question is asked twice and a locked store is never called damaged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from support.fakeserver import FakeServer

from core import dataset
from core.backends import make_backend
from core.backends.retry import RetryPolicy
from core.config import BackendConfig
from core.prompts import Condition
from core.runner import run
from core.store import Store, StoreBusyError

LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    for line in sys.stdin:
        if line.strip() == "lock":
            db.execute("BEGIN IMMEDIATE")   # the write lock, as a long write would hold it
            print("locked", flush=True)
        elif line.strip() == "unlock":
            db.execute("COMMIT")
            print("unlocked", flush=True)
    """
)


class Locker:
    """Another process that takes and frees the store's write lock on command."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _say(self, word: str, answer: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == answer

    def lock(self) -> None:
        self._say("lock", "locked")

    def unlock(self) -> None:
        self._say("unlock", "unlocked")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


async def run_while_locked(
    server: FakeServer, store: Store, locker: Locker, n: int, unlock_after: float | None
):
    """Run ``n`` questions; the lock is taken after the first answer and, with
    ``unlock_after``, freed that many seconds later."""
    ds = dataset.load()
    backend = make_backend(
        BackendConfig("fake", "openai", base_url=server.base_url, model="m", concurrency=4)
    )
    state = {"locked": False}

    def on_answer(q, answer, error):  # noqa: ANN001
        if not state["locked"]:
            state["locked"] = True
            locker.lock()
            if unlock_after is not None:  # another process's clock, not our event loop's
                threading.Timer(unlock_after, locker.unlock).start()

    try:
        return await run(
            name="busy",
            dataset=ds,
            positions=list(range(n)),
            backend=backend,
            backend_name="fake",
            condition=Condition("default"),
            template="paper",
            store=store,
            concurrency=4,
            retry=RetryPolicy(max_retries=0),
            on_answer=on_answer,
        )
    finally:
        await backend.aclose()


async def test_answers_wait_in_memory_and_land_when_the_lock_frees(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    told: list[str] = []
    store = Store(path, on_busy=told.append, busy_limit=30)
    Store(path).close()  # the file exists for the locker
    locker = Locker(path)
    try:
        with FakeServer(delay=0.02) as server:
            outcome = await run_while_locked(server, store, locker, 30, unlock_after=1.0)
            assert (outcome.answered, outcome.failed) == (30, 0)
            assert server.request_count == 30  # nothing asked twice
    finally:
        locker.close()
    assert any("the store is busy (another goqa is writing); waiting…" in t for t in told), told
    assert any("free again" in t for t in told), told
    assert not any("damaged" in t for t in told)
    assert len(store.answers("busy", "ok")) == 30
    assert store.kept == 0 and store.spill_files() == []
    assert store.claim("busy") is None
    store.close()


async def test_a_lock_that_never_frees_spills_the_answers_for_next_time(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    told: list[str] = []
    Store(path).close()
    store = Store(path, on_busy=told.append, busy_limit=1.0)
    locker = Locker(path)
    try:
        with FakeServer(delay=0.02) as server:
            with pytest.raises(StoreBusyError) as info:
                await run_while_locked(server, store, locker, 30, unlock_after=None)
            asked = server.request_count
            message = str(info.value)
            assert "stayed busy" in message and "damaged" not in message
            (spilled,) = store.spill_files()  # one file, even if more answers came after
            assert str(spilled) in message and spilled.parent == path.parent
            assert "answer(s) the server had returned are kept in" in message
            kept = len(spilled.read_text().splitlines())
            assert kept > 0
            # Only the first answer, stored before the lock was taken, is in the store.
            assert len(store.answered_keys("busy")) == 1
            locker.unlock()
            # The next goqa that writes imports them.
            again = Store(path, on_busy=told.append)
            assert again.imported == kept
            assert again.spill_files() == []
            stored = again.answered_keys("busy")
            assert len(stored) == kept + 1
            # Only requests cut off in flight when the run ended are unaccounted for.
            assert asked - 4 <= len(stored) <= asked
            # And resuming asks only what was never stored.
            outcome = await run_while_locked(server, again, _NoLock(), 30, unlock_after=None)
            assert (outcome.answered, outcome.already_done) == (30, len(stored))
            assert server.request_count == asked + 30 - len(stored)
            again.close()
    finally:
        locker.close()
        store.close()
    with Store(path) as after:
        assert after._query("SELECT run FROM claims") == []  # no claim outlives its run


class _NoLock(Locker):
    def __init__(self) -> None:
        pass

    def lock(self) -> None:
        pass


def test_reads_and_messages_of_a_locked_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    locker = Locker(path)
    told: list[str] = []
    try:
        locker.lock()
        with Store(path, on_busy=told.append, busy_limit=0.6) as store:
            assert store.runs() == []  # WAL: readers are not blocked by the writer
            with pytest.raises(StoreBusyError) as info:
                store.delete_run("nope")
        message = str(info.value)
        assert "busy" in message and "damaged" not in message and "move it aside" not in message
        assert any("waiting…" in t for t in told)
    finally:
        locker.unlock()
        locker.close()


def test_a_locked_store_opens_for_writing_once_it_frees(tmp_path: Path) -> None:
    # Locked from the first moment: opening waits (saying so) and goes on when it frees.
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        store._db.execute("DELETE FROM meta")  # an interrupted first start: set up on open
    locker = Locker(path)
    told: list[str] = []
    try:
        locker.lock()
        threading.Timer(0.8, locker.unlock).start()
        with Store(path, on_busy=told.append, busy_limit=20) as store:
            assert store.runs() == []
        assert told, "opening a locked store waited without saying so"
    finally:
        locker.close()
    assert os.path.exists(path)
