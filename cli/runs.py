"""``goqa`` commands that ask models and read stored runs: config, ask, run, runs, report,
export.

Registered by :mod:`cli.main`; each command parses its arguments, calls the use-case layer
(:mod:`core.runs` to plan, make, load and compare runs, :mod:`core.exports` to write files,
:mod:`core.report_html` for the HTML report) and prints what it returns. Commands that only
read the store open it read-only (so they work on a read-only disk); text from the store or
the user (run names, models, errors) is escaped before it meets Rich markup.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.audit import print_audit

# --------------------------------------------------------------------------- config
from cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_common,
    add_dataset,
    add_estimator,
    add_json,
    add_metric,
    busy_printer,
    concurrency_int,
    console,
    distribution_rows,
    escape,
    estimator_specs,
    leaderboard,
    load_config,
    load_dataset,
    metric_title,
    non_negative_int,
    open_backend,
    positive_int,
    print_json,
    print_match_note,
)
from core import audit as audit_uc
from core import compared, countries, dataset, estimation, estimators, exports, metrics, paths, runs
from core import config as configmod
from core.asking import prompt_builder
from core.backends.base import Answer, Backend
from core.backends.retry import RetryPolicy
from core.prompts import Condition
from core.store import QuestionFilter, Selection, Store, StoredAnswer
from core.wording import counted


def cmd_config(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else paths.config_file()
    if args.action == "path":
        print(path)
        return EXIT_OK
    cfg = configmod.load(path, required=bool(args.config))
    if args.action == "show":
        backends = {n: b.public() for n, b in cfg.backends.items()}
        for b in backends.values():
            b["base_url"] = configmod.redact_url(str(b.get("base_url") or ""))
            env = b.get("api_key_env")
            b["api_key"] = ("set (hidden)" if _env_set(env) else "NOT SET") if env else "none"
        data = {
            "path": str(path),
            "exists": path.exists(),
            "default_backend": cfg.default_backend,
            "template": cfg.template,
            "policy": cfg.policy,
            "theme": cfg.theme,
            "max_off_option": cfg.max_off_option,
            "estimator": cfg.estimator,
            "orders": cfg.orders,
            "free_text_samples": cfg.free_text_samples,
            "calibration_questions": cfg.calibration_questions,
            "backends": backends,
        }
        if args.json:
            print_json(data)
        else:
            from rich.table import Table
            from rich.text import Text

            con = console()
            con.print(
                f"[bold]{escape(str(path))}[/] "
                f"{'(exists)' if path.exists() else '(not created yet: defaults)'}"
            )
            con.print(
                escape(
                    f"default_backend={cfg.default_backend} template={cfg.template} "
                    f"policy={cfg.policy} theme={cfg.theme} "
                    f"max_off_option={cfg.max_off_option:g} estimator={cfg.estimator} "
                    f"orders={cfg.orders} free_text_samples={cfg.free_text_samples} "
                    f"calibration_questions={cfg.calibration_questions}"
                )
            )
            t = Table()
            for col in ("name", "kind", "mode", "model", "base_url", "api key", "concurrency"):
                t.add_column(col)
            for n, b in backends.items():
                env = b["api_key_env"]
                key = f"${env}: {b['api_key']}" if env else "—"
                cells = (n, b["kind"], b["mode"], b["model"], b["base_url"], key)
                t.add_row(*(Text(str(c)) for c in cells), str(b["concurrency"]))
            con.print(t)
        return EXIT_OK
    # check
    results = asyncio.run(_check_backends(cfg, args.backend))
    if args.json:
        print_json(results)
    else:
        con = console()
        for r in results:
            what = escape(f"{r['backend']} ({r['kind']}, {r['model']})")
            if r["ok"]:
                con.print(
                    f"[green]✓[/] {what}: {escape(r['message'])}, {r['seconds']:.2f}s",
                    soft_wrap=True,
                )
            else:
                con.print(f"[red]✗[/] {what}: {escape(r['message'])}", soft_wrap=True)
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAIL


def _env_set(name: str | None) -> bool:
    return bool(name and os.environ.get(name))


async def _check_backends(cfg: configmod.Config, only: str | None) -> list[dict[str, Any]]:
    """One :func:`core.connection.check_connection` probe per backend (or just ``only``)."""
    from core.backends import make_backend
    from core.backends.base import BackendError
    from core.connection import check_connection

    names = [only] if only else list(cfg.backends)
    out = []
    for name in names:
        bcfg = cfg.backend(name)
        row: dict[str, Any] = {"backend": name, "kind": bcfg.kind, "model": bcfg.model}
        try:
            backend = make_backend(bcfg)
        except (BackendError, configmod.ConfigError) as exc:
            row.update(ok=False, estimator="", message=str(exc), seconds=0.0)
        else:
            try:
                verdict = await check_connection(backend, cfg.template, cfg.max_off_option)
            finally:
                await backend.aclose()
            row.update(
                ok=verdict.ok,
                estimator=verdict.estimator,
                message=verdict.message,
                seconds=verdict.seconds,
            )
        row["latency_s"] = row["seconds"]
        if not row["ok"]:
            row["error"] = row["message"]
        out.append(row)
    return out


# --------------------------------------------------------------------------- ask


def parse_condition(text: str) -> Condition:
    """``--condition`` as a :class:`Condition`.

    Raises:
        CliError: not ``default``, ``country:NAME`` or ``language:CODE`` (the message names
            the value and the accepted forms).
    """
    try:
        return Condition.parse(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_ask(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    cfg = load_config(args)
    q = ds.find(args.id)
    condition = parse_condition(args.condition)
    template = args.template or cfg.template
    policy = runs.as_policy(args.policy or cfg.policy)
    specs = estimator_specs(cfg, args)
    store = Store(on_busy=busy_printer(console(stderr=True)))
    try:
        results, name, backend = _ask_one(args, cfg, store, ds, q, condition, template, specs)
    finally:
        store.close()
    if len(results) == 1 and results[0].failure is not None:
        raise results[0].failure  # one estimator: its error, rendered with its fix
    nearest = {
        r.spec.name: compared.closest_countries(q, r.answer.probs, policy, 5)
        for r in results
        if r.answer is not None
    }
    distances = estimation.pairwise_distances(results)
    if args.json:
        print_json(_ask_json(q, condition, name, template, results, nearest, distances))
        return EXIT_OK if all(r.answer is not None for r in results) else EXIT_FAIL
    con = console()
    con.print(
        f"[bold]#{q.id}[/] [dim]"
        + escape(f"{q.source} · {condition} · {name} ({backend.model}) · {template}")
        + "[/]"
    )
    con.print(q.text, markup=False)
    if len(results) == 1:
        return _print_one_estimate(con, q, results[0], nearest.get(results[0].spec.name, []))
    series = [(r.spec.name, r.answer.probs) for r in results if r.answer is not None]
    top = next(iter(nearest.values()), [])
    if top:
        dist = q.distribution(top[0].key)
        if dist is not None:
            series.append((f"{top[0].label} (people)", dist))
    con.print(distribution_rows(q.options, list(q.nonsubstantive), series))
    con.print(_estimators_table(results, nearest))
    if distances:
        con.print(_distances_table(distances))
    return EXIT_OK if all(r.answer is not None for r in results) else EXIT_FAIL


def _ask_json(
    q: Any,
    condition: Condition,
    name: str,
    template: str,
    results: Any,
    nearest: dict[str, Any],
    distances: list[tuple[str, str, float]],
) -> dict[str, Any]:
    def closest(method: str) -> list[dict[str, Any]]:
        return [
            {"country": c.key, "display": c.label, "similarity": c.similarity}
            for c in nearest.get(method, [])
        ]

    estimates = [
        {
            "estimator": r.spec.name,
            "label": r.spec.label,
            "settings": r.spec.params(),
            "cached": r.estimate.from_cache if r.estimate is not None else False,
            "answer": r.answer.to_json() if r.answer is not None else None,
            "error": r.error or None,
            "closest_countries": closest(r.spec.name),
            "calibration": r.calibration.to_json() if r.calibration is not None else None,
        }
        for r in results
    ]
    data: dict[str, Any] = {
        "question": {"id": q.id, "key": q.key, "text": q.text, "options": list(q.options)},
        "condition": str(condition),
        "backend": name,
        "template": template,
    }
    if len(estimates) == 1:
        # One estimator: its fields at the top level, as before there were several.
        data.update({k: v for k, v in estimates[0].items() if k not in ("label",)})
    else:
        data["estimates"] = estimates
        data["pairwise_js_distance"] = [{"a": a, "b": b, "distance": d} for a, b, d in distances]
    return data


def _print_one_estimate(con: Any, q: Any, result: Any, nearest: list[Any]) -> int:
    answer = result.answer
    if answer is None:
        console(stderr=True).print(
            f"[red]error:[/] {escape(result.spec.label)}: {escape(result.error)}", soft_wrap=True
        )
        return EXIT_FAIL
    series = [("model", answer.probs)]
    for c in nearest[:3]:
        dist = q.distribution(c.key)
        if dist is not None:
            series.append((f"{c.label} ({c.similarity:.3f})", dist))
    con.print(distribution_rows(q.options, list(q.nonsubstantive), series))
    cached = result.estimate.from_cache
    con.print(
        f"[dim]estimator {escape(result.spec.label)} · {escape(answer.readout)} · "
        f"{escape(_quality(answer))}"
        f"{' · truncated top-k' if answer.truncated else ''}"
        f"{' · from cache' if cached else f' · {answer.latency_s:.2f}s'}"
        f"{' · ' + escape(answer.note) if answer.note else ''}[/]",
        soft_wrap=True,
    )
    if answer.suspect:
        con.print(
            f"[yellow]suspect:[/] {escape(answer.suspect)} (a run leaves such answers out of "
            "its scores unless --include-suspect)",
            soft_wrap=True,
        )
    con.print("[bold]Most similar countries[/]")
    for i, near in enumerate(nearest, start=1):
        con.print(f"  {i}. {near.label:<32} {near.similarity:.4f}", markup=False)
    return EXIT_OK


def _quality(answer: Answer) -> str:
    """What says how much to trust an answer: off-option mass, order spread, replies."""
    if answer.method == "free-text":
        return f"{answer.refusals} of {answer.samples} replies refused"
    if answer.method == "verbalized":
        return "reply parsed"
    text = f"off-option mass {answer.off_option_mass:.1%}"
    if answer.method == "order-averaged" and answer.parts:
        spread = estimators.order_spread([p.probs for p in answer.parts])
        flips = (
            " · argmax changes with the order"
            if estimators.argmax_changes([p.probs for p in answer.parts])
            else ""
        )
        text += f" · max JSD between orders {spread:.3f}{flips}"
    return text


def _estimators_table(results: Any, nearest: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title="Estimators", title_justify="left")
    t.add_column("estimator", no_wrap=True)
    t.add_column("readout")
    t.add_column("quality")
    t.add_column("closest country")
    for r in results:
        if r.answer is None:
            t.add_row(escape(r.spec.label), "[red]failed[/]", escape(r.error), "")
            continue
        near = nearest.get(r.spec.name, [])
        top = f"{escape(near[0].label)} {near[0].similarity:.3f}" if near else ""
        t.add_row(escape(r.spec.label), escape(r.answer.readout), escape(_quality(r.answer)), top)
    return t


def _distances_table(distances: list[tuple[str, str, float]]) -> Any:
    from rich.table import Table

    t = Table(title="Jensen–Shannon distance between estimators", title_justify="left")
    t.add_column("a")
    t.add_column("b")
    t.add_column("distance", justify="right")
    for a, b, d in sorted(distances, key=lambda x: -x[2]):
        t.add_row(a, b, f"{d:.3f}")
    return t


def _ask_one(
    args: argparse.Namespace,
    cfg: configmod.Config,
    store: Store,
    ds: Any,
    q: Any,
    condition: Condition,
    template: str,
    specs: list[Any],
) -> tuple[Any, str, Backend]:
    """Ask ``q`` under each estimator through the response cache (without it when the
    store is read-only)."""
    build = prompt_builder(ds, condition, template, store, [q])
    name, bcfg, backend = open_backend(cfg, args.backend)
    if store.read_only:
        console(stderr=True).print(
            f"[yellow]note:[/] the results store {escape(str(store.path))} is read-only "
            f"({escape(store.read_only_reason or 'opened read-only')}); this answer is not "
            "cached.",
            soft_wrap=True,
        )

    async def go() -> Any:
        try:
            return await estimation.ask_estimators(
                ds,
                q,
                backend,
                build,
                specs,
                store,
                RetryPolicy(max_retries=bcfg.max_retries),
                max_off_option=cfg.max_off_option,
            )
        finally:
            await backend.aclose()

    return asyncio.run(go()), name, backend


# --------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    ds = load_dataset(args)
    cfg = load_config(args)
    condition = parse_condition(args.condition)
    bcfg = cfg.backend(args.backend)
    country_key = countries.match(args.country, ds.countries).key if args.country else None
    err = console(stderr=True)
    store = Store(on_busy=busy_printer(err))
    try:
        # Questions that cannot be asked are left out before --limit counts the first N.
        plan = runs.plan_run(
            ds,
            ds.filter(args.search, args.source, country_key),
            condition=condition,
            backend_name=bcfg.name,
            template=args.template or cfg.template,
            policy=args.policy or cfg.policy,
            name=args.name or "",
            taken=() if args.name else {r.manifest.name for r in store.runs()},
            limit=args.limit,
            selection=Selection(
                filters=QuestionFilter(
                    search=args.search or None,
                    source=args.source,
                    country=args.country or None,
                    limit=args.limit,
                )
            ),
            concurrency=args.concurrency or bcfg.concurrency,
            max_retries=bcfg.max_retries,
            max_off_option=cfg.max_off_option,
            estimator=estimator_specs(cfg, args)[0],
        )
        if plan.skipped:
            err.print(escape(dataset.skipped_note(ds, plan.skipped)), soft_wrap=True)
        if store.imported:
            err.print(
                f"Imported {store.imported} answer(s) kept from an earlier run while the store "
                "was busy.",
                soft_wrap=True,
            )
        # Before any backend is built or request sent: a read-only store cannot take answers.
        store.ensure_writable(f"store the answers of run {plan.name!r}")
        name, _, backend = open_backend(cfg, args.backend)
        # A run of that name made otherwise is refused before it is announced.
        store.check_resumable(runs.planned_manifest(plan, ds, backend))

        async def go(on_progress: Any) -> Any:
            try:
                return await runs.execute(plan, ds, backend, store, on_progress=on_progress)
            finally:
                await backend.aclose()

        if args.json:
            outcome = asyncio.run(go(None))
        else:
            headline = (
                f"Run [bold]{escape(plan.name)}[/]: {counted(len(plan.positions), 'question')} · "
                + escape(
                    f"{condition} · backend {name} ({backend.model}) · {plan.estimator.label}"
                    f" · concurrency {plan.concurrency}"
                )
            )
            outcome = _run_with_progress(go, err, headline, len(plan.positions))
        return _print_run_result(args, store, ds, plan, outcome)
    finally:
        store.close()


def _run_with_progress(go: Callable[[Any], Any], con: Any, headline: str, total: int) -> Any:
    """``go(on_progress)`` under a progress bar on ``con``, after the ``headline`` line."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    con.print(headline, soft_wrap=True)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=con,
    ) as progress:
        task = progress.add_task("asking", total=total, status="")

        def on_progress(p: Any, fresh: int) -> None:
            eta = p.eta(fresh)
            status = (
                f"failed {p.failed} · suspect {p.suspect} · {p.rate(fresh):.2f} q/s · ETA "
                f"{'—' if eta is None else f'{eta:.0f}s'}"
            )
            progress.update(task, completed=p.done + p.failed, status=status)

        return asyncio.run(go(on_progress))


