"""The estimators against constructed models whose truth is known.

A loopback OpenAI-compatible server (tests/support/fakeserver.py) plays a model with a
*position prior*: the probability of letter i is ``prior[i] x content[option shown at i]``
(then 5% of the mass goes off the letters). ``content`` is the model's real opinion, a fixed
distribution over each question's option texts; ``prior`` is its taste for the letter A. The
real ``OpenAIBackend`` (completions mode) asks it through ``core.runner.run`` with a real
sqlite store, so everything between the estimator and the wire is the shipped code.

Tolerances, measured on these questions (Jensen-Shannon distance, base 2, to ``content``):

* first-token: 0.23-0.31 (mean 0.26). Asserted biased: every question > 0.15.
* order-averaged, 5 orders on 4 options (all 4 rotations and the reversal): 0.02-0.08 (mean
  0.056); the mean of normalised distributions is not the content exactly (each order's
  normaliser differs, and the reversal shows every option once more, at a mirrored
  position). Asserted < 0.10 each and mean < 0.07, and equal to an independent computation
  of the mean of the mapped-back orders to 1e-9. Wrong implementations fail: averaging
  the orders without mapping them back to the published order gives 0.18-0.50, multiplying
  the prior in instead of dividing it out 0.44-0.57.
* prior-corrected: PriDe is exact for this model (the geometric mean over the rotations
  divides the content out); measured at most 8.5e-9, the recorded prior equal to the true
  one to 3e-17. Asserted < 1e-6 and 1e-6.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from support.dataset_csv import WriteCsv
from support.fakeserver import FakeServer, option_texts, question_key

from core import dataset, estimators, ordinal
from core.asking import prompt_builder
from core.audit import audit_runs
from core.backends.openai import OpenAIBackend
from core.backends.retry import RetryPolicy
from core.config import BackendConfig
from core.dataset import Dataset, Question
from core.estimation import ask_estimators
from core.estimators import EstimatorSpec
from core.metrics import js_distance
from core.prompts import Condition, render
from core.replies import free_text_user, verbalized_user
from core.runner import RunOutcome, run
from core.store import Store, StoreError

FAST_RETRY = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)
NO_RETRY = RetryPolicy(max_retries=0)
OFF = 0.05
"""Mass the model puts on non-letter tokens (folded away by the backend)."""

PRIORS: dict[int, np.ndarray] = {
    2: np.array([0.7, 0.3]),
    3: np.array([0.5, 0.3, 0.2]),
    4: np.array([0.55, 0.2, 0.15, 0.1]),
    5: np.array([0.5, 0.2, 0.13, 0.1, 0.07]),
}
"""The model's prior over letter positions, per number of options."""

NOMINAL4 = [
    ("Which religion do you know most about?", ["Christianity", "Islam", "Judaism", "Hinduism"]),
    ("Which colour do you like best?", ["Red", "Blue", "Green", "Yellow"]),
    ("Which city would you visit first?", ["Paris", "Tokyo", "Cairo", "Lima"]),
    ("Which sport do you follow?", ["Football", "Cricket", "Tennis", "Basketball"]),
    ("Which animal makes the best pet?", ["Dog", "Cat", "Rabbit", "Parrot"]),
    ("Which instrument would you learn?", ["Piano", "Violin", "Guitar", "Drums"]),
    ("Where do you get your news?", ["Television", "Newspapers", "Radio", "Social media"]),
    ("Which season do you prefer?", ["Spring", "Summer", "Autumn", "Winter"]),
]
OTHERS = [
    ("Tea or coffee?", ["Tea", "Coffee"]),
    ("Which metal is most useful?", ["Iron", "Copper", "Gold", "Silver", "Tin"]),
    ("Which party do you support?", ["Greens", "Liberals", "Conservatives", "DK/Refused"]),
    (
        "How is the economy doing?",
        ["Very good", "Somewhat good", "Somewhat bad", "Very bad", "DK/Refused"],
    ),
]
QUESTIONS = NOMINAL4 + OTHERS
NOMINAL4_POSITIONS = list(range(len(NOMINAL4)))
ORDINAL_POSITION = len(QUESTIONS) - 1


