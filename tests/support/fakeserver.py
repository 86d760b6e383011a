"""A real HTTP server on 127.0.0.1 that plays an OpenAI-compatible or Anthropic model.

Use it as a context manager; it serves from a background thread (one thread per connection,
so 64 concurrent requests with a 200 ms ``delay`` take about 200 ms, not 13 s)::

    with FakeServer(shape="llama-server", delay=0.05) as server:
        cfg = BackendConfig("fake", "openai", base_url=server.base_url, model="m")
        ...
        expected = server.distribution(prompt.user)   # K letter probabilities
        assert server.count("/v1/completions") == 1

Endpoints: ``POST /v1/completions``, ``/v1/chat/completions`` and ``/v1/messages``.

**Canned answers.** Every request is reduced to its *question key*: the question and its
``(A) … (B) …`` option lines, i.e. exactly ``prompt.user`` whichever endpoint or prompt
variant carried it (completion text, chat prefill, chat without prefill, Anthropic). The
distribution is a deterministic function of that key (:func:`canned_distribution`: a sha256
seeds the weights), so the same question always gets the same answer and different questions
different ones. The letters' probabilities sum to ``1 - off``; the remaining ``off`` mass goes to
non-letter tokens (``"The"``, ``"\\n"``, ``"Option"``). A backend that folds the full list
therefore recovers ``d / d.sum()`` exactly, with off-option mass ``1 - d.sum()``. Letters with
probability 0 are sent with OpenAI's ``-9999`` sentinel. Pass ``distribution=`` to choose the
letter probabilities yourself.

**Constructed models** (a truth the test knows). ``letter_model=f`` is called with the question
key as shown, i.e. ``prompt.user`` with its ``(A) text`` lines in the order this request shows
them (:func:`option_texts` says which option text sits at which letter), and returns the K
letter probabilities (sum <= 1, the rest is off-option mass): a model with a prior over
positions is ``prior[i] * content[option_texts(key)[letter i]]``. (The name ``model`` was
taken: it is the model-name check.) ``reply=g`` answers every chat request that asks for no
log-probabilities (the ``verbalized`` and ``free-text`` estimators' generated replies): ``g``
gets the whole user message text and returns the reply text; first-token requests still get
the distribution. A hook that raises makes the server answer 500.

With log-probabilities asked for, the answer is the top-n list (n = ``logprobs`` or
``top_logprobs`` of the request) in the configured ``shape``; otherwise (or with
``shape="no-logprobs"``) a text answer: the argmax at temperature 0, else a letter drawn
from the distribution with the server's seeded RNG (``"B) option text"``, or ``"I am not
sure."`` for off-option mass), or the next of the scripted ``sample_texts``.

**Faults**, each a string: an HTTP status such as ``"429"``, ``"500"``, ``"503"``, ``"529"``
(JSON error body; 429/503/529 carry ``Retry-After: retry_after`` when set), ``"slow"`` (sleep
``slow_seconds`` then answer normally), ``"malformed"`` (200, broken JSON), ``"no-logprobs"``
(200 without log-probabilities), ``"html"`` (200 HTML page, like a web UI at a wrong
base_url), ``"html-502"`` (a proxy's 502 page) and ``"reset"`` (close the socket without a
response). They apply, first match wins, from: the ``faults`` script (one entry per request in
arrival order, ``None`` = no fault), ``fail_first_n`` (the first n requests of every question
key fail with ``fail_with``), and ``fault_rate`` (a seeded RNG picks from ``fault_kinds``).

**Hostile faults** (HTTP-level lies): ``"trickle"`` (the normal answer, one byte every
``trickle_seconds``), ``"cut-body"`` (announces the whole answer, sends half, closes),
``"json-null"`` and ``"json-list"`` (200 with JSON that is not an object), ``"json-as-html"``
(the normal answer labelled ``text/html``), ``"fake-gzip"`` (the normal answer labelled
``Content-Encoding: gzip``), ``"deep-json"`` (``[[[[…`` nested 100 000 deep), ``"empty"``
(200 with no body), ``"huge"`` (announces and streams ``huge_bytes`` of JSON-ish padding) and
``"huge-chunked"`` (the same, chunked, with no length). **Redirects**: ``redirects`` maps a
request path to ``(status, Location)``; such a request is answered with that redirect whatever
the faults say (it still takes its turn in the ``faults`` script).

Every request is recorded (:class:`RecordedRequest`: path, headers, body, the fault applied,
the status and JSON sent) for assertions.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import random
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

SHAPES = ("openai", "llama-server", "llama-server-old", "no-logprobs")
FAULTS = (
    "429", "500", "502", "503", "504", "529",
    "slow", "malformed", "no-logprobs", "html", "html-502", "reset",
)  # fmt: skip
HOSTILE_FAULTS = (
    "trickle", "cut-body", "json-null", "json-list", "json-as-html", "fake-gzip", "deep-json",
    "empty", "huge", "huge-chunked",
)  # fmt: skip
"""Faults that lie at the HTTP level (see the module docstring); not in :data:`FAULTS`, so
nothing that draws from that tuple changes."""
OFF_TOKENS = (("The", 0.5), ("\n", 0.3), ("Option", 0.2))
"""Non-letter tokens that share the off-option mass, with their shares."""
PAREN_FIRST = 0.6
"""With ``chat_paren_first``, P(first token is ``(``) in a chat answer without prefill."""

_OPTION_LINE = re.compile(r"^\(([A-Z])\) (.*)$")
Distribution = Callable[[str, int], Sequence[float]]


# --------------------------------------------------------------------------- canned answers


def question_key(text: str) -> str:
    """The question part of any prompt text: from the question through the last option line.

    ``question_key(prompt.text) == question_key(prompt.chat_user()) == prompt.user``.
    """
    lines = text.splitlines()
    last = max((i for i, line in enumerate(lines) if _OPTION_LINE.match(line)), default=None)
    if last is None:
        return text.strip()
    key = "\n".join(lines[: last + 1])
    return key.removeprefix("Human: ")


def option_texts(key: str) -> dict[str, str]:
    """The ``(A) text`` option lines of a question key, letter -> text."""
    found = (_OPTION_LINE.match(line) for line in key.splitlines())
    return {m.group(1): m.group(2) for m in found if m}


def count_letters(key: str) -> int:
    """How many option letters a question has (the highest ``(X)`` line, A=1)."""
    letters = option_texts(key)
    return max((ord(x) - ord("A") + 1 for x in letters), default=0)


def canned_distribution(text: str, k: int | None = None) -> np.ndarray:
    """The default canned letter probabilities for a prompt (any variant of it).

    Args:
        text: ``prompt.user``, ``prompt.text`` or any text containing the question.
        k: number of letters (detected from the option lines if None).

    Returns:
        (k,) probabilities, all > 0, summing to ``1 - off`` with off in [0.02, 0.2].
    """
    key = question_key(text)
    k = count_letters(key) if k is None else k
    rng = random.Random(hashlib.sha256(key.encode("utf-8")).digest())
    weights = np.array([rng.random() ** 2 + 0.02 for _ in range(k)])
    off = 0.02 + 0.18 * rng.random()
    return (1.0 - off) * weights / weights.sum()


def _lp(p: float) -> float:
    return math.log(p) if p > 0 else -9999.0


# --------------------------------------------------------------------------- records


@dataclass
class RecordedRequest:
    """One request as the server saw it and what it answered.

    Attributes:
        path: the URL path.
        headers: request headers, names lower-cased.
        body: the parsed JSON body (None if it was not JSON).
        key: the question key of the prompt the body carries ("" if none).
        fault: the fault applied, or None.
        status: the HTTP status sent (0 for a reset connection).
        response: the JSON object sent (None for faults without one).
        started, finished: ``time.monotonic()`` when handling began and ended.
    """

    path: str
    headers: dict[str, str]
    body: Any
    key: str = ""
    fault: str | None = None
    status: int = 0
    response: Any = None
    started: float = 0.0
    finished: float = 0.0

    @property
    def text(self) -> str | None:
        """The text answer sent (completion text, chat content or Messages text), if any."""
        r = self.response
        if not isinstance(r, dict):
            return None
        if isinstance(r.get("content"), list):
            return "".join(b.get("text", "") for b in r["content"])
        choice = (r.get("choices") or [{}])[0]
        if "message" in choice:
            return choice["message"].get("content")
        return choice.get("text")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, fake: FakeServer, address: tuple[str, int]):
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left is normal here; keep test output clean.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every response.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send(404, {"error": {"message": f"no route GET {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.fake._handle(self, raw)

    def _send(
        self,
        status: int,
        payload: Any,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        # SO_LINGER 0: closing sends RST, as a crashed upstream or a proxy would.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


# --------------------------------------------------------------------------- the server


@dataclass
class FakeServer:
    """A fake model server; see the module docstring for the behaviour.

    Attributes (all may be changed while it runs; changes apply to the next request):
        shape: log-probability format: ``openai`` (legacy ``top_logprobs`` dict on
            /completions, ``content[]`` on chat), ``llama-server`` (``content[]`` on both),
            ``llama-server-old`` (``completion_probabilities[].probs`` with probabilities)
            or ``no-logprobs`` (text only, like LM Studio).
        delay: seconds every request waits before answering.
        supports_prefill: if False, chat requests with ``continue_final_message`` and
            Messages requests ending in an assistant turn get a 400.
        max_logprobs: a 400 for requests asking for more log-probabilities (vLLM's
            ``--max-logprobs``); None = no cap.
        chat_paren_first: chat answers without a prefill put ``PAREN_FIRST`` of the first
            token's mass on ``(`` and the letters at the second position.
        api_key: if set, requests must carry it (``Authorization: Bearer`` or ``x-api-key``)
            or get a 401.
        model: if set, other model names get a 404.
        leak_key_in_errors: error bodies echo the key the client sent (to test redaction).
        distribution: ``f(question_key, k) -> k letter probabilities`` (sum <= 1); default
            :func:`canned_distribution`.
        letter_model: ``f(question_key) -> k letter probabilities`` (sum <= 1), the key in
            the order shown; takes precedence over ``distribution``.
        reply: ``g(user_text) -> reply text`` for chat requests without log-probabilities.
        sample_texts: scripted answers for text (sampling) requests, cycled in arrival order.
        faults: per-request fault script, consumed in arrival order (None entries = no fault).
        fail_first_n, fail_with: the first n requests of each question key fail so.
        fault_rate, fault_kinds: random faults, from an RNG seeded with ``seed``.
        retry_after: seconds sent in ``Retry-After`` with 429/503/529 (None: no header).
        slow_seconds: how long a ``slow`` fault stalls.
        seed: seeds the fault and sampling RNGs.
        max_records: keep only the last n recorded requests (soak tests); None = all.
            ``request_count`` still counts every request.
        trickle_seconds: the pause between the bytes of a ``trickle`` fault.
        huge_bytes: the body size of ``huge`` and ``huge-chunked`` faults.
        redirects: request path -> (status, Location) answered instead of anything else.
    """

    shape: str = "openai"
    delay: float = 0.0
    supports_prefill: bool = True
    max_logprobs: int | None = None
    chat_paren_first: bool = False
    api_key: str | None = None
    model: str | None = None
    leak_key_in_errors: bool = False
    distribution: Distribution | None = None
    letter_model: Callable[[str], np.ndarray] | None = None
    reply: Callable[[str], str] | None = None
    sample_texts: Sequence[str] | None = None
    faults: Iterable[str | None] = ()
    fail_first_n: int = 0
    fail_with: str = "503"
    fault_rate: float = 0.0
    fault_kinds: Sequence[str] = ("429", "500", "503")
    retry_after: float | None = None
    slow_seconds: float = 5.0
    seed: int = 0
    max_records: int | None = None
    host: str = "127.0.0.1"
    port: int = 0

    requests: list[RecordedRequest] = field(default_factory=list, init=False, repr=False)
    trickle_seconds: float = 0.5
    huge_bytes: int = 40 * 1024 * 1024
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, not {self.shape!r}")
        self.faults = deque(self.faults)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._fault_rng = random.Random(self.seed)
        self._sample_rng = random.Random(self.seed + 1)
        self._per_key: Counter[str] = Counter()
        self._script_index = itertools.count()
        self._total = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeServer:
        """Bind (port 0 = any free port) and serve in a daemon thread."""
        self._httpd = _Server(self, (self.host, self.port))
        self.port = self._httpd.server_address[1]
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (stalled ``slow`` handlers are woken)."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the Anthropic base_url)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the OpenAI-compatible base_url)."""
        return f"{self.url}/v1"

    # -- assertions

    def count(self, path: str | None = None) -> int:
        """Requests received (on ``path`` only, if given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    @property
    def request_count(self) -> int:
        """All requests received since start or :meth:`reset` (even those not kept)."""
        with self._lock:
            return self._total

    def recorded(self, path: str | None = None) -> list[RecordedRequest]:
        """A copy of the recorded requests (on ``path`` only, if given)."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def inject(self, *faults: str | None) -> None:
        """Append faults to the script (applied to the next requests, in arrival order)."""
        with self._lock:
            assert isinstance(self.faults, deque)
            self.faults.extend(faults)

    def reset(self) -> None:
        """Forget recorded requests, per-key counters and the rest of the fault script (the
        other switches stay)."""
        with self._lock:
            assert isinstance(self.faults, deque)
            self.requests.clear()
            self.faults.clear()
            self._per_key.clear()
            self._total = 0

    def distribution_for(self, text: str) -> np.ndarray:
        """The letter probabilities this server answers for a prompt (sum ``1 - off``)."""
        key = question_key(text)
        k = count_letters(key)
        if self.letter_model is not None:
            probs = np.asarray(self.letter_model(key), dtype=np.float64)
        elif self.distribution is None:
            return canned_distribution(key, k)
        else:
            probs = np.asarray(self.distribution(key, k), dtype=np.float64)
        if probs.shape != (k,) or probs.min() < 0 or probs.sum() > 1 + 1e-12:
            raise ValueError(f"distribution must give {k} probabilities summing to <= 1")
        return probs

    def expected(self, text: str) -> tuple[np.ndarray, float]:
        """(letter distribution renormalised to 1, off-option mass) a full fold recovers."""
        d = self.distribution_for(text)
        return d / d.sum(), float(max(0.0, 1.0 - d.sum()))

    # -- request handling (runs in handler threads)

    def _handle(self, handler: _Handler, raw: bytes) -> None:
        record = RecordedRequest(
            path=handler.path.split("?")[0],
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=None,
            started=time.monotonic(),
        )
        try:
            record.body = json.loads(raw) if raw else None
        except ValueError:
            pass
        body = record.body if isinstance(record.body, dict) else {}
        record.key = question_key(_prompt_text(body)) if body else ""
        with self._lock:
            self._total += 1
            self.requests.append(record)
            if self.max_records is not None and len(self.requests) > self.max_records:
                del self.requests[: len(self.requests) - self.max_records]
            record.fault = self._pick_fault(record.key)
        if self.delay:
            self._stop.wait(self.delay)
        try:
            status, payload, extra = self._respond(record, body)
        except Exception:  # a bug in the fake: answer 500 rather than hang the client
            status, payload, extra = 500, {"error": {"message": "fake server crashed"}}, {}
        # Complete the record before the client can see the answer, so a test that has its
        # answer always finds the record finished.
        record.status = status
        record.response = None if isinstance(payload, bytes) or callable(payload) else payload
        record.finished = time.monotonic()
        if status == 0:
            handler._reset()
        elif callable(payload):
            payload(handler)
        elif isinstance(payload, bytes):
            handler._send(status, payload, content_type=extra.pop("content-type"), headers=extra)
        else:
            handler._send(status, payload, headers=extra)

    def _pick_fault(self, key: str) -> str | None:
        # Called with the lock held.
        assert isinstance(self.faults, deque)
        if self.faults:
            return self.faults.popleft()
        if self.fail_first_n and key:
            self._per_key[key] += 1
            if self._per_key[key] <= self.fail_first_n:
                return self.fail_with
        if self.fault_rate and self._fault_rng.random() < self.fault_rate:
            return self._fault_rng.choice(list(self.fault_kinds))
        return None

    def _error(self, status: int, message: str, record: RecordedRequest) -> dict[str, Any]:
        if self.leak_key_in_errors:
            sent = record.headers.get("authorization") or record.headers.get("x-api-key", "")
            message = f"{message} (you sent {sent})"
        if record.path == "/v1/messages":
            kind = {529: "overloaded_error", 429: "rate_limit_error"}.get(status, "api_error")
            return {"type": "error", "error": {"type": kind, "message": message}}
        return {"error": {"message": message, "type": "error", "code": status}}

    def _respond(
        self, record: RecordedRequest, body: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON object or raw bytes, extra headers); status 0 = reset."""
        fault = record.fault
        retry = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
        if record.path in self.redirects:
            status, location = self.redirects[record.path]
            return status, b"", {"content-type": "text/plain", "Location": location}
        if fault in HOSTILE_FAULTS:
            return self._hostile(fault, record, body)
        if fault == "reset":
            return 0, None, {}
        if fault == "slow":
            self._stop.wait(self.slow_seconds)
        elif fault == "malformed":
            return (
                200,
                b'{"choices": [{"text": "A", "logprobs": {"top_log',
                {"content-type": "application/json"},
            )
        elif fault in ("html", "html-502"):
            page = (
                b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                b"<body><center><h1>502 Bad Gateway</h1></center><hr>nginx</body></html>"
            )
            return (200 if fault == "html" else 502), page, {"content-type": "text/html"}
        elif fault is not None and fault.isdigit():
            status = int(fault)
            headers = retry if status in (429, 503, 529) else {}
            message = {429: "Rate limit reached", 529: "Overloaded"}.get(status, "Upstream error")
            return status, self._error(status, message, record), headers
        return self._answer(record, body, drop_logprobs=fault == "no-logprobs")

    def _answer(
        self, record: RecordedRequest, body: dict[str, Any], drop_logprobs: bool
    ) -> tuple[int, Any, dict[str, str]]:
        path = record.path
        if path not in ("/v1/completions", "/v1/chat/completions", "/v1/messages"):
            return 404, self._error(404, f"no route POST {path}", record), {}
        anthropic = path == "/v1/messages"
        if self.api_key is not None:
            if anthropic:
                sent = record.headers.get("x-api-key")
            else:
                sent = record.headers.get("authorization", "").removeprefix("Bearer ")
            if sent != self.api_key:
                return 401, self._error(401, "Incorrect API key provided", record), {}
        if self.model is not None and body.get("model") != self.model:
            message = f"The model '{body.get('model')}' does not exist"
            return 404, self._error(404, message, record), {}
        if not record.key:
            return 400, self._error(400, "no prompt in the request", record), {}
        messages = body.get("messages") or []
        ends_in_assistant = bool(messages) and messages[-1].get("role") == "assistant"
        prefill = path == "/v1/completions" or ends_in_assistant
        if not self.supports_prefill:
            if anthropic and ends_in_assistant:
                message = (
                    "This model does not support assistant message prefill. "
                    "The conversation must end with a user message."
                )
                return 400, self._error(400, message, record), {}
            if body.get("continue_final_message"):
                message = "Unrecognized request argument supplied: continue_final_message"
                return 400, self._error(400, message, record), {}
        final = messages[-1].get("content") if messages else None
        if anthropic and ends_in_assistant and isinstance(final, str) and final != final.rstrip():
            message = "messages: final assistant content cannot end with trailing whitespace"
            return 400, self._error(400, message, record), {}

        if path == "/v1/completions":
            raw_asked = body.get("logprobs")
        elif path == "/v1/chat/completions" and body.get("logprobs"):
            raw_asked = body.get("top_logprobs")
        else:
            raw_asked = None
        asked = raw_asked if isinstance(raw_asked, int) else 0
        if self.max_logprobs is not None and asked > self.max_logprobs:
            message = (
                f"Requested sample logprobs of {asked}, which is greater than max allowed: "
                f"{self.max_logprobs}"
            )
            return 400, self._error(400, message, record), {}

        if self.reply is not None and path == "/v1/chat/completions" and not body.get("logprobs"):
            text = str(self.reply(_prompt_text(body)))
            n_tokens = len(_prompt_text(body).split())
            return 200, self._text_response(path, body, text, n_tokens, True), {}
        letters_p = self.distribution_for(record.key)
        tokens = _token_list(letters_p)
        prompt_tokens = len(_prompt_text(body).split())
        if asked > 0 and self.shape != "no-logprobs" and not drop_logprobs:
            answer = self._logprob_answer(record, body, tokens, asked, prefill, prompt_tokens)
            return 200, answer, {}
        text = self._text_answer(record.key, tokens, float(body.get("temperature", 1.0)), prefill)
        return 200, self._text_response(path, body, text, prompt_tokens, drop_logprobs), {}

    # -- response bodies

    def _text_answer(
        self, key: str, tokens: list[tuple[str, float]], temperature: float, prefill: bool
    ) -> str:
        if self.sample_texts:
            with self._lock:
                i = next(self._script_index)
            return self.sample_texts[i % len(self.sample_texts)]
        if temperature <= 0:
            token = max(tokens, key=lambda t: t[1])[0]
        else:
            with self._lock:
                token = self._sample_rng.choices(
                    [t for t, _ in tokens], weights=[p for _, p in tokens]
                )[0]
        options = option_texts(key)
        if token not in options:
            return "I am not sure."
        return f"{token}) {options[token]}" if prefill else f"({token}) {options[token]}"

    def _text_response(
        self, path: str, body: dict[str, Any], text: str, prompt_tokens: int, no_lp: bool
    ) -> dict[str, Any]:
        completion_tokens = max(1, len(text.split()))
        if path == "/v1/messages":
            return {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": [{"type": "text", "text": text}],
                "stop_reason": "max_tokens",
                "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
            }
        choice: dict[str, Any] = {"index": 0, "finish_reason": "length", "logprobs": None}
        if path == "/v1/chat/completions":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {
            "id": "cmpl-fake",
            "object": "chat.completion" if "message" in choice else "text_completion",
            "model": body.get("model"),
            "choices": [choice],
            "usage": _usage(prompt_tokens, completion_tokens),
        }

    def _logprob_answer(
        self,
        record: RecordedRequest,
        body: dict[str, Any],
        tokens: list[tuple[str, float]],
        n: int,
        prefill: bool,
        prompt_tokens: int,
    ) -> dict[str, Any]:
        chat = record.path == "/v1/chat/completions"
        positions = [tokens]
        if chat and not prefill and self.chat_paren_first:
            first = [("(", PAREN_FIRST)] + [(t, p * (1 - PAREN_FIRST)) for t, p in tokens]
            positions = [sorted(first, key=lambda t: -t[1]), tokens]
        positions = positions[: max(1, int(body.get("max_tokens") or 1))]
        tops = [pos[:n] for pos in positions]
        chosen = [top[0][0] for top in tops]
        text = "".join(chosen)
        usage = _usage(prompt_tokens, len(positions))
        if self.shape == "llama-server-old":
            probs = [
                {"content": c, "probs": [{"tok_str": t, "prob": p} for t, p in top]}
                for c, top in zip(chosen, tops, strict=True)
            ]
            return {"content": text, "choices": [{"index": 0, "text": text}],
                    "completion_probabilities": probs, "usage": usage}  # fmt: skip
        if chat or self.shape == "llama-server":
            content = [
                {
                    "token": c,
                    "logprob": _lp(top[0][1]),
                    "bytes": list(c.encode()),
                    "top_logprobs": [
                        {"token": t, "logprob": _lp(p), "bytes": list(t.encode())} for t, p in top
                    ],
                }
                for c, top in zip(chosen, tops, strict=True)
            ]
            logprobs: dict[str, Any] = {"content": content}
        else:
            logprobs = {
                "tokens": chosen,
                "token_logprobs": [_lp(top[0][1]) for top in tops],
                "top_logprobs": [{t: _lp(p) for t, p in top} for top in tops],
                "text_offset": list(range(len(chosen))),
            }
        choice: dict[str, Any] = {"index": 0, "logprobs": logprobs, "finish_reason": "length"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {"id": "cmpl-fake", "model": body.get("model"), "choices": [choice], "usage": usage}

    # -- hostile faults

    def _hostile(
        self, fault: str, record: RecordedRequest, body: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, payload, headers) for a :data:`HOSTILE_FAULTS` fault; a callable payload
        writes the whole response itself."""
        json_type = {"content-type": "application/json"}
        if fault == "json-null":
            return 200, b"null", json_type
        if fault == "json-list":
            return 200, b'[{"choices": []}]', json_type
        if fault == "deep-json":
            return 200, b"[" * 100_000, json_type
        if fault == "empty":
            return 200, b"", json_type
        if fault in ("huge", "huge-chunked"):
            return 200, functools.partial(self._write_huge, chunked=fault == "huge-chunked"), {}
        status, answer, _ = self._answer(record, body, drop_logprobs=False)
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode("utf-8")
        if fault == "json-as-html":
            return status, data, {"content-type": "text/html; charset=utf-8"}
        if fault == "fake-gzip":
            return status, data, {**json_type, "Content-Encoding": "gzip"}
        if fault == "trickle":
            return status, functools.partial(self._write_trickle, status, data), {}
        return status, functools.partial(self._write_cut, status, data), {}  # cut-body

    def _start(self, handler: _Handler, status: int, headers: dict[str, str]) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.flush()

    def _write_trickle(self, status: int, data: bytes, handler: _Handler) -> None:
        self._start(handler, status, {"Content-Length": str(len(data))})
        try:
            for i in range(len(data)):
                if self._stop.wait(self.trickle_seconds):
                    break
                handler.wfile.write(data[i : i + 1])
                handler.wfile.flush()
        except OSError:  # the client gave up and closed the connection
            pass
        handler.close_connection = True

    def _write_cut(self, status: int, data: bytes, handler: _Handler) -> None:
        self._start(handler, status, {"Content-Length": str(len(data))})
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    def _write_huge(self, handler: _Handler, *, chunked: bool) -> None:
        block = b'{"pad": "' + b"x" * (64 * 1024 - 9)
        if chunked:
            self._start(handler, 200, {"Transfer-Encoding": "chunked"})
        else:
            self._start(handler, 200, {"Content-Length": str(self.huge_bytes)})
        sent = 0
        try:
            while sent < self.huge_bytes and not self._stop.is_set():
                part = block[: self.huge_bytes - sent]
                if chunked:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                else:
                    handler.wfile.write(part)
                sent += len(part)
            if chunked:
                handler.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading, as it should
            pass
        handler.close_connection = True


def _token_list(letter_probs: np.ndarray) -> list[tuple[str, float]]:
    """Letters then off-option tokens, most likely first (ties keep letter order)."""
    off = max(0.0, 1.0 - float(letter_probs.sum()))
    tokens = [(chr(ord("A") + i), float(p)) for i, p in enumerate(letter_probs)]
    tokens += [(t, off * share) for t, share in OFF_TOKENS]
    return sorted(tokens, key=lambda t: -t[1])


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _prompt_text(body: dict[str, Any]) -> str:
    """The prompt a request carries: ``prompt`` or the user messages' text."""
    if isinstance(body.get("prompt"), str):
        return body["prompt"]
    parts = []
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
            parts.append(str(content or ""))
    return "\n\n".join(parts)


def main() -> None:
    """Serve from a separate process (the benchmarks keep client and server off one GIL):
    ``python tests/support/fakeserver.py --delay 0.2`` prints the base URL, serves until stdin
    closes."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--max-records", type=int, default=1000)
    args = parser.parse_args()
    with FakeServer(delay=args.delay, max_records=args.max_records) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
