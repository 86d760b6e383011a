"""What every ``goqa`` command shares: the parser and its help formatter, argument types,
the consoles, escaping, JSON output, loading the dataset and the config, building a backend,
and the tables and bars the commands print.

People get rich tables and bars; ``--json`` gives machines plain JSON on stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core import config as configmod
from core import dataset, metrics
from core.backends.base import Backend
from core.errors import GoqaError
from core.prompts import TEMPLATE_NAMES
from core.runs import DatasetMatch
from core.textbars import eighths_bar

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_BUG = 70
"""A bug in goqa (``EX_SOFTWARE``): the message names the log with the traceback."""


class CliError(GoqaError):
    """A failure of a command's own (bad usage, nothing to do), with its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAIL, fix: str = "") -> None:
        super().__init__(message, fix)
        self.code = code


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    # emoji=False: ":smile:" in a run name or a question is text, not an emoji code.
    return Console(stderr=stderr, highlight=False, soft_wrap=False, emoji=False)


def escape(text: str) -> str:
    """``text`` with rich markup escaped (messages quote user input and TOML tables)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def print_match_note(match: DatasetMatch, run: str) -> None:
    """On stderr, how the answers of a run made on another dataset matched this one's
    questions (see :class:`core.runs.DatasetMatch`); nothing when they all did."""
    note = match.note(run)
    if note:
        console(stderr=True).print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)


def load_dataset(args: argparse.Namespace) -> dataset.Dataset:
    ds = dataset.load(getattr(args, "dataset", None))
    if ds.problems and not getattr(args, "json", False):
        console(stderr=True).print(
            f"[yellow]warning:[/] {len(ds.problems)} bad row(s) skipped in {ds.name} "
            f"(first: {escape(str(ds.problems[0]))}); 'goqa data validate' lists them."
        )
    return ds


def bar(fraction: float, width: int = 24) -> str:
    """The CLI's bar for a fraction in [0, 1]: :func:`core.textbars.eighths_bar`, 24 cells."""
    return eighths_bar(fraction, width)


def distribution_rows(
    options: Sequence[str], nonsub: Sequence[bool], series: list[tuple[str, np.ndarray]]
) -> Any:
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column("label", no_wrap=True)
    t.add_column("bar", no_wrap=True)
    t.add_column("value", justify="right")
    for k, option in enumerate(options):
        mark = " [dim](non-substantive)[/]" if nonsub[k] else ""
        t.add_row(f"[bold]({chr(65 + k)})[/] {escape(option)}{mark}", "", "")
        for label, dist in series:
            t.add_row(f"   {escape(label)}", bar(dist[k]), f"{dist[k]:6.1%}")
    return t


METRIC_TITLES: dict[str, str] = {
    "jsd": "1 − Jensen–Shannon distance (base 2)",
    "jsd-e": "1 − Jensen–Shannon distance (natural log)",
    "tv": "1 − total variation distance",
    "wasserstein": "1 − Wasserstein-1 distance / (K − 1), ordinal questions only",
    "kl": "KL(country ‖ model) in bits, lower is better",
    "cosine": "cosine similarity",
    "argmax": "share of questions where the model's top answer is the country's",
}


def metric_title(metric: str) -> str:
    """How a leaderboard's title names the metric of its numbers."""
    return METRIC_TITLES.get(metric, metric)