def _content() -> dict[str, np.ndarray]:
    out = {}
    for i, (text, options) in enumerate(QUESTIONS):
        rng = np.random.default_rng(100 + i)
        out[text] = rng.dirichlet(np.full(len(options), 2.0))
    return out


CONTENT = _content()
"""Question text -> the model's real opinion, over its options in published order."""


def content_of(q: Question) -> np.ndarray:
    return CONTENT[q.text]


def _question_of(key: str) -> tuple[str, list[str]]:
    matches = [(t, o) for t, o in QUESTIONS if t in key]
    assert len(matches) == 1, key
    return matches[0]


def position_prior_model(key: str) -> np.ndarray:
    """Letter probabilities: prior[position] x content[option shown there], 5% off."""
    text, options = _question_of(key)
    shown = option_texts(key)
    letters = sorted(shown)
    weights = dict(zip(options, CONTENT[text], strict=True))
    p = PRIORS[len(letters)] * np.array([weights[shown[letter]] for letter in letters])
    return (1.0 - OFF) * p / p.sum()


@pytest.fixture
def ds(write_csv: WriteCsv) -> Dataset:
    rows = [
        (text, {"Germany": [1.0 / len(o)] * len(o), "Brazil": [1.0 / len(o)] * len(o)}, o, "GAS")
        for text, o in QUESTIONS
    ]
    loaded = dataset.load(str(write_csv(rows, name="truth.csv")))
    assert [q.text for q in loaded] == [t for t, _ in QUESTIONS]
    return loaded


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "runs.sqlite3")
    yield s
    s.close()


def is_ordinal(q: Question) -> bool:
    return ordinal.scale(q.options, list(q.nonsubstantive), q.key).ordinal


async def run_with(
    server: FakeServer,
    store: Store,
    ds: Dataset,
    name: str,
    positions: Sequence[int],
    estimator: EstimatorSpec | None = None,
    retry: RetryPolicy = FAST_RETRY,
    timeout: float = 5.0,
) -> RunOutcome:
    cfg = BackendConfig(
        "fake",
        "openai",
        base_url=server.base_url,
        model="m",
        mode="completions",
        concurrency=8,
        timeout=timeout,
    )
    backend = OpenAIBackend(cfg)
    try:
        return await run(
            name=name,
            dataset=ds,
            positions=list(positions),
            backend=backend,
            backend_name="fake",
            condition=Condition("default"),
            template="paper",
            store=store,
            concurrency=8,
            retry=retry,
            estimator=estimator,
        )
    finally:
        await backend.aclose()


def stored_probs(store: Store, run_name: str) -> dict[str, np.ndarray]:
    out = {}
    for s in store.answers(run_name, status="ok"):
        assert s.answer is not None
        out[s.question_key] = s.answer.probs
    return out


def jsd(p: np.ndarray, q: np.ndarray) -> float:
    return float(js_distance(p, q))


def shown_probs(q: Question, order: Sequence[int]) -> np.ndarray:
    """What the model answers (renormalised over letters) with ``order`` shown: an
    independent oracle, computed without core.estimators."""
    p = PRIORS[len(order)] * content_of(q)[list(order)]
    return p / p.sum()


def back_to_published(shown: np.ndarray, order: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(order))
    for position, option in enumerate(order):
        out[option] = shown[position]
    return out


def requests_for(server: FakeServer, q: Question, path: str = "/v1/completions") -> list[str]:
    """The question keys (as shown) of the requests ``server`` received for ``q``."""
    return [r.key for r in server.recorded(path) if r.key and _question_of(r.key)[0] == q.text]


# --------------------------------------------------------------------------- a. position prior


async def test_constructed_dataset_is_what_the_tests_assume(ds: Dataset) -> None:
    for pos in NOMINAL4_POSITIONS + [8, 9, 10]:
        assert not is_ordinal(ds.at(pos)), ds.at(pos).options
    assert is_ordinal(ds.at(ORDINAL_POSITION))
    assert list(ds.at(10).nonsubstantive) == [False, False, False, True]
    assert list(ds.at(ORDINAL_POSITION).nonsubstantive) == [False] * 4 + [True]


