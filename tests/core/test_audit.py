"""core.audit: the estimator audit of runs stored with hand-built answers whose agreement
rate, refusal rate, order flips, parse rate and letter prior are known exactly; the runs it
finds for ``goqa report``; its errors; its HTML section; and one audit of runs made through
the runner against a constructed model on the loopback fake.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from support.fakeserver import FakeServer, option_texts
from support.runs import ROWS, Fake, hand_scores

from core import audit, dataset, runner, runs, stats
from core.backends import make_backend
from core.backends.base import Answer
from core.backends.retry import RetryPolicy
from core.config import BackendConfig
from core.estimation import NO_CHOICE_PREFIX
from core.estimators import EstimatorSpec
from core.prompts import Condition
from core.report_html import render_report, render_run
from core.store import Selection, Store, StoreError
from core.worldmap import load_grid

# --------------------------------------------------------------------------- stored runs

FIRST = {0: [0.5, 0.4, 0.1], 1: [0.7, 0.3], 2: [0.2, 0.2, 0.6], 3: [0.9, 0.1]}
"""The first-token run: most likely A, A, C, A."""

# Free-text, 4 replies each. q0 ties A and B (agrees with first-token's A), q1 chooses B
# (disagrees), q2 chooses C (agrees); q3 has no reply choosing an option (stored as failed).
FREE = {
    0: ("A", "B", "refused", "ambiguous"),
    1: ("B", "B", "B", "A"),
    2: ("C", "C", "refused", "refused"),
}
FREE_FAILURE = (
    f"{NO_CHOICE_PREFIX} 4 free-text replies chose an option (4 refused, 0 named no single "
    "option); the question has no free-text answer."
)

ORDER_PARTS = {
    0: ([0.6, 0.3, 0.1], [0.3, 0.6, 0.1]),  # the most likely option changes with the order
    1: ([0.7, 0.3], [0.6, 0.4]),
    2: ([0.2, 0.2, 0.6], [0.1, 0.3, 0.6]),
}
VERBAL = {0: [0.3, 0.3, 0.4], 1: [0.5, 0.5], 2: [0.1, 0.1, 0.8]}
PRIOR = {0: [0.4, 0.4, 0.2], 1: [0.6, 0.4], 2: [0.3, 0.3, 0.4], 3: [0.7, 0.3]}
CALIBRATION = {
    "method": "PriDe",
    "requests": 10,
    "by_options": {
        "2": {"prior": [0.6, 0.4], "questions": ["k1", "k3"], "size": 2, "failed": []},
        "3": {"prior": [0.5, 0.3, 0.2], "questions": ["k0"], "size": 1, "failed": []},
    },
    "missing": [],
}


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> dataset.Dataset:
    return dataset.load(str(write_csv(ROWS, "tiny.csv")))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def put(
    store: Store,
    ds: dataset.Dataset,
    name: str,
    spec: EstimatorSpec,
    answers: Mapping[int, Answer],
    failures: Mapping[int, str] | None = None,
    *,
    model: str = "fake-1",
    condition: Condition | None = None,
    calibration: dict[str, object] | None = None,
) -> None:
    """Store run ``name`` made with ``spec``: exactly these answers and failures."""
    failures = failures or {}
    manifest = runner.manifest_for(
        name,
        Fake(model),  # type: ignore[arg-type]
        "fake",
        condition or Condition("default"),
        "paper",
        ds,
        "keep",
        Selection(planned=len(answers) + len(failures)),
        estimator=spec,
    )
    store.open_run(manifest)
    if calibration is not None:
        store.set_calibration(name, calibration)
    for pos, answer in answers.items():
        store.record_answer(name, ds.keys[pos], ds.ids[pos], answer)
    for pos, error in failures.items():
        store.record_failure(name, ds.keys[pos], ds.ids[pos], error)


def first_token(probs: Sequence[float], method: str = "first-token") -> Answer:
    return Answer(np.asarray(probs, dtype=float), 0.0, "logits", method=method)


def free_text(choices: Sequence[str]) -> Answer:
    letters = [c for c in choices if len(c) == 1]
    k = 1 + max(ord(c) - 65 for c in letters)
    counts = np.zeros(max(k, 2))
    for c in letters:
        counts[ord(c) - 65] += 1
    return Answer(
        counts / counts.sum(),
        (len(choices) - len(letters)) / len(choices),
        "sampling",
        samples=len(choices),
        unparseable=len(choices) - len(letters),
        method="free-text",
        choices=tuple(choices),
        refusals=sum(c == "refused" for c in choices),
    )


def padded(ds: dataset.Dataset, pos: int, probs: np.ndarray) -> np.ndarray:
    out = np.zeros(int(ds.n_options[pos]))
    out[: len(probs)] = probs
    return out


def order_averaged(parts: Sequence[Sequence[float]]) -> Answer:
    arrays = [np.asarray(p, dtype=float) for p in parts]
    return Answer(
        np.mean(arrays, axis=0),
        0.0,
        "logits",
        method="order-averaged",
        parts=tuple(first_token(p) for p in parts),
        orders=tuple(tuple(range(len(p))) for p in parts),
    )


def free_answers(ds: dataset.Dataset) -> dict[int, Answer]:
    out = {}
    for pos, choices in FREE.items():
        a = free_text(choices)
        out[pos] = Answer(
            padded(ds, pos, a.probs),
            a.off_option_mass,
            a.estimator,
            samples=a.samples,
            unparseable=a.unparseable,
            method=a.method,
            choices=a.choices,
            refusals=a.refusals,
        )
    return out


@pytest.fixture
def five(store: Store, tiny: dataset.Dataset) -> dataset.Dataset:
    """Runs ft, oa, pc, vb, txt of the tiny dataset, one per estimator."""
    put(store, tiny, "ft", EstimatorSpec(), {p: first_token(v) for p, v in FIRST.items()})
    put(
        store,
        tiny,
        "oa",
        EstimatorSpec("order-averaged", orders=2),
        {p: order_averaged(parts) for p, parts in ORDER_PARTS.items()},
    )
    put(
        store,
        tiny,
        "pc",
        EstimatorSpec("prior-corrected", calibration=2),
        {p: first_token(v, "prior-corrected") for p, v in PRIOR.items()},
        calibration=CALIBRATION,
    )
    put(
        store,
        tiny,
        "vb",
        EstimatorSpec("verbalized"),
        {
            p: Answer(np.asarray(v), 0.0, "verbalized", method="verbalized")
            for p, v in VERBAL.items()
        },
        {3: "The model's verbalized reply could not be used: no JSON object in the reply."},
    )
    put(
        store,
        tiny,
        "txt",
        EstimatorSpec("free-text", samples=4),
        free_answers(tiny),
        {3: FREE_FAILURE},
    )
    return tiny


def distributions(ds: dataset.Dataset) -> dict[str, dict[int, np.ndarray]]:
    """Every run's stored distributions, as the audit reads them."""
    return {
        "ft": {p: np.asarray(v) for p, v in FIRST.items()},
        "oa": {p: (np.asarray(a) + np.asarray(b)) / 2 for p, (a, b) in ORDER_PARTS.items()},
        "pc": {p: np.asarray(v) for p, v in PRIOR.items()},
        "vb": {p: np.asarray(v) for p, v in VERBAL.items()},
        "txt": {p: np.asarray(a.probs) for p, a in free_answers(ds).items()},
    }


