"""``goqa compare`` and ``goqa experiment``: the paper's three experiments, with statistics.

Registered into the parser of :mod:`tui.cli`.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core import countries, diagnostics, experiments, metrics, stats
from core.prompts import Condition
from core.runner import MissingTranslationsError, prompt_builder, run, run_answers, run_scores
from core.store import Store
from tui.cli import (
    EXIT_FAIL,
    EXIT_OK,
    CliError,
    _add_json,
    _console,
    _load_dataset,
    _print_json,
    register,
)
from tui.cli_runs import _add_common, _backend, _config


def cmd_compare(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    store = Store()
    for name in (args.run_a, args.run_b):
        if store.manifest(name).dataset_sha256 != ds.sha256:
            raise CliError(
                f"Run {name!r} was made on another dataset; pass the matching --dataset."
            )
    policy = args.policy or store.manifest(args.run_a).policy
    result = stats.compare(
        ds,
        run_answers(store, ds, args.run_a),
        run_answers(store, ds, args.run_b),
        policy=policy,  # type: ignore[arg-type]
        n_resamples=args.resamples,
        seed=args.seed,
        label_a=args.run_a,
        label_b=args.run_b,
    )
    if args.json:
        _print_json(result.to_json())
        return EXIT_OK
    if not result.countries:
        raise CliError("The two runs share no scored (question, country) pair.")
    from rich import box
    from rich.table import Table

    con = _console()
    con.print(
        f"[bold]{args.run_b}[/] minus [bold]{args.run_a}[/] on {result.n_shared_questions} shared "
        f"questions · mean over countries {result.mean_diff:+.4f} "
        f"({result.mean_diff_ci_low:+.4f} to {result.mean_diff_ci_high:+.4f}) · "
        f"{result.n_better} countries closer, {result.n_worse} further (BH q < {result.alpha})"
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
        colour = (
            "green"
            if c.q_value < result.alpha and c.diff > 0
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


def cmd_experiment(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    cfg = _config(args)
    targets = [t.strip() for t in (args.countries or args.languages or "").split(",") if t.strip()]
    conds = experiments.conditions(args.kind, targets)
    template = args.template or cfg.template
    policy = args.policy or cfg.policy
    positions = ds.filter(args.search, args.source, None)
    if args.limit:
        positions = positions[: args.limit]
    if not positions:
        raise CliError("No question matches the filters; nothing to run.")
    store = Store()
    questions = [ds.at(p) for p in positions]
    # Resolve every condition before asking anything: typos and missing translations stop here.
    missing = []
    for cond in conds:
        try:
            prompt_builder(ds, cond, template, store, questions)
        except MissingTranslationsError as exc:
            missing.append(f"language:{exc.language} ({exc.missing} missing)")
    if missing:
        raise CliError(
            "Translations are missing for " + ", ".join(missing) + ". Make them with "
            "'goqa translate --language CODE [--backend NAME]' or import human ones with "
            "'goqa translate --import FILE.jsonl', then run the experiment again."
        )
    name, bcfg, backend = _backend(cfg, args.backend)
    prefix = args.prefix or f"exp-{name}"
    con = _console(stderr=True)

    async def go() -> list[Any]:
        outcomes = []
        try:
            for cond in conds:
                run_name = experiments.run_name(prefix, cond)
                con.print(f"[bold]{run_name}[/]: {len(positions)} questions · {cond}")
                outcomes.append(
                    await run(
                        name=run_name,
                        dataset=ds,
                        positions=positions,
                        backend=backend,
                        backend_name=name,
                        condition=cond,
                        template=template,
                        store=store,
                        policy=policy,
                        concurrency=args.concurrency or bcfg.concurrency,
                        max_retries=bcfg.max_retries,
                        selection={
                            "experiment": args.kind,
                            "search": args.search,
                            "source": args.source,
                            "limit": args.limit,
                        },
                    )
                )
        finally:
            await backend.aclose()
        return outcomes

    outcomes = asyncio.run(go())
    summary = summarise(ds, store, prefix, conds, policy, args.top)
    summary["runs"] = [
        {
            "name": o.manifest.name,
            "answered": o.answered,
            "failed": o.failed,
            "from_cache": o.cached,
        }
        for o in outcomes
    ]
    if args.json:
        _print_json(summary)
    else:
        print_summary(summary)
    return EXIT_FAIL if any(o.failed for o in outcomes) else EXIT_OK


def summarise(
    ds: Any, store: Store, prefix: str, conds: list[Condition], policy: str, top: int
) -> dict[str, Any]:
    """The experiment's findings as plain JSON-ready data."""
    default_name = experiments.run_name(prefix, conds[0])
    default = run_scores(store, ds, default_name, policy)
    default_ans = run_answers(store, ds, default_name)
    uniform = metrics.uniform_baseline(ds, default_ans.positions, policy)  # type: ignore[arg-type]
    out: dict[str, Any] = {
        "default": {
            "run": default_name,
            "top": [
                {
                    "country": c.country,
                    "display": c.display,
                    "similarity": c.similarity,
                    "n": c.n_questions,
                }
                for c in default.countries[:top]
            ],
            "uniform_mean": float(
                sum(c.similarity for c in uniform.countries) / max(len(uniform.countries), 1)
            ),
        },
        "conditions": [],
    }
    for cond in conds[1:]:
        name = experiments.run_name(prefix, cond)
        scores = run_scores(store, ds, name, policy)
        s = experiments.summarise(ds, cond, default, scores, top)
        entry: dict[str, Any] = {
            "condition": str(cond),
            "run": name,
            "moved_toward_target": s.moved_toward,
            "targets": [_movement(m) for m in s.targets],
            "moved_most": [_movement(m) for m in s.moved_most],
        }
        cmp = stats.compare(ds, default_ans, run_answers(store, ds, name), policy=policy)  # type: ignore[arg-type]
        entry["countries_closer"] = cmp.n_better
        entry["countries_further"] = cmp.n_worse
        if cond.kind == "country":
            cond_ans = run_answers(store, ds, name)
            target = countries.match(cond.value, ds.countries).key
            ov = diagnostics.overshoot(
                ds,
                target,
                default_positions=default_ans.positions,
                default_probs=default_ans.probs,
                conditioned_positions=cond_ans.positions,
                conditioned_probs=cond_ans.probs,
                policy=policy,  # type: ignore[arg-type]
            )
            entry["overshoot"] = {
                "rate": ov.rate,
                "n_questions": ov.n_questions,
                "n_overshoot": ov.n_overshoot,
            }
        out["conditions"].append(entry)
    return out


