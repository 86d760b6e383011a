"""The real dataset loads whole: the 2,556-question full-shape file in ../shared/data.

The file carries the published text and options of every row (its numbers are partly
synthetic; see ../shared/data/README.md), so these tests pin what the loader does with the
real file's quirks: numeric options, the empty-text WVS row, 18-option questions.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import re
import sys

import numpy as np
import pytest
from support import REPO

from core import dataset
from core.dataset import Dataset
from core.prompts import LETTERS, Condition, render

FULLSHAPE = REPO.parent / "shared" / "data"
FULLSHAPE_CSV = FULLSHAPE / "global_opinions_fullshape.csv"

pytestmark = pytest.mark.skipif(
    not FULLSHAPE_CSV.is_file(),
    reason=f"the full-shape file is not at {FULLSHAPE_CSV} (it lives beside the repository)",
)

ZERO_TO_TEN = tuple(str(n) for n in range(11))
NUMBERED_ENDS = ("Not important at all", *(str(n) for n in range(1, 10)), "Very important")
OUT_OF_ORDER = ("0", "9", "10", "DK/Refused", *(str(n) for n in range(1, 9)))
EMPTY_TEXT_ROW = 2538


@pytest.fixture(scope="module")
def full() -> Dataset:
    return dataset.parse_csv(
        FULLSHAPE_CSV.read_bytes(), name=FULLSHAPE_CSV.name, path=str(FULLSHAPE_CSV)
    )


@pytest.fixture(scope="module")
def raw_rows() -> list[dict[str, str]]:
    """The file read independently of core.dataset (csv + literal_eval), row by row."""
    csv.field_size_limit(sys.maxsize)
    text = FULLSHAPE_CSV.read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def raw_selections(row: dict[str, str]) -> dict[str, list[float]]:
    body = row["selections"]
    return ast.literal_eval(body[body.index("{") : body.rindex("}") + 1])


def sha_key(text: str, options: tuple[str, ...]) -> str:
    """The documented key recipe, computed here so a change of recipe or display shows."""
    blob = text.strip() + "\x1f" + "\x1e".join(o.strip() for o in options)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------- whole file


def test_every_row_loads_through_load(full: Dataset) -> None:
    loaded = dataset.load(str(FULLSHAPE_CSV))
    assert len(loaded) == 2556
    assert loaded.problems == ()
    assert loaded.rows_read == 2556
    assert loaded.ids == tuple(range(2556))
    assert loaded.keys == full.keys
    assert loaded.options == full.options


def test_shape_of_the_whole_file(full: Dataset) -> None:
    assert len(full) == 2556
    assert full.problems == ()
    assert (full.sources.count("GAS"), full.sources.count("WVS")) == (2242, 314)
    assert len(full.countries) == 138
    assert int(full.pair_start[-1]) == 46244
    assert int(full.n_options.min()) == 2 and int(full.n_options.max()) == 18
    assert full.kmax == 18


def test_keys_are_unique_and_found(full: Dataset) -> None:
    assert len(set(full.keys)) == 2556
    for pos in (0, 48, 380, EMPTY_TEXT_ROW, 2555):
        assert full.find(full.keys[pos]).id == pos


def test_every_option_is_a_string_aligned_with_the_raw_row(
    full: Dataset, raw_rows: list[dict[str, str]]
) -> None:
    assert len(raw_rows) == 2556
    for pos, row in enumerate(raw_rows):
        raw = ast.literal_eval(row["options"])
        opts = full.options[pos]
        assert len(opts) == len(raw)
        assert all(isinstance(o, str) for o in opts)
        # Strings are kept byte for byte; numbers become their integer spelling.
        assert opts == tuple(o if isinstance(o, str) else str(int(o)) for o in raw)


# --------------------------------------------------------------------------- numeric options


def test_zero_to_ten_scale(full: Dataset, raw_rows: list[dict[str, str]]) -> None:
    q = full.question(48)
    assert q.text.startswith("Here is the 'ladder of life.'")
    assert q.options == ZERO_TO_TEN
    assert q.key == "1747ca86c25d" == sha_key(q.text, ZERO_TO_TEN)
    assert not q.nonsubstantive.any()
    assert q.is_askable and q.flags == ()
    assert len(q.countries) == 61
    np.testing.assert_array_equal(
        q.human[q.countries.index("Angola")],
        [0.012, 0.004, 0.055, 0.02, 0.16, 0.099, 0.076, 0.031, 0.238, 0.303, 0.002],
    )
    assert full.question(875).options == ZERO_TO_TEN


def test_scale_with_worded_ends(full: Dataset) -> None:
    q = full.question(225)
    assert q.options == NUMBERED_ENDS
    assert q.key == "d6630ab079fc"
    # Both worded ends are opinions, not DK/Refused.
    assert not q.nonsubstantive.any()
    same_scale = [p for p in range(len(full)) if full.options[p] == NUMBERED_ENDS]
    assert len(same_scale) == 12


def test_out_of_order_options_keep_the_published_order(
    full: Dataset, raw_rows: list[dict[str, str]]
) -> None:
    q = full.question(380)
    assert q.options == OUT_OF_ORDER
    assert q.key == "7f8ad077564c"
    np.testing.assert_array_equal(q.nonsubstantive, [i == 3 for i in range(12)])
    # The distribution stays aligned to the published order (not sorted 0..10).
    sel = raw_selections(raw_rows[380])
    assert len(q.countries) == len(sel) == 34
    for country in q.countries:
        np.testing.assert_array_equal(q.human[q.countries.index(country)], sel[country])
    argentina = q.human[q.countries.index("Argentina")]
    assert argentina[3] == 0.127  # DK/Refused
    assert argentina[1] == 0.011  # "9", listed second


def test_worded_end_in_the_middle(full: Dataset) -> None:
    q = full.question(308)
    assert q.options[:3] == ("Not important at all", "1", "Very important")
    assert q.options[3:] == tuple(str(n) for n in range(2, 10))


def test_numeric_options_render_as_people_write_them(full: Dataset) -> None:
    text = render(full.question(380)).text
    block = text.split("Here are the options:\n", 1)[1].split("\n\nAssistant:", 1)[0]
    assert block.splitlines() == [
        "(A) 0",
        "(B) 9",
        "(C) 10",
        "(D) DK/Refused",
        "(E) 1",
        "(F) 2",
        "(G) 3",
        "(H) 4",
        "(I) 5",
        "(J) 6",
        "(K) 7",
        "(L) 8",
    ]
    assert ".0" not in block


# --------------------------------------------------------------------------- the empty-text row


def test_empty_text_row_loads_flagged(full: Dataset) -> None:
    q = full.question(EMPTY_TEXT_ROW)
    assert q.text == ""
    assert q.source == "WVS"
    assert q.options[0] == "30 hours a week or more"
    assert q.options[-1] == "Not applicable"
    assert len(q.options) == 12
    assert q.countries == ("Germany",)
    assert q.human[0, 2] == 0.229
    assert not q.is_askable
    assert len(q.flags) == 1 and q.flags[0].startswith("empty question text")
    assert q.headline == dataset.NO_TEXT_HEADLINE
    assert q.key == sha_key("", q.options) == "e80703a22a72"


def test_only_the_empty_text_row_is_flagged(full: Dataset) -> None:
    assert [p for p, _ in full.flagged] == [EMPTY_TEXT_ROW]
    kept, skipped = full.askable()
    assert len(kept) == 2555
    assert EMPTY_TEXT_ROW not in kept
    assert kept == [p for p in range(2556) if p != EMPTY_TEXT_ROW]
    assert [p for p, _ in skipped] == [EMPTY_TEXT_ROW]
    assert "empty question text" in skipped[0][1]
    note = dataset.skipped_note(full, skipped)
    assert note.startswith("1 question left out, cannot be asked: #2538 (empty question text")


# --------------------------------------------------------------------------- prompts of every row


_LABEL_LINE = re.compile(r"^\(([A-Z])\) ")


def test_every_askable_question_renders_exactly_its_options(full: Dataset) -> None:
    kept, _ = full.askable()
    for pos in kept:
        q = full.at(pos)
        for condition in (Condition("default"), Condition("country", "Russia")):
            prompt = render(q, condition)
            lines = prompt.text.splitlines()
            labelled = [line for line in lines if _LABEL_LINE.match(line)]
            k = len(q.options)
            # Exactly K option lines, lettered in order, each the published option unchanged.
            assert labelled == [f"({LETTERS[i]}) {o}" for i, o in enumerate(q.options)], pos
            assert prompt.letters == tuple(LETTERS[:k])


def test_eighteen_options_letter_up_to_r(full: Dataset) -> None:
    q = full.question(1449)
    assert len(q.options) == 18
    prompt = render(q)
    assert prompt.letters[-1] == "R"
    assert "(R) Afghanistan\n\nAssistant:" in prompt.text
    assert "(J) Baltic Republics (Latvia, Estonia, Lithuania together)\n" in prompt.text