def leaderboard(
    scores: metrics.Scores,
    title: str,
    top: int | None,
    baseline: metrics.Scores | None = None,
    intervals: Any = None,
    best_other: Any = None,
) -> Any:
    """A rich table of country scores, with optional 95% intervals and baselines.

    Args:
        baseline: uniform-distribution scores (a ``uniform`` column).
        intervals: a ``core.stats.BootstrapResult`` (a ``95% CI`` column).
        best_other: a ``core.stats.Baselines``: the best other country's people's score, the
            population average's and, when it has the model's null, the lift over the best
            baseline and the shuffled-country q-value. Below 120 columns the baselines fold
            into the lift and the best baseline's name and score.
    """
    from rich import box
    from rich.table import Table

    width = console().width
    wide = width >= 120
    with_null = best_other is not None and bool(getattr(best_other, "n_permutations", 0))
    folded = with_null and not wide  # lift + the best baseline instead of every baseline
    # The bar only where the columns of figures leave room for it.
    show_bar = (intervals is None and best_other is None) or (wide and not with_null)
    show_bar = show_bar or width >= 170
    divergence = not metrics.HIGHER_IS_BETTER[scores.metric]
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("#", justify="right", no_wrap=True, min_width=2)
    t.add_column("country", no_wrap=True, overflow="ellipsis", max_width=18 if folded else 28)
    if wide:
        t.add_column("iso", no_wrap=True)
    heading = ("KL bits" if divergence else "score") if folded else None
    t.add_column(
        heading or ("KL bits" if divergence else "similarity"),
        justify="right",
        no_wrap=True,
        min_width=7,
    )
    if show_bar:
        t.add_column("", no_wrap=True)
    if intervals is not None:
        t.add_column(f"{intervals.level:.0%} CI", justify="right", no_wrap=True, min_width=11)
    t.add_column("n", justify="right", no_wrap=True, min_width=3)
    if baseline is not None and not folded:
        t.add_column("uniform", justify="right", no_wrap=True, min_width=7)
    if best_other is not None and not folded:
        t.add_column("pop. avg", justify="right", no_wrap=True, min_width=7)
    if with_null:
        t.add_column("lift", justify="right", no_wrap=True, min_width=7)
    if folded:
        t.add_column("best baseline", no_wrap=True, overflow="ellipsis", max_width=16)
    elif with_null:
        t.add_column("null q", justify="right", no_wrap=True, min_width=6)
    if best_other is not None and not folded:
        t.add_column("best other country", no_wrap=True, overflow="ellipsis", min_width=12)
    rows = scores.countries[:top] if top else scores.countries
    for i, c in enumerate(rows, start=1):
        cells = [str(i), c.display] + ([c.iso2 or ""] if wide else []) + [f"{c.similarity:.4f}"]
        if show_bar:
            # A divergence has no top: its bar is 1 / (1 + KL), full at 0 bits.
            cells.append(bar(1.0 / (1.0 + c.similarity) if divergence else c.similarity, 20))
        if intervals is not None:
            iv = intervals.get(c.country)
            cells.append(f"{iv.ci_low:.3f}–{iv.ci_high:.3f}" if iv else "")
        cells.append(str(c.n_questions))
        bo = best_other.get(c.country) if best_other is not None else None
        if baseline is not None and not folded:
            b = baseline.get(c.country)
            cells.append(f"{b.similarity:.4f}" if b else "")
        if best_other is not None and not folded:
            pop = bo.population_average if bo else None
            cells.append(f"{pop:.4f}" if pop is not None else "—")
        if with_null:
            lift = bo.lift if bo else None
            cells.append(f"{lift:+.4f}" if lift is not None else "—")
        if folded:
            cells.append(_best_baseline_text(bo))
        elif with_null:
            cells.append(_q_text(bo.q_value if bo else None))
        if best_other is not None and not folded:
            cells.append(
                f"{bo.best_other_similarity:.3f} {bo.best_other_display} (n={bo.best_other_n_shared})"
                if bo and bo.best_other
                else "—"
            )
        t.add_row(*cells)
    if folded:
        t.caption = "lift: over the best baseline; every baseline: 120+ columns or --json"
        t.caption_justify = "left"
    return t


def _best_baseline_text(bo: Any) -> str:
    """The best baseline of a country in a few characters: its name and score."""
    if bo is None or bo.best_baseline is None:
        return "—"
    value = {
        "uniform": bo.uniform,
        "population average": bo.population_average,
        "best other country": bo.best_other_similarity,
    }.get(bo.best_baseline)
    name = {"population average": "pop. avg", "best other country": bo.best_other_display}.get(
        bo.best_baseline, bo.best_baseline
    )
    return f"{name} {value:.3f}" if value is not None else str(name)


def _q_text(q: float | None) -> str:
    if q is None:
        return "—"
    return "<0.001" if q < 0.001 else f"{q:.3f}"


class HelpFormatter(argparse.HelpFormatter):
    """Help text is prose: a ``%`` in it ("95% CIs") is a percent sign, not a format.

    argparse expands every help string with ``%`` formatting and raises on a bare ``%``;
    this formatter escapes every ``%`` that does not open a ``%(name)s`` placeholder, for
    every argument and subcommand of every parser.
    """

    _BARE_PERCENT = re.compile(r"%(?!\()")

    def _expand_help(self, action: argparse.Action) -> str:
        if action.help:
            action = copy.copy(action)
            action.help = self._BARE_PERCENT.sub("%%", str(action.help))
        return super()._expand_help(action)


