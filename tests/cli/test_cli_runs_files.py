"""The CLI and the files around it: a read-only data directory, a full disk, and outputs that
must never replace the store, the dataset or (without --force) any existing file.

Read-only and full disks are real tmpfs mounts (see ``test_store_files.tmpfs``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_cli, run_json, write_config
from support.fakeserver import FakeServer
from support.mounts import fill, remount, tmpfs

from core import dataset
from core.store import Store


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- read-only


def test_every_reading_command_works_on_a_read_only_data_directory(
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    server: FakeServer,
    tmp_path: Path,
) -> None:
    write_config(isolated_dirs, server)
    with tmpfs(tmp_path / "ro-data") as data:
        monkeypatch.setenv("GOQA_DATA_DIR", str(data))
        for argv in (("--name", "a"), ("--name", "b", "--condition", "country:Russia")):
            run_json(capsys, "run", *argv, "--backend", "fake", "--limit", "12")
        asked = server.request_count
        gc.collect()
        remount(data, "ro")
        before = sorted(p.name for p in data.iterdir())

        runs = run_json(capsys, "runs")
        assert [r["name"] for r in runs] == ["a", "b"]
        code, out, _ = run_cli(capsys, "runs")
        assert code == 0 and "read-only" in out and "a" in out
        report = run_json(capsys, "report", "a", "--resamples", "20")
        assert report["n_questions_scored"] == 12
        code, out, _ = run_cli(capsys, "report", "a", "--resamples", "20", "--map")
        assert code == 0 and "Country scores: 1 − Jensen–Shannon distance" in out
        cmp = run_json(capsys, "compare", "a", "b", "--resamples", "20")
        assert cmp["n_shared_questions"] == 12
        code, _, err = run_cli(capsys, "export", "a", "--out", str(tmp_path / "a.jsonl"))
        assert code == 0, err
        assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 12
        assert run_json(capsys, "show", "0")["id"] == 0

        # Commands that must write say so, name the store, and ask nothing.
        writing: tuple[tuple[str, ...], ...] = (
            ("run", "--name", "a", "--backend", "fake", "--limit", "13"),
            ("runs", "delete", "a", "--yes"),
            ("translate", "--language", "ru", "--backend", "fake", "--limit", "1"),
        )
        for command in writing:
            code, out, err = run_cli(capsys, *command)
            assert code == 1, command
            assert "is read-only" in err and str(data / "goqa.sqlite3") in err, err
            assert "mounted read-only" in err and "damaged" not in err
        assert server.request_count == asked
        assert sorted(p.name for p in data.iterdir()) == before


def test_ask_on_a_read_only_store_answers_without_caching(
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    server: FakeServer,
    tmp_path: Path,
) -> None:
    write_config(isolated_dirs, server)
    with tmpfs(tmp_path / "ro-data") as data:
        monkeypatch.setenv("GOQA_DATA_DIR", str(data))
        remount(data, "ro")
        code, out, err = run_cli(capsys, "ask", "0", "--backend", "fake", "--json")
        assert code == 0, err
        assert json.loads(out)["cached"] is False
        assert "this answer is not cached" in err
        assert list(data.iterdir()) == []


# --------------------------------------------------------------------------- disk full


def test_a_full_disk_during_a_run(
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    server: FakeServer,
    tmp_path: Path,
) -> None:
    write_config(isolated_dirs, server)
    # Room for the WAL to grow to its checkpoint size (4 MB) once the filler is gone.
    with tmpfs(tmp_path / "small", size="8m") as data:
        monkeypatch.setenv("GOQA_DATA_DIR", str(data))
        run_json(capsys, "run", "--name", "early", "--backend", "fake", "--limit", "10")
        gc.collect()
        filler = fill(data, leave=96 * 1024)
        code, out, err = run_cli(capsys, "run", "--name", "late", "--backend", "fake")
        assert code == 1
        assert "is full" in err and "Everything stored before is intact" in err, err
        assert "damaged" not in err
        filler.unlink()
        with Store() as store:
            assert store.integrity_ok()
            summaries = {s.manifest.name: s for s in store.runs()}
        assert summaries["early"].n_ok == 10
        stored = summaries["late"].n_ok if "late" in summaries else 0
        assert stored < len(dataset.load())  # it did stop part way
        final = run_json(capsys, "run", "--name", "late", "--backend", "fake")
        assert final["already_done"] == stored and final["failed"] == 0


def test_a_full_disk_during_an_export_leaves_no_file(
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: dict[str, Path],
    server: FakeServer,
    tmp_path: Path,
) -> None:
    write_config(isolated_dirs, server)
    run_json(capsys, "run", "--name", "r", "--backend", "fake", "--limit", "40")
    with tmpfs(tmp_path / "small", size="256k") as out_dir:
        old = out_dir / "old.jsonl"
        old.write_text("the previous export\n")
        fill(out_dir, leave=4096)
        for target, extra in ((out_dir / "new.jsonl", ()), (old, ("--force",))):
            code, _, err = run_cli(capsys, "export", "r", "--out", str(target), *extra)
            assert code == 1
            assert "the disk is full" in err and "no partial file" in err, err
        assert sorted(p.name for p in out_dir.iterdir()) == ["filler", "old.jsonl"]
        assert old.read_text() == "the previous export\n"
    with Store() as store:
        assert store.integrity_ok() and store.summary("r").n_ok == 40


# --------------------------------------------------------------------------- outputs


def test_export_never_replaces_the_store_or_the_dataset(
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: dict[str, Path],
    server: FakeServer,
    tmp_path: Path,
) -> None:
    write_config(isolated_dirs, server)
    data_csv = tmp_path / "my.csv"
    shutil.copy(dataset.load().path, data_csv)
    run_json(capsys, "run", "--name", "r", "--backend", "fake", "--limit", "5")
    run_json(capsys, "run", "--name", "m", "--backend", "fake", "--limit", "3",
             "--dataset", str(data_csv))  # fmt: skip
    store = isolated_dirs["data"] / "goqa.sqlite3"
    link = tmp_path / "link.sqlite3"
    link.symlink_to(store)
    protected = {store: digest(store), data_csv: digest(data_csv)}
    for target, extra, what in (
        (store, ("--force",), "the results store"),
        (link, ("--force",), "the results store"),
        (Path(f"{store}-wal"), ("--force",), "the results store"),
        (isolated_dirs["data"] / ".." / "data" / "goqa.sqlite3", (), "the results store"),
    ):
        code, _, err = run_cli(capsys, "export", "r", "--out", str(target), *extra)
        assert code == 1, target
        assert what in err and "never writes over it" in err, err
    code, _, err = run_cli(
        capsys, "export", "m", "--dataset", str(data_csv), "--out", str(data_csv), "--force"
    )
    assert code == 1 and "the dataset in use" in err
    code, _, err = run_cli(
        capsys, "report", "r", "--resamples", "10", "--html", str(store), "--force"
    )
    assert code == 1 and "the results store" in err
    assert {p: digest(p) for p in protected} == protected
    with Store() as s:
        assert s.integrity_ok() and s.summary("r").n_ok == 5


def test_an_existing_file_needs_force(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path], server: FakeServer
) -> None:
    write_config(isolated_dirs, server)
    run_json(capsys, "run", "--name", "r", "--backend", "fake", "--limit", "4")
    out = Path("out.jsonl")
    out.write_text("keep me\n")
    os.chmod(out, 0o640)
    code, _, err = run_cli(capsys, "export", "r", "--out", str(out))
    assert code == 1 and "the file exists" in err and "--force" in err
    assert out.read_text() == "keep me\n"
    code, _, err = run_cli(capsys, "export", "r", "--out", str(out), "--force")
    assert code == 0, err
    assert len(out.read_text().splitlines()) == 4
    assert out.stat().st_mode & 0o777 == 0o640  # replaced in place: its mode kept
    fresh = Path("fresh.csv")
    code, _, _ = run_cli(capsys, "export", "r", "--format", "csv", "--out", str(fresh))
    assert code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it
    html = Path("r.html")
    html.write_text("old")
    code, _, err = run_cli(capsys, "report", "r", "--resamples", "10", "--html", str(html))
    assert code == 1 and "--force" in err and html.read_text() == "old"
    code, _, _ = run_cli(
        capsys, "report", "r", "--resamples", "10", "--html", str(html), "--force", "--json"
    )
    assert code == 0 and html.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in Path(".").iterdir() if p.name.startswith(".")) == []