def jsd(p: np.ndarray, q: np.ndarray) -> float:
    return float(jensenshannon(p, q, base=2))


# --------------------------------------------------------------------------- the audit


def test_every_figure_of_the_audit_is_the_one_computed_by_hand(
    store: Store, five: dataset.Dataset
) -> None:
    names = ["ft", "oa", "pc", "vb", "txt"]
    result = audit.audit_runs(store, five, names, resamples=200, top=2)
    assert result.run_names == tuple(names)
    assert result.common == 3  # q3 failed in vb and txt and was not asked in oa

    by_name = {r.name: r for r in result.runs}
    assert by_name["oa"].label == "order-averaged (up to 2 orders)"
    assert by_name["txt"].label == "free-text (4 samples)"
    assert (by_name["txt"].answered, by_name["txt"].failed, by_name["txt"].scored) == (3, 1, 3)
    assert (by_name["ft"].answered, by_name["ft"].failed) == (4, 0)

    # First-token vs free-text: q0 ties A and B (half agreeing with A), q1 B vs A, q2 C.
    (pair,) = result.first_token_vs_free_text
    assert (pair.a, pair.b, pair.n, pair.agree) == ("ft", "txt", 3, 1.5)  # the tie on one question counts half
    assert pair.agreement == pytest.approx(1.5 / 3)
    # Refusals: 1 + 0 + 2 replies of the answered questions, and all 4 of q3's.
    (refusals,) = result.refusals
    assert (refusals.refused, refusals.replies, refusals.questions, refusals.no_choice) == (
        7,
        16,
        4,
        1,
    )
    assert refusals.rate == pytest.approx(7 / 16)
    # Order flips: only q0's most likely option changes between the two orders.
    (order,) = result.order
    assert (order.questions, order.flipped) == (3, 1)
    assert order.share == pytest.approx(1 / 3)
    spreads = [jsd(np.asarray(a), np.asarray(b)) for a, b in ORDER_PARTS.values()]
    assert order.mean_spread == pytest.approx(float(np.mean(spreads)), abs=1e-12)
    (parse,) = result.parse
    assert (parse.ok, parse.failed, parse.rate) == (3, 1, 0.75)
    (prior,) = result.priors
    assert [(o.options, o.prior, o.size) for o in prior.by_options] == [
        (2, (0.6, 0.4), 2),
        (3, (0.5, 0.3, 0.2), 1),
    ]

    # The same figures in words, as every front end shows them.
    assert dict(result.summary()) == {
        "mean largest JSD per question": f"{result.mean_max_distance:.3f} over 3 common questions",
        "first-token vs free-text argmax agreement (ft vs txt)": "50.0% (1.5 of 3 questions)",
        "refusal rate (txt)": "43.8% (7 of 16 replies on 4 questions; 1 with no reply choosing "
        "an option)",
        "argmax changes with the option order (oa)": "33.3% (1 of 3 questions); mean largest "
        f"JSD between orders {order.mean_spread:.3f}",
        "parse rate (vb)": "75.0% (3 of 4 replies)",
        "letter prior (pc)": "2 options: A 0.60 B 0.40 (2 calibration questions); 3 options: "
        "A 0.50 B 0.30 C 0.20 (1 calibration question)",
    }

    # Scores on the common questions, ranked by the first run; differences from it.
    dists = distributions(five)
    hand = {n: hand_scores({p: d.tolist() for p, d in dists[n].items()}, [0, 1, 2]) for n in names}
    first = [c.country for c in result.countries]
    assert first == sorted(hand["ft"], key=lambda c: -hand["ft"][c])
    for c in result.countries:
        for j, (name, score) in enumerate(zip(names, c.scores, strict=True)):
            assert score is not None and score.run == name
            assert score.similarity == pytest.approx(hand[name][c.country], abs=1e-12)
            assert score.ci_low is not None and score.ci_high is not None
            assert score.ci_low - 1e-12 <= score.similarity <= score.ci_high + 1e-12
            if j:
                assert score.diff == pytest.approx(
                    hand[name][c.country] - hand["ft"][c.country], abs=1e-12
                )
            else:
                assert score.diff is None
        values = [hand[n][c.country] for n in names]
        assert c.spread == pytest.approx(max(values) - min(values), abs=1e-12)

    # The intervals are core.stats.bootstrap's on the common questions (same seed).
    ft = runs.load_run(store, five, "ft")
    on_common = ft.scores_on(five, np.array([0, 1, 2]))
    expected = stats.bootstrap(five, on_common.pairs, n_resamples=200, seed=0)
    for c in result.countries:
        iv = expected.get(c.country)
        assert iv is not None and c.scores[0] is not None
        assert (c.scores[0].ci_low, c.scores[0].ci_high) == pytest.approx((iv.ci_low, iv.ci_high))

    # Per question: the largest distance between two runs, and which two.
    worst = {}
    for pos in (0, 1, 2):
        best = max(
            (
                (jsd(dists[a][pos], dists[b][pos]), (a, b))
                for i, a in enumerate(names)
                for b in names[i + 1 :]
            ),
            key=lambda x: x[0],
        )
        worst[pos] = best
    ranked = sorted(worst, key=lambda p: -worst[p][0])
    assert [q.position for q in result.questions] == ranked[:2]
    for q in result.questions:
        assert q.max_distance == pytest.approx(worst[q.position][0], abs=1e-12)
        assert q.pair == worst[q.position][1]
        assert q.question == ROWS[q.position][0]
        assert q.argmax[0] == "AAC"[q.position]
    assert result.mean_max_distance == pytest.approx(
        float(np.mean([w[0] for w in worst.values()])), abs=1e-12
    )
    assert len(result.pairs) == 10  # every two of five runs

    # ft and pc answered q3 too, which not every run did: said, and left out.
    assert any(
        "'ft' answered 4 questions, 1 of them not answered by every run" in c
        for c in result.caveats
    )
    assert not result.differences


