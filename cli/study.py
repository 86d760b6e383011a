"""``goqa compare``, ``goqa experiment`` and ``goqa sensitivity``: the paper's three
experiments, with statistics.

Registered by :mod:`cli.main`; comparisons are :func:`core.runs.compare_loaded` of two runs
loaded under ``--metric``, experiments :mod:`core.experiments` (with each cross-national run's
:mod:`core.steerability`).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_common,
    add_estimator,
    add_json,
    add_metric,
    busy_printer,
    concurrency_int,
    console,
    escape,
    estimator_specs,
    load_config,
    load_dataset,
    non_negative_int,
    open_backend,
    positive_int,
    print_json,
    print_match_note,
)
from core import experiments, metrics, runs
from core.dataset import skipped_note
from core.prompts import STEERING_FORMATS, Condition
from core.runner import RunOutcome
from core.store import QuestionFilter, Selection, Store
from core.wording import counted


def cmd_compare(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    with Store(read_only=True) as store:
        if args.run_b is None:
            # One run: against the latest default run of the same model, as the app does.
            run_a, run_b = runs.reference_for(store, args.run_a), args.run_a
            if not args.json:
                console(stderr=True).print(
                    f"Comparing with {escape(run_a)}, the latest default run of the same model.",
                    soft_wrap=True,
                )
        else:
            run_a, run_b = args.run_a, args.run_b
        comparison = runs.compare_runs(
            store,
            ds,
            run_a,
            run_b,
            policy=args.policy,
            include_suspect=args.include_suspect,
            n_resamples=args.resamples,
            seed=args.seed,
            metric=args.metric,
        )
    for run in (comparison.a, comparison.b):
        print_match_note(run.match, run.name)
    left_out = comparison.suspect_left_out
    if left_out and not args.json:
        console(stderr=True).print(
            f"{left_out} suspect answer(s) left out (--include-suspect to include them; "
            "'goqa report NAME --suspect' lists them)."
        )
    result = comparison.paired
    higher = metrics.HIGHER_IS_BETTER[comparison.metric]
    if args.json:
        print_json({**comparison.to_json(), "metric": experiments.metric_json(comparison.metric)})
        return EXIT_OK
    if not result.countries:
        raise CliError("The two runs share no scored (question, country) pair.")
    from rich import box
    from rich.table import Table

    con = console()
    con.print(
        metric_line(comparison.metric)
        + ("" if higher else " · B − A below 0: B answers closer to the country than A")
    )
    closer, further = result.n_better, result.n_worse  # counted in the metric's direction
    con.print(
        f"[bold]{escape(run_b)}[/] minus [bold]{escape(run_a)}[/] on {result.n_shared_questions} shared "
        f"questions · mean over countries {result.mean_diff:+.4f} "
        f"({result.mean_diff_ci_low:+.4f} to {result.mean_diff_ci_high:+.4f}) · "
        f"{closer} countries closer, {further} further (BH q < {result.alpha})"
    )
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("country", no_wrap=True, overflow="ellipsis", max_width=26)
    for col in ("A", "B", "B − A", "95% CI", "p", "q", "n"):
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    rows = result.countries
    shown = (
        rows
        if not args.top
        else rows[: args.top] + rows[-args.top :]
        if len(rows) > 2 * args.top
        else rows
    )
    for c in shown:
        toward = c.diff > 0 if higher else c.diff < 0
        colour = (
            "green"
            if c.q_value < result.alpha and toward
            else "red"
            if c.q_value < result.alpha
            else ""
        )
        diff = f"[{colour}]{c.diff:+.3f}[/]" if colour else f"{c.diff:+.3f}"
        t.add_row(
            c.display,
            f"{c.score_a:.3f}",
            f"{c.score_b:.3f}",
            diff,
            f"{c.ci_low:+.3f}…{c.ci_high:+.3f}",
            f"{c.p_value:.3g}",
            f"{c.q_value:.3g}",
            str(c.n_shared),
        )
    con.print(t)
    return EXIT_OK


def metric_line(metric: str) -> str:
    """``metric: tv (1 - total variation distance …)``: what a report's numbers are."""
    info = experiments.metric_json(metric)
    return f"metric: {info['name']} ({escape(str(info['description']))})"


