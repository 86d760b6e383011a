"""Download the full GlobalOpinionQA file from the Hugging Face hub into the cache.

The file is streamed into a ``.part`` file beside its destination
(:func:`core.dataset.full_path`). An interrupted transfer is resumed with an HTTP ``Range``
request, both within one call (a dropped connection is retried a few times) and across calls
(a ``.part`` left by an earlier run is picked up). The finished file is parsed with
:func:`core.dataset.parse_csv` and only then moved into place with one atomic ``os.replace``,
so the destination is either absent or a file that loads.

Every failure is a :class:`DownloadError` whose message names the problem and the fix; nothing
here prints, and nothing here imports a terminal UI library: callers draw progress from the
``progress(done_bytes, total_bytes)`` callback.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from core import dataset
from core.errors import GoqaError

DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "GOQA_HF_ENDPOINT"
TOKEN_ENV = "HF_TOKEN"
REPO_ID = "Anthropic/llm_global_opinions"
REPO_FILE = "data/" + dataset.FULL_FILENAME
PART_SUFFIX = ".part"
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)

Progress = Callable[[int, int | None], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is None when the server does not say.

``done_bytes`` counts the whole file, including bytes resumed from an earlier ``.part``; it
starts again from 0 when a server ignores a ``Range`` request.
"""


class DownloadError(GoqaError):
    """The download failed; the message says what happened and what to do about it."""

    title = "Download failed"


class _BadContent(DownloadError):
    """The transfer finished but the file failed verification (the .part is removed)."""


@dataclass(frozen=True)
class DownloadResult:
    """A full GlobalOpinionQA file in place in the cache.

    Attributes:
        path: where the file now is (:func:`core.dataset.full_path` of ``revision``).
        revision: the hub revision (commit sha, tag or branch) it came from.
        bytes: size of the file.
        sha256: hex digest of the file.
        n_questions: usable question rows in the file.
        n_problems: rows that were skipped as unusable (see ``Dataset.problems``).
        resumed_from: bytes reused rather than fetched: the size of a ``.part`` left by an
            earlier run, 0 for a fresh download, and equal to ``bytes`` when the file was
            already present and nothing was fetched.
    """

    path: Path
    revision: str
    bytes: int
    sha256: str
    n_questions: int
    n_problems: int
    resumed_from: int

    @property
    def fetched_bytes(self) -> int:
        """Bytes that came over the network in the final, successful pass."""
        return self.bytes - self.resumed_from


def endpoint(override: str | None = None) -> str:
    """The hub base URL: ``override``, else ``$GOQA_HF_ENDPOINT``, else huggingface.co.

    Raises:
        DownloadError: the URL is not ``http://`` or ``https://``.
    """
    base = (override or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).strip().rstrip("/")
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535
        ok = parts.scheme in ("http", "https") and bool(parts.netloc)
    except ValueError:  # an unclosed IPv6 bracket, a port such as 99999
        ok = False
    if not ok:
        origin = "the endpoint parameter" if override else f"${ENDPOINT_ENV}"
        raise DownloadError(
            f"The hub endpoint {base!r} (from {origin}) is not an http(s) URL; "
            f"use something like {DEFAULT_ENDPOINT}."
        )
    return base


def file_url(revision: str = dataset.FULL_REVISION, base_url: str | None = None) -> str:
    """The ``resolve`` URL of the full file at ``revision`` on the hub (or ``base_url``)."""
    return f"{endpoint(base_url)}/datasets/{REPO_ID}/resolve/{revision}/{REPO_FILE}"


def part_path(revision: str = dataset.FULL_REVISION) -> Path:
    """The partial file a download of ``revision`` writes to before it is verified."""
    dest = dataset.full_path(revision)
    return dest.with_name(dest.name + PART_SUFFIX)