def test_the_json_is_plain_and_says_the_same(store: Store, five: dataset.Dataset) -> None:
    result = audit.audit_runs(store, five, ["ft", "txt"], resamples=50, top=0)
    data = json.loads(json.dumps(result.to_json()))  # plain JSON: no numpy values
    assert data["common_questions"] == 3
    assert [r["name"] for r in data["runs"]] == ["ft", "txt"]
    assert data["runs"][1]["estimator_params"] == {"samples": 4, "seed": 0}
    assert data["first_token_vs_free_text"][0]["agreement"] == pytest.approx(1.5 / 3)
    assert data["refusals"][0]["rate"] == pytest.approx(7 / 16)
    assert data["order"] == [] and data["parse"] == [] and data["priors"] == []
    assert len(data["questions"]["top"]) == 3  # top=0 keeps every common question
    row = data["countries"][0]
    assert row["scores"][0]["run"] == "ft" and row["scores"][1]["diff"] is not None
    assert data["questions"]["top"][0]["argmax"].keys() == {"ft", "txt"}
    assert data["bootstrap"] == {"n_resamples": 50, "seed": 0, "level": 0.95}


def test_the_free_text_run_first_still_pairs_first_token_as_a(
    store: Store, five: dataset.Dataset
) -> None:
    result = audit.audit_runs(store, five, ["txt", "ft"], resamples=20)
    (pair,) = result.first_token_vs_free_text
    assert (pair.a, pair.b, pair.estimator_a, pair.agree, pair.n) == (
        "ft",
        "txt",
        "first-token",
        1.5,
        3,
    )


