"""One error hierarchy: every error core raises for the user is a GoqaError with a message, a
fix and a title; anything else reaching a front end is reported as a bug, with its log."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import core
from cli import main as climain
from core.config import ConfigError
from core.dataset import UnknownQuestionError
from core.errors import GoqaError, bug_message, record_bug
from core.store import StoreBusyError
from tui.errors import BUG_TITLE, describe


def _core_modules() -> list[object]:
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    return [importlib.import_module(n) for n in names]


def test_every_error_class_in_core_is_a_goqa_error() -> None:
    found = []
    for module in _core_modules():
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and obj.__module__ == module.__name__  # type: ignore[attr-defined]
                and not name.startswith("_")  # internal signals, never shown
            ):
                found.append(obj)
                assert issubclass(obj, GoqaError), f"{obj.__module__}.{name} is not a GoqaError"
    # the dataset, config, store, backend and use-case errors are all among them
    names = {cls.__name__ for cls in found}
    assert {"DatasetError", "ConfigError", "StoreError", "BackendError", "UseCaseError"} <= names


def test_a_goqa_error_carries_message_fix_and_title() -> None:
    exc = GoqaError("Cannot write 'x': the file exists.", "Pass --force.", title="File exists")
    assert str(exc) == "Cannot write 'x': the file exists. Pass --force."
    assert (exc.message, exc.fix, exc.title) == (
        "Cannot write 'x': the file exists.",
        "Pass --force.",
        "File exists",
    )
    # a KeyError subclass is not quoted the way KeyError quotes its message
    assert str(UnknownQuestionError("No question 'q'.")) == "No question 'q'."
    assert isinstance(UnknownQuestionError("x"), KeyError)


def test_the_app_shows_a_goqa_error_with_its_own_title() -> None:
    assert describe(StoreBusyError("The store is busy.")) == (
        "Results store busy",
        "The store is busy.",
    )
    assert describe(ConfigError("bad key"))[0] == "Configuration problem"


def test_the_app_names_anything_else_a_bug_and_keeps_the_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOQA_DATA_DIR", str(tmp_path))
    try:
        {}["missing"]
    except KeyError as exc:
        title, text = describe(exc)
    assert title == BUG_TITLE
    assert text.startswith("This is a bug in goqa (KeyError: 'missing')")
    log = Path(re.search(r"the traceback is in (\S+\.log)", text).group(1))  # type: ignore[union-attr]
    assert log.parent == tmp_path / "logs"
    body = log.read_text()
    assert "Traceback (most recent call last)" in body and '{}["missing"]' in body


def test_a_bug_log_falls_back_to_the_temporary_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    monkeypatch.setenv("GOQA_DATA_DIR", str(blocker))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    log = record_bug(RuntimeError("boom"))
    assert log is not None and log.parent == tmp_path and "RuntimeError: boom" in log.read_text()
    assert "could not be written" in bug_message(RuntimeError("x"), None)


def test_the_cli_reports_an_unexpected_error_as_a_bug_with_exit_70(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOQA_DATA_DIR", str(tmp_path))

    def broken(args: object) -> int:
        raise ValueError("an internal check failed")

    parser = climain.build_parser()
    original = parser.parse_args

    def parse(argv: object = None) -> object:
        args = original(argv)  # type: ignore[arg-type]
        args.func = broken
        return args

    monkeypatch.setattr(climain, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", parse)
    code = climain.main(["data", "info"])
    err = capsys.readouterr().err
    assert code == 70
    assert err.startswith("error: This is a bug in goqa (ValueError: an internal check failed)")
    assert len(err.strip().splitlines()) == 1 or "Traceback" not in err
    logs = list((tmp_path / "logs").glob("goqa-bug-*.log"))
    assert len(logs) == 1 and "goqa data" in logs[0].read_text()


def test_the_cli_prints_a_goqa_error_as_message_and_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = climain.main(["show", "no-such-question"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: No question 'no-such-question'")
    assert "bug" not in err
