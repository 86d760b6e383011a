"""An answer is valid, or it is not stored as one.

Servers that lie (NaN, positive or overflowing log-probabilities, no mass on any letter, empty
``choices``, probabilities that add up to more than 1, a chat server that ignores the
assistant prefill) are served by a real loopback HTTP server; what reaches the store and the
cache is read back from a real SQLite file.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import dataset
from core.asking import ask_cached, cache_key
from core.backends.base import (
    Answer,
    InvalidAnswerError,
    fold_logprobs,
    validate_answer,
)
from core.backends.openai import OpenAIBackend, ignored_prefill
from core.config import BackendConfig
from core.connection import check_connection
from core.prompts import Condition, render
from core.runner import run, run_answers
from core.runs import load_run
from core.store import Store

LETTERS = ("A", "B", "C")

# --------------------------------------------------------------------------- pure checks


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (math.nan, "nan"),
        (math.inf, "inf"),
        (0.7, "0.7"),
        (1e308, "1e+308"),  # exp() of it overflows
        ("-0.1", "not a number"),
    ],
)
def test_impossible_logprobs_are_rejected_with_a_reason(bad: Any, needle: str) -> None:
    with pytest.raises(InvalidAnswerError) as err:
        fold_logprobs([("A", -0.5), ("B", bad), ("C", -2.0)], LETTERS)
    assert needle in str(err.value)
    assert "'B'" in str(err.value)


def test_minus_infinity_and_sentinels_mean_probability_zero() -> None:
    probs, off, _, _ = fold_logprobs(
        [("A", math.log(0.6)), ("B", -math.inf), ("C", -9999.0), ("x", math.log(0.4))], LETTERS
    )
    np.testing.assert_allclose(probs, [1.0, 0.0, 0.0])
    assert off == pytest.approx(0.4)


def test_a_top_list_that_adds_up_to_more_than_one_is_a_lie() -> None:
    with pytest.raises(InvalidAnswerError, match="more than 1"):
        fold_logprobs([("A", -0.1), ("B", -0.1), ("C", -0.1)], LETTERS)


def _answer(probs: list[float], off: float = 0.0, **kw: Any) -> Answer:
    return Answer(probs=np.array(probs), off_option_mass=off, estimator="logprobs", **kw)


def test_no_mass_on_any_letter_is_a_failure_naming_the_tokens() -> None:
    answer = _answer([0.0, 0.0, 0.0], 1.0, top_tokens=(("Your", 0.5), ("The", 0.3)))
    with pytest.raises(InvalidAnswerError) as err:
        validate_answer(answer)
    assert "'Your'" in str(err.value)


def test_nothing_parseable_in_samples_is_a_failure() -> None:
    answer = Answer(
        probs=np.zeros(3), off_option_mass=1.0, estimator="sampling", samples=20, unparseable=20
    )
    with pytest.raises(InvalidAnswerError, match="None of the 20 sampled replies"):
        validate_answer(answer)


def test_nan_probabilities_are_a_failure() -> None:
    with pytest.raises(InvalidAnswerError, match="not finite"):
        validate_answer(_answer([math.nan, 0.5, 0.5]))


@pytest.mark.parametrize(
    ("off", "threshold", "suspect"), [(0.6, 0.5, True), (0.4, 0.5, False), (0.4, 0.3, True)]
)
def test_off_option_mass_above_the_threshold_is_suspect(
    off: float, threshold: float, suspect: bool
) -> None:
    checked = validate_answer(_answer([0.2, 0.3, 0.1], off), threshold)
    np.testing.assert_allclose(checked.probs, [1 / 3, 1 / 2, 1 / 6])  # renormalised
    assert bool(checked.suspect) is suspect
    if suspect:
        assert f"{off:.0%}" in checked.suspect
        assert f"max_off_option = {threshold:g}" in checked.suspect


def test_a_backends_own_suspect_reason_is_kept_first() -> None:
    checked = validate_answer(_answer([0.5, 0.5, 0.0], 0.9, suspect="prefill ignored"))
    assert checked.suspect.startswith("prefill ignored; 90%")


def test_suspect_survives_the_json_round_trip() -> None:
    answer = _answer([1.0, 0.0, 0.0], suspect="why")
    assert Answer.from_json(json.loads(json.dumps(answer.to_json()))).suspect == "why"
    legacy = answer.to_json()
    del legacy["suspect"]  # stored by an older goqa
    assert Answer.from_json(legacy).suspect == ""


# --------------------------------------------------------------------------- a lying server


Responder = Callable[[dict[str, Any]], Any]


class LyingServer:
    """A loopback OpenAI-compatible server whose answers come from ``respond(body)``."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.headers.append(dict(self.headers))
                data = json.dumps(outer.respond(body), allow_nan=True).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def lying() -> Iterator[Callable[[Responder], LyingServer]]:
    servers: list[LyingServer] = []

    def start(respond: Responder) -> LyingServer:
        servers.append(LyingServer(respond))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _content(*positions: tuple[str, list[tuple[str, float]]]) -> dict[str, Any]:
    """A chat-shaped reply: ``choices[0].logprobs.content`` with one entry per position."""
    return {
        "choices": [
            {
                "message": {"role": "assistant", "content": "".join(t for t, _ in positions)},
                "logprobs": {
                    "content": [
                        {
                            "token": tok,
                            "logprob": dict(tops).get(tok, -1.0),
                            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in tops],
                        }
                        for tok, tops in positions
                    ]
                },
            }
        ]
    }