def download_full(
    revision: str = dataset.FULL_REVISION,
    *,
    force: bool = False,
    progress: Progress | None = None,
    expected_sha256: str | None = None,
    base_url: str | None = None,
    token: str | None = None,
    retries: int = 3,
    retry_delay: float = 1.0,
    timeout: float = 30.0,
    client: httpx.Client | None = None,
) -> DownloadResult:
    """Download the full GlobalOpinionQA CSV for ``revision`` into the cache.

    If the file is already in place and ``force`` is false, nothing is fetched: the existing
    file is loaded (through the parsed-dataset cache) and described. With ``force`` the file
    is fetched again from zero (an old ``.part`` is discarded); the old file stays in place
    until the new one has been verified.

    Args:
        revision: hub revision of ``Anthropic/llm_global_opinions`` (default: the pinned
            :data:`core.dataset.FULL_REVISION`).
        force: download even if the destination exists.
        progress: called as ``progress(done_bytes, total_bytes)`` while bytes arrive. It runs
            on the calling thread; an exception it raises aborts the download (the ``.part`` is
            kept, so a later call resumes), which is how a UI cancels.
        expected_sha256: if given, the file must have this hex digest.
        base_url: hub base URL; defaults to ``$GOQA_HF_ENDPOINT``, then huggingface.co.
        token: access token sent as ``Authorization: Bearer``; defaults to ``$HF_TOKEN``.
            It is never part of a message.
        retries: how many times a dropped connection, a timeout or a 5xx/429 answer is retried
            (each retry resumes where the last stopped) before giving up.
        retry_delay: seconds before the first retry; doubles each time.
        timeout: seconds allowed to connect and between two reads.
        client: an ``httpx.Client`` to use (proxies, tests); by default one is made and closed.

    Returns:
        A :class:`DownloadResult` describing the verified file in place.

    Raises:
        DownloadError: the file is missing on the hub (404), needs a token (401/403), the hub
            cannot be reached, the transfer kept breaking, the content is not a usable
            GlobalOpinionQA CSV or does not match ``expected_sha256``, or the cache cannot be
            written.
    """
    _check_revision(revision)
    dest = dataset.full_path(revision)
    if dest.exists() and not force:
        return _describe_existing(dest, revision)
    url = file_url(revision, base_url)
    part = part_path(revision)
    if force:
        part.unlink(missing_ok=True)
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    own_client = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True)
    try:
        transfer = _Transfer(http, url, revision, part, token, progress)
        transfer.run(retries=max(0, retries), retry_delay=max(0.0, retry_delay))
        try:
            return _install(part, dest, revision, transfer.resumed_from, expected_sha256)
        except _BadContent:
            if not transfer.resumed_from:
                raise
        # The file was spliced onto an earlier run's .part (a branch may have moved since):
        # fetch it once more from zero before calling the content bad.
        transfer = _Transfer(http, url, revision, part, token, progress)
        transfer.run(retries=max(0, retries), retry_delay=max(0.0, retry_delay))
        return _install(part, dest, revision, transfer.resumed_from, expected_sha256)
    finally:
        if own_client:
            http.close()


# --------------------------------------------------------------------------- transfer


class _Retryable(Exception):
    """One attempt failed in a way worth retrying; ``str()`` says how."""


