"""The settings screen: choices persist to the config file; connection tests report logprobs."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Select
from tui_support import SIZE, FixedBackend, make_app, ready, settle

from core import config as core_config
from tui.app import ErrorScreen
from tui.screens.settings import SettingsScreen


def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"


async def open_settings(pilot) -> SettingsScreen:  # type: ignore[no-untyped-def]
    await pilot.press("6")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, SettingsScreen)
    return screen


async def choose(pilot, select_id: str, steps: int) -> None:  # type: ignore[no-untyped-def]
    """Open a Select with the keyboard and move ``steps`` options down."""
    pilot.app.screen.query_one(select_id, Select).focus()
    await pilot.press("enter", *(["down"] * steps), "enter")
    await pilot.pause()


async def test_template_policy_theme_persist(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_settings(pilot)
        await choose(pilot, "#template", 1)
        await choose(pilot, "#policy", 1)
        themes = [value for _, value in screen.query_one("#theme", Select)._options]
        await choose(pilot, "#theme", themes.index("goqa-light"))
        assert (app.template, app.policy, app.theme) == ("v2", "drop", "goqa-light")
        await settle(pilot)
    saved = core_config.load(config_file(tmp_path))
    assert (saved.template, saved.policy, saved.theme) == ("v2", "drop", "goqa-light")
    # A new app starts with the saved choices, and the settings screen shows them.
    again = make_app(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert (again.template, again.policy, again.theme) == ("v2", "drop", "goqa-light")
        screen = await open_settings(pilot)
        assert screen.query_one("#template", Select).value == "v2"
        assert screen.query_one("#policy", Select).value == "drop"
        assert screen.query_one("#theme", Select).value == "goqa-light"


async def test_theme_from_anywhere_persists(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.theme = "goqa-light"  # as the command palette does
        await settle(pilot)
    assert core_config.load(config_file(tmp_path)).theme == "goqa-light"


async def test_use_backend_persists_default(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(
        '[backends.vllm]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n',
        encoding="utf-8",
    )
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_settings(pilot)
        table = screen.query_one("#backends", DataTable)
        assert [str(k.value) for k in table.rows] == ["local", "vllm"]
        table.focus()
        await pilot.press("down", "u")
        await settle(pilot)
        assert app.backend_name == "vllm"
    assert core_config.load(path).default_backend == "vllm"
    # The backend table survived the rewrite.
    assert core_config.load(path).backends["vllm"].base_url == "http://127.0.0.1:9/v1"


async def test_connection_test_reports_logprobs_or_sampling(tmp_path: Path) -> None:
    from fakeserver import FakeServer

    with FakeServer() as logprobs, FakeServer(shape="no-logprobs") as text_only:
        path = config_file(tmp_path)
        path.parent.mkdir(parents=True)
        path.write_text(
            f'[backends.exact]\nkind = "openai"\nbase_url = "{logprobs.base_url}"\nmodel = "m"\n'
            f'\n[backends.sampled]\nkind = "openai"\nbase_url = "{text_only.base_url}"\n'
            'model = "m"\nsamples = 4\n'
            '\n[backends.down]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
            'model = "m"\nmax_retries = 0\ntimeout = 2\n',
            encoding="utf-8",
        )
        app = make_app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            notes: list[tuple[str, str]] = []
            app.notify = lambda message, *, title="", severity="information", **_: (  # type: ignore[method-assign]
                notes.append((title, severity))
            )
            screen = await open_settings(pilot)
            table = screen.query_one("#backends", DataTable)
            table.focus()
            for _ in ("exact", "sampled", "down"):
                await pilot.press("down", "t")
            await settle(pilot)
            results = screen.results
            assert results["exact"].startswith("✓") and "logprobs" in results["exact"]
            assert "no logprobs: sampling n=4" in results["sampled"]
            assert results["down"].startswith("✗")
            # The table shows the same, and the failure also became one notification.
            cells = {str(k.value): table.get_row(k)[-1] for k in table.rows}
            assert cells["exact"] == results["exact"]
            assert [n for n in notes if n[1] == "error"] and len(
                [n for n in notes if n[1] == "error"]
            ) == 1
            assert logprobs.count() == 1
            assert text_only.count() >= 4  # a first try for logprobs, then 4 samples


async def test_fake_backends_are_listed_but_never_saved(tmp_path: Path) -> None:
    app = make_app(tmp_path, fake=FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.backend_name = "fake"
        app.template = "v2"
        await settle(pilot)
    saved = core_config.load(config_file(tmp_path))
    assert saved.default_backend == "local" and saved.template == "v2"


async def test_a_broken_config_is_reported_and_never_overwritten(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("template = [broken\n", encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "invalid TOML" in app.screen.message
        await pilot.press("escape")
        app.template = "v2"
        await settle(pilot)
    assert path.read_text(encoding="utf-8") == "template = [broken\n"
