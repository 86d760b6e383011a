"""Snapshots of the browse screen with a question selected and its chart, small and large.

Deterministic by construction: the bundled sample, a fixed fake backend, config and store in
a temporary directory, no clock anywhere on screen. Update the baselines on purpose with
``pytest tests/tui/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.tui import FixedBackend, make_app, ready, settle
from textual.pilot import Pilot

from core import dataset
from tui.app import GoqaApp

SIZES = [(80, 24), (160, 48)]


def _question_with_dk() -> int:
    data = dataset.load()
    return next(
        p
        for p in range(len(data))
        if 8 <= len(data.at(p).countries)
        and data.at(p).nonsubstantive.any()
        and len(data.options[p]) <= 5
    )


async def _select(pilot: Pilot[Any], ask: bool) -> None:
    screen = await ready(pilot)
    screen.jump_to(_question_with_dk())
    if ask:
        assert isinstance(pilot.app, GoqaApp)
        pilot.app.backend_name = "fake"
        await pilot.press("a")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_browse_with_human_distributions(snap_compare: Any, tmp_path: Path, size: Any) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await _select(pilot, ask=False)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_browse_with_model_answer(snap_compare: Any, tmp_path: Path, size: Any) -> None:
    app = make_app(tmp_path, fake=FixedBackend())

    async def run_before(pilot: Pilot[Any]) -> None:
        await _select(pilot, ask=True)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_browse_zoomed_at_80x24(snap_compare: Any, tmp_path: Path) -> None:
    """A small terminal: Enter shows the question and its chart on the whole screen."""
    app = make_app(tmp_path, fake=FixedBackend())

    async def run_before(pilot: Pilot[Any]) -> None:
        await _select(pilot, ask=True)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_results_with_world_map_at_160x48(
    snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The results screen on a wide terminal: the leaderboard with its 95% intervals and
    baselines beside the world map of the same run, the crosshair on the top country."""
    import asyncio

    from core import runner
    from core.prompts import Condition
    from core.store import Store
    from tui.app import create_app
    from tui.screens.results import ResultsScreen

    # The run list shows when a run was made: pin it (and keep the local time zone out).
    monkeypatch.setattr("core.store.now", lambda: "2026-01-02T03:04:05+00:00")
    monkeypatch.setattr(
        "tui.widgets.run_table.created_label", lambda text: text[:16].replace("T", " ")
    )
    store_path = tmp_path / "data" / "goqa.sqlite3"
    store_path.parent.mkdir(parents=True)
    with Store(store_path) as store:
        asyncio.run(
            runner.run(
                name="default-fake",
                dataset=dataset.load(),
                positions=list(range(60)),
                backend=FixedBackend(),
                backend_name="fake",
                condition=Condition("default"),
                template="paper",
                store=store,
            )
        )
    app = create_app(
        config_path=tmp_path / "config" / "config.toml",
        store_path=store_path,
        backends={"fake": FixedBackend()},
        start_view="results",
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ResultsScreen) and screen.statistics is not None
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
