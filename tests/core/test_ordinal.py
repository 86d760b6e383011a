"""core.ordinal: which questions are ordered scales, and the order of their options.

Hand-made cases pin each rule of the heuristic (numbers, worded ends, word scales, ties,
residues, Yes/No, known scales, overrides), with the published option lists of the questions
a review of the full list found misclassified; the real sample and the full-shape file (the
2,556 published questions with their real options) pin that every question gets a scale
whose order is a permutation of its substantive options, and the measured ordinal counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest
from support import REPO
from support.dataset_csv import csv_bytes

from core import dataset, ordinal
from core.dataset import Dataset, is_non_substantive
from core.ordinal import Scale, ordinal_count, scale

FULLSHAPE_CSV = REPO.parent / "shared" / "data" / "global_opinions_fullshape.csv"

DK = "DK/Refused"


def classify(*options: str) -> Scale:
    """The scale of ``options``, with DK/Refused-like options masked as the loader does."""
    return scale(list(options), [is_non_substantive(o) for o in options])


def ordered(result: Scale, options: Sequence[str]) -> list[str]:
    return [options[i] for i in result.order]


def substantive(mask: Sequence[bool]) -> list[int]:
    return [i for i, flag in enumerate(mask) if not flag]


# --------------------------------------------------------------------------- rule 1: numbers


def test_zero_to_ten_is_a_numeric_scale() -> None:
    options = [str(n) for n in range(11)]
    result = classify(*options)
    assert result == Scale(True, tuple(range(11)), "numeric scale 0-10")


def test_out_of_order_numbers_come_out_in_numeric_order_without_dk() -> None:
    options = ["0", "9", "10", DK, *(str(n) for n in range(1, 9))]
    result = classify(*options)
    assert result.ordinal
    assert ordered(result, options) == [str(n) for n in range(11)]
    assert result.order == (0, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
    assert 3 not in result.order
    assert result.reason == "numeric scale 0-10"


def test_worded_ends_stand_for_the_numbers_beyond_the_run() -> None:
    options = ["Not important at all", *(str(n) for n in range(1, 10)), "Very important"]
    result = classify(*options)
    assert result == Scale(True, tuple(range(11)), "numeric scale 0-10 with worded ends")


def test_worded_end_published_among_the_numbers_is_placed_by_meaning() -> None:
    options = ["Not important at all", "1", "Very important", *(str(n) for n in range(2, 10))]
    result = classify(*options)
    assert result.ordinal
    assert ordered(result, options) == [
        "Not important at all",
        *(str(n) for n in range(1, 10)),
        "Very important",
    ]


def test_position_of_a_label_beats_its_meaning() -> None:
    # Published as 1 = agree .. 10 = disagree: agree must sit next to 2, not next to 9.
    options = ["Completely agree", *(str(n) for n in range(2, 10)), "Completely disagree"]
    result = classify(*options)
    assert result.ordinal
    assert result.order == tuple(range(10))
    assert result.reason == "numeric scale 1-10 with worded ends"


def test_descending_numbers_with_worded_ends() -> None:
    options = ["Satisfied", *(str(n) for n in range(9, 1, -1)), "Dissatisfied"]
    result = classify(*options)
    assert result.ordinal
    assert ordered(result, options) == [
        "Dissatisfied",
        *(str(n) for n in range(2, 10)),
        "Satisfied",
    ]


def test_labels_without_meaning_are_placed_by_position() -> None:
    options = ["Left", *(str(n) for n in range(2, 10)), "Right", "Don't know"]
    result = classify(*options)
    assert result.ordinal
    assert result.order == tuple(range(10))


def test_one_worded_end() -> None:
    options = ["Not equal at all", *(str(n) for n in range(2, 10))]
    result = classify(*options)
    assert result == Scale(True, tuple(range(9)), "numeric scale 1-9 with worded ends")


def test_a_label_that_neither_position_nor_meaning_places_is_nominal() -> None:
    options = [*(str(n) for n in range(2, 10)), "Very satisfied", "No job"]
    result = classify(*options)
    assert not result.ordinal
    assert result.order == tuple(range(10))


def test_numbers_with_a_gap_are_not_a_numeric_scale() -> None:
    result = classify("Left", "2", "4", "Right")
    assert not result.ordinal


def test_three_labels_are_not_worded_ends() -> None:
    options = ["Private ownership", *(str(n) for n in range(2, 10)), "Public ownership", "Other"]
    assert not classify(*options).ordinal


def test_numeric_ranges_sort_by_their_lower_end() -> None:
    options = ["21-40", "0", "1-20", "81-100", "41-60", "61-80"]
    result = classify(*options)
    assert result.ordinal
    assert ordered(result, options) == ["0", "1-20", "21-40", "41-60", "61-80", "81-100"]
    ages = ["18 to 49", "50 to 59", "60 to 69", "90+", "70 to 79", "80 to 89"]
    result = classify(*ages)
    assert ordered(result, ages) == [
        "18 to 49",
        "50 to 59",
        "60 to 69",
        "70 to 79",
        "80 to 89",
        "90+",
    ]


def test_numbers_with_glosses_count_as_their_numbers() -> None:
    options = [
        "1 There is no corruption in my country",
        *(str(n) for n in range(2, 10)),
        "10 There is abundant corruption in my country",
    ]
    assert classify(*options) == Scale(True, tuple(range(10)), "numeric scale 1-10")


def test_statements_that_start_with_a_number_are_not_a_scale() -> None:
    assert not classify("2011 earthquake and tsunami", "2012 election").ordinal
    assert not classify("1 | 1", "1").ordinal
    assert not classify("3", "3").ordinal


# --------------------------------------------------------------------------- rule 2: words

IN_ORDER = [
    ["Very good", "Somewhat good", "Somewhat bad", "Very bad"],
    ["Very favorable", "Mostly favorable", "Mostly unfavorable", "Very unfavorable"],
    ["Strongly agree", "Agree", "Neither agree nor disagree", "Disagree", "Strongly disagree"],
    ["Completely agree", "Mostly agree", "Mostly disagree", "Completely disagree"],
    ["Very big problem", "Moderately big problem", "Small problem", "Not a problem at all"],
    ["A lot of confidence", "Some confidence", "Not too much confidence", "No confidence at all"],
    ["A great deal", "Quite a lot", "Not very much", "None at all"],
    ["Great deal", "Fair amount", "Not too much", "No influence at all"],
    ["Very important", "Somewhat important", "Not too important", "Not at all important"],
    ["Very likely", "Somewhat likely", "Not too likely", "Not at all likely"],
    ["Much better", "Somewhat better", "About the same", "Somewhat worse", "Much worse"],
    ["Improve a lot", "Improve a little", "Remain the same", "Worsen a little", "Worsen a lot"],
    ["Major threat", "Minor threat", "Not a threat"],
    ["Major threat", "Minor threat", "No threat"],
    ["Often justified", "Sometimes justified", "Rarely justified", "Never justified"],
    ["None of them", "Few of them", "Most of them", "All of them"],
    ["Strongly support", "Somewhat support", "Somewhat oppose", "Strongly oppose"],
    ["Very satisfied", "Fairly satisfied", "Fairly Dissatisfied", "Very dissatisfied"],
    ["Trust completely", "Trust somewhat", "Do not trust very much", "Do not trust at all"],
    ["Definitely succeed", "Probably succeed", "Probably fail", "Definitely fail"],
    ["Very large role", "Fairly large role", "Fairly small role", "Very small role"],
    ["The best", "Above average", "Average", "Below average", "The worst"],
    ["Very good influence", "Good influence", "Bad influence", "Very bad influence"],
    ["Very well", "Somewhat well", "Not too well", "Not well at all"],
    ["Approve", "Disapprove"],
]


@pytest.mark.parametrize("options", IN_ORDER, ids=lambda o: o[0])
def test_word_scales_published_in_order(options: list[str]) -> None:
    result = classify(*options, DK)
    assert result.ordinal, result.reason
    assert result.order == tuple(range(len(options)))
    assert result.reason.startswith("word scale")


@pytest.mark.parametrize(
    ("options", "scale_order"),
    [
        (["Better", "Worse", "About the same"], ["Better", "About the same", "Worse"]),
        (["More", "Less", "No change"], ["More", "No change", "Less"]),
        (["Increase", "Decrease", "Does not make a difference"], None),
        (["Good", "Bad", "Neither"], ["Good", "Neither", "Bad"]),
        (["Too much", "Not enough", "About right"], ["Too much", "About right", "Not enough"]),
        (["Too tough", "Not tough enough", "About right"], None),
        (["Optimistic", "Pessimistic", "Neither"], ["Optimistic", "Neither", "Pessimistic"]),
        (["Mostly positive", "Mostly negative", "No impact"], None),
    ],
)
def test_middle_options_published_last_are_moved_to_the_middle(
    options: list[str], scale_order: list[str] | None
) -> None:
    result = classify(*options)
    assert result.ordinal, result.reason
    assert result.order == (0, 2, 1)
    if scale_order is not None:
        assert ordered(result, options) == scale_order


def test_out_of_order_word_scale_is_sorted() -> None:
    options = [
        "Very big problem",
        "Not a problem at all",
        "Moderately big problem",
        "Small problem",
    ]
    result = classify(*options)
    assert result.ordinal
    assert ordered(result, options) == [
        "Very big problem",
        "Moderately big problem",
        "Small problem",
        "Not a problem at all",
    ]


def test_shuffled_likert_is_sorted_in_one_direction_or_the_other() -> None:
    options = ["Somewhat unfavorable", "Very favorable", "Very unfavorable", "Somewhat favorable"]
    result = classify(*options)
    low_to_high = [
        "Very unfavorable",
        "Somewhat unfavorable",
        "Somewhat favorable",
        "Very favorable",
    ]
    assert result.ordinal
    assert ordered(result, options) in (low_to_high, low_to_high[::-1])


def test_word_scale_keeps_the_published_direction() -> None:
    options = ["Very bad", "Somewhat bad", "Somewhat good", "Very good"]
    assert classify(*options).order == (0, 1, 2, 3)
    assert classify(*options[::-1]).order == (0, 1, 2, 3)


def test_non_substantive_options_are_never_in_the_order() -> None:
    options = ["Very good", "Somewhat good", DK, "Somewhat bad", "Very bad", "No answer"]
    result = classify(*options)
    assert result.ordinal
    assert result.order == (0, 1, 3, 4)


def test_the_mask_decides_what_is_left_out() -> None:
    options = ["Agree", "Disagree", "Hard to say"]
    assert scale(options, [False, False, True]) == Scale(True, (0, 1), "word scale: agree/disagree")
    with_middle = scale(options, [False, False, False])
    assert with_middle.ordinal and with_middle.order == (0, 2, 1)


def test_tied_scores_keep_a_monotone_published_order() -> None:
    options = ["Very much", "A great deal", "Not much", "Not at all"]
    result = classify(*options)
    assert result == Scale(True, (0, 1, 2, 3), "word scale: amounts (published order)")
    merged_waves = [
        "Very serious",
        "Very serious problem",
        "Somewhat serious",
        "Somewhat serious problem",
        "Not too serious",
        "Not too serious a problem",
        "Not a problem",
        "Not a problem at all",
    ]
    assert classify(*merged_waves).order == tuple(range(8))


def test_tied_scores_out_of_order_are_nominal() -> None:
    result = classify("Good", "Bad", "Good thing", "Bad thing")
    assert result == Scale(False, (0, 1, 2, 3), "nominal: tied scale scores out of order")


def test_two_scales_merged_into_one_list_are_nominal() -> None:
    options = [
        "A lot of confidence",
        "Very favorable",
        "Some confidence",
        "Somewhat favorable",
        "Not too much confidence",
        "Somewhat unfavorable",
        "No confidence at all",
        "Very unfavorable",
    ]
    result = classify(*options)
    assert not result.ordinal
    assert result.reason == "nominal: tied options from different scales"


@pytest.mark.parametrize(
    "options",
    [
        [
            "Men generally have more influence",
            "Women generally have more influence",
            "Men and women generally have about the same influence",
        ],
        [
            "It is more important for boys than for girls",
            "It is more important for girls than for boys",
            "It is equally important for boys and girls",
        ],
        ["Morally acceptable", "Morally unacceptable", "Not a moral issue"],
        [
            "Very favorable",
            "Somewhat favorable",
            "Somewhat unfavorable",
            "Very unfavorable",
            "Never heard of",
        ],
        ["this is not government\u2019s responsibility", "Very bad", "Bad", "Good", "Very good"],
        ["More of a partner", "More of a competitor", "Both partner and competitor"],
        ["Fair", "Favor Israel", "Favor Palestinians"],
        [
            "Good for the U.S.",
            "Bad for the U.S.",
            "No real effect either way",
            "Good for you personally",
        ],
        ["Always", "Usually", "Never", "Not allowed to vote"],
    ],
    ids=lambda o: o[0][:30],
)
def test_options_that_differ_in_more_than_degree_are_nominal(options: list[str]) -> None:
    result = classify(*options)
    assert not result.ordinal, result.reason
    assert result.order == tuple(range(len(options)))


def test_same_words_around_the_scale_are_allowed() -> None:
    options = [
        "Strongly support limiting Chinese students",
        "Somewhat support limiting Chinese students",
        "Somewhat oppose limiting Chinese students",
        "Strongly oppose limiting Chinese students",
    ]
    assert classify(*options).order == (0, 1, 2, 3)
    close = ["Closer to Japan", "Less close to Japan", "About as close to Japan"]
    assert ordered(classify(*close), close) == [
        "Closer to Japan",
        "About as close to Japan",
        "Less close to Japan",
    ]


def test_long_statements_are_not_scale_points() -> None:
    options = [
        "It is very good that the government in this country provides jobs for everybody",
        "It is very bad that the government in this country provides jobs for everybody",
    ]
    assert not classify(*options).ordinal


# --------------------------------------------------------------------------- rule 3 and decisions


def test_country_lists_are_nominal_in_published_order() -> None:
    options = ["France", "Germany", "China", "Britain", "Japan", "United States", "Russia", DK]
    assert classify(*options) == Scale(False, tuple(range(7)), "nominal: no scale pattern")


def test_parties_and_people_are_nominal() -> None:
    assert not classify("PRI", "PAN", "PRD").ordinal
    assert not classify("Vladimir Putin", "Dmitri Medvedev", "Both equally", "Neither").ordinal
    assert not classify(
        "Very priista", "Somewhat priista", "Very panista", "Somewhat panista"
    ).ordinal


def test_yes_no_is_nominal() -> None:
    assert classify("Yes", "No", DK) == Scale(False, (0, 1), "nominal: yes/no answers")
    assert classify("No", "Yes") == Scale(False, (0, 1), "nominal: yes/no answers")
    # Even when the glosses carry scale words: the answer is a yes or a no.
    assert not classify("Yes, likely", "No, not likely").ordinal
    assert not classify("Yes, has improved", "No, has not improved").ordinal


@pytest.mark.parametrize(
    "options",
    [
        ["Justified", "Not justified", "Depends (VOL)", DK],
        ["Justifiable", "Not justifiable"],
        ["Could be justified", "Could not be justified", "Depends (VOL)"],
        ["Growing problem", "Not a growing problem"],
        ["Like pace of modern life", "Do not like pace of modern life", DK],
        ["Want to help", "Don't want to help"],
        ["Are benefiting", "Are not benefiting"],
        ["Doing enough", "Not doing enough"],
        [
            "Consumerism/commercialism a threat to culture",
            "Consumerism/commercialism not a threat to culture",
        ],
        [
            "In general, most people can be trusted",
            "In general, most people cannot be trusted",
            DK,
        ],
        ["Important factor in growing apart", "Not important factor in growing apart"],
        ["Will", "Will not"],
        ["Mentioned", "Not mentioned", "Don't know", "No answer"],
    ],
    ids=lambda o: o[0][:25],
)
def test_an_option_and_its_negation_answer_yes_or_no(options: list[str]) -> None:
    # The first eleven were two-point word scales (false positives): "X or not X?" is a
    # yes/no question whatever X is.
    assert classify(*options) == Scale(False, (0, 1), "nominal: yes/no answers")


def test_two_antonyms_are_not_a_negation() -> None:
    assert classify("Stronger", "Weaker").ordinal
    assert classify("I like foreign music", "I dislike foreign music").ordinal
    # A hedged negation is a lower point, not a denial.
    assert classify("Still important", "Not so important").ordinal
    # Three options: the pair rule does not apply.
    assert classify("Better", "Not better", "About the same").ordinal


def test_two_point_word_scales_are_ordinal() -> None:
    assert classify("Approve", "Disapprove", DK) == Scale(
        True, (0, 1), "word scale: approve/disapprove"
    )
    assert classify("Disapprove", "Approve").order == (0, 1)


def test_known_scales_are_ordinal_in_the_table_order() -> None:
    options = ["Have done", "Might do", "Would never do", "Don't know", "No answer"]
    assert classify(*options) == Scale(True, (0, 1, 2), "known scale: political action")
    frequency = [
        "More than once a week",
        "Once a week",
        "Once or twice a month",
        "A few times a year",
        "Seldom",
        "Never",
    ]
    assert classify(*frequency).order == tuple(range(6))
    # Matched on the exact wording in any published order; the table gives the order.
    assert classify("Might do", "Have done", "Would never do").order == (1, 0, 2)
    # Another wording is not the known scale.
    assert not classify("Have done", "Might do", "Would never do", "Other").ordinal


@pytest.mark.parametrize(
    ("options", "scale_order"),
    [
        # "Does our government go along with U.S. policies too much, not enough, or deal
        # with the U.S. just about right?" (the residues "go along" / "deal" differ)
        (
            ["Go along too much", "Not enough", "Deal with the US about right"],
            ["Go along too much", "Deal with the US about right", "Not enough"],
        ),
        # "Does trade with other countries lead to job creation in your country, job losses,
        # or does it not make a difference?"
        (
            ["Job creation", "Job losses", "Does not make a difference", DK],
            ["Job creation", "Does not make a difference", "Job losses"],
        ),
        # "China will eventually replace the U.S. ...; China has already replaced ...; or
        # China will never replace ...?"
        (
            ["Will eventually replace US", "Has already replaced US", "Will never replace US"],
            ["Has already replaced US", "Will eventually replace US", "Will never replace US"],
        ),
        # Two survey waves' wordings, published wave after wave.
        (
            [
                "Be the single world leader",
                "Play a shared leadership role",
                "Not play any leadership role",
                "Single leader",
                "Shared leadership",
                "No leadership",
                DK,
            ],
            [
                "Be the single world leader",
                "Single leader",
                "Play a shared leadership role",
                "Shared leadership",
                "Not play any leadership role",
                "No leadership",
            ],
        ),
    ],
    ids=lambda o: o[0][:20],
)
def test_known_scales_published_out_of_order_are_put_in_order(
    options: list[str], scale_order: list[str]
) -> None:
    # These were nominal before the table carried an order (false negatives).
    result = classify(*options)
    assert result.ordinal
    assert result.reason.startswith("known scale: ")
    assert ordered(result, options) == scale_order


def test_antonyms_with_a_neither_are_a_scale() -> None:
    # Pew "more of a partner, more of an enemy, or neither?" and "one of cooperation, one of
    # hostility, or neither?": nominal before partner/enemy and cooperation/hostility were
    # polar words (a false negative, 8 questions); the middle is moved to the middle.
    partner = ["More of a partner", "More of an enemy", "Neither"]
    result = classify(*partner)
    assert result == Scale(True, (0, 2, 1), "word scale: more/partner/enemy")
    relation = ["One of cooperation", "One of hostility", "Neither"]
    assert classify(*relation) == Scale(True, (0, 2, 1), "word scale: cooperation/hostility")
    # A word that is no antonym keeps the list nominal.
    assert not classify("Partner", "Competitor", "Enemy").ordinal


def test_fewer_than_two_substantive_options() -> None:
    assert scale(["Yes", DK], [False, True]) == Scale(
        False, (0,), "nominal: fewer than two substantive options"
    )
    assert scale([DK, "No answer"], [True, True]).order == ()
    assert scale([], []).order == ()


def test_flags_may_be_numpy_bools() -> None:
    options = ("Very good", "Somewhat good", "Somewhat bad", "Very bad", DK)
    mask = np.array([False, False, False, False, True])
    assert scale(options, list(mask)) == scale(options, mask.tolist())
    assert scale(options, list(mask)).order == (0, 1, 2, 3)


def test_one_flag_per_option_is_required() -> None:
    with pytest.raises(ValueError, match="one flag per option"):
        scale(["Good", "Bad"], [False])


def test_scale_is_frozen() -> None:
    result = classify("Good", "Bad")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ordinal = False  # type: ignore[misc]


# --------------------------------------------------------------------------- overrides


def test_an_override_decides_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    likert = ["Very good", "Somewhat good", "Somewhat bad", "Very bad", DK]
    flags = [is_non_substantive(o) for o in likert]
    countries = ["France", "Germany", "China"]
    monkeypatch.setattr(ordinal, "OVERRIDES", {"likert0000ab": False, "countries0ab": True})
    assert scale(likert, flags, "likert0000ab") == Scale(False, (0, 1, 2, 3), "override")
    assert scale(countries, [False] * 3, "countries0ab") == Scale(True, (0, 1, 2), "override")
    # Other keys, or no key, are left to the heuristic.
    assert scale(likert, flags, "other0000000").reason == "word scale: good/bad"
    assert scale(countries, [False] * 3).reason == "nominal: no scale pattern"


def test_an_override_that_agrees_keeps_the_heuristic_order(monkeypatch: pytest.MonkeyPatch) -> None:
    options = ["Better", "Worse", "About the same"]
    monkeypatch.setattr(ordinal, "OVERRIDES", {"k": True})
    assert scale(options, [False] * 3, "k") == Scale(True, (0, 2, 1), "override")


# --------------------------------------------------------------------------- ordinal_count


def test_ordinal_count_counts_the_ordinal_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        ("How good?", {"France": [0.1, 0.2, 0.3, 0.3, 0.1]}, IN_ORDER[0] + [DK], "GAS"),
        ("Which?", {"France": [0.5, 0.4, 0.1]}, ["France", "Germany", DK], "GAS"),
        ("Did you?", {"France": [0.5, 0.5]}, ["Yes", "No"], "GAS"),
        ("Scale?", {"France": [0.1] * 10}, ["0", "9", *(str(n) for n in range(1, 9))], "WVS"),
    ]
    small = dataset.parse_csv(csv_bytes(rows))
    assert ordinal_count(small) == 2
    monkeypatch.setattr(ordinal, "OVERRIDES", {small.keys[0]: False})
    assert ordinal_count(small) == 1


# --------------------------------------------------------------------------- the real data


def every_scale(data: Dataset) -> list[Scale]:
    """Scale every question, asserting what must hold for each: an order that is exactly a
    permutation of the substantive options (no DK, none lost, none twice)."""
    scales = []
    for pos in range(len(data)):
        k = int(data.n_options[pos])
        mask = [bool(f) for f in data.nonsubstantive[pos, :k]]
        result = scale(data.options[pos], mask, data.keys[pos])
        assert isinstance(result, Scale)
        assert sorted(result.order) == substantive(mask), (pos, data.options[pos])
        assert result.reason
        scales.append(result)
    return scales


def test_every_sample_question_gets_a_scale(sample: Dataset) -> None:
    scales = every_scale(sample)
    count = sum(s.ordinal for s in scales)
    assert ordinal_count(sample) == count
    # Measured after the review: 141 of 189 (75%) ordinal; 22 of them two-point scales
    # (two "X / Not X" questions became yes/no answers).
    assert len(sample) == 189
    assert count == 141
    assert sum(s.ordinal and len(s.order) == 2 for s in scales) == 22
    by_options = {sample.options[p]: scales[p] for p in range(len(sample))}
    assert by_options[
        ("Very favorable", "Somewhat favorable", "Somewhat unfavorable", "Very unfavorable", DK)
    ].order == (0, 1, 2, 3)
    countries = ("France", "Germany", "China", "Britain", "Japan", "United States", "Russia")
    assert by_options[(*countries, "None of these (VOL)")] == Scale(
        False, tuple(range(7)), "nominal: no scale pattern"
    )


@pytest.fixture(scope="module")
def full() -> Dataset:
    if not FULLSHAPE_CSV.is_file():
        pytest.skip(
            f"the full-shape file is not at {FULLSHAPE_CSV} (it lives beside the repository)"
        )
    return dataset.parse_csv(FULLSHAPE_CSV.read_bytes(), name=FULLSHAPE_CSV.name)


def test_every_published_question_gets_a_scale(full: Dataset) -> None:
    scales = every_scale(full)
    count = sum(s.ordinal for s in scales)
    assert ordinal_count(full) == count
    # Measured after the review: 1,922 of 2,556 (75%) ordinal, 345 of them two-point
    # scales; of the 1,758 questions with three or more substantive options 1,577 (90%).
    # Most Pew questions are four-point scales.
    assert count == 1922
    assert sum(s.ordinal and len(s.order) == 2 for s in scales) == 345
    many = [s for s in scales if len(s.order) >= 3]
    assert (len(many), sum(s.ordinal for s in many)) == (1758, 1577)
    assert sum(s.reason == "override" for s in scales) == len(ordinal.OVERRIDES)
    numeric = [s for s in scales if s.reason.startswith("numeric")]
    assert len(numeric) == 73


def test_published_numeric_rows(full: Dataset) -> None:
    def of(pos: int) -> Scale:
        q = full.question(pos)
        return scale(q.options, list(q.nonsubstantive), q.key)

    assert of(48) == Scale(True, tuple(range(11)), "numeric scale 0-10")
    # [0.0, 9.0, 10.0, 'DK/Refused', 1.0, ..., 8.0]
    assert of(380).order == (0, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
    assert of(225) == Scale(True, tuple(range(11)), "numeric scale 0-10 with worded ends")
    # 'Not important at all', 1, 'Very important', 2, ..., 9
    assert of(308).order == (0, 1, *range(3, 11), 2)
    assert not of(1449).ordinal  # 18 countries
    assert not of(2538).ordinal  # employment status


def test_known_scales_all_occur_in_the_published_list(full: Dataset) -> None:
    names = {s.reason for s in every_scale(full) if s.reason.startswith("known scale")}
    assert names == {
        "known scale: political action",
        "known scale: priority",
        "known scale: essential characteristic of democracy 0-10",
        "known scale: men-women 1-9",
        "known scale: frequency",
        "known scale: how much change is needed",
        "known scale: immigration policy",
        "known scale: revolution, reform or defence",
        "known scale: too much/about right",
        "known scale: job creation/losses",
        "known scale: China replacing the U.S.",
        "known scale: leadership role",
    }


def test_overrides_name_published_questions(full: Dataset) -> None:
    for key, wanted in ordinal.OVERRIDES.items():
        assert key in full.key_index, key
        q = full.at(full.key_index[key])
        flags = list(q.nonsubstantive)
        # Each entry is needed: the heuristic alone says the opposite ...
        assert scale(q.options, flags).ordinal is not wanted, q.headline
        # ... and the override decides, in published order (the scale order).
        assert scale(q.options, flags, key) == Scale(wanted, tuple(substantive(flags)), "override")


def test_a_real_override_is_honoured() -> None:
    # "Do you think that the war in Syria will end in the next year, end in the next five
    # years, or will it continue for more than five years?": a time scale no rule reads.
    text = (
        "Do you think that the war in Syria will end in the next year, end in the next five "
        "years, or will it continue for more than five years?"
    )
    options = [
        "In the next year",
        "In the next five years",
        "It will continue for more than five years",
        DK,
    ]
    key = dataset.question_key(text, options)
    assert key == "2ba5f6b90b54"
    assert ordinal.OVERRIDES[key] is True
    flags = [is_non_substantive(o) for o in options]
    assert scale(options, flags) == Scale(False, (0, 1, 2), "nominal: no scale pattern")
    assert scale(options, flags, key) == Scale(True, (0, 1, 2), "override")


def test_reviewed_published_questions(full: Dataset) -> None:
    def of(pos: int) -> Scale:
        q = full.question(pos)
        return scale(q.options, list(q.nonsubstantive), q.key)

    # False positive fixed: "Do you think rape is a growing problem in India or not?"
    assert of(1464) == Scale(False, (0, 1), "nominal: yes/no answers")
    # False negative fixed, middle moved: "China as more of a partner ..., more of an
    # enemy ..., or neither?"
    assert of(690) == Scale(True, (0, 2, 1), "word scale: more/partner/enemy")
    # False negative fixed, order resolved: "go along with U.S. policies too much, not
    # enough, or deal with the U.S. just about right?"
    assert of(1887) == Scale(True, (0, 2, 1), "known scale: too much/about right")
    # Overrides: "Partner / Competitor / Enemy" ((VOL) options and DK left out).
    assert of(1593) == Scale(True, (0, 1, 2), "override")
    # Still nominal after review: Donets'k and Luhans'k futures (destinations, not degrees)
    # and a Likert list with a table footer "Total N=" as an option.
    assert not of(1140).ordinal
    assert not of(161).ordinal
