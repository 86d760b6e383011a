"""Ordinal or nominal: whether a question's options form an ordered scale, and in what order.

An estimator that asks a question under several option orders may show an ordered scale
("Very good, Somewhat good, Somewhat bad, Very bad"; "0" .. "10") only in scale order or
reversed, never rotated into nonsense; nominal options (countries, parties, statements) may
be shuffled freely. A distance on ordinal questions (1 - Wasserstein) needs the same flag
and the options' positions on the scale. :func:`scale` decides both from the option texts
alone; :data:`OVERRIDES` corrects it for single published questions by key.

The heuristic, in the order it is applied (the first rule that decides wins):

0. **Non-substantive options** (``nonsubstantive`` True: DK/Refused, ``... (VOL)``,
   Missing) are set aside and are never part of :attr:`Scale.order`. Fewer than two
   substantive options: nominal. A short table of **known scales** that no rule below can
   read (WVS political action "Have done / Might do / Would never do", church-attendance
   frequencies, Pew "Top priority / Important but lower priority / ...", the WVS
   revolution/reform/defence and immigration-policy items, Pew "Job creation / Job losses /
   Does not make a difference", ...) is matched on the exact substantive wording, in
   whatever order it is published: ordinal, in the table's scale order ("Go along too much,
   Not enough, Deal with the US about right" is put as too much, about right, not enough).
1. **Numeric scales.** Every substantive option is a number ("0", "2.5", a number with a
   gloss such as "1 There is no corruption", or a range "1-20", "18 to 49", "90+"): ordinal,
   ordered by number, low to high, whatever the published order ("0, 9, 10, DK/Refused, 1,
   .., 8" gives 0, 1, .., 10). Or at least two options are plain numbers forming a gap-free
   run of integers and the other one or two are *worded ends* standing for the integer just
   below and just above the run ("Not important at all, 1 .. 9, Very important" is 0 .. 10;
   "Never justifiable, 2 .. 9, Always justifiable" is 1 .. 10). A label's end comes from
   where it is published when the numbers beside it are just the smallest or just the
   largest ("Completely agree, 2, .., 9, Completely disagree" puts agree at 1; "Satisfied, 9,
   8, .., 2, Dissatisfied" puts Satisfied at 10); a label its position does not place (it
   sits among the numbers or beside the other label) is placed by meaning, comparing the
   two labels' rule-2 scores ("Not important at all, 1, Very important, 2, .., 9": Not
   important at all is low). A label neither places makes the question fall through
   ("2 .. 9, Very satisfied, No job" ends up nominal).
2. **Word scales.** Each substantive option is scored on one signed line, polarity times
   intensity, from a small lexicon (the first intensity word of an option counts):

   - *polar words* give the sign: favorable/unfavorable, good/bad/poor, better/worse,
     agree/disagree, approve/disapprove, support/oppose, satisfied/dissatisfied,
     likely/unlikely, increase/decrease, improve/worsen, more/less/fewer, larger/smaller,
     positive/negative, optimistic/pessimistic, help/hurt, acceptable/unacceptable,
     partner/enemy, cooperation/hostility, ...;
     one-sided ones (important, serious, problem, threat, danger, concerned, worried,
     confident, confidence, interested, close, closely, well, reliable, trust, priority
     ...) are positive and get their low side from a negation; two polar words multiply
     ("less important" is negative);
   - *intensity words* give the size: all 3; most 2.5; very, strongly, completely, totally,
     definitely, much, a lot, a great deal, major, great, top, always 2; quite a lot, many,
     usually 1.5; somewhat, mostly, fairly, rather, moderately, probably, some, a fair
     amount, often, and a polar word without intensity 1; a little, minor, few, sometimes
     0.5; very little, very few, hardly 0.25. An option with intensity words and no polar
     word ("A great deal", "Not at all") lies on an implicit amount line;
   - *negations*: "not X at all", "no X at all", "none at all", "never" -2; hedged "not
     too / not very / not so / not much" and "rarely" -1; any other "not X" minus its
     intensity, 1.5 without one ("Not likely" -1.5, "Probably not" -1); "none", "nothing"
     -1.5 (all times the sign of X);
   - *middles* score 0: neither, (about) the same, no change, no difference, no effect, no
     impact, not affected, does not matter, don't mind, about right, right amount, "as X
     as", "about as", equally, average, hard to say, tolerates; so does "no X" when X is no
     scale word ("No influence", "No effort": an absence, not the far end);
   - *excess*: "too X" +1, "too little / few / small" and "not X enough" -1, "enough" 0.

   The question is ordinal only when every substantive option scores, no option is longer
   than 8 words, and all options that are not middles say the same thing apart from scale
   words: what is left of each after removing lexicon words, function words and a few
   nouns scales repeat (influence, role, job, thing, place, ...) -- its *residue* -- is the
   same word sequence for all ("Good for the U.S. / Bad for the U.S." passes; "Men generally
   have more influence / Women generally have more influence" does not, nor does "Morally
   acceptable / Morally unacceptable / Not a moral issue", nor a Likert list with an extra
   "Never heard of"), and at least two scores differ. Distinct scores give the order,
   sorted in the direction the published list mostly runs ("Better, Worse, About the
   same" becomes Better, About the same, Worse; "Very big problem, Not a problem at all,
   Moderately big problem, Small problem" is sorted into place). Tied scores are
   ambiguous: the published order is kept when the scores along it are monotone and the
   tied options read as one point (the scale words of one contain the other's: "Very
   serious" / "Very serious problem" from two survey waves; "Very much" / "A great
   deal"); otherwise the question is nominal ("A lot of confidence, Very favorable, Some
   confidence, ..." merges two scales into one list). Options that answer yes or no
   ("Yes, likely / No, not likely"; "Justified / Not justified") are nominal: see below.
3. **Everything else is nominal**, with the published order of the substantive options.

Decisions worth knowing:

- *Yes/No is nominal.* A yes/no answer is a choice between two statements, not two points
  of a graded scale, so "Yes / No" and "Yes, X / No, Y" (any question whose options start
  with both "Yes" and "No") are nominal, and so are two options of which one is the other
  negated, the same words but for not/no/do ("Justified / Not justified", "Growing problem
  / Not a growing problem", "Like pace of modern life / Do not like pace of modern life",
  "Will / Will not"): the question asks "X or not?". Other two-option questions are
  classified like any other ("Approve / Disapprove", "Good / Bad", "Stronger / Weaker" are
  two-point scales: two antonyms, not a statement and its denial); for two options the flag
  cannot matter to option orders (the published order and its reverse are the only ones)
  and 1 - Wasserstein on two points is 1 - total variation distance.
- *Antonyms make a scale, named sides do not.* "More of a partner / More of an enemy /
  Neither" and "One of cooperation / One of hostility / Neither" are one line with a
  middle, like "Good / Bad / Neither"; "Men generally have more influence / Women ... /
  About the same", "Fair / Favor Israel / Favor Palestinians" and lists of parties or
  countries name sides to take and stay nominal (their residues differ).
- *Conservative.* A wrong "ordinal" forbids the rotations an order-averaged estimate needs
  and puts a meaningless distance on the question; a missed one only costs the ordinal
  metric. Unknown words, statements, lists that add a non-scale option to a scale ("Never
  heard of", "No job", "Climate change does not exist (Vol.)", "this is not government's
  responsibility") and mixed residues are nominal.
- *Direction.* Numeric scales run low to high; word scales keep the direction the published
  list reads (a published "Very favorable .. Very unfavorable" stays high to low). Only
  positions matter to a distance, and an estimator shows both directions.

Measured on the data (tests/core/test_ordinal.py pins the numbers): 141 of the sample's 189
questions are ordinal, and 1,922 of the 2,556 questions of the published list (the
full-shape file carries their real options): 345 of them two-point scales, 1,577 of the
1,758 questions with three or more substantive options.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from core.dataset import Dataset


@dataclass(frozen=True)
class Scale:
    """What a question's options are, as far as their order goes.

    Attributes:
        ordinal: True when the substantive options form an ordered scale.
        order: indices (into the published options) of the substantive options, in scale
            order for an ordinal question (low to high for a numeric scale, the published
            direction for a word scale), in published order for a nominal one. Never holds
            a non-substantive option; always a permutation of the substantive indices.
        reason: a short phrase saying why, e.g. ``"numeric scale 0-10"``, ``"word scale:
            good/bad"``, ``"override"``, ``"nominal: no scale pattern"``.
    """

    ordinal: bool
    order: tuple[int, ...]
    reason: str


OVERRIDES: dict[str, bool] = {
    # "Do you think China will replace the U.S. as the world's leading superpower in the next
    # 10 years, the next 20 years, the next 50 years, or ... will not replace the U.S.?"
    # Next 10 / 20 / 50 years / will not replace: a time scale with "never" at its far end,
    # published in order; the numbers sit inside the words, so rule 1 cannot read it.
    "0d6053729b44": True,
    # "Democracy in the United States..." Is a good example for other countries to follow /
    # Used to be a good example, but has not been in recent years / Has never been a good
    # example: one judgement graded from now through formerly to never, published in order.
    "28e0c1536c68": True,
    # "Do you think that the war in Syria will end in the next year, end in the next five
    # years, or will it continue for more than five years?" A time scale, published in order.
    "2ba5f6b90b54": True,
    # "On balance, do you think of China as a partner of the United States, as a competitor
    # ... or as an enemy ...?" Partner / Competitor / Enemy: one line from friend to foe,
    # published in order ("competitor" is no lexicon word; "None/All of the above (VOL)" are
    # non-substantive).
    "843a1f61ca93": True,
    # "Which statement best describes your views about the future of the European Union?"
    # Transfer more powers to the EU / keep the current division / return some powers to
    # national governments: more, same, less EU, published in order; long statements that
    # rule 2 does not read.
    "df79a59fee0d": True,
}
"""Question key (:func:`core.dataset.question_key`) -> ordinal, where the heuristic is wrong.

