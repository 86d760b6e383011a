"""``goqa`` commands that ask models and read stored runs: config, ask, run, runs, report,
export.

Registered into the parser of :mod:`tui.cli`; each command is a thin wrapper over
``core.runner`` and ``core.store``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core import config as configmod
from core import countries, metrics, paths
from core.backends.base import Answer, Backend
from core.backends.retry import RetryPolicy
from core.prompts import TEMPLATE_NAMES, Condition
from core.runner import ask_cached, prompt_builder, run, run_answers, run_scores
from core.store import Store
from tui.cli import (
    EXIT_FAIL,
    EXIT_OK,
    CliError,
    _add_dataset,
    _add_json,
    _console,
    _distribution_rows,
    _escape,
    _leaderboard,
    _load_dataset,
    _print_json,
    register,
)


def _config(args: argparse.Namespace) -> configmod.Config:
    return configmod.load(Path(args.config) if getattr(args, "config", None) else None)


def _backend(
    cfg: configmod.Config, name: str | None
) -> tuple[str, configmod.BackendConfig, Backend]:
    from core.backends import make_backend

    bcfg = cfg.backend(name)
    return bcfg.name, bcfg, make_backend(bcfg)


def _add_common(p: argparse.ArgumentParser, condition: bool = True) -> None:
    _add_dataset(p)
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


# --------------------------------------------------------------------------- config


def cmd_config(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else paths.config_file()
    if args.action == "path":
        print(path)
        return EXIT_OK
    cfg = configmod.load(path)
    if args.action == "show":
        data = {
            "path": str(path),
            "exists": path.exists(),
            "default_backend": cfg.default_backend,
            "template": cfg.template,
            "policy": cfg.policy,
            "theme": cfg.theme,
            "backends": {n: b.public() for n, b in cfg.backends.items()},
        }
        for b in data["backends"].values():
            env = b.get("api_key_env")
            b["api_key"] = ("set (hidden)" if _env_set(env) else "NOT SET") if env else "none"
        if args.json:
            _print_json(data)
        else:
            from rich.table import Table

            con = _console()
            con.print(
                f"[bold]{path}[/] {'(exists)' if path.exists() else '(not created yet: defaults)'}"
            )
            con.print(
                f"default_backend={cfg.default_backend} template={cfg.template} policy={cfg.policy} theme={cfg.theme}"
            )
            t = Table()
            for col in ("name", "kind", "mode", "model", "base_url", "api key", "concurrency"):
                t.add_column(col)
            for n, b in data["backends"].items():
                env = b["api_key_env"]
                key = f"${env}: {b['api_key']}" if env else "—"
                t.add_row(
                    n, b["kind"], b["mode"], b["model"], b["base_url"], key, str(b["concurrency"])
                )
            con.print(t)
        return EXIT_OK
    # check
    results = asyncio.run(_check_backends(cfg, args.backend))
    if args.json:
        _print_json(results)
    else:
        con = _console()
        for r in results:
            if r["ok"]:
                lp = (
                    "logprobs returned" if r["estimator"] != "sampling" else "no logprobs: sampling"
                )
                con.print(
                    f"[green]✓[/] {r['backend']} ({r['kind']}, {r['model']}): {lp}, {r['latency_s']:.2f}s"
                )
            else:
                con.print(f"[red]✗[/] {r['backend']} ({r['kind']}): {r['error']}")
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAIL


def _env_set(name: str | None) -> bool:
    import os

    return bool(name and os.environ.get(name))


async def _check_backends(cfg: configmod.Config, only: str | None) -> list[dict[str, Any]]:
    from core.backends import make_backend
    from core.backends.base import BackendError
    from core.prompts import render

    names = [only] if only else list(cfg.backends)
    out = []
    probe = render(text="Is the sky blue?", options=("Yes", "No"))
    for name in names:
        bcfg = cfg.backend(name)
        row: dict[str, Any] = {"backend": name, "kind": bcfg.kind, "model": bcfg.model}
        try:
            backend = make_backend(bcfg)
            try:
                started = time.monotonic()
                answer = await backend.ask(probe)
                row.update(
                    ok=True, estimator=answer.estimator, latency_s=time.monotonic() - started
                )
            finally:
                await backend.aclose()
        except (BackendError, configmod.ConfigError) as exc:
            row.update(ok=False, error=str(exc))
        out.append(row)
    return out


# --------------------------------------------------------------------------- ask


def cmd_ask(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    cfg = _config(args)
    q = ds.find(args.id)
    condition = Condition.parse(args.condition)
    template = args.template or cfg.template
    policy = args.policy or cfg.policy
    store = Store()
    build = prompt_builder(ds, condition, template, store, [q])
    name, bcfg, backend = _backend(cfg, args.backend)

    async def go() -> tuple[Answer, bool]:
        try:
            return await ask_cached(
                backend, build(q), store, RetryPolicy(max_retries=bcfg.max_retries)
            )
        finally:
            await backend.aclose()

    answer, cached = asyncio.run(go())
    pos = ds.key_index[q.key]
    row = np.zeros((1, ds.kmax))
    row[0, : len(answer.probs)] = answer.probs
    pairs = metrics.pair_similarities(ds, np.array([pos]), row, policy)  # type: ignore[arg-type]
    order = np.argsort(-pairs.similarity, kind="stable")
    closest = [
        {
            "country": ds.countries[pairs.country[i]],
            "display": countries.resolve(ds.countries[pairs.country[i]]).label,
            "similarity": float(pairs.similarity[i]),
        }
        for i in order[:5]
    ]
    if args.json:
        _print_json(
            {
                "question": {"id": q.id, "key": q.key, "text": q.text, "options": list(q.options)},
                "condition": str(condition),
                "backend": name,
                "template": template,
                "cached": cached,
                "answer": answer.to_json(),
                "closest_countries": closest,
            }
        )
        return EXIT_OK
    con = _console()
    con.print(
        f"[bold]#{q.id}[/] [dim]{q.source} · {condition} · {name} ({backend.model}) · {template}[/]"
    )
    con.print(q.text)
    series = [("model", answer.probs)]
    for c in closest[:3]:
        dist = q.distribution(c["country"])
        if dist is not None:
            series.append((f"{c['display']} ({c['similarity']:.3f})", dist))
    con.print(_distribution_rows(q.options, list(q.nonsubstantive), series))
    est = answer.estimator + (f" n={answer.samples}" if answer.estimator == "sampling" else "")
    con.print(
        f"[dim]estimator {est} · off-option mass {answer.off_option_mass:.1%}"
        f"{' · truncated top-k' if answer.truncated else ''}"
        f"{' · from cache' if cached else f' · {answer.latency_s:.2f}s'}"
        f"{' · ' + answer.note if answer.note else ''}[/]"
    )
    con.print("[bold]Most similar countries[/]")
    for i, c in enumerate(closest, start=1):
        con.print(f"  {i}. {c['display']:<32} {c['similarity']:.4f}")
    return EXIT_OK


# --------------------------------------------------------------------------- run


def default_run_name(condition: Condition, backend: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    cond = str(condition).replace(":", "-").replace(" ", "_")
    return f"{cond}-{backend}-{stamp}"


def cmd_run(args: argparse.Namespace) -> int:
    ds = _load_dataset(args)
    cfg = _config(args)
    condition = Condition.parse(args.condition)
    template = args.template or cfg.template
    policy = args.policy or cfg.policy
    country_key = countries.match(args.country, ds.countries).key if args.country else None
    positions = ds.filter(args.search, args.source, country_key)
    if args.limit:
        positions = positions[: args.limit]
    if not positions:
        raise CliError("No question matches the filters; nothing to run.")
    name, bcfg, backend = _backend(cfg, args.backend)
    run_name = args.name or default_run_name(condition, name)
    concurrency = args.concurrency or bcfg.concurrency
    store = Store()
    selection = {
        "search": args.search,
        "source": args.source,
        "country": args.country,
        "limit": args.limit,
    }

    async def go(on_progress: Any) -> Any:
        try:
            return await run(
                name=run_name,
                dataset=ds,
                positions=positions,
                backend=backend,
                backend_name=name,
                condition=condition,
                template=template,
                store=store,
                policy=policy,
                concurrency=concurrency,
                max_retries=bcfg.max_retries,
                selection=selection,
                on_progress=on_progress,
            )
        finally:
            await backend.aclose()

    if args.json:
        outcome = asyncio.run(go(None))
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        con = _console(stderr=True)
        con.print(
            f"Run [bold]{run_name}[/]: {len(positions)} questions · {condition} · backend {name} "
            f"({backend.model}) · concurrency {concurrency}"
        )
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=con,
        ) as progress:
            task = progress.add_task("asking", total=len(positions), status="")

            def on_progress(p: Any, fresh: int) -> None:
                eta = p.eta(fresh)
                status = (
                    f"failed {p.failed} · {p.rate(fresh):.2f} q/s · ETA "
                    f"{'—' if eta is None else f'{eta:.0f}s'}"
                )
                progress.update(task, completed=p.done + p.failed, status=status)

            outcome = asyncio.run(go(on_progress))
    if outcome.failed:
        errors = Counter(a.error or "" for a in store.answers(run_name, status="failed"))
        err = _console(stderr=True)
        for error, count in errors.most_common(3):
            err.print(f"[red]{count} failed:[/] {_escape(error)}", soft_wrap=True)
        if args.json:
            err.print(f"Fix the cause, then run again with --name {run_name} to retry them.")
    scores = run_scores(store, ds, run_name, policy, args.min_questions)
    data = {
        "run": outcome.manifest.to_json(),
        "total": outcome.total,
        "answered": outcome.answered,
        "failed": outcome.failed,
        "already_done": outcome.already_done,
        "from_cache": outcome.cached,
        "seconds": outcome.seconds,
        **scores.to_json(),
    }
    if args.json:
        data["countries"] = data["countries"][: args.top] if args.top else data["countries"]
        _print_json(data)
    else:
        con = _console()
        con.print(
            f"[green]{outcome.answered}[/] answered ({outcome.already_done} before, "
            f"{outcome.cached} from cache), [red]{outcome.failed}[/] failed, "
            f"{outcome.seconds:.1f}s"
        )
        if outcome.failed:
            con.print(
                f"Failed questions keep their error; run again with --name {run_name} to retry them."
            )
        con.print(_leaderboard(scores, f"Top countries · {run_name}", args.top))
    return EXIT_FAIL if outcome.failed else EXIT_OK


# --------------------------------------------------------------------------- runs/report/export


def cmd_runs(args: argparse.Namespace) -> int:
    store = Store()
    runs = store.runs()
    if args.json:
        _print_json(
            [
                {
                    **r.manifest.to_json(),
                    "answered": r.n_ok,
                    "failed": r.n_failed,
                    "planned": r.planned,
                }
                for r in runs
            ]
        )
        return EXIT_OK
    if not runs:
        _console().print("No runs yet. Start one with: goqa run --name NAME --limit 20")
        return EXIT_OK
    from rich.table import Table

    t = Table(title=f"Runs in {store.path}", title_justify="left")
    for col in (
        "name",
        "condition",
        "backend",
        "model",
        "template",
        "answered",
        "failed",
        "created",
    ):
        t.add_column(col)
    for r in runs:
        m = r.manifest
        t.add_row(
            m.name,
            m.condition,
            m.backend,
            m.model,
            m.template,
            f"{r.n_ok}/{r.planned}",
            str(r.n_failed),
            m.created_at,
        )
    _console().print(t)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from core import stats

    store = Store()
    manifest = store.manifest(args.name)
    ds = _load_dataset(args)
    if ds.sha256 != manifest.dataset_sha256:
        raise CliError(
            f"Run {args.name!r} was made on dataset {manifest.dataset!r} "
            f"({manifest.dataset_sha256[:12]}); pass --dataset {manifest.dataset} to report it."
        )
    policy = args.policy or manifest.policy
    scores = run_scores(store, ds, args.name, policy, args.min_questions)
    if not scores.countries:
        raise CliError(f"Run {args.name!r} has no answered questions yet; nothing to report.")
    intervals = stats.bootstrap(
        ds,
        scores.pairs,
        n_resamples=args.resamples,
        seed=args.seed,
        min_questions=args.min_questions,
    )
    positions = np.unique(scores.pairs.position)
    base = metrics.uniform_baseline(ds, positions, policy)  # type: ignore[arg-type]
    others = stats.baselines(ds, positions, policy, min_shared=args.min_shared)  # type: ignore[arg-type]
    data: dict[str, Any] = {
        **stats.scores_json_with_intervals(scores, intervals),
        "run": manifest.to_json(),
    }
    for row in data["countries"]:
        b, o = base.get(row["country"]), others.get(row["country"])
        row["uniform"] = b.similarity if b else None
        row["best_other"] = o.best_other if o else None
        row["best_other_similarity"] = o.best_other_similarity if o else None
    if args.top:
        data["countries"] = data["countries"][: args.top]
    if args.html:
        from core import report_html, worldmap

        html = report_html.render_report(
            manifest.to_json(),
            data,
            worldmap.load_grid("large"),
            compare=_compare_json(args, ds, store),
        )
        try:
            Path(args.html).write_text(html, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"Cannot write {args.html!r}: {exc.strerror or exc}.") from None
        _console(stderr=True).print(f"Wrote {args.html}")
    if args.json:
        _print_json(data)
        return EXIT_OK
    con = _console()
    con.print(
        f"[bold]{manifest.name}[/] · {manifest.condition} · {manifest.backend} "
        f"({manifest.model}) · template {manifest.template} · policy {policy} · "
        f"{scores.n_questions_scored} questions"
    )
    con.print(
        _leaderboard(
            scores,
            "Country similarity (1 − Jensen–Shannon distance)",
            args.top,
            base,
            intervals,
            others,
        )
    )
    if args.map:
        from core import worldmap

        grid = worldmap.load_grid("small" if con.width < 150 else "large")
        values = {k: v for k, (v, _) in worldmap.values_from_scores(scores.countries).items()}
        lo, hi = worldmap.map_range(grid, values)
        for line in worldmap.render_ascii(grid, values, lo, hi):
            con.print(line, highlight=False, markup=False)
        con.print(worldmap.ascii_legend(lo, hi), highlight=False, markup=False)
    return EXIT_OK


def _diagnostics_json(ds: Any, store: Store, name: str, policy: str) -> dict[str, Any]:
    from core import diagnostics

    ra = run_answers(store, ds, name)
    over = diagnostics.overconfidence(ds, ra.positions, ra.probs, policy)  # type: ignore[arg-type]
    off = [a.off_option_mass for a in ra.answers]
    return {
        "figures": {
            "questions answered": len(ra.positions),
            "mean model entropy (bits)": over.mean_model_entropy,
            "mean human entropy (bits)": over.mean_human_entropy,
            "share overconfident (>90% on one option, no country so)": over.share_overconfident,
            "mean off-option mass": float(np.mean(off)) if off else 0.0,
        }
    }


def _compare_json(args: argparse.Namespace, ds: Any, store: Store) -> dict[str, Any] | None:
    if not getattr(args, "compare", None):
        return None
    from core import stats

    a, b = run_answers(store, ds, args.name), run_answers(store, ds, args.compare)
    return stats.compare(
        ds,
        a,
        b,
        policy=store.manifest(args.name).policy,
        label_a=args.name,
        label_b=args.compare,  # type: ignore[arg-type]
    ).to_json()


def cmd_export(args: argparse.Namespace) -> int:
    store = Store()
    manifest = store.manifest(args.name)
    ds = _load_dataset(args)
    ra = run_answers(store, ds, args.name)
    pairs = metrics.pair_similarities(ds, ra.positions, ra.probs, manifest.policy)  # type: ignore[arg-type]
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fh = out.open("w", encoding="utf-8", newline="" if args.format == "csv" else None)
    except OSError as exc:
        raise CliError(f"Cannot write {str(out)!r}: {exc.strerror or exc}.") from None
    if args.format == "jsonl":
        with fh:
            for pos, answer in zip(ra.positions, ra.answers, strict=True):
                sel = pairs.position == pos
                fh.write(
                    json.dumps(
                        {
                            "question_id": ds.ids[pos],
                            "key": ds.keys[pos],
                            "probs": [float(x) for x in answer.probs],
                            "off_option_mass": float(answer.off_option_mass),
                            "estimator": answer.estimator,
                            "similarity": {
                                ds.countries[c]: float(s)
                                for c, s in zip(
                                    pairs.country[sel], pairs.similarity[sel], strict=True
                                )
                            },
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    else:
        with fh:
            w = csv.writer(fh)
            kmax = ds.kmax
            w.writerow(
                [
                    "row_type",
                    "question_id",
                    "key",
                    "country",
                    "similarity",
                    "off_option_mass",
                    "estimator",
                ]
                + [f"p_{chr(65 + k)}" for k in range(kmax)]
            )
            for pos, answer in zip(ra.positions, ra.answers, strict=True):
                probs = [f"{x:.10g}" for x in answer.probs] + [""] * (kmax - len(answer.probs))
                w.writerow(
                    [
                        "model",
                        ds.ids[pos],
                        ds.keys[pos],
                        "",
                        "",
                        f"{answer.off_option_mass:.10g}",
                        answer.estimator,
                    ]
                    + probs
                )
            for pos, c, s in zip(pairs.position, pairs.country, pairs.similarity, strict=True):
                w.writerow(
                    ["similarity", ds.ids[pos], ds.keys[pos], ds.countries[c], f"{s:.10g}", "", ""]
                    + [""] * kmax
                )
    msg = f"Exported {len(ra.positions)} answers and {len(pairs.similarity)} similarities to {out}"
    _console(stderr=True).print(msg)
    return EXIT_OK


def cmd_translate(args: argparse.Namespace) -> int:
    from core import translate as tr

    ds = _load_dataset(args)
    store = Store()
    if args.import_file:
        n, problems = tr.import_file(Path(args.import_file), ds, store)
        for p in problems:
            _console(stderr=True).print(
                f"[yellow]{_escape(args.import_file)}:[/] {_escape(p)}", soft_wrap=True
            )
        if problems and not n:
            raise CliError(
                f"No translation imported from {args.import_file}. Each line must be a JSON "
                'object {"key": QUESTION_KEY, "language": "ru", "question": "...", "options": '
                "[one string per option]} (keys are listed by 'goqa questions --json')."
            )
        _console().print(f"Imported {n} human translations.")
        return EXIT_OK
    if not args.language:
        raise CliError("Give --language CODE (e.g. ru, zh, tr) or --import FILE.jsonl.")
    cfg = _config(args)
    positions = ds.filter(args.search, args.source, None)
    if args.limit:
        positions = positions[: args.limit]
    questions = [ds.at(p) for p in positions]
    name, bcfg, backend = _backend(cfg, args.backend)
    con = _console(stderr=True)
    con.print(
        f"Translating {len(questions)} questions into {tr.language_name(args.language)} "
        f"with {name} ({backend.model})…"
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
        con.print(f"[yellow]{key}[/]: {reason}")
    _console().print(
        f"{outcome.translated} translated, {outcome.skipped} already stored, "
        f"{len(outcome.failed)} failed"
        + (f", {outcome.doubtful} doubtful after back-translation" if args.back_translate else "")
    )
    return EXIT_FAIL if outcome.failed else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from tui.app import run_app

    return run_app(dataset_spec=args.dataset, demo=True, condition=args.condition)


@register
def _parsers(sub: Any) -> None:
    p = sub.add_parser("config", help="where the config is, what it says, whether backends answer")
    p.add_argument("action", choices=["path", "show", "check"])
    p.add_argument("--config", help="config file (default: the platformdirs location)")
    p.add_argument("--backend", help="check only this backend")
    _add_json(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("ask", help="ask the model one question")
    p.add_argument("id", help="question id or key")
    _add_common(p)
    _add_json(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("run", help="ask many questions, store and score them (resumable)")
    p.add_argument("--name", help="run name; the same name again resumes")
    _add_common(p)
    p.add_argument("--source", choices=["GAS", "WVS"], type=str.upper)
    p.add_argument("--search", help="only questions containing this text")
    p.add_argument("--country", help="only questions asked in this country")
    p.add_argument("--limit", type=int, default=0, help="at most N questions")
    p.add_argument("--concurrency", type=int, default=0, help="parallel requests (backend default)")
    p.add_argument("--min-questions", type=int, default=1)
    p.add_argument("--top", type=int, default=10, help="countries to show")
    _add_json(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list stored runs")
    _add_json(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("report", help="per-country scores of a stored run, with 95% CIs")
    p.add_argument("name")
    _add_dataset(p)
    p.add_argument("--top", type=int, default=None)
    p.add_argument("--min-questions", type=int, default=1)
    p.add_argument("--policy", choices=metrics.POLICIES, help="override the run's policy")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--min-shared", type=int, default=5, help="questions for 'best other country'")
    p.add_argument("--map", action="store_true", help="draw a world map of the scores")
    p.add_argument("--html", help="write a self-contained HTML report to this file")
    p.add_argument("--compare", help="with --html: another run to compare against")
    _add_json(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write a run's distributions and similarities")
    p.add_argument("name")
    _add_dataset(p)
    p.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    p.add_argument("--out", required=True, help="output file")
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
    p.add_argument("--limit", type=int, default=0)
    _add_dataset(p)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("demo", help="open the app in presentation mode")
    _add_dataset(p)
    p.add_argument("--condition", default="default")
    p.set_defaults(func=cmd_demo)