def _print_run_result(
    args: argparse.Namespace, store: Store, ds: Any, plan: runs.RunPlan, outcome: Any
) -> int:
    err = console(stderr=True)
    if outcome.failed:
        errors = Counter(a.error or "" for a in store.answers(plan.name, status="failed"))
        for error, count in errors.most_common(3):
            err.print(f"[red]{count} failed:[/] {escape(error)}", soft_wrap=True)
        if args.json:
            err.print(
                f"Fix the cause, then run again with --name {escape(plan.name)} to retry them.",
                soft_wrap=True,
            )
    run = runs.load_run(
        store,
        ds,
        plan.name,
        policy=plan.policy,
        include_suspect=args.include_suspect,
        min_questions=args.min_questions,
    )
    left_out = run.suspect_left_out
    data = {
        "run": outcome.manifest.to_json(),
        "total": outcome.total,
        "answered": outcome.answered,
        "failed": outcome.failed,
        "suspect": run.n_suspect,
        "suspect_left_out": left_out,
        "already_done": outcome.already_done,
        "from_cache": outcome.cached,
        "seconds": outcome.seconds,
        **run.scores.to_json(),
    }
    if args.json:
        data["countries"] = data["countries"][: args.top] if args.top else data["countries"]
        print_json(data)
    else:
        con = console()
        con.print(
            f"[green]{outcome.answered}[/] answered ({outcome.already_done} before, "
            f"{outcome.cached} from cache), [yellow]{run.n_suspect}[/] suspect, "
            f"[red]{outcome.failed}[/] failed, {outcome.seconds:.1f}s"
        )
        if left_out:
            con.print(_suspect_left_out(left_out, plan.name), soft_wrap=True)
        if outcome.failed:
            con.print(
                f"Failed questions keep their error; run again with --name "
                f"{escape(plan.name)} to retry them.",
                soft_wrap=True,
            )
        con.print(leaderboard(run.scores, f"Top countries · {escape(plan.name)}", args.top))
    return EXIT_FAIL if outcome.failed else EXIT_OK


