"""A real llama.cpp server: llama-cpp-python's own ``python -m llama_cpp.server``, started on
127.0.0.1 with the bundled SmolLM2 GGUF, asked through goqa's OpenAI-compatible backend.

* completions mode must agree with the embedded ``local`` backend (exact logits) to 1e-3;
* chat mode with the assistant prefill must either agree with the local ``chat`` rendering or
  be flagged (this server accepts ``continue_final_message`` and ignores it).

Skipped, with the reason, only where the ``local`` extra is absent.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from core import dataset
from core.asking import prompt_builder
from core.backends.local import LocalBackend, default_model_path
from core.backends.openai import OpenAIBackend
from core.config import LOCAL_DEFAULT, BackendConfig
from core.connection import check_connection
from core.prompts import Condition

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="the 'local' extra (llama-cpp-python) is not installed",
)

QUESTIONS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp.server") is None or (
        importlib.util.find_spec("uvicorn") is None
    ):
        pytest.fail(
            "llama-cpp-python is installed without its server: install the test extra "
            "(pip install -e '.[local,test]'), which brings llama-cpp-python[server]."
        )
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",
        "--seed",
        "0",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # The server's log goes to a file: llama.cpp writes enough to fill a pipe and block.
    log_path = tmp_path_factory.mktemp("llamacpp") / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                out = log_path.read_text(errors="replace")
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{out[-3000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server did not answer within 120 s:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _prompts(sample: dataset.Dataset) -> list:
    build = prompt_builder(sample, Condition("default"), "paper")
    return [build(sample.at(p)) for p in range(QUESTIONS)]


def _http(url: str, mode: str) -> OpenAIBackend:
    cfg = BackendConfig("llamacpp", "openai", base_url=url, model="local", mode=mode, timeout=120)
    return OpenAIBackend(cfg)


async def test_completions_mode_agrees_with_the_embedded_model(
    server_url: str, sample: dataset.Dataset
) -> None:
    local = LocalBackend(LOCAL_DEFAULT)
    http = _http(server_url, "completions")
    try:
        for prompt in _prompts(sample):
            exact = await local.ask(prompt)
            served = await http.ask(prompt)
            assert served.estimator == "logprobs"
            np.testing.assert_allclose(served.probs, exact.probs, atol=1e-3)
            assert served.suspect == ""
        verdict = await check_connection(http)
    finally:
        await http.aclose()
    assert verdict.ok, verdict.message


async def test_chat_mode_agrees_or_is_flagged(server_url: str, sample: dataset.Dataset) -> None:
    from dataclasses import replace

    local = LocalBackend(replace(LOCAL_DEFAULT, mode="chat"))
    http = _http(server_url, "chat")
    flagged = 0
    try:
        for prompt in _prompts(sample):
            served = await http.ask(prompt)
            exact = await local.ask(prompt)
            agrees = bool(np.allclose(served.probs, exact.probs, atol=1e-3))
            assert agrees or served.suspect, (
                f"chat answer differs from the local chat rendering and is not flagged: "
                f"{served.probs} vs {exact.probs} ({served.note})"
            )
            flagged += bool(served.suspect)
        verdict = await check_connection(http)
    finally:
        await http.aclose()
    # A ✓ from the connection check must mean a usable distribution: it is ✗ when the
    # answers are flagged.
    assert verdict.ok == (flagged == 0), verdict.message
