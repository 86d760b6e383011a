"""``python -m tui``: open the goqa workbench."""

from __future__ import annotations

import argparse

from tui.app import run_app


def main(argv: list[str] | None = None) -> int:
    """Parse ``--dataset``, ``--config``, ``--demo`` and ``--condition``; run the app."""
    parser = argparse.ArgumentParser(prog="python -m tui", description=__doc__)
    parser.add_argument(
        "--dataset", default=None, help="sample (default), full, or a path to a CSV"
    )
    parser.add_argument("--config", default=None, help="config file (default: the platform's)")
    parser.add_argument("--demo", action="store_true", help="open the presentation view")
    parser.add_argument("--condition", default=None, help="e.g. default, country:Russia")
    args = parser.parse_args(argv)
    return run_app(args.dataset, args.config, demo=args.demo, condition=args.condition)


if __name__ == "__main__":
    raise SystemExit(main())