async def test_first_token_is_biased_and_the_corrections_recover_the_content(
    ds: Dataset, store: Store
) -> None:
    questions = [ds.at(p) for p in NOMINAL4_POSITIONS]
    averaged = EstimatorSpec("order-averaged", orders=5)
    corrected = EstimatorSpec("prior-corrected", calibration=4, seed=0)
    with FakeServer(letter_model=position_prior_model) as server:
        for name, spec in (("ft", None), ("oa", averaged), ("pc", corrected)):
            outcome = await run_with(server, store, ds, name, NOMINAL4_POSITIONS, spec)
            assert (outcome.answered, outcome.failed) == (len(questions), 0), name

    first, avg, pc = (stored_probs(store, n) for n in ("ft", "oa", "pc"))
    oa_answers = {s.question_key: s.answer for s in store.answers("oa")}
    pc_answers = {s.question_key: s.answer for s in store.answers("pc")}
    oa_distances, no_map_back, multiplied = [], [], []
    for q in questions:
        truth = content_of(q)
        identity = tuple(range(4))
        # First-token: exactly what the biased model says, far from its content.
        np.testing.assert_allclose(first[q.key], shown_probs(q, identity), atol=1e-9)
        assert jsd(first[q.key], truth) > 0.15, q.text

        # Order-averaged: every rotation and the reversal, mapped back, averaged.
        answer = oa_answers[q.key]
        assert answer is not None and answer.method == "order-averaged"
        rotations = {tuple(identity[s:] + identity[:s]) for s in range(4)}
        assert set(answer.orders) == rotations | {(3, 2, 1, 0)}
        assert answer.orders == estimators.option_orders(q, 5)
        assert len(answer.parts) == 5
        for part, order in zip(answer.parts, answer.orders, strict=True):
            np.testing.assert_allclose(
                part.probs, back_to_published(shown_probs(q, order), order), atol=1e-9
            )
        oracle = np.mean([back_to_published(shown_probs(q, o), o) for o in answer.orders], axis=0)
        np.testing.assert_allclose(avg[q.key], oracle, atol=1e-9)
        oa_distances.append(jsd(avg[q.key], truth))
        assert oa_distances[-1] < 0.10, q.text
        # Wrong implementations this tolerance rejects.
        no_map_back.append(jsd(np.mean([shown_probs(q, o) for o in answer.orders], 0), truth))
        multiplied.append(jsd(first[q.key] * PRIORS[4], truth))

        # Prior-corrected: exact for this model.
        pc_answer = pc_answers[q.key]
        assert pc_answer is not None and pc_answer.method == "prior-corrected"
        assert jsd(pc[q.key], truth) < 1e-6, q.text
        np.testing.assert_allclose(pc_answer.prior, PRIORS[4], atol=1e-6)
        np.testing.assert_allclose(pc_answer.parts[0].probs, first[q.key], atol=1e-9)
    assert np.mean(oa_distances) < 0.07
    assert min(no_map_back) > 0.15 and min(multiplied) > 0.4
    # The correction improves on first-token for every question.
    assert all(jsd(avg[q.key], content_of(q)) < jsd(first[q.key], content_of(q)) for q in questions)

    calibration = store.manifest("pc").calibration
    entry = calibration["by_options"]["4"]
    np.testing.assert_allclose(entry["prior"], PRIORS[4], atol=1e-6)
    assert entry["size"] == 4 and entry["failed"] == []
    chosen = estimators.calibration_subset(questions, 4, 0)[4]
    assert entry["questions"] == [q.key for q in chosen]


async def test_ordinal_question_is_asked_in_scale_order_and_reversed_with_dk_last(
    ds: Dataset, store: Store
) -> None:
    q = ds.at(ORDINAL_POSITION)
    with FakeServer(letter_model=position_prior_model) as server:
        spec = EstimatorSpec("order-averaged", orders=4)
        outcome = await run_with(server, store, ds, "ordinal", [ORDINAL_POSITION], spec)
        assert outcome.answered == 1
        shown = [list(option_texts(key).values()) for key in requests_for(server, q)]
    assert server.count("/v1/completions") == 2
    published = list(q.options)
    assert sorted(shown) == sorted([published, published[3::-1] + ["DK/Refused"]])
    (stored,) = store.answers("ordinal")
    assert stored.answer is not None
    assert stored.answer.orders == ((0, 1, 2, 3, 4), (3, 2, 1, 0, 4))
    oracle = np.mean([back_to_published(shown_probs(q, o), o) for o in stored.answer.orders], 0)
    np.testing.assert_allclose(stored.answer.probs, oracle, atol=1e-9)


