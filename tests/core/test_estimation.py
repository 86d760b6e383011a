"""The pure arithmetic of core/estimators.py: option orders, the mapping between shown and
published orders, the PriDe letter prior, the calibration subset and the estimator's spec.

Orders are asserted exactly, from the formula in :func:`core.estimators.option_orders`'s
docstring (shifts ``round(j * m / (k - 1))``, the reversed order second); the ordinal
heuristic is stubbed where a test is about the orders, so that those tests do not move when
the heuristic's lexicon does (one test uses the real heuristic on a plain word scale).
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from core import estimators, ordinal
from core.dataset import Question, is_non_substantive, question_key
from core.errors import InvalidValueError
from core.estimators import (
    ESTIMATOR_NAMES,
    EstimatorSpec,
    calibration_subset,
    correct_prior,
    cyclic_orders,
    letter_prior,
    option_orders,
    parse_estimator_name,
    question_prior,
    to_published,
    to_shown,
)
from core.ordinal import Scale


def make_question(options: list[str], text: str = "Which one?", qid: int = 0) -> Question:
    flags = np.array([is_non_substantive(o) for o in options], dtype=bool)
    return Question(
        id=qid,
        key=question_key(text, options),
        text=text,
        options=tuple(options),
        source="GAS",
        countries=("Germany",),
        human=np.full((1, len(options)), 1.0 / len(options)),
        nonsubstantive=flags,
    )


@pytest.fixture
def as_nominal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every question is nominal, its substantive options in published order."""

    def nominal(options: object, nonsubstantive: list[bool], key: str = "") -> Scale:
        order = tuple(i for i, flag in enumerate(nonsubstantive) if not flag)
        return Scale(False, order, "test: nominal")

    monkeypatch.setattr(ordinal, "scale", nominal)


FIVE = ["Tea", "Coffee", "Water", "Juice", "Milk"]


# --------------------------------------------------------------------------- option orders


def test_nominal_k4_on_five_substantive_options_gives_the_documented_orders(as_nominal) -> None:
    # m = 5, k - 1 = 3 rotations: shifts round(0), round(5/3) = 2, round(10/3) = 3.
    orders = option_orders(make_question(FIVE), 4)
    assert orders == (
        (0, 1, 2, 3, 4),
        (4, 3, 2, 1, 0),  # the reversed published order comes second
        (2, 3, 4, 0, 1),
        (3, 4, 0, 1, 2),
    )


def test_nominal_k4_on_four_options_and_a_dk_keeps_the_dk_last(as_nominal) -> None:
    # m = 4 substantive: shifts 0, round(4/3) = 1, round(8/3) = 3; DK/Refused (4) stays last.
    q = make_question(["Tea", "Coffee", "Water", "Juice", "DK/Refused"])
    assert list(q.nonsubstantive) == [False, False, False, False, True]
    assert option_orders(q, 4) == (
        (0, 1, 2, 3, 4),
        (3, 2, 1, 0, 4),
        (1, 2, 3, 0, 4),
        (3, 0, 1, 2, 4),
    )


def test_several_non_substantive_options_stay_last_in_published_order(as_nominal) -> None:
    q = make_question(["Tea", "Coffee", "Water", "Don't know", "Refused (VOL)"])
    assert list(q.nonsubstantive) == [False, False, False, True, True]
    for order in option_orders(q, 12):
        assert order[-2:] == (3, 4)
        assert sorted(order[:3]) == [0, 1, 2]


def test_full_rotations_need_one_order_more_than_the_options(as_nominal) -> None:
    q = make_question(["Tea", "Coffee", "Water", "Juice"])
    orders = option_orders(q, 5)
    rotations = set(cyclic_orders(4))
    assert set(orders) == rotations | {(3, 2, 1, 0)}
    assert orders[:2] == ((0, 1, 2, 3), (3, 2, 1, 0))


def test_k_larger_than_possible_drops_duplicates(as_nominal) -> None:
    # Three options have three rotations and one reversal that is not a rotation.
    orders = option_orders(make_question(["Tea", "Coffee", "Water"]), 12)
    assert len(orders) == len(set(orders)) == 4
    assert set(orders) == set(cyclic_orders(3)) | {(2, 1, 0)}
    assert orders[0] == (0, 1, 2)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 8, 12])
