"""goqa's Textual themes and stylesheet.

Themes are :class:`textual.theme.Theme` objects registered by the app at start-up; the
stylesheet (``goqa.tcss``) uses only theme variables (``$primary``, ``$panel``…), so every
registered theme, ours or Textual's, styles the whole app.
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

GOQA_DARK = Theme(
    name="goqa-dark",
    primary="#5AA9E6",
    secondary="#E8A33D",
    accent="#F07167",
    success="#5BB974",
    warning="#E8C547",
    error="#E5534B",
    foreground="#D9DEE4",
    background="#10151B",
    surface="#171E26",
    panel="#212A35",
    dark=True,
)

GOQA_LIGHT = Theme(
    name="goqa-light",
    primary="#1F6FA8",
    secondary="#A8660F",
    accent="#C2413A",
    success="#2F8A45",
    warning="#9A7A0A",
    error="#B3261E",
    foreground="#1D242B",
    background="#F7F5F0",
    surface="#FFFFFF",
    panel="#E7E3DA",
    dark=False,
)

THEMES: tuple[Theme, ...] = (GOQA_DARK, GOQA_LIGHT)
"""Our themes, registered before the config's theme is applied."""

DEFAULT_THEME = GOQA_DARK.name

STYLESHEET = Path(__file__).with_name("goqa.tcss")
"""The app's stylesheet (``App.CSS_PATH``)."""
