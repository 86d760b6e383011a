"""core.dataset: the bundled sample, the published format's quirks, bad rows, the cache."""

from __future__ import annotations

import ast
import builtins
import hashlib
import multiprocessing
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import dataset
from core.dataset import Dataset, DatasetError, RowProblem, is_non_substantive, parse_csv

SAMPLE_SHA256 = "a81e607de8acd33d074014e0df2960f400f45eabb6bc6002d1dcb94845afa20d"

GOOD = (
    "Is it good?",
    {"France": [0.6, 0.3, 0.1], "Japan": [0.2, 0.7, 0.1]},
    ["Yes", "No", "DK/Refused"],
    "GAS",
)
OTHER = ("Is it bad?", {"Peru": [0.5, 0.5]}, ["Yes", "No"], "WVS")


def only(ds: Dataset) -> dataset.Question:
    assert len(ds) == 1
    return ds.at(0)


# --------------------------------------------------------------------------- the sample


def test_sample_shape(sample: Dataset) -> None:
    assert len(sample) == 189
    assert sample.sources.count("GAS") == 158
    assert sample.sources.count("WVS") == 31
    assert len(sample.countries) == 128
    assert sample.problems == ()
    assert sample.rows_read == 189
    assert sample.ids == tuple(range(189))
    assert len(set(sample.keys)) == 189
    assert sample.name == "sample"


def test_sample_sha256_is_the_published_one(sample: Dataset) -> None:
    assert sample.sha256 == SAMPLE_SHA256
    assert hashlib.sha256(dataset.sample_path().read_bytes()).hexdigest() == SAMPLE_SHA256


def test_pair_arrays_agree_with_questions(sample: Dataset) -> None:
    assert sample.pair_start[0] == 0
    assert sample.pair_start[-1] == len(sample.pair_country) == len(sample.pair_human)
    for pos in (0, 88, 123, 188):
        q = sample.at(pos)
        lo, hi = sample.pair_start[pos], sample.pair_start[pos + 1]
        assert (sample.pair_question[lo:hi] == pos).all()
        assert q.human.shape == (len(q.countries), len(q.options))
        # Padding beyond a question's options is zero.
        assert (sample.pair_human[lo:hi, len(q.options) :] == 0).all()


def test_multiline_text_survives(sample: Dataset) -> None:
    q = sample.question(88)
    assert q.source == "WVS"
    assert q.text == (
        "On this list are various groups of people. Could you please mention any that you "
        "would not like to have as neighbors?\n\nHeavy drinkers"
    )
    assert q.options == (
        "Mentioned",
        "Not mentioned",
        "Don't know",
        "No answer",
        "Other missing; Multiple answers Mail (EVS)",
    )


def test_placeholder_text_survives(sample: Dataset) -> None:
    q = sample.question(39)
    assert q.text == (
        "Which of these characteristics do you associate with the Chinese? Do you associate "
        "____ with the Chinese or not? c. hardworking"
    )
    assert q.countries == ("Japan",)
    np.testing.assert_array_equal(q.human, [[0.42, 0.5, 0.08]])


def test_qualified_and_variant_keys_kept_raw(sample: Dataset) -> None:
    for key in (
        "India (Current national sample)",
        "India (Old national sample)",
        "India (Non-national sample)",
        "China (Non-national sample)",
        "China",
        "Britain",
        "Great Britain",
        "S. Korea",
        "South Korea",
        "Czech Rep.",
        "Czechia",
        "Taiwan",
        "Taiwan ROC",
        "Palest. ter.",
    ):
        assert key in sample.country_index, key
    assert "India" not in sample.country_index


def test_merged_wave_row_keeps_zeros(sample: Dataset) -> None:
    q = sample.question(123)
    assert q.source == "GAS"
    assert len(q.options) == 5
    assert q.options[2] == "Homosexuality should be accepted by society"
    np.testing.assert_array_equal(
        q.human[q.countries.index("Germany")],
        [0.8877551020408163, 0.11224489795918367, 0.0, 0.0, 0.0],
    )
    np.testing.assert_array_equal(q.nonsubstantive, [False, False, False, False, True])