An override to True keeps the heuristic's order when it found one and otherwise takes the
published order of the substantive options, so only add questions whose published order
is the scale order. Keys are the real questions' keys (text and options); see
tests/core/test_ordinal.py for why each entry is here.
"""


def scale(options: Sequence[str], nonsubstantive: Sequence[bool], key: str = "") -> Scale:
    """Classify a question's options as an ordinal scale or nominal, with their order.

    Args:
        options: the options as display strings, in published order (numeric options as
            :func:`core.dataset.option_text` writes them: ``"0"``, ``"10"``).
        nonsubstantive: one flag per option, True for DK/Refused-like options; these are
            left out of the scale and of ``order``.
        key: the question's key; when it is in :data:`OVERRIDES` the override decides the
            flag (reason ``"override"``).

    Returns:
        The :class:`Scale`: the flag, the substantive indices in scale (or published)
        order, and the rule that decided.

    Raises:
        ValueError: ``options`` and ``nonsubstantive`` differ in length.
    """
    if len(options) != len(nonsubstantive):
        raise ValueError(
            f"{len(options)} options but {len(nonsubstantive)} non-substantive flags; "
            "give one flag per option"
        )
    found = _classify(tuple(str(o) for o in options), tuple(bool(f) for f in nonsubstantive))
    if key and key in OVERRIDES:
        wanted = OVERRIDES[key]
        if wanted == found.ordinal:
            return Scale(found.ordinal, found.order, "override")
        published = tuple(i for i, flag in enumerate(nonsubstantive) if not flag)
        return Scale(wanted, published, "override")
    return found


def ordinal_count(dataset: Dataset) -> int:
    """How many of ``dataset``'s questions are ordinal (overrides included)."""
    count = 0
    for pos in range(len(dataset)):
        k = int(dataset.n_options[pos])
        flags = [bool(f) for f in dataset.nonsubstantive[pos, :k]]
        if scale(dataset.options[pos], flags, dataset.keys[pos]).ordinal:
            count += 1
    return count


