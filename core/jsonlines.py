"""Reading a user's JSON-lines file (predictions, translations) with messages that help.

One object per line; blank lines are skipped; a line that is not a JSON object is reported by
its number instead of stopping the read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import GoqaError


class JSONLinesError(GoqaError):
    """The file cannot be read at all; the message names the problem and the fix."""

    title = "Cannot read the file"


@dataclass(frozen=True)
class JSONLines:
    """The objects of a file with their 1-based line numbers, and the lines that were not."""

    objects: tuple[tuple[int, dict[str, Any]], ...]
    problems: tuple[str, ...]


def read(path: Path, what: str, example: str) -> JSONLines:
    """Read ``path`` as JSON lines.

    Args:
        path: the file.
        what: what the file holds, for messages ("Predictions file").
        example: one line's shape, for messages (``{"question_id", "probs"}``).

    Raises:
        JSONLinesError: missing file, a directory, not UTF-8, unreadable.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise JSONLinesError(
            f"{what} {str(path)!r} does not exist. Give the path of a JSONL file with one "
            f"{example} object per line."
        ) from None
    except IsADirectoryError:
        raise JSONLinesError(f"{str(path)!r} is a directory; give the JSONL file itself.") from None
    except UnicodeDecodeError as exc:
        raise JSONLinesError(
            f"{str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
            "UTF-8 JSON lines."
        ) from None
    except OSError as exc:
        raise JSONLinesError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    objects: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not JSON ({exc.msg})")
            continue
        except RecursionError:
            problems.append(f"line {n}: nested too deeply to be read as JSON")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {n}: expected a JSON object like {example}")
            continue
        objects.append((n, obj))
    return JSONLines(tuple(objects), tuple(problems))


def in_line_order(problems: list[str]) -> list[str]:
    """Problems (``"line N: …"``) sorted by line number, as a reader would go through them."""

    def line(message: str) -> int:
        head = message.split(":", 1)[0]
        return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0

    return sorted(problems, key=line)