def test_unnormalised_values_kept_and_wvs_noise_exact(sample: Dataset) -> None:
    q = sample.question(99)
    assert q.source == "WVS"
    row = q.human[q.countries.index("Japan")]
    # Exactly the published literals, float noise included (not rounded, not renormalised).
    assert row.tolist() == [
        0.006999999999999999,
        0.021,
        0.41200000000000003,
        0.251,
        0.305,
        0.006,
        0.0,
    ]
    assert row.sum() == pytest.approx(1.002, abs=1e-12)
    dist = q.distribution("Japan")
    assert dist is not None
    assert dist.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(dist, row / 1.002, rtol=1e-12)
    assert q.distribution("Atlantis") is None


def test_distribution_none_for_all_zero_row(write_csv) -> None:
    ds = parse_csv(
        write_csv([("Q?", {"A": [0.0, 0.0], "B": [1.0, 3.0]}, ["x", "y"], "GAS")]).read_bytes()
    )
    q = only(ds)
    assert q.distribution("A") is None
    dist = q.distribution("B")
    assert dist is not None
    np.testing.assert_allclose(dist, [0.25, 0.75])


# --------------------------------------------------------------------------- non-substantive


@pytest.mark.parametrize(
    "option",
    [
        "DK/Refused",
        "Both (VOL)",
        "Depends on the situation (VOL)",
        "Don't know",
        "Dont know",
        "No answer",
        "Missing; Not available",
        "Missing; Unknown",
        "Other missing; Multiple answers Mail (EVS)",
        "Don't know/Refused",
        "Refused",
        "Not applicable",
        "  DK/Refused  ",
    ],
)
def test_non_substantive_options(option: str) -> None:
    assert is_non_substantive(option)


@pytest.mark.parametrize(
    "option",
    [
        "Very big problem",
        "Not a problem at all",
        "Yes",
        "No",
        "Neither agree nor disagree",
        "Not at all",
        "No confidence at all",
        "Not mentioned",
        "Disagree strongly",
        "Knowledge is power",
        "Volunteers (VOL) are welcome",  # (VOL) only counts at the end
        "Dkvoting",
        "None at all",
        "Nothing at all",
    ],
)
def test_substantive_options(option: str) -> None:
    assert not is_non_substantive(option)


def test_sample_nonsubstantive_flags(sample: Dataset) -> None:
    flagged = {o for q in sample for o, f in zip(q.options, q.nonsubstantive, strict=True) if f}
    assert {"DK/Refused", "Don't know", "No answer", "Missing; Not available"} <= flagged
    assert "Other missing; Multiple answers Mail (EVS)" in flagged
    assert "Not a problem at all" not in flagged
    assert "Very big problem" not in flagged
    # Every flagged option is caught by the predicate; the array is not stale.
    assert all(is_non_substantive(o) for o in flagged)
    assert sample.nonsubstantive.sum() == sum(
        is_non_substantive(o) for opts in sample.options for o in opts
    )


# --------------------------------------------------------------------------- bad rows