# --------------------------------------------------------------------------- classification


@lru_cache(maxsize=4096)
def _classify(options: tuple[str, ...], nonsubstantive: tuple[bool, ...]) -> Scale:
    substantive = tuple(i for i, flag in enumerate(nonsubstantive) if not flag)
    if len(substantive) < 2:
        return Scale(False, substantive, "nominal: fewer than two substantive options")
    texts = [options[i] for i in substantive]
    known = _known_scale(texts)
    if known is not None:
        positions, name = known
        return Scale(True, tuple(substantive[p] for p in positions), f"known scale: {name}")
    numeric = _numeric_scale(texts)
    if numeric is not None:
        positions, reason = numeric
        return Scale(True, tuple(substantive[p] for p in positions), reason)
    worded = _word_scale(texts)
    if isinstance(worded, str):
        return Scale(False, substantive, worded)
    positions, reason = worded
    return Scale(True, tuple(substantive[p] for p in positions), reason)


# --------------------------------------------------------------------------- known scales


def _plain(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split()).casefold()


_KNOWN: tuple[tuple[str, str], ...] = (
    # name, the substantive options in scale order (whatever order they are published in),
    # joined by " | "
    ("political action", "Have done | Might do | Would never do"),
    (
        "political action",
        "Have done in the past year | Have done in the more distant past | "
        "Have not done, but might do | Have not done and would never do",
    ),
    (
        "political action",
        "Have done in the past year | Have done in the more distant past | "
        "Have not done, but might do | Have not done and would never, under any circumstances, do",
    ),
    (
        "priority",
        "Top priority | Important but lower priority | Not too important | "
        "Should not work on this issue",
    ),
    (
        "priority",
        "Top priority | Important but lower priority | Not too important | Should not be done",
    ),
    (
        "essential characteristic of democracy 0-10",
        "It is against democracy (spontaneous) | Not an essential characteristic of democracy | "
        "2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | An essential characteristic of democracy",
    ),
    ("men-women 1-9", "Men | 2 | 3 | 4 | Both Equally | 6 | 7 | 8 | Women"),
    (
        "frequency",
        "More than once a week | Once a week | Once or twice a month | A few times a year | "
        "Seldom | Never",
    ),
    (
        "frequency",
        "Several times a day | Once a day | Several times a week | Once a week | "
        "Several times a month | Once a month | Less than once a month | Never",
    ),
    (
        "how much change is needed",
        "It needs to be completely reformed | It needs major changes | It needs minor changes | "
        "It doesn't need to be changed",
    ),
    (
        "immigration policy",
        "Let anyone come who wants to | Let people come as long as there are jobs available | "
        "Place strict limits on the number of foreigners who can come here | "
        "Prohibit people coming here from other countries",
    ),
    (
        "revolution, reform or defence",
        "The entire way our society is organized must be radically changed by revolutionary "
        "action | Our society must be gradually improved by reforms | Our present society must "
        "be valiantly defended against all subversive forces",
    ),
    # Published out of scale order, with wording no rule reads as one scale:
    # "Does our government go along with U.S. policies too much, not enough, or deal with the
    # U.S. just about right?" (published: too much, not enough, about right)
    ("too much/about right", "Go along too much | Deal with the US about right | Not enough"),
    # "Does trade with other countries lead to job creation in your country, job losses, or
    # does it not make a difference?" (published: creation, losses, no difference)
    ("job creation/losses", "Job creation | Does not make a difference | Job losses"),
    # "China will eventually replace the U.S. as the world's leading superpower; China has
    # already replaced ...; or China will never replace ..." (published: eventually, already,
    # never)
    (
        "China replacing the U.S.",
        "Has already replaced US | Will eventually replace US | Will never replace US",
    ),
    # "Should [the U.S.] be the SINGLE world leader, or ... play a SHARED leadership role, or
    # ... not play any leadership role?" Two survey waves' wordings merged into one list and
    # published wave after wave (single, shared, none, single, shared, none).
    (
        "leadership role",
        "Be the single world leader | Single leader | Play a shared leadership role | "
        "Shared leadership | Not play any leadership role | No leadership",
    ),
)
_KNOWN_SCALES: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {
    tuple(sorted(_plain(o) for o in options.split(" | "))): (
        name,
        tuple(_plain(o) for o in options.split(" | ")),
    )
    for name, options in _KNOWN
}
"""Published scales the rules below cannot read: the sorted substantive options -> the name
and the options in scale order."""