def check_format(args: argparse.Namespace) -> None:
    """``--format`` other than ``paper`` goes with the cross-national experiment and without
    ``--template`` (the format is its own template: v2's wording around its text).

    Raises:
        CliError: (usage) either is not so.
    """
    fmt = args.format
    if fmt == "paper":
        return
    if args.kind != "cross-national":
        raise CliError(
            f"--format {fmt} applies to the cross-national experiment only.",
            EXIT_USAGE,
            f"Run 'goqa experiment cross-national --format {fmt}', or leave --format out.",
        )
    if args.template:
        raise CliError(
            f"--format {fmt} asks with its own template ({fmt!r}: v2's wording around the "
            f"{fmt} text), so --template does not apply.",
            EXIT_USAGE,
            "Leave --template out, or use --format paper with --template paper or v2.",
        )


def cmd_experiment(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    cfg = load_config(args)
    targets = [t.strip() for t in (args.countries or args.languages or "").split(",") if t.strip()]
    experiments.conditions(args.kind, targets)  # an unknown kind stops before the backend
    check_format(args)
    # Questions that cannot be asked are left out before --limit counts the first N.
    positions, skipped = runs.select_questions(
        ds, ds.filter(args.search, args.source, None), args.limit
    )
    err = console(stderr=True)
    if skipped:
        err.print(escape(skipped_note(ds, skipped)), soft_wrap=True)
    store = Store(on_busy=busy_printer(err))
    bcfg = cfg.backend(args.backend)
    plan = experiments.plan(
        args.kind,
        targets,
        positions,
        backend_name=bcfg.name,
        template=args.template or cfg.template,
        policy=args.policy or cfg.policy,
        prefix=args.prefix or None,
        concurrency=args.concurrency or bcfg.concurrency,
        max_retries=bcfg.max_retries,
        selection=Selection(
            filters=QuestionFilter(search=args.search or None, source=args.source, limit=args.limit)
        ),
        max_off_option=cfg.max_off_option,
        estimator=estimator_specs(cfg, args)[0],
        steering=args.format,
    )
    try:  # typos and missing translations stop here, before the backend is even built
        experiments.preflight(ds, plan, store)
    except experiments.ExperimentTranslationsError as exc:
        raise CliError(str(exc)) from None
    _, _, backend = open_backend(cfg, args.backend)
    con = console(stderr=True)

    def started(index: int, run_name: str, cond: Condition) -> None:
        con.print(
            f"[bold]{escape(run_name)}[/]: {counted(len(plan.positions), 'question')} · {cond}"
        )

    async def go() -> tuple[RunOutcome, ...]:
        try:
            return await experiments.run_experiment(
                ds, plan, backend, store, on_run_started=started
            )
        finally:
            await backend.aclose()

    outcomes = asyncio.run(go())
    summary = summarise(
        ds, store, plan.prefix, list(plan.conditions), plan.policy, args.top, args.metric
    )
    summary["template"] = plan.template
    summary["format"] = plan.steering
    summary["runs"] = [
        {
            "name": o.manifest.name,
            "answered": o.answered,
            "failed": o.failed,
            "suspect": o.suspect,
            "from_cache": o.cached,
        }
        for o in outcomes
    ]
    if not args.json:
        for o in outcomes:
            if o.failed or o.suspect:
                con.print(
                    f"[bold]{escape(o.manifest.name)}[/]: {o.failed} failed (asked again when "
                    f"you run the same experiment), {o.suspect} suspect (left out of scores; "
                    f"'goqa report NAME --suspect' lists them)"
                )

    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    return EXIT_FAIL if any(o.failed for o in outcomes) else EXIT_OK


def summarise(
    ds: Any,
    store: Store,
    prefix: str,
    conds: list[Condition],
    policy: str,
    top: int,
    metric: str = metrics.DEFAULT_METRIC,
) -> dict[str, Any]:
    """The experiment's findings as plain JSON-ready data (see ``ExperimentSummary``)."""
    return experiments.summarise_runs(
        ds, store, prefix, conds, policy, top, metric=metric
    ).to_json()


def steerability_lines(s: dict[str, Any]) -> list[str]:
    """A condition's steerability (:meth:`core.steerability.Steerability.to_json`) as lines:
    the target's score default → steered with the gain and the rank, then the excess gain
    over the other countries with its interval and the verdict."""
    level = f"{s['bootstrap']['level']:.0%}"
    word = "similarity to" if s["higher_is_better"] else f"{s['metric']} from"

    def num(value: float | None, sign: str = "") -> str:
        return "—" if value is None else f"{value:{sign}.4f}"

    colour = {"toward target": "green", "toward others": "red"}.get(s["conclusion"], "yellow")
    return [
        f"  steerability: {word} {escape(s['display'])} {num(s['similarity_default'])} → "
        f"{num(s['similarity_steered'])} (gain {num(s['gain'], '+')}, {level} CI "
        f"{num(s['gain_ci_low'], '+')} to {num(s['gain_ci_high'], '+')}) over "
        f"{s['n_questions']} questions; rank {s['rank_default']} → {s['rank_steered']} of "
        f"{s['n_countries']}",
        f"  excess gain over the other {s['n_others']} countries {num(s['excess_gain'], '+')} "
        f"({level} CI {num(s['ci_low'], '+')} to {num(s['ci_high'], '+')}; their mean gain "
        f"{num(s['mean_gain_others'], '+')}): [{colour}]{escape(s['verdict'])}[/]",
    ]


def print_summary(summary: dict[str, Any]) -> None:
    con = console()
    con.print(metric_line(summary["metric"]["name"]))
    if "format" in summary:
        con.print(f"template: {summary['template']} · steering format: {summary['format']}")
    d = summary["default"]
    con.print(
        f"\n[bold]Default prompting[/] ({escape(d['run'])}): uniform answer scores {d['uniform_mean']:.4f} on average"
    )
    for i, c in enumerate(d["top"], start=1):
        con.print(f"  {i}. {c['display']:<30} {c['similarity']:.4f}  (n={c['n']})")
    for entry in summary["conditions"]:
        verdict = (
            "[green]moved toward its target[/]"
            if entry["moved_toward_target"]
            else "[yellow]did not clearly move toward its target[/]"
        )
        con.print(f"\n[bold]{escape(entry['condition'])}[/] ({escape(entry['run'])}): {verdict}")
        for m in entry["targets"]:
            con.print(
                f"  target {m['display']:<26} {m['score_default']:.4f} → {m['score_conditioned']:.4f} "
                f"({m['delta']:+.4f}); rank {m['rank_default']} → {m['rank_conditioned']}"
            )
        if not entry["targets"]:
            con.print("  (no target country of this condition is scored in these questions)")
        moved = ", ".join(f"{m['display']} {m['delta']:+.3f}" for m in entry["moved_most"])
        con.print(f"  moved most: {moved}")
        con.print(
            f"  significant (BH q < 0.05): {entry['countries_closer']} countries closer, "
            f"{entry['countries_further']} further"
        )
        if "overshoot" in entry:
            ov = entry["overshoot"]
            con.print(
                f"  stereotype overshoot: {ov['n_overshoot']} of {ov['n_questions']} questions "
                f"({ov['rate']:.0%})"
            )
        if entry.get("steerability") is not None:
            for line in steerability_lines(entry["steerability"]):
                con.print(line, soft_wrap=True)


def cmd_sensitivity(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    store = Store(on_busy=busy_printer(console(stderr=True)))
    base = runs.load_run(store, ds, args.name)  # its answers matched to this dataset
    print_match_note(base.match, args.name)
    manifest = base.manifest
    cfg = load_config(args)
    name, bcfg, backend = open_backend(cfg, args.backend or manifest.backend)
    con = console(stderr=True)
    for v in experiments.sensitivity_variants(args.name, manifest.template, args.seed):
        con.print(f"[bold]{escape(v.name)}[/]: {escape(manifest.condition)} · {v.description}")

    async def go() -> list[RunOutcome]:
        try:
            return await experiments.run_sensitivity(
                ds,
                store,
                args.name,
                backend,
                name,
                seed=args.seed,
                concurrency=bcfg.concurrency,
                max_retries=bcfg.max_retries,
                max_off_option=cfg.max_off_option,
            )
        finally:
            await backend.aclose()

    outcomes = asyncio.run(go())
    report = experiments.sensitivity_report(ds, store, args.name, args.seed)
    if args.json:
        print_json(
            {
                "run": args.name,
                "variants": [
                    {"name": v.name, "variant": v.description, **sens.to_json()}
                    for v, sens in report
                ],
            }
        )
    else:
        out = console()
        for v, sens in report:
            out.print(
                f"\n[bold]{v.description}[/] ({escape(v.name)}): mean |change| "
                f"{sens.mean_abs_change:.4f}; {sens.n_flagged} of {len(sens.countries)} "
                "countries moved outside their 95% CI"
            )
            for c in sens.countries[: args.top]:
                flag = " [yellow]← outside CI[/]" if c.flagged else ""
                out.print(
                    f"  {c.display:<30} {c.score_base:.4f} → {c.score_variant:.4f} "
                    f"({c.change:+.4f}; CI {c.ci_low:.3f}–{c.ci_high:.3f}){flag}"
                )
    return EXIT_FAIL if any(o.failed for o in outcomes) else EXIT_OK


def register(sub: Any) -> None:
    """Add these commands to the ``goqa`` subparsers ``sub``."""
    p = sub.add_parser(
        "sensitivity", help="re-ask a run with shuffled options and the other template"
    )
    p.add_argument("name", help="the stored run to re-ask")
    p.add_argument("--dataset", default=None)
    p.add_argument("--backend", help="backend (default: the run's)")
    p.add_argument("--config", help="config file")
    p.add_argument("--seed", type=non_negative_int, default=0, help="shuffle and bootstrap seed")
    p.add_argument("--top", type=positive_int, default=10, help="countries to show per variant")
    add_json(p)
    p.set_defaults(func=cmd_sensitivity)

    p = sub.add_parser("compare", help="paired comparison of two runs, per country")
    p.add_argument(
        "run_a",
        metavar="A",
        help="the reference run (alone: the run to compare with the latest default run of the "
        "same model)",
    )
    p.add_argument("run_b", metavar="B", nargs="?", help="the run compared with A")
    p.add_argument("--dataset", default=None)
    p.add_argument("--policy", choices=metrics.POLICIES)
    p.add_argument(
        "--resamples", type=positive_int, default=1000, help="bootstrap and permutation draws"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed")
    p.add_argument(
        "--top", type=non_negative_int, default=0, help="show the N largest moves each way"
    )
    p.add_argument("--include-suspect", action="store_true", help="score suspect answers too")
    add_metric(p)
    add_json(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("experiment", help="the paper's experiments: runs plus a summary")
    p.add_argument("kind", choices=experiments.KINDS)
    p.add_argument("--countries", help="cross-national targets (default: China,Russia,Turkey)")
    p.add_argument("--languages", help="linguistic targets (default: ru,zh,tr)")
    add_common(p, condition=False)
    add_estimator(p)
    p.add_argument(
        "--template",
        choices=["paper", "v2"],
        help="the paper's wording with its typo, or fixed (--format paper only; default: the "
        "config's template when it is one of these, else paper)",
    )
    p.add_argument(
        "--format",
        choices=STEERING_FORMATS,
        default="paper",
        help="how a cross-national run asks: paper ('How would someone from X answer'), bio "
        "(a short self-description: 'I am from X') or portray ('Answer ... as if you were a "
        "person from X'); bio and portray are templates of their own, recorded by the runs, "
        "and name the runs exp-BACKEND-FORMAT-… (default: paper)",
    )
    add_metric(p)
    p.add_argument("--policy", choices=metrics.POLICIES)
    p.add_argument("--source", choices=["GAS", "WVS"], type=str.upper)
    p.add_argument("--search")
    p.add_argument(
        "--limit", type=non_negative_int, default=0, help="first N matching questions (0 = all)"
    )
    p.add_argument(
        "--concurrency",
        type=concurrency_int,
        default=0,
        help="requests in flight (0 = the backend's concurrency)",
    )
    p.add_argument("--prefix", help="run name prefix (default exp-BACKEND[-ESTIMATOR])")
    p.add_argument("--top", type=positive_int, default=5, help="countries to show")
    add_json(p)
    p.set_defaults(func=cmd_experiment)
