"""The ``goqa`` command line: the parser, with every command module listed here, and the
entry point. With no command, ``goqa`` opens the terminal app.

Every failure goqa can explain (a :class:`core.errors.GoqaError`) becomes one clear message
on stderr and a non-zero exit code, never a traceback; anything else is reported as a bug in
goqa, with the path of the log that holds its traceback (exit code 70).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cli import audit, data, runs, study
from cli.common import (
    EXIT_BUG,
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Parser,
    console,
    escape,
)
from core.errors import GoqaError, bug_message, record_bug

COMMAND_MODULES = (data, runs, study, audit)
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


def _report(exc: BaseException, command: str) -> int:
    """Print ``exc`` for the user and give the exit code.

    A :class:`GoqaError` explains itself (message and fix); a file system error is named with
    its path. Anything else is a bug in goqa: one line naming it and the log that holds its
    traceback, never a friendlier guess.
    """
    err = console(stderr=True)
    if isinstance(exc, GoqaError):
        # escape: messages quote user input and TOML tables ("[backends.x]"), not markup.
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return int(getattr(exc, "code", EXIT_FAIL))
    if isinstance(exc, OSError) and (exc.filename or exc.strerror):
        where = f": {exc.filename}" if exc.filename else ""
        err.print(
            f"[red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)}. "
            "Check the path and its permissions.",
            soft_wrap=True,
        )
        return EXIT_FAIL
    log = record_bug(exc, f"goqa {command}")
    err.print(f"[red]error:[/] {escape(bug_message(exc, log))}", soft_wrap=True)
    return EXIT_BUG


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
    except Exception as exc:  # noqa: BLE001 - every failure is reported, a bug as a bug
        return _report(exc, args.command)