def _known_scale(texts: Sequence[str]) -> tuple[tuple[int, ...], str] | None:
    """Rule 0: the positions of ``texts`` in the known scale's order and its name, or None.

    Matched on the exact wording of the substantive options, in whatever order they are
    published; the table gives the order ("Might do, Have done, Would never do" is put as
    Have done, Might do, Would never do).
    """
    plain = [_plain(t) for t in texts]
    found = _KNOWN_SCALES.get(tuple(sorted(plain)))
    if found is None:
        return None
    name, in_order = found
    return tuple(sorted(range(len(plain)), key=lambda i: in_order.index(plain[i]))), name


# --------------------------------------------------------------------------- rule 1: numbers

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_PLAIN_NUMBER = re.compile(rf"^{_NUMBER}$")
_NUMBERED_LABEL = re.compile(rf"^({_NUMBER})\s+[^\W\d]")
_RANGE = re.compile(rf"^({_NUMBER})\s*(?:-|–|to)\s*({_NUMBER})$|^({_NUMBER})\s*\+$")


def _as_number(text: str) -> float | None:
    """A plain number, a range (its lower end) or a leading number with a gloss; else None."""
    t = text.strip()
    if _PLAIN_NUMBER.match(t):
        value = float(t)
        return value if math.isfinite(value) else None
    match = _RANGE.match(t)
    if match:
        low, high, open_end = match.groups()
        if open_end is not None:
            return float(open_end)
        return float(low) if float(low) <= float(high) else None
    match = _NUMBERED_LABEL.match(t)
    if match:
        return float(match.group(1))
    return None


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _numeric_scale(texts: Sequence[str]) -> tuple[tuple[int, ...], str] | None:
    """Rule 1: the positions of ``texts`` in numeric order and a reason, or None."""
    values = [_as_number(t) for t in texts]
    plain = [i for i, t in enumerate(texts) if _PLAIN_NUMBER.match(t.strip())]
    labels = [i for i, v in enumerate(values) if v is None]
    if not labels:
        numbers = [v for v in values if v is not None]
        if len(set(numbers)) != len(numbers):
            return None
        if not plain and not any(_RANGE.match(t.strip()) for t in texts):
            return None  # numbered statements only ("2011 earthquake", ...): not a scale
        order = tuple(sorted(range(len(texts)), key=lambda i: numbers[i]))
        if any(_RANGE.match(t.strip()) for t in texts):
            first, last = texts[order[0]].strip(), texts[order[-1]].strip()
            return order, f"numeric ranges {first} .. {last}"
        return order, f"numeric scale {_fmt(min(numbers))}-{_fmt(max(numbers))}"
    if len(labels) > 2 or len(plain) < 2 or len(plain) + len(labels) != len(texts):
        return None
    numbers = sorted(float(texts[i]) for i in plain)
    if not all(n.is_integer() for n in numbers):
        return None
    low, high = int(numbers[0]), int(numbers[-1])
    if [int(n) for n in numbers] != list(range(low, high + 1)):
        return None  # a gap: some other option stands in the middle ("Both equally")
    ends = _place_labels(texts, labels, low, high)
    if ends is None:
        return None
    value = {i: float(texts[i]) for i in plain}
    for i, end in ends.items():
        value[i] = low - 1.0 if end == "low" else high + 1.0
    order = tuple(sorted(range(len(texts)), key=lambda i: value[i]))
    span = (min(value.values()), max(value.values()))
    return order, f"numeric scale {_fmt(span[0])}-{_fmt(span[1])} with worded ends"


