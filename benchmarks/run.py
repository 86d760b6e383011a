"""goqa's speed figures, each measured side by side in one run and printed as a ratio.

Run from a clone with the test extras installed::

    python -m benchmarks.run            # all five
    python -m benchmarks.run scoring load runner    # a subset

Nothing here is a pass/fail test: the machines are noisy, so each figure is a ratio of two
things timed in the same process, with the absolute times beside it. The table is printed and
also written to ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str, str, str, str]  # benchmark, measured, baseline, ratio, target


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _synthetic(tmp: Path) -> Path:
    from benchmarks.synthetic import write

    return write(tmp / "synthetic_full.csv", seed=0)


# --------------------------------------------------------------------------- 1. scoring


def bench_scoring(tmp: Path) -> Row:
    from scipy.spatial.distance import jensenshannon

    from core import dataset, metrics

    ds = dataset.load(str(_synthetic(tmp)))
    rng = np.random.default_rng(1)
    positions = np.arange(len(ds))
    probs = np.zeros((len(ds), ds.kmax))
    for i, k in enumerate(ds.n_options):
        probs[i, :k] = rng.dirichlet(np.ones(k))

    def loop() -> dict[str, list[float]]:
        # The way replication scripts do it: one scipy call per (question, country) pair.
        per_country: dict[str, list[float]] = {}
        for q in ds:
            p = probs[ds.id_index[q.id], : len(q.options)]
            for country, row in zip(q.countries, q.human, strict=True):
                if row.sum() > 0:
                    per_country.setdefault(country, []).append(1 - jensenshannon(p, row, base=2))
        return per_country

    started = time.perf_counter()
    reference = loop()
    t_loop = time.perf_counter() - started
    t_ours = _best(lambda: metrics.score(ds, positions, probs), repeat=10)
    ours = metrics.score(ds, positions, probs)
    worst = max(abs(c.similarity - float(np.mean(reference[c.country]))) for c in ours.countries)
    assert worst < 1e-12, f"scores differ from the scipy loop by {worst}"
    assert {c.country: c.n_questions for c in ours.countries} == {
        k: len(v) for k, v in reference.items()
    }
    n_pairs = len(ours.pairs.similarity)
    return (
        f"scoring: {len(ds)} questions × all countries ({n_pairs:,} pairs; equal to 1e-12)",
        f"{t_ours * 1e3:.1f} ms",
        f"scipy loop {t_loop * 1e3:.0f} ms",
        f"{t_loop / t_ours:.0f}× faster",
        f"≥ 100× and < 20 ms: {'met' if t_loop / t_ours >= 100 and t_ours < 0.02 else 'MISSED'}",
    )


# --------------------------------------------------------------------------- 2. load


def bench_load(tmp: Path) -> Row:
    from core import dataset

    path = str(_synthetic(tmp))
    t_parse = _best(lambda: dataset.load(path, use_cache=False), repeat=3)
    dataset.load(path)  # fill the cache
    t_cached = _best(lambda: dataset.load(path), repeat=10)
    size = Path(path).stat().st_size
    return (
        f"dataset load: synthetic full-size file ({size / 1e6:.1f} MB)",
        f"cached {t_cached * 1e3:.1f} ms",
        f"first parse {t_parse * 1e3:.0f} ms",
        f"{t_parse / t_cached:.0f}× faster",
        f"cached < 50 ms: {'met' if t_cached < 0.05 else 'MISSED'}",
    )


# --------------------------------------------------------------------------- 3. runner


def bench_runner(tmp: Path) -> list[Row]:
    from core import dataset
    from core.backends import make_backend
    from core.config import BackendConfig
    from core.prompts import Condition
    from core.runner import run
    from core.store import Store

    ds = dataset.load(str(_synthetic(tmp)))
    latency = 0.2
    rows = []
    # The server runs in its own process, as a real inference server would: in-process it
    # would share the client's GIL and measure Python's thread switching instead.
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "support" / "fakeserver.py"),
            "--delay",
            str(latency),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    try:
        for concurrency in (1, 16, 64):
            n = 10 if concurrency == 1 else concurrency * 15
            cfg = BackendConfig(
                "fake",
                "openai",
                base_url=base_url,
                model="bench",
                mode="completions",
                concurrency=concurrency,
                timeout=30,
            )
            backend = make_backend(cfg)
            store = Store(tmp / f"runner-{concurrency}.sqlite3")

            async def go(backend=backend, store=store, n=n, concurrency=concurrency) -> float:
                started = time.perf_counter()
                try:
                    outcome = await run(
                        name=f"bench-{concurrency}",
                        dataset=ds,
                        positions=list(range(n)),
                        backend=backend,
                        backend_name="fake",
                        condition=Condition("default"),
                        template="paper",
                        store=store,
                        concurrency=concurrency,
                    )
                finally:
                    await backend.aclose()
                assert outcome.answered == n and outcome.failed == 0
                return time.perf_counter() - started

            seconds = asyncio.run(go())
            store.close()
            achieved = n / seconds
            ideal = concurrency / latency
            target = "≥ 0.9 of ideal at 64: " + (
                ("met" if achieved / ideal >= 0.9 else "MISSED") if concurrency == 64 else "—"
            )
            rows.append(
                (
                    f"runner: {n} questions, 200 ms server, concurrency {concurrency} (store+cache on)",
                    f"{achieved:.1f} q/s",
                    f"ideal {ideal:.0f} q/s",
                    f"{achieved / ideal:.2f} of ideal",
                    target,
                )
            )
    finally:
        server.communicate(input="", timeout=10)
    return rows


# --------------------------------------------------------------------------- 4. local model


def bench_local(tmp: Path, n: int = 20) -> Row:
    from core import dataset
    from core.backends.local import LocalBackend, _import_llama_cpp
    from core.config import LOCAL_DEFAULT
    from core.prompts import render

    llama_cpp = _import_llama_cpp()
    ds = dataset.load()
    prompts = [render(ds.at(i)) for i in range(n)]
    backend = LocalBackend(LOCAL_DEFAULT)
    model = backend.load()
    s = backend.settings
    raw = llama_cpp.Llama(
        model_path=s.model_path,
        n_ctx=s.n_ctx,
        n_batch=s.n_batch,
        n_ubatch=s.n_ubatch,
        n_threads=s.n_threads,
        n_threads_batch=s.n_threads,
        seed=s.seed,
        logits_all=False,
        verbose=False,
    )
    n_vocab = raw.n_vocab()

    def raw_eval(text: str) -> np.ndarray:
        raw.reset()
        raw.eval(raw.tokenize(text.encode("utf-8"), add_bos=True, special=False))
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(raw.ctx, -1), shape=(n_vocab,))

    ours_t, raw_t = [], []

    async def interleaved() -> None:
        # One event loop for the whole measurement, as in a run; both sides see the same load.
        for _round in range(3):
            for prompt in prompts:
                started = time.perf_counter()
                await backend.ask(prompt)
                ours_t.append(time.perf_counter() - started)
                started = time.perf_counter()
                raw_eval(backend.model_input(prompt, model))
                raw_t.append(time.perf_counter() - started)

    asyncio.run(interleaved())
    a, b = statistics.median(ours_t), statistics.median(raw_t)
    overhead = a / b - 1
    return (
        f"embedded model: {n} sample prompts × 3, goqa local backend vs raw llama-cpp-python",
        f"{a:.3f} s/question",
        f"raw {b:.3f} s/question",
        f"{overhead:+.1%} overhead",
        f"≤ 10% overhead: {'met' if overhead <= 0.10 else 'MISSED'}",
    )


# --------------------------------------------------------------------------- 5. app start


def bench_app_start(tmp: Path) -> Row:
    path = _synthetic(tmp)
    env = {
        **os.environ,
        "GOQA_CACHE_DIR": str(tmp / "cache"),
        "GOQA_DATA_DIR": str(tmp / "data"),
        "GOQA_CONFIG_DIR": str(tmp / "config"),
    }
    script = ROOT / "benchmarks" / "app_start.py"

    def launch() -> tuple[float, float]:
        cmd = [sys.executable, str(script), str(path), repr(time.time())]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        seconds, peak_mb = out.split()
        return float(seconds), float(peak_mb)

    launch()  # the first launch parses the file and fills the parsed-dataset cache
    seconds, peak = min(launch() for _ in range(3))
    bare = _best(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat=3)
    return (
        "app start: launch → question list shown (headless, synthetic full-size data, cached)",
        f"{seconds:.2f} s, peak RSS {peak:.0f} MB",
        f"bare python {bare:.2f} s",
        f"{seconds / bare:.0f}× a bare interpreter",
        f"< 1 s: {'met' if seconds < 1.0 else 'MISSED'}",
    )


BENCHES = {
    "scoring": bench_scoring,
    "load": bench_load,
    "runner": bench_runner,
    "local": bench_local,
    "app": bench_app_start,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="goqa benchmarks (ratios measured side by side)")
    parser.add_argument("only", nargs="*", help=f"any of {', '.join(BENCHES)}")
    args = parser.parse_args()
    names = args.only or list(BENCHES)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        os.environ.setdefault("GOQA_CACHE_DIR", str(tmp / "cache"))
        os.environ.setdefault("GOQA_DATA_DIR", str(tmp / "data"))
        os.environ.setdefault("GOQA_CONFIG_DIR", str(tmp / "config"))
        for name in names:
            print(f"… {name}", file=sys.stderr, flush=True)
            result = BENCHES[name](tmp)
            rows.extend(result if isinstance(result, list) else [result])
    head = ("benchmark", "goqa", "baseline", "ratio", "target")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [f"Machine: {machine}", "", "| " + " | ".join(head) + " |", "|" + "---|" * 5]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    (ROOT / "benchmarks" / "results.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
