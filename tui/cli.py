"""The ``goqa`` command line: thin argparse front end over ``core``.

People get rich tables and bars; ``--json`` gives machines plain JSON on stdout. Every known
failure becomes one clear message on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core import config as configmod
from core import countries, dataset, jsonlines, metrics

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A message for the user and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _escape(text: str) -> str:
    """``text`` with rich markup escaped (messages quote user input and TOML tables)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _load_dataset(args: argparse.Namespace) -> dataset.Dataset:
    ds = dataset.load(getattr(args, "dataset", None))
    if ds.problems and not getattr(args, "json", False):
        _console(stderr=True).print(
            f"[yellow]warning:[/] {len(ds.problems)} bad row(s) skipped in {ds.name} "
            f"(first: {_escape(str(ds.problems[0]))}); 'goqa data validate' lists them."
        )
    return ds


def bar(fraction: float, width: int = 24) -> str:
    """A horizontal bar of eighth-blocks for a fraction in [0, 1]."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")


# --------------------------------------------------------------------------- data


def cmd_data_info(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    by_source = Counter(ds.sources)
    hist = Counter(int(k) for k in ds.n_options)
    n_opts = int(ds.n_options.sum())
    nonsub = int(ds.nonsubstantive.sum())  # padding columns are False
    per_q = ds.countries_per_question()
    info = {
        "dataset": ds.name,
        "path": ds.path,
        "sha256": ds.sha256,
        "questions": len(ds),
        "by_source": dict(sorted(by_source.items())),
        "countries": len(ds.countries),
        "country_keys": list(ds.countries),
        "countries_per_question": {
            "min": int(per_q.min()),
            "median": float(np.median(per_q)),
            "max": int(per_q.max()),
        },
        "options_histogram": {str(k): hist[k] for k in sorted(hist)},
        "non_substantive_share": nonsub / n_opts if n_opts else 0.0,
        "bad_rows": len(ds.problems),
    }
    if args.json:
        _print_json(info)
        return EXIT_OK
    from rich.table import Table

    con = _console()
    con.print(f"[bold]{ds.name}[/]  {ds.path}")
    con.print(
        f"{len(ds)} questions ({', '.join(f'{k} {v}' for k, v in sorted(by_source.items()))}), "
        f"{len(ds.countries)} country keys, {per_q.min()}–{per_q.max()} countries per question"
    )
    t = Table(title="Options per question", title_justify="left")
    t.add_column("options", justify="right")
    t.add_column("questions", justify="right")
    t.add_column("")
    top = max(hist.values())
    for k in sorted(hist):
        t.add_row(str(k), str(hist[k]), bar(hist[k] / top, 30))
    con.print(t)
    con.print(
        f"Non-substantive options (DK/Refused, … (VOL), Missing…): {info['non_substantive_share']:.1%}"
    )
    names = [countries.resolve(c).label for c in ds.countries]
    con.print(f"[dim]Countries:[/] {', '.join(names)}")
    return EXIT_OK


def cmd_data_validate(args: argparse.Namespace) -> int:
    try:
        ds = dataset.load(args.dataset, use_cache=False)
        name, rows_read, valid, problems = ds.name, ds.rows_read, len(ds), ds.problems
    except dataset.DatasetError as exc:
        if not exc.problems:
            raise
        # Every row is bad: still list them all, which is what validate is for.
        name = dataset.resolve_source(args.dataset)[0]
        rows_read, valid, problems = exc.rows_read, 0, exc.problems
    report = {
        "dataset": name,
        "rows": rows_read,
        "valid": valid,
        "problems": [{"row": p.row, "reason": p.reason} for p in problems],
    }
    if args.json:
        _print_json(report)
    else:
        con = _console()
        for p in problems:
            con.print(f"[red]row {p.row}[/]: {_escape(p.reason)}")
        colour = "red" if problems else "green"
        con.print(f"[{colour}]{rows_read} rows read, {valid} valid, {len(problems)} bad[/]")
        if problems:
            con.print(
                "Fix or delete the rows listed (row 1 is the first record after the header); "
                "other commands skip them with a warning."
            )
    return EXIT_FAIL if problems else EXIT_OK


def cmd_data_download(args: argparse.Namespace) -> int:
    from core import download

    con = _console(stderr=True)
    if args.json:
        result = download.download_full(args.revision, force=args.force)
    else:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=con,
        ) as progress:
            task = progress.add_task("global_opinions.csv", total=None)

            def on_progress(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            result = download.download_full(
                revision=args.revision, force=args.force, progress=on_progress
            )
    data = {
        "path": str(result.path),
        "revision": result.revision,
        "bytes": result.bytes,
        "sha256": result.sha256,
        "questions": result.n_questions,
        "bad_rows": result.n_problems,
        "resumed_from": result.resumed_from,
    }
    if args.json:
        _print_json(data)
    else:
        out = _console()
        out.print(
            f"[green]Downloaded[/] {result.n_questions} questions ({result.bytes:,} bytes) to "
            f"{result.path}"
        )
        if result.n_problems:
            out.print(f"[yellow]{result.n_problems} bad rows will be skipped.[/]")
        out.print("Use it with [bold]--dataset full[/].")
    return EXIT_OK


# --------------------------------------------------------------------------- questions


def _question_json(ds: dataset.Dataset, q: dataset.Question, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": q.id,
        "key": q.key,
        "source": q.source,
        "question": q.text,
        "options": list(q.options),
        "n_countries": len(q.countries),
        "flags": list(q.flags),
    }
    if full:
        data["non_substantive"] = [bool(x) for x in q.nonsubstantive]
        data["countries"] = [
            {
                "country": c,
                "display": countries.resolve(c).label,
                "iso2": countries.resolve(c).iso2,
                "distribution": [float(x) for x in row],
            }
            for c, row in zip(q.countries, q.human, strict=True)
        ]
    return data


def _country_key(ds: dataset.Dataset, name: str | None) -> str | None:
    return countries.match(name, ds.countries).key if name else None


def cmd_questions(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    positions = ds.filter(args.search, args.source, _country_key(ds, args.country))
    shown = positions[: args.limit] if args.limit else positions
    if args.json:
        _print_json([_question_json(ds, ds.at(p)) for p in shown])
        return EXIT_OK
    from rich.table import Table

    t = Table(
        title=f"{len(shown)} of {len(positions)} matching questions ({ds.name})",
        title_justify="left",
        expand=True,
    )
    t.add_column("id", justify="right", no_wrap=True, min_width=4)
    t.add_column("src", no_wrap=True, min_width=3)
    t.add_column("question", overflow="ellipsis", no_wrap=True, ratio=1)
    t.add_column("opts", justify="right", no_wrap=True)
    t.add_column("countries", justify="right", no_wrap=True)
    for p in shown:
        q = ds.at(p)
        t.add_row(
            str(q.id),
            q.source,
            _escape(q.headline),
            str(len(q.options)),
            str(len(q.countries)),
        )
    _console().print(t)
    return EXIT_OK


def _distribution_rows(
    options: Sequence[str], nonsub: Sequence[bool], series: list[tuple[str, np.ndarray]]
) -> Any:
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column("label", no_wrap=True)
    t.add_column("bar", no_wrap=True)
    t.add_column("value", justify="right")
    for k, option in enumerate(options):
        mark = " [dim](non-substantive)[/]" if nonsub[k] else ""
        t.add_row(f"[bold]({chr(65 + k)})[/] {_escape(option)}{mark}", "", "")
        for label, dist in series:
            t.add_row(f"   {_escape(label)}", bar(dist[k]), f"{dist[k]:6.1%}")
    return t


def cmd_show(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    q = ds.find(args.id)
    if args.json:
        _print_json(_question_json(ds, q, full=True))
        return EXIT_OK
    con = _console()
    n = len(q.countries)
    con.print(
        f"[bold]#{q.id}[/] [dim]{q.source} · key {_escape(q.key)} · {n} "
        f"{'country' if n == 1 else 'countries'}[/]"
    )
    con.print(q.text if q.text.strip() else q.headline, markup=False, highlight=False)
    for flag in q.flags:
        con.print(f"[yellow]not asked of models:[/] {_escape(flag)}")
    series = []
    for c in q.countries:
        dist = q.distribution(c)
        if dist is not None:
            series.append((countries.resolve(c).label, dist))
    con.print(_distribution_rows(q.options, list(q.nonsubstantive), series))
    return EXIT_OK


# --------------------------------------------------------------------------- scoring


def read_predictions(path: Path, ds: dataset.Dataset) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a predictions JSONL into (positions, probs). Bad lines are returned as messages."""
    try:
        read = jsonlines.read(path, "Predictions file", '{"question_id": 12, "probs": [...]}')
    except jsonlines.JSONLinesError as exc:
        raise CliError(str(exc)) from None
    positions: dict[int, np.ndarray] = {}
    problems: list[str] = list(read.problems)
    for n, obj in read.objects:
        if "probs" not in obj:
            problems.append(f"line {n}: expected an object with 'probs' and 'question_id' or 'key'")
            continue
        if "key" in obj and obj["key"] in ds.key_index:
            pos = ds.key_index[obj["key"]]
        elif isinstance(obj.get("question_id"), int) and obj["question_id"] in ds.id_index:
            pos = ds.id_index[obj["question_id"]]
        else:
            ref = obj.get("key", obj.get("question_id"))
            problems.append(f"line {n}: unknown question {ref!r} in dataset {ds.name!r}")
            continue
        probs = obj["probs"]
        k = int(ds.n_options[pos])
        if not isinstance(probs, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in probs
        ):
            odd = (
                next((x for x in probs if isinstance(x, str | bool) or x is None), None)
                if isinstance(probs, list)
                else None
            )
            got = f" (found {odd!r})" if odd is not None else ""
            problems.append(f"line {n}: probs must be a list of numbers{got}")
            continue
        arr = np.asarray(probs, dtype=np.float64)
        if arr.shape != (k,):
            problems.append(
                f"line {n}: {arr.shape[0]} probabilities for a question with {k} options"
            )
        elif not np.all(np.isfinite(arr)) or np.any(arr < 0):
            problems.append(f"line {n}: probabilities must be finite and non-negative")
        elif arr.sum() <= 0:
            problems.append(f"line {n}: probabilities are all zero")
        elif pos in positions:
            problems.append(
                f"line {n}: question {ds.ids[pos]} appears twice (the first is kept; delete "
                "this line)"
            )
        else:
            positions[pos] = arr
    problems = jsonlines.in_line_order(problems)
    pos_arr = np.array(sorted(positions), dtype=np.int64)
    probs_arr = np.zeros((len(pos_arr), ds.kmax))
    for i, p in enumerate(pos_arr):
        probs_arr[i, : len(positions[p])] = positions[p]
    return pos_arr, probs_arr, problems