# --------------------------------------------------------------------------- b. free text


def choose_reply(disagree: set[int], ds: Dataset) -> Callable[[str], str]:
    """Free-text replies naming the model's first-token argmax, except on ``disagree``
    questions (dataset positions), which name the next option."""
    by_text = {ds.at(p).text: p for p in range(len(ds))}
    styles = ["({letter}) {text}", "I would choose ({letter}).", "{letter}) {text}", "{text}."]

    def reply(user: str) -> str:
        key = question_key(user)
        text, options = _question_of(key)
        pos = by_text[text]
        best = int(np.argmax(position_prior_model(key)))
        choice = (best + 1) % len(options) if pos in disagree else best
        letter = "ABCDEFGH"[choice]
        style = styles[pos % len(styles)]
        return style.format(letter=letter, text=option_texts(key)[letter])

    return reply


async def test_free_text_agrees_with_first_token_on_exactly_the_known_share(
    ds: Dataset, store: Store
) -> None:
    positions = list(range(10))
    disagree = {1, 4, 8}
    with FakeServer(letter_model=position_prior_model, reply=choose_reply(disagree, ds)) as server:
        ft = await run_with(server, store, ds, "ft", positions)
        ftext = await run_with(
            server, store, ds, "free", positions, EstimatorSpec("free-text", samples=3)
        )
        assert (ft.answered, ftext.answered, ftext.failed) == (10, 10, 0)
        assert server.count("/v1/chat/completions") == 10 * 3
        # The free-text requests carry no prefill and no logprobs.
        bodies = [r.body for r in server.recorded("/v1/chat/completions")]
        assert all("logprobs" not in b and len(b["messages"]) == 1 for b in bodies)
        users = {b["messages"][0]["content"] for b in bodies}
        assert users == {free_text_user(render(ds.at(p))) for p in positions}
        assert sorted(b["seed"] for b in bodies) == sorted([0, 1, 2] * 10)

    first = {s.question_key: s.answer for s in store.answers("ft")}
    free = {s.question_key: s.answer for s in store.answers("free")}
    agree = []
    for pos in positions:
        key = ds.keys[pos]
        a, b = first[key], free[key]
        assert a is not None and b is not None
        assert b.method == "free-text" and b.samples == 3 and b.refusals == 0
        assert len(set(b.choices)) == 1 and b.probs.max() == 1.0
        agree.append(int(np.argmax(a.probs)) == int(np.argmax(b.probs)))
    assert sum(agree) / len(agree) == 0.7
    assert [pos for pos, ok in zip(positions, agree, strict=True) if not ok] == sorted(disagree)

    # The audit's headline figure says the same.
    found = audit_runs(store, ds, ["ft", "free"], resamples=200)
    (pair,) = found.first_token_vs_free_text
    assert (pair.a, pair.b, pair.n, pair.agree) == ("ft", "free", 10, 7)
    assert pair.agreement == 0.7


# --------------------------------------------------------------------------- c. verbalized


def verbalized_replies(
    ds: Dataset,
) -> tuple[dict[int, str], dict[int, list[float]], dict[int, str]]:
    """(reply per position, expected probs of those that parse, reason of those that fail)."""
    names = list(ds.at(7).options)  # Spring, Summer, Autumn, Winter: keys by option text
    replies = {
        0: '{"A": 40, "B": 30, "C": 20, "D": 10}',
        1: 'Sure. {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4} Hope that helps.',
        2: 'Here you go:\n```json\n{"A": "25%", "B": "25%", "C": "30%", "D": "20%"}\n```',
        3: '{"A": 33, "B": 33, "C": 33, "D": 0}',
        4: '{"shares": {"A": 50, "B": 21, "C": 20, "D": 10}}',
        5: '{"A": 50, "B": 30, "C": 20}',
        6: "As an AI, I cannot estimate what people think about this.",
        7: json.dumps({names[0]: 10, names[1]: 50, names[2]: 25, names[3]: 15}),
        8: '{"A": 60, "B": 44}',
        9: '{"A": 10, "B": 20, "C": 30, "D": 25, "E": 15}',
    }
    expected = {
        0: [0.4, 0.3, 0.2, 0.1],
        1: [0.1, 0.2, 0.3, 0.4],
        2: [0.25, 0.25, 0.3, 0.2],
        3: [1 / 3, 1 / 3, 1 / 3, 0.0],  # sums to 99: accepted, renormalised
        4: [50 / 101, 21 / 101, 20 / 101, 10 / 101],  # sums to 101, one level of nesting
        7: [0.1, 0.5, 0.25, 0.15],
        9: [0.1, 0.2, 0.3, 0.25, 0.15],
    }
    reasons = {
        5: "no share for option D",
        6: "no JSON object in the reply",
        8: "the shares add up to 104, not about 100 (or 1)",
    }
    return replies, expected, reasons


