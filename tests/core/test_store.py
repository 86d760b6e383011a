"""core.store: runs, answers, the response cache and translations in one SQLite file."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.backends.base import Answer
from core.store import (
    SCHEMA_VERSION,
    NotAStoreError,
    QuestionFilter,
    RunManifest,
    Selection,
    Store,
    StoreError,
    Translation,
)

MANIFEST = RunManifest(
    name="r1",
    backend="vllm",
    backend_kind="openai",
    base_url="http://localhost:8000/v1",
    model="llama",
    mode="completions",
    condition="default",
    template="paper",
    template_hash="3278e89f4371",
    dataset="sample",
    dataset_sha256="a81e607de8acd33d074014e0df2960f400f45eabb6bc6002d1dcb94845afa20d",
    dataset_revision="cb2880488749218abb81802a94c2c62ebfde2f35",
    policy="keep",
    params={"temperature": 1.0},
    selection=Selection(filters=QuestionFilter(source="WVS"), planned=3),
)


def answer(*probs: float, note: str = "") -> Answer:
    return Answer(
        probs=np.array(probs),
        off_option_mass=0.125,
        estimator="logprobs",
        top_tokens=(("A", 0.5), (" B", 0.375)),
        prompt_tokens=42,
        latency_s=0.5,
        note=note,
    )


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def test_default_path_is_in_data_dir(isolated_dirs: dict[str, Path]) -> None:
    with Store() as s:
        assert s.path == isolated_dirs["data"] / "goqa.sqlite3"
        assert s.path.exists()


def test_wal_mode_and_integrity(store: Store) -> None:
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
    assert store.integrity_ok() is True


def test_a_file_that_is_not_sqlite_is_not_a_goqa_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"this is not a database " * 200)
    before = path.read_bytes()
    with pytest.raises(NotAStoreError) as info:
        Store(path)
    message = str(info.value)
    assert "is not a goqa results store" in message and "not an SQLite database" in message
    assert "Move it aside" in message and "GOQA_DATA_DIR" in message
    assert "damaged" not in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite3"]


# --------------------------------------------------------------------------- runs


def test_open_run_creates(store: Store) -> None:
    created = store.open_run(MANIFEST)
    assert created.created_at != ""
    assert replace(created, created_at="") == MANIFEST
    assert store.manifest("r1") == created
    [summary] = store.runs()
    assert (summary.n_ok, summary.n_failed, summary.planned, summary.finished) == (0, 0, 3, False)


def test_open_run_resumes(store: Store) -> None:
    created = store.open_run(MANIFEST)
    store.record_answer("r1", "k1", 1, answer(1.0, 0.0))
    resumed = store.open_run(MANIFEST)
    assert resumed == created  # same created_at: not a new run
    assert [a.question_key for a in store.answers("r1")] == ["k1"]
    # New selection and params are merged into the stored manifest.
    merged = store.open_run(replace(MANIFEST, selection=Selection(planned=5), params={"t": 0}))
    assert merged.selection == Selection(planned=5) and merged.params == {"t": 0}
    assert merged.created_at == created.created_at
    assert store.manifest("r1").selection == Selection(planned=5)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", "other-model"),
        ("base_url", "http://elsewhere/v1"),
        ("condition", "country:Russia"),
        ("template", "v2"),
        ("template_hash", "000000000000"),
        ("dataset_sha256", "0" * 64),
        ("mode", "chat"),
        ("backend_kind", "anthropic"),
    ],
)
def test_incompatible_manifest(store: Store, field: str, value: str) -> None:
    store.open_run(MANIFEST)
    with pytest.raises(StoreError) as info:
        store.open_run(replace(MANIFEST, **{field: value}))  # type: ignore[arg-type]
    assert field in str(info.value)
    assert repr(value) in str(info.value)
    assert "--name" in str(info.value)
    assert store.manifest("r1").identity() == MANIFEST.identity()


def test_unknown_run(store: Store) -> None:
    with pytest.raises(StoreError, match="No runs yet"):
        store.manifest("nope")
    store.open_run(MANIFEST)
    with pytest.raises(StoreError, match="Stored runs: r1"):
        store.manifest("nope")


def test_delete_run(store: Store) -> None:
    store.open_run(MANIFEST)
    store.record_answer("r1", "k1", 1, answer(1.0))
    store.delete_run("r1")
    assert store.runs() == []
    assert store.answers("r1") == []


# --------------------------------------------------------------------------- answers


def test_answer_round_trip(store: Store) -> None:
    store.open_run(MANIFEST)
    original = answer(0.25, 0.75, note="x")
    store.record_answer("r1", "k1", 7, original)
    [stored] = store.answers("r1")
    assert (stored.question_key, stored.question_id, stored.status) == ("k1", 7, "ok")
    assert stored.error is None and stored.attempts == 1
    assert stored.answer is not None
    np.testing.assert_array_equal(stored.answer.probs, [0.25, 0.75])
    assert stored.answer.to_json() == original.to_json()


def test_failure_after_success_keeps_success(store: Store) -> None:
    store.open_run(MANIFEST)
    store.record_answer("r1", "k1", 1, answer(0.5, 0.5))
    store.record_failure("r1", "k1", 1, "HTTP 500")
    [stored] = store.answers("r1")
    assert stored.status == "ok"
    assert stored.error is None
    assert stored.answer is not None and stored.answer.probs.tolist() == [0.5, 0.5]
    assert store.answered_keys("r1") == {"k1"}


def test_success_after_failure_clears_error(store: Store) -> None:
    store.open_run(MANIFEST)
    store.record_failure("r1", "k1", 1, "timeout")
    store.record_failure("r1", "k1", 1, "HTTP 429")
    [failed] = store.answers("r1")
    assert (failed.status, failed.error, failed.attempts, failed.answer) == (
        "failed",
        "HTTP 429",
        2,
        None,
    )
    assert store.answered_keys("r1") == set()
    store.record_answer("r1", "k1", 1, answer(0.1, 0.9))
    [ok] = store.answers("r1")
    assert (ok.status, ok.error, ok.attempts) == ("ok", None, 3)
    assert ok.answer is not None and ok.answer.probs.tolist() == [0.1, 0.9]


def test_answers_order_and_status_filter(store: Store) -> None:
    store.open_run(MANIFEST)
    store.record_answer("r1", "kc", 30, answer(1.0))
    store.record_failure("r1", "ka", 2, "boom")
    store.record_answer("r1", "kb", 11, answer(1.0))
    store.record_answer("r1", "kd", 0, answer(1.0))
    assert [a.question_id for a in store.answers("r1")] == [0, 2, 11, 30]
    assert [a.question_key for a in store.answers("r1", status="ok")] == ["kd", "kb", "kc"]
    assert [a.question_key for a in store.answers("r1", status="failed")] == ["ka"]
    [summary] = store.runs()
    assert (summary.n_ok, summary.n_failed, summary.finished) == (3, 1, False)


def test_answers_are_per_run(store: Store) -> None:
    store.open_run(MANIFEST)
    store.open_run(replace(MANIFEST, name="r2", model="other"))
    store.record_answer("r1", "k1", 1, answer(1.0, 0.0))
    store.record_answer("r2", "k1", 1, answer(0.0, 1.0))
    assert store.answers("r1")[0].answer.probs.tolist() == [1.0, 0.0]  # type: ignore[union-attr]
    assert store.answers("r2")[0].answer.probs.tolist() == [0.0, 1.0]  # type: ignore[union-attr]
    assert [r.manifest.name for r in store.runs()] == ["r1", "r2"]


def test_finished_run(store: Store) -> None:
    store.open_run(replace(MANIFEST, selection=Selection(planned=2)))
    store.record_answer("r1", "k1", 1, answer(1.0))
    store.record_answer("r1", "k2", 2, answer(1.0))
    assert store.runs()[0].finished is True


def test_answers_persist_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as first:
        first.open_run(MANIFEST)
        first.record_answer("r1", "k1", 4, answer(0.3, 0.7))
    with Store(path) as second:
        assert second.open_run(MANIFEST).name == "r1"
        assert [a.question_id for a in second.answers("r1")] == [4]


# --------------------------------------------------------------------------- cache, translations


def test_cache_get_put(store: Store) -> None:
    assert store.cache_get("abc") is None
    store.cache_put("abc", answer(0.2, 0.8))
    got = store.cache_get("abc")
    assert got is not None and got.probs.tolist() == [0.2, 0.8]
    assert got.top_tokens == (("A", 0.5), (" B", 0.375))
    store.cache_put("abc", answer(0.9, 0.1))
    replaced = store.cache_get("abc")
    assert replaced is not None and replaced.probs.tolist() == [0.9, 0.1]
    assert store.cache_get("abd") is None


def test_translations_round_trip(store: Store) -> None:
    items = [
        Translation(
            "k1", "ru", "Вы согласны?", ("Да", "Нет"), "model", "vllm", "llama", "Agree?", True
        ),
        Translation(
            "k2", "ru", "Вопрос?", ("Да",), "human", created_at="2024-01-01T00:00:00+00:00"
        ),
        Translation("k1", "ja", "賛成ですか？", ("はい", "いいえ"), "human"),
    ]
    store.put_translations(items)
    ru = store.translations("ru")
    assert set(ru) == {"k1", "k2"}
    assert replace(ru["k1"], created_at="") == items[0]
    assert ru["k1"].created_at != ""
    assert ru["k1"].doubtful is True and ru["k2"].doubtful is False
    assert ru["k2"] == items[1]
    assert store.translations("ja")["k1"].options == ("はい", "いいえ")
    assert store.translations("de") == {}
    # A newer translation replaces the older one for the same key and language.
    store.put_translations([replace(items[0], question="Согласны ли вы?", doubtful=False)])
    again = store.translations("ru")["k1"]
    assert again.question == "Согласны ли вы?" and again.doubtful is False


def test_stored_answers_keep_their_estimator_and_an_unknown_one_is_named() -> None:
    from core.backends.base import ESTIMATORS

    for estimator in ESTIMATORS:
        stored = replace(answer(1.0, 0.0), estimator=estimator).to_json()
        assert Answer.from_json(stored).estimator == estimator
    assert Answer.from_json({"probs": [1.0]}).estimator == "logprobs"  # written before the field
    with pytest.raises(ValueError) as info:
        Answer.from_json({"probs": [1.0], "estimator": "guess"})
    assert str(info.value) == (
        "Unknown estimator 'guess': expected one of logprobs, logits, sampling, verbalized."
    )


def test_an_answer_made_of_parts_round_trips_whole() -> None:
    part = replace(answer(0.25, 0.75), top_tokens=(("A", 0.2),))
    whole = replace(
        answer(0.5, 0.5),
        method="order-averaged",
        parts=(part, replace(part, probs=np.array([0.75, 0.25]))),
        orders=((0, 1), (1, 0)),
        prior=(0.6, 0.4),
        replies=("{\"A\": 50, \"B\": 50}",),
        choices=("A", "refused"),
        refusals=1,
    )
    back = Answer.from_json(json.loads(json.dumps(whole.to_json())))
    assert back.method == "order-averaged" and back.orders == ((0, 1), (1, 0))
    assert [list(p.probs) for p in back.parts] == [[0.25, 0.75], [0.75, 0.25]]
    assert back.parts[0].top_tokens == (("A", 0.2),)
    assert back.prior == (0.6, 0.4) and back.refusals == 1
    assert back.replies == whole.replies and back.choices == ("A", "refused")
    # An answer stored before estimators existed reads as a first-token one.
    assert Answer.from_json({"probs": [1.0]}).method == "first-token"
