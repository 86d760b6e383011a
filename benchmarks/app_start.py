"""Time from launch to the question list being shown, headless: ``app_start.py CSV T0``.

``T0`` is the parent's ``time.time()`` just before it started this process, so interpreter
start-up and imports count. Prints ``seconds peak_rss_mb``.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time


async def main(path: str, launched: float) -> None:
    from tui.app import create_app
    from tui.widgets.question_list import QuestionList

    app = create_app(dataset_spec=path)
    async with app.run_test(size=(120, 36)) as pilot:
        while True:
            lists = app.screen.query(QuestionList)
            if lists and lists.first().rows:
                break
            await pilot.pause(0.005)
        shown = time.time() - launched
    print(f"{shown:.4f} {peak_rss_mb():.1f}")


def peak_rss_mb() -> float:
    """This process's peak resident set. /proc's VmHWM belongs to this program alone;
    ``ru_maxrss`` can carry the parent's peak across fork and exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
