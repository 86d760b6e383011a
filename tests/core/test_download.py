"""core.download against a real HTTP server on 127.0.0.1 that can inject faults."""

from __future__ import annotations

import ast
import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core import dataset, download
from core.download import (
    REPO_FILE,
    REPO_ID,
    DownloadError,
    DownloadResult,
    download_full,
    file_url,
    part_path,
)

SAMPLE = dataset.sample_path().read_bytes()
SAMPLE_SHA = hashlib.sha256(SAMPLE).hexdigest()
REV = dataset.FULL_REVISION
FILE_PATH = f"/datasets/{REPO_ID}/resolve/{REV}/{REPO_FILE}"


@dataclass
class Seen:
    """One request as the server saw it, and how many body bytes it sent back."""

    path: str
    headers: dict[str, str]
    status: int = 0
    sent: int = 0


@dataclass
class Hub:
    """A stand-in for the hub's resolve endpoint, with switchable faults."""

    content: bytes = SAMPLE
    paths: set[str] = field(default_factory=lambda: {FILE_PATH})
    redirects: dict[str, str] = field(default_factory=dict)
    ignore_range: bool = False
    cut_after: int | None = None  # close the connection after this many body bytes...
    cuts_left: int = 0  # ...on this many responses
    fail_status: int | None = None  # answer this status...
    fails_left: int = 0  # ...to this many requests
    stall_after: int | None = None  # send this many bytes, then hang until released
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[Seen] = field(default_factory=list)
    base_url: str = ""

    def ranges(self) -> list[str | None]:
        return [r.headers.get("range") for r in self.requests]


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
            hub.requests.append(seen)
            if self.path in hub.redirects:
                self._head(seen, 302, 0, Location=hub.redirects[self.path])
                return
            if hub.fails_left and hub.fail_status is not None:
                hub.fails_left -= 1
                self._send(seen, hub.fail_status, b"nope")
                return
            if self.path not in hub.paths:
                self._send(seen, 404, b"Entry not found")
                return
            content, status, extra = hub.content, 200, {}
            match = re.fullmatch(r"bytes=(\d+)-", seen.headers.get("range", ""))
            if match and not hub.ignore_range:
                start = int(match.group(1))
                if start >= len(content):
                    extra = {"Content-Range": f"bytes */{len(content)}"}
                    self._send(seen, 416, b"", **extra)
                    return
                status = 206
                extra = {"Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}"}
                content = content[start:]
            if hub.cuts_left and hub.cut_after is not None:
                hub.cuts_left -= 1
                self._head(seen, status, len(content), **extra)
                self._body(seen, content[: hub.cut_after])
                self.close_connection = True
                return
            if hub.stall_after is not None:
                self._head(seen, status, len(content), **extra)
                self._body(seen, content[: hub.stall_after])
                hub.release.wait(10)
                self.close_connection = True
                return
            self._send(seen, status, content, **extra)

        def _head(self, seen: Seen, status: int, length: int, **headers: str) -> None:
            seen.status = status
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

        def _body(self, seen: Seen, body: bytes) -> None:
            self.wfile.write(body)
            self.wfile.flush()
            seen.sent += len(body)

        def _send(self, seen: Seen, status: int, body: bytes, **headers: str) -> None:
            self._head(seen, status, len(body), **headers)
            self._body(seen, body)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-body is what several tests are about


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("CACHE", "DATA", "CONFIG"):
        monkeypatch.setenv(f"GOQA_{name}_DIR", str(tmp_path / name.lower()))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("GOQA_HF_ENDPOINT", raising=False)
    return tmp_path


@pytest.fixture
def hub(env: Path) -> Iterator[Hub]:
    state = Hub()
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def fetch(hub: Hub, **kwargs: object) -> DownloadResult:
    options: dict[str, object] = {"base_url": hub.base_url, "retry_delay": 0.0, "timeout": 5.0}
    options.update(kwargs)
    return download_full(**options)  # type: ignore[arg-type]