async def test_verbalized_answers_and_failures_end_to_end_and_failed_parses_are_not_paid_twice(
    ds: Dataset, store: Store
) -> None:
    positions = list(range(10))
    replies, expected, reasons = verbalized_replies(ds)
    by_text = {ds.at(p).text: p for p in positions}

    def reply(user: str) -> str:
        text, _ = _question_of(question_key(user))
        return replies[by_text[text]]

    spec = EstimatorSpec("verbalized")
    with FakeServer(letter_model=position_prior_model, reply=reply) as server:
        outcome = await run_with(server, store, ds, "verb", positions, spec)
        assert (outcome.answered, outcome.failed) == (len(expected), len(reasons))
        assert server.count("/v1/completions") == 0
        assert server.count("/v1/chat/completions") == 10  # one greedy request per question
        bodies = [r.body for r in server.recorded("/v1/chat/completions")]
        assert all(b["temperature"] == 0 and "logprobs" not in b for b in bodies)
        assert {b["messages"][0]["content"] for b in bodies} == {
            verbalized_user(render(ds.at(p)), None) for p in positions
        }

        ok = {s.question_key: s.answer for s in store.answers("verb", status="ok")}
        assert set(ok) == {ds.keys[p] for p in expected}
        for pos, probs in expected.items():
            answer = ok[ds.keys[pos]]
            assert answer is not None
            np.testing.assert_allclose(answer.probs, probs, rtol=0, atol=1e-12)
            assert answer.method == "verbalized" and answer.estimator == "verbalized"
            assert answer.replies == (replies[pos],)
            assert answer.off_option_mass == 0.0
        notes = {pos: a.note for pos in (1, 2) if (a := ok[ds.keys[pos]]) is not None}
        assert notes == {1: "shares written as fractions", 2: "shares written as percents"}

        failed = {s.question_key: s.error for s in store.answers("verb", status="failed")}
        assert failed == {
            ds.keys[pos]: (
                f"The model's verbalized reply could not be used: {reason} "
                f"(reply: {' '.join(replies[pos].split())[:160]!r})."
            )
            for pos, reason in reasons.items()
        }

        # The rerun asks the failed questions again, from the cached replies: nothing is
        # bought twice, and they fail the same way.
        again = await run_with(server, store, ds, "verb", positions, spec)
        assert (again.already_done, again.answered, again.failed) == (7, 7, 3)
        assert server.count("/v1/chat/completions") == 10
        refailed = {s.question_key: s.error for s in store.answers("verb", status="failed")}
        assert refailed == failed


# --------------------------------------------------------------------------- d. cache sharing


