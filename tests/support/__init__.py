"""Helpers the tests share: importable as ``support`` (``tests`` is on pytest's pythonpath).

Test modules import from here, never from one another; fixtures stay in ``tests/conftest.py``.
"""

from pathlib import Path

# The repository root: tests/support/__init__.py is two levels below it.
REPO = Path(__file__).resolve().parents[2]