def _movement(m: experiments.Movement) -> dict[str, Any]:
    return {
        "country": m.country,
        "display": m.display,
        "score_default": m.score_default,
        "score_conditioned": m.score_conditioned,
        "delta": m.delta,
        "rank_default": m.rank_default,
        "rank_conditioned": m.rank_conditioned,
    }


def print_summary(summary: dict[str, Any]) -> None:
    con = _console()
    d = summary["default"]
    con.print(
        f"\n[bold]Default prompting[/] ({d['run']}): uniform answer scores {d['uniform_mean']:.4f} on average"
    )
    for i, c in enumerate(d["top"], start=1):
        con.print(f"  {i}. {c['display']:<30} {c['similarity']:.4f}  (n={c['n']})")
    for entry in summary["conditions"]:
        verdict = (
            "[green]moved toward its target[/]"
            if entry["moved_toward_target"]
            else "[yellow]did not clearly move toward its target[/]"
        )
        con.print(f"\n[bold]{entry['condition']}[/] ({entry['run']}): {verdict}")
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


@register
def _parsers(sub: Any) -> None:
    p = sub.add_parser("compare", help="paired comparison of two runs, per country")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--dataset", default=None)
    p.add_argument("--policy", choices=metrics.POLICIES)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=0, help="show the N largest moves each way")
    _add_json(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("experiment", help="the paper's experiments: runs plus a summary")
    p.add_argument("kind", choices=experiments.KINDS)
    p.add_argument("--countries", help="cross-national targets (default: China,Russia,Turkey)")
    p.add_argument("--languages", help="linguistic targets (default: ru,zh,tr)")
    _add_common(p, condition=False)
    p.add_argument("--template", choices=["paper", "v2"])
    p.add_argument("--policy", choices=metrics.POLICIES)
    p.add_argument("--source", choices=["GAS", "WVS"], type=str.upper)
    p.add_argument("--search")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=0)
    p.add_argument("--prefix", help="run name prefix (default exp-BACKEND)")
    p.add_argument("--top", type=int, default=5)
    _add_json(p)
    p.set_defaults(func=cmd_experiment)
