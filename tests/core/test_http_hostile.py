"""The shared HTTP plumbing (core/backends/http.py, core/backends/retry.py) against servers
that lie or stall at the HTTP level: a body trickled one byte at a time, absurd
``Retry-After`` values, redirects and redirect loops, credentials in ``base_url``, API keys a
header cannot carry, and bodies that are null, lists, huge, falsely gzip-labelled or cut off.

Every server here listens on 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import math
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from support.fakeserver import FakeServer

from core.backends import http
from core.backends.anthropic import AnthropicBackend
from core.backends.base import Answer, BackendError
from core.backends.http import check_headers, post_json, redact
from core.backends.openai import OpenAIBackend
from core.backends.retry import RetryPolicy, ask_with_retries, parse_retry_after
from core.config import BackendConfig
from core.prompts import render

SECRET = "sk-test-SECRET-0123456789abcdef"
KEY_ENV = "GOQA_HOSTILE_API_KEY"
USER, PASSWORD = "alice-user", "hunter2-pass"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PROMPT = render(
    text="Is the economy good?", options=["Very good", "Somewhat good", "Bad", "Very bad"]
)
BOUND = 20.0  # no test waits longer than this for one request, even against a wrong client

T = TypeVar("T")


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def openai_cfg(base_url: str, **kw: Any) -> BackendConfig:
    values: dict[str, Any] = dict(
        base_url=base_url, model="m", mode="completions", api_key_env=KEY_ENV, concurrency=16
    )
    values.update(kw)
    return BackendConfig("fake", "openai", **values)


def anthropic_cfg(base_url: str, **kw: Any) -> BackendConfig:
    values: dict[str, Any] = dict(
        base_url=base_url, model="claude", mode="messages", api_key_env=KEY_ENV, samples=1
    )
    values.update(kw)
    return BackendConfig("claude", "anthropic", **values)


async def bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, BOUND)


async def ask_error(backend: OpenAIBackend | AnthropicBackend) -> BackendError:
    """The BackendError one ask raises (failing the test if it answers or raises another)."""
    with pytest.raises(BackendError) as info:
        await bounded(backend.ask(PROMPT))
    return info.value


def assert_matches_server(answer: Answer, server: FakeServer) -> None:
    probs, off = server.expected(PROMPT.user)
    np.testing.assert_allclose(answer.probs, probs, rtol=0, atol=1e-9)
    assert answer.off_option_mass == pytest.approx(off, abs=1e-9)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- 1. a deadline


async def test_a_body_trickled_byte_by_byte_hits_the_whole_request_deadline() -> None:
    # One byte every 0.3 s never trips httpx's 1 s per-read timeout: without a deadline for
    # the whole request this ask would take the ~1 kB answer's 300 s (and fail at BOUND).
    with FakeServer(faults=["trickle"], trickle_seconds=0.3) as server:
        backend = OpenAIBackend(openai_cfg(server.base_url, timeout=1.0))
        started = time.perf_counter()
        error = await ask_error(backend)
        elapsed = time.perf_counter() - started
        answer = await bounded(backend.ask(PROMPT))  # the next request is not poisoned
        await backend.aclose()
        assert server.recorded()[0].fault == "trickle"
    assert 0.9 <= elapsed < 2.5, f"the 1 s deadline took {elapsed:.2f}s"
    assert error.retryable
    message = str(error)
    assert message.startswith(f"No answer from {server.base_url} within 1s.")
    assert "It had begun answering (HTTP 200, " in message
    assert_matches_server(answer, server)


async def test_the_deadline_also_bounds_a_stalled_anthropic_request() -> None:
    with FakeServer(faults=["trickle"], trickle_seconds=0.4) as server:
        backend = AnthropicBackend(anthropic_cfg(server.url, timeout=0.8))
        started = time.perf_counter()
        error = await ask_error(backend)
        await backend.aclose()
    assert time.perf_counter() - started < 2.5
    assert error.retryable and "within 0.8s" in str(error)


# --------------------------------------------------------------------------- 2. Retry-After

NOW = datetime(2015, 10, 21, 7, 26, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3.5 ", 3.5),
        ("0", 0.0),
        ("inf", math.inf),
        ("Infinity", math.inf),
        ("1e400", math.inf),
        ("9" * 500, math.inf),
        ("nan", None),
        ("-5", None),
        ("-inf", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 90.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 90.0),  # a date with no zone counts as UTC
        ("Wed, 21 Oct 2015 09:28:00 +0200", 90.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # in the past: no wait
        ("Mon, 99 Foo 2020 00:00:00 GMT", None),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
    ],
)
def test_parse_retry_after_survives_every_form(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_an_http_date_retry_after_counts_from_now() -> None:
    value = formatdate(time.time() + 120, usegmt=True)
    seconds = parse_retry_after(value)
    assert seconds is not None and 115 <= seconds <= 121


def test_retry_policy_caps_retry_after_at_an_explicit_maximum() -> None:
    policy = RetryPolicy(max_delay=1.0)
    assert policy.max_retry_after == 60.0
    assert policy.delay(0, 86400) == 60.0  # no longer max_delay * 4
    assert policy.delay(0, math.inf) == 60.0
    assert policy.delay(3, 5.0) == 5.0
    assert 0.25 <= RetryPolicy().delay(0, math.nan) <= 0.5  # NaN: ordinary backoff
    assert RetryPolicy(max_retry_after=2).delay(0, 3) == 2
    assert policy.retry_after_note(60.0) == "" and policy.retry_after_note(None) == ""
    assert policy.retry_after_note(86400) == (
        "the server asked to wait 86400 s (24 h), longer than goqa waits between tries "
        "(at most 60 s), so it did not try again — try later (a resumed run asks only what "
        "is missing), or lower concurrency"
    )
    assert "without end" in policy.retry_after_note(math.inf)


async def test_an_absurd_retry_after_stops_at_once_and_the_user_is_told_why() -> None:
    with FakeServer(faults=["429", "429"], retry_after=86400) as server:
        backend = OpenAIBackend(openai_cfg(server.base_url))
        retries: list[tuple[int, str, float]] = []
        policy = RetryPolicy(max_retries=1, max_retry_after=0.05)
        started = time.perf_counter()
        with pytest.raises(BackendError) as info:
            await bounded(
                ask_with_retries(
                    backend, PROMPT, policy, on_retry=lambda n, e, w: retries.append((n, str(e), w))
                )
            )
        elapsed = time.perf_counter() - started
        await backend.aclose()
        # Waiting the capped time would meet the same refusal: one request, no retry.
        assert server.count() == 1
    note = (
        "The server asked to wait 86400 s (24 h), longer than goqa waits between tries "
        "(at most 0.05 s), so it did not try again — try later (a resumed run asks only what "
        "is missing), or lower concurrency."
    )
    message = str(info.value)
    assert message.startswith(f"Rate limited by {server.base_url} (HTTP 429)")
    assert message.endswith(note) and message.count("86400") == 1
    assert info.value.retryable and info.value.retry_after == 86400
    assert retries == []
    assert elapsed < 2


async def test_a_retry_after_the_policy_honours_adds_nothing_to_the_message() -> None:
    with FakeServer(faults=["503", "503"], retry_after=0.01) as server:
        backend = OpenAIBackend(openai_cfg(server.base_url))
        with pytest.raises(BackendError) as info:
            await bounded(ask_with_retries(backend, PROMPT, RetryPolicy(max_retries=1)))
        await backend.aclose()
    assert "asked to wait" not in str(info.value) and "HTTP 503" in str(info.value)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "1e400"}, math.inf),
        ({"Retry-After": "inf"}, math.inf),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "next week"}, None),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
    ],
)
async def test_retry_after_headers_of_every_form_reach_the_error(
    headers: dict[str, str], expected: float | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers=headers, json={"error": {"message": "slow down"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(BackendError) as info:
            await post_json(client, "http://127.0.0.1:9/v1/completions", {}, **_post_args())
    assert info.value.retryable and info.value.retry_after == expected


def _post_args(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        headers={},
        timeout=5.0,
        where="http://127.0.0.1:9/v1",
        secret=None,
        api_key_env="",
        model="m",
    )
    args.update(kw)
    return args


# --------------------------------------------------------------------------- 3. redirects


@pytest.mark.parametrize("status", [307, 308])
async def test_method_preserving_redirects_are_followed_with_body_and_key(status: int) -> None:
    with FakeServer(redirects={"/old/v1/completions": (status, "/v1/completions")}) as server:
        backend = OpenAIBackend(openai_cfg(f"{server.url}/old/v1"))
        answer = await bounded(backend.ask(PROMPT))
        await backend.aclose()
        first, second = server.recorded()
    assert_matches_server(answer, server)
    assert (first.path, first.status) == ("/old/v1/completions", status)
    assert (second.path, second.status) == ("/v1/completions", 200)
    assert second.body == first.body and second.body["prompt"] == PROMPT.text
    assert second.headers["authorization"] == f"Bearer {SECRET}"


LOOPS = {
    # redirects, base_url path, requests sent (a hop back to a URL already seen is not sent)
    "itself": ({"/v1/completions": (307, "/v1/completions")}, "/v1", 1),
    "two-cycle": (
        {
            "/a/v1/completions": (307, "/b/v1/completions"),
            "/b/v1/completions": (308, "/a/v1/completions"),
        },
        "/a/v1",
        2,
    ),
    "too-long": (
        {f"/r{i}/v1/completions": (307, f"/r{i + 1}/v1/completions") for i in range(9)},
        "/r0/v1",
        http.MAX_REDIRECTS + 1,
    ),
}


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_redirect_loop_is_reported_as_one_and_not_retried(loop: str) -> None:
    redirects, base_path, requests = LOOPS[loop]
    with FakeServer(redirects=redirects) as server:
        backend = OpenAIBackend(openai_cfg(f"{server.url}{base_path}"))
        with pytest.raises(BackendError) as info:
            await bounded(ask_with_retries(backend, PROMPT, RetryPolicy(base_delay=0.01)))
        await backend.aclose()
        assert server.count() == requests  # stopped at once, and not retried
    message = str(info.value)
    assert not info.value.retryable
    assert message.startswith(f"Redirect loop at {server.url}/") and "— check base_url" in message


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_a_moved_server_names_the_new_base_url(status: int) -> None:
    with FakeServer() as server:
        server.redirects["/old/v1/completions"] = (status, f"{server.base_url}/completions")
        backend = OpenAIBackend(openai_cfg(f"{server.url}/old/v1"))
        error = await ask_error(backend)
        await backend.aclose()
        assert server.count() == 1  # not re-sent as a GET
    message = str(error)
    assert not error.retryable
    assert f"the server has moved to {server.base_url}/completions" in message
    assert f'Put the new URL in base_url (base_url = "{server.base_url}")' in message


async def test_a_redirect_to_another_server_is_not_followed_with_the_key() -> None:
    with FakeServer() as server:
        elsewhere = f"http://localhost:{server.port}/v1/completions"
        server.redirects["/v1/completions"] = (307, elsewhere)
        error = await ask_error(OpenAIBackend(openai_cfg(server.base_url)))
        assert server.count() == 1
    assert not error.retryable
    assert f"to another server, {elsewhere}" in str(error)
    assert f'base_url (base_url = "http://localhost:{server.port}/v1")' in str(error)


@pytest.mark.parametrize("location", ["", "http://[::1"])
async def test_a_redirect_without_a_usable_location_is_a_clear_error(location: str) -> None:
    with FakeServer(redirects={"/v1/completions": (307, location)}) as server:
        error = await ask_error(OpenAIBackend(openai_cfg(server.base_url)))
        assert server.count() == 1
    assert not error.retryable and server.base_url in str(error)
    assert (
        "without saying where to go" if not location else "to an address that is not a URL"
    ) in str(error)


# --------------------------------------------------------------------------- 4. credentials


def assert_no_credentials(text: str) -> None:
    for secret in (USER, PASSWORD, BASIC, SECRET, "hunter2", "alice"):
        assert secret not in text, f"{secret!r} leaked into {text!r}"


def with_userinfo(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{PASSWORD}@")


async def test_credentials_in_base_url_never_reach_an_error_message() -> None:
    messages: list[str] = []
    port = free_port()
    error = await ask_error(OpenAIBackend(openai_cfg(with_userinfo(f"http://127.0.0.1:{port}/v1"))))
    assert str(error).startswith(f"Cannot reach http://***@127.0.0.1:{port}/v1 (")
    messages.append(str(error))
    with FakeServer(leak_key_in_errors=True, trickle_seconds=0.5) as server:
        server.redirects["/moved/v1/completions"] = (
            301,
            with_userinfo(f"{server.base_url}/completions"),
        )
        cases = [
            ("500", openai_cfg(with_userinfo(server.base_url))),
            ("401", anthropic_cfg(with_userinfo(server.url))),
            ("html-502", openai_cfg(with_userinfo(server.base_url))),
            ("malformed", openai_cfg(with_userinfo(server.base_url))),
            ("trickle", openai_cfg(with_userinfo(server.base_url), timeout=0.6)),
            (None, openai_cfg(with_userinfo(f"{server.url}/moved/v1"))),
        ]
        for fault, cfg in cases:
            server.reset()
            server.inject(fault)
            backend = OpenAIBackend(cfg) if cfg.kind == "openai" else AnthropicBackend(cfg)
            error = await ask_error(backend)
            await backend.aclose()
            messages.append(str(error))
        # The server really saw (and echoed) the credentials: httpx turns a URL's userinfo into
        # Basic auth, which replaces the Bearer header.
        sent = server.recorded()[0].headers.get("authorization", "")
    assert sent == f"Basic {BASIC}"
    for message in messages:
        assert_no_credentials(message)
        assert "http://***@127.0.0.1:" in message  # where it went is still shown
    assert "Rate limited" not in messages[1] and "HTTP 500" in messages[1]
    assert "the server has moved to http://***@127.0.0.1" in messages[-1]


async def test_an_invalid_base_url_with_credentials_is_a_clear_error() -> None:
    error = await ask_error(
        OpenAIBackend(openai_cfg(f"http://{USER}:{PASSWORD}@127.0.0.1:port/v1"))
    )
    assert not error.retryable and "is not a valid URL" in str(error)
    assert_no_credentials(str(error))


def test_redact_removes_userinfo_from_any_url_in_a_text() -> None:
    text = (
        "tried https://bob:s3cr3t@host:8/v1 and ftp://x:y@h/ then http://u:p@ss@h2/x?a=b "
        "and http://plain.example/v1?email=me@x.org"
    )
    assert redact(text, limit=500) == (
        "tried https://***@host:8/v1 and ftp://***@h/ then http://***@h2/x?a=b "
        "and http://plain.example/v1?email=me@x.org"
    )
    assert redact("Authorization: Basic YWxpY2U6aHVudGVy") == "Authorization: ***"
    assert redact("you sent Basic YWxpY2U6aHVudGVy") == "you sent ***"


# --------------------------------------------------------------------------- 5. API key


BAD_KEYS = [
    (SECRET + "\n", "a newline at position 32 of 32"),
    (SECRET + "\r\n", "a carriage return at position 32 of 33"),
    (
        SECRET[:5] + "\u201d" + SECRET[5:],
        "a non-ASCII character, U+201D RIGHT DOUBLE QUOTATION MARK at position 6 of 32",
    ),
    (" " + SECRET, "a leading space at position 1 of 32"),
    (SECRET + "\t", "a trailing tab at position 32 of 32"),
    (SECRET[:10] + "\x07" + SECRET[10:], "a control character, U+0007 at position 11 of 32"),
]


@pytest.mark.parametrize(("key", "what"), BAD_KEYS)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_key_headers_cannot_carry_is_named_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, key: str, what: str, kind: str
) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    with FakeServer() as server:
        if kind == "openai":
            backend: OpenAIBackend | AnthropicBackend = OpenAIBackend(openai_cfg(server.base_url))
        else:
            backend = AnthropicBackend(anthropic_cfg(server.url))
        with pytest.raises(BackendError) as info:
            await bounded(ask_with_retries(backend, PROMPT, RetryPolicy(base_delay=0.01)))
        await backend.aclose()
        assert server.count() == 0  # never sent, never retried
    message = str(info.value)
    assert not info.value.retryable
    assert message == (
        f"The API key in ${KEY_ENV} contains a character HTTP headers cannot carry ({what}); "
        "re-export it without it."
    )
    assert SECRET[6:] not in message and SECRET[:12] not in message


def test_check_headers_passes_good_headers_and_names_a_bad_one() -> None:
    check_headers(
        {"Authorization": f"Bearer {SECRET}", "x": "a\tb"}, secret=SECRET, api_key_env=KEY_ENV
    )
    check_headers({}, secret=None, api_key_env="")
    with pytest.raises(BackendError) as info:
        check_headers({"anthropic-version": "2023\n"}, secret=None, api_key_env="")
    assert "The anthropic-version header" in str(info.value) and "a newline at position 5" in str(
        info.value
    )


# --------------------------------------------------------------------------- 6. lying bodies


HOSTILE = [
    # fault, retryable, words in the message
    ("json-null", True, "answered with JSON null instead of a JSON object ('null')"),
    ("json-list", True, "answered with a JSON list of 1 item instead of a JSON object"),
    ("deep-json", True, "Malformed JSON from"),
    ("empty", True, "answered HTTP 200 with an empty body instead of JSON"),
    ("fake-gzip", True, "declared its answer gzip-encoded (Content-Encoding: gzip) but the body"),
    ("cut-body", True, "dropped in the middle of the answer (HTTP 200, "),
    ("huge", False, "sent an answer larger than 32 MB (it announced 40 MB)"),
    ("huge-chunked", False, "sent an answer larger than 32 MB (goqa stopped reading at 32"),
]


@pytest.mark.parametrize(("fault", "retryable", "words"), HOSTILE)
async def test_a_lying_body_is_a_clear_error_and_the_next_request_works(
    fault: str, retryable: bool, words: str
) -> None:
    with FakeServer(faults=[fault]) as server:
        backend = OpenAIBackend(openai_cfg(server.base_url, timeout=10.0))
        error = await ask_error(backend)
        answer = await bounded(backend.ask(PROMPT))
        await backend.aclose()
        assert server.recorded()[0].fault == fault
    assert type(error) is BackendError
    assert error.retryable is retryable
    assert words in str(error) and str(error).startswith(
        ("Malformed", server.base_url, "Connection")
    )
    assert_matches_server(answer, server)


async def test_a_cut_body_says_how_much_arrived() -> None:
    with FakeServer(faults=["cut-body"]) as server:
        error = await ask_error(OpenAIBackend(openai_cfg(server.base_url)))
    received, total = _bytes_of(str(error))
    assert 0 < received < total and received in (total // 2, total - total // 2)


def _bytes_of(message: str) -> tuple[int, int]:
    part = message.split("(HTTP 200, ", 1)[1].split(" arrived", 1)[0]
    received, _, total = part.partition(" of ")
    return int(received.removesuffix(" bytes")), int(total.removesuffix(" bytes"))


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_valid_json_under_a_wrong_content_type_is_accepted(kind: str) -> None:
    with FakeServer(faults=["json-as-html"], sample_texts=["B) Somewhat good"]) as server:
        if kind == "openai":
            answer = await bounded(OpenAIBackend(openai_cfg(server.base_url)).ask(PROMPT))
            assert_matches_server(answer, server)
        else:
            answer = await bounded(AnthropicBackend(anthropic_cfg(server.url)).ask(PROMPT))
            np.testing.assert_allclose(answer.probs, [0, 1, 0, 0])
        assert server.recorded()[0].fault == "json-as-html"


async def test_lying_bodies_are_recovered_by_retries() -> None:
    faults = ["cut-body", "fake-gzip", "json-null", "json-list", "deep-json", "empty"]
    with FakeServer(faults=faults) as server:
        backend = OpenAIBackend(openai_cfg(server.base_url))
        answer = await bounded(
            ask_with_retries(backend, PROMPT, RetryPolicy(max_retries=6, base_delay=0.005))
        )
        await backend.aclose()
        assert server.count() == len(faults) + 1
    assert_matches_server(answer, server)


async def test_the_body_cap_is_read_when_the_request_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert http.MAX_BODY_BYTES == 32 * 1024 * 1024
    monkeypatch.setattr(http, "MAX_BODY_BYTES", 100)
    with FakeServer() as server:
        error = await ask_error(OpenAIBackend(openai_cfg(server.base_url)))
    assert not error.retryable and "larger than 100 bytes" in str(error)


class CountingStream(httpx.AsyncByteStream):
    """An endless error page that counts the chunks the client pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"<html><title>Bad Gateway</title>"
        while self.pulled < 1000:  # 64 MB, which a client that reads it all pulls
            self.pulled += 1
            await asyncio.sleep(0)
            yield b"x" * 65536


async def test_a_huge_error_body_is_only_excerpted() -> None:
    stream = CountingStream()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, stream=stream, headers={"content-type": "text/html"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(BackendError) as info:
            await bounded(
                post_json(client, "http://127.0.0.1:9/v1/completions", {}, **_post_args())
            )
    assert info.value.retryable
    assert stream.pulled <= http.MAX_ERROR_BODY_BYTES // 65536 + 1
    message = str(info.value)
    assert message.startswith("Server error HTTP 502 from http://127.0.0.1:9/v1: Bad Gateway")
    assert "xxxxxxxx…. The server" in message  # cut to an excerpt
    assert len(message) < 500


async def test_an_unsupported_scheme_is_not_retried() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(BackendError) as info:
            await post_json(
                client,
                "ftp://127.0.0.1:9/v1/completions",
                {},
                **_post_args(where="ftp://127.0.0.1:9/v1"),
            )
    assert not info.value.retryable and "is not an http:// or https:// URL" in str(info.value)