_End = Literal["low", "high"]


def _place_labels(
    texts: Sequence[str], labels: Sequence[int], low: int, high: int
) -> dict[int, _End] | None:
    """Which end each worded label stands for, or None when a label cannot be placed.

    A label is placed by position when the numbers published next to it are just the
    smallest or just the largest one ("Completely agree, 2, .., 9, Completely disagree" puts
    agree at 1, whatever the words mean). A label that its position does not place is placed
    by meaning, when both labels have a word score (rule 2, middles excluded) and the scores
    differ. Two labels must end up at different ends.
    """

    def by_position(i: int) -> _End | None:
        beside = {
            float(texts[j])
            for j in (i - 1, i + 1)
            if 0 <= j < len(texts) and _PLAIN_NUMBER.match(texts[j].strip())
        }
        if beside == {low}:
            return "low"
        if beside == {high}:
            return "high"
        return None

    ends = {i: end for i in labels if (end := by_position(i)) is not None}
    if len(ends) < len(labels):
        if len(labels) != 2:
            return None
        a, b = labels
        first, second = _word_point(texts[a]), _word_point(texts[b])
        if first is None or second is None or first.value == second.value:
            return None
        meaning: dict[int, _End] = (
            {a: "low", b: "high"} if first.value < second.value else {a: "high", b: "low"}
        )
        for i in labels:
            if i in ends and ends[i] != meaning[i]:
                return None  # position and meaning disagree: trust neither
            ends[i] = meaning[i]
    if len(set(ends.values())) != len(labels):
        return None  # two labels at the same end
    return ends


