"""Experiment presets: the paper's conditions and the "did it move toward the target" summary."""

from __future__ import annotations

import numpy as np
import pytest

from core import experiments, metrics, runs
from core.prompts import Condition
from core.store import Selection


def test_presets_follow_the_paper() -> None:
    assert [str(c) for c in experiments.conditions("cross-national")] == [
        "default",
        "country:China",
        "country:Russia",
        "country:Turkey",
    ]
    assert [str(c) for c in experiments.conditions("linguistic")] == [
        "default",
        "language:ru",
        "language:zh",
        "language:tr",
    ]
    assert [str(c) for c in experiments.conditions("linguistic", ["de"])] == [
        "default",
        "language:de",
    ]
    with pytest.raises(ValueError, match="cross-national"):
        experiments.conditions("nope")


def test_run_names_are_stable_so_reruns_resume() -> None:
    # The experiments name their runs with the one naming function, and no time in it.
    assert runs.run_name(Condition("country", "Russia"), prefix="exp-local") == (
        "exp-local-country-Russia"
    )
    plan = experiments.plan("cross-national", ["Russia"], [0], backend_name="local",
                            template="paper", policy="keep")  # fmt: skip
    assert plan.run_names == ("exp-local-default", "exp-local-country-Russia")


def test_language_targets_are_the_speakers_countries(sample) -> None:
    keys = experiments.target_keys(sample, Condition("language", "ru"))
    assert "Russia" in keys and "Belarus" in keys and "Kazakhstan" in keys
    assert "China" not in keys
    # One key per country: the national sample is preferred over the non-national one.
    zh = experiments.target_keys(sample, Condition("language", "zh"))
    assert "China" in zh and "China (Non-national sample)" not in zh
    assert experiments.target_keys(sample, Condition("country", "uk")) == ["Britain"]


def _scores_toward(sample, target: str, shift: float) -> tuple[metrics.Scores, metrics.Scores]:
    """Model answers equal to ``target``'s people's, blended with uniform by ``shift``."""
    positions = np.array([p for p in range(len(sample)) if target in sample.at(p).countries])
    uniform = metrics.uniform_probs(sample, positions)
    human = np.zeros_like(uniform)
    for row, p in enumerate(positions):
        dist = sample.at(p).distribution(target)
        human[row, : len(dist)] = dist
    default = metrics.score(sample, positions, uniform)
    conditioned = metrics.score(sample, positions, (1 - shift) * uniform + shift * human)
    return default, conditioned


def test_summary_sees_a_model_move_toward_its_target(sample) -> None:
    default, conditioned = _scores_toward(sample, "Russia", 0.9)
    summary = experiments.summarise(sample, Condition("country", "Russia"), default, conditioned)
    (russia,) = summary.targets
    assert russia.country == "Russia"
    assert russia.delta > 0.1
    assert russia.rank_conditioned < russia.rank_default
    assert russia.rank_conditioned <= 3  # from 30th; a country with few questions may top it
    assert summary.moved_toward
    assert summary.moved_most[0].delta >= summary.moved_most[-1].delta


def test_summary_without_movement_says_so(sample) -> None:
    default, _ = _scores_toward(sample, "Russia", 0.0)
    summary = experiments.summarise(sample, Condition("country", "Russia"), default, default)
    assert not summary.moved_toward
    assert all(m.delta == 0 for m in summary.targets)


# --------------------------------------------------------------------------- running an experiment


class PromptHashBackend:
    """Deterministic answers from a hash of the prompt (no network, no model)."""

    kind = "fake"
    mode = "logits"
    base_url = ""
    model = "hash-1"

    def __init__(self) -> None:
        self.calls = 0

    def request_params(self) -> dict[str, object]:
        return {}

    async def ask(self, prompt, on_partial=None):  # type: ignore[no-untyped-def]
        import hashlib

        from core.backends.base import Answer

        self.calls += 1
        digest = hashlib.sha256(prompt.text.encode("utf-8")).digest()
        weights = np.array([digest[i] + 1.0 for i in range(len(prompt.letters))])
        return Answer(probs=weights / weights.sum(), off_option_mass=0.0, estimator="logits")

    async def aclose(self) -> None:
        return None


def test_plan_names_the_runs_and_checks_its_inputs() -> None:
    plan = experiments.plan(
        "linguistic", [" de ", ""], [3, 1], backend_name="vllm", template="v2", policy="drop"
    )
    assert plan.prefix == "exp-vllm"
    assert plan.run_names == ("exp-vllm-default", "exp-vllm-language-de")
    assert plan.positions == (3, 1)
    assert plan.selection == Selection(experiment="linguistic")
    default = experiments.plan(
        "default", [], [0], backend_name="x", template="paper", policy="keep"
    )
    assert default.run_names == ("exp-x-default",)
    with pytest.raises(runs.NothingToRunError, match="No question"):
        experiments.plan("default", [], [], backend_name="x", template="paper", policy="keep")
    with pytest.raises(ValueError, match="prefix"):
        experiments.plan(
            "default", [], [0], backend_name="x", template="paper", policy="keep", prefix=" "
        )
    with pytest.raises(ValueError, match="policy"):
        experiments.plan("default", [], [0], backend_name="x", template="paper", policy="nope")