def test_two_options_have_at_most_two_orders(as_nominal, k: int) -> None:
    orders = option_orders(make_question(["Tea", "Coffee"]), k)
    assert orders == ((0, 1), (1, 0))[: min(k, 2)]


def test_k1_is_the_published_order_alone(as_nominal) -> None:
    assert option_orders(make_question(FIVE), 1) == ((0, 1, 2, 3, 4),)


@pytest.mark.parametrize("k", range(1, 13))
def test_every_order_is_a_permutation_and_the_first_is_published(as_nominal, k: int) -> None:
    for options in (FIVE, FIVE[:4] + ["DK/Refused"], [f"City {c}" for c in "PQRSTUVW"]):
        orders = option_orders(make_question(options), k)
        assert 1 <= len(orders) <= k
        assert orders[0] == tuple(range(len(options)))
        assert len(set(orders)) == len(orders)
        for order in orders:
            assert sorted(order) == list(range(len(options)))


def test_ordinal_scale_gets_only_the_scale_and_its_reverse(monkeypatch) -> None:
    # A scale whose order is not the published one ("Better, Worse, Same" -> B, S, W).
    monkeypatch.setattr(
        ordinal, "scale", lambda options, nonsub, key="": Scale(True, (0, 2, 1), "test")
    )
    q = make_question(["Better", "Worse", "Stay the same", "DK/Refused"])
    for k in (2, 4, 12):
        assert option_orders(q, k) == ((0, 2, 1, 3), (1, 2, 0, 3))
    assert option_orders(q, 1) == ((0, 2, 1, 3),)


def test_real_heuristic_word_scale_is_ordinal_with_dk_last() -> None:
    q = make_question(["Very good", "Somewhat good", "Somewhat bad", "Very bad", "DK/Refused"])
    found = ordinal.scale(q.options, list(q.nonsubstantive), q.key)
    assert found.ordinal, found.reason
    assert option_orders(q, 4) == ((0, 1, 2, 3, 4), (3, 2, 1, 0, 4))


def test_real_heuristic_nominal_options_are_rotated() -> None:
    q = make_question(["Christianity", "Islam", "Judaism", "Hinduism"])
    assert not ordinal.scale(q.options, list(q.nonsubstantive), q.key).ordinal
    assert len(option_orders(q, 4)) == 4


# --------------------------------------------------------------------------- shown/published


def test_cyclic_orders_are_every_rotation_once() -> None:
    assert cyclic_orders(3) == ((0, 1, 2), (1, 2, 0), (2, 0, 1))
    for n in range(1, 9):
        orders = cyclic_orders(n)
        assert len(set(orders)) == n
        # Each option is shown once at each position.
        for position in range(n):
            assert sorted(o[position] for o in orders) == list(range(n))


def test_to_published_and_to_shown_are_inverse() -> None:
    rng = np.random.default_rng(3)
    for n in (2, 4, 5, 7):
        for perm in itertools.islice(itertools.permutations(range(n)), 30):
            p = rng.dirichlet(np.ones(n))
            np.testing.assert_array_equal(to_published(to_shown(p, perm), perm), p)
            np.testing.assert_array_equal(to_shown(to_published(p, perm), perm), p)


def test_to_published_puts_each_shown_probability_at_its_option() -> None:
    # Shown order (2, 0, 1): position 0 shows option 2, so shown[0] belongs to option 2.
    shown = np.array([0.7, 0.2, 0.1])
    np.testing.assert_array_equal(to_published(shown, (2, 0, 1)), [0.2, 0.1, 0.7])
    np.testing.assert_array_equal(to_shown(np.array([0.2, 0.1, 0.7]), (2, 0, 1)), shown)


# --------------------------------------------------------------------------- letter prior


