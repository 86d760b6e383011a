"""``--estimator`` on the command line, against a real loopback server: a run made with one
estimator, what ``ask --estimator all`` prints, and a run name reused with another."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import flat, run_cli, run_json, write_config
from support.fakeserver import FakeServer


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_a_run_name_reused_with_another_estimator_is_refused_before_it_is_announced(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    with FakeServer() as server:
        write_config(isolated_dirs, server)
        data = run_json(capsys, "run", "--backend", "fake", "--name", "r", "--limit", "3")
        assert data["run"]["estimator"] == "first-token"
        asked = server.request_count
        code, out, err = run_cli(
            capsys, "run", "--backend", "fake", "--name", "r", "--limit", "3",
            "--estimator", "order-averaged", "--orders", "2",
        )  # fmt: skip
        assert code == 1
        assert "already exists with estimator 'first-token' (now 'order-averaged')" in flat(err)
        assert "estimator_params none (now orders=2)" in flat(err)
        assert "Run r:" not in err and "asking" not in err  # not announced, no progress bar
        assert server.request_count == asked


def test_ask_with_every_estimator_shows_each_and_the_distances_between_them(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    replies = iter(())

    def reply(user: str) -> str:
        if "percentage of people" in user:
            return '{"A": 70, "B": 30}' if "(C)" not in user else "no idea"
        return next(replies, "(A)")

    with FakeServer(reply=reply) as server:
        path = write_config(isolated_dirs, server)
        top = "free_text_samples = 3\ncalibration_questions = 1\n"
        path.write_text(top + path.read_text(encoding="utf-8"), encoding="utf-8")
        # Question 3 of the sample has two options: every estimator can answer it.
        data = run_json(capsys, "ask", "3", "--backend", "fake", "--estimator", "all", code=0)
    by_name = {e["estimator"]: e for e in data["estimates"]}
    assert list(by_name) == [
        "first-token",
        "order-averaged",
        "prior-corrected",
        "verbalized",
        "free-text",
    ]
    assert by_name["verbalized"]["answer"]["probs"] == pytest.approx([0.7, 0.3])
    assert by_name["free-text"]["answer"]["probs"] == [1.0, 0.0]
    assert by_name["free-text"]["answer"]["choices"] == ["A", "A", "A"]
    assert by_name["prior-corrected"]["calibration"]["by_options"]["2"]["size"] == 1
    assert len(data["pairwise_js_distance"]) == 10  # every pair of five


def test_orders_with_another_estimator_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    code, _, err = run_cli(capsys, "ask", "0", "--estimator", "verbalized", "--orders", "3")
    assert code == 2
    assert "--orders applies to the order-averaged estimator only, not verbalized" in flat(err)