def _suspect_left_out(n: int, run_name: str) -> str:
    return (
        f"[yellow]{n} suspect answer(s) left out[/] (--include-suspect to include them; "
        f"'goqa report {escape(run_name)} --suspect' lists them)."
    )


# --------------------------------------------------------------------------- runs


def cmd_runs(args: argparse.Namespace) -> int:
    with Store(read_only=True) as store:
        runs = store.runs()
        waiting = store.spill_files()
        path, read_only_reason = store.path, store.read_only_reason
    if args.json:
        print_json(
            [
                {
                    **r.manifest.to_json(),
                    "answered": r.n_ok,
                    "failed": r.n_failed,
                    "suspect": r.n_suspect,
                    "planned": r.planned,
                    "running": r.claim.to_json() if r.claim else None,
                }
                for r in runs
            ]
        )
        return EXIT_OK
    con = console()
    if read_only_reason:
        con.print(f"[dim]read-only: {escape(read_only_reason)}[/]", soft_wrap=True)
    for path in waiting:
        con.print(
            f"[yellow]{escape(path.name)}[/] holds answers kept while the store was busy; "
            "the next 'goqa run' imports them.",
            soft_wrap=True,
        )
    if not runs:
        con.print("No runs yet. Start one with: goqa run --name NAME --limit 20")
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(f"Runs in {path}"), title_justify="left")
    for col in ("name", "condition", "backend", "model", "template", "estimator"):
        t.add_column(col)
    for col in ("answered", "suspect", "failed"):
        t.add_column(col, justify="right")
    t.add_column("state")
    t.add_column("created")
    for r in runs:
        m = r.manifest
        state = (
            f"running ({r.claim.describe()})"
            if r.claim
            else "finished"
            if r.finished
            else "incomplete"
        )
        t.add_row(
            *(Text(x) for x in (m.name, m.condition, m.backend, m.model, m.template, m.estimator)),
            f"{r.n_ok}/{r.planned}",
            Text(str(r.n_suspect), style="yellow" if r.n_suspect else ""),
            Text(str(r.n_failed), style="red" if r.n_failed else ""),
            Text(state),
            Text(m.created_at),
        )
    con.print(t)
    return EXIT_OK


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = Store(on_busy=busy_printer(console(stderr=True)))
    try:
        summary = store.summary(args.name)
        store.ensure_writable(f"delete run {args.name!r}")
        if summary.claim is not None:
            raise CliError(
                f"Run {args.name!r} cannot be deleted while it runs ({summary.claim.describe()}). "
                "Stop it first, or wait for it to finish."
            )
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError(
                    f"Deleting run {args.name!r} ({summary.n_ok} answers) needs a yes: pass "
                    "--yes (no terminal to ask in).",
                    EXIT_USAGE,
                )
            reply = input(
                f"Delete run {args.name!r} and its {summary.n_ok + summary.n_failed} "
                "answer(s)? [y/N] "
            )
            if reply.strip().lower() not in ("y", "yes"):
                console().print("Nothing deleted.")
                return EXIT_OK
        n = store.delete_run(args.name)
    finally:
        store.close()
    if args.json:
        print_json({"deleted": args.name, "answers": n})
    else:
        console().print(f"Deleted run {escape(repr(args.name))} and its {n} answer(s).")
    return EXIT_OK


