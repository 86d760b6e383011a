"""core.textbars: the one eighth-block bar every front end draws, and who draws with it."""

from __future__ import annotations

import math

import pytest

from core.textbars import EIGHTHS, eighths_bar


@pytest.mark.parametrize(
    ("fraction", "width", "bar"),
    [
        (0.0, 4, "    "),
        (1.0, 4, "████"),
        (0.5, 4, "██  "),
        (1 / 32, 4, "▏   "),  # one eighth of one cell of four
        (3 / 32, 4, "▍   "),
        (0.999, 4, "████"),  # rounds to the nearest eighth: 31.97 eighths is 32
        (1 / 70, 4, "    "),  # less than half an eighth: nothing
        (2.0, 3, "███"),  # clamped
        (-1.0, 3, "   "),
        (math.nan, 3, "   "),  # no value is an empty bar, never a full one
        (math.inf, 3, "   "),
        (-math.inf, 3, "   "),
        (0.5, 0, ""),
        (0.5, -2, ""),
        (0.7, 1, "▊"),  # 5.6 eighths round to 6
    ],
)
def test_eighths_bar(fraction: float, width: int, bar: str) -> None:
    assert eighths_bar(fraction, width) == bar
    assert len(bar) == max(width, 0)


def test_every_step_is_one_eighth_more() -> None:
    bars = [eighths_bar(n / 16, 2) for n in range(17)]
    assert bars[8] == "█ " and bars[16] == "██"
    assert [b[1] for b in bars[8:]] == list(EIGHTHS)  # the second cell fills ▏…█
    assert all(len(b) == 2 for b in bars)


def test_the_front_ends_draw_this_bar() -> None:
    from cli.common import bar
    from tui.widgets import chart, leaderboard

    assert bar(0.5, 10) == eighths_bar(0.5, 10)
    assert bar(math.nan) == " " * 24  # the CLI's default width; NaN no longer raises
    assert leaderboard.eighths_bar is eighths_bar
    assert chart.eighths_bar is eighths_bar
    assert not hasattr(chart, "bar") and not hasattr(leaderboard, "EIGHTHS")
