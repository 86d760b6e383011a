"""core.runs: naming, planning, loading, comparing runs and choosing a reference, checked
against hand computations on a four-question dataset whose answers the tests store directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.runs import MODEL, OTHER, ROWS, Fake, hand_scores, hand_similarity, put_run

from core import countries, dataset, metrics, runner, runs, stats
from core.backends.base import Answer
from core.prompts import Condition
from core.store import QuestionFilter, RunManifest, Selection, Store, StoreError


@pytest.fixture
def tiny(write_csv: Callable[..., Path]) -> dataset.Dataset:
    return dataset.load(str(write_csv(ROWS, "tiny.csv")))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def shown(scores: metrics.Scores) -> dict[str, float]:
    return {c.country: c.similarity for c in scores.countries}


# --------------------------------------------------------------------------- naming


def test_one_naming_scheme_for_single_runs_and_experiments() -> None:
    when = datetime(2026, 11, 22, 9, 30, 59)
    assert runs.run_name(Condition("default"), "local", when=when) == "default-local-20261122-0930"
    assert (
        runs.run_name(Condition("country", "South Korea"), "vllm", when=when)
        == "country-South_Korea-vllm-20261122-0930"
    )
    assert (
        runs.run_name(Condition("language", "ru"), "x", when=when) == "language-ru-x-20261122-0930"
    )
    # A name made the same minute is never reused: a new run must not resume an old one.
    taken = {"default-local-20261122-0930", "default-local-20261122-0930-2"}
    assert runs.run_name(Condition("default"), "local", when=when, taken=taken) == (
        "default-local-20261122-0930-3"
    )
    # An experiment's runs have stable names (no time), so running it again resumes them.
    assert runs.run_name(Condition("country", "Russia"), prefix="exp-local") == (
        "exp-local-country-Russia"
    )
    assert runs.run_name(Condition("default"), prefix="exp-local", taken={"exp-local-default"}) == (
        "exp-local-default"
    )


# --------------------------------------------------------------------------- planning


@pytest.fixture
def odd(write_csv: Callable[..., Path]) -> dataset.Dataset:
    """Five questions; the second has no text, so it cannot be asked."""
    rows = list(ROWS) + [("Is it E?", {"Russia": [0.5, 0.5]}, ["On", "Off"], "GAS")]
    rows[1] = ("", rows[1][1], rows[1][2], rows[1][3])
    return dataset.load(str(write_csv(rows, "odd.csv")))


def test_a_plan_leaves_out_what_cannot_be_asked_before_the_limit(odd: dataset.Dataset) -> None:
    plan = runs.plan_run(
        odd,
        range(5),
        condition=Condition("country", "Russia"),
        backend_name="local",
        template="v2",
        policy="drop",
        limit=3,
        selection=Selection(filters=QuestionFilter(limit=3)),
        concurrency=2,
        max_retries=1,
        max_off_option=0.3,
    )
    assert plan.positions == (0, 2, 3)  # 1 left out first, then the first three of the rest
    assert [p for p, _ in plan.skipped] == [1]
    assert "empty question text" in plan.skipped[0][1]
    assert (plan.template, plan.policy, plan.condition) == (
        "v2",
        "drop",
        Condition("country", "Russia"),
    )
    assert (plan.concurrency, plan.max_retries, plan.max_off_option) == (2, 1, 0.3)
    assert plan.selection == Selection(filters=QuestionFilter(limit=3))
    # No name given: the default scheme, unique among the names taken.
    assert plan.name.startswith("country-Russia-local-")
    named = runs.plan_run(
        odd, [0], condition=Condition("default"), backend_name="b", template="paper",
        policy="keep", name="  mine ",
    )  # fmt: skip
    assert named.name == "mine"
    taken_base = runs.run_name(Condition("default"), "b")
    again = runs.plan_run(
        odd, [0], condition=Condition("default"), backend_name="b", template="paper",
        policy="keep", taken={taken_base},
    )  # fmt: skip
    assert again.name == f"{taken_base}-2"


def test_a_plan_with_nothing_to_ask_says_why(odd: dataset.Dataset) -> None:
    with pytest.raises(runs.NothingToRunError) as info:
        runs.plan_run(
            odd, [1], condition=Condition("default"), backend_name="b", template="paper",
            policy="keep",
        )  # fmt: skip
    err = info.value
    assert "nothing to run" in err.message
    assert "1 question left out, cannot be asked: #" in err.message  # which, and why
    assert err.fix and err.fix in str(err)
    assert err.skipped and err.skipped[0][0] == 1
    with pytest.raises(runs.RunsError, match="policy 'maybe'"):
        runs.plan_run(
            odd, [0], condition=Condition("default"), backend_name="b", template="paper",
            policy="maybe",
        )  # fmt: skip
    with pytest.raises(ValueError, match="template"):
        runs.plan_run(
            odd, [0], condition=Condition("default"), backend_name="b", template="v9",
            policy="keep",
        )  # fmt: skip
    with pytest.raises(countries.UnknownCountryError, match="Atlantis"):
        runs.plan_run(
            odd, [0], condition=Condition("country", "Atlantis"), backend_name="b",
            template="paper", policy="keep",
        )  # fmt: skip


def test_planned_positions_read_the_app_ids_and_the_cli_filters(tiny: dataset.Dataset) -> None:
    # Selections in the shapes older versions stored them.
    read = Selection.from_manifest
    assert runs.planned_positions(tiny, read({"ids": [tiny.ids[3], tiny.ids[1], 999]})) == [3, 1]
    assert runs.planned_positions(tiny, read({"source": "GAS", "limit": 2})) == [0, 2]
    assert runs.planned_positions(tiny, read({"search": "Is it D"})) == [3]
    assert runs.planned_positions(tiny, read({"planned": 4})) is None
    # `goqa run` recorded every filter, unset ones as null: every question, as before.
    unset = {"search": None, "source": None, "country": None, "limit": 0}
    assert runs.planned_positions(tiny, read(unset)) == list(range(len(tiny)))
    assert runs.planned_positions(tiny, read({**unset, "search": ""})) == list(range(len(tiny)))


# What versions before the typed Selection wrote under "selection", caller by caller.
OLD_SELECTIONS = {
    "cli-run": {"search": "Is it", "source": "GAS", "country": None, "limit": 2, "planned": 2},
    "cli-experiment": {"experiment": "cross-national", "search": None, "source": None,
                       "limit": 0, "planned": 4},
    "tui": {"via": "tui", "ids": [3, 1], "planned": 2},
    "tui-experiment": {"experiment": "default", "via": "tui", "ids": [0], "planned": 1},
    "sensitivity": {"sensitivity_of": "base", "planned": 3},
    "script": {"via": "test", "note": {"free": "form"}, "planned": 2},
    "odd": {"ids": "not a list", "planned": "7", "via": 3},
}  # fmt: skip


def _old_manifest(name: str, selection: dict[str, Any]) -> dict[str, Any]:
    """A manifest exactly as an older goqa stored it (``asdict`` of its RunManifest)."""
    return {
        "name": name, "backend": "fake", "backend_kind": "fake", "base_url": "",
        "model": "fake-1", "mode": "completions", "condition": "default",
        "template": "paper", "template_hash": "x", "dataset": "tiny",
        "dataset_sha256": "y", "dataset_revision": "", "policy": "keep",
        "params": {"t": 1}, "selection": selection, "created_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(OLD_SELECTIONS))
def test_old_manifests_read_and_plan_as_before(
    tiny: dataset.Dataset, store: Store, name: str
) -> None:
    old = OLD_SELECTIONS[name]
    with store._tx("test") as db:  # as an older version wrote it
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?)",
            (name, json.dumps(_old_manifest(name, old)), "2026-01-01T00:00:00+00:00"),
        )
    manifest = store.manifest(name)
    summary = next(r for r in store.runs() if r.manifest.name == name)
    expected_planned = {"odd": 7}.get(name, old["planned"])
    assert summary.planned == expected_planned
    expected_positions = {
        "cli-run": [p for p in tiny.filter("Is it", "GAS", None)][:2],
        "cli-experiment": list(range(len(tiny))),
        "tui": [3, 1],
        "tui-experiment": [0],
        "sensitivity": None,
        "script": None,
        "odd": None,
    }[name]
    assert runs.planned_positions(tiny, manifest.selection) == expected_positions
    written = manifest.to_json()["selection"]
    if name == "cli-experiment":  # the filters are written whole: the unset country too
        assert written == {**old, "country": None}
    elif name == "odd":
        assert written == {"via": 3, "ids": "not a list", "planned": 7}
    else:
        assert written == old  # written back unchanged
    assert RunManifest.from_json(manifest.to_json()) == manifest


async def test_execute_makes_the_planned_run(tiny: dataset.Dataset, store: Store) -> None:
    class Answering(Fake):
        async def ask(self, prompt: Any, on_partial: Any = None) -> Answer:
            k = len(prompt.letters)
            return Answer(probs=np.full(k, 1.0 / k), off_option_mass=0.0, estimator="logits")

        async def aclose(self) -> None:
            return None

    plan = runs.plan_run(
        tiny, [0, 2], condition=Condition("default"), backend_name="fake", template="paper",
        policy="drop", name="planned", selection=Selection(via="test"),
    )  # fmt: skip
    outcome = await runs.execute(plan, tiny, Answering(), store)  # type: ignore[arg-type]
    assert (outcome.total, outcome.answered) == (2, 2)
    manifest = store.manifest("planned")
    assert (manifest.policy, manifest.selection.via, manifest.selection.planned) == (
        "drop",
        "test",
        2,
    )


# --------------------------------------------------------------------------- loading


def test_load_run_scores_match_a_hand_computation(tiny: dataset.Dataset, store: Store) -> None:
    put_run(store, tiny, "r", MODEL)
    run = runs.load_run(store, tiny, "r")
    assert run.name == "r" and run.policy == "keep" and run.statistics is None
    assert shown(run.scores) == pytest.approx(hand_scores(MODEL), abs=1e-12)
    # The uniform answer on the same questions, by hand too.
    uniform = {pos: [1 / len(ROWS[pos][2])] * len(ROWS[pos][2]) for pos in MODEL}
    assert shown(run.uniform) == pytest.approx(hand_scores(uniform), abs=1e-12)
    assert run.uniform_mean == pytest.approx(np.mean(list(hand_scores(uniform).values())))
    better = sum(hand_scores(MODEL)[c] > hand_scores(uniform)[c] for c in hand_scores(MODEL))
    assert run.n_above_uniform == better
    # Per question, for one country, most similar first.
    germany = [(p, hand_similarity(MODEL[p], ROWS[p][1]["Germany"])) for p in (0, 1, 2)]  # type: ignore[index]
    germany.sort(key=lambda x: -x[1])
    got = run.question_similarities(tiny, "Germany")
    assert [p for p, _ in got] == [p for p, _ in germany]
    assert [s for _, s in got] == pytest.approx([s for _, s in germany], abs=1e-12)
    # A country scored on fewer questions than min_questions is left out: on questions
    # 0-2, Russia and Brazil have two each, Germany three.
    put_run(store, tiny, "three", {p: MODEL[p] for p in (0, 1, 2)})
    few = runs.load_run(store, tiny, "three", min_questions=3)
    assert list(shown(few.scores)) == ["Germany"]


def test_the_policy_is_the_runs_unless_overridden(tiny: dataset.Dataset, store: Store) -> None:
    put_run(store, tiny, "d", {0: MODEL[0]}, policy="drop")
    run = runs.load_run(store, tiny, "d")
    assert run.policy == "drop"
    drop = [False, False, True]  # "DK/Refused" is non-substantive
    for country, h in ROWS[0][1].items():  # type: ignore[union-attr]
        assert run.scores.get(country).similarity == pytest.approx(  # type: ignore[union-attr]
            hand_similarity(MODEL[0], h, drop), abs=1e-12
        )
    kept = runs.load_run(store, tiny, "d", policy="keep")
    assert kept.policy == "keep"
    assert shown(kept.scores) == pytest.approx(hand_scores({0: MODEL[0]}), abs=1e-12)
    with pytest.raises(runs.RunsError):
        runs.load_run(store, tiny, "d", policy="both")
    with pytest.raises(StoreError, match="No run called 'nope'"):
        runs.load_run(store, tiny, "nope")


def test_suspect_answers_are_counted_and_left_out_unless_included(
    tiny: dataset.Dataset, store: Store
) -> None:
    put_run(store, tiny, "s", MODEL, suspect=[1, 3])
    run = runs.load_run(store, tiny, "s")
    assert (run.n_suspect, run.suspect_left_out, run.n_suspect_included) == (2, 2, 0)
    assert sorted(run.answers.positions.tolist()) == [0, 2]
    assert shown(run.scores) == pytest.approx(hand_scores(MODEL, [0, 2]), abs=1e-12)
    included = runs.load_run(store, tiny, "s", include_suspect=True)
    assert (included.suspect_left_out, included.n_suspect_included) == (0, 2)
    assert shown(included.scores) == pytest.approx(hand_scores(MODEL), abs=1e-12)
    assert run.to_json()["suspect_left_out"] == 2 and included.to_json()["suspect_left_out"] == 0


def test_nothing_to_report_says_why(tiny: dataset.Dataset, store: Store) -> None:
    put_run(store, tiny, "all-suspect", {1: MODEL[1]}, suspect=[1])
    with pytest.raises(runs.NothingToReportError, match="all suspect") as info:
        runs.load_run(store, tiny, "all-suspect").check_reportable()
    assert "--include-suspect" in info.value.fix
    runs.load_run(store, tiny, "all-suspect", include_suspect=True).check_reportable()
    put_run(store, tiny, "empty", {})
    with pytest.raises(runs.NothingToReportError, match="no answered questions yet"):
        runs.load_run(store, tiny, "empty").check_reportable()


def test_statistics_are_the_core_stats_of_the_scored_questions(
    tiny: dataset.Dataset, store: Store
) -> None:
    put_run(store, tiny, "r", MODEL, suspect=[3])
    run = runs.load_run(store, tiny, "r", statistics=True, n_resamples=50, seed=7, min_shared=1)
    st = run.statistics
    assert st is not None and st.run == "r"
    expected = stats.bootstrap(tiny, run.scores.pairs, n_resamples=50, seed=7)
    assert st.intervals == expected
    base = stats.baselines(
        tiny, np.array([0, 1, 2]), "keep", min_shared=1, model_pairs=run.scores.pairs, seed=7
    )
    assert st.baselines == base
    figures = st.diagnostics.to_json()["figures"]
    assert figures["questions answered"] == 3  # type: ignore[index]
    assert figures["suspect answers left out"] == 1  # type: ignore[index]
    assert figures["mean off-option mass"] == 0.0  # type: ignore[index]
    # The report's JSON carries the intervals and both baselines on every country.
    data = run.to_json(top=2)
    assert len(data["countries"]) == 2 and data["bootstrap"]["n_resamples"] == 50
    top = data["countries"][0]
    interval = expected.get(top["country"])
    assert interval is not None and (top["ci_low"], top["ci_high"]) == (
        interval.ci_low,
        interval.ci_high,
    )
    assert top["uniform"] == pytest.approx(base.get(top["country"]).uniform)  # type: ignore[union-attr]
    assert top["best_other"] == base.get(top["country"]).best_other  # type: ignore[union-attr]
    assert data["run"]["name"] == "r" and data["failed"] == 0 and data["suspect"] == 1
    # Shared baselines are used as given (the app caches them across runs).
    again = runs.with_statistics(tiny, run, n_resamples=50, seed=7, baselines=base)
    assert again.statistics is not None and again.statistics.baselines is base


def test_score_distributions_is_the_metric_with_its_uniform_floor(tiny: dataset.Dataset) -> None:
    positions = np.array([0, 2])
    probs = np.zeros((2, tiny.kmax))
    probs[0, :3], probs[1, :3] = MODEL[0], MODEL[2]
    scored = runs.score_distributions(tiny, positions, probs)
    assert shown(scored.scores) == pytest.approx(hand_scores(MODEL, [0, 2]), abs=1e-12)
    assert shown(scored.uniform) == shown(metrics.uniform_baseline(tiny, positions))


# --------------------------------------------------------------------------- another dataset


@pytest.fixture
def other_dataset(write_csv: Callable[..., Path]) -> dataset.Dataset:
    """Questions 0 and 3 of the tiny set (same text, options and people) and a new one."""
    rows = [ROWS[0], ROWS[3], ("Is it new?", {"Russia": [0.2, 0.8]}, ["Red", "Blue"], "WVS")]
    return dataset.load(str(write_csv(rows, "other.csv")))


def test_a_run_made_on_another_dataset_is_matched_by_question_key(
    tiny: dataset.Dataset, other_dataset: dataset.Dataset, store: Store
) -> None:
    put_run(store, tiny, "r", MODEL)
    run = runs.load_run(store, other_dataset, "r")
    match = run.match
    assert not match.same_dataset
    assert (match.matched, match.unmatched, match.total) == (2, 2, 4)
    assert (match.run_dataset, match.dataset) == (tiny.name, other_dataset.name)
    # Only the matched answers (questions 0 and 3) are scored, against the same people.
    assert shown(run.scores) == pytest.approx(hand_scores(MODEL, [0, 3]), abs=1e-12)
    note = match.note("r")
    assert f"made on dataset {tiny.name!r}" in note
    assert "2 of 4 answers match" in note and "2 are left out" in note
    assert run.to_json()["dataset_match"]["unmatched"] == 2
    # On its own dataset: nothing to say.
    assert runs.load_run(store, tiny, "r").match.note("r") == ""


def test_a_run_none_of_whose_answers_match_is_refused(
    tiny: dataset.Dataset, other_dataset: dataset.Dataset, store: Store
) -> None:
    put_run(store, tiny, "r", {1: MODEL[1], 2: MODEL[2]})
    with pytest.raises(runs.NoMatchingAnswersError) as info:
        runs.load_run(store, other_dataset, "r")
    err = info.value
    assert "None of the 2 answers of run 'r'" in err.message
    assert f"made on dataset {tiny.name!r}" in err.message
    assert f"--dataset {tiny.name}" in err.fix
    # A run with no answer at all is not "another dataset": it just has nothing yet.
    put_run(store, tiny, "fresh", {})
    assert runs.load_run(store, other_dataset, "fresh").match.total == 0


# --------------------------------------------------------------------------- comparing


def test_compare_pairs_the_shared_questions_country_by_country(
    tiny: dataset.Dataset, store: Store
) -> None:
    a_answers = {p: MODEL[p] for p in (0, 1, 2)}
    put_run(store, tiny, "a", a_answers)
    put_run(store, tiny, "b", OTHER, condition=Condition("country", "Russia"))
    comp = runs.compare_runs(store, tiny, "a", "b", n_resamples=200, seed=3)
    assert comp.positions.tolist() == [1, 2]
    assert comp.focus == ("Russia",)
    # Per country: the mean over the shared questions it has data for of B − A, by hand.
    expected = {}
    for country in ("Russia", "Germany", "Brazil"):
        diffs = [
            hand_similarity(OTHER[p], ROWS[p][1][country])  # type: ignore[index]
            - hand_similarity(a_answers[p], ROWS[p][1][country])  # type: ignore[index]
            for p in (1, 2)
            if country in ROWS[p][1]
        ]
        expected[country] = float(np.mean(diffs))
    got = {c.country: c.diff for c in comp.paired.countries}
    assert got == pytest.approx(expected, abs=1e-12)
    for country, diff in expected.items():
        assert comp.difference(country) == pytest.approx(diff, abs=1e-12)
    # How many countries B moved toward, and where each stands, from the same differences.
    assert comp.moved_toward == sum(1 for d in expected.values() if d > 0)
    by_move = sorted(expected, key=lambda c: -expected[c])
    assert [comp.rank(c) for c in by_move] == [1, 2, 3]
    assert comp.rank("Atlantis") is None
    assert shown(comp.scores_a) == pytest.approx(hand_scores(a_answers, [1, 2]), abs=1e-12)
    assert shown(comp.scores_b) == pytest.approx(hand_scores(OTHER, [1, 2]), abs=1e-12)
    # Sorted by B − A, largest first; the JSON is core.stats' with the run names.
    diffs = [c.diff for c in comp.paired.countries]
    assert diffs == sorted(diffs, reverse=True)
    data = comp.to_json()
    assert (data["label_a"], data["label_b"], data["n_shared_questions"]) == ("a", "b", 2)
    # Germany on both shared questions, largest move toward it first.
    moves = comp.question_differences(tiny, "Germany")
    assert [p for p, _, _ in moves] == sorted([1, 2], key=lambda p: -(
        hand_similarity(OTHER[p], ROWS[p][1]["Germany"])  # type: ignore[index]
        - hand_similarity(a_answers[p], ROWS[p][1]["Germany"])  # type: ignore[index]
    ))  # fmt: skip
    # The same statistics as core.stats.compare on the runs' answers.
    direct = stats.compare(
        tiny,
        runner.run_answers(store, tiny, "a"),
        runner.run_answers(store, tiny, "b"),
        n_resamples=200,
        seed=3,
        label_a="a",
        label_b="b",
    )
    assert comp.paired == direct


def test_compare_computes_each_runs_similarities_once(
    tiny: dataset.Dataset, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_run(store, tiny, "a", MODEL)
    put_run(store, tiny, "b", OTHER)
    real = metrics.pair_similarities
    model_calls: list[int] = []

    def counting(ds: Any, positions: Any, probs: Any, policy: Any = "keep") -> Any:
        uniform = metrics.uniform_probs(ds, positions)
        if not np.allclose(np.asarray(probs)[:, : uniform.shape[1]], uniform):
            model_calls.append(len(positions))
        return real(ds, positions, probs, policy)

    monkeypatch.setattr(metrics, "pair_similarities", counting)
    runs.compare_runs(store, tiny, "a", "b", n_resamples=20)
    assert model_calls == [4, 3]  # once per run, never again for the shared questions


def test_compare_uses_a_policy_for_both_and_says_what_was_left_out(
    tiny: dataset.Dataset, store: Store
) -> None:
    put_run(store, tiny, "a", MODEL, policy="drop", suspect=[2])
    put_run(store, tiny, "b", OTHER, policy="keep", suspect=[3])
    comp = runs.compare_runs(store, tiny, "a", "b", n_resamples=20)
    assert comp.a.policy == comp.b.policy == comp.paired.policy == "drop"
    assert comp.suspect_left_out == 2
    assert comp.positions.tolist() == [1]
    keep = runs.compare_runs(store, tiny, "a", "b", policy="keep", include_suspect=True)
    assert keep.paired.policy == "keep" and keep.suspect_left_out == 0
    assert keep.positions.tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="policies"):
        runs.compare_loaded(tiny, runs.load_run(store, tiny, "a"), runs.load_run(store, tiny, "b"))


def test_the_default_reference_is_the_newest_default_run_of_the_same_model(
    tiny: dataset.Dataset, other_dataset: dataset.Dataset, store: Store
) -> None:
    put_run(store, tiny, "d1-default", {0: MODEL[0]})
    put_run(store, tiny, "other-model-default", {0: MODEL[0]}, model="fake-2")
    put_run(store, other_dataset, "other-dataset-default", {0: MODEL[0]})
    put_run(store, tiny, "ru", {0: MODEL[0]}, condition=Condition("country", "Russia"))
    put_run(store, tiny, "d2-default", {0: MODEL[0]})
    put_run(store, tiny, "tr", {0: MODEL[0]}, condition=Condition("country", "Turkey"))
    listed = store.runs()
    ref = runs.default_reference(listed, "ru")
    assert ref is not None and ref.manifest.name == "d2-default"
    # A default run is compared with another default run, never with itself.
    ref = runs.default_reference(listed, "d2-default")
    assert ref is not None and ref.manifest.name == "d1-default"
    assert runs.default_reference(listed, "other-model-default") is None
    assert runs.default_reference(listed, "nope") is None
    assert runs.reference_for(store, "tr") == "d2-default"
    with pytest.raises(runs.RunsError, match="No run to compare") as info:
        runs.reference_for(store, "other-dataset-default")
    assert "goqa compare REFERENCE other-dataset-default" in info.value.fix
    with pytest.raises(StoreError, match="No run called"):
        runs.reference_for(store, "nope")