def cmd_runs_release(args: argparse.Namespace) -> int:
    store = Store(on_busy=busy_printer(console(stderr=True)))
    try:
        store.ensure_writable(f"release run {args.name!r}")
        holder = store.release_claim(args.name)
    finally:
        store.close()
    if args.json:
        print_json({"released": args.name, "holder": holder.to_json() if holder else None})
    elif holder is None:
        console().print(f"Run {escape(repr(args.name))} is not claimed by any process.")
    else:
        console().print(
            f"Released run {escape(repr(args.name))} (it was claimed by "
            f"{escape(holder.describe())})."
        )
    return EXIT_OK


# --------------------------------------------------------------------------- report


def _answer_rows(answers: list[StoredAnswer], kind: str) -> list[dict[str, Any]]:
    if kind == "suspect":
        return [
            {
                "question_id": a.question_id,
                "key": a.question_key,
                "reason": a.answer.suspect if a.answer else "",
                "off_option_mass": a.answer.off_option_mass if a.answer else None,
                "estimator": a.answer.estimator if a.answer else "",
            }
            for a in answers
        ]
    return [
        {
            "question_id": a.question_id,
            "key": a.question_key,
            "error": a.error or "",
            "attempts": a.attempts,
            "updated_at": a.updated_at,
        }
        for a in answers
    ]


