"""The ``goqa`` command line: the parser, with every command module listed here, and the
entry point. With no command, ``goqa`` opens the terminal app.

Every known failure becomes one clear message on stderr and a non-zero exit code, never a
traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cli import data, runs, study
from cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, CliError, Parser, console, escape
from core import config as configmod
from core import countries, dataset

COMMAND_MODULES = (data, runs, study)
"""Each module's ``register(sub)`` adds its commands, in this order."""


def build_parser() -> argparse.ArgumentParser:
    """The whole ``goqa`` parser: every command of :data:`COMMAND_MODULES`, and ``help``."""
    parser = Parser(
        prog="goqa",
        description=(
            "Measure whose opinions a language model's answers resemble (GlobalOpinionQA, "
            "Durmus et al. 2023). With no command, opens the terminal app."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for module in COMMAND_MODULES:
        module.register(sub)

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
    from core.usecase_errors import UseCaseError

    errors += [MissingTranslationsError, TranslationError, UseCaseError]
    return tuple(errors)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goqa`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from tui.app import run_app

        return run_app()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        console(stderr=True).print(
            "[yellow]Interrupted.[/] Everything answered so far is stored; run the same command "
            "(same --name) to resume."
        )
        return 130
    except _known_errors() as exc:
        # escape: messages quote user input and TOML tables ("[backends.x]"), not markup.
        console(stderr=True).print(f"[red]error:[/] {escape(_message(exc))}", soft_wrap=True)
        return getattr(exc, "code", EXIT_FAIL)
