"""Take the README's screenshots with the app itself (SVG), on the embedded local model.

Run from a clone with the ``local`` extra: ``python tools/screenshots.py`` writes
``docs/*.svg``. Uses temporary config, data and cache directories, so nothing of yours is
touched; the local model answers for real.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


async def wait_for(pilot, condition, timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.05)


async def main() -> None:
    from core import dataset
    from core.backends import make_backend
    from core.config import LOCAL_DEFAULT
    from core.prompts import Condition
    from core.runner import run
    from core.store import Store
    from tui.app import create_app
    from tui.widgets.chart import DistributionChart

    DOCS.mkdir(exist_ok=True)
    # A stored 30-question run for the results screenshots.
    ds = dataset.load()
    store = Store()
    backend = make_backend(LOCAL_DEFAULT)
    for name, condition in (
        ("smollm2-default", Condition("default")),
        ("smollm2-russia", Condition("country", "Russia")),
    ):
        await run(
            name=name,
            dataset=ds,
            positions=list(range(30)),
            backend=backend,
            backend_name="local",
            condition=condition,
            template="paper",
            store=store,
            concurrency=1,
        )
    store.close()
    # The shareable HTML report, made by the command line.
    from cli.main import main as cli

    cli(
        [
            "report",
            "smollm2-default",
            "--html",
            str(DOCS / "report-example.html"),
            "--compare",
            "smollm2-russia",
            "--top",
            "3",
        ]
    )

    def answered(app) -> bool:
        charts = app.screen.query(DistributionChart)
        data = charts.first().data if charts else None
        return bool(
            data
            and not data.pending
            and any(s.kind == "model" and len(s.values) for s in data.series)
        )

    for name, size in (("browse", (120, 36)), ("browse-large", (160, 48))):
        app = create_app()
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda app=app: app.dataset_ready)
            await pilot.pause(0.3)
            await pilot.press("down", "down", "down")
            await pilot.press("a")
            await wait_for(pilot, lambda app=app: answered(app))
            await pilot.pause(0.3)
            app.save_screenshot(str(DOCS / f"{name}.svg"))
    app = create_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.dataset_ready)
        await pilot.press("3")
        await pilot.pause(1.0)
        await pilot.press("enter")
        await pilot.pause(3.0)
        app.save_screenshot(str(DOCS / "results.svg"))
    print("wrote", ", ".join(sorted(p.name for p in DOCS.glob("*.svg"))))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for var in ("GOQA_CONFIG_DIR", "GOQA_DATA_DIR", "GOQA_CACHE_DIR"):
            os.environ[var] = str(Path(tmp) / var.lower())
        sys.path.insert(0, str(ROOT))
        asyncio.run(main())