def shown_under(prior: np.ndarray, content: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """A position-prior x content model's letter distribution with ``order`` shown."""
    p = prior * content[list(order)]
    return p / p.sum()


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_question_prior_recovers_a_synthetic_prior_exactly(n: int) -> None:
    rng = np.random.default_rng(n)
    prior = rng.dirichlet(np.ones(n))
    content = rng.dirichlet(np.ones(n) * 0.7)
    shown = [shown_under(prior, content, o) for o in cyclic_orders(n)]
    np.testing.assert_allclose(question_prior(shown), prior, rtol=0, atol=1e-9)


def test_question_prior_is_not_fooled_by_unnormalised_or_off_option_mass() -> None:
    prior = np.array([0.55, 0.2, 0.15, 0.1])
    content = np.array([0.1, 0.6, 0.25, 0.05])
    # Each rotation loses a different share to off-option tokens.
    shown = [
        shown_under(prior, content, o) * (1 - off)
        for o, off in zip(cyclic_orders(4), (0.02, 0.3, 0.1, 0.5), strict=True)
    ]
    np.testing.assert_allclose(question_prior(shown), prior, rtol=0, atol=1e-9)


def test_letter_prior_is_the_normalised_mean_of_the_question_priors() -> None:
    a, b = np.array([0.5, 0.3, 0.2]), np.array([0.7, 0.2, 0.1])
    np.testing.assert_allclose(letter_prior([a, b]), [0.6, 0.25, 0.15], atol=1e-12)
    np.testing.assert_allclose(letter_prior([a * 2, b * 2]), [0.6, 0.25, 0.15], atol=1e-12)


def test_correct_prior_divides_the_prior_out() -> None:
    prior = np.array([0.55, 0.2, 0.15, 0.1])
    content = np.array([0.1, 0.6, 0.25, 0.05])
    first = shown_under(prior, content, (0, 1, 2, 3))
    np.testing.assert_allclose(correct_prior(first, prior), content, rtol=0, atol=1e-12)
    # A uniform prior changes nothing; the result always sums to 1.
    np.testing.assert_allclose(correct_prior(first, np.full(4, 0.25)), first, atol=1e-12)
    assert correct_prior(first * 0.8, prior).sum() == pytest.approx(1.0, abs=1e-12)


def test_correct_prior_survives_a_zero_prior_and_zero_probabilities() -> None:
    out = correct_prior(np.array([0.0, 0.5, 0.5]), np.array([0.0, 0.5, 0.5]))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [0.0, 0.5, 0.5])
    zero = correct_prior(np.zeros(3), np.array([0.2, 0.3, 0.5]))
    np.testing.assert_array_equal(zero, np.zeros(3))


def test_calibrated_correction_recovers_content_end_to_end_in_pure_arithmetic() -> None:
    rng = np.random.default_rng(11)
    prior = np.array([0.55, 0.2, 0.15, 0.1])
    contents = [rng.dirichlet(np.ones(4) * 2) for _ in range(6)]
    per_question = [
        question_prior([shown_under(prior, c, o) for o in cyclic_orders(4)]) for c in contents
    ]
    table = letter_prior(per_question)
    np.testing.assert_allclose(table, prior, atol=1e-9)
    for c in contents:
        corrected = correct_prior(shown_under(prior, c, (0, 1, 2, 3)), table)
        np.testing.assert_allclose(corrected, c, atol=1e-9)


# --------------------------------------------------------------------------- calibration subset


def pool() -> list[Question]:
    out = []
    for i in range(30):
        k = 2 + i % 3
        out.append(make_question([f"Option {j} of {i}" for j in range(k)], f"Question {i}?", i))
    return out


def test_calibration_subset_takes_size_questions_per_number_of_options() -> None:
    subset = calibration_subset(pool(), 4, seed=0)
    assert sorted(subset) == [2, 3, 4]
    for k, chosen in subset.items():
        assert len(chosen) == 4
        assert all(len(q.options) == k for q in chosen)
        assert len({q.key for q in chosen}) == 4


def test_calibration_subset_is_deterministic_and_independent_of_input_order() -> None:
    questions = pool()
    reference = calibration_subset(questions, 4, seed=5)
    for trial in range(5):
        shuffled = questions[:]
        random.Random(trial).shuffle(shuffled)
        again = calibration_subset(shuffled, 4, seed=5)
        assert {k: [q.key for q in v] for k, v in again.items()} == {
            k: [q.key for q in v] for k, v in reference.items()
        }