# --------------------------------------------------------------------------- rule 2: words

# Multi-word expressions, rewritten to one token before scoring (longest first).
_PHRASES: tuple[tuple[str, str], ...] = (
    ("quite a lot", "quitealot"),
    ("a great deal", "greatdeal"),
    ("great deal", "greatdeal"),
    ("a good deal", "gooddeal"),
    ("a fair amount", "fairamount"),
    ("fair amount", "fairamount"),
    ("only a little", "alittle"),
    ("a little", "alittle"),
    ("very little", "verylittle"),
    ("very few", "veryfew"),
    ("only a few", "onlyfew"),
    ("hardly any", "hardly"),
    ("a lot", "alot"),
    ("lots", "alot"),
    ("very much", "verymuch"),
    ("above average", "aboveaverage"),
    ("below average", "belowaverage"),
    ("only fair", "onlyfair"),
    ("losing ground", "losingground"),
    ("making progress", "progress"),
    ("at all", "atall"),
    ("further apart", "apart"),
    ("united states", "unitedstates"),
    ("united nations", "unitednations"),
    ("united kingdom", "unitedkingdom"),
    ("do not mind", "tolerate"),
)

# Polar words: sign (+1/-1) and, for a few, a built-in intensity.
_POLAR: dict[str, tuple[int, float | None]] = {}


def _polar(sign: int, words: str, intensity: float | None = None) -> None:
    for word in words.split():
        _POLAR[word] = (sign, intensity)


_polar(
    +1,
    "favorable favourable favorably favourably good better agree agrees approve approves "
    "approved support supports supported favor favors favour favours satisfied likely "
    "positive positively optimistic acceptable justified justifiable effective successful "
    "easy helpful help helps helped benefit benefits beneficial increase increases increased "
    "increasing improve improves improved improving stronger strengthened strong more greater "
    "larger large bigger big higher high rising growing progress succeed safer safe closer "
    "important concerned worried interested confident confidence serious problem problems "
    "threat danger close closely reliable trust respect excited priority well liked like "
    "happy fair united active peaceful democratic frequently aboveaverage right benefiting "
    "partner cooperation",
)
_polar(
    -1,
    "unfavorable unfavourable unfavorably unfavourably bad worse disagree disagrees disapprove "
    "disapproves oppose opposes opposed dissatisfied unsatisfied unlikely negative negatively "
    "pessimistic unacceptable unjustified unjustifiable ineffective unsuccessful difficult "
    "harmful hurt hurts harm harms decrease decreases decreased decreasing declining reduced "
    "lessen worsen worsens worsened weaker weakened weak less fewer lesser smaller small lower "
    "low fail unsafe dangerous distrust disliked dislike unhappy unfair unfairly divided "
    "inactive losingground belowaverage wrong disappointed apart enemy hostility",
)
_polar(+1, "excellent best", 2.0)
_polar(-1, "poor poorly")
_polar(-1, "worst", 2.0)

# Intensity words (the first one in an option counts).
_INTENSITY: dict[str, float] = {}