def test_full_download_puts_a_verified_file_in_place(hub: Hub) -> None:
    calls: list[tuple[int, int | None]] = []
    result = fetch(hub, progress=lambda done, total: calls.append((done, total)))

    dest = dataset.full_path(REV)
    assert result.path == dest
    assert dest.read_bytes() == SAMPLE
    assert result.sha256 == SAMPLE_SHA
    assert result.bytes == len(SAMPLE)
    assert result.n_questions == 189
    assert result.n_problems == len(dataset.parse_csv(SAMPLE).problems)
    assert result.revision == REV
    assert result.resumed_from == 0
    assert not part_path(REV).exists()
    assert hub.ranges() == [None]
    assert hub.requests[0].path == FILE_PATH
    assert hub.requests[0].headers["accept-encoding"] == "identity"
    assert "authorization" not in hub.requests[0].headers
    assert calls[0] == (0, len(SAMPLE))
    assert calls[-1] == (len(SAMPLE), len(SAMPLE))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_interrupted_transfer_resumes_with_range(hub: Hub) -> None:
    hub.cut_after, hub.cuts_left = 5000, 1
    result = fetch(hub)

    assert dataset.full_path(REV).read_bytes() == SAMPLE
    assert result.sha256 == SAMPLE_SHA
    assert hub.ranges() == [None, "bytes=5000-"]
    assert [r.status for r in hub.requests] == [200, 206]
    assert sum(r.sent for r in hub.requests) == len(SAMPLE)
    assert result.resumed_from == 0  # nothing came from an earlier run


def test_part_file_from_an_earlier_run_is_resumed(hub: Hub) -> None:
    part = part_path(REV)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(SAMPLE[:1000])
    calls: list[tuple[int, int | None]] = []

    result = fetch(hub, progress=lambda done, total: calls.append((done, total)))

    assert result.resumed_from == 1000
    assert result.fetched_bytes == len(SAMPLE) - 1000
    assert hub.ranges() == ["bytes=1000-"]
    assert hub.requests[0].sent == len(SAMPLE) - 1000
    assert calls[0] == (1000, len(SAMPLE))
    assert dataset.full_path(REV).read_bytes() == SAMPLE
    assert not part.exists()


def test_missing_revision_names_it(hub: Hub) -> None:
    with pytest.raises(DownloadError) as info:
        fetch(hub, revision="deadbeef")
    message = str(info.value)
    assert "'deadbeef'" in message
    assert "404" in message
    assert "--revision" in message
    assert not dataset.full_path("deadbeef").exists()
    assert not part_path("deadbeef").exists()
    assert len(hub.requests) == 1  # a 404 is not retried


def test_server_that_always_cuts_gives_up_and_keeps_the_part(hub: Hub) -> None:
    hub.cut_after, hub.cuts_left = 1000, 99
    with pytest.raises(DownloadError) as info:
        fetch(hub, retries=2)
    message = str(info.value)
    part = part_path(REV)

    assert len(hub.requests) == 3
    assert hub.ranges() == [None, "bytes=1000-", "bytes=2000-"]
    assert part.stat().st_size == 3000
    assert part.read_bytes() == SAMPLE[:3000]
    assert not dataset.full_path(REV).exists()
    assert "3 attempts" in message
    assert "kept" in message and str(part) in message
    assert "again to resume" in message

    hub.cuts_left = 0  # the network recovers: the next run picks up the part
    result = fetch(hub)
    assert result.resumed_from == 3000
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_server_that_ignores_range_still_gives_the_right_file(hub: Hub) -> None:
    hub.ignore_range = True
    part = part_path(REV)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(SAMPLE[:1000])

    result = fetch(hub)

    assert hub.ranges() == ["bytes=1000-"]
    assert [r.status for r in hub.requests] == [200]
    assert result.resumed_from == 0
    assert result.sha256 == SAMPLE_SHA
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_cut_then_range_ignored_restarts_from_zero(hub: Hub) -> None:
    hub.ignore_range = True
    hub.cut_after, hub.cuts_left = 7000, 1
    result = fetch(hub)
    assert hub.ranges() == [None, "bytes=7000-"]
    assert dataset.full_path(REV).read_bytes() == SAMPLE
    assert result.resumed_from == 0


