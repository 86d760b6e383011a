"""Layering: the headless core never imports the terminal UI libraries (textual, rich), and
the import-linter contracts in pyproject.toml hold (core, cli, the app and its widgets)."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

from support import REPO

import core

FORBIDDEN = ("textual", "rich")
CORE_DIR = Path(core.__file__).parent


def core_files() -> list[Path]:
    return sorted(CORE_DIR.rglob("*.py"))


def imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_the_ast_walker_sees_imports() -> None:
    # The check below is only worth something if it can fail.
    tree = ast.parse(
        "import rich.console\nfrom textual.app import App\n"
        "def f():\n    import importlib\n    importlib.import_module('rich')\n"
    )
    assert {"rich", "textual"} <= imported_roots(tree)


def test_no_core_file_imports_ui_libraries() -> None:
    files = core_files()
    assert CORE_DIR / "dataset.py" in files and CORE_DIR / "backends" / "base.py" in files
    offenders = {
        str(path.relative_to(CORE_DIR)): sorted(
            imported_roots(ast.parse(path.read_bytes())) & set(FORBIDDEN)
        )
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def core_modules() -> list[str]:
    modules = sorted(info.name for info in pkgutil.walk_packages(core.__path__, prefix="core."))
    assert {"core.dataset", "core.metrics", "core.store", "core.backends.base"} <= set(modules)
    return modules


_PROBE = """
import importlib, json, sys
block, mods, first = {block!r}, {mods!r}, {first!r}
sys.path[:0] = {extra_path!r}

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("textual", "rich"):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

if block:
    sys.meta_path.insert(0, Blocker())
for m in first:
    importlib.import_module(m)
ui = lambda: sorted(n for n in sys.modules if n.split(".")[0] in ("textual", "rich"))
baseline = ui()
errors = {{}}
for m in mods:
    try:
        importlib.import_module(m)
    except Exception as exc:
        errors[m] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{"errors": errors, "baseline": baseline, "loaded": ui()}}))
"""


def probe(
    modules: list[str], block: bool, first: tuple[str, ...] = (), extra_path: tuple[str, ...] = ()
) -> dict:
    script = _PROBE.format(
        block=block, mods=modules, first=list(first), extra_path=list(extra_path)
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_core_imports_with_ui_libraries_unavailable() -> None:
    """Every core module imports in a process where textual and rich cannot be imported."""
    report = probe(core_modules(), block=True)
    assert report["errors"] == {}
    assert report["loaded"] == []


def test_core_itself_loads_no_ui_module() -> None:
    """Importing core loads no textual/rich module beyond what its dependencies load.

    httpx imports ``rich`` for its own command-line tool when rich is installed (it is: the
    TUI needs it), so ``rich`` may be in ``sys.modules`` through httpx; core must add nothing.
    """
    deps = ("httpx", "numpy", "scipy.special", "platformdirs", "sqlite3")
    report = probe(core_modules(), block=False, first=deps)
    assert report["errors"] == {}
    assert report["loaded"] == report["baseline"]
    assert not [m for m in report["loaded"] if m.split(".")[0] == "textual"]


def test_probe_detects_a_ui_import(tmp_path: Path) -> None:
    # The probes must be able to fail: a module that imports a UI library is caught by both.
    (tmp_path / "uses_ui.py").write_text("import textual\n", encoding="utf-8")
    blocked = probe(["uses_ui"], block=True, extra_path=(str(tmp_path),))
    assert "blocked" in blocked["errors"]["uses_ui"]
    plain = probe(["uses_ui"], block=False, first=("httpx",), extra_path=(str(tmp_path),))
    assert plain["errors"] == {}
    assert plain["loaded"] != plain["baseline"]
    assert "textual" in plain["loaded"]


# --------------------------------------------------------------------------- import-linter


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the venv's ``lint-imports`` (the contracts in pyproject.toml) from the repo root."""
    tool = Path(sys.executable).with_name("lint-imports")
    assert tool.exists(), "lint-imports is missing: pip install -e '.[test]'"
    return subprocess.run(
        [str(tool), "--no-cache", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_linter_contracts_are_kept() -> None:
    """core imports no UI nor front end; cli imports textual only to launch the app; the
    app does not import cli; widgets import neither screens nor the app."""
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout
    # The launch of the app from cli is a lazy import; the contract sees it and lets it be.
    assert "(2 ignored imports)" in result.stdout


def test_import_linter_sees_lazy_imports_and_fails(tmp_path: Path) -> None:
    # The contracts are only worth something if they can fail: without the launch exception,
    # the imports of tui.app inside cli's functions break a cli -> tui contract.
    config = tmp_path / "importlinter.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["cli", "tui"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "cli without tui"\ntype = "forbidden"\n'
        'source_modules = ["cli"]\nforbidden_modules = ["tui"]\n',
        encoding="utf-8",
    )
    result = lint_imports("--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and "-> tui.app" in result.stdout


def test_no_import_circles_between_goqa_modules() -> None:
    """No module of goqa reaches itself through its imports (lazy ones included)."""
    import grimp  # installed with import-linter

    graph = grimp.build_graph("core", "cli", "tui", "themes", cache_dir=None)
    assert {"tui.app", "tui.commands", "cli.main", "core.store"} <= graph.modules
    circles = sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert circles == []