def _print_listing(args: argparse.Namespace, store: Store) -> int:
    """``report NAME --suspect`` / ``--failed``: the answers themselves, no scores."""
    from rich.table import Table
    from rich.text import Text

    data: dict[str, Any] = {"run": args.name}
    if args.suspect:
        data["suspect"] = _answer_rows(store.suspect_answers(args.name), "suspect")
    if args.failed:
        data["failed"] = _answer_rows(store.answers(args.name, status="failed"), "failed")
    if args.json:
        print_json(data)
        return EXIT_OK
    con = console()
    if args.suspect:
        rows = data["suspect"]
        t = Table(
            title=Text(
                f"{len(rows)} suspect answer(s) in {args.name} (left out of scores "
                "unless --include-suspect)"
            ),
            title_justify="left",
        )
        t.add_column("question", justify="right")
        t.add_column("off-option", justify="right")
        t.add_column("estimator")
        t.add_column("reason", overflow="fold")
        for r in rows:
            off = r["off_option_mass"]
            t.add_row(
                str(r["question_id"]),
                "" if off is None else f"{off:.1%}",
                Text(r["estimator"]),
                Text(r["reason"]),
            )
        con.print(t)
    if args.failed:
        rows = data["failed"]
        t = Table(
            title=Text(
                f"{len(rows)} failed question(s) in {args.name} (asked again when the run resumes)"
            ),
            title_justify="left",
        )
        t.add_column("question", justify="right")
        t.add_column("attempts", justify="right")
        t.add_column("last tried")
        t.add_column("error", overflow="fold")
        for r in rows:
            t.add_row(
                str(r["question_id"]), str(r["attempts"]), Text(r["updated_at"]), Text(r["error"])
            )
        con.print(t)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    if args.compare and not args.html:
        raise CliError(
            "--compare adds a comparison to the HTML report (--html OUT.html). In the terminal, "
            f"compare two runs with 'goqa compare {args.compare} {args.name}'.",
            EXIT_USAGE,
        )
    with Store(read_only=True) as store:
        return _report(args, store)