def test_calibration_subset_depends_on_the_seed_and_caps_at_what_exists() -> None:
    questions = pool()
    a = calibration_subset(questions, 4, seed=0)
    b = calibration_subset(questions, 4, seed=1)
    assert any({q.key for q in a[k]} != {q.key for q in b[k]} for k in a)
    everything = calibration_subset(questions, 100, seed=0)
    assert {k: len(v) for k, v in everything.items()} == {2: 10, 3: 10, 4: 10}
    assert calibration_subset([], 4) == {}


# --------------------------------------------------------------------------- spec


@pytest.mark.parametrize("field", ["orders", "samples", "calibration"])
@pytest.mark.parametrize("value", [0, -1, 13, 101, True, False, 2.0, "4", None])
def test_spec_rejects_settings_out_of_range(field: str, value: object) -> None:
    high = {"orders": 12, "samples": 100, "calibration": 100}[field]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high:
        EstimatorSpec(**{field: value})  # type: ignore[arg-type]
        return
    with pytest.raises(InvalidValueError, match=field):
        EstimatorSpec(**{field: value})  # type: ignore[arg-type]


def test_spec_orders_13_is_rejected_and_12_accepted() -> None:
    with pytest.raises(InvalidValueError, match="from 1 to 12"):
        EstimatorSpec("order-averaged", orders=13)
    assert EstimatorSpec("order-averaged", orders=12).orders == 12
    assert EstimatorSpec("free-text", samples=100).samples == 100


def test_spec_params_name_only_the_settings_the_estimator_uses() -> None:
    assert EstimatorSpec().params() == {}
    assert EstimatorSpec("verbalized", orders=7, seed=3).params() == {}
    assert EstimatorSpec("order-averaged", orders=6, seed=3).params() == {"orders": 6}
    assert EstimatorSpec("prior-corrected", calibration=5, seed=2).params() == {
        "calibration": 5,
        "seed": 2,
    }
    assert EstimatorSpec("free-text", samples=3, seed=9).params() == {"samples": 3, "seed": 9}


@pytest.mark.parametrize(
    "spec",
    [
        EstimatorSpec(),
        EstimatorSpec("order-averaged", orders=6),
        EstimatorSpec("order-averaged", orders=1),
        EstimatorSpec("prior-corrected", calibration=3, seed=4),
        EstimatorSpec("verbalized"),
        EstimatorSpec("free-text", samples=12, seed=7),
    ],
)
def test_from_manifest_round_trips(spec: EstimatorSpec) -> None:
    again = EstimatorSpec.from_manifest(spec.name, spec.params())
    assert again == spec
    assert again.label == spec.label


def test_from_manifest_defaults_and_rejects() -> None:
    assert EstimatorSpec.from_manifest("", None) == EstimatorSpec()
    assert EstimatorSpec.from_manifest("first-token", {}) == EstimatorSpec()
    with pytest.raises(InvalidValueError, match="'bogus'"):
        EstimatorSpec.from_manifest("bogus", {})
    with pytest.raises(InvalidValueError, match="orders"):
        EstimatorSpec.from_manifest("order-averaged", {"orders": 40})


def test_parse_estimator_name_accepts_every_name_in_any_case() -> None:
    for name in ESTIMATOR_NAMES:
        assert parse_estimator_name(name) == name
        assert parse_estimator_name(f"  {name.upper()} ") == name


@pytest.mark.parametrize("text", ["", "first_token", "logprobs", "order averaged", "firsttoken"])
def test_parse_estimator_name_errors_name_the_value_and_the_choices(text: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        parse_estimator_name(text)
    message = str(err.value)
    assert repr(text) in message
    assert all(name in message for name in ESTIMATOR_NAMES)


def test_labels() -> None:
    assert EstimatorSpec().label == "first-token"
    assert EstimatorSpec("order-averaged", orders=4).label == "order-averaged (up to 4 orders)"
    assert EstimatorSpec("free-text", samples=8).label == "free-text (8 samples)"
    assert estimators.SUMMARY.keys() == set(ESTIMATOR_NAMES)


@pytest.mark.parametrize("bad", [True, 2.9, "4", None])
def test_a_stored_setting_that_is_not_a_whole_number_is_named(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="orders"):
        EstimatorSpec.from_manifest("order-averaged", {"orders": bad})
