"""Anthropic's Messages API: no token probabilities, so the distribution is sampled.

Each ask sends ``cfg.samples`` requests at once (at most ``cfg.concurrency`` in flight per
backend) with the assistant turn prefilled with the answer prefix ("... my answer would be
("), parses the option letter from each reply and reports counts / n.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import httpx

from core.backends.base import (
    Answer,
    BackendError,
    PartialCallback,
    Sample,
    TextRequest,
    collect_samples,
    draw_texts,
)
from core.backends.http import HTTPStatusError, new_client, post_json, usage_tokens
from core.config import BackendConfig, ConfigError
from core.prompts import Prompt

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
NOT_FOUND_HINT = "Check base_url (e.g. https://api.anthropic.com, without /v1) and model"


def message_text(data: dict[str, Any]) -> str:
    """The text blocks of a Messages API response, joined."""
    content = data.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BackendError("Malformed answer from the Messages API: no content.", retryable=True)
    return "".join(
        str(block.get("text", ""))
        for block in content
        if isinstance(block, dict) and block.get("type", "text") == "text"
    )


def _refuses_prefill(detail: str) -> bool:
    # e.g. Claude 4.6+: "This model does not support assistant message prefill. The
    # conversation must end with a user message."
    detail = detail.lower()
    return "prefill" in detail or "must end with a user message" in detail


class AnthropicBackend:
    """A sampling backend for the Anthropic Messages API.

    Args:
        cfg: the backend's configuration (``api_key_env`` names the variable with the key).
        client: an HTTP client to share; one is made (and closed by :meth:`aclose`) if None.
    """

    kind = "anthropic"

    def __init__(self, cfg: BackendConfig, client: httpx.AsyncClient | None = None):
        self.cfg = cfg
        self.name = cfg.name
        self.model = cfg.model
        self.base_url = (cfg.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.mode = cfg.mode or "messages"
        # Accept a base_url written with /v1 as well as without.
        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        self._url = f"{root}/v1/messages"
        self._owns_client = client is None
        self._client = client or new_client(cfg)
        self._slots = asyncio.Semaphore(max(1, cfg.concurrency))
        self._prefill = True

    def request_params(self) -> dict[str, Any]:
        """Every configured parameter that decides the answer (no secrets). A refused prefill,
        learnt from the model, is not part of it (see ``OpenAIBackend.request_params``): the
        answers' notes say so."""
        return {
            "mode": self.mode,
            "model": self.model,
            "estimator": "sampling",
            "samples": self.cfg.samples,
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
            "prefill": True,
        }

    def learnt(self) -> dict[str, Any]:
        """What this instance has learnt from the model so far."""
        return {"prefill": self._prefill}

    async def ask(self, prompt: Prompt, on_partial: PartialCallback | None = None) -> Answer:
        """Sample ``cfg.samples`` answers concurrently and count the letters.

        ``on_partial`` receives the growing estimate after each sample. If some samples fail
        (retryably) but at most half, the estimate comes from the rest and its note says so.

        Raises:
            BackendError: a non-retryable failure, or more than half the samples failed.
        """
        started = time.perf_counter()

        async def draw() -> Sample:
            data = await self._post_sample(prompt)
            pt, ct = usage_tokens(data, "input_tokens", "output_tokens")
            return Sample(message_text(data), pt, ct)

        answer = await collect_samples(
            draw,
            max(1, self.cfg.samples),
            prompt.letters,
            on_partial,
            note="sampled (the Messages API has no token probabilities): {n} samples",
            started=started,
        )
        if not self._prefill:
            note = f"{answer.note}; model refused the assistant prefill: asked for the letter"
            answer = replace(answer, note=note)
        return answer

    async def aclose(self) -> None:
        """Close the HTTP client if this backend made it."""
        if self._owns_client:
            await self._client.aclose()

    def _auth(self) -> tuple[str | None, dict[str, str]]:
        """The API key (from the environment) and the headers that carry it."""
        try:
            key = self.cfg.api_key()
        except ConfigError as exc:
            raise BackendError(str(exc), retryable=False) from None
        headers = {"anthropic-version": API_VERSION}
        if key:
            headers["x-api-key"] = key
        return key, headers

    def _body(self, prompt: Prompt, prefill: bool) -> dict[str, Any]:
        if prefill:
            # The API rejects a final assistant message that ends in whitespace.
            messages = [
                {"role": "user", "content": prompt.user},
                {"role": "assistant", "content": prompt.answer_prefix.rstrip()},
            ]
        else:
            messages = [{"role": "user", "content": prompt.chat_user()}]
        return {
            "model": self.model,
            "max_tokens": self.cfg.max_tokens,
            "temperature": self.cfg.temperature,
            "messages": messages,
        }

    async def generate(self, text: str, max_tokens: int = 512) -> str:
        """Free text for a user message at temperature 0 (used to translate questions)."""
        body = {
            "model": self.model,
            "max_tokens": max_tokens,
            "temperature": 0,
            "messages": [{"role": "user", "content": text}],
        }
        return message_text(await self._post(body))

    async def generate_texts(self, request: TextRequest) -> tuple[Sample, ...]:
        """``request.n`` replies, one Messages request each (the API has no seed and no
        ``n``); ``json_schema`` is not sent, the parse judges the reply.

        Raises:
            BackendError: as :func:`post_json`; a non-retryable failure at once.
        """

        async def one(i: int) -> Sample:
            body = {
                "model": self.model,
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "messages": [{"role": "user", "content": request.user}],
            }
            data = await self._post(body)
            pt, ct = usage_tokens(data, "input_tokens", "output_tokens")
            return Sample(message_text(data), pt, ct)

        return await draw_texts(one, request.n)

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the Messages API within this backend's concurrency limit."""
        key, headers = self._auth()
        async with self._slots:
            return await post_json(
                self._client,
                self._url,
                body,
                headers=headers,
                timeout=self.cfg.timeout,
                where=self.base_url,
                secret=key,
                api_key_env=self.cfg.api_key_env,
                model=self.model,
                not_found_hint=NOT_FOUND_HINT,
            )

    async def _post_sample(self, prompt: Prompt) -> dict[str, Any]:
        """One request; on a 400 with the prefill, retry without it (some models refuse
        prefills) and remember that once it works."""
        prefill = self._prefill
        while True:
            try:
                data = await self._post(self._body(prompt, prefill))
            except HTTPStatusError as exc:
                if exc.status == 400 and prefill and _refuses_prefill(exc.detail):
                    prefill = False
                    continue
                raise
            self._prefill = prefill
            return data
