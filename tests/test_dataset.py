"""core.dataset: the bundled sample, the published format's quirks, bad rows, the cache."""

from __future__ import annotations

import ast
import builtins
import hashlib
from pathlib import Path

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
    np.testing.assert_allclose(q.distribution("B"), [0.25, 0.75])


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
    (("Q?", {"A": [0.5, 0.5]}, "[1, 2]", "GAS"), "strings"),
    (("Q?", {"A": ["0.5", 0.5]}, ["x", "y"], "GAS"), "non-numeric"),
    (("", {"A": [0.5, 0.5]}, ["x", "y"], "GAS"), "empty question"),
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
    calls = []
    real = dataset.parse_csv
    monkeypatch.setattr(dataset, "parse_csv", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = dataset.load(str(b))
    assert calls == []  # same bytes, same cache entry
    assert (first.name, second.name) == ("a.csv", "b.csv")
    assert second.path == str(b)


def test_edited_file_is_parsed_again(write_csv, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv([GOOD])
    calls: list[str] = []
    real = dataset.parse_csv

    def counting(data: bytes, *args: object, **kwargs: object) -> Dataset:
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