class _Transfer:
    """The state of one download: the ``.part`` on disk and what the server said of it."""

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        revision: str,
        part: Path,
        token: str | None,
        progress: Progress | None,
    ) -> None:
        self.client = client
        self.url = url
        self.revision = revision
        self.part = part
        self.token = token
        self.progress = progress
        self.total: int | None = None
        self.resumed_from = _size(part)
        self.received_any = False

    def run(self, retries: int, retry_delay: float) -> None:
        failures: list[str] = []
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(retry_delay * 2 ** (attempt - 1))
            try:
                if self._attempt():
                    return
            except _Retryable as exc:
                failures.append(str(exc))
                continue
            except httpx.TooManyRedirects:
                raise DownloadError(
                    f"{_host(self.url)} redirected too many times for {self.url}; check "
                    f"${ENDPOINT_ENV}, or copy the file by hand and use --dataset PATH."
                ) from None
            except httpx.RequestError as exc:
                failures.append(self._describe_transport(exc))
                continue
            except httpx.InvalidURL as exc:
                raise DownloadError(f"Cannot download from {self.url!r}: {exc}.") from None
        raise self._gave_up(failures)

    def _attempt(self) -> bool:
        """One request; True once the ``.part`` holds the whole file."""
        offset = _size(self.part)
        headers = {"Accept-Encoding": "identity", "User-Agent": "goqa"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        with self.client.stream("GET", self.url, headers=headers, follow_redirects=True) as resp:
            status = resp.status_code
            if status == 416 and offset:
                return self._range_not_satisfiable(resp, offset)
            if status == 206 and offset:
                start, total = _content_range(resp.headers.get("Content-Range"))
                if start != offset:
                    # Not the bytes we asked for: safer to start again than to splice.
                    self._discard_part()
                    raise _Retryable(f"asked for bytes from {offset:,}, got from {start}")
                mode = "ab"
            elif status in (200, 206):
                # 200 after a Range request: the server ignored it, so restart from zero.
                offset, mode = 0, "wb"
                if status == 206:
                    total = _content_range(resp.headers.get("Content-Range"))[1]
                else:
                    total = _content_length(resp)
                self.resumed_from = 0
            else:
                raise self._status_error(resp)
            self.total = total
            done = self._write_body(resp, mode, offset, total)
        if total is not None and done != total:
            raise _Retryable(f"the body ended after {done:,} of {total:,} bytes")
        return True

    def _write_body(self, resp: httpx.Response, mode: str, offset: int, total: int | None) -> int:
        done = offset
        self._report(done, total)
        try:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            fh = self.part.open(mode)
        except OSError as exc:
            raise _write_error(self.part, exc) from None
        with fh:
            for chunk in resp.iter_raw():
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise _write_error(self.part, exc) from None
                done += len(chunk)
                self.received_any = True
                self._report(done, total)
        return done

    def _report(self, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def _range_not_satisfiable(self, resp: httpx.Response, offset: int) -> bool:
        """416 to ``Range: bytes=offset-``: the part is complete, or longer than the file."""
        _, total = _content_range(resp.headers.get("Content-Range"))
        if total is None or total == offset:
            # Complete (or the server did not say): verification decides, and a bad resumed
            # file is fetched again from zero (see download_full).
            self.total = total if total is not None else offset
            self._report(offset, self.total)
            return True
        self._discard_part()
        raise _Retryable(f"the partial file ({offset:,} bytes) is longer than the file ({total:,})")

    def _discard_part(self) -> None:
        self.part.unlink(missing_ok=True)
        self.resumed_from = 0

    def _status_error(self, resp: httpx.Response) -> Exception:
        status = resp.status_code
        if status == 404:
            return DownloadError(
                f"Revision {self.revision!r} or file {REPO_FILE} not found on the hub "
                f"({_host(self.url)} answered 404 for {self.url}); check --revision."
            )
        if status in (401, 403):
            if self.token:
                why = (
                    f"refused the token in ${TOKEN_ENV} (HTTP {status}); check that it is valid "
                    f"and that its account has accepted the terms of {REPO_ID}"
                )
            else:
                why = (
                    f"requires authentication (HTTP {status}): the dataset may be gated. Accept "
                    f"its terms on the hub, then set ${TOKEN_ENV} to an access token (it is sent "
                    "as 'Authorization: Bearer')"
                )
            return DownloadError(f"{_host(self.url)} {why}.")
        if status in _RETRYABLE_STATUS:
            return _Retryable(f"HTTP {status} {resp.reason_phrase}".rstrip())
        return DownloadError(
            f"Unexpected answer HTTP {status} {resp.reason_phrase} from {self.url}; check "
            f"--revision and ${ENDPOINT_ENV}, or copy the file by hand and use --dataset PATH."
        )

    def _describe_transport(self, exc: httpx.RequestError) -> str:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol):
            return f"connect: {_reason(exc)}"
        if isinstance(exc, httpx.TimeoutException):
            return "the server stopped sending (timed out)"
        return f"the connection dropped ({_reason(exc)})"

    def _gave_up(self, failures: list[str]) -> DownloadError:
        attempts = len(failures)
        last = failures[-1] if failures else "unknown failure"
        have = _size(self.part)
        if not self.received_any and all(f.startswith("connect: ") for f in failures):
            return DownloadError(
                f"Cannot reach {_host(self.url)} ({last.removeprefix('connect: ')}; "
                f"{attempts} attempts). Check the network or proxy, or copy "
                f"{dataset.FULL_FILENAME} by hand (from {self.url}) and use --dataset PATH."
            )
        if have:
            of_total = f" of {self.total:,}" if self.total else ""
            kept = (
                f"The partial file ({have:,}{of_total} bytes) is kept at {self.part}; "
                "run the command again to resume."
            )
        else:
            kept = "Run the command again to retry."
        return DownloadError(
            f"Download from {_host(self.url)} failed after {attempts} attempts: {last}. {kept}"
        )


# --------------------------------------------------------------------------- verify


def _install(
    part: Path, dest: Path, revision: str, resumed_from: int, expected_sha256: str | None
) -> DownloadResult:
    """Verify the finished ``.part`` and move it into place."""
    try:
        data = part.read_bytes()
    except OSError as exc:
        raise DownloadError(f"Cannot read the downloaded file {part}: {exc.strerror}.") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 and digest != expected_sha256.strip().lower():
        part.unlink(missing_ok=True)
        raise _BadContent(
            f"The downloaded file has sha256 {digest}, not the expected {expected_sha256}; it "
            f"was removed and nothing was installed. Check --revision, or the expected digest."
        )
    try:
        parsed = dataset.parse_csv(data, name="full", path=str(dest))
    except dataset.DatasetError as exc:
        # A bad .part would fail again on every resume, so it goes; an older good file stays.
        part.unlink(missing_ok=True)
        raise _BadContent(
            f"The downloaded file is not a usable GlobalOpinionQA CSV ({exc}); it was removed "
            "and nothing was installed. Check --revision and $" + ENDPOINT_ENV + "."
        ) from None
    try:
        os.replace(part, dest)
    except OSError as exc:
        raise _write_error(dest, exc) from None
    return DownloadResult(
        path=dest,
        revision=revision,
        bytes=len(data),
        sha256=digest,
        n_questions=len(parsed),
        n_problems=len(parsed.problems),
        resumed_from=resumed_from,
    )


def _describe_existing(dest: Path, revision: str) -> DownloadResult:
    try:
        parsed = dataset.load(str(dest))
    except dataset.DatasetError as exc:
        raise DownloadError(
            f"{dest} is already present but cannot be used ({exc}); download it again with --force."
        ) from None
    size = _size(dest)
    return DownloadResult(
        path=dest,
        revision=revision,
        bytes=size,
        sha256=parsed.sha256,
        n_questions=len(parsed),
        n_problems=len(parsed.problems),
        resumed_from=size,
    )


# --------------------------------------------------------------------------- helpers


def _check_revision(revision: str) -> None:
    # The revision becomes part of a cache path: keep it inside the cache.
    segments = revision.split("/")
    if not _REVISION.match(revision) or any(seg in ("", ".", "..") for seg in segments):
        raise DownloadError(
            f"{revision!r} is not a hub revision; give a commit sha, tag or branch name to "
            f"--revision (the default is {dataset.FULL_REVISION})."
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, complete length) from a ``Content-Range`` header; None where unknown."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None, None
    start, _, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _content_length(resp: httpx.Response) -> int | None:
    value = resp.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _write_error(path: Path, exc: OSError) -> DownloadError:
    return DownloadError(
        f"Cannot write {path}: {exc.strerror or exc}. Free some disk space or set "
        "GOQA_CACHE_DIR to a writable directory."
    )
