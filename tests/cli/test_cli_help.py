"""First contact: ``goqa --help``, every subcommand's help and ``goqa help`` print and exit 0.

The walk covers the whole parser as ``goqa`` builds it (every subcommand and sub-subcommand),
so a help string added later with a bare ``%`` fails here, not in a newcomer's terminal.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

import pytest

from cli import main as cli
from cli.common import Parser


def _parser() -> argparse.ArgumentParser:
    return cli.build_parser()


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (command path, parser) pair below ``parser``, itself included."""
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, (*path, name))
    return out


def test_the_walk_finds_every_command() -> None:
    paths = {" ".join(p) for p, _ in _commands(_parser())}
    # A wrong walk (no recursion, or none at all) misses these.
    for expected in ("", "data", "data info", "data validate", "run", "report", "help"):
        assert expected in paths
    assert len(paths) >= 20


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in _commands(_parser())])
def test_every_help_text_renders(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*path.split(), "--help"] if path else ["--help"]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: goqa")
    assert "%%" not in out  # escaped percent signs show as one


def test_a_percent_sign_in_help_is_prose() -> None:
    parser = Parser(prog="x")
    parser.add_argument("--ci", help="95% CIs, default %(default)s", default=3)
    sub = parser.add_subparsers()
    sub.add_parser("report", help="scores with 95% CIs")
    text = parser.format_help()
    assert "95% CIs, default 3" in text
    assert "scores with 95% CIs" in text


def test_report_help_mentions_the_interval(capsys: pytest.CaptureFixture[str]) -> None:
    # 'report' was the command whose "95% CIs" made argparse raise.
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "95% CIs" in capsys.readouterr().out


@pytest.mark.parametrize("topic", [[], ["run"], ["data", "info"]])
def test_help_command_prints_the_same_help(
    topic: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["help", *topic]) == 0
    via_help = capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main([*topic, "--help"])
    assert via_help == capsys.readouterr().out
    assert via_help.startswith("usage: goqa" + "".join(f" {t}" for t in topic))


def test_help_on_an_unknown_command_names_the_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["help", "data", "nope"]) == 2
    err = capsys.readouterr().err
    assert "goqa data nope" in err
    assert "validate" in err


def _goqa() -> list[str]:
    script = shutil.which("goqa", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "cli"]


@pytest.mark.parametrize(
    "argv", [["--help"], ["-h"], ["help"], ["run", "--help"], ["report", "-h"]]
)
def test_the_installed_command_prints_help(argv: list[str]) -> None:
    done = subprocess.run(
        [*_goqa(), *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: goqa")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["questions", "--limit", "-3"], "-3 is out of range"),
        (["score", "x.jsonl", "--top", "0"], "0 is out of range"),
        (["questions", "--limit", "many"], "'many' is not a whole number"),
    ],
)
def test_bad_numbers_are_refused_at_the_edge(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


def test_usage_mistakes_exit_2_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["translate"]) == 2
    assert "--language CODE" in capsys.readouterr().err
    assert cli.main(["report", "a", "--compare", "b"]) == 2
    assert "goqa compare b a" in capsys.readouterr().err