def _intensity(value: float, words: str) -> None:
    for word in words.split():
        _INTENSITY[word] = value


_intensity(3.0, "all")
_intensity(2.5, "most")
_intensity(
    2.0,
    "very extremely strongly completely totally absolutely definitely entirely highly much "
    "alot greatdeal verymuch major great top always actively",
)
_intensity(1.5, "quitealot many usually gooddeal")
_intensity(
    1.0,
    "somewhat fairly mostly moderately moderate rather quite probably some something "
    "fairamount often medium",
)
_intensity(0.5, "alittle little slightly minor sometimes few onlyfew")
_intensity(0.25, "verylittle veryfew hardly")

_NEGATORS = frozenset({"not", "no", "never", "none", "nothing", "rarely", "seldom"})
_FUNCTION_WORDS = frozenset(
    "a an the of to in on for at by with from as than and or but it its is are was were be "
    "been being has have had do does did will would should can could this that these those "
    "there their they them our my your his her we you i me one just only about so generally "
    "still".split()
)
# Nouns a scale repeats around its degree words; they do not make options differ.
_SCALE_NOUNS = frozenset(
    "influence role job thing idea place effect impact difference change changes priorities "
    "effort reason ally member belong amount extent".split()
)
_MIDDLE = re.compile(
    r"\b(neither|same|no changes?|not (?:\w+ )?change|no difference|not much difference"
    r"|not make (?:a|any|much) difference|makes? no difference|no (?:real )?effect|no impact"
    r"|not affected|not matter|about right|right amount|as \w+ as|about as|equally|average|hard to say"
    r"|not changed|unchanged|current level|onlyfair|tolerates?)\b"
)
_NOT_RESIDUE = (
    frozenset(_POLAR)
    | frozenset(_INTENSITY)
    | _NEGATORS
    | _FUNCTION_WORDS
    | _SCALE_NOUNS
    | {"atall", "too", "enough"}
)
_MAX_WORDS = 8

_Kind = Literal["middle", "point"]


@dataclass(frozen=True)
class _Point:
    """One option on the word line: its score, whether it is a middle, and its residue."""

    value: float
    kind: _Kind
    residue: tuple[str, ...]
    polar: tuple[str, ...]
    excess: bool = False


def _tokens(text: str) -> list[str]:
    t = text.casefold().replace("\u2019", "'").replace("\u2018", "'")
    t = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", t)  # "(VOL.)", "[ONLY IF VOLUNTEERED]"
    t = re.sub(r"\bcan't\b|\bcannot\b", "can not", t)
    t = re.sub(r"\bwon't\b", "will not", t)
    t = re.sub(r"n't\b", " not", t)
    t = re.sub(r"[^\w']+", " ", t)
    t = " " + " ".join(t.split()) + " "
    for phrase, token in _PHRASES:
        t = t.replace(f" {phrase} ", f" {token} ")
    return t.split()


def _score(text: str) -> _Point | None:
    """Rule 2 for one option: its place on the word line, or None when it has none."""
    words = _tokens(text)
    if not words or len(words) > _MAX_WORDS:
        return None
    joined = " ".join(words)
    polar = [w for w in words if w in _POLAR]
    degree = next((_INTENSITY[w] for w in words if w in _INTENSITY), None)
    negated = any(w in _NEGATORS for w in words)
    residue = tuple(w for w in words if w not in _NOT_RESIDUE)
    sign = 1
    for w in polar:
        sign *= _POLAR[w][0]
    built_in = next((_POLAR[w][1] for w in polar if _POLAR[w][1] is not None), None)

    def point(value: float, kind: _Kind = "point", excess: bool = False) -> _Point:
        return _Point(value, kind, residue, tuple(polar), excess)

    if negated and "atall" in words:
        return point(-2.0 * sign)
    if re.search(r"\bnot\b.*\benough\b", joined) or re.search(
        r"\btoo (little|few|small|weak|low|slow|slowly)\b", joined
    ):
        return point(-1.0, excess=True)
    if re.search(r"(?<!not )\btoo\b", joined):
        return point(1.0 * sign, excess=True)
    if _MIDDLE.search(joined) or (words[0] == "no" and len(words) > 1 and not polar):
        return point(0.0, "middle")
    if "enough" in words and not negated:
        return point(0.0, "middle")
    if "never" in words:
        return point(-2.0 * sign)
    if re.search(r"\bnot (too|very|so|that|quite|particularly|much)\b", joined) or (
        "not" in words and "verymuch" in words
    ):
        return point(-1.0 * sign)
    if "rarely" in words or "seldom" in words:
        return point(-1.0 * sign)
    if negated:
        return point(-(degree if degree is not None else 1.5) * sign)
    if not polar and degree is None:
        return None
    size = degree if degree is not None else (built_in if built_in is not None else 1.0)
    return point(size * sign)


