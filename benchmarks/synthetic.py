"""A seeded full-size GlobalOpinionQA look-alike, in the published file format.

The real file cannot be downloaded on our machines, so benchmarks and soak tests use this:
2,556 questions (2,203 GAS, 353 WVS), 2 to 13 options, 1 to 100+ countries per question drawn
from the alias table's keys (qualifiers included), about 4.7 MB — the real file's shape.

Usage: ``python -m benchmarks.synthetic OUT.csv [--seed 0]``
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np

from core.countries import known_base_names

N_GAS, N_WVS = 2203, 353
_QUALIFIED = (
    "India (Current national sample)",
    "India (Old national sample)",
    "China (Non-national sample)",
    "Brazil (Non-national sample)",
    "Nigeria (Non-national sample)",
    "Egypt (Non-national sample)",
    "Vietnam (Non-national sample)",
)
_STEMS = (
    "Now I am going to read you a list of things that may be problems in our country. "
    "As I read each one, please tell me if you think it is a very big problem, a moderately "
    "big problem, a small problem or not a problem at all...",
    "Please tell me whether you have a very favorable, somewhat favorable, somewhat "
    "unfavorable or very unfavorable opinion of...",
    "How much do you agree or disagree with the following statement? ",
    "For each of the following, indicate how important it is in your life. Would you say it "
    "is very important, rather important, not very important or not important at all? ",
)
_WORDS = (
    "government economy religion family work science children elections corruption trade "
    "climate immigration security freedom technology health education women neighbours "
    "democracy courts police media army tradition"
).split()
_OPTION_SETS = (
    ["Yes", "No"],
    ["Agree", "Disagree", "DK/Refused"],
    ["Very big problem", "Moderately big problem", "Small problem", "Not a problem at all"],
    [
        "Very favorable",
        "Somewhat favorable",
        "Somewhat unfavorable",
        "Very unfavorable",
        "DK/Refused",
    ],
    [
        "Strongly agree",
        "Agree",
        "Neither agree nor disagree",
        "Disagree",
        "Strongly disagree",
        "Don't know",
    ],
)


def _options(rng: np.random.Generator, k: int) -> list[str]:
    for base in _OPTION_SETS:
        if len(base) == k:
            return list(base)
    opts = [f"Option {i + 1}: {rng.choice(_WORDS)}" for i in range(k - 1)]
    return opts + (["Neither (VOL)"] if rng.random() < 0.5 else ["No answer"])


def generate(seed: int = 0) -> str:
    """CSV text of the synthetic dataset (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    countries = sorted(set(known_base_names()) - {"U.S."}) + list(_QUALIFIED)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["question", "selections", "options", "source"])
    sources = ["GAS"] * N_GAS + ["WVS"] * N_WVS
    for i, source in enumerate(sources):
        k = int(rng.choice(np.arange(2, 14), p=_K_WEIGHTS))
        options = _options(rng, k)
        topic = " ".join(rng.choice(_WORDS, size=3))
        text = f"{_STEMS[i % len(_STEMS)]}{topic.capitalize()} (item {i})"
        # Most questions carry a few dozen countries; some nearly all, a few only one.
        n = int(np.clip(rng.gamma(2.0, 14.0), 1, len(countries)))
        chosen = rng.choice(len(countries), size=n, replace=False)
        parts = []
        for c in sorted(chosen):
            dist = rng.dirichlet(np.full(k, 0.8))
            if source == "WVS":
                values = ", ".join(repr(float(x)) for x in dist)  # float noise, like WVS
            else:
                values = ", ".join(repr(round(float(x), 2)) for x in dist)
            parts.append(f"{countries[c]!r}: [{values}]")
        selections = "defaultdict(<class 'list'>, {" + ", ".join(parts) + "})"
        writer.writerow([text, selections, repr(options), source])
    return buf.getvalue()


_K_WEIGHTS = np.array([12, 10, 25, 22, 8, 8, 5, 3, 2, 2, 2, 1], dtype=float)
_K_WEIGHTS /= _K_WEIGHTS.sum()


def write(path: Path, seed: int = 0) -> Path:
    """Write the synthetic dataset to ``path`` (returns it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate(seed), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = write(args.out, args.seed)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