def test_runs_that_differ_beyond_the_estimator_are_audited_with_a_caveat(
    store: Store, tiny: dataset.Dataset
) -> None:
    put(store, tiny, "a", EstimatorSpec(), {p: first_token(v) for p, v in FIRST.items()})
    put(
        store,
        tiny,
        "b",
        EstimatorSpec("verbalized"),
        {p: first_token(v, "verbalized") for p, v in PRIOR.items()},
        model="fake-2",
        condition=Condition("country", "Russia"),
    )
    put(store, tiny, "c", EstimatorSpec(), {p: first_token(v) for p, v in PRIOR.items()})
    result = audit.audit_runs(store, tiny, ["a", "b", "c"], resamples=20)
    fields = {d.field: dict(d.values) for d in result.differences}
    assert fields["model"] == {"a": "fake-1", "b": "fake-2", "c": "fake-1"}
    assert fields["condition"]["b"] == "country:Russia"
    assert any("differ in model: a = fake-1, b = fake-2, c = fake-1" in c for c in result.caveats)
    assert any("'a' and 'c' use the same estimator (first-token)" in c for c in result.caveats)
    assert result.common == 4


def test_bad_requests_are_refused_with_a_way_out(
    store: Store, tiny: dataset.Dataset, write_csv: Callable[..., Path]
) -> None:
    put(store, tiny, "a", EstimatorSpec(), {0: first_token(FIRST[0])})
    put(store, tiny, "b", EstimatorSpec("verbalized"), {1: first_token(FIRST[1], "verbalized")})
    with pytest.raises(audit.TooFewRunsError, match="at least two runs.*got only 'a'") as one:
        audit.audit_runs(store, tiny, ["a"])
    assert "goqa audit RUN_A RUN_B" in one.value.fix
    with pytest.raises(audit.TooFewRunsError, match="'a' is named more than once"):
        audit.audit_runs(store, tiny, ["a", "a"])
    with pytest.raises(StoreError, match="No run called 'nope'"):
        audit.audit_runs(store, tiny, ["a", "nope"])
    with pytest.raises(audit.NoCommonQuestionsError, match="share no answered question") as none:
        audit.audit_runs(store, tiny, ["a", "b"])
    assert "'a' 1, 'b' 1" in none.value.message and "--include-suspect" not in none.value.fix
    # Another dataset: not the same questions.
    other = dataset.load(str(write_csv(ROWS[:3], "other.csv")))
    put(store, other, "elsewhere", EstimatorSpec("free-text"), {0: free_text("AB")})
    with pytest.raises(audit.AuditError, match="made on different datasets"):
        audit.audit_runs(store, tiny, ["a", "elsewhere"])
    assert isinstance(none.value, runs.RunsError)


