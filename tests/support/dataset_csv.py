"""CSV files in the published GlobalOpinionQA format, written from Python rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

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


# ``write_csv(rows, name="data.csv", header=HEADER) -> Path``, the conftest fixture's type.
WriteCsv = Callable[..., Path]
