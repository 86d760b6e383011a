"""core.exports: a run written as JSON lines or CSV, whole or not at all, and never over the
store, the dataset, a directory or (without force) an existing file."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from support.runs import MODEL, ROWS, hand_similarity, put_run

from core import dataset, exports, runs
from core.store import Store, StoreError


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> dataset.Dataset:
    return dataset.load(str(write_csv(ROWS, "tiny.csv")))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def test_jsonl_holds_every_answer_and_its_similarities(
    tiny: dataset.Dataset, store: Store, tmp_path: Path
) -> None:
    put_run(store, tiny, "r", MODEL, suspect=[3])
    out = tmp_path / "deep" / "r.jsonl"  # missing directories are made
    result = exports.export_run(store, tiny, "r", out)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["question_id"] for line in lines] == [tiny.ids[p] for p in (0, 1, 2)]
    for line in lines:
        pos = tiny.id_index[line["question_id"]]
        assert line["key"] == tiny.keys[pos]
        assert line["probs"] == pytest.approx(MODEL[pos])
        assert line["suspect"] == "" and line["estimator"] == "logits"
        people = ROWS[pos][1]
        assert line["similarity"] == pytest.approx(
            {c: hand_similarity(MODEL[pos], h) for c, h in people.items()},  # type: ignore[union-attr]
            abs=1e-12,
        )
    assert (result.n_answers, result.suspect_left_out, result.format) == (3, 1, "jsonl")
    assert result.n_similarities == sum(len(line["similarity"]) for line in lines)
    assert result.match.same_dataset and result.path == out
    # With the suspect answer too.
    every = exports.export_run(store, tiny, "r", out, force=True, include_suspect=True)
    assert every.n_answers == 4 and every.suspect_left_out == 0
    assert json.loads(out.read_text().splitlines()[-1])["suspect"]


def test_csv_has_model_rows_then_similarity_rows(
    tiny: dataset.Dataset, store: Store, tmp_path: Path
) -> None:
    put_run(store, tiny, "r", {0: MODEL[0], 3: MODEL[3]})
    out = tmp_path / "r.csv"
    result = exports.export_run(store, tiny, "r", out, "csv")
    header, *body = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert header == [
        "row_type", "question_id", "key", "country", "similarity", "off_option_mass",
        "estimator", "p_A", "p_B", "p_C", "suspect",
    ]  # fmt: skip
    model = [r for r in body if r[0] == "model"]
    sims = [r for r in body if r[0] == "similarity"]
    assert len(model) == 2 and body[:2] == model  # answers first
    assert [float(x) for x in model[1][7:9]] == pytest.approx(MODEL[3]) and model[1][9] == ""
    assert len(sims) == result.n_similarities == 3 + 2
    russia = next(r for r in sims if r[1] == str(tiny.ids[3]) and r[3] == "Russia")
    assert float(russia[4]) == pytest.approx(hand_similarity(MODEL[3], [1.0, 0.0]), abs=1e-9)


def test_an_export_never_replaces_the_store_or_the_dataset(
    tiny: dataset.Dataset, store: Store, tmp_path: Path
) -> None:
    put_run(store, tiny, "r", MODEL)
    before = store.path.read_bytes(), Path(tiny.path).read_bytes()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(store.path)
    for target, what in (
        (store.path, "the results store"),
        (link, "the results store"),
        (Path(f"{store.path}-wal"), "the results store"),
        (tmp_path / "." / store.path.name, "the results store"),
        (Path(tiny.path), "the dataset in use"),
    ):
        with pytest.raises(exports.ExportError) as info:
            exports.export_run(store, tiny, "r", target, force=True)
        err = info.value
        assert what in err.message and "never writes over it, even with --force" in err.message
        assert err.fix == "Choose another file." and str(err).endswith(err.fix)
    assert (store.path.read_bytes(), Path(tiny.path).read_bytes()) == before
    with pytest.raises(exports.ExportError, match="is a directory"):
        exports.export_run(store, tiny, "r", tmp_path)


def test_an_existing_file_needs_force_and_keeps_its_mode(
    tiny: dataset.Dataset, store: Store, tmp_path: Path
) -> None:
    put_run(store, tiny, "r", MODEL)
    out = tmp_path / "old.jsonl"
    out.write_text("keep me\n")
    os.chmod(out, 0o640)
    with pytest.raises(exports.ExportError) as info:
        exports.export_run(store, tiny, "r", out)
    assert "the file exists" in info.value.message and "--force" in info.value.fix
    assert out.read_text() == "keep me\n"
    exports.export_run(store, tiny, "r", out, force=True)
    assert len(out.read_text().splitlines()) == 4
    assert out.stat().st_mode & 0o777 == 0o640
    # An unknown run is said before anything else; nothing is written.
    with pytest.raises(StoreError, match="No run called"):
        exports.export_run(store, tiny, "nope", tmp_path / "nope.jsonl")
    assert not (tmp_path / "nope.jsonl").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("old")

    def half(fh: IO[str]) -> None:
        fh.write("<!DOCTYPE html>")
        raise OSError(28, "No space left on device")

    with pytest.raises(exports.ExportError) as info:
        exports.write_whole(out, half)
    assert "the disk is full" in info.value.message and "no partial file" in info.value.message
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    with pytest.raises(exports.ExportError, match="Cannot write"):
        exports.write_whole(tmp_path / "no" / "such" / "x.html", lambda fh: fh.write("x"))


def test_write_output_checks_before_it_writes(
    tiny: dataset.Dataset, store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    exports.write_output(out, lambda fh: fh.write("one"), store=store, dataset=tiny)
    with pytest.raises(exports.ExportError, match="the file exists"):
        exports.write_output(out, lambda fh: fh.write("two"), store=store, dataset=tiny)
    exports.write_output(out, lambda fh: fh.write("two"), store=store, dataset=tiny, force=True)
    assert out.read_text() == "two"


def test_a_run_of_another_dataset_exports_its_matched_answers(
    tiny: dataset.Dataset, store: Store, write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    put_run(store, tiny, "r", MODEL)
    other = dataset.load(str(write_csv([ROWS[1], ROWS[2]], "other.csv")))
    result = exports.export_run(store, other, "r", tmp_path / "r.jsonl")
    assert (result.match.matched, result.match.unmatched) == (2, 2)
    assert result.n_answers == 2
    keys = [json.loads(line)["key"] for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert keys == [tiny.keys[1], tiny.keys[2]]
    run = runs.load_run(store, tiny, "r")
    with pytest.raises(ValueError, match="format"):
        exports.write_run(run, tiny, tmp_path / "x.xml", "xml", store=store)  # type: ignore[arg-type]
