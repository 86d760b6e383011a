"""Reusable widgets: the distribution chart, the question list, pickers, the status bar."""