def test_garbage_content_is_rejected_and_not_installed(hub: Hub) -> None:
    hub.content = b"<html><body>Sign in to continue</body></html>\n" * 50
    with pytest.raises(DownloadError) as info:
        fetch(hub)
    assert "not a usable GlobalOpinionQA CSV" in str(info.value)
    assert "missing column" in str(info.value)
    assert not dataset.full_path(REV).exists()
    assert not part_path(REV).exists()  # it would fail again on every resume


def test_garbage_with_force_keeps_the_good_file(hub: Hub) -> None:
    fetch(hub)
    hub.content = b"\x00\x01binary junk" * 100
    with pytest.raises(DownloadError, match="binary"):
        fetch(hub, force=True)
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_redirect_to_another_path_is_followed(hub: Hub) -> None:
    cdn = "/cdn/blobs/abc123"
    hub.redirects[FILE_PATH] = cdn
    hub.paths = {cdn}
    hub.cut_after, hub.cuts_left = 4000, 1

    result = fetch(hub)

    assert dataset.full_path(REV).read_bytes() == SAMPLE
    assert result.sha256 == SAMPLE_SHA
    assert [r.path for r in hub.requests] == [FILE_PATH, cdn, FILE_PATH, cdn]
    assert hub.ranges() == [None, None, "bytes=4000-", "bytes=4000-"]


def test_present_file_is_not_fetched_again(hub: Hub) -> None:
    first = fetch(hub)
    again = fetch(hub)
    assert len(hub.requests) == 1
    assert again.resumed_from == again.bytes == first.bytes
    assert again.sha256 == SAMPLE_SHA
    assert again.n_questions == 189
    assert again.n_problems == first.n_problems


def test_force_fetches_again_and_ignores_an_old_part(hub: Hub) -> None:
    fetch(hub)
    part_path(REV).write_bytes(b"stale")
    result = fetch(hub, force=True)
    assert len(hub.requests) == 2
    assert hub.ranges() == [None, None]
    assert result.resumed_from == 0
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_complete_part_answered_416_is_installed(hub: Hub) -> None:
    part = part_path(REV)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(SAMPLE)
    result = fetch(hub)
    assert [r.status for r in hub.requests] == [416]
    assert result.resumed_from == len(SAMPLE)
    assert result.fetched_bytes == 0
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_part_longer_than_the_file_starts_over(hub: Hub) -> None:
    part = part_path(REV)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(SAMPLE + b"extra bytes")
    result = fetch(hub)
    assert hub.ranges() == [f"bytes={len(SAMPLE) + 11}-", None]
    assert result.resumed_from == 0
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_bad_resumed_part_is_fetched_again_from_zero(hub: Hub) -> None:
    part = part_path(REV)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\x00" * 1000)  # e.g. a branch that moved since the last run
    result = fetch(hub)
    assert hub.ranges() == ["bytes=1000-", None]
    assert result.resumed_from == 0
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_expected_sha256(hub: Hub) -> None:
    with pytest.raises(DownloadError, match="expected"):
        fetch(hub, expected_sha256="0" * 64)
    assert not dataset.full_path(REV).exists()
    assert fetch(hub, expected_sha256=SAMPLE_SHA.upper()).sha256 == SAMPLE_SHA


def test_unauthorised_without_token_says_how_to_give_one(hub: Hub) -> None:
    hub.fail_status, hub.fails_left = 401, 1
    with pytest.raises(DownloadError) as info:
        fetch(hub)
    assert "HF_TOKEN" in str(info.value)
    assert "Authorization: Bearer" in str(info.value)
    assert len(hub.requests) == 1


