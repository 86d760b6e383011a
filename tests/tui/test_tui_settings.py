"""The settings screen: choices are the session's, defaults are written only when asked
(keeping the user's file as it was), and connection tests say whether the answer is usable."""

from __future__ import annotations

from pathlib import Path

from support.tui import SIZE, FixedBackend, make_app, ready, settle
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, Static

from core import config as core_config
from tui.app import ErrorScreen
from tui.screens.settings import SettingsScreen

USERS_FILE = """\
# goqa — my settings. Keep these notes!

policy = "keep"   # as published
default_backend = "local"   # the embedded one, for now


[backends.vllm]
# the lab's box (over the VPN)
model = "m"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
"""


def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"


async def open_settings(pilot: Pilot[None]) -> SettingsScreen:
    await pilot.press("6")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, SettingsScreen)
    return screen


async def choose(pilot: Pilot[None], select_id: str, steps: int) -> None:
    """Open a Select with the keyboard and move ``steps`` options down."""
    pilot.app.screen.query_one(select_id, Select).focus()
    await pilot.press("enter", *(["down"] * steps), "enter")
    await pilot.pause()


async def test_template_and_policy_are_the_sessions_and_the_theme_persists(
    tmp_path: Path,
) -> None:
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
        assert (app.config.template, app.config.policy) == ("paper", "keep")
    # Only the theme (a preference) was written; the file holds nothing else.
    assert config_file(tmp_path).read_text(encoding="utf-8") == 'theme = "goqa-light"\n'
    # A new app starts from the defaults again, with the saved theme.
    again = make_app(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert (again.template, again.policy, again.theme) == ("paper", "keep", "goqa-light")
        screen = await open_settings(pilot)
        assert screen.query_one("#template", Select).value == "paper"
        assert screen.query_one("#theme", Select).value == "goqa-light"


async def test_save_choices_writes_template_and_policy_keeping_the_file(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(USERS_FILE, encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_settings(pilot)
        await choose(pilot, "#template", 1)
        await choose(pilot, "#policy", 1)
        await settle(pilot)
        assert path.read_text(encoding="utf-8") == USERS_FILE  # choosing wrote nothing
        screen.query_one("#backends", DataTable).focus()
        await pilot.press("s")
        await settle(pilot)
        assert (app.config.template, app.config.policy) == ("v2", "drop")
        defaults = str(screen.query_one("#defaults", Static).render())
        assert "template v2 · policy drop" in defaults
    text = path.read_text(encoding="utf-8")
    assert text.replace('template = "v2"\n', "", 1) == USERS_FILE.replace(
        'policy = "keep"   # as published', 'policy = "drop"   # as published'
    )
    assert 'template = "v2"\n' in text


async def test_picking_a_backend_is_for_the_session_only(tmp_path: Path) -> None:
    from core.prompts import Condition

    path = config_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(USERS_FILE, encoding="utf-8")
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
        # Every other session choice, as the browse pickers and the palette make them.
        app.condition = Condition("country", "Russia")
        app.template = "v2"
        app.policy = "drop"
        await settle(pilot)
        rows = {str(k.value): table.get_row(k) for k in table.rows}
        assert rows["vllm"][:3] == ["●", "vllm", ""] and rows["local"][:3] == [
            "",
            "local",
            "default",
        ]
        assert app.config.default_backend == "local"
    assert path.read_text(encoding="utf-8") == USERS_FILE
    again = make_app(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert (again.backend_name, again.template, again.policy) == ("local", "paper", "keep")


async def test_use_as_default_writes_default_backend_and_keeps_comments(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(USERS_FILE, encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        notes: list[str] = []
        app.notify = lambda message, **_: notes.append(message)  # type: ignore[method-assign]
        screen = await open_settings(pilot)
        table = screen.query_one("#backends", DataTable)
        table.focus()
        await pilot.press("down", "d")
        await settle(pilot)
        assert app.backend_name == "vllm" and app.config.default_backend == "vllm"
        rows = {str(k.value): table.get_row(k) for k in table.rows}
        assert rows["vllm"][:3] == ["●", "vllm", "default"] and rows["local"][2] == ""
        assert any("default_backend = vllm" in n for n in notes)
    assert path.read_text(encoding="utf-8") == USERS_FILE.replace(
        'default_backend = "local"   # the embedded one',
        'default_backend = "vllm"   # the embedded one',
    )
    assert core_config.load(path).backends["vllm"].base_url == "http://127.0.0.1:9/v1"
    again = make_app(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert again.backend_name == "vllm"


async def test_use_as_default_from_the_command_palette(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(USERS_FILE, encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.backend_name = "vllm"
        app.template = "v2"
        await settle(pilot)
        assert path.read_text(encoding="utf-8") == USERS_FILE
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Use as default: backend vllm" in titles
        assert "Use as default: template v2 and policy keep" in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Use as default: backend vllm")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert app.config.default_backend == "vllm"
    assert path.read_text(encoding="utf-8") == USERS_FILE.replace(
        'default_backend = "local"', 'default_backend = "vllm"'
    )


async def test_connection_test_reports_logprobs_or_sampling(tmp_path: Path) -> None:
    from support.fakeserver import FakeServer

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
            assert results["sampled"].startswith("✓")
            assert "no logprobs: sampling n=4" in results["sampled"]
            assert results["down"].startswith("✗ ") and len(results["down"]) > 10
            # The table shows the same, and the failure also became one notification.
            cells = {str(k.value): table.get_row(k)[-1] for k in table.rows}
            assert cells["exact"] == results["exact"]
            assert [title for title, severity in notes if severity == "error"] == [
                "Backend down: no usable distribution"
            ]
            assert logprobs.count() == 1
            assert text_only.count() >= 4  # a first try for logprobs, then 4 samples


async def test_connection_test_shows_a_tick_only_for_a_usable_distribution(
    tmp_path: Path,
) -> None:
    """An answer that reaches the server but puts 70% off the letters is not a ✓; the
    threshold is the config's max_off_option."""
    for limit, usable in ((0.5, False), (0.8, True)):
        path = config_file(tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"max_off_option = {limit}\n", encoding="utf-8")
        app = make_app(tmp_path, offish=FixedBackend(off_option_mass=0.7))
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            screen = await open_settings(pilot)
            table = screen.query_one("#backends", DataTable)
            assert [str(k.value) for k in table.rows] == ["local", "offish"]
            table.focus()
            await pilot.press("down", "t")
            await settle(pilot)
            result = screen.results["offish"]
            cell = {str(k.value): table.get_row(k)[-1] for k in table.rows}["offish"]
        if usable:
            assert result.startswith("✓") and "logprobs" in result
        else:
            assert result.startswith("✗ ") and "suspect" in result and "70%" in result
            assert cell.startswith("✗ ")


async def test_fake_backends_are_listed_but_never_saved(tmp_path: Path) -> None:
    app = make_app(tmp_path, fake=FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        notes: list[tuple[str, str]] = []
        app.notify = lambda message, *, severity="information", **_: notes.append(  # type: ignore[method-assign]
            (message, severity)
        )
        app.backend_name = "fake"
        app.template = "v2"
        await settle(pilot)
        app.use_as_default("backend")
        await settle(pilot)
        assert app.config.default_backend == "local"
        assert [s for _, s in notes] == ["warning"] and "cannot be the default" in notes[0][0]
    assert not config_file(tmp_path).exists()


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
        app.theme = "goqa-light"
        app.use_as_default("backend", "template")
        await settle(pilot)
        assert app.config.template == "paper"
    assert path.read_text(encoding="utf-8") == "template = [broken\n"
