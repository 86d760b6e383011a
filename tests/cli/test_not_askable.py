"""Questions that load but cannot be asked (the real file's empty-text row, 27+ options) are
never sent to a model: runs leave them out and say so, a single ask is refused with the reason.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.cli import flat, run_cli

from core import dataset
from core.asking import prompt_builder
from core.backends.base import Answer
from core.prompts import Condition, Prompt
from core.runner import run
from core.store import Store

MANY = list(string.ascii_uppercase) + ["27th"]


@pytest.fixture
def odd(write_csv: Callable[..., Path]) -> Path:
    return write_csv(
        [
            ("Is it good?", {"France": [0.6, 0.4]}, ["Yes", "No"], "GAS"),
            ("", {"Germany": [0.3, 0.7]}, ["Working", "Retired"], "WVS"),
            ("Pick one", {"Japan": [1 / 27] * 27}, MANY, "GAS"),
            ("Is it bad?", {"France": [0.1, 0.9]}, ["Yes", "No"], "GAS"),
        ],
        name="odd.csv",
    )


class Recorder:
    """A backend that answers every prompt and remembers what it was asked."""

    kind = "openai"
    name = model = "rec"
    base_url = "http://recorder.invalid/v1"
    mode = "completions"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def request_params(self) -> dict[str, object]:
        return {"estimator": "logprobs"}

    async def ask(self, prompt: Prompt, on_partial: object = None) -> Answer:
        self.asked.append(prompt.user)
        k = len(prompt.letters)
        return Answer(probs=np.full(k, 1 / k), off_option_mass=0.0, estimator="logprobs")

    async def aclose(self) -> None:
        pass


async def test_a_run_leaves_them_out_and_says_which(odd: Path, tmp_path: Path) -> None:
    ds = dataset.load(str(odd))
    assert len(ds) == 4  # all rows load
    backend = Recorder()
    outcome = await run(
        name="r",
        dataset=ds,
        positions=range(4),  # type: ignore[arg-type]
        backend=backend,  # type: ignore[arg-type]
        backend_name="rec",
        condition=Condition("default"),
        template="paper",
        store=Store(tmp_path / "s.sqlite3"),
    )
    assert len(backend.asked) == 2
    assert all("Is it" in text for text in backend.asked)
    assert (outcome.total, outcome.answered) == (2, 2)
    assert [p for p, _ in outcome.skipped] == [1, 2]
    assert "empty question text" in outcome.skipped[0][1]
    assert "26" in outcome.skipped[1][1]
    assert outcome.manifest.selection.planned == 2


def test_a_single_ask_is_refused_with_the_reason(odd: Path) -> None:
    ds = dataset.load(str(odd))
    with pytest.raises(dataset.NotAskableError, match="#1 cannot be asked"):
        prompt_builder(ds, Condition("default"), "paper", None, [ds.at(1)])


def test_the_cli_says_which_are_left_out(odd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "--dataset", str(odd), "--search", "Retired")
    assert code == 1
    assert "1 question left out, cannot be asked: #1 (empty question text" in flat(err)
    assert "nothing to run" in err
    code, _, err = run_cli(capsys, "ask", "1", "--dataset", str(odd))
    assert code == 1
    assert "cannot be asked of a model: empty question text" in flat(err)
    assert "Traceback" not in err