BAD_ROWS = [
    (("Q?", "defaultdict(<class 'list'>, {'A': [0.5, 0.5", ["x", "y"], "GAS"), "selections"),
    (("Q?", {"A": [0.5, 0.3, 0.2]}, ["x", "y"], "GAS"), "3 values for 2 options"),
    (("Q?", {"A": [1.2, -0.2]}, ["x", "y"], "GAS"), "negative"),
    (("Q?", "defaultdict(<class 'list'>, {'A': [nan, 0.5]})", ["x", "y"], "GAS"), "NaN"),
    (("Q?", "defaultdict(<class 'list'>, {'A': [0.5, -inf]})", ["x", "y"], "GAS"), "NaN or inf"),
    (("Q?", "defaultdict(<class 'list'>, {'A': [1e999, 0.5]})", ["x", "y"], "GAS"), "NaN or inf"),
    (("Q?", "defaultdict(<class 'list'>, {})", ["x", "y"], "GAS"), "empty"),
    (("Q?", {"A": [0.5, 0.5]}, ["x", "y"], "ESS"), "unknown source"),
    (("Q?", {"A": [0.5, 0.5]}, "'x, y'", "GAS"), "not a non-empty list"),
    (("Q?", {"A": [0.5, 0.5]}, "[x, y]", "GAS"), "options is not a Python list literal"),
    (("Q?", {"A": [0.5, 0.5]}, "[None, 'y']", "GAS"), "strings or numbers"),
    (("Q?", {"A": [0.5, 0.5]}, "[True, 'y']", "GAS"), "strings or numbers"),
    (("Q?", {"A": [0.5, 0.5]}, "[1e999, 'y']", "GAS"), "NaN or infinite"),
    (("Q?", {"A": ["0.5", 0.5]}, ["x", "y"], "GAS"), "non-numeric"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_ROWS)
def test_bad_row_skipped_with_row_number_and_reason(write_csv, bad, reason: str) -> None:
    last = ("Last?", {"Peru": [1.0, 0.0]}, ["a", "b"], "GAS")
    ds = parse_csv(write_csv([GOOD, OTHER, bad, last]).read_bytes())
    assert len(ds.problems) == 1
    problem = ds.problems[0]
    assert problem.row == 3  # 1-based data row
    assert reason in problem.reason
    assert str(problem).startswith("row 3: ")
    # ids are 0-based file rows: the skipped row leaves a gap, later ids are unchanged.
    assert ds.ids == (0, 1, 3)
    assert ds.question(3).text == "Last?"
    with pytest.raises(KeyError):
        ds.question(2)
    assert ds.rows_read == 4


def test_row_with_extra_field_is_skipped(write_csv) -> None:
    extra = ["Q?", "defaultdict(<class 'list'>, {'A': [1.0]})", "['x']", "GAS", "surplus"]
    ds = parse_csv(write_csv([extra, GOOD]).read_bytes())
    assert ds.problems == (RowProblem(1, "more fields than the header"),)
    assert ds.ids == (1,)


def test_several_problems_in_order(write_csv) -> None:
    rows = [
        ("A?", {"X": [1.0]}, ["x"], "XYZ"),
        GOOD,
        ("B?", {"X": [1.0, 2.0]}, ["x"], "GAS"),
        OTHER,
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    assert [p.row for p in ds.problems] == [1, 3]
    assert ds.ids == (1, 3)


def test_no_eval_of_selections(write_csv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    inside = f"defaultdict(<class 'list'>, {{'A': __import__('os').system('touch {marker}')}})"
    outside = f"__import__('os').system('touch {marker}') or {{'A': [0.5, 0.5]}}"
    calls: list[str] = []

    def no_eval(*args: object, **kwargs: object) -> object:
        calls.append("eval")
        raise AssertionError("eval must not be used")

    monkeypatch.setattr(builtins, "eval", no_eval)
    monkeypatch.setattr(builtins, "exec", no_eval)
    rows = [GOOD, ("Q?", inside, ["x", "y"], "GAS"), ("R?", outside, ["x", "y"], "GAS")]
    ds = parse_csv(write_csv(rows).read_bytes())
    assert [p.row for p in ds.problems] == [2, 3]
    assert all("selections" in p.reason for p in ds.problems)
    assert ds.ids == (0,)
    assert not marker.exists()
    assert calls == []


def test_options_literal_is_not_evaluated(write_csv, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"[__import__('os').system('touch {marker}')]"
    ds = parse_csv(write_csv([GOOD, ("Q?", {"A": [1.0]}, evil, "GAS")]).read_bytes())
    assert [p.row for p in ds.problems] == [2]
    assert not marker.exists()


def test_bare_mapping_selections_accepted(write_csv) -> None:
    ds = parse_csv(write_csv([("Q?", "{'A': [0.25, 0.75]}", ["x", "y"], "GAS")]).read_bytes())
    np.testing.assert_array_equal(only(ds).human, [[0.25, 0.75]])


# --------------------------------------------------------------------------- keys


def test_key_stable_across_files_and_positions(sample: Dataset, write_csv) -> None:
    q88, q39 = sample.question(88), sample.question(39)

    def row(q: dataset.Question) -> tuple:
        return (
            q.text,
            dict(zip(q.countries, q.human.tolist(), strict=True)),
            list(q.options),
            q.source,
        )

    ds = parse_csv(write_csv([OTHER, row(q39), GOOD, row(q88)]).read_bytes(), name="other")
    assert ds.find(q88.key).id == 3
    assert ds.find(q39.key).id == 1
    assert ds.find(q88.key).text == q88.text
    assert ds.keys[1] == q39.key
    assert len(q88.key) == 12 and int(q88.key, 16) >= 0


def test_key_depends_on_text_and_options() -> None:
    base = dataset.question_key("Is it?", ("Yes", "No"))
    assert dataset.question_key("Is it?", ["Yes", "No"]) == base
    assert dataset.question_key("  Is it?  ", (" Yes", "No ")) == base
    assert dataset.question_key("Is it?", ("No", "Yes")) != base
    assert dataset.question_key("Is it!", ("Yes", "No")) != base
    assert dataset.question_key("Is it?", ("Yes", "No", "DK/Refused")) != base


def test_find_by_id_and_key(sample: Dataset) -> None:
    q = sample.question(153)
    assert sample.find("153") is not None and sample.find("153").key == q.key
    assert sample.find(153).text == "Do you think the European Union promotes prosperity?"
    assert sample.find(q.key).id == 153
    with pytest.raises(KeyError, match="goqa questions"):
        sample.find("nonsense")
    with pytest.raises(KeyError):
        sample.question(189)


# --------------------------------------------------------------------------- unusable files


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"  \n")
    with pytest.raises(DatasetError, match="empty"):
        dataset.load(str(path))


def test_binary_junk(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(DatasetError, match="binary"):
        dataset.load(str(path))


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("question,selections,options,source\nÉté?,{},[],GAS\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="UTF-8"):
        dataset.load(str(path))


def test_wrong_columns(write_csv) -> None:
    path = write_csv([("a", "b", "c")], header=("question", "answers", "source"))
    with pytest.raises(DatasetError) as info:
        dataset.load(str(path))
    assert "selections" in str(info.value) and "options" in str(info.value)
    assert "question,selections,options,source" in str(info.value)


def test_header_only_or_all_bad(write_csv) -> None:
    with pytest.raises(DatasetError, match="no usable question rows"):
        dataset.load(str(write_csv([])))
    with pytest.raises(DatasetError, match="row 1: unknown source"):
        dataset.load(str(write_csv([("Q?", {"A": [1.0]}, ["x"], "ESS")])))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="directory"):
        dataset.load(str(tmp_path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        dataset.load(str(tmp_path / "nope.csv"))


def test_full_not_downloaded() -> None:
    with pytest.raises(DatasetError, match="goqa data download"):
        dataset.load("full")


def test_full_resolves_to_cache_when_present(isolated_dirs, write_csv) -> None:
    target = dataset.full_path()
    assert isolated_dirs["cache"] in target.parents
    assert dataset.FULL_REVISION in target.parts
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(write_csv([GOOD]).read_bytes())
    ds = dataset.load("full")
    assert ds.name == "full"
    assert ds.texts == ("Is it good?",)


def test_truncated_file_keeps_rows_before(write_csv) -> None:
    data = write_csv([GOOD, OTHER]).read_bytes() + b'"Unterminated question,'
    ds = parse_csv(data)
    assert ds.ids == (0, 1)
    assert len(ds.problems) == 1 and ds.problems[0].row == 3


def test_bom_is_tolerated(write_csv) -> None:
    ds = parse_csv(b"\xef\xbb\xbf" + write_csv([GOOD]).read_bytes())
    assert ds.problems == ()
    assert only(ds).countries == ("France", "Japan")


# --------------------------------------------------------------------------- the parsed cache


def test_cache_second_load_skips_parse(sample: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> Dataset:
        raise AssertionError("parse_csv called on a cache hit")

    monkeypatch.setattr(dataset, "parse_csv", fail)
    again = dataset.load()
    assert again.sha256 == sample.sha256
    assert again.keys == sample.keys
    assert again.texts == sample.texts
    assert again.countries == sample.countries
    np.testing.assert_array_equal(again.pair_human, sample.pair_human)
    np.testing.assert_array_equal(again.pair_start, sample.pair_start)
    np.testing.assert_array_equal(again.nonsubstantive, sample.nonsubstantive)


def test_cache_keeps_name_and_path_of_each_load(write_csv, monkeypatch: pytest.MonkeyPatch) -> None:
    a = write_csv([GOOD], name="a.csv")
    b = write_csv([GOOD], name="b.csv")
    first = dataset.load(str(a))
    calls: list[int] = []
    real = dataset.parse_csv

    def counting(*args: Any, **kwargs: Any) -> Dataset:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "parse_csv", counting)
    second = dataset.load(str(b))
    assert calls == []  # same bytes, same cache entry
    assert (first.name, second.name) == ("a.csv", "b.csv")
    assert second.path == str(b)


def test_edited_file_is_parsed_again(write_csv, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv([GOOD])
    calls: list[str] = []
    real = dataset.parse_csv

    def counting(data: bytes, *args: Any, **kwargs: Any) -> Dataset:
        calls.append(hashlib.sha256(data).hexdigest())
        return real(data, *args, **kwargs)

    monkeypatch.setattr(dataset, "parse_csv", counting)
    assert dataset.load(str(path)).texts == ("Is it good?",)
    assert dataset.load(str(path)).texts == ("Is it good?",)
    assert len(calls) == 1
    write_csv([GOOD, OTHER])
    edited = dataset.load(str(path))
    assert edited.texts == ("Is it good?", "Is it bad?")
    assert len(calls) == 2 and calls[0] != calls[1]


def test_corrupt_cache_is_ignored(
    write_csv, isolated_dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv([GOOD])
    dataset.load(str(path))
    cached = list((isolated_dirs["cache"] / "parsed").glob("*.pickle"))
    assert len(cached) == 1
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert cached[0].name.startswith(digest)
    cached[0].write_bytes(b"not a pickle at all")
    ds = dataset.load(str(path))
    assert ds.texts == ("Is it good?",)
    assert ds.problems == ()
    # The cache was rewritten with a good entry.
    monkeypatch.setattr(dataset, "parse_csv", lambda *a, **k: pytest.fail("re-parsed"))
    assert dataset.load(str(path)).texts == ("Is it good?",)


def test_use_cache_false_writes_nothing(write_csv, isolated_dirs) -> None:
    dataset.load(str(write_csv([GOOD])), use_cache=False)
    assert not list(isolated_dirs["cache"].rglob("*.pickle"))


# --------------------------------------------------------------------------- filter


def test_filter_by_source(sample: Dataset) -> None:
    wvs = sample.filter(source="WVS")
    assert len(wvs) == 31
    assert sample.filter(source="wvs") == wvs
    assert all(sample.sources[p] == "WVS" for p in wvs)
    assert len(sample.filter(source="GAS")) == 158


def test_filter_by_country(sample: Dataset) -> None:
    russia = sample.filter(country="Russia")
    assert russia == [p for p, q in enumerate(sample) if "Russia" in q.countries]
    assert len(russia) == 42
    assert sample.filter(country="Atlantis") == []
    # Raw keys are distinct: the national and non-national Chinese samples differ.
    assert sample.filter(country="China") != sample.filter(country="China (Non-national sample)")


def test_filter_by_search_text_and_options(sample: Dataset) -> None:
    assert sample.filter(search="HOMOSEXUALITY") == [115, 123, 134]
    # An option-only match: "Mail (EVS)" appears in options, never in question text.
    expected = [
        p for p, q in enumerate(sample) if any("mail (evs)" in o.lower() for o in q.options)
    ]
    assert len(expected) == 15
    assert sample.filter(search="Mail (EVS)") == expected


def test_filter_combined(sample: Dataset) -> None:
    assert sample.filter(search="hardworking") == [39, 59]
    assert sample.filter(search="hardworking", country="Spain") == [59]
    assert sample.filter(search="hardworking", source="WVS") == []
    assert sample.filter() == list(range(189))


def test_ast_literal_eval_is_the_reader() -> None:
    # Guard against a refactor that swaps the literal reader for eval.
    source = Path(dataset.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "eval" not in names and "exec" not in names


# --------------------------------------------------------------------------- numeric options


@pytest.mark.parametrize(
    ("option", "text"),
    [
        (0.0, "0"),
        (1.0, "1"),
        (10.0, "10"),
        (-0.0, "0"),
        (-3.0, "-3"),
        (2.5, "2.5"),
        (0.1, "0.1"),
        (7, "7"),
        (1e20, "1e+20"),
        ("1.0", "1.0"),  # a string is the published text: never rewritten
        (" Yes ", " Yes "),
    ],
)
def test_option_text(option: object, text: str) -> None:
    assert dataset.option_text(option) == text  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [True, None, float("nan"), float("inf"), ["x"]])
def test_option_text_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="strings or numbers|NaN or infinite"):
        dataset.option_text(bad)  # type: ignore[arg-type]


def test_numeric_options_load_as_display_strings(write_csv) -> None:
    values = [0.1, 0.0, 0.2, 0.3, 0.4]
    rows = [
        ("Scale?", {"A": values}, "[0.0, 9.0, 10.0, 'DK/Refused', 1.0]", "GAS"),
        ("Ends?", {"A": [0.5, 0.25, 0.25]}, "['Not at all', 1.0, 'Very']", "GAS"),
        ("Ints?", {"A": [0.5, 0.5]}, "[1, 2.5]", "WVS"),
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    assert ds.problems == ()
    scale = ds.question(0)
    assert scale.options == ("0", "9", "10", "DK/Refused", "1")  # published order kept
    assert scale.human[0].tolist() == values  # still aligned: "9" has 0.0, DK has 0.3
    np.testing.assert_array_equal(scale.nonsubstantive, [False, False, False, True, False])
    assert ds.question(1).options == ("Not at all", "1", "Very")
    assert ds.question(2).options == ("1", "2.5")
    # The key is the documented hash of the display strings, the same on every load.
    blob = "Scale?\x1f" + "\x1e".join(("0", "9", "10", "DK/Refused", "1"))
    assert scale.key == hashlib.sha256(blob.encode()).hexdigest()[:12]
    assert parse_csv(write_csv(rows, name="again.csv").read_bytes()).keys == ds.keys
    assert ds.filter(search="10") == [0]


# --------------------------------------------------------------------------- unaskable questions


def test_empty_text_row_loads_flagged_and_left_out(write_csv) -> None:
    rows = [GOOD, ("", {"A": [0.5, 0.5]}, ["x", "y"], "WVS"), OTHER]
    ds = parse_csv(write_csv(rows).read_bytes())
    assert ds.problems == ()
    assert ds.ids == (0, 1, 2)
    q = ds.question(1)
    assert q.text == "" and q.options == ("x", "y")
    assert not q.is_askable
    assert q.flags == ("empty question text: the row has no wording to put to a model",)
    assert q.headline == dataset.NO_TEXT_HEADLINE
    assert ds.at(0).is_askable and ds.at(0).flags == ()
    assert ds.flagged == ((1, q.flags[0]),)
    # Blank text (spaces, newlines) is empty too.
    blank = parse_csv(write_csv([(" \n ", {"A": [1.0]}, ["x"], "GAS")]).read_bytes())
    assert not blank.at(0).is_askable


def test_askable_keeps_order_and_reports_skipped(write_csv) -> None:
    many = [f"opt {i}" for i in range(27)]
    rows = [
        GOOD,
        ("", {"A": [0.5, 0.5]}, ["x", "y"], "WVS"),
        ("Many?", {"A": [1.0] + [0.0] * 26}, many, "GAS"),
        ("Same?", {"A": [0.5, 0.5]}, "[1, 1.0]", "GAS"),
        OTHER,
    ]
    ds = parse_csv(write_csv(rows).read_bytes())
    assert ds.problems == ()
    assert ds.flags[2] == ("27 options: a prompt labels at most 26 (letters A-Z)",)
    assert ds.flags[3] == ("options 1 and 2 both read '1': a model could not tell them apart",)
    kept, skipped = ds.askable([4, 3, 2, 1, 0])
    assert kept == [4, 0]
    assert [p for p, _ in skipped] == [3, 2, 1]
    assert skipped[1] == (2, "27 options: a prompt labels at most 26 (letters A-Z)")
    assert ds.askable() == ([0, 4], [(p, "; ".join(ds.flags[p])) for p in (1, 2, 3)])
    assert ds.askable([]) == ([], [])
    note = dataset.skipped_note(ds, skipped, limit=2)
    assert note.startswith("3 questions left out, cannot be asked: #3 (options 1 and 2")
    assert note.endswith("; and 1 more.")
    assert "#2 (27 options" in note
    assert dataset.skipped_note(ds, []) == ""


def test_a_question_can_carry_several_flags(write_csv) -> None:
    rows = [("", {"A": [1.0] + [0.0] * 27}, ["same"] * 28, "GAS")]
    q = only(parse_csv(write_csv(rows).read_bytes()))
    assert len(q.flags) == 3
    assert [f.split(":")[0] for f in q.flags] == [
        "empty question text",
        "28 options",
        "options 1 and 2 both read 'same'",
    ]


# --------------------------------------------------------------------------- duplicate questions


def test_identical_questions_get_distinct_stable_keys(write_csv) -> None:
    twin = ("Twin?", {"A": [0.5, 0.5]}, ["Yes", "No"], "GAS")
    spaced = ("  Twin?  ", {"B": [0.2, 0.8]}, [" Yes", "No "], "WVS")  # same after stripping
    rows = [twin, GOOD, spaced, twin]
    ds = parse_csv(write_csv(rows).read_bytes())
    base = dataset.question_key("Twin?", ("Yes", "No"))
    assert ds.keys == (base, dataset.question_key(GOOD[0], GOOD[2]), f"{base}-2", f"{base}-3")
    assert len(set(ds.keys)) == 4
    assert ds.find(base).id == 0
    assert ds.find(f"{base}-2").id == 2
    assert ds.find(f"{base}-2").countries == ("B",)
    assert ds.find(f"{base}-3").id == 3
    # Deterministic: the same file gives the same keys again.
    assert parse_csv(write_csv(rows, name="copy.csv").read_bytes()).keys == ds.keys
    # A file holding one copy gives it the bare hash, as everywhere else.
    assert parse_csv(write_csv([GOOD, spaced]).read_bytes()).keys[1] == base


def test_unique_keys() -> None:
    assert dataset.unique_keys(["a", "b", "a", "a", "b"]) == ("a", "b", "a-2", "a-3", "b-2")
    assert dataset.unique_keys([]) == ()


# --------------------------------------------------------------------------- files that are not files


def test_device_refused_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    monkeypatch.setattr(dataset, "_read_file", lambda *a: pytest.fail("read /dev/zero"))
    with pytest.raises(DatasetError) as info:
        dataset.load("/dev/zero")
    message = str(info.value)
    assert "'/dev/zero' is a character device, not a regular file" in message
    assert "CSV file saved on disk" in message


def test_fifo_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DatasetError, match="is a FIFO"):
        dataset.load(str(fifo))
    # Swapped in after the path check: the open must not block waiting for a writer.
    with pytest.raises(DatasetError, match="is a FIFO"):
        dataset._read_file(fifo)


def test_directory_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        dataset.load(str(tmp_path))
    assert "is a directory" in str(info.value)
    assert "global_opinions.csv" in str(info.value)


def test_huge_file_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as fh:
        fh.truncate(dataset.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    monkeypatch.setattr(dataset, "_read_file", lambda *a: pytest.fail("read the huge file"))
    with pytest.raises(DatasetError) as info:
        dataset.load(str(huge))
    message = str(info.value)
    assert "is 200.0 MB" in message
    assert "about 4.7 MB" in message and "at most 200 MB" in message


def test_file_that_grows_after_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "grows.csv"
    path.write_bytes(b"x" * 100)
    monkeypatch.setattr(dataset, "MAX_FILE_BYTES", 50)
    with pytest.raises(DatasetError, match=r"is 0.0 MB; .* goqa reads at most"):
        dataset.load(str(path))
    # Passed the stat check, then found larger while reading.
    monkeypatch.setattr(dataset, "_check_file", lambda *a: None)
    with pytest.raises(DatasetError, match="is larger than .* MB"):
        dataset._read_file(path)


def test_regular_file_through_symlink_is_fine(write_csv, tmp_path: Path) -> None:
    link = tmp_path / "link.csv"
    link.symlink_to(write_csv([GOOD]))
    assert dataset.load(str(link)).texts == ("Is it good?",)


# --------------------------------------------------------------------------- cache robustness


def test_cache_dir_that_is_a_file(write_csv, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("GOQA_CACHE_DIR", str(blocker))
    ds = dataset.load(str(write_csv([GOOD, OTHER])))
    assert ds.texts == ("Is it good?", "Is it bad?")
    assert ds.problems == ()
    assert blocker.read_text() == "a file where the cache directory should be"


def test_unwritable_cache_falls_back_to_memory(write_csv, isolated_dirs, monkeypatch) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(dataset.tempfile, "mkstemp", denied)
    path = write_csv([GOOD])
    assert dataset.load(str(path)).texts == ("Is it good?",)
    assert dataset.load(str(path)).texts == ("Is it good?",)
    assert not list(isolated_dirs["cache"].rglob("*.pickle"))


def test_failed_rename_leaves_no_temp_file(write_csv, isolated_dirs, monkeypatch) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(dataset.os, "replace", denied)
    assert dataset.load(str(write_csv([GOOD]))).texts == ("Is it good?",)
    assert list((isolated_dirs["cache"] / "parsed").iterdir()) == []


def test_full_disk_while_writing_is_ignored(write_csv, isolated_dirs, monkeypatch) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dataset.pickle, "dump", full_disk)
    assert dataset.load(str(write_csv([GOOD]))).texts == ("Is it good?",)
    assert list((isolated_dirs["cache"] / "parsed").iterdir()) == []


def test_read_only_cache_directory(write_csv, isolated_dirs) -> None:
    path = write_csv([GOOD])
    dataset.load(str(path))  # fills the cache
    parsed = isolated_dirs["cache"] / "parsed"
    cached = next(parsed.glob("*.pickle"))
    cached.write_bytes(b"corrupt")  # must be re-parsed, and cannot be deleted
    parsed.chmod(0o555)
    try:
        assert dataset.load(str(path)).texts == ("Is it good?",)
        assert dataset.load(str(write_csv([OTHER], name="o.csv"))).texts == ("Is it bad?",)
    finally:
        parsed.chmod(0o755)


def test_undeletable_corrupt_cache(write_csv, isolated_dirs, monkeypatch) -> None:
    path = write_csv([GOOD])
    dataset.load(str(path))
    cached = next((isolated_dirs["cache"] / "parsed").glob("*.pickle"))
    cached.write_bytes(b"corrupt")

    def denied(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "unlink", denied)
    assert dataset.load(str(path)).texts == ("Is it good?",)


def test_cache_of_another_dataset_is_not_trusted(write_csv, isolated_dirs, monkeypatch) -> None:
    path = write_csv([GOOD])
    dataset.load(str(path))
    cached = next((isolated_dirs["cache"] / "parsed").glob("*.pickle"))
    other = parse_csv(write_csv([OTHER], name="o.csv").read_bytes())
    cached.write_bytes(pickle.dumps(other))  # right name, wrong content
    assert dataset.load(str(path)).texts == ("Is it good?",)


def test_concurrent_loads_in_threads(write_csv, isolated_dirs, monkeypatch) -> None:
    n = 6
    path = write_csv([GOOD, OTHER])
    real_dump = pickle.dump
    writing = threading.Barrier(n, timeout=30)

    def dump_together(*args: object, **kwargs: object) -> None:
        # Every thread is inside its write at the same time: shared temp names would clash.
        writing.wait()
        real_dump(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dataset.pickle, "dump", dump_together)
    real_replace = os.replace
    renamed: list[str] = []

    def replace_recorded(src: str, dst: object) -> None:
        real_replace(src, dst)  # type: ignore[arg-type]
        renamed.append(str(src))  # only writers whose own temp file was still there

    monkeypatch.setattr(dataset.os, "replace", replace_recorded)
    results: list[Dataset] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            results.append(dataset.load(str(path)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == n
    # Each writer wrote its own temporary file and renamed it into place.
    assert len(set(renamed)) == len(renamed) == n
    assert {r.keys for r in results} == {results[0].keys}
    files = sorted(p.name for p in (isolated_dirs["cache"] / "parsed").iterdir())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert files == [f"{digest}.v{dataset._CACHE_FORMAT}.pickle"]
    monkeypatch.setattr(dataset, "parse_csv", lambda *a, **k: pytest.fail("re-parsed"))
    assert dataset.load(str(path)).keys == results[0].keys


def _load_in_child(path: str, start: object, out: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    ds = dataset.load(path)
    out.put((len(ds), ds.keys))  # type: ignore[attr-defined]


def test_concurrent_loads_in_processes(write_csv, isolated_dirs) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the fork start method")
    ctx = multiprocessing.get_context("fork")
    path = write_csv([GOOD, OTHER, ("Third?", {"C": [1.0]}, ["z"], "GAS")])
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_load_in_child, args=(str(path), start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    expected = parse_csv(path.read_bytes()).keys
    assert got == [(3, expected)] * 4
    names = [p.name for p in (isolated_dirs["cache"] / "parsed").iterdir()]
    assert len(names) == 1 and names[0].endswith(".pickle")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "Now I am going to read you a list of things...Air pollution",
            "Air pollution — Now I am going to read you a list of things",
        ),
        ("A plain question?\nOn two lines", "A plain question? On two lines"),
        # The item is what follows the last "...", not the first.
        ("Read this... then this... Air pollution", "Air pollution — Read this... then this"),
        ("Trailing dots...", "Trailing dots..."),
        (" \n ", dataset.NO_TEXT_HEADLINE),
    ],
)
def test_headline_puts_the_battery_item_first(text: str, line: str) -> None:
    assert dataset.headline(text) == line