def _report(args: argparse.Namespace, store: Store) -> int:
    store.summary(args.name)  # an unknown run is the first thing to say
    if args.suspect or args.failed:
        return _print_listing(args, store)
    ds = load_dataset(args)
    run = runs.load_run(
        store,
        ds,
        args.name,
        policy=args.policy,
        include_suspect=args.include_suspect,
        min_questions=args.min_questions,
        metric=args.metric,
    )
    print_match_note(run.match, run.name)
    run.check_reportable()
    run = runs.with_statistics(
        ds, run, n_resamples=args.resamples, seed=args.seed, min_shared=args.min_shared
    )
    # Runs of the same questions made with other estimators: the estimator audit section.
    try:
        est = audit_uc.report_audit(
            store,
            ds,
            args.name,
            policy=run.policy,
            include_suspect=args.include_suspect,
            seed=args.seed,
            resamples=args.resamples,
        )
    except audit_uc.AuditError as exc:
        est = None
        console(stderr=True).print(f"[yellow]note:[/] {escape(str(exc))}", soft_wrap=True)
    figures = audit_uc.run_figures(store, run)
    stability = runs.rank_stability(ds, run) if args.metrics else None
    if args.html:
        _write_html(args, store, ds, run, est, stability)
    if args.json:
        data = run.to_json(args.top)
        data["estimator"] = {
            "name": run.manifest.estimator,
            "settings": run.manifest.estimator_params,
            **figures.to_json(),
        }
        if est is not None:
            data["audit"] = est.to_json()
        if stability is not None:
            data["rank_stability"] = stability.to_json()
        print_json(data)
        return EXIT_OK
    manifest = run.manifest
    con = console()
    con.print(
        f"[bold]{escape(manifest.name)}[/] · "
        + escape(
            f"{manifest.condition} · {manifest.backend} ({manifest.model}) · template "
            f"{manifest.template} · estimator {manifest.estimator} · policy {run.policy} · "
            f"metric {run.metric} · {run.scores.n_questions_scored} questions"
        )
    )
    for label, sentence in figures.summary():
        con.print(f"[dim]{escape(label)}:[/] {escape(sentence)}", soft_wrap=True)
    if run.suspect_left_out:
        con.print(_suspect_left_out(run.suspect_left_out, args.name), soft_wrap=True)
    if run.n_failed:
        con.print(
            f"[red]{run.n_failed} failed question(s)[/] not scored ('goqa report "
            f"{escape(args.name)} --failed' gives the reasons; running the run again retries "
            "them).",
            soft_wrap=True,
        )
    assert run.statistics is not None
    con.print(
        leaderboard(
            run.scores,
            f"Country scores: {metric_title(run.metric)}",
            args.top,
            run.uniform,
            run.statistics.intervals,
            run.statistics.baselines,
        )
    )
    if args.map:
        from core import worldmap

        grid = worldmap.load_grid("small" if con.width < 150 else "large")
        values = {k: v for k, (v, _) in worldmap.values_from_scores(run.scores.countries).items()}
        lo, hi = worldmap.map_range(grid, values)
        if not metrics.HIGHER_IS_BETTER[run.metric]:
            lo, hi = hi, lo  # a divergence: the lowest (best) draws darkest
        for line in worldmap.render_ascii(grid, values, lo, hi):
            con.print(line, highlight=False, markup=False)
        con.print(worldmap.ascii_legend(lo, hi), highlight=False, markup=False)
    st = run.statistics
    if st.calibration is not None:
        con.print(f"\n[bold]Calibration:[/] {escape(st.calibration_summary())}", soft_wrap=True)
    if st.splits is not None:
        con.print(_splits_table(st.splits))
    if stability is not None:
        _print_stability(con, stability, args.top)
    if est is not None:
        print_audit(est, top_countries=args.top, con=con)
    return EXIT_OK