class Parser(argparse.ArgumentParser):
    """goqa's parser: its help formatter, inherited by every subcommand's parser."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 0 (0 usually means "all")."""
    return _bounded_int(text, 0)


def concurrency_int(text: str) -> int:
    """An argparse ``type``: requests in flight, 0 (the backend's own) to the config's most."""
    return _bounded_int(text, 0, configmod.MAX_CONCURRENCY)


def orders_int(text: str) -> int:
    """An ``--orders`` value: a whole number from 1 to 12."""
    return _bounded_int(text, 1, 12)


def _bounded_int(text: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        wanted = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise argparse.ArgumentTypeError(f"{value} is out of range: use a whole number {wanted}")
    return value


def add_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="'sample' (bundled, default), 'full' (after 'goqa data download') or a CSV path",
    )


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for machines")


def load_config(args: argparse.Namespace) -> configmod.Config:
    """The config: the file ``--config`` names (which must exist), else the default one."""
    given = getattr(args, "config", None)
    return configmod.load(Path(given), required=True) if given else configmod.load()


def busy_printer(con: Any) -> Callable[[str], None]:
    """A store ``on_busy`` callback printing each line (yellow) on ``con``."""

    def tell(message: str) -> None:
        con.print(f"[yellow]{escape(message)}[/]", soft_wrap=True)

    return tell


def open_backend(
    cfg: configmod.Config, name: str | None
) -> tuple[str, configmod.BackendConfig, Backend]:
    from core.backends import make_backend

    bcfg = cfg.backend(name)
    return bcfg.name, bcfg, make_backend(bcfg)


def add_estimator(p: argparse.ArgumentParser, allow_all: bool = False) -> None:
    """``--estimator`` (and ``--orders``) on a command that asks a model."""
    from core.estimators import ESTIMATOR_NAMES

    names = (*ESTIMATOR_NAMES, "all") if allow_all else ESTIMATOR_NAMES
    p.add_argument(
        "--estimator",
        choices=names,
        help="how the model's distribution is read (config default, else first-token)"
        + ("; 'all' shows every estimator side by side" if allow_all else ""),
    )
    p.add_argument(
        "--orders",
        type=orders_int,
        default=None,
        help="option orders an order-averaged answer asks under (config default, else 4)",
    )


def add_metric(p: argparse.ArgumentParser) -> None:
    """``--metric`` on a command that scores (see :mod:`core.metrics` for each metric)."""
    p.add_argument(
        "--metric",
        choices=metrics.METRIC_NAMES,
        default=metrics.DEFAULT_METRIC,
        help="how a model's answer is compared with a country's people: "
        + "; ".join(f"{name}: {info}" for name, info in metrics.METRIC_INFO.items())
        + " (default: jsd, the paper's)",
    )


def estimator_specs(cfg: configmod.Config, args: argparse.Namespace) -> list[Any]:
    """The estimators ``--estimator`` names (every one for ``all``), with the config's
    settings and ``--orders``."""
    from core.estimators import ESTIMATOR_NAMES

    name = getattr(args, "estimator", None)
    orders = getattr(args, "orders", None)
    names = ESTIMATOR_NAMES if name == "all" else (name or cfg.estimator,)
    if orders is not None and "order-averaged" not in names:
        raise CliError(
            f"--orders applies to the order-averaged estimator only, not {names[0]}.",
            EXIT_USAGE,
            "Add --estimator order-averaged (or --estimator all), or leave --orders out.",
        )
    return [cfg.estimator_spec(n, orders) for n in names]


def add_common(p: argparse.ArgumentParser, condition: bool = True) -> None:
    add_dataset(p)
    p.add_argument("--backend", help="backend name from the config (default: default_backend)")
    p.add_argument("--config", help="config file (default: the platformdirs location)")
    if condition:
        p.add_argument(
            "--condition",
            default="default",
            help="default | country:NAME (e.g. country:Russia) | language:CODE (e.g. language:ru)",
        )
        p.add_argument(
            "--template", choices=TEMPLATE_NAMES, help="prompt template (config default)"
        )
        p.add_argument(
            "--policy", choices=metrics.POLICIES, help="non-substantive options (config default)"
        )
