"""The run commands at their edges: any run name is safe to show, runs can be deleted, suspect
and failed answers are counted and listed, config check/show, numeric options and help."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.claims import start_holder
from support.cli import run_cli, run_json, write_config
from support.fakeserver import FakeServer

from cli.main import main
from core.store import Store


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


def is_suspect_question(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % 3 == 0


def mostly_off(key: str, k: int) -> list[float]:
    """Letter probabilities: a third of the questions put 70% of the mass off the letters."""
    share = 0.3 if is_suspect_question(key) else 0.95
    return [share / k] * k


@pytest.fixture
def fake(isolated_dirs: dict[str, Path]) -> Iterator[FakeServer]:
    with FakeServer(distribution=mostly_off) as server:
        write_config(isolated_dirs, server)
        yield server


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["exp[/]", "[bold]x", "[red]a[/red] b", "\\[x]", "ü ∑ [link=y]"])
def test_any_run_name_shows_as_written(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, name: str
) -> None:
    code, out, err = run_cli(capsys, "run", "--name", name, "--backend", "fake", "--limit", "4")
    assert code == 0, err
    assert f"Run {name}:" in err and f"Top countries · {name}" in out
    code, out, err = run_cli(capsys, "runs")
    assert code == 0, err
    assert name in out
    code, out, err = run_cli(capsys, "report", name, "--resamples", "10")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"{name} · default")
    code, _, err = run_cli(capsys, "export", name, "--out", "x.jsonl")
    assert code == 0 and "Exported" in err
    code, _, err = run_cli(capsys, "report", name + "?")  # in an error message
    assert code == 1 and f"No run called {name + '?'!r}" in err
    code, out, err = run_cli(capsys, "runs", "delete", name, "--yes")
    assert code == 0, err
    assert f"Deleted run {name!r}" in out
    assert run_json(capsys, "runs") == []


# --------------------------------------------------------------------------- delete


def test_delete_asks_on_a_terminal_and_needs_yes_otherwise(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_json(capsys, "run", "--name", "d", "--backend", "fake", "--limit", "3")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a pipe: nobody to ask
    code, _, err = run_cli(capsys, "runs", "delete", "d")
    assert code == 2 and "--yes" in err
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, out, _ = run_cli(capsys, "runs", "delete", "d")
    assert code == 0 and "Delete run 'd' and its 3 answer(s)? [y/N]" in out
    assert "Nothing deleted" in out
    assert [r["name"] for r in run_json(capsys, "runs")] == ["d"]
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = run_cli(capsys, "runs", "delete", "d")
    assert code == 0 and "Deleted run 'd' and its 3 answer(s)" in out
    assert run_json(capsys, "runs") == []
    with Store() as store:
        assert store.answers("d") == []
    code, _, err = run_cli(capsys, "runs", "delete", "d", "--yes")
    assert code == 1 and "No run called 'd'" in err


def test_delete_refuses_a_run_that_is_running(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, isolated_dirs: dict[str, Path]
) -> None:
    run_json(capsys, "run", "--name", "busy", "--backend", "fake", "--limit", "2")
    proc, pid, _ = start_holder(isolated_dirs["data"] / "goqa.sqlite3", "busy")
    try:
        runs = run_json(capsys, "runs")
        assert runs[0]["running"]["pid"] == pid
        code, out, _ = run_cli(capsys, "runs")
        assert f"running (pid {pid}" in out
        code, _, err = run_cli(capsys, "runs", "delete", "busy", "--yes")
        assert code == 1 and "while it runs" in err and f"pid {pid}" in err
        code, _, err = run_cli(capsys, "runs", "release", "busy")
        assert code == 1 and f"pid {pid}" in err
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert [r["name"] for r in run_json(capsys, "runs")] == ["busy"]
    assert run_json(capsys, "runs")[0]["running"] is None  # killed: no longer running
    code, out, _ = run_cli(capsys, "runs", "release", "busy")
    assert code == 0 and f"claimed by pid {pid}" in out
    assert run_json(capsys, "runs", "delete", "busy", "--yes")["answers"] == 2


# --------------------------------------------------------------------------- suspect, failed


def test_suspect_answers_are_counted_listed_and_left_out(
    capsys: pytest.CaptureFixture[str], fake: FakeServer
) -> None:
    result = run_json(capsys, "run", "--name", "s", "--backend", "fake", "--limit", "24")
    keys = [r.body["prompt"] for r in fake.recorded()]
    n_suspect = sum(is_suspect_question(fake_key(k)) for k in keys)
    assert 0 < n_suspect < 24
    assert (result["suspect"], result["suspect_left_out"]) == (n_suspect, n_suspect)
    assert result["n_questions_scored"] == 24 - n_suspect
    assert run_json(capsys, "runs")[0]["suspect"] == n_suspect
    row = runs_table(capsys)["s"]
    assert (row["answered"], row["suspect"], row["failed"]) == ("24/24", str(n_suspect), "0")
    code, out, _ = run_cli(capsys, "run", "--name", "s", "--backend", "fake", "--limit", "24")
    assert f"{n_suspect} suspect" in out
    assert f"{n_suspect} suspect answer(s) left out (--include-suspect to include them" in out

    report = run_json(capsys, "report", "s", "--resamples", "10")
    assert report["n_questions_scored"] == 24 - n_suspect
    assert report["suspect_left_out"] == n_suspect
    both = run_json(capsys, "report", "s", "--resamples", "10", "--include-suspect")
    assert both["n_questions_scored"] == 24 and both["suspect_left_out"] == 0
    code, out, _ = run_cli(capsys, "report", "s", "--resamples", "10")
    assert f"{n_suspect} suspect answer(s) left out (--include-suspect to include them" in out

    listed = run_json(capsys, "report", "s", "--suspect")["suspect"]
    assert len(listed) == n_suspect
    for row in listed:
        assert row["off_option_mass"] == pytest.approx(0.7, abs=1e-6)
        assert "off" in row["reason"] or "letter" in row["reason"]
    code, out, _ = run_cli(capsys, "report", "s", "--suspect")
    assert f"{n_suspect} suspect answer(s) in s" in out and "70.0%" in out

    code, _, err = run_cli(capsys, "export", "s", "--out", "s.jsonl")
    assert f"{n_suspect} suspect answer(s) left out" in err
    assert len(Path("s.jsonl").read_text().splitlines()) == 24 - n_suspect
    run_cli(capsys, "export", "s", "--out", "all.jsonl", "--include-suspect")
    rows = [json.loads(x) for x in Path("all.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and sum(bool(r["suspect"]) for r in rows) == n_suspect


def runs_table(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    """``goqa runs`` as printed: run name -> column -> cell."""
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0
    lines = out.splitlines()
    header = next([c.strip() for c in x.split("┃")[1:-1]] for x in lines if "┃" in x)
    body = [[c.strip() for c in x.split("│")[1:-1]] for x in lines if "│" in x]
    return {cells[0]: dict(zip(header, cells, strict=True)) for cells in body}


def fake_key(prompt: str) -> str:
    from support.fakeserver import question_key

    return question_key(prompt)


def test_failed_answers_are_shown_with_their_reasons(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    with FakeServer(faults=["500", "500"]) as server:
        write_config(isolated_dirs, server, max_retries=0)
        result = run_json(capsys, "run", "--name", "f", "--backend", "fake", "--limit", "6", code=1)
        assert result["failed"] == 2
    assert run_json(capsys, "runs")[0]["failed"] == 2
    assert runs_table(capsys)["f"]["failed"] == "2"
    code, out, _ = run_cli(capsys, "report", "f", "--resamples", "10")
    assert code == 0 and "2 failed question(s)" in out and "--failed" in out
    failed = run_json(capsys, "report", "f", "--failed")["failed"]
    assert len(failed) == 2 and all("500" in f["error"] for f in failed)
    code, out, _ = run_cli(capsys, "report", "f", "--failed")
    assert "2 failed question(s) in f" in out and "500" in out


# --------------------------------------------------------------------------- config


def test_config_check_says_why_a_backend_is_not_usable(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    with FakeServer(distribution=lambda key, k: [0.1 / k] * k) as server:  # 90% off-option
        write_config(isolated_dirs, server)
        code, out, _ = run_cli(capsys, "config", "check", "--backend", "fake")
        assert code == 1
        assert out.startswith("✗ fake (openai, m): the answer is suspect")
        (row,) = run_json(capsys, "config", "check", "--backend", "fake", code=1)
        assert row["ok"] is False and "suspect" in row["message"]
    # Nobody listening any more: the request fails, and says so.
    code, out, _ = run_cli(capsys, "config", "check", "--backend", "fake")
    assert code == 1 and out.startswith("✗ fake")


def test_config_show_never_prints_credentials_in_a_url(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    path = isolated_dirs["config"] / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[backends.proxy]\n"
        'kind = "openai"\n'
        'base_url = "https://alice:s3cret-pw@llm.example.org/v1"\n'
        'model = "m"\n',
        encoding="utf-8",
    )
    for argv in (("config", "show"), ("config", "show", "--json")):
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, err
        assert "s3cret-pw" not in out + err and "alice" not in out + err
        assert "llm.example.org" in out
    shown = run_json(capsys, "config", "show")
    assert shown["backends"]["proxy"]["base_url"] == "https://***@llm.example.org/v1"
    assert shown["max_off_option"] == 0.5


def test_a_missing_config_file_given_by_name_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.toml"
    for argv in (
        ("config", "show", "--config", str(missing)),
        ("config", "check", "--config", str(missing)),
        ("run", "--config", str(missing), "--limit", "1"),
        ("ask", "0", "--config", str(missing)),
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == 1, argv
        assert str(missing) in err, err
    code, out, _ = run_cli(capsys, "config", "path", "--config", str(missing))
    assert code == 0 and out.strip() == str(missing)


# --------------------------------------------------------------------------- numbers, help


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (("run", "--limit", "-1"), "-1 is out of range: use a whole number of at least 0"),
        (("run", "--concurrency", "-3"), "-3 is out of range"),
        (("run", "--top", "0"), "0 is out of range: use a whole number of at least 1"),
        (("run", "--min-questions", "0"), "at least 1"),
        (("run", "--limit", "ten"), "'ten' is not a whole number"),
        (("report", "r", "--top", "-5"), "-5 is out of range"),
        (("report", "r", "--resamples", "0"), "at least 1"),
        (("report", "r", "--seed", "-1"), "at least 0"),
        (("report", "r", "--min-shared", "0"), "at least 1"),
        (("report", "r", "--min-questions", "-2"), "at least 1"),
        (("translate", "--limit", "-4"), "at least 0"),
    ],
)
def test_numeric_options_are_checked_at_the_edge(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], shown: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    option = next(a for a in argv if a.startswith("--"))
    assert f"argument {option}: " in err and shown in err


@pytest.mark.parametrize(
    "command",
    ["config", "ask", "run", "runs", "runs delete", "runs release", "report", "export",
     "translate", "demo"],
)  # fmt: skip
def test_help_of_each_run_command(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command.split(), "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: goqa {command}")
    if command == "report":
        assert "--include-suspect" in out and "--suspect" in out and "--failed" in out
