"""``goqa data``, ``questions``, ``show`` and ``score``: the dataset and scoring files."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    add_dataset,
    add_json,
    add_metric,
    bar,
    console,
    distribution_rows,
    escape,
    leaderboard,
    load_dataset,
    metric_title,
    non_negative_int,
    positive_int,
    print_json,
)
from core import countries, dataset, metrics, ordinal, predictions
from core.wording import counted


def cmd_data_info(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
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
        "ordinal_questions": ordinal.ordinal_count(ds),
        "bad_rows": len(ds.problems),
    }
    if args.json:
        print_json(info)
        return EXIT_OK
    from rich.table import Table

    con = console()
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
    con.print(
        f"Ordinal scales (shown forwards and reversed only by order-averaged): "
        f"{info['ordinal_questions']} of {counted(len(ds), 'question')}"
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
        print_json(report)
    else:
        con = console()
        for p in problems:
            con.print(f"[red]row {p.row}[/]: {escape(p.reason)}")
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

    con = console(stderr=True)
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
        print_json(data)
    else:
        out = console()
        out.print(
            f"[green]Downloaded[/] {result.n_questions} questions ({result.bytes:,} bytes) to "
            f"{result.path}"
        )
        if result.n_problems:
            out.print(f"[yellow]{result.n_problems} bad rows will be skipped.[/]")
        out.print("Use it with [bold]--dataset full[/].")
    return EXIT_OK


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
    ds = load_dataset(args)
    positions = ds.filter(args.search, args.source, _country_key(ds, args.country))
    shown = positions[: args.limit] if args.limit else positions
    if args.json:
        print_json([_question_json(ds, ds.at(p)) for p in shown])
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
            escape(q.headline),
            str(len(q.options)),
            str(len(q.countries)),
        )
    console().print(t)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    q = ds.find(args.id)
    if args.json:
        print_json(_question_json(ds, q, full=True))
        return EXIT_OK
    con = console()
    n = len(q.countries)
    con.print(
        f"[bold]#{q.id}[/] [dim]{q.source} · key {escape(q.key)} · {n} "
        f"{'country' if n == 1 else 'countries'}[/]"
    )
    con.print(q.text if q.text.strip() else q.headline, markup=False, highlight=False)
    for flag in q.flags:
        con.print(f"[yellow]not asked of models:[/] {escape(flag)}")
    series = []
    for c in q.countries:
        dist = q.distribution(c)
        if dist is not None:
            series.append((countries.resolve(c).label, dist))
    con.print(distribution_rows(q.options, list(q.nonsubstantive), series))
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    found = predictions.read_predictions(Path(args.predictions), ds)
    err = console(stderr=True)
    for problem in found.problems:
        err.print(f"[yellow]{escape(args.predictions)}:[/] {escape(str(problem))}", soft_wrap=True)
    metric = metrics.parse_metric(args.metric)
    scored = predictions.score_predictions(ds, found, args.policy, args.min_questions, metric)
    if found.problems:
        err.print(
            f"[yellow]{len(found.problems)} bad line(s) skipped[/]; fix or delete them "
            f"({'--strict makes them fail the command' if not args.strict else 'exit code 1'}).",
            soft_wrap=True,
        )
    scores = scored.scores
    if args.json:
        print_json(scores.to_json())
    else:
        console().print(
            leaderboard(
                scores,
                f"{scores.n_questions_scored} questions scored · {metric_title(metric)}",
                args.top,
                scored.uniform,
            )
        )
    return EXIT_FAIL if found.problems and args.strict else EXIT_OK


def register(sub: Any) -> None:
    """Add these commands to the ``goqa`` subparsers ``sub``."""
    p_data = sub.add_parser("data", help="inspect, download and validate datasets")
    data_sub = p_data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_sub.add_parser("info", help="questions by source, countries, options histogram")
    add_dataset(p)
    add_json(p)
    p.set_defaults(func=cmd_data_info)
    p = data_sub.add_parser("download", help="fetch the full GlobalOpinionQA file (resumable)")
    p.add_argument("--revision", default=dataset.FULL_REVISION, help="dataset revision (commit)")
    p.add_argument("--force", action="store_true", help="download again even if present")
    add_json(p)
    p.set_defaults(func=cmd_data_download)
    p = data_sub.add_parser("validate", help="list every bad row; exit 1 if any")
    add_dataset(p)
    add_json(p)
    p.set_defaults(func=cmd_data_validate)

    p = sub.add_parser("questions", help="list and search questions")
    add_dataset(p)
    p.add_argument("--search", help="case-insensitive text in the question or options")
    p.add_argument("--source", choices=["GAS", "WVS"], type=str.upper)
    p.add_argument("--country", help="only questions asked in this country")
    p.add_argument(
        "--limit", type=non_negative_int, default=50, help="rows to show (0 = all; default 50)"
    )
    add_json(p)
    p.set_defaults(func=cmd_questions)

    p = sub.add_parser("show", help="one question with every country's distribution")
    p.add_argument("id", help="question id or key")
    add_dataset(p)
    add_json(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("score", help="score model distributions from a JSONL file")
    p.add_argument("predictions", help='JSONL: {"question_id": 12, "probs": [...]} per line')
    add_dataset(p)
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
    add_metric(p)
    add_json(p)
    p.set_defaults(func=cmd_score)