def _backend(server: LyingServer, mode: str = "completions") -> OpenAIBackend:
    cfg = BackendConfig("liar", "openai", base_url=server.base_url, model="m", mode=mode)
    return OpenAIBackend(cfg)


def _letters(pa: float, pb: float, pc: float) -> list[tuple[str, float]]:
    return [("A", math.log(pa)), ("B", math.log(pb)), ("C", math.log(pc))]


GOOD = _content(("B", _letters(0.2, 0.7, 0.1)))
IGNORED_PREFILL = _content(
    ("(", [("(", math.log(0.8)), ("Your", math.log(0.1)), ("The", math.log(0.05))]),
    ("B", _letters(0.3, 0.6, 0.1)),
)
NO_LETTERS = _content(("Your", [("Your", -0.2), ("The", -2.0)]))
NAN_LETTERS = _content(("A", [("A", math.nan), ("B", math.nan), ("C", math.nan)]))
EMPTY = {"choices": []}


PROBE = render(text="Is the sky blue?", options=("Yes", "No", "Maybe"))


async def test_a_chat_server_that_ignores_the_prefill_is_caught(
    lying: Callable[[Responder], LyingServer],
) -> None:
    server = lying(lambda body: IGNORED_PREFILL)
    backend = _backend(server, "chat")
    try:
        verdict = await check_connection(backend)
    finally:
        await backend.aclose()
    assert server.requests[0]["continue_final_message"] is True
    assert server.requests[0]["max_tokens"] == 2  # room for '(' + letter
    assert not verdict.ok
    assert verdict.answer is not None
    assert "ignored it" in verdict.answer.suspect
    assert 'mode = "completions"' in verdict.message
    # The estimator note says what was done with the reply.
    assert "folded '(' + letter" in verdict.answer.note
    # The probe has two options: (A) and (B) of the second position, renormalised.
    np.testing.assert_allclose(verdict.answer.probs, [1 / 3, 2 / 3], atol=1e-9)


async def test_a_chat_server_that_honours_the_prefill_passes(
    lying: Callable[[Responder], LyingServer],
) -> None:
    server = lying(lambda body: GOOD)
    backend = _backend(server, "chat")
    try:
        verdict = await check_connection(backend)
    finally:
        await backend.aclose()
    assert verdict.ok, verdict.message
    assert verdict.answer is not None and verdict.answer.suspect == ""


def test_ignored_prefill_reads_the_bracket_mass_too() -> None:
    # The chosen token is a word, but '(' outweighs every letter together.
    positions = [("Your", [("Your", -0.5), ("(", math.log(0.3)), ("A", math.log(0.01))])]
    assert ignored_prefill(positions, LETTERS)  # type: ignore[arg-type]
    honest = [("B", [("B", math.log(0.9)), ("(", math.log(0.01))])]
    assert not ignored_prefill(honest, LETTERS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (NO_LETTERS, "No probability fell on any option letter"),
        (NAN_LETTERS, "impossible log-probability"),
        (EMPTY, "empty list of choices"),
    ],
)
async def test_connection_check_fails_with_the_reason(
    lying: Callable[[Responder], LyingServer], reply: dict[str, Any], needle: str
) -> None:
    server = lying(lambda body: reply)
    backend = _backend(server)
    try:
        verdict = await check_connection(backend)
    finally:
        await backend.aclose()
    assert not verdict.ok
    assert needle in verdict.message
    assert verdict.answer is None


