"""Shared fixtures: an isolated home for every test, the bundled sample, CSV writing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from support.dataset_csv import HEADER, Row, WriteCsv, csv_bytes

from core import dataset


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point goqa's config, data and cache directories at ``tmp_path`` subdirectories."""
    dirs = {
        "config": tmp_path / "config",
        "data": tmp_path / "data",
        "cache": tmp_path / "cache",
    }
    monkeypatch.setenv("GOQA_CONFIG_DIR", str(dirs["config"]))
    monkeypatch.setenv("GOQA_DATA_DIR", str(dirs["data"]))
    monkeypatch.setenv("GOQA_CACHE_DIR", str(dirs["cache"]))
    return dirs


@pytest.fixture
def sample(isolated_dirs: dict[str, Path]) -> dataset.Dataset:
    """The bundled 189-question sample, loaded through ``core.dataset.load()``."""
    return dataset.load()


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """A function ``write_csv(rows, name="data.csv", header=HEADER) -> Path``.

    Writes ``rows`` (see :data:`Row`; a non-4-tuple is written verbatim as its cells) in the
    published format under ``tmp_path/csv/``.
    """

    def write(
        rows: Iterable[Row | Sequence[str]],
        name: str = "data.csv",
        header: Sequence[str] = HEADER,
    ) -> Path:
        path = tmp_path / "csv" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(csv_bytes(rows, header))
        return path

    return write