async def test_order_averaged_shares_the_published_order_with_first_token(
    ds: Dataset, store: Store
) -> None:
    positions = list(range(len(QUESTIONS)))
    questions = [ds.at(p) for p in positions]
    spec = EstimatorSpec("order-averaged", orders=4)
    with FakeServer(letter_model=position_prior_model) as server:
        await run_with(server, store, ds, "ft", positions)
        assert server.count("/v1/completions") == len(positions)
        server.reset()
        outcome = await run_with(server, store, ds, "oa", positions, spec)
        assert outcome.answered == len(positions)
        for q in questions:
            orders = estimators.option_orders(q, 4)
            asked = requests_for(server, q)
            assert len(asked) == len(set(asked))
            shares_published = orders[0] == tuple(range(len(q.options)))
            assert len(asked) == len(orders) - int(shares_published), q.text
            if not is_ordinal(q) and len(q.options) >= 4:
                assert len(asked) == 3, q.text  # orders - 1: the published one is cached
        # Two options: the reversal only; the ordinal scale: its reversal only.
        assert len(requests_for(server, ds.at(8))) == 1
        assert len(requests_for(server, ds.at(ORDINAL_POSITION))) == 1
        new_requests = server.count()

        # The same estimate again, under another name: everything comes from the cache.
        server.reset()
        repeat = await run_with(server, store, ds, "oa-again", positions, spec)
        assert server.request_count == 0
        assert repeat.cached == repeat.answered == len(positions)
        # (Cached parts are validated again on the way out: equal to rounding.)
        again, before = stored_probs(store, "oa-again"), stored_probs(store, "oa")
        assert again.keys() == before.keys()
        for key, probs in before.items():
            np.testing.assert_allclose(again[key], probs, rtol=0, atol=1e-12)

        # A run's estimator is part of its identity.
        with pytest.raises(StoreError, match="estimator 'first-token'"):
            await run_with(server, store, ds, "ft", positions, spec)
        assert server.request_count == 0
    assert new_requests == sum(
        len(estimators.option_orders(q, 4)) - 1 for q in questions
    )  # every question here is shown in published order first


# --------------------------------------------------------------------------- e. resume


async def test_a_failed_order_fails_the_question_and_the_rerun_asks_only_that_order(
    ds: Dataset, store: Store
) -> None:
    q = ds.at(0)
    spec = EstimatorSpec("order-averaged", orders=4)
    # The first request to arrive stalls past the client's timeout; the other orders land.
    with FakeServer(letter_model=position_prior_model, faults=["slow"], slow_seconds=3) as server:
        first = await run_with(server, store, ds, "resume", [0], spec, NO_RETRY, timeout=0.5)
        assert (first.answered, first.failed) == (0, 1)
        (failed,) = store.answers("resume", status="failed")
        assert failed.question_key == q.key and "0.5" in (failed.error or "")
        records = server.recorded("/v1/completions")
        assert len(records) == 4
        (stalled,) = [r.key for r in records if r.fault == "slow"]

        second = await run_with(server, store, ds, "resume", [0], spec, NO_RETRY)
        assert (second.answered, second.failed) == (1, 0)
        assert server.count("/v1/completions") == 5
        assert server.recorded("/v1/completions")[-1].key == stalled
    (stored,) = store.answers("resume")
    assert stored.status == "ok" and stored.answer is not None
    assert len(stored.answer.parts) == 4
    oracle = np.mean([back_to_published(shown_probs(q, o), o) for o in stored.answer.orders], 0)
    np.testing.assert_allclose(stored.answer.probs, oracle, atol=1e-9)


async def test_orders_still_in_flight_when_one_fails_are_kept_for_the_rerun(
    ds: Dataset, store: Store
) -> None:
    """One order fails at once while the others are slow. The estimation docstring promises
    that "when one fails, the question fails and the ones that landed are kept for the next
    try": the question must not be given up (and the run end) while its other requests are
    still in flight, or they are lost and bought again. (It failed while ``_order_averaged``
    awaited ``asyncio.gather`` without ``return_exceptions``: the first failure abandoned
    the other orders mid-request, the backend closed under them, and the rerun asked every
    order again: 8 requests instead of 5.)
    """
    spec = EstimatorSpec("order-averaged", orders=4)
    faults = ["500", "slow", "slow", "slow"]
    with FakeServer(letter_model=position_prior_model, faults=faults, slow_seconds=0.4) as server:
        first = await run_with(server, store, ds, "inflight", [0], spec, NO_RETRY)
        assert (first.answered, first.failed) == (0, 1)
        (failed,) = store.answers("inflight", status="failed")
        assert "500" in (failed.error or "")
        await asyncio.sleep(0.6)  # generous: anything still in flight has landed by now
        second = await run_with(server, store, ds, "inflight", [0], spec, NO_RETRY)
        assert (second.answered, second.failed) == (1, 0)
        # Only the order that failed is asked again.
        assert server.count("/v1/completions") == 5