# --------------------------------------------------------------------------- store and cache


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> dataset.Dataset:
    rows = [
        (f"Question {i}?", {"Russia": [0.2, 0.5, 0.3], "Japan": [0.6, 0.3, 0.1]}, ["X", "Y", "Z"])
        for i in range(4)
    ]
    return dataset.load(str(write_csv([(q, s, o, "GAS") for q, s, o in rows])))


def _completions(probs: tuple[float, float, float], off: float = 0.0) -> dict[str, Any]:
    tops = {L: math.log(p * (1 - off)) for L, p in zip(LETTERS, probs, strict=True) if p > 0}
    if off:
        tops["Hello"] = math.log(off)
    return {"choices": [{"text": "B", "logprobs": {"tokens": ["B"], "top_logprobs": [tops]}}]}


async def test_an_invalid_answer_is_failed_not_cached_and_asked_again(
    lying: Callable[[Responder], LyingServer], tiny: dataset.Dataset, tmp_path: Path
) -> None:
    broken = {"on": True}

    def respond(body: dict[str, Any]) -> Any:
        if broken["on"] and "Question 1?" in body["prompt"]:
            return {"choices": [{"text": "x", "logprobs": {"top_logprobs": [{"Hmm": -0.1}]}}]}
        return _completions((0.2, 0.7, 0.1))

    server = lying(respond)
    store = Store(tmp_path / "s.sqlite3")
    kw = dict(
        name="r",
        dataset=tiny,
        positions=list(range(4)),
        backend_name="liar",
        condition=Condition("default"),
        template="paper",
        store=store,
        max_retries=0,
    )
    backend = _backend(server)
    try:
        first = await run(backend=backend, **kw)  # type: ignore[arg-type]
        assert (first.answered, first.failed) == (3, 1)
        failed = store.answers("r", status="failed")
        assert [a.question_id for a in failed] == [tiny.at(1).id]
        assert "No probability fell on any option letter" in (failed[0].error or "")
        # Not cached: the cache holds the three good answers only.
        assert store._query("SELECT COUNT(*) FROM cache")[0][0] == 3
        broken["on"] = False
        asked_before = len(server.requests)
        second = await run(backend=backend, **kw)  # type: ignore[arg-type]
    finally:
        await backend.aclose()
    assert len(server.requests) == asked_before + 1  # only the failed question, once
    assert (second.already_done, second.failed) == (3, 0)
    assert len(store.answers("r", status="ok")) == 4


async def test_suspect_answers_are_stored_counted_and_left_out_of_scores(
    lying: Callable[[Responder], LyingServer], tiny: dataset.Dataset, tmp_path: Path
) -> None:
    def respond(body: dict[str, Any]) -> Any:
        off = 0.8 if "Question 0?" in body["prompt"] else 0.1
        return _completions((0.6, 0.3, 0.1), off)

    server = lying(respond)
    store = Store(tmp_path / "s.sqlite3")
    backend = _backend(server)
    try:
        outcome = await run(
            name="r",
            dataset=tiny,
            positions=list(range(4)),
            backend=backend,
            backend_name="liar",
            condition=Condition("default"),
            template="paper",
            store=store,
            max_off_option=0.5,
        )
    finally:
        await backend.aclose()
    assert (outcome.answered, outcome.suspect) == (4, 1)
    suspect = [a for a in store.answers("r", "ok") if a.answer and a.answer.suspect]
    assert [a.question_id for a in suspect] == [tiny.at(0).id]
    assert "80%" in suspect[0].answer.suspect  # type: ignore[union-attr]
    default = run_answers(store, tiny, "r")
    assert (len(default.positions), default.suspect_excluded) == (3, 1)
    assert len(run_answers(store, tiny, "r", include_suspect=True).positions) == 4
    assert load_run(store, tiny, "r").scores.n_questions_scored == 3
    assert load_run(store, tiny, "r", include_suspect=True).scores.n_questions_scored == 4


