"""The app opens the dataset and the results store independently: a store that cannot be
opened never stops browsing, the user is told what is missing, and the views that need the
store say so instead of opening (or crashing)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from support.tui import SIZE, FixedBackend, chart_data, descending, make_app, ready, settle
from textual.notifications import SeverityLevel
from textual.pilot import Pilot

import tui.app as app_module
from core.dataset import Dataset
from core.store import Store, StoreError
from tui.app import GoqaApp
from tui.widgets.question_list import QuestionList

Notes = list[tuple[str, str, str]]


def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "goqa.sqlite3"  # where make_app puts it


def refusal(path: Path) -> str:
    """What the store itself says about ``path`` (the app must pass it on unchanged)."""
    with pytest.raises(StoreError) as info:
        Store(path)
    return str(info.value)


def catch_notes(app: GoqaApp) -> Notes:
    notes: Notes = []
    real = app.notify

    def notify(
        message: str, *, title: str = "", severity: SeverityLevel = "information", **kw: Any
    ) -> None:
        notes.append((title, message, severity))
        real(message, title=title, severity=severity, **kw)

    app.notify = notify  # type: ignore[method-assign]
    return notes


async def check_browsing_works_without_the_store(
    pilot: Pilot[Any], app: GoqaApp, fake: FixedBackend, sample: Dataset, notes: Notes
) -> None:
    screen = await ready(pilot)
    assert app.dataset_ready and not app.store_ready
    assert app.dataset_problem == ""
    # Browse works: every question is listed and the chart shows the first.
    assert screen.query_one(QuestionList).rows == list(range(len(sample)))
    assert chart_data(pilot).options == sample.at(0).options
    # The user was told once, as a warning naming the store and what still works.
    told = [n for n in notes if n[0] == "Results store unavailable"]
    assert len(told) == 1 and told[0][2] == "warning"
    assert str(app.store_path) in told[0][1]
    assert "Browsing works" in told[0][1]
    assert app.store_problem and str(app.store_path) in app.store_problem
    # Asking still works, into a session-only store.
    app.backend_name = "fake"
    await pilot.press("a")
    await settle(pilot)
    data = chart_data(pilot)
    assert data.series[0].kind == "model"
    assert data.series[0].values == pytest.approx(tuple(descending(len(sample.at(0).options))))
    assert len(fake.prompts) == 1
    assert app.store.path != app.store_path
    # The views that record or read runs say why they do not open; browsing goes on.
    for key, title in (("2", "Run"), ("3", "Results"), ("e", "Experiments")):
        before = len(notes)
        await pilot.press(key)
        await settle(pilot)
        assert app.current_mode == "browse" and app.screen is screen
        new = notes[before:]
        assert [n[0] for n in new] == [title]
        assert "results store is unavailable" in new[0][1] and app.store_problem in new[0][1]
    # Views that need no store still open.
    await pilot.press("4")
    await settle(pilot)
    assert app.current_mode == "countries"


async def test_a_store_path_that_is_a_directory(tmp_path: Path, sample: Dataset) -> None:
    store_path(tmp_path).mkdir(parents=True)
    expected = refusal(store_path(tmp_path))
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    notes = catch_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await check_browsing_works_without_the_store(pilot, app, fake, sample, notes)
        assert app.store_problem == expected
        session = app.store.path.parent
        assert session.exists()
    assert not session.exists()  # the session store goes with the app
    assert store_path(tmp_path).is_dir()  # and the user's path was left as it was


async def test_a_store_that_is_not_sqlite(tmp_path: Path, sample: Dataset) -> None:
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    garbage = b"this is not a database, just a file someone put here\n" * 100
    path.write_bytes(garbage)
    expected = refusal(path)
    fake = FixedBackend()
    app = make_app(tmp_path, fake=fake)
    notes = catch_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await check_browsing_works_without_the_store(pilot, app, fake, sample, notes)
        assert app.store_problem == expected
    assert path.read_bytes() == garbage  # never overwritten


@pytest.mark.parametrize(
    "error",
    [
        StoreError("The results store is locked by another program. Close it and try again."),
        StoreError("The results store is read-only. Make it writable."),
        PermissionError(13, "Permission denied", "/somewhere/goqa.sqlite3"),
    ],
)
async def test_any_store_failure_leaves_browsing(
    tmp_path: Path, sample: Dataset, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def refuse(path: Path | None = None, **options: Any) -> Store:
        if path is not None and Path(path) == store_path(tmp_path):
            raise error
        return Store(path, **options)

    monkeypatch.setattr(app_module, "Store", refuse)
    app = make_app(tmp_path, fake=FixedBackend())
    notes = catch_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.dataset_ready and not app.store_ready
        if isinstance(error, StoreError):
            assert app.store_problem == str(error)
        else:
            assert app.store_problem.startswith("Permission denied (/somewhere/goqa.sqlite3).")
        assert [n[0] for n in notes] == ["Results store unavailable"]
        await pilot.press("3")
        await settle(pilot)
        assert app.current_mode == "browse"


async def test_a_slow_store_does_not_hold_up_the_dataset(
    tmp_path: Path, sample: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def slow(path: Path | None = None, **options: Any) -> Store:
        release.wait(10)  # as a store locked by a long write would
        return Store(path, **options)

    monkeypatch.setattr(app_module, "Store", slow)
    app = make_app(tmp_path)
    notes = catch_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(500):
            if app.dataset_ready:
                break
            await asyncio.sleep(0.02)
        assert app.dataset_ready and not app.store_ready and app.store_problem == ""
        with pytest.raises(StoreError, match="still opening"):
            app.store  # noqa: B018
        await pilot.press("2")
        await pilot.pause()
        assert app.current_mode == "browse"
        assert notes[-1][0] == "Run" and "still opening" in notes[-1][1]
        release.set()
        await settle(pilot)
        assert app.store_ready and app.store.path == store_path(tmp_path)
        await pilot.press("3")
        await settle(pilot)
        assert app.current_mode == "results"


async def test_a_read_only_store_reads_but_records_nothing(
    tmp_path: Path, sample: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(store_path(tmp_path)).close()  # a real store, then opened as one that cannot write
    monkeypatch.setattr(
        app_module, "Store", lambda path=None, **kw: Store(path, read_only=True, **kw)
    )
    app = make_app(tmp_path)
    notes = catch_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.store_ready and app.store.read_only and app.store_problem
        assert [n[0] for n in notes] == ["Results store read-only"]
        assert app.store_unavailable(write=False) == ""
        for key, title in (("2", "Run"), ("e", "Experiments")):
            await pilot.press(key)
            await settle(pilot)
            assert app.current_mode == "browse"
            assert notes[-1][0] == title and "read-only" in notes[-1][1]
        await pilot.press("3")
        await settle(pilot)
        assert app.current_mode == "results"


async def test_a_busy_store_says_so_while_the_dataset_is_browsed(
    tmp_path: Path, sample: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another goqa holds the store's write lock while it opens: the user hears why the
    views that need it wait, and the store opens once the lock is free."""
    release = threading.Event()
    line = "the store is busy (another goqa is writing); waiting… (1s of at most 300s)"

    def busy(path: Path | None = None, **options: Any) -> Store:
        options["on_busy"](line)  # from the worker thread, as Store does while it waits
        release.wait(10)
        return Store(path, **options)

    monkeypatch.setattr(app_module, "Store", busy)
    app = make_app(tmp_path)
    notes = catch_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(500):
            if app.dataset_ready and notes:
                break
            await asyncio.sleep(0.02)
        assert app.dataset_ready and not app.store_ready
        assert notes == [("Results store busy", line, "warning")]
        await pilot.press("3")
        await pilot.pause()
        assert app.current_mode == "browse"
        assert notes[-1][:2] == (
            "Results",
            f"The results store is still opening: {line}\nThe results view needs it.",
        )
        release.set()
        await settle(pilot)
        assert app.store_ready and app.store_unavailable() == ""