async def test_a_failed_calibration_question_is_left_out_of_the_prior_and_recorded(
    ds: Dataset, store: Store
) -> None:
    spec = EstimatorSpec("prior-corrected", calibration=2, seed=0)
    with FakeServer(letter_model=position_prior_model, faults=["500"]) as server:
        outcome = await run_with(server, store, ds, "pc", NOMINAL4_POSITIONS, spec, NO_RETRY)
        assert (outcome.answered, outcome.failed) == (len(NOMINAL4_POSITIONS), 0)
        (bad,) = [r.key for r in server.recorded("/v1/completions") if r.fault == "500"]
    entry = store.manifest("pc").calibration["by_options"]["4"]
    chosen = estimators.calibration_subset([ds.at(p) for p in NOMINAL4_POSITIONS], 2, 0)[4]
    (failed_q,) = [q for q in chosen if q.text in bad]
    assert entry["failed"] == [failed_q.key]
    assert entry["questions"] == [q.key for q in chosen if q is not failed_q]
    assert entry["size"] == 1
    # One calibration question is enough for this model: the prior is still exact.
    np.testing.assert_allclose(entry["prior"], PRIORS[4], atol=1e-6)
    for s in store.answers("pc"):
        q = ds.at(ds.key_index[s.question_key])
        assert s.answer is not None and jsd(s.answer.probs, content_of(q)) < 1e-6


# --------------------------------------------------------------------------- f. one question


async def test_asking_one_question_caches_the_first_token_answer(ds: Dataset, store: Store) -> None:
    """``goqa ask`` and the app ask through :func:`core.estimation.ask_estimators`; asking
    the same question twice must not pay twice, and first-token asked beside order-averaged
    shares its published-order request. (The first failed while a first-token estimate's
    deferred cache write, ``Estimate.cache_writes``, was written only by the runner: a
    first-token ask was never cached.)
    """
    q = ds.at(0)
    build = prompt_builder(ds, Condition("default"), "paper", store, [q])
    with FakeServer(letter_model=position_prior_model) as server:
        cfg = BackendConfig("fake", "openai", base_url=server.base_url, model="m", timeout=5.0)
        backend = OpenAIBackend(cfg)
        try:
            for _ in range(2):
                (result,) = await ask_estimators(ds, q, backend, build, [EstimatorSpec()], store)
                assert result.answer is not None and result.error == ""
                np.testing.assert_allclose(result.answer.probs, shown_probs(q, (0, 1, 2, 3)))
            assert server.count("/v1/completions") == 1
            # Asked together on a new question: four orders, the published one asked once.
            other = ds.at(1)
            build = prompt_builder(ds, Condition("default"), "paper", store, [other])
            specs = [EstimatorSpec("order-averaged", orders=4), EstimatorSpec()]
            both = await ask_estimators(ds, other, backend, build, specs, store)
            assert all(r.answer is not None for r in both)
            assert server.count("/v1/completions") == 1 + 4
            oa, ft = (r.answer for r in both)
            assert oa is not None and ft is not None
            np.testing.assert_allclose(oa.parts[0].probs, ft.probs, atol=1e-12)
        finally:
            await backend.aclose()


async def test_verbalized_under_a_country_names_the_country_once(ds: Dataset, store: Store) -> None:
    """core/replies.py ``verbalized_user``: "Render ``prompt`` with the default condition:
    the country goes into the instruction here, not into the question (a country-condition
    prompt would name it twice)"."""
    q = ds.at(0)
    with FakeServer(reply=lambda user: '{"A": 40, "B": 30, "C": 20, "D": 10}') as server:
        cfg = BackendConfig("fake", "openai", base_url=server.base_url, model="m", timeout=5.0)
        backend = OpenAIBackend(cfg)
        try:
            outcome = await run(
                name="verb-de",
                dataset=ds,
                positions=[0],
                backend=backend,
                backend_name="fake",
                condition=Condition("country", "Germany"),
                template="paper",
                store=store,
                retry=FAST_RETRY,
                estimator=EstimatorSpec("verbalized"),
            )
        finally:
            await backend.aclose()
        assert outcome.answered == 1
        (sent,) = [r.body["messages"][0]["content"] for r in server.recorded()]
    assert sent == verbalized_user(render(q), "Germany")
    assert sent.count("Germany") == 1