async def test_an_invalid_cache_entry_from_an_older_goqa_is_asked_again(
    lying: Callable[[Responder], LyingServer], tmp_path: Path
) -> None:
    server = lying(lambda body: _completions((0.2, 0.7, 0.1)))
    store = Store(tmp_path / "s.sqlite3")
    backend = _backend(server)
    try:
        store.cache_put(cache_key(backend, PROBE), _answer([0.0, 0.0, 0.0], 1.0))
        answer, cached = await ask_cached(backend, PROBE, store)
    finally:
        await backend.aclose()
    assert not cached
    assert len(server.requests) == 1
    np.testing.assert_allclose(answer.probs, [0.2, 0.7, 0.1], atol=1e-9)


def test_a_cached_suspect_answer_is_judged_again_against_the_threshold() -> None:
    once = validate_answer(_answer([0.5, 0.5, 0.0], 0.6, suspect="prefill ignored"), 0.5)
    assert once.suspect.count("max_off_option") == 1
    again = validate_answer(once, 0.5)
    assert again.suspect == once.suspect  # not repeated
    looser = validate_answer(once, 0.8)
    assert looser.suspect == "prefill ignored"  # the backend's own reason stays


def test_a_top_list_repeating_a_token_to_more_than_one_is_a_lie() -> None:
    with pytest.raises(InvalidAnswerError, match="more than 1"):
        fold_logprobs([("B", math.log(0.6))] * 3, LETTERS)
    # An exact repeat within a plausible total is counted once.
    probs, off, _, _ = fold_logprobs([("B", math.log(0.4))] * 2, LETTERS)
    assert off == pytest.approx(0.6)


def test_a_word_chosen_after_the_prefill_means_it_was_ignored() -> None:
    # Letters hold most of the mass, but the server chose "The": it did not continue "(".
    positions = [("The", [("The", math.log(0.3)), ("A", math.log(0.35)), ("B", math.log(0.3))])]
    assert ignored_prefill(positions, LETTERS)  # type: ignore[arg-type]


async def test_a_server_echoing_the_key_cannot_get_it_into_the_store(
    lying: Callable[[Responder], LyingServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOQA_ECHO_KEY", "sk-SUPERSECRETKEY123456")
    server: LyingServer

    def respond(body: dict[str, Any]) -> Any:
        echoed = server.headers[-1].get("Authorization", "")
        return _content(("B", [("B", math.log(0.7)), (echoed, math.log(0.2))]))

    server = lying(respond)
    cfg = BackendConfig(
        "echo",
        "openai",
        base_url=server.base_url,
        model="m",
        mode="completions",
        api_key_env="GOQA_ECHO_KEY",
    )
    backend = OpenAIBackend(cfg)
    store = Store(tmp_path / "s.sqlite3")
    try:
        answer, _ = await ask_cached(backend, PROBE, store)
    finally:
        await backend.aclose()
    assert ("Bearer ***", pytest.approx(0.2)) in answer.top_tokens
    store.close()
    assert b"SUPERSECRET" not in (tmp_path / "s.sqlite3").read_bytes()
    wal = tmp_path / "s.sqlite3-wal"
    assert not wal.exists() or b"SUPERSECRET" not in wal.read_bytes()


def test_log_probabilities_sent_as_strings_are_not_numbers() -> None:
    from core.backends.openai import fold_positions, parse_positions

    positions = parse_positions(_content(("B", [("A", "-0.1"), ("B", "-2.0")])))  # type: ignore[list-item]
    assert positions is not None
    with pytest.raises(InvalidAnswerError, match="not a number"):
        fold_positions(positions, LETTERS)


def test_an_old_llama_server_probability_above_one_is_named_as_such() -> None:
    from core.backends.openai import parse_positions

    data = {
        "completion_probabilities": [{"content": "B", "probs": [{"tok_str": "B", "prob": 1.7}]}]
    }
    with pytest.raises(InvalidAnswerError, match="impossible probability 1.7 for token 'B'"):
        parse_positions(data)
