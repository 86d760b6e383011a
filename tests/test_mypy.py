"""mypy holds on the whole shipped tree (``[tool.mypy]`` in pyproject.toml), so CI, which runs
plain ``pytest``, type-checks it too.

``tests/tui/test_tui_app_contract.py`` runs mypy as well, on something this file does not
check: the tests' harness app (``tests/support/tui.py``) against the screens' contract.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import REPO

TREE = ("core", "cli", "tui", "themes")


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter's mypy from the repository root (its config applies)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_mypy_is_clean_on_core_cli_tui_and_themes() -> None:
    result = mypy(*TREE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_mypy_catches_a_string_where_a_literal_stands(tmp_path: Path) -> None:
    # The check above is only worth something if it can fail: the condition kind, template,
    # policy and estimator are Literals, so a plain or unknown string is a type error.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from core.backends.base import Answer\n"
        "from core.config import Config\n"
        "from core.prompts import Condition\n"
        "import numpy as np\n"
        'Condition("mood")\n'
        'Config(template="v3", policy="maybe")\n'
        'Answer(probs=np.zeros(2), off_option_mass=0.0, estimator="guess")\n',
        encoding="utf-8",
    )
    result = mypy("--cache-dir", str(tmp_path / "cache"), str(probe))
    assert result.returncode == 1, result.stdout + result.stderr
    for given, expected in (
        ("mood", "Literal['default', 'country', 'language']"),
        ("v3", "Literal['paper', 'v2', 'bio', 'portray']"),
        ("maybe", "Literal['keep', 'drop']"),
        ("guess", "Literal['logprobs', 'logits', 'sampling', 'verbalized']"),
    ):
        error = f'incompatible type "Literal[\'{given}\']"; expected "{expected}"'
        assert error in result.stdout, result.stdout
    assert "Found 4 errors in 1 file" in result.stdout
