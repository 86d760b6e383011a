"""The HTTP backends against a real local server (tests/support/fakeserver.py) with injected
faults."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
import types
from dataclasses import replace

import httpx
import numpy as np
import pytest
from support.fakeserver import (
    PAREN_FIRST,
    FakeServer,
    RecordedRequest,
    canned_distribution,
    count_letters,
    question_key,
)

from core.backends import make_backend
from core.backends.anthropic import AnthropicBackend
from core.backends.base import Answer, BackendError, parse_letter
from core.backends.openai import OpenAIBackend
from core.backends.retry import RetryPolicy, ask_with_retries
from core.config import BackendConfig, ConfigError
from core.prompts import Condition, Prompt, render

SECRET = "sk-test-SECRET-0123456789abcdef"
KEY_ENV = "GOQA_TEST_API_KEY"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def make_prompt(i: int = 0, k: int = 4) -> Prompt:
    options = ["Very good", "Somewhat good", "Somewhat bad", "Very bad", "Refused", "DK", "Other"]
    return render(text=f"Question {i}: is the economy good?", options=options[:k])


PROMPT = make_prompt()


def openai_cfg(server: FakeServer, mode: str = "completions", **kw: object) -> BackendConfig:
    values: dict[str, object] = dict(
        base_url=server.base_url, model="m", mode=mode, api_key_env=KEY_ENV, concurrency=16
    )
    values.update(kw)
    return BackendConfig("fake", "openai", **values)  # type: ignore[arg-type]


def anthropic_cfg(server: FakeServer, **kw: object) -> BackendConfig:
    values: dict[str, object] = dict(
        base_url=server.url, model="claude", mode="messages", api_key_env=KEY_ENV, samples=8
    )
    values.update(kw)
    return BackendConfig("claude", "anthropic", **values)  # type: ignore[arg-type]


async def ask_once(backend: OpenAIBackend | AnthropicBackend, prompt: Prompt = PROMPT) -> Answer:
    try:
        return await backend.ask(prompt)
    finally:
        await backend.aclose()


def assert_matches_server(answer: Answer, server: FakeServer, prompt: Prompt = PROMPT) -> None:
    probs, off = server.expected(prompt.user)
    np.testing.assert_allclose(answer.probs, probs, rtol=0, atol=1e-9)
    assert answer.off_option_mass == pytest.approx(off, abs=1e-9)
    assert answer.probs.sum() == pytest.approx(1.0, abs=1e-12)


def max_in_flight(records: list[RecordedRequest]) -> int:
    events = sorted([(r.started, 1) for r in records] + [(r.finished, -1) for r in records])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


# --------------------------------------------------------------------------- the fake server


async def test_fake_server_keeps_the_last_records_and_counts_all() -> None:
    with FakeServer(max_records=3, faults=["503"] * 10) as server:
        async with httpx.AsyncClient() as client:
            for i in range(5):
                await client.post(f"{server.base_url}/completions", json={"prompt": f"{i}"})
        assert server.request_count == 5 and len(server.recorded()) == 3
        assert [r.body["prompt"] for r in server.recorded()] == ["2", "3", "4"]
        server.reset()  # also drops the 5 scripted faults left
        assert server.request_count == 0
        answer = await ask_once(OpenAIBackend(openai_cfg(server)))
    assert_matches_server(answer, server)


def test_canned_distribution_is_deterministic_per_question() -> None:
    a, b = make_prompt(1), make_prompt(2)
    assert question_key(a.text) == question_key(a.chat_user()) == a.user
    assert count_letters(a.user) == 4
    np.testing.assert_array_equal(canned_distribution(a.text), canned_distribution(a.user))
    assert not np.allclose(canned_distribution(a.user), canned_distribution(b.user))
    d = canned_distribution(a.user)
    assert d.shape == (4,) and d.min() > 0 and 0.8 <= d.sum() <= 0.98
    cross = render(text="Q?", options=["x", "y", "z"], condition=Condition("country", "Chile"))
    assert question_key(cross.text) == cross.user and count_letters(cross.user) == 3


async def test_fake_server_serves_64_concurrent_requests_in_parallel() -> None:
    with FakeServer(delay=0.2) as server:
        cfg = openai_cfg(server, concurrency=64)
        backend = OpenAIBackend(cfg)
        started = time.perf_counter()
        answers = await asyncio.gather(*(backend.ask(make_prompt(i)) for i in range(64)))
        elapsed = time.perf_counter() - started
        await backend.aclose()
        assert elapsed < 1.5, f"64 x 200 ms took {elapsed:.2f}s: requests were serialised"
        assert server.count("/v1/completions") == server.request_count == 64
        assert max_in_flight(server.recorded()) >= 32
        for i, answer in enumerate(answers):
            assert_matches_server(answer, server, make_prompt(i))


async def test_backend_concurrency_bounds_requests_in_flight() -> None:
    with FakeServer(delay=0.05) as server:
        backend = OpenAIBackend(openai_cfg(server, concurrency=3))
        await asyncio.gather(*(backend.ask(make_prompt(i)) for i in range(12)))
        await backend.aclose()
        assert server.count() == 12
        assert max_in_flight(server.recorded()) <= 3


# --------------------------------------------------------------------------- OpenAI: logprobs


@pytest.mark.parametrize("shape", ["openai", "llama-server", "llama-server-old"])
async def test_completions_folds_each_logprob_shape(shape: str) -> None:
    with FakeServer(shape=shape) as server:
        answer = await ask_once(OpenAIBackend(openai_cfg(server)))
        [request] = server.recorded()
    assert_matches_server(answer, server)
    assert answer.estimator == "logprobs" and not answer.truncated and answer.samples == 0
    assert request.path == "/v1/completions"
    assert request.body == {
        "model": "m",
        "prompt": PROMPT.text,
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": 20,
    }
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert answer.prompt_tokens == request.response["usage"]["prompt_tokens"] > 0
    assert answer.completion_tokens == 1
    assert answer.top_tokens[0][1] == pytest.approx(max(server.distribution_for(PROMPT.user)))
    assert answer.latency_s > 0


@pytest.mark.parametrize("shape", ["openai", "llama-server", "llama-server-old"])
async def test_chat_with_prefill(shape: str) -> None:
    with FakeServer(shape=shape) as server:
        backend = OpenAIBackend(openai_cfg(server, mode="chat"))
        answer = await ask_once(backend)
        [request] = server.recorded()
    assert_matches_server(answer, server)
    assert request.path == "/v1/chat/completions"
    assert request.body == {
        "model": "m",
        "messages": [
            {"role": "user", "content": PROMPT.user},
            {"role": "assistant", "content": PROMPT.answer_prefix},
        ],
        "continue_final_message": True,
        "add_generation_prompt": False,
        "max_tokens": 2,  # room to see a server that ignores the prefill answer "(" + letter
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 20,
    }
    assert backend.request_params()["prefill"] is True
    assert answer.note == ""


async def test_chat_falls_back_to_chat_template_when_prefill_is_rejected() -> None:
    with FakeServer(supports_prefill=False) as server:
        backend = OpenAIBackend(openai_cfg(server, mode="chat"))
        assert backend.request_params()["prefill"] is True
        first = await backend.ask(PROMPT)
        rejected, accepted = server.recorded()
        assert rejected.status == 400 and rejected.body["continue_final_message"] is True
        assert accepted.status == 200 and "continue_final_message" not in accepted.body
        assert accepted.body["messages"] == [{"role": "user", "content": PROMPT.chat_user()}]
        assert_matches_server(first, server)
        assert "prefill" in first.note
        # Remembered: the next question goes straight to the chat template.
        second = await backend.ask(make_prompt(7))
        await backend.aclose()
        assert server.count() == 3
        assert "continue_final_message" not in server.recorded()[-1].body
        assert_matches_server(second, server, make_prompt(7))
        assert backend.learnt()["prefill"] is False


async def test_chat_without_prefill_adds_the_letter_after_an_opening_paren() -> None:
    # The first token is "(" with 60% of the mass; the letters follow at position 2.
    with FakeServer(supports_prefill=False, chat_paren_first=True) as server:
        answer = await ask_once(OpenAIBackend(openai_cfg(server, mode="chat")))
        response = server.recorded()[-1].response
    assert len(response["choices"][0]["logprobs"]["content"]) == 2
    assert answer.top_tokens[0] == ("(", pytest.approx(PAREN_FIRST))
    assert_matches_server(answer, server)  # off-option mass is not the 60% on "("


async def test_a_400_that_fallbacks_do_not_fix_is_raised_and_not_remembered() -> None:
    with FakeServer(faults=["400", "400"]) as server:
        backend = OpenAIBackend(openai_cfg(server, mode="chat"))
        with pytest.raises(BackendError) as info:
            await backend.ask(PROMPT)
        assert not info.value.retryable
        assert backend.request_params()["prefill"] is True
        answer = await backend.ask(PROMPT)
        await backend.aclose()
        assert server.recorded()[-1].body["continue_final_message"] is True
        assert_matches_server(answer, server)


@pytest.mark.parametrize("mode", ["completions", "chat"])
async def test_logprobs_cap_steps_down_to_5_and_is_remembered(mode: str) -> None:
    field = "logprobs" if mode == "completions" else "top_logprobs"
    with FakeServer(max_logprobs=5, distribution=lambda key, k: [0.5, 0.3, 0.1]) as server:
        backend = OpenAIBackend(openai_cfg(server, mode=mode))
        prompt = make_prompt(k=3)
        answer = await backend.ask(prompt)
        assert [r.body[field] for r in server.recorded()] == [20, 5]
        assert [r.status for r in server.recorded()] == [400, 200]
        await backend.ask(make_prompt(3, k=3))
        await backend.aclose()
        assert [r.body[field] for r in server.recorded()] == [20, 5, 5]
    np.testing.assert_allclose(answer.probs, [5 / 9, 3 / 9, 1 / 9], atol=1e-9)
    assert answer.off_option_mass == pytest.approx(0.1, abs=1e-9)
    assert not answer.truncated
    assert "caps logprobs at 5" in answer.note
    assert backend.learnt()["logprobs"] == 5


async def test_letters_outside_the_top_list_make_the_answer_truncated() -> None:
    dist = [0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05]
    with FakeServer(max_logprobs=5, distribution=lambda key, k: dist) as server:
        answer = await ask_once(OpenAIBackend(openai_cfg(server)), make_prompt(k=7))
    np.testing.assert_allclose(answer.probs, np.array(dist[:5] + [0, 0]) / 0.85, atol=1e-9)
    assert answer.off_option_mass == pytest.approx(0.15, abs=1e-9)
    assert answer.truncated


async def test_openai_minus_9999_sentinel_counts_as_zero() -> None:
    with FakeServer(distribution=lambda key, k: [0.6, 0.4, 0.0]) as server:
        answer = await ask_once(OpenAIBackend(openai_cfg(server)), make_prompt(k=3))
        top = server.recorded()[0].response["choices"][0]["logprobs"]["top_logprobs"][0]
    assert top["C"] == -9999.0
    np.testing.assert_allclose(answer.probs, [0.6, 0.4, 0.0], atol=1e-9)
    assert answer.off_option_mass == pytest.approx(0.0, abs=1e-9)
    assert answer.truncated


# --------------------------------------------------------------------------- OpenAI: sampling


@pytest.mark.parametrize("mode", ["completions", "chat"])
async def test_no_logprobs_falls_back_to_sampling_with_partials(mode: str) -> None:
    # Every text answer (the greedy probe too) takes the next scripted text; 8 samples are
    # two full cycles, so the counts are A=2, B=4, unparseable=2 whatever the order.
    texts = ["B) Somewhat good", "(A)", "B", "I would rather not say"]
    with FakeServer(shape="no-logprobs", sample_texts=texts) as server:
        backend = OpenAIBackend(openai_cfg(server, mode=mode, samples=8, temperature=0.7))
        partials: list[Answer] = []
        answer = await backend.ask(PROMPT, partials.append)
        probe, *samples = server.recorded()
        assert probe.body["temperature"] == 0
        assert len(samples) == 8
        for sample in samples:
            assert sample.body["temperature"] == 0.7 and sample.body["max_tokens"] == 5
            assert "logprobs" not in sample.body and "top_logprobs" not in sample.body
        # One miss could be a glitch: each ask probes again until the third miss, after
        # which the backend samples straight away.
        for n in (5, 6):
            await backend.ask(make_prompt(n))
        assert server.count() == 3 * (1 + 8)
        again = await backend.ask(make_prompt(7))
        await backend.aclose()
        assert server.count() == 3 * (1 + 8) + 8
    np.testing.assert_allclose(answer.probs, [1 / 3, 2 / 3, 0, 0], atol=1e-12)
    assert answer.off_option_mass == pytest.approx(0.25)
    assert (answer.estimator, answer.samples, answer.unparseable) == ("sampling", 8, 2)
    assert answer.note == "server returned no logprobs: estimated from 8 samples"
    assert answer.prompt_tokens == sum(s.response["usage"]["prompt_tokens"] for s in samples)
    assert [p.samples for p in partials] == list(range(1, 9))
    np.testing.assert_allclose(partials[-1].probs, answer.probs)
    assert again.samples == 8
    assert backend.learnt()["estimator"] == "sampling"
    params = backend.request_params()
    assert params["samples"] == 8 and params["temperature"] == 0.7


async def test_sampling_from_the_canned_distribution_counts_what_the_server_sent() -> None:
    with FakeServer(shape="no-logprobs", seed=3) as server:
        answer = await ask_once(OpenAIBackend(openai_cfg(server, samples=40)))
        texts = [r.text or "" for r in server.recorded()[1:]]
    letters = [parse_letter(t, PROMPT.letters) for t in texts]
    counts = np.array([letters.count(x) for x in PROMPT.letters], dtype=float)
    np.testing.assert_allclose(answer.probs, counts / counts.sum())
    assert answer.unparseable == letters.count(None)


async def test_missing_logprobs_after_seeing_them_is_a_retryable_glitch() -> None:
    with FakeServer(faults=[None, "no-logprobs"]) as server:
        backend = OpenAIBackend(openai_cfg(server))
        await backend.ask(PROMPT)
        with pytest.raises(BackendError) as info:
            await backend.ask(PROMPT)
        assert info.value.retryable and "no log-probabilities" in str(info.value)
        answer = await backend.ask(PROMPT)
        await backend.aclose()
    assert answer.estimator == "logprobs"
    assert backend.learnt()["estimator"] == "logprobs"


# --------------------------------------------------------------------------- Anthropic


async def test_anthropic_sends_key_header_and_prefill_and_counts_letters() -> None:
    texts = ["A) Very good", "B", "(C)", "B) Somewhat good"]
    with FakeServer(sample_texts=texts, api_key=SECRET) as server:
        partials: list[Answer] = []
        backend = AnthropicBackend(anthropic_cfg(server))
        answer = await backend.ask(PROMPT, partials.append)
        await backend.aclose()
        requests = server.recorded()
    assert len(requests) == 8
    for request in requests:
        assert request.path == "/v1/messages"
        assert request.headers["x-api-key"] == SECRET
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers
        assert request.body == {
            "model": "claude",
            "max_tokens": 5,
            "temperature": 1.0,
            "messages": [
                {"role": "user", "content": PROMPT.user},
                {"role": "assistant", "content": PROMPT.answer_prefix},
            ],
        }
    np.testing.assert_allclose(answer.probs, [2 / 8, 4 / 8, 2 / 8, 0])  # counts / n
    assert (answer.estimator, answer.samples, answer.unparseable) == ("sampling", 8, 0)
    assert answer.off_option_mass == 0
    assert answer.prompt_tokens == sum(r.response["usage"]["input_tokens"] for r in requests)
    assert answer.completion_tokens == sum(r.response["usage"]["output_tokens"] for r in requests)
    assert [p.samples for p in partials] == list(range(1, 9))


async def test_anthropic_counts_unparseable_samples() -> None:
    texts = ["A) Very good", "B", "I can't answer that", "B) Somewhat good"]
    with FakeServer(sample_texts=texts) as server:
        backend = AnthropicBackend(anthropic_cfg(server, base_url=server.url + "/v1/"))
        answer = await ask_once(backend)
        assert server.count("/v1/messages") == 8
    np.testing.assert_allclose(answer.probs, [1 / 3, 2 / 3, 0, 0])
    assert answer.unparseable == 2 and answer.off_option_mass == pytest.approx(0.25)


async def test_anthropic_without_prefill_support_asks_for_the_letter() -> None:
    with FakeServer(supports_prefill=False, sample_texts=["(B)"]) as server:
        backend = AnthropicBackend(anthropic_cfg(server, samples=4))
        first = await backend.ask(PROMPT)
        assert server.count() >= 5  # at least one refusal, then four answers
        server.reset()
        second = await backend.ask(PROMPT)
        await backend.aclose()
        assert server.count() == 4
        assert server.recorded()[0].body["messages"] == [
            {"role": "user", "content": PROMPT.chat_user()}
        ]
    for answer in (first, second):
        np.testing.assert_allclose(answer.probs, [0, 1, 0, 0])
        assert "prefill" in answer.note
    assert backend.learnt()["prefill"] is False


async def test_anthropic_estimates_from_the_rest_when_a_few_samples_fail() -> None:
    with FakeServer(faults=["503"] * 3, sample_texts=["A"]) as server:
        answer = await ask_once(AnthropicBackend(anthropic_cfg(server)))
    assert answer.samples == 5
    assert answer.note.endswith("; 3 of 8 samples failed")
    np.testing.assert_allclose(answer.probs, [1, 0, 0, 0])


async def test_anthropic_raises_when_most_samples_fail() -> None:
    with FakeServer(faults=["529"] * 5, retry_after=0.05) as server:
        with pytest.raises(BackendError) as info:
            await ask_once(AnthropicBackend(anthropic_cfg(server)))
    assert info.value.retryable and info.value.retry_after == pytest.approx(0.05)
    assert "5 of 8 samples failed" in str(info.value) and "overloaded" in str(info.value)


async def test_anthropic_non_retryable_error_stops_sampling() -> None:
    with FakeServer(api_key="another-key", delay=0.05) as server:
        with pytest.raises(BackendError) as info:
            await ask_once(AnthropicBackend(anthropic_cfg(server, samples=20, concurrency=2)))
        assert server.count() < 20
    assert not info.value.retryable and KEY_ENV in str(info.value)


# --------------------------------------------------------------------------- faults


FAULTS = [
    # fault, retryable, retry_after, words in the message
    ("429", True, 0.05, "Rate limited"),
    ("500", True, None, "HTTP 500"),
    ("502", True, None, "HTTP 502"),
    ("503", True, 0.05, "HTTP 503"),
    ("504", True, None, "HTTP 504"),
    ("malformed", True, None, "Malformed JSON"),
    ("html", True, None, "HTML page"),
    ("html-502", True, None, "502 Bad Gateway"),
    ("reset", True, None, "dropped"),
    ("slow", True, None, "within 0.3s"),
    ("400", False, None, "rejected the request"),
]


@pytest.mark.parametrize(("fault", "retryable", "retry_after", "words"), FAULTS)
async def test_openai_fault_mapping(
    fault: str, retryable: bool, retry_after: float | None, words: str
) -> None:
    with FakeServer(faults=[fault], retry_after=0.05, slow_seconds=3) as server:
        backend = OpenAIBackend(openai_cfg(server, timeout=0.3))
        with pytest.raises(BackendError) as info:
            await backend.ask(PROMPT)
        # The fault was a one-off: the same backend answers next time.
        answer = await ask_once(backend)
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after
    assert words in str(info.value)
    assert_matches_server(answer, server)


@pytest.mark.parametrize(("fault", "retry_after"), [("529", 0.05), ("429", 0.05), ("500", None)])
async def test_anthropic_fault_mapping(fault: str, retry_after: float | None) -> None:
    with FakeServer(fail_first_n=100, fail_with=fault, retry_after=0.05) as server:
        with pytest.raises(BackendError) as info:
            await ask_once(AnthropicBackend(anthropic_cfg(server, samples=2)))
    assert info.value.retryable and info.value.retry_after == retry_after


async def test_unauthorised_names_the_env_var() -> None:
    with FakeServer(api_key="the-right-key") as server:
        with pytest.raises(BackendError) as info:
            await ask_once(OpenAIBackend(openai_cfg(server)))
    assert not info.value.retryable
    assert "401" in str(info.value) and KEY_ENV in str(info.value)


async def test_unknown_model_and_wrong_base_url_say_what_to_check() -> None:
    with FakeServer(model="the-model") as server:
        with pytest.raises(BackendError) as wrong_model:
            await ask_once(OpenAIBackend(openai_cfg(server, model="nope")))
        with pytest.raises(BackendError) as wrong_url:
            await ask_once(
                OpenAIBackend(openai_cfg(server, base_url=server.url, model="the-model"))
            )
    for info in (wrong_model, wrong_url):
        assert not info.value.retryable
        assert "404" in str(info.value) and "base_url (should end in /v1" in str(info.value)
    assert "'nope'" in str(wrong_model.value)


async def test_forbidden_is_not_retryable() -> None:
    with FakeServer(faults=["403"]) as server:
        with pytest.raises(BackendError) as info:
            await ask_once(OpenAIBackend(openai_cfg(server)))
    assert not info.value.retryable and "403" in str(info.value)


async def test_unreachable_server_is_retryable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = BackendConfig("x", "openai", base_url=f"http://127.0.0.1:{port}/v1", model="m")
    with pytest.raises(BackendError) as info:
        await ask_once(OpenAIBackend(cfg))
    assert info.value.retryable and f"Cannot reach http://127.0.0.1:{port}/v1" in str(info.value)


async def test_missing_key_env_var_fails_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with FakeServer() as server:
        for backend in (
            OpenAIBackend(openai_cfg(server)),
            AnthropicBackend(anthropic_cfg(server)),
        ):
            with pytest.raises(BackendError) as info:
                await ask_once(backend)
            assert not info.value.retryable and KEY_ENV in str(info.value)
        assert server.count() == 0


# --------------------------------------------------------------------------- retries


async def test_ask_with_retries_honours_retry_after_on_429_then_503() -> None:
    with FakeServer(faults=["429", "503"], retry_after=0.05) as server:
        backend = OpenAIBackend(openai_cfg(server))
        waits: list[float] = []
        started = time.perf_counter()
        answer = await ask_with_retries(
            backend, PROMPT, RetryPolicy(max_retries=3), on_retry=lambda n, e, w: waits.append(w)
        )
        elapsed = time.perf_counter() - started
        await backend.aclose()
        assert server.count() == 3
    assert waits == [0.05, 0.05]
    assert 0.1 <= elapsed < 2
    assert_matches_server(answer, server)


async def test_ask_with_retries_recovers_from_503_without_retry_after() -> None:
    with FakeServer(fail_first_n=2, fail_with="503") as server:
        backend = OpenAIBackend(openai_cfg(server))
        policy = RetryPolicy(max_retries=3, base_delay=0.01)
        answers = await asyncio.gather(
            *(ask_with_retries(backend, make_prompt(i), policy) for i in range(5))
        )
        await backend.aclose()
        assert server.count() == 5 * 3
    for i, answer in enumerate(answers):
        assert_matches_server(answer, server, make_prompt(i))


async def test_ask_with_retries_gives_up_after_max_retries() -> None:
    with FakeServer(fail_first_n=10, fail_with="500") as server:
        backend = OpenAIBackend(openai_cfg(server))
        with pytest.raises(BackendError):
            await ask_with_retries(backend, PROMPT, RetryPolicy(max_retries=2, base_delay=0.01))
        await backend.aclose()
        assert server.count() == 3


async def test_random_faults_are_all_recovered_by_retries() -> None:
    kinds = ("429", "500", "503", "reset", "malformed", "html", "no-logprobs")
    with FakeServer(fault_rate=0.3, fault_kinds=kinds, retry_after=0.01, seed=7) as server:
        backend = OpenAIBackend(openai_cfg(server))
        await ask_with_retries(backend, make_prompt(99))  # learn that logprobs exist
        policy = RetryPolicy(max_retries=12, base_delay=0.005, max_delay=0.02)
        answers = await asyncio.gather(
            *(ask_with_retries(backend, make_prompt(i), policy) for i in range(30))
        )
        await backend.aclose()
        faults = [r.fault for r in server.recorded() if r.fault]
    assert len(faults) >= 5 and len(set(faults)) >= 3
    for i, answer in enumerate(answers):
        assert answer.estimator == "logprobs"
        assert_matches_server(answer, server, make_prompt(i))


# --------------------------------------------------------------------------- secrets


async def test_api_key_never_appears_in_errors_or_params() -> None:
    errors: list[BackendError] = []
    statuses = ["400", "401", "403", "404", "429", "500", "503", "html-502", "malformed"]
    with FakeServer(leak_key_in_errors=True, retry_after=0.01) as server:
        for fault in statuses:
            for backend in (
                OpenAIBackend(openai_cfg(server)),
                OpenAIBackend(openai_cfg(server, mode="chat")),
                AnthropicBackend(anthropic_cfg(server, samples=1)),
            ):
                server.inject(fault, fault, fault)  # enough for any fallback retry
                with pytest.raises(BackendError) as info:
                    await ask_once(backend)
                errors.append(info.value)
                assert SECRET not in json.dumps(backend.request_params())
                server.reset()
        # The server really echoed the key in its error bodies.
        server.api_key = "wrong"
        with pytest.raises(BackendError) as info:
            await ask_once(OpenAIBackend(openai_cfg(server)))
        errors.append(info.value)
        echoed = server.recorded()[0]
    assert SECRET in json.dumps(echoed.response)
    assert len(errors) == 3 * len(statuses) + 1
    for error in errors:
        assert SECRET not in str(error) and SECRET not in repr(error.args)
        assert "sk-test" not in str(error)


# --------------------------------------------------------------------------- factory


async def test_make_backend_dispatches_on_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    async with httpx.AsyncClient() as client:
        openai = make_backend(BackendConfig("o", "openai", base_url="http://x/v1", model="m"))
        anthropic = make_backend(BackendConfig("a", "anthropic", model="c"), client)
        assert isinstance(openai, OpenAIBackend) and openai.mode == "completions"
        assert isinstance(anthropic, AnthropicBackend)
        assert anthropic.base_url == "https://api.anthropic.com"
        await anthropic.aclose()
        assert not client.is_closed  # a shared client stays open
        await openai.aclose()

    made: list[BackendConfig] = []

    class FakeLocal:
        def __init__(self, cfg: BackendConfig) -> None:
            made.append(cfg)

    module = types.ModuleType("core.backends.local")
    module.LocalBackend = FakeLocal  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "core.backends.local", module)
    local_cfg = BackendConfig("local", "local", mode="logits")
    assert isinstance(make_backend(local_cfg), FakeLocal) and made == [local_cfg]

    with pytest.raises(ConfigError, match="kind 'bogus'"):
        make_backend(replace(local_cfg, kind="bogus"))


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B) Somewhat good", "B"),
        ("(C)", "C"),
        ("**A**", "A"),
        (" D.", "D"),
        ("I would pick (B)", "B"),
        ("The answer is C", "C"),
        ("A lot of people think so", None),
        ("(E) out of range", None),
        ("", None),
    ],
)
def test_parse_letter(text: str, letter: str | None) -> None:
    assert parse_letter(text, ("A", "B", "C", "D")) == letter


async def test_what_a_backend_learns_does_not_move_its_cache_key() -> None:
    # A key that moved with the learnt logprob cap would make the next process miss every
    # answer cached after the learning, and pay for it again.
    from core.asking import cache_key

    with FakeServer(max_logprobs=5) as server:
        backend = OpenAIBackend(openai_cfg(server))
        before = cache_key(backend, PROMPT)
        await backend.ask(PROMPT)
        await backend.aclose()
    assert backend.learnt()["logprobs"] == 5
    assert cache_key(backend, PROMPT) == before
    assert cache_key(OpenAIBackend(openai_cfg(server)), PROMPT) == before