def test_suspect_answers_are_left_out_unless_included(store: Store, tiny: dataset.Dataset) -> None:
    put(store, tiny, "a", EstimatorSpec(), {0: first_token(FIRST[0])})
    doubtful = Answer(
        np.asarray([0.2, 0.7, 0.1]), 0.8, "logits", suspect="off", method="verbalized"
    )
    put(store, tiny, "b", EstimatorSpec("verbalized"), {0: doubtful})
    with pytest.raises(audit.NoCommonQuestionsError) as none:
        audit.audit_runs(store, tiny, ["a", "b"])
    assert "--include-suspect" in none.value.fix
    result = audit.audit_runs(store, tiny, ["a", "b"], include_suspect=True, resamples=10)
    assert result.common == 1 and result.include_suspect
    assert result.pairs[0].agree == 0  # A against B


# --------------------------------------------------------------------------- related runs


def test_related_runs_are_the_same_questions_under_other_estimators(
    store: Store, five: dataset.Dataset
) -> None:
    tiny = five
    # Not related: another model, another condition, no answers, no question in common.
    put(store, tiny, "other-model", EstimatorSpec("free-text"), free_answers(tiny), model="x")
    put(
        store,
        tiny,
        "russia",
        EstimatorSpec("free-text"),
        free_answers(tiny),
        condition=Condition("country", "Russia"),
    )
    put(store, tiny, "empty", EstimatorSpec("free-text", samples=2), {})
    assert audit.related_runs(store, "ft") == ["oa", "pc", "vb", "txt"]
    assert audit.related_runs(store, "txt") == ["ft", "oa", "pc", "vb"]
    assert audit.related_runs(store, "other-model") == []
    with pytest.raises(StoreError, match="No run called 'nope'"):
        audit.related_runs(store, "nope")
    # A run sharing no question with the ones already taken is not added.
    put(store, tiny, "q3", EstimatorSpec("free-text", samples=9), {3: free_text("AB")})
    assert audit.related_runs(store, "ft") == ["oa", "pc", "vb", "txt"]
    assert audit.related_runs(store, "q3") == ["ft", "pc"]  # oa, vb and txt have no q3
    result = audit.report_audit(store, tiny, "ft", resamples=20)
    assert result is not None and result.run_names == ("ft", "oa", "pc", "vb", "txt")
    assert audit.report_audit(store, tiny, "other-model") is None


# --------------------------------------------------------------------------- the HTML section


