"""goqa's terminal UI: the Textual app (:mod:`tui.app`), its screens and widgets."""