def _splits_table(splits: Any) -> Any:
    """Where the model is good and bad: the mean score of each group of questions."""
    from rich import box
    from rich.table import Table

    unit = "KL bits, lower is better" if not splits.higher_is_better else "mean over countries"
    t = Table(
        title=f"By kind of question ({unit})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("split", no_wrap=True)
    t.add_column("group", no_wrap=True)
    t.add_column("score", justify="right", no_wrap=True)
    t.add_column("questions", justify="right", no_wrap=True)
    t.add_column("countries", justify="right", no_wrap=True)
    t.add_row("all", "all", _opt_num(splits.overall.mean), str(splits.overall.n_questions),
              str(len(splits.overall.countries)))  # fmt: skip
    names = {"entropy": "human entropy", "source": "source", "scale": "scale"}
    for split in splits.splits:
        for group in split.groups:
            t.add_row(
                names.get(split.name, split.name),
                group.label,
                _opt_num(group.mean),
                str(group.n_questions),
                str(len(group.countries)),
            )
    t.caption = (
        "consensus / contested: the thirds of the run's questions with the least / most "
        "disagreement within countries"
    )
    t.caption_justify = "left"
    return t


def _opt_num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _print_stability(con: Any, stability: Any, top: int | None) -> None:
    """``report --metrics all``: Kendall's τ between every two metrics, and the movers."""
    from rich import box
    from rich.table import Table

    names = list(stability.metrics)
    t = Table(
        title="Rank stability: Kendall's τ between the country rankings of two metrics",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("", no_wrap=True)
    for name in names:
        t.add_column(name, justify="right", no_wrap=True)
    for a in names:
        cells = [a]
        for b in names:
            if a == b:
                cells.append("1")
                continue
            tau = stability.agreement(a, b).tau
            cells.append("—" if tau is None else f"{tau:.2f}")
        t.add_row(*cells)
    con.print(t)
    movers = stability.movers[:top] if top else stability.movers
    if not movers:
        return
    m = Table(
        title="Countries whose rank moves most with the metric",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    m.add_column("country", no_wrap=True, overflow="ellipsis", max_width=24)
    m.add_column("ranks", justify="right", no_wrap=True)
    m.add_column("best under", no_wrap=True)
    m.add_column("worst under", no_wrap=True)
    for mv in movers:
        ranks = dict(mv.ranks)
        low, high = min(ranks.values()), max(ranks.values())
        m.add_row(mv.display, f"{low}–{high}", mv.best_metric, mv.worst_metric)
    con.print(m)


def _write_html(
    args: argparse.Namespace,
    store: Store,
    ds: Any,
    run: runs.LoadedRun,
    est: audit_uc.EstimatorAudit | None = None,
    stability: Any = None,
) -> None:
    """``report --html OUT [--compare OTHER]``: the same loaded run, as one HTML file."""
    from core import report_html, worldmap

    out = Path(args.html)
    exports.check_output(out, exports.protected_files(store, ds), args.force)
    comparison = None
    if args.compare:
        other = runs.load_run(
            store,
            ds,
            args.compare,
            policy=run.policy,
            include_suspect=args.include_suspect,
            metric=run.metric,
        )
        print_match_note(other.match, other.name)
        comparison = runs.compare_loaded(ds, run, other, n_resamples=args.resamples, seed=args.seed)
    html = report_html.render_run(
        run, worldmap.load_grid("large"), comparison, top=args.top, audit=est, stability=stability
    )
    exports.write_output(out, lambda fh: fh.write(html), store=store, dataset=ds, force=args.force)
    console(stderr=True).print(f"Wrote {escape(str(out))}")


# --------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    with Store(read_only=True) as store:
        return _export(args, store)


def _export(args: argparse.Namespace, store: Store) -> int:
    store.summary(args.name)  # an unknown run is the first thing to say
    ds = load_dataset(args)
    result = exports.export_run(
        store,
        ds,
        args.name,
        Path(args.out),
        args.format,
        force=args.force,
        include_suspect=args.include_suspect,
    )
    print_match_note(result.match, args.name)
    err = console(stderr=True)
    err.print(
        f"Exported {result.n_answers} answers and {result.n_similarities} similarities to "
        f"{escape(str(result.path))}",
        soft_wrap=True,
    )
    if result.suspect_left_out:
        err.print(_suspect_left_out(result.suspect_left_out, args.name), soft_wrap=True)
    return EXIT_OK


# --------------------------------------------------------------------------- translate


def cmd_translate(args: argparse.Namespace) -> int:
    from core import translate as tr

    ds = load_dataset(args)
    store = Store(on_busy=busy_printer(console(stderr=True)))
    try:
        store.ensure_writable("store translations")
        return _translate(args, ds, store, tr)
    finally:
        store.close()


def _translate(args: argparse.Namespace, ds: Any, store: Store, tr: Any) -> int:
    if args.import_file:
        n, problems = tr.import_file(Path(args.import_file), ds, store)
        for p in problems:
            console(stderr=True).print(
                f"[yellow]{escape(args.import_file)}:[/] {escape(p)}", soft_wrap=True
            )
        if not n:
            raise CliError(
                f"No translation imported from {args.import_file}. Each line must be a JSON "
                'object {"key": QUESTION_KEY, "language": "ru", "question": "...", "options": '
                "[one string per option]} (keys are listed by 'goqa questions --json')."
            )
        console().print(f"Imported {n} human translations.")
        return EXIT_OK
    if not (args.language or "").strip():
        raise CliError("Give --language CODE (e.g. ru, zh, tr) or --import FILE.jsonl.", EXIT_USAGE)
    cfg = load_config(args)
    positions = ds.filter(args.search, args.source, None)
    if args.limit:
        positions = positions[: args.limit]
    questions = [ds.at(p) for p in positions]
    name, bcfg, backend = open_backend(cfg, args.backend)
    con = console(stderr=True)
    con.print(
        escape(
            f"Translating {len(questions)} questions into {tr.language_name(args.language)} "
            f"with {name} ({backend.model})…"
        )
    )

    async def go() -> Any:
        try:
            return await tr.translate(
                questions,
                args.language,
                backend,
                name,
                store,
                concurrency=bcfg.concurrency,
                back_translate=args.back_translate,
                force=args.force,
            )
        finally:
            await backend.aclose()

    outcome = asyncio.run(go())
    for key, reason in outcome.failed[:20]:
        con.print(f"[yellow]{escape(str(key))}[/]: {escape(str(reason))}", soft_wrap=True)
    console().print(
        f"{outcome.translated} translated, {outcome.skipped} already stored, "
        f"{len(outcome.failed)} failed"
        + (f", {outcome.doubtful} doubtful after back-translation" if args.back_translate else "")
    )
    return EXIT_FAIL if outcome.failed else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from tui.app import run_app

    return run_app(dataset_spec=args.dataset, demo=True, condition=args.condition)


# --------------------------------------------------------------------------- parsers


def _add_include_suspect(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include-suspect",
        action="store_true",
        help="score suspect answers too (too much probability off the option letters, or a "
        "chat server that ignored the prefill); left out by default",
    )


def register(sub: Any) -> None:
    """Add these commands to the ``goqa`` subparsers ``sub``."""
    p = sub.add_parser("config", help="where the config is, what it says, whether backends answer")
    p.add_argument("action", choices=["path", "show", "check"])
    p.add_argument("--config", help="config file (default: the platformdirs location)")
    p.add_argument("--backend", help="check only this backend")
    add_json(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("ask", help="ask the model one question")
    p.add_argument("id", help="question id or key")
    add_common(p)
    add_estimator(p, allow_all=True)
    add_json(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("run", help="ask many questions, store and score them (resumable)")
    p.add_argument("--name", help="run name; the same name again resumes")
    add_common(p)
    add_estimator(p)
    p.add_argument("--source", choices=["GAS", "WVS"], type=str.upper)
    p.add_argument("--search", help="only questions containing this text")
    p.add_argument("--country", help="only questions asked in this country")
    p.add_argument(
        "--limit", type=non_negative_int, default=0, help="first N matching questions (0 = all)"
    )
    p.add_argument(
        "--concurrency",
        type=concurrency_int,
        default=0,
        help="requests in flight (0 = the backend's concurrency)",
    )
    p.add_argument(
        "--min-questions",
        type=positive_int,
        default=1,
        help="leave out countries scored on fewer questions (default 1)",
    )
    p.add_argument("--top", type=positive_int, default=10, help="countries to show (default 10)")
    _add_include_suspect(p)
    add_json(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list stored runs; delete one, or release a stale claim")
    add_json(p)
    p.set_defaults(func=cmd_runs)
    actions = p.add_subparsers(dest="runs_action", metavar="ACTION")
    d = actions.add_parser("delete", help="delete a run and its answers (asks first)")
    d.add_argument("name", help="the run to delete")
    d.add_argument("--yes", "-y", action="store_true", help="delete without asking")
    add_json(d)
    d.set_defaults(func=cmd_runs_delete)
    d = actions.add_parser(
        "release", help="release a run claimed by a goqa that is gone (e.g. on another machine)"
    )
    d.add_argument("name", help="the run to release")
    add_json(d)
    d.set_defaults(func=cmd_runs_release)

    p = sub.add_parser("report", help="per-country scores of a stored run, with 95% CIs")
    p.add_argument("name")
    add_dataset(p)
    p.add_argument("--top", type=positive_int, default=None, help="countries to show")
    p.add_argument(
        "--min-questions",
        type=positive_int,
        default=1,
        help="leave out countries scored on fewer questions (default 1)",
    )
    p.add_argument("--policy", choices=metrics.POLICIES, help="override the run's policy")
    p.add_argument(
        "--resamples", type=positive_int, default=1000, help="bootstrap resamples (default 1000)"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed")
    p.add_argument(
        "--min-shared",
        type=positive_int,
        default=5,
        help="questions for 'best other country' (default 5)",
    )
    add_metric(p)
    p.add_argument(
        "--metrics",
        choices=["all"],
        help="'all': also rank the countries under every metric, with Kendall's τ between "
        "every two and the countries whose rank moves most",
    )
    p.add_argument("--map", action="store_true", help="draw a world map of the scores")
    p.add_argument("--html", help="write a self-contained HTML report to this file")
    p.add_argument("--compare", help="with --html: another run to compare against")
    p.add_argument("--force", action="store_true", help="with --html: replace an existing file")
    _add_include_suspect(p)
    p.add_argument(
        "--suspect",
        action="store_true",
        help="list the suspect answers (question, reason, off-option mass) instead of scores",
    )
    p.add_argument(
        "--failed", action="store_true", help="list the failed questions and their errors"
    )
    add_json(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write a run's distributions and similarities")
    p.add_argument("name")
    add_dataset(p)
    p.add_argument("--format", choices=exports.FORMATS, default="jsonl")
    p.add_argument("--out", required=True, help="output file (never the store or the dataset)")
    p.add_argument("--force", action="store_true", help="replace the output file if it exists")
    _add_include_suspect(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("translate", help="translations for language:CODE runs")
    p.add_argument("--language", help="target language code, e.g. ru, zh, tr")
    p.add_argument("--import", dest="import_file", help="import human translations (JSONL)")
    p.add_argument("--backend", help="backend that translates (default: default_backend)")
    p.add_argument("--config", help="config file")
    p.add_argument("--back-translate", action="store_true", help="flag doubtful translations")
    p.add_argument("--force", action="store_true", help="translate again even if stored")
    p.add_argument("--source", choices=["GAS", "WVS"], type=str.upper)
    p.add_argument("--search")
    p.add_argument(
        "--limit", type=non_negative_int, default=0, help="first N matching questions (0 = all)"
    )
    add_dataset(p)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("demo", help="open the app in presentation mode")
    add_dataset(p)
    p.add_argument("--condition", default="default")
    p.set_defaults(func=cmd_demo)
