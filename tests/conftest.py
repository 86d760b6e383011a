"""Shared fixtures: an isolated home for every test, the bundled sample, CSV writing."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from core import dataset

HEADER = ("question", "selections", "options", "source")

# A row in python form: (question, selections, options, source). ``selections`` may be a
# mapping (formatted as the published ``defaultdict(<class 'list'>, {...})`` text) or a string
# used verbatim; ``options`` a list (written as its Python literal) or a string used verbatim.
Row = tuple[str, Mapping[str, Sequence[float]] | str, Sequence[str] | str, str]


def format_row(row: Row | Sequence[str]) -> list[str]:
    """One CSV record in the published format (strings pass through unchanged)."""
    if len(row) != 4:
        return [str(cell) for cell in row]
    question, selections, options, source = row
    if not isinstance(selections, str):
        selections = f"defaultdict(<class 'list'>, {dict(selections)!r})"
    if not isinstance(options, str):
        options = repr(list(options))
    return [question, selections, options, source]


def csv_bytes(rows: Iterable[Row | Sequence[str]], header: Sequence[str] = HEADER) -> bytes:
    """The bytes of a CSV in the published format (``\\r\\n`` records, minimal quoting)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(format_row(r) for r in rows)
    return out.getvalue().encode("utf-8")


WriteCsv = Callable[..., Path]


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
