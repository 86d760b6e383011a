"""What scoring under every metric costs against today's single metric, side by side in one run.

Run from a clone with the test extras installed::

    python -m benchmarks.metrics            # print the table
    python -m benchmarks.metrics --write    # also put it in benchmarks/results.md

The data is the seeded full-size synthetic file of :mod:`benchmarks.synthetic` (2,556
questions, the real file's shape); the model's distributions are seeded Dirichlet draws. The
two sides are timed in interleaved rounds and the best round of each is kept (the least
disturbed by other load, as ``benchmarks/run.py`` does):

1. **all metrics**: every (question, country) pair scored under each of the seven metrics
   (:func:`core.metrics.score_with`), against the single-metric score goqa always computed
   (:func:`core.metrics.score`, the paper's ``jsd``). The goal: at most 10× the single
   metric's time.
2. **rank stability**: the report's ``--metrics all`` section (:func:`core.breakdown.
   rank_stability`: seven rankings and Kendall's τ between every pair), against the same
   single score.
3. **report statistics**: everything ``goqa report`` computes for one run under one metric
   (:func:`core.runs.with_statistics`: bootstrap intervals, the four baselines with the
   shuffled-country null, the splits and the calibration), against the single score; for
   information, there is no target.

Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.md"
SECTION = "## Metrics: every metric against the paper's one"
Row = tuple[str, str, str, str, str]  # benchmark, measured, baseline, ratio, target


def _interleaved(
    a: Callable[[], object], b: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Best wall seconds of ``a`` and of ``b``, timed in alternating rounds."""
    best_a = best_b = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a()
        best_a = min(best_a, time.perf_counter() - start)
        start = time.perf_counter()
        b()
        best_b = min(best_b, time.perf_counter() - start)
    return best_a, best_b


def bench(tmp: Path, repeat: int) -> list[Row]:
    from benchmarks.synthetic import write
    from core import breakdown, dataset, metrics

    ds = dataset.load(str(write(tmp / "synthetic_full.csv", seed=0)))
    rng = np.random.default_rng(1)
    positions = np.arange(len(ds))
    probs = np.zeros((len(ds), ds.kmax))
    for i, k in enumerate(ds.n_options.tolist()):
        probs[i, :k] = rng.dirichlet(np.ones(k))
    n_pairs = int(ds.pair_question.shape[0])
    metrics.scale_orders(ds)  # classified once per dataset, as every later call finds it

    def single() -> object:
        return metrics.score(ds, positions, probs)

    def every_metric() -> object:
        return [metrics.score_with(ds, positions, probs, m) for m in metrics.METRIC_NAMES]

    def stability() -> object:
        return breakdown.rank_stability(ds, positions, probs)

    rows: list[Row] = []
    t_one, t_all = _interleaved(single, every_metric, repeat)
    ratio = t_all / t_one
    rows.append(
        (
            f"all 7 metrics: {len(ds):,} questions × all countries ({n_pairs:,} pairs)",
            f"{t_all * 1e3:.1f} ms",
            f"jsd alone {t_one * 1e3:.1f} ms",
            f"{ratio:.1f}×",
            f"≤ 10×: **{'met' if ratio <= 10 else 'missed'}**",
        )
    )
    t_one, t_rank = _interleaved(single, stability, repeat)
    ratio = t_rank / t_one
    rows.append(
        (
            "rank stability: 7 rankings + Kendall τ of every pair",
            f"{t_rank * 1e3:.1f} ms",
            f"jsd alone {t_one * 1e3:.1f} ms",
            f"{ratio:.1f}×",
            f"≤ 10×: **{'met' if ratio <= 10 else 'missed'}**",
        )
    )
    rows.append(_report_statistics(ds, positions, probs, single, max(1, repeat // 3)))
    return rows


def _report_statistics(
    ds: object, positions: np.ndarray, probs: np.ndarray, single: Callable[[], object], repeat: int
) -> Row:
    """``with_statistics`` of one stored run of the synthetic answers, against one score."""
    from core import runs
    from core.backends.base import Answer
    from core.dataset import Dataset
    from core.prompts import Condition
    from core.runner import manifest_for
    from core.store import Selection, Store

    assert isinstance(ds, Dataset)

    class _Fake:
        kind, base_url, mode, model = "fake", "", "logits", "fake-1"

        def request_params(self) -> dict[str, object]:
            return {}

    with Store() as store:
        manifest = manifest_for(
            "bench", _Fake(), "fake", Condition("default"), "paper", ds, "keep",  # type: ignore[arg-type]
            Selection(planned=len(positions)),
        )  # fmt: skip
        store.open_run(manifest)
        for pos in positions.tolist():
            k = int(ds.n_options[pos])
            store.record_answer(
                "bench",
                ds.keys[pos],
                ds.ids[pos],
                Answer(probs=probs[pos, :k], off_option_mass=0.0, estimator="logits"),
            )
        loaded = runs.load_run(store, ds, "bench")

    def statistics() -> object:
        return runs.with_statistics(ds, loaded)

    t_one, t_stats = _interleaved(single, statistics, repeat)
    return (
        "report statistics: intervals, 4 baselines + null (1,000 resamples), splits, calibration",
        f"{t_stats:.2f} s",
        f"jsd alone {t_one * 1e3:.1f} ms",
        f"{t_stats / t_one:.0f}×",
        "— (for information)",
    )


def _write_section(text: str) -> None:
    """Put ``text`` under :data:`SECTION` in results.md, replacing an earlier one."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    head, _, rest = old.partition(SECTION)
    tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
    RESULTS.write_text(
        head.rstrip("\n") + "\n\n" + SECTION + "\n\n" + text + "\n" + tail, encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="every metric against the paper's one")
    parser.add_argument("--repeat", type=int, default=9, help="interleaved rounds (best of)")
    parser.add_argument("--write", action="store_true", help="put the table in results.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for var, sub in (("GOQA_CACHE_DIR", "cache"), ("GOQA_DATA_DIR", "data")):
            os.environ.setdefault(var, str(tmp / sub))
        os.environ.setdefault("GOQA_CONFIG_DIR", str(tmp / "config"))
        rows = bench(tmp, args.repeat)
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
