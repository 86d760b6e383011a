"""A real process holding a run's claim on a store, for tests of claims between processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from . import REPO

HOLDER = textwrap.dedent(
    """
    import sys, time
    from core.store import Store
    store = Store(sys.argv[1])
    with store.claim_run(sys.argv[2]) as claim:
        print(claim.pid, claim.claimed_at, flush=True)
        sys.stdin.readline()          # hold until the test says so (or kills us)
    print("released", flush=True)
    """
)


def start_holder(path: Path, run: str) -> tuple[subprocess.Popen[str], int, str]:
    """A real process holding the claim on ``run``; returns it, its pid and claim time."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), run],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line, "the holder process did not start"
    return proc, int(line[0]), line[1]
