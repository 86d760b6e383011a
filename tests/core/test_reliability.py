"""Reliability under faults and crashes: a soak through a fault-injecting server, and runs
killed with SIGKILL at several points that resume to exactly the uninterrupted answers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from support.fakeserver import FakeServer

from benchmarks.synthetic import write as write_synthetic
from core import dataset
from core.backends import make_backend
from core.backends.retry import RetryPolicy
from core.config import BackendConfig
from core.prompts import Condition
from core.runner import run
from core.store import Store

SOAK_FAULTS = ("429", "500", "503", "slow", "malformed", "no-logprobs", "reset")


async def _soak_run(server: FakeServer, ds: dataset.Dataset, store: Store, n: int):
    cfg = BackendConfig(
        "fake", "openai", base_url=server.base_url, model="soak", concurrency=32, timeout=0.5
    )
    backend = make_backend(cfg)
    try:
        return await run(
            name="soak",
            dataset=ds,
            positions=list(range(n)),
            backend=backend,
            backend_name="fake",
            condition=Condition("default"),
            template="paper",
            store=store,
            concurrency=32,
            retry=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05),
        )
    finally:
        await backend.aclose()


def test_soak_1000_questions_through_a_faulty_server(tmp_path: Path) -> None:
    ds = dataset.load(str(write_synthetic(tmp_path / "synthetic.csv")))
    store = Store(tmp_path / "soak.sqlite3")
    n = 1000
    with FakeServer(
        fault_rate=0.2,
        fault_kinds=SOAK_FAULTS,
        retry_after=0.01,
        slow_seconds=1.5,
        seed=11,
        max_records=5000,
    ) as server:
        started = time.monotonic()
        first = asyncio.run(_soak_run(server, ds, store, n))
        faults = Counter(r.fault for r in server.recorded() if r.fault)
        failed = store.answers("soak", "failed")
        ok = store.answers("soak", "ok")
        print(
            f"\nsoak: {n} questions, {server.request_count} requests, faults {dict(faults)}; "
            f"{len(ok)} answered, {len(failed)} failed after retries, "
            f"{time.monotonic() - started:.1f}s"
        )
        assert len(ok) + len(failed) == n
        assert first.answered == len(ok) and first.failed == len(failed)
        assert all(f.error for f in failed)  # every failure says why
        assert sum(faults.values()) > 0.1 * server.request_count
        server.fault_rate = 0.0
        second = asyncio.run(_soak_run(server, ds, store, n))
        print(f"resume: {second.answered - second.already_done} more answered, 0 failed")
        assert (second.answered, second.failed) == (n, 0)
    keys = [a.question_key for a in store.answers("soak")]
    assert len(keys) == len(set(keys)) == n  # no duplicate answers
    assert store.integrity_ok()
    store.close()


# --------------------------------------------------------------------------- crash-resume


def _goqa(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    code = "import sys; from cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _answers(db: Path) -> dict[str, dict[str, object]]:
    if not db.exists():
        return {}
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute(
            "SELECT question_key, answer FROM answers WHERE run = 'crash' AND status = 'ok'"
        ).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        rows = []
    finally:
        con.close()
    # Everything but the wall time, which differs from run to run.
    return {key: {k: v for k, v in json.loads(a).items() if k != "latency_s"} for key, a in rows}


def _integrity(db: Path) -> str:
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def _env(tmp: Path, name: str, base_url: str) -> dict[str, str]:
    cfg_dir = tmp / name / "config"
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "config.toml").write_text(
        "[backends.fake]\n"
        'kind = "openai"\n'
        f'base_url = "{base_url}"\n'
        'model = "crash"\n'
        "concurrency = 4\n"
    )
    return {
        **os.environ,
        "GOQA_CONFIG_DIR": str(cfg_dir),
        "GOQA_DATA_DIR": str(tmp / name / "data"),
        "GOQA_CACHE_DIR": str(tmp / "cache"),
    }


N_CRASH = 60
RUN_ARGS = ("run", "--name", "crash", "--backend", "fake", "--limit", str(N_CRASH), "--json")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_runs_resume_to_exactly_the_uninterrupted_answers(tmp_path: Path) -> None:
    with FakeServer(delay=0.03) as server:
        # The reference: one uninterrupted run.
        env = _env(tmp_path, "reference", server.base_url)
        proc = _goqa(env, *RUN_ARGS)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        reference = _answers(Path(env["GOQA_DATA_DIR"]) / "goqa.sqlite3")
        assert len(reference) == N_CRASH

        # The same run killed early, mid-way and near the end, resumed after each kill.
        env = _env(tmp_path, "killed", server.base_url)
        db = Path(env["GOQA_DATA_DIR"]) / "goqa.sqlite3"
        for kill_at in (1, N_CRASH // 2, N_CRASH - 5):
            proc = _goqa(env, *RUN_ARGS)
            deadline = time.monotonic() + 60
            while len(_answers(db)) < kill_at and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            ended = proc.poll()  # a run that ended by itself before the kill says why
            proc.send_signal(signal.SIGKILL)  # mid-run, often mid-write
            proc.wait(timeout=30)
            assert _integrity(db) == "ok"
            why = proc.stderr.read() if ended is not None and proc.stderr else ""
            assert kill_at <= len(_answers(db)) <= N_CRASH, (ended, why)
        proc = _goqa(env, *RUN_ARGS)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        assert _integrity(db) == "ok"
        assert _answers(db) == reference
