"""``goqa audit``: runs of the same questions made with different estimators, side by side.

Registered by :mod:`cli.main`; the audit is :func:`core.audit.audit_runs`, and
:func:`print_audit` prints it (``goqa report`` prints the same tables for a run that has
related runs). With one run, the audit is against its :func:`core.audit.related_runs`, as
``goqa compare`` with one run compares it with the latest default run.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    CliError,
    add_dataset,
    add_json,
    console,
    escape,
    load_dataset,
    non_negative_int,
    positive_int,
    print_json,
    print_match_note,
)
from core import audit, metrics, runs
from core.store import Store

_ALPHA = 0.05
"""Differences whose q-value is below this are coloured."""


def cmd_audit(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    with Store(read_only=True) as store:
        names = list(args.runs)
        if len(names) == 1:
            related = audit.related_runs(store, names[0])
            if not related and store.summary(names[0]).n_ok == 0:
                raise CliError(
                    f"Run {names[0]!r} has no answered question, so there is nothing to audit.",
                    EXIT_FAIL,
                    f"'goqa report {names[0]} --failed' lists why its questions failed; run it "
                    "again to retry them.",
                )
            if not related:
                raise CliError(
                    f"Run {names[0]!r} has no run to be audited against: no other run of the "
                    "same questions (same dataset, model, condition and template) was made "
                    "with another estimator.",
                    EXIT_FAIL,
                    f"Name the runs (goqa audit {names[0]} OTHER_RUN), or make one with "
                    "'goqa run --estimator free-text' (or order-averaged, verbalized, "
                    "prior-corrected) with the same settings.",
                )
            names += related
            if not args.json:
                console(stderr=True).print(
                    f"Auditing {escape(names[0])} against its runs with other estimators: "
                    f"{escape(', '.join(related))}.",
                    soft_wrap=True,
                )
        result = audit.audit_runs(
            store,
            ds,
            names,
            policy=args.policy,
            include_suspect=args.include_suspect,
            seed=args.seed,
            resamples=args.resamples,
            top=args.top,
        )
    for run in result.runs:
        print_match_note(run.match, run.name)
    if args.json:
        print_json(result.to_json())
        return EXIT_OK
    print_audit(result)
    return EXIT_OK


# --------------------------------------------------------------------------- printing


def _num(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _cut(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _headers(result: audit.EstimatorAudit) -> list[str]:
    """Each run's column heading: its estimator, with the run's name when two runs share it."""
    estimators = [r.estimator for r in result.runs]
    return [
        r.estimator if estimators.count(r.estimator) == 1 else f"{r.estimator} ({r.name})"
        for r in result.runs
    ]


def _country_layout(headers: list[str], width: int) -> tuple[bool, bool]:
    """(show the intervals, show the differences): as much as ``width`` cells hold."""

    def needed(ci: bool, diff: bool) -> int:
        cells = 3 + 14 + 7  # "#", the country, the spread
        cells += sum(max(len(h), 19 if ci else 5) + 2 for h in headers)
        cells += (len(headers) - 1) * 8 if diff else 0
        return cells

    for ci, diff in ((True, True), (False, True), (False, False)):
        if needed(ci, diff) <= width:
            return ci, diff
    return False, False


def print_audit(
    result: audit.EstimatorAudit,
    *,
    top_countries: int | None = None,
    con: Any = None,
) -> None:
    """Print an estimator audit as rich tables: the runs, per-country scores with intervals
    under each estimator, the most disagreeing questions, every pair of runs, and one
    summary block (argmax agreement, refusals, order flips, parse rate, letter prior).

    Args:
        result: from :func:`core.audit.audit_runs`.
        top_countries: show only the first N countries (the first run's best); all by
            default. The questions shown are those the audit kept (its ``top``).
        con: the console to print on (default: stdout).
    """
    from rich import box
    from rich.table import Table

    con = con or console()
    names = result.run_names
    con.print(
        f"[bold]Estimator audit[/] · {len(result.runs)} runs · "
        f"{result.common} common questions · policy {escape(result.policy)}"
        + (" · suspect answers included" if result.include_suspect else ""),
        soft_wrap=True,
    )
    for caveat in result.caveats:
        con.print(f"[yellow]caveat:[/] {escape(caveat)}", soft_wrap=True)

    t = Table(title="Runs", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("run", overflow="fold")
    t.add_column("estimator", overflow="fold")
    t.add_column("model", overflow="fold")
    for col in ("answered", "failed", "scored"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in result.runs:
        t.add_row(
            escape(r.name),
            escape(r.label),
            escape(r.model),
            str(r.answered),
            str(r.failed),
            str(r.scored),
        )
    con.print(t)

    level = f"{result.level:.0%}"
    headers = _headers(result)
    with_ci, with_diff = _country_layout(headers, con.width)
    t = Table(
        title=f"Country similarity on the {result.common} common questions"
        + (f", {level} CI" if with_ci else "")
        + (f"; Δ = run − {escape(headers[0])}" if with_diff else ""),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("country", no_wrap=True, overflow="ellipsis", min_width=12, max_width=26)
    for j, header in enumerate(headers):
        t.add_column(escape(header), justify="right", no_wrap=True)
        if j and with_diff:
            t.add_column("Δ", justify="right", no_wrap=True)
    t.add_column("spread", justify="right", no_wrap=True)
    rows = result.countries[:top_countries] if top_countries else result.countries
    for i, c in enumerate(rows, start=1):
        cells = [str(i), escape(c.display)]
        for j, s in enumerate(c.scores):
            if s is None:
                cells += ["—"] + (["—"] if j and with_diff else [])
                continue
            ci = (
                f" ({s.ci_low:.3f}–{s.ci_high:.3f})"
                if with_ci and s.ci_low is not None and s.ci_high is not None
                else ""
            )
            cells.append(f"{s.similarity:.3f}{ci}")
            if j and with_diff:
                diff = _num(s.diff, sign=True)
                if s.diff is not None and s.q_value is not None and s.q_value < _ALPHA:
                    diff = f"[{'green' if s.diff > 0 else 'red'}]{diff}[/]"
                cells.append(diff)
        cells.append(_num(c.spread))
        t.add_row(*cells)
    con.print(t)
    if not (with_ci and with_diff):
        left_out = " and ".join(
            x
            for x, shown in ((f"the {level} intervals", with_ci), ("the differences", with_diff))
            if not shown
        )
        con.print(f"[dim]A wider terminal shows {left_out}; --json has them.[/]", soft_wrap=True)
    if with_diff:
        con.print(
            f"[dim]Δ in colour: q < {_ALPHA} (paired bootstrap and sign-flip test, "
            "Benjamini–Hochberg across countries).[/]",
            soft_wrap=True,
        )

    if result.questions:
        t = Table(
            title="Questions where the estimators disagree most (Jensen–Shannon distance)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        t.add_column("id", justify="right", no_wrap=True)
        t.add_column("question", overflow="ellipsis", no_wrap=True, max_width=48)
        t.add_column("max JSD", justify="right", no_wrap=True)
        t.add_column("most apart", overflow="fold")
        t.add_column("most likely: " + " · ".join(escape(h) for h in headers), overflow="fold")
        heading = dict(zip(names, headers, strict=True))
        for q in result.questions:
            t.add_row(
                str(q.question_id),
                escape(_cut(q.question, 48)),
                f"{q.max_distance:.3f}",
                f"{escape(heading[q.pair[0]])} ↔ {escape(heading[q.pair[1]])}",
                " · ".join(q.argmax),
            )
        con.print(t)

    t = Table(
        title="Pairs of runs (on the questions both answered)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("A", overflow="fold")
    t.add_column("B", overflow="fold")
    t.add_column("n", justify="right", no_wrap=True)
    t.add_column("mean JSD", justify="right", no_wrap=True)
    t.add_column("same argmax", justify="right", no_wrap=True)
    for p in result.pairs:
        t.add_row(
            f"{escape(p.a)} ({escape(p.estimator_a)})",
            f"{escape(p.b)} ({escape(p.estimator_b)})",
            str(p.n),
            _num(p.mean_distance),
            "—" if p.agreement is None else f"{p.agreement:.1%}",
        )
    con.print(t)

    summary = result.summary()
    if summary:
        t = Table(title="Summary", title_justify="left", box=box.SIMPLE, show_header=False)
        t.add_column("figure", style="bold", overflow="fold")
        t.add_column("value", overflow="fold")
        for key, value in summary:
            t.add_row(escape(key), escape(value))
        con.print(t)


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add ``goqa audit`` to the ``goqa`` subparsers ``sub``."""
    p = sub.add_parser(
        "audit",
        help="runs of the same questions under different estimators, side by side",
        description=(
            "Set runs of the same questions made with different estimators side by side: "
            "per country the score under each (95% bootstrap CIs on the questions every run "
            "answered), the questions where they disagree most, first-token vs free-text "
            "argmax agreement, refusal rate, option-order flips, parse rate, letter prior. "
            "With one run: against its runs with other estimators."
        ),
    )
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="two or more runs (the first is the reference); one run: audited against the "
        "other runs of its questions made with other estimators",
    )
    add_dataset(p)
    p.add_argument("--policy", choices=metrics.POLICIES, help="override the first run's policy")
    p.add_argument("--include-suspect", action="store_true", help="score suspect answers too")
    p.add_argument(
        "--resamples",
        type=positive_int,
        default=runs.DEFAULT_RESAMPLES,
        help=f"bootstrap resamples (default {runs.DEFAULT_RESAMPLES})",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed")
    p.add_argument(
        "--top",
        type=non_negative_int,
        default=audit.DEFAULT_TOP,
        help=f"most disagreeing questions to show (default {audit.DEFAULT_TOP}; 0 = all)",
    )
    add_json(p)
    p.set_defaults(func=cmd_audit)
