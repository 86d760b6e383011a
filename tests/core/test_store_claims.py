"""One run name, one process: claims between real processes on one SQLite file.

A second process (or a second task of the same one) that wants a run somebody is running gets
a :class:`RunClaimedError` naming the holder; a claim whose process died is taken over; two
``goqa run`` processes on the same name never send a question twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO
from support.claims import start_holder
from support.fakeserver import FakeServer

from core.store import RunClaimedError, Store

GOQA = "import sys; from cli.main import main; sys.exit(main())"  # the console script


def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    proc, pid, since = start_holder(path, "shared")
    try:
        assert pid == proc.pid
        with Store(path) as store:
            with pytest.raises(RunClaimedError) as info:
                with store.claim_run("shared"):
                    pytest.fail("two processes ran the same run")
            message = str(info.value)
            assert f"pid {pid}" in message
            assert socket.gethostname() in message
            assert since in message
            assert "another goqa" in message and "--name" in message
            assert info.value.holder.pid == pid
            # Another run name is free meanwhile.
            with store.claim_run("other") as mine:
                assert mine.pid == os.getpid()
            # The holder shows in the run's claim, and 'delete' refuses the running run.
            assert store.claim("shared") is not None
            assert store.claim("shared").pid == pid  # type: ignore[union-attr]
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"
        proc.wait(timeout=10)
    with Store(path) as store:
        assert store.claim("shared") is None
        with store.claim_run("shared") as mine:  # released: free for us now
            assert mine.pid == os.getpid()


def test_the_claim_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    proc, pid, _ = start_holder(path, "crashy")
    with Store(path) as store:
        with pytest.raises(RunClaimedError):
            store._take_claim("crashy")
    proc.send_signal(signal.SIGKILL)  # no chance to release: its row stays behind
    proc.wait(timeout=10)
    with Store(path) as store:
        rows = store._query("SELECT pid FROM claims WHERE run = 'crashy'")
        assert rows == [(pid,)]  # still there...
        assert store.claim("crashy") is None  # ...but not alive
        with store.claim_run("crashy") as mine:
            assert mine.pid == os.getpid()
            assert store._query("SELECT pid FROM claims WHERE run = 'crashy'") == [(os.getpid(),)]


def test_a_second_task_of_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as first, Store(path) as second:
        with first.claim_run("r"):
            with pytest.raises(RunClaimedError, match="this goqa"):
                with second.claim_run("r"):
                    pass
        with second.claim_run("r"):  # the first block ended: free
            pass


def test_a_claim_on_another_host_is_kept_until_released(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        store._db.execute(
            "INSERT INTO claims VALUES ('far', 1234, 'elsewhere', '', '2025-01-01T00:00:00+00:00')"
        )
        with pytest.raises(RunClaimedError) as info:
            store._take_claim("far")
        assert "host elsewhere" in str(info.value)
        assert "goqa runs release far" in str(info.value)
        released = store.release_claim("far")
        assert released is not None and released.host == "elsewhere"
        assert store.release_claim("far") is None
        with store.claim_run("far"):
            pass


def test_release_refuses_a_live_local_holder(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    proc, pid, _ = start_holder(path, "live")
    try:
        with Store(path) as store, pytest.raises(RunClaimedError, match=f"pid {pid}"):
            store.release_claim("live")
    finally:
        proc.kill()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- goqa run x2


def test_two_goqa_runs_on_one_name_never_ask_twice(tmp_path: Path) -> None:
    data, config = tmp_path / "data", tmp_path / "config"
    config.mkdir()
    env = {
        **os.environ,
        "GOQA_DATA_DIR": str(data),
        "GOQA_CONFIG_DIR": str(config),
        "GOQA_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": str(REPO),
        "COLUMNS": "300",
    }
    with FakeServer(delay=0.5) as server:  # 8 questions, one at a time: 4 s
        (config / "config.toml").write_text(
            "[backends.fake]\n"
            'kind = "openai"\n'
            f'base_url = "{server.base_url}"\n'
            'model = "m"\n'
            'mode = "completions"\n'
            "concurrency = 1\n",
            encoding="utf-8",
        )
        argv = [sys.executable, "-c", GOQA, "run", "--name", "twice", "--backend", "fake"]
        argv += ["--limit", "8", "--json"]
        first = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while server.request_count == 0:  # the first one is asking now
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.02)
        second = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
        assert first.poll() is None  # the second one ended while the first was asking
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert second.returncode == 1
        assert "Traceback" not in second.stderr
        assert "is being run by another goqa" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert json.loads(out)["answered"] == 8
        assert server.request_count == 8  # every question once
        # Afterwards the name is free: a resume asks nothing new.
        again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["already_done"] == 8
        assert server.request_count == 8
