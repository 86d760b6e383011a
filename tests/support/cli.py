"""Driving ``goqa`` from the tests: in this process (captured), or as the console script."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.main import main

from .fakeserver import FakeServer


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``goqa ARGV`` run in this process.

    A traceback on stderr fails the test: a user never sees one, whatever the exit code.
    """
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> Any:
    """The parsed stdout of ``goqa ARGV --json``, which must exit with ``code``."""
    got, out, err = run_cli(capsys, *argv, "--json")
    assert got == code, err
    return json.loads(out)


def write_config(isolated_dirs: dict[str, Path], server: FakeServer, **extra: object) -> Path:
    """``GOQA_CONFIG_DIR/config.toml`` with a ``[backends.fake]`` table for ``server``."""
    lines = [
        "[backends.fake]",
        'kind = "openai"',
        f'base_url = "{server.base_url}"',
        'model = "m"',
        'mode = "completions"',
        "concurrency = 8",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    path = isolated_dirs["config"] / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def flat(text: str) -> str:
    """``text`` with every run of whitespace (a wrapped line, too) as one space."""
    return " ".join(text.split())


def goqa_command() -> list[str]:
    """The argv prefix that runs the installed ``goqa`` console script (or its equivalent)."""
    script = Path(sys.executable).with_name("goqa")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import main; raise SystemExit(main())"]
