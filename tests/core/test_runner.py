"""The runner against a real loopback server: every question ends answered or failed with its
reason, resumes finish the rest, the cache never pays twice, cancellation keeps the store
consistent."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from support.fakeserver import FakeServer

from core import dataset
from core.asking import MissingTranslationsError
from core.backends import make_backend
from core.backends.retry import RetryPolicy
from core.config import BackendConfig
from core.countries import UnknownCountryError
from core.prompts import Condition, render
from core.runner import run
from core.runs import load_run
from core.store import Store, StoreError

FAST_RETRY = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)


def _cfg(server: FakeServer, **kw: object) -> BackendConfig:
    base = {"concurrency": 8, "timeout": 5.0}
    return BackendConfig("fake", "openai", base_url=server.base_url, model="m", **{**base, **kw})


async def _run(server: FakeServer, store: Store, name: str, n: int, **kw: object):
    ds = dataset.load()
    cfg = _cfg(server, **{k: v for k, v in kw.items() if k in ("timeout", "mode")})
    backend = make_backend(cfg)
    try:
        return await run(
            name=name,
            dataset=ds,
            positions=list(range(n)),
            backend=backend,
            backend_name="fake",
            condition=kw.get("condition", Condition("default")),  # type: ignore[arg-type]
            template="paper",
            store=store,
            concurrency=8,
            retry=kw.get("retry", FAST_RETRY),  # type: ignore[arg-type]
        )
    finally:
        await backend.aclose()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "runs.sqlite3")
    yield s
    s.close()


async def test_run_answers_every_question_with_the_servers_distribution(store):
    ds = dataset.load()
    with FakeServer() as server:
        outcome = await _run(server, store, "r", 25)
        assert (outcome.answered, outcome.failed, outcome.cached) == (25, 0, 0)
        for stored in store.answers("r"):
            q = ds.question(stored.question_id)
            expected, off = server.expected(render(q).user)
            assert stored.answer is not None
            np.testing.assert_allclose(stored.answer.probs, expected, atol=1e-9)
            assert stored.answer.off_option_mass == pytest.approx(off, abs=1e-9)
    assert len(load_run(store, ds, "r").scores.countries) > 10


async def test_faults_end_answered_or_failed_and_resume_finishes(store):
    kinds = ("429", "500", "503", "malformed", "no-logprobs", "reset", "html")
    with FakeServer(fault_rate=0.35, fault_kinds=kinds, retry_after=0.01, seed=3) as server:
        no_retry = RetryPolicy(max_retries=0)
        first = await _run(server, store, "faulty", 40, retry=no_retry)
        answered = {a.question_key for a in store.answers("faulty", "ok")}
        failed = store.answers("faulty", "failed")
        assert first.failed == len(failed) > 0
        assert len(answered) + len(failed) == 40
        assert all(f.error for f in failed)  # every failure keeps its reason
        server.fault_rate = 0.0
        requests_before = server.request_count
        second = await _run(server, store, "faulty", 40)
        assert second.already_done == len(answered)
        assert second.failed == 0 and second.answered == 40
        # Only the failed questions were asked again.
        assert server.request_count - requests_before == len(failed)
    keys = [a.question_key for a in store.answers("faulty")]
    assert len(keys) == len(set(keys)) == 40
    assert store.integrity_ok()


async def test_retries_recover_from_transient_faults(store):
    with FakeServer(fail_first_n=2, fail_with="429", retry_after=0.01) as server:
        outcome = await _run(server, store, "retry", 10)
        assert (outcome.answered, outcome.failed) == (10, 0)
        assert server.request_count == 30  # two 429s then an answer, per question


async def test_same_request_is_never_paid_twice_across_runs(store):
    with FakeServer() as server:
        await _run(server, store, "a", 12)
        count = server.request_count
        outcome = await _run(server, store, "b", 12)
        assert outcome.cached == 12
        assert server.request_count == count


async def test_slow_server_fails_with_a_timeout_reason(store):
    with FakeServer(faults=["slow"] * 50, slow_seconds=2.0) as server:
        outcome = await _run(server, store, "slow", 3, timeout=0.3, retry=RetryPolicy(0))
        assert outcome.failed == 3
        assert all("0.3" in a.error for a in store.answers("slow", "failed"))
        server.faults = []


async def test_cancel_keeps_what_was_stored_and_resume_completes(store):
    with FakeServer(delay=0.05) as server:
        task = asyncio.create_task(_run(server, store, "cancel", 60))
        while len(store.answers("cancel")) < 10:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        partial = len(store.answers("cancel"))
        assert 10 <= partial < 60
        assert store.integrity_ok()
        outcome = await _run(server, store, "cancel", 60)
        assert outcome.already_done == partial
        assert outcome.answered == 60
    assert len(store.answers("cancel")) == 60


async def test_conditions_are_checked_before_any_request(store):
    with FakeServer() as server:
        with pytest.raises(MissingTranslationsError, match="goqa translate"):
            await _run(server, store, "lang", 5, condition=Condition("language", "de"))
        with pytest.raises(UnknownCountryError, match="Russia"):
            await _run(server, store, "typo", 5, condition=Condition("country", "Rusia"))
        assert server.request_count == 0


async def test_cross_national_prompt_names_the_country(store):
    with FakeServer() as server:
        await _run(server, store, "uk", 2, condition=Condition("country", "Great Britain"))
        texts = [r.body["prompt"] for r in server.recorded("/v1/completions")]
        assert all(
            t.startswith("Human: How would someone from United Kingdom answer") for t in texts
        )


async def test_a_name_cannot_resume_a_different_run(store):
    with FakeServer() as server:
        await _run(server, store, "same", 2)
        with pytest.raises(StoreError, match="condition"):
            await _run(server, store, "same", 2, condition=Condition("country", "Russia"))


async def test_shuffled_run_stores_answers_in_the_original_order(store):
    from core.diagnostics import shuffled_order, shuffled_render, unshuffle

    ds = dataset.load()
    with FakeServer() as server:
        cfg = _cfg(server)
        backend = make_backend(cfg)
        try:
            outcome = await run(
                name="shuffled",
                dataset=ds,
                positions=list(range(6)),
                backend=backend,
                backend_name="fake",
                condition=Condition("default"),
                template="paper",
                store=store,
                retry=FAST_RETRY,
                shuffle_seed=7,
            )
        finally:
            await backend.aclose()
        assert outcome.answered == 6
        assert store.manifest("shuffled").variant == "shuffle:7"
        for stored in store.answers("shuffled"):
            q = ds.question(stored.question_id)
            perm = shuffled_order(q.key, len(q.options), 7)
            shown = shuffled_render(q, None, "paper", perm)
            # The server answered the shuffled prompt; the store holds it mapped back.
            in_shown_order, _ = server.expected(shown.user)
            assert stored.answer is not None
            np.testing.assert_allclose(stored.answer.probs, unshuffle(in_shown_order, perm))
            assert not np.allclose(stored.answer.probs, in_shown_order)
        # A plain run cannot resume into the shuffled one.
        with pytest.raises(StoreError, match="variant"):
            await _run(server, store, "shuffled", 6)
