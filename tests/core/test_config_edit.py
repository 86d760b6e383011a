"""core.config.set_values: the user's file keeps every byte except the values changed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core import config
from core.config import ConfigError

# Comments everywhere, blank lines, keys out of the usual order, odd spacing, a literal
# string, an indented key, a backend table with its own comments and an unusual key order.
USERS_FILE = """\
# My goqa settings — hand-written, please keep my notes.

theme = "goqa-light"    # easier on the projector


# which backend by default:
default_backend   =   'local'   # the embedded one
  policy = "keep"

[backends.vllm]
# the lab's GPU box
model = "meta-llama/Llama-3.1-8B-Instruct"
kind = "openai"
base_url = "http://gpu.lab:8000/v1"   # via the VPN
concurrency = 64

# [backends.old] was here
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_a_change_keeps_every_other_byte(tmp_path: Path) -> None:
    path = write(tmp_path, USERS_FILE)
    config.set_values(path, {"default_backend": "vllm"})
    expected = USERS_FILE.replace(
        "default_backend   =   'local'   # the embedded one",
        "default_backend   =   'vllm'   # the embedded one",
    )
    assert expected != USERS_FILE
    assert path.read_bytes() == expected.encode("utf-8")
    assert config.load(path).default_backend == "vllm"


def test_several_changes_and_a_new_key(tmp_path: Path) -> None:
    path = write(tmp_path, USERS_FILE)
    config.set_values(path, {"policy": "drop", "theme": "goqa-dark", "template": "v2"})
    text = path.read_text(encoding="utf-8")
    # The new key is one added line among the top-level settings, before any table…
    lines = text.splitlines(keepends=True)
    assert lines.count('template = "v2"\n') == 1
    assert lines.index('template = "v2"\n') < lines.index("[backends.vllm]\n")
    lines.remove('template = "v2"\n')
    # …and the rest is the user's file with exactly the two values changed.
    assert "".join(lines) == USERS_FILE.replace(
        '"goqa-light"    # easier', '"goqa-dark"    # easier'
    ).replace('  policy = "keep"', '  policy = "drop"')
    loaded = config.load(path)
    assert (loaded.policy, loaded.theme, loaded.template) == ("drop", "goqa-dark", "v2")
    assert loaded.backends["vllm"].concurrency == 64


def test_byte_order_mark_and_crlf_line_ends_survive(tmp_path: Path) -> None:
    original = ("\ufeff" + USERS_FILE).replace("\n", "\r\n").encode("utf-8")
    path = write(tmp_path, original)
    config.set_values(path, {"theme": "goqa-dark", "max_off_option": 0.2})
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\n" not in data.replace(b"\r\n", b"")  # every line still ends in CRLF
    assert data.replace(b"max_off_option = 0.2\r\n", b"", 1) == original.replace(
        b'"goqa-light"', b'"goqa-dark"'
    )
    assert config.load(path).max_off_option == 0.2


def test_the_users_later_edits_are_kept(tmp_path: Path) -> None:
    """Each change reads the file afresh: nothing the program holds overwrites the user's."""
    path = write(tmp_path, USERS_FILE)
    config.set_values(path, {"theme": "goqa-dark"})
    with path.open("a", encoding="utf-8") as out:
        out.write('\n[backends.claude]  # added by hand\nkind = "anthropic"\nmodel = "c"\n')
    config.set_values(path, {"default_backend": "claude"})
    text = path.read_text(encoding="utf-8")
    assert "[backends.claude]  # added by hand\n" in text
    assert "# the lab's GPU box\n" in text
    assert config.load(path).default_backend == "claude"


def test_a_missing_file_is_created_with_only_the_keys_given(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "config.toml"
    config.set_values(path, {"default_backend": "local", "theme": "goqa-light"})
    assert path.read_text(encoding="utf-8") == 'default_backend = "local"\ntheme = "goqa-light"\n'


def test_nothing_to_change_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = write(tmp_path, USERS_FILE)
    before = path.stat()
    config.set_values(path, {"theme": "goqa-light"})  # the value it already has
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"default_backend": "nope"}, "no [backends.nope] table"),
        ({"template": "v3"}, "template = 'v3'"),
        ({"max_off_option": 1.5}, "max_off_option = 1.5; it must be a finite number from 0 to 1"),
        ({"max_off_option": True}, "max_off_option = true"),
        ({"theme": 3}, "theme must be a string"),
        ({"colour": "red"}, "'colour' is not a setting"),
    ],
)
def test_a_bad_change_is_refused_and_the_file_kept(
    tmp_path: Path, values: dict[str, object], needle: str
) -> None:
    path = write(tmp_path, USERS_FILE)
    with pytest.raises(ConfigError) as info:
        config.set_values(path, values)
    assert needle in str(info.value)
    assert path.read_bytes() == USERS_FILE.encode("utf-8")


def test_a_file_that_does_not_load_is_never_edited(tmp_path: Path) -> None:
    path = write(tmp_path, "# mine\ntemplate = [broken\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config.set_values(path, {"theme": "goqa-dark"})
    assert path.read_bytes() == b"# mine\ntemplate = [broken\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, USERS_FILE)

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ConfigError, match="No space left on device"):
        config.set_values(path, {"theme": "goqa-dark"})
    assert path.read_bytes() == USERS_FILE.encode("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_the_write_goes_through_a_temporary_in_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, USERS_FILE)
    renames: list[tuple[Path, Path, bytes]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        renames.append((Path(src), Path(dst), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    config.set_values(path, {"theme": "goqa-dark"})
    [(src, dst, data)] = renames
    assert src.parent == tmp_path and src != path and dst == path
    assert data == path.read_bytes()


def test_permissions_and_a_symlink_are_kept(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "goqa.toml"
    real.parent.mkdir()
    real.write_text(USERS_FILE, encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    config.set_values(link, {"policy": "drop"})
    assert link.is_symlink() and link.resolve() == real
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert config.load(link).policy == "drop"