def _leaderboard(
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
        best_other: a ``core.stats.Baselines`` (the best other country's people's score).
    """
    from rich import box
    from rich.table import Table

    wide = _console().width >= 120
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("#", justify="right", no_wrap=True, min_width=2)
    t.add_column("country", no_wrap=True, overflow="ellipsis", max_width=28)
    if wide:
        t.add_column("iso", no_wrap=True)
    t.add_column("similarity", justify="right", no_wrap=True, min_width=6)
    if wide or (intervals is None and best_other is None):
        t.add_column("", no_wrap=True)
    if intervals is not None:
        t.add_column(f"{intervals.level:.0%} CI", justify="right", no_wrap=True, min_width=11)
    t.add_column("n", justify="right", no_wrap=True, min_width=3)
    if baseline is not None:
        t.add_column("uniform", justify="right", no_wrap=True, min_width=6)
    if best_other is not None:
        t.add_column("best other country", no_wrap=True, overflow="ellipsis", min_width=12)
    rows = scores.countries[:top] if top else scores.countries
    for i, c in enumerate(rows, start=1):
        cells = [str(i), c.display] + ([c.iso2 or ""] if wide else []) + [f"{c.similarity:.4f}"]
        if wide or (intervals is None and best_other is None):
            cells.append(bar(c.similarity, 20))
        if intervals is not None:
            iv = intervals.get(c.country)
            cells.append(f"{iv.ci_low:.3f}–{iv.ci_high:.3f}" if iv else "")
        cells.append(str(c.n_questions))
        if baseline is not None:
            b = baseline.get(c.country)
            cells.append(f"{b.similarity:.4f}" if b else "")
        if best_other is not None:
            bo = best_other.get(c.country)
            cells.append(
                f"{bo.best_other_similarity:.3f} {bo.best_other_display} (n={bo.best_other_n_shared})"
                if bo and bo.best_other
                else "—"
            )
        t.add_row(*cells)
    return t


def cmd_score(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    positions, probs, problems = read_predictions(Path(args.predictions), ds)
    err = _console(stderr=True)
    for p in problems:
        err.print(f"[yellow]{_escape(args.predictions)}:[/] {_escape(p)}", soft_wrap=True)
    if len(positions) == 0:
        raise CliError(
            f"No usable predictions in {args.predictions}; nothing to score. Each line must be "
            '{"question_id": ID, "probs": [...]} (or "key" instead of "question_id") with one '
            "non-negative probability per option of that question (see 'goqa show ID')."
        )
    if problems:
        err.print(
            f"[yellow]{len(problems)} bad line(s) skipped[/]; fix or delete them "
            f"({'--strict makes them fail the command' if not args.strict else 'exit code 1'}).",
            soft_wrap=True,
        )
    scores = metrics.score(ds, positions, probs, args.policy, args.min_questions)
    if args.json:
        _print_json(scores.to_json())
    else:
        base = metrics.uniform_baseline(ds, positions, args.policy)
        _console().print(
            _leaderboard(
                scores,
                f"{scores.n_questions_scored} questions scored · 1 − Jensen–Shannon distance (base 2)",
                args.top,
                base,
            )
        )
    return EXIT_FAIL if problems and args.strict else EXIT_OK


# --------------------------------------------------------------------------- parser


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


def _bounded_int(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(
            f"{value} is out of range: use a whole number of at least {low}"
        )
    return value


def _add_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="'sample' (bundled, default), 'full' (after 'goqa data download') or a CSV path",
    )


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for machines")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="goqa",
        description=(
            "Measure whose opinions a language model's answers resemble (GlobalOpinionQA, "
            "Durmus et al. 2023). With no command, opens the terminal app."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_data = sub.add_parser("data", help="inspect, download and validate datasets")
    data_sub = p_data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_sub.add_parser("info", help="questions by source, countries, options histogram")
    _add_dataset(p)
    _add_json(p)
    p.set_defaults(func=cmd_data_info)
    p = data_sub.add_parser("download", help="fetch the full GlobalOpinionQA file (resumable)")
    p.add_argument("--revision", default=dataset.FULL_REVISION, help="dataset revision (commit)")
    p.add_argument("--force", action="store_true", help="download again even if present")
    _add_json(p)
    p.set_defaults(func=cmd_data_download)
    p = data_sub.add_parser("validate", help="list every bad row; exit 1 if any")
    _add_dataset(p)
    _add_json(p)
    p.set_defaults(func=cmd_data_validate)

    p = sub.add_parser("questions", help="list and search questions")
    _add_dataset(p)
    p.add_argument("--search", help="case-insensitive text in the question or options")
    p.add_argument("--source", choices=["GAS", "WVS"], type=str.upper)
    p.add_argument("--country", help="only questions asked in this country")
    p.add_argument(
        "--limit", type=non_negative_int, default=50, help="rows to show (0 = all; default 50)"
    )
    _add_json(p)
    p.set_defaults(func=cmd_questions)

    p = sub.add_parser("show", help="one question with every country's distribution")
    p.add_argument("id", help="question id or key")
    _add_dataset(p)
    _add_json(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("score", help="score model distributions from a JSONL file")
    p.add_argument("predictions", help='JSONL: {"question_id": 12, "probs": [...]} per line')
    _add_dataset(p)
    p.add_argument(
        "--min-questions",
        type=positive_int,
        default=1,
        help="leave out countries scored on fewer questions (default 1)",
    )
    p.add_argument(
        "--policy", choices=metrics.POLICIES, default="keep", help="non-substantive options"
    )
    p.add_argument("--top", type=positive_int, default=None, help="rows to show")
    p.add_argument("--strict", action="store_true", help="exit 1 if any line was bad")
    _add_json(p)
    p.set_defaults(func=cmd_score)

    for extra in _EXTRA_PARSERS:
        extra(sub)

    p = sub.add_parser("help", help="help on goqa or on one command, like --help")
    p.add_argument("topic", nargs="*", metavar="COMMAND", help="e.g. 'run' or 'data info'")
    p.set_defaults(func=lambda args: cmd_help(parser, args.topic))
    return parser


def cmd_help(parser: argparse.ArgumentParser, topic: Sequence[str]) -> int:
    """``goqa help [COMMAND …]``: the help of that command (of goqa with none)."""
    target = parser
    for i, word in enumerate(topic):
        sub = next((a for a in target._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or word not in sub.choices:
            where = " ".join(["goqa", *topic[:i]])
            known = ", ".join(sorted(sub.choices)) if sub is not None else ""
            hint = f" Commands of '{where}': {known}." if known else ""
            raise CliError(f"No command '{where} {word}'.{hint}", EXIT_USAGE)
        target = sub.choices[word]
    target.print_help()
    return EXIT_OK


_EXTRA_PARSERS: list[Callable[[Any], None]] = []


def _known_errors() -> tuple[type[BaseException], ...]:
    from core.backends.base import BackendError
    from core.store import StoreError

    errors: list[type[BaseException]] = [
        CliError,
        dataset.DatasetError,
        configmod.ConfigError,
        countries.UnknownCountryError,
        StoreError,
        BackendError,
        KeyError,
        ValueError,
    ]
    try:
        from core.download import DownloadError

        errors.append(DownloadError)
    except ImportError:  # pragma: no cover
        pass
    from core.runner import MissingTranslationsError
    from core.translate import TranslationError

    errors += [MissingTranslationsError, TranslationError]
    return tuple(errors)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goqa`` console script."""
    from tui import cli_runs, cli_study  # noqa: F401  register their subcommands

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from tui.app import run_app

        return run_app()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _console(stderr=True).print(
            "[yellow]Interrupted.[/] Everything answered so far is stored; run the same command "
            "(same --name) to resume."
        )
        return 130
    except _known_errors() as exc:
        from rich.markup import escape

        # escape: messages quote user input and TOML tables ("[backends.x]"), not markup.
        _console(stderr=True).print(f"[red]error:[/] {escape(_message(exc))}", soft_wrap=True)
        return getattr(exc, "code", EXIT_FAIL)


def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """Add a subcommand group defined in another module."""
    _EXTRA_PARSERS.append(fn)
    return fn


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
