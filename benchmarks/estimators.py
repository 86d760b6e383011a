"""What an ``order-averaged`` run costs against a ``first-token`` run, side by side in one run.

Run from a clone with the test extras installed::

    python -m benchmarks.estimators              # the loopback server and the local model
    python -m benchmarks.estimators fake         # only the loopback server
    python -m benchmarks.estimators --write      # also put the table in benchmarks/results.md

Each estimator runs the same questions through ``core.runner.run`` with a fresh store (so
the response cache never helps), interleaved over ``--repeat`` rounds; the best wall time
of the rounds (the least disturbed by other load, as ``benchmarks/run.py`` takes) is
reported with the requests the backend was asked (every ``Backend.ask`` call, counted on
the instance), and, per request, the ratio of wall time and of this process's CPU time (the
client's own work against the loopback server, which runs in its own process; the model's
with the local backend), which moves less than wall time when other work shares the cores.
The goal: an order-averaged run with ``k`` orders costs at most ``k x 1.1`` a first-token
run's wall time. Ordinal questions get only two orders (the scale and its reverse) and
two-option ones two at most, so on the sample's first questions (``mixed``, mostly
ordinal) ``k = 4`` asks little more than ``k = 2``; the ``nominal`` set (questions that get
all four orders) is where ``k = 4`` costs four requests a question. The table gives the
orders asked per question. A first-token run on the same questions is made once,
unmeasured, before the rounds.

1. A loopback OpenAI-compatible server (``tests/support/fakeserver.py``, in its own process
   as a real server would be) answering after a fixed delay, at concurrency 8.
2. The embedded model (``core.backends.local.LocalBackend`` with ``config.LOCAL_DEFAULT``),
   skipped with a message when llama-cpp-python or the model is not installed.

Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.md"
SECTION = "## Estimators: order-averaged against first-token"
Row = tuple[str, str, str, str, str]  # benchmark, measured, baseline, ratio, target


@dataclass(frozen=True)
class Measured:
    """One run of one estimator: wall seconds, this process's CPU seconds (every thread:
    goqa's own work, and the local model's), requests the backend was asked."""

    seconds: float
    cpu: float
    requests: int
    answered: int


def _counting(backend: Any) -> Callable[[], int]:
    """Count ``backend.ask`` calls (cache hits never reach it); returns the reader."""
    calls = [0]
    ask = backend.ask

    async def counted(prompt: Any, on_partial: Any = None) -> Any:
        calls[0] += 1
        return await ask(prompt, on_partial)

    backend.ask = counted
    return lambda: calls[0]


def _measure(
    make_backend: Callable[[], Any],
    positions: Sequence[int],
    spec: Any,
    store_path: Path,
    concurrency: int,
) -> Measured:
    from core import dataset
    from core.prompts import Condition
    from core.runner import run
    from core.store import Store

    ds = dataset.load()
    backend = make_backend()
    requests = _counting(backend)
    store = Store(store_path)

    async def go() -> Measured:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            outcome = await run(
                name="bench",
                dataset=ds,
                positions=list(positions),
                backend=backend,
                backend_name="bench",
                condition=Condition("default"),
                template="paper",
                store=store,
                concurrency=concurrency,
                estimator=spec,
            )
        finally:
            await backend.aclose()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert outcome.failed == 0, f"{outcome.failed} questions failed"
        return Measured(seconds, cpu, requests(), outcome.answered)

    try:
        return asyncio.run(go())
    finally:
        store.close()


def _compare(
    tag: str,
    label: str,
    make_backend: Callable[[], Any],
    positions: Sequence[int],
    tmp: Path,
    concurrency: int,
    repeat: int,
) -> list[Row]:
    from core.estimators import EstimatorSpec

    specs = {
        "first-token": EstimatorSpec(),
        "k=2": EstimatorSpec("order-averaged", orders=2),
        "k=4": EstimatorSpec("order-averaged", orders=4),
    }
    runs: dict[str, list[Measured]] = {name: [] for name in specs}
    # One unmeasured first-token run warms what a fresh store does not reset (the OS file
    # cache, the model's first evaluation, the server's threads).
    _measure(
        make_backend, positions, specs["first-token"], tmp / f"{tag}-warm.sqlite3", concurrency
    )
    for round_ in range(repeat):  # interleaved: every estimator sees the same load
        for name, spec in specs.items():
            path = tmp / f"{tag}-{name}-{round_}.sqlite3"
            runs[name].append(_measure(make_backend, positions, spec, path, concurrency))
            print(
                f"  {tag} {name} round {round_ + 1}: {runs[name][-1].requests} requests, "
                f"{runs[name][-1].seconds:.3f} s, CPU {runs[name][-1].cpu:.3f} s",
                file=sys.stderr,
                flush=True,
            )
    base_t = min(m.seconds for m in runs["first-token"])
    base_n = runs["first-token"][0].requests
    base_cpu = min(m.cpu for m in runs["first-token"])
    rows: list[Row] = []
    for name in ("k=2", "k=4"):
        k = int(name[2:])
        t = min(m.seconds for m in runs[name])
        n = runs[name][0].requests
        ratio = t / base_t
        per_request = (t / n) / (base_t / base_n)
        cpu_per_request = (min(m.cpu for m in runs[name]) / n) / (base_cpu / base_n)
        rows.append(
            (
                f"order-averaged {name} vs first-token: {label} ({n / base_n:.2f} orders "
                "per question)",
                f"{n} requests, {t:.3f} s",
                f"first-token {base_n} requests, {base_t:.3f} s",
                f"{ratio:.2f}× the time; per request {per_request:.2f}× wall, "
                f"{cpu_per_request:.2f}× CPU",
                f"≤ {k * 1.1:.1f}×: {'met' if ratio <= k * 1.1 else 'MISSED'}",
            )
        )
    return rows


def _question_sets(n: int) -> dict[str, list[int]]:
    """Sample positions: the first ``n`` askable questions (mostly ordinal scales, which get
    two orders whatever ``k``), and the first ``n`` that get four orders at ``k = 4``
    (nominal, three or more substantive options)."""
    from core import dataset, estimators

    ds = dataset.load()
    kept, _ = ds.askable(range(len(ds)))
    four = [p for p in kept if len(estimators.option_orders(ds.at(p), 4)) == 4]
    return {"mixed": list(kept[:n]), "nominal": four[:n]}


def bench_fake(tmp: Path, n: int = 40, delay: float = 0.02, repeat: int = 3) -> list[Row]:
    from core.backends.openai import OpenAIBackend
    from core.config import BackendConfig

    concurrency = 8
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "fakeserver.py"), "--delay", str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    cfg = BackendConfig(
        "fake",
        "openai",
        base_url=base_url,
        model="bench",
        mode="completions",
        concurrency=concurrency,
        timeout=30,
    )
    rows: list[Row] = []
    try:
        for kind, positions in _question_sets(n).items():
            label = (
                f"{len(positions)} {kind} sample questions, loopback server "
                f"{delay * 1e3:.0f} ms, concurrency {concurrency}"
            )
            rows += _compare(
                f"fake-{kind}",
                label,
                lambda: OpenAIBackend(cfg),
                positions,
                tmp,
                concurrency,
                repeat,
            )
    finally:
        server.communicate(input="", timeout=10)
    return rows


def bench_local(tmp: Path, n: int = 10, repeat: int = 3) -> list[Row]:
    from core.backends.base import BackendError
    from core.backends.local import LocalBackend
    from core.config import LOCAL_DEFAULT

    try:
        LocalBackend(LOCAL_DEFAULT).load()  # loaded once, outside the timings
    except BackendError as exc:
        print(f"local model skipped: {exc}", file=sys.stderr)
        return []
    rows: list[Row] = []
    for kind, positions in _question_sets(n).items():
        label = f"{len(positions)} {kind} sample questions, local {LOCAL_DEFAULT.model}"
        rows += _compare(
            f"local-{kind}", label, lambda: LocalBackend(LOCAL_DEFAULT), positions, tmp, 1, repeat
        )
    return rows


def _write_section(text: str) -> None:
    """Put ``text`` under :data:`SECTION` in results.md, replacing an earlier one."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    head, _, _ = old.partition(SECTION)
    RESULTS.write_text(head.rstrip("\n") + "\n\n" + SECTION + "\n\n" + text + "\n", "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="order-averaged against first-token cost")
    parser.add_argument("only", nargs="*", help="fake, local (default: both)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (best of)")
    parser.add_argument("--write", action="store_true", help="put the table in results.md")
    args = parser.parse_args()
    names = args.only or ["fake", "local"]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        os.environ.setdefault("GOQA_CACHE_DIR", str(tmp / "cache"))
        os.environ.setdefault("GOQA_DATA_DIR", str(tmp / "data"))
        os.environ.setdefault("GOQA_CONFIG_DIR", str(tmp / "config"))
        if "fake" in names:
            print("… fake server", file=sys.stderr, flush=True)
            rows += bench_fake(tmp, repeat=args.repeat)
        if "local" in names:
            print("… local model", file=sys.stderr, flush=True)
            rows += bench_local(tmp, repeat=args.repeat)
    head = ("benchmark", "goqa", "baseline", "ratio", "target")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [f"Machine: {machine}", "", "| " + " | ".join(head) + " |", "|" + "---|" * 5]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if args.write:
        _write_section(text)


if __name__ == "__main__":
    main()