def test_the_html_section_shows_the_audit_escaped(store: Store, tiny: dataset.Dataset) -> None:
    hostile = "<script>alert(1)</script>"
    put(store, tiny, hostile, EstimatorSpec(), {p: first_token(v) for p, v in FIRST.items()})
    put(store, tiny, "txt & co", EstimatorSpec("free-text", samples=4), free_answers(tiny))
    result = audit.audit_runs(store, tiny, [hostile, "txt & co"], resamples=20)
    run = runs.load_run(store, tiny, hostile, statistics=True, n_resamples=20)
    grid = load_grid("small")
    page = render_run(run, grid, audit=result)
    assert '<section id="audit"><h2>Estimator audit</h2>' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "txt &amp; co" in page and "txt & co" not in page
    assert "first-token vs free-text argmax agreement" in page and "50.0%" in page
    assert "refusal rate" in page and "25.0%" in page  # 3 of 12 replies (no failure here)
    for q in result.questions:
        assert f">{q.max_distance:.3f}<" in page
    # Without an audit the page is as before.
    plain = render_run(run, grid)
    assert 'id="audit"' not in plain
    assert plain == render_report(
        run.manifest.to_json(),
        run.to_json(),
        grid,
        diagnostics=run.statistics.diagnostics.to_json(),  # type: ignore[union-attr]
    )


def test_the_html_section_takes_partial_json() -> None:
    # The section reads only what it is given: a foreign or older audit JSON never breaks it.
    page = render_report(
        {"name": "r"},
        {"countries": []},
        load_grid("small"),
        audit={"runs": [{"name": "a"}, {"name": "<b>"}], "countries": [{"country": "X"}]},
    )
    assert 'id="audit"' in page and "&lt;b&gt;" in page and "<b>" not in page


# --------------------------------------------------------------------------- a real audit


FAST_RETRY = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.02)
CONTENT = {
    "Yes": 0.7, "No": 0.2, "DK/Refused": 0.1,
    "Agree": 0.8, "Disagree": 0.2,
    "Good": 0.6, "Bad": 0.3, "Neither": 0.1,
    "Up": 0.9, "Down": 0.1,
}  # fmt: skip
WRITES_OTHER = {"Is it B?": "Disagree", "Is it D?": "Down"}
"""Questions whose written answer is not the first token's (2 of the 4; C is refused)."""


def letter_model(key: str) -> np.ndarray:
    texts = option_texts(key)
    return np.asarray([CONTENT[texts[letter]] for letter in sorted(texts)])


def reply(user: str) -> str:
    if "Is it C?" in user:
        return "As an AI, I don't have personal opinions, so I cannot choose."
    texts = option_texts(user)
    wanted = next((w for q, w in WRITES_OTHER.items() if q in user), None)
    if wanted is None:
        wanted = max(texts.values(), key=lambda t: CONTENT[t])
    letter = next(letter for letter, text in texts.items() if text == wanted)
    return f"I would choose ({letter}) {wanted}."


async def test_an_audit_of_real_runs_reports_the_constructed_share(
    store: Store, tiny: dataset.Dataset
) -> None:
    with FakeServer(letter_model=letter_model, reply=reply) as server:
        cfg = BackendConfig("fake", "openai", base_url=server.base_url, model="m", timeout=5.0)
        backend = make_backend(cfg)
        try:
            for name, spec in (
                ("ft", EstimatorSpec()),
                ("txt", EstimatorSpec("free-text", samples=2)),
                ("oa", EstimatorSpec("order-averaged", orders=3)),
            ):
                await runner.run(
                    name=name,
                    dataset=tiny,
                    positions=[0, 1, 2, 3],
                    backend=backend,
                    backend_name="fake",
                    condition=Condition("default"),
                    template="paper",
                    store=store,
                    retry=FAST_RETRY,
                    estimator=spec,
                )
        finally:
            await backend.aclose()
    assert audit.related_runs(store, "ft") == ["oa", "txt"]
    result = audit.audit_runs(store, tiny, ["ft", "txt", "oa"], resamples=50)
    assert result.common == 3  # q2 was refused in every reply
    (pair,) = result.first_token_vs_free_text
    assert (pair.agree, pair.n) == (1, 3)  # q0 agrees; q1 and q3 were written otherwise
    (refusals,) = result.refusals
    assert (refusals.refused, refusals.replies, refusals.no_choice) == (2, 8, 1)
    # The model reads content, not letters: no order moves its most likely option.
    (order,) = result.order
    assert order.questions == 4 and order.flipped == 0
    assert order.mean_spread == pytest.approx(0.0, abs=1e-6)  # log-probabilities are rounded
    assert not result.differences