def test_preflight_lists_every_missing_language_before_any_request(sample, tmp_path) -> None:
    from core.countries import UnknownCountryError
    from core.store import Store

    with Store(tmp_path / "s.sqlite3") as store:
        # The bundled ru translations cover the first 30 sample questions, de none.
        plan = experiments.plan(
            "linguistic",
            ["ru", "de"],
            list(range(25, 35)),
            backend_name="x",
            template="paper",
            policy="keep",
        )
        with pytest.raises(experiments.ExperimentTranslationsError) as caught:
            experiments.preflight(sample, plan, store)
        assert [(g.language, g.missing) for g in caught.value.gaps] == [("ru", 5), ("de", 10)]
        assert "language:ru (5 missing), language:de (10 missing)" in str(caught.value)
        ok = experiments.plan(
            "linguistic", ["ru"], list(range(5)), backend_name="x", template="paper", policy="keep"
        )
        experiments.preflight(sample, ok, store)
        typo = experiments.plan(
            "cross-national", ["Rusia"], [0], backend_name="x", template="paper", policy="keep"
        )
        with pytest.raises(UnknownCountryError):
            experiments.preflight(sample, typo, store)


async def test_run_experiment_then_summarise_runs(sample, tmp_path) -> None:
    from core import runner, stats
    from core.store import Store

    backend = PromptHashBackend()
    events: list[tuple[str, int]] = []
    with Store(tmp_path / "s.sqlite3") as store:
        plan = experiments.plan(
            "cross-national",
            ["Russia"],
            list(range(10)),
            backend_name="hash",
            template="paper",
            policy="keep",
        )
        outcomes = await experiments.run_experiment(
            sample,
            plan,
            backend,  # type: ignore[arg-type]
            store,
            on_run_started=lambda i, name, cond: events.append(("start", i)),
            on_progress=lambda i, p, fresh: events.append(("progress", i)),
            on_run_done=lambda i, o: events.append(("done", i)),
        )
        assert [o.manifest.name for o in outcomes] == list(plan.run_names)
        assert all((o.answered, o.failed) == (10, 0) for o in outcomes)
        assert events[0] == ("start", 0) and events[-1] == ("done", 1)
        assert events.count(("progress", 0)) == 10 and events.count(("progress", 1)) == 10
        assert store.manifest("exp-hash-country-Russia").selection.experiment == "cross-national"
        # Again: everything is stored, nothing is asked.
        await experiments.run_experiment(sample, plan, backend, store)  # type: ignore[arg-type]
        assert backend.calls == 20

        summary = experiments.summarise_runs(sample, store, plan.prefix, plan.conditions, "keep")
        default = runs.load_run(store, sample, "exp-hash-default").scores
        conditioned = runs.load_run(store, sample, "exp-hash-country-Russia").scores
        assert summary.default_run == "exp-hash-default"
        assert summary.default_top == default.countries[:5]
        (result,) = summary.conditions
        assert result.movement == experiments.summarise(
            sample, Condition("country", "Russia"), default, conditioned
        )
        expected = stats.compare(
            sample,
            runner.run_answers(store, sample, "exp-hash-default"),
            runner.run_answers(store, sample, "exp-hash-country-Russia"),
        )
        assert (result.n_closer, result.n_further) == (expected.n_better, expected.n_worse)
        assert result.overshoot is not None and result.overshoot.target == "Russia"
        data = summary.to_json()
        assert set(data) == {"default", "conditions", "metric"}
        entries = data["conditions"]
        assert isinstance(entries, list)
        (entry,) = entries
        assert list(entry) == [
            "condition",
            "run",
            "moved_toward_target",
            "targets",
            "moved_most",
            "countries_closer",
            "countries_further",
            "overshoot",
            "steerability",
        ]


def test_the_experiment_kind_is_checked_and_narrowed() -> None:
    assert [experiments.parse_kind(k) for k in experiments.KINDS] == list(experiments.KINDS)
    with pytest.raises(ValueError) as info:
        experiments.parse_kind("national")
    assert str(info.value) == (
        "Unknown experiment 'national': choose one of default, cross-national, linguistic."
    )
    with pytest.raises(ValueError, match="Unknown template 'v9'"):
        experiments.plan("default", [], [0], backend_name="x", template="v9", policy="keep")
    with pytest.raises(ValueError, match="Unknown template 'v9'"):
        experiments.sensitivity_variants("base", "v9")
