"""core.config.load at the edge: a byte-order mark, a required file, a directory, no access."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import config
from core.config import ConfigError


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'\xef\xbb\xbftemplate = "v2"\npolicy = "drop"\n')  # as Notepad saves
    cfg = config.load(path)
    assert (cfg.template, cfg.policy) == ("v2", "drop")
    assert config.parse('\ufeffdefault_backend = "local"\ntheme = "x"\n').theme == "x"


def test_a_missing_file_means_defaults_unless_required(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert config.load(path) == config.Config(path=str(path))
    with pytest.raises(ConfigError) as info:
        config.load(path, required=True)
    message = str(info.value)
    assert message.startswith(f"{path}: no such config file.")
    assert "goqa config path" in message
    assert not path.exists()


def test_an_existing_required_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "given.toml"
    path.write_text('theme = "goqa-light"\n', encoding="utf-8")
    assert config.load(path, required=True).theme == "goqa-light"


@pytest.mark.parametrize("required", [False, True])
def test_a_directory_is_an_error_with_the_fix(tmp_path: Path, required: bool) -> None:
    folder = tmp_path / "config.toml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        config.load(folder, required=required)
    message = str(info.value)
    assert f"{folder} is a directory, not a config file" in message
    assert str(folder / "config.toml") in message


def test_an_unreadable_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "x"\n', encoding="utf-8")
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: cannot read the config file: permission denied.")
    assert f"chmod u+rw {path}" in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "x"\n', encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match="permission denied"):
            config.load(path)
    finally:
        path.chmod(0o600)


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"not UTF-8 text .* at byte 12"):
        config.load(path)
