"""Horizontal bars drawn with eighth-block characters, as plain strings.

One rule for every bar goqa prints (the CLI's tables, the app's chart and leaderboards): a
fraction of a row of cells, filled in eighths of a cell with ``▏▎▍▌▋▊▉█``. The strings carry
no styling, so the CLI colours them with rich and the app's widgets with their component
classes.
"""

from __future__ import annotations

import math

EIGHTHS = " ▏▎▍▌▋▊▉█"
"""Index ``n`` is a cell filled ``n`` eighths from the left (0: empty, 8: full)."""


def eighths_bar(fraction: float, width: int) -> str:
    """A left-aligned bar filled to ``fraction`` of ``width`` cells, in eighth-cell steps.

    Args:
        fraction: how full the bar is, 0..1. Values outside are clamped (a negative one is
            an empty bar, one above 1 a full bar); a NaN or infinite one is no value at all
            and draws an empty bar, never a full one.
        width: the bar's length in cells; 0 or less gives "".

    Returns:
        Exactly ``max(width, 0)`` characters: the blocks, rounded to the nearest eighth of a
        cell, then spaces.
    """
    if width <= 0:
        return ""
    if not math.isfinite(fraction):
        return " " * width
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return (EIGHTHS[8] * full + (EIGHTHS[part] if part else "")).ljust(width)