def _word_point(text: str) -> _Point | None:
    """A worded end's score for rule 1: a scored option that is not a middle."""
    point = _score(text)
    return point if point is not None and point.kind == "point" else None


_NEGATION_ONLY = frozenset({"not", "no", "do", "does", "did", "a", "an", "the"})


def _is_yes_no(texts: Sequence[str]) -> bool:
    """Options that answer yes or no: some start with "Yes" and some with "No", or there are
    two and one is the other negated ("Justified / Not justified", "Growing problem / Not a
    growing problem", "Like X / Do not like X", "Will / Will not")."""
    tokens = [_tokens(t) for t in texts]
    firsts = {(words or [""])[0] for words in tokens}
    if "yes" in firsts and "no" in firsts:
        return True
    if len(tokens) != 2:
        return False
    negated = [bool({"not", "no"} & set(words)) for words in tokens]
    if negated[0] == negated[1]:
        return False
    bare = [[w for w in words if w not in _NEGATION_ONLY] for words in tokens]
    return bool(bare[0]) and bare[0] == bare[1]


def _word_scale(texts: Sequence[str]) -> tuple[tuple[int, ...], str] | str:
    """Rule 2: (positions in scale order, reason), or the reason it is nominal."""
    if _is_yes_no(texts):
        return "nominal: yes/no answers"
    points = [_score(t) for t in texts]
    if any(p is None for p in points):
        return "nominal: no scale pattern"
    scored = [p for p in points if p is not None]
    residues = {p.residue for p in scored if p.kind == "point"}
    if len(residues) > 1:
        return "nominal: options differ in more than degree"
    values = [p.value for p in scored]
    if len(set(values)) < 2:
        return "nominal: no scale pattern"
    if len(set(values)) < len(values):
        if not _same_points(scored):
            return "nominal: tied options from different scales"
        rising = all(a <= b for a, b in zip(values, values[1:], strict=False))
        falling = all(a >= b for a, b in zip(values, values[1:], strict=False))
        if not (rising or falling):
            return "nominal: tied scale scores out of order"
        order = tuple(range(len(texts)))
        return order, f"{_describe(scored, order)} (published order)"
    trend = sum(
        (values[j] > values[i]) - (values[j] < values[i])
        for i in range(len(values))
        for j in range(i + 1, len(values))
    )
    order = tuple(sorted(range(len(values)), key=lambda i: values[i], reverse=trend < 0))
    return order, _describe(scored, order)


def _same_points(points: Sequence[_Point]) -> bool:
    """True when every two options with the same score read as one point of one scale: the
    scale words of one contain the other's ("Very serious" and "Very serious problem"; not
    "A lot of confidence" and "Very favorable", two scales merged into one list)."""
    for i, a in enumerate(points):
        for b in points[i + 1 :]:
            if a.value == b.value:
                wa, wb = set(a.polar), set(b.polar)
                if not (wa <= wb or wb <= wa):
                    return False
    return True


def _describe(points: Sequence[_Point], order: Sequence[int]) -> str:
    """The reason of a word scale: its polar words in scale order, or the kind of scale."""
    if any(p.excess for p in points):
        return "word scale: too much/about right"
    words = dict.fromkeys(w for i in order if points[i].kind == "point" for w in points[i].polar)
    if not words:
        return "word scale: amounts"
    described = "/".join(words)
    if len(described) > 40:
        described = described[:37].rsplit("/", 1)[0] + "/..."
    return f"word scale: {described}"