def test_forbidden_token_is_sent_but_never_shown(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_xyz")
    hub.fail_status, hub.fails_left = 403, 1
    with pytest.raises(DownloadError) as info:
        fetch(hub)
    assert hub.requests[0].headers["authorization"] == "Bearer hf_secret_xyz"
    assert "HF_TOKEN" in str(info.value)
    assert "hf_secret_xyz" not in str(info.value)


def test_server_errors_are_retried(hub: Hub) -> None:
    hub.fail_status, hub.fails_left = 503, 2
    result = fetch(hub, retries=2)
    assert [r.status for r in hub.requests] == [503, 503, 200]
    assert result.sha256 == SAMPLE_SHA


def test_server_errors_give_up_after_the_retries(hub: Hub) -> None:
    hub.fail_status, hub.fails_left = 502, 99
    with pytest.raises(DownloadError, match=r"2 attempts: HTTP 502"):
        fetch(hub, retries=1)
    assert len(hub.requests) == 2


def test_unreachable_host_suggests_a_local_copy(env: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more: connections are refused.
    with pytest.raises(DownloadError) as info:
        download_full(base_url=f"http://127.0.0.1:{port}", retries=1, retry_delay=0, timeout=2)
    message = str(info.value)
    assert message.startswith(f"Cannot reach 127.0.0.1:{port}")
    assert "--dataset PATH" in message
    assert "2 attempts" in message
    assert not part_path(REV).exists()


def test_stalled_server_times_out_and_keeps_the_part(hub: Hub) -> None:
    hub.stall_after = 2000
    with pytest.raises(DownloadError) as info:
        fetch(hub, retries=0, timeout=0.3)
    assert "timed out" in str(info.value)
    assert part_path(REV).read_bytes() == SAMPLE[:2000]


def test_progress_can_cancel_and_the_part_resumes(hub: Hub) -> None:
    class Cancelled(Exception):
        pass

    def cancel_late(done: int, total: int | None) -> None:
        if done >= 100_000:
            raise Cancelled

    with pytest.raises(Cancelled):
        fetch(hub, progress=cancel_late)
    kept = part_path(REV).stat().st_size
    assert 100_000 <= kept < len(SAMPLE)
    assert fetch(hub).resumed_from == kept
    assert dataset.full_path(REV).read_bytes() == SAMPLE


def test_endpoint_comes_from_the_environment(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOQA_HF_ENDPOINT", hub.base_url + "/")
    assert file_url() == hub.base_url + FILE_PATH
    assert download_full(retry_delay=0, timeout=5).sha256 == SAMPLE_SHA
    assert len(hub.requests) == 1


def test_default_url_is_the_hub() -> None:
    assert file_url("abc") == (
        "https://huggingface.co/datasets/Anthropic/llm_global_opinions/resolve/abc/"
        "data/global_opinions.csv"
    )


@pytest.mark.parametrize("bad", ["../escape", "a/../../b", "", "/abs"])
def test_revision_cannot_escape_the_cache(env: Path, bad: str) -> None:
    with pytest.raises(DownloadError, match="not a hub revision"):
        download_full(bad, base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("url", ["ftp://example.org", "http://[::1", "http://h:99999"])
def test_bad_endpoint_is_a_clear_error(env: Path, url: str) -> None:
    with pytest.raises(DownloadError, match="not an http"):
        download_full(base_url=url)


def test_core_download_imports_no_terminal_ui() -> None:
    # Statically: httpx itself imports rich when it is installed (for its own CLI), so
    # sys.modules cannot tell whether core did.
    tree = ast.parse(Path(download.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in imported}
    assert "httpx" in roots  # the check sees the module's imports at all
    assert not roots & {"rich", "textual"}
