"""Where goqa keeps its files: one place for every platformdirs location.

Each location can be redirected with an environment variable (``GOQA_CONFIG_DIR``,
``GOQA_DATA_DIR``, ``GOQA_CACHE_DIR``) so that tests and CI never touch a user's home.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "goqa"


def _dir(env: str, default: Path) -> Path:
    override = os.environ.get(env)
    path = Path(override) if override else default
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        # A read-only or odd location: reading commands still work, and whatever writes
        # there (the store, the config, the dataset cache) reports the problem with its fix.
        pass
    return path


def config_dir() -> Path:
    """The directory holding ``config.toml``."""
    return _dir("GOQA_CONFIG_DIR", platformdirs.user_config_path(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The directory holding the results store."""
    return _dir("GOQA_DATA_DIR", platformdirs.user_data_path(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """The directory holding downloads and the parsed-dataset cache."""
    return _dir("GOQA_CACHE_DIR", platformdirs.user_cache_path(APP_NAME, appauthor=False))


def config_file() -> Path:
    return config_dir() / "config.toml"


def store_file() -> Path:
    return data_dir() / "goqa.sqlite3"
