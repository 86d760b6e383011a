"""``goqa audit``: runs of the same questions under different estimators, printed and as
JSON (the same :func:`core.audit.audit_runs` result), one run audited against its related
runs, and the bad requests (an unknown run, one run with nothing to audit against, runs with
no common question, no run at all) with their exit codes and messages."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from support.cli import flat, run_cli, run_json
from support.runs import ROWS, Fake

from core import audit, dataset, runner
from core.backends.base import Answer
from core.estimation import NO_CHOICE_PREFIX
from core.estimators import EstimatorSpec
from core.prompts import Condition
from core.store import Selection, Store


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


def put(
    store: Store,
    ds: dataset.Dataset,
    name: str,
    spec: EstimatorSpec,
    answers: Mapping[int, Answer],
    failures: Mapping[int, str] | None = None,
    *,
    model: str = "fake-1",
) -> None:
    manifest = runner.manifest_for(
        name,
        Fake(model),  # type: ignore[arg-type]
        "fake",
        Condition("default"),
        "paper",
        ds,
        "keep",
        Selection(planned=len(answers)),
        estimator=spec,
    )
    store.open_run(manifest)
    for pos, answer in answers.items():
        store.record_answer(name, ds.keys[pos], ds.ids[pos], answer)
    for pos, error in (failures or {}).items():
        store.record_failure(name, ds.keys[pos], ds.ids[pos], error)


def token(probs: Sequence[float]) -> Answer:
    return Answer(np.asarray(probs, dtype=float), 0.0, "logits")


def written(probs: Sequence[float], samples: int, refusals: int) -> Answer:
    return Answer(
        np.asarray(probs, dtype=float),
        refusals / samples,
        "sampling",
        samples=samples,
        unparseable=refusals,
        method="free-text",
        refusals=refusals,
    )


@pytest.fixture
def tiny_csv(write_csv: Callable[..., Path]) -> Path:
    """Runs ``ft`` (first-token) and ``txt`` (free-text, 4 replies each) of four questions:
    the most likely options agree on q0 and q2, not on q1; q3 has no free-text answer, its
    four replies refused; 1 + 0 + 2 + 4 = 7 of 16 replies refused."""
    path = write_csv(ROWS, "tiny.csv")
    tiny = dataset.load(str(path))
    with Store() as store:
        put(
            store,
            tiny,
            "ft",
            EstimatorSpec(),
            {0: token([0.5, 0.4, 0.1]), 1: token([0.7, 0.3]), 2: token([0.2, 0.2, 0.6]),
             3: token([0.9, 0.1])},
        )  # fmt: skip
        put(
            store,
            tiny,
            "txt",
            EstimatorSpec("free-text", samples=4),
            {0: written([0.75, 0.25, 0.0], 4, 1), 1: written([0.25, 0.75], 4, 0),
             2: written([0.0, 0.0, 1.0], 4, 2)},
            {3: f"{NO_CHOICE_PREFIX} 4 free-text replies chose an option (4 refused, 0 named "
                "no single option); the question has no free-text answer."},
        )  # fmt: skip
    return path


def test_audit_prints_the_tables_and_the_summary(
    capsys: pytest.CaptureFixture[str], tiny_csv: Path
) -> None:
    code, out, err = run_cli(
        capsys, "audit", "ft", "txt", "--dataset", str(tiny_csv), "--resamples", "50"
    )
    assert code == 0, err
    text = flat(out)
    assert "Estimator audit · 2 runs · 3 common questions · policy keep" in text
    assert "free-text (4 samples)" in text
    assert "Country similarity on the 3 common questions" in text
    assert "Questions where the estimators disagree most" in text
    for question in ("Is it A?", "Is it B?", "Is it C?"):
        assert question in text
    assert "first-token vs free-text argmax agreement (ft vs txt) 66.7% (2 of 3 questions)" in text
    assert "refusal rate (txt) 43.8% (7 of 16 replies on 4 questions; 1 with no reply" in text
    assert "caveat: 'ft' answered 4 questions, 1 of them not answered by every run" in text
    assert "Traceback" not in err


def test_audit_json_is_the_core_audit(capsys: pytest.CaptureFixture[str], tiny_csv: Path) -> None:
    data = run_json(
        capsys, "audit", "ft", "txt", "--dataset", str(tiny_csv), "--resamples", "40", "--top", "1"
    )
    with Store(read_only=True) as store:
        expected = audit.audit_runs(
            store, dataset.load(str(tiny_csv)), ["ft", "txt"], resamples=40, top=1
        ).to_json()
    assert data == json.loads(json.dumps(expected))
    assert data["first_token_vs_free_text"][0]["agree"] == 2
    assert data["refusals"][0]["refused"] == 7 and data["refusals"][0]["replies"] == 16
    assert len(data["questions"]["top"]) == 1


def test_one_run_is_audited_against_its_related_runs(
    capsys: pytest.CaptureFixture[str], tiny_csv: Path
) -> None:
    one = run_json(capsys, "audit", "ft", "--dataset", str(tiny_csv), "--resamples", "30")
    two = run_json(capsys, "audit", "ft", "txt", "--dataset", str(tiny_csv), "--resamples", "30")
    assert one == two
    code, _, err = run_cli(capsys, "audit", "txt", "--dataset", str(tiny_csv), "--resamples", "30")
    assert code == 0 and "Auditing txt against its runs with other estimators: ft." in flat(err)


def test_bad_requests_exit_with_a_message(
    capsys: pytest.CaptureFixture[str], tiny_csv: Path
) -> None:
    tiny = dataset.load(str(tiny_csv))
    with Store() as store:
        put(store, tiny, "lonely", EstimatorSpec(), {0: token([0.5, 0.4, 0.1])}, model="other")
        put(store, tiny, "q1", EstimatorSpec("verbalized"), {1: token([0.5, 0.5])}, model="other")
        put(store, tiny, "solo", EstimatorSpec("verbalized"), {0: token([0.5, 0.4, 0.1])},
            model="solo")  # fmt: skip
        put(store, tiny, "dead", EstimatorSpec("verbalized"), {}, {0: "Server error HTTP 500"})
    ds = ("--dataset", str(tiny_csv))
    code, _, err = run_cli(capsys, "audit", "ft", "nope", *ds)
    assert code == 1 and "No run called 'nope'" in err
    code, _, err = run_cli(capsys, "audit", "nope", *ds)
    assert code == 1 and "No run called 'nope'" in err
    code, _, err = run_cli(capsys, "audit", "solo", *ds)
    assert code == 1
    assert "Run 'solo' has no run to be audited against" in flat(err)
    assert "goqa audit solo OTHER_RUN" in flat(err)
    code, _, err = run_cli(capsys, "audit", "dead", *ds)  # only failures: say that, not "no run"
    assert code == 1 and "Run 'dead' has no answered question" in flat(err)
    assert "goqa report dead --failed" in flat(err)
    code, _, err = run_cli(capsys, "audit", "lonely", "q1", *ds)
    assert code == 1 and "The runs share no answered question" in flat(err)
    code, _, err = run_cli(capsys, "audit", "ft", "ft", *ds)
    assert code == 1 and "'ft' is named more than once" in flat(err)
    with pytest.raises(SystemExit) as usage:
        run_cli(capsys, "audit")
    assert usage.value.code == 2
    assert "RUN" in capsys.readouterr().err


def test_names_with_markup_are_printed_as_text(
    capsys: pytest.CaptureFixture[str], tiny_csv: Path
) -> None:
    tiny = dataset.load(str(tiny_csv))
    with Store() as store:
        put(store, tiny, "[red]x[/red]", EstimatorSpec("verbalized"), {0: token([0.1, 0.1, 0.8])})
    code, out, err = run_cli(
        capsys, "audit", "ft", "[red]x[/red]", "--dataset", str(tiny_csv), "--resamples", "20"
    )
    assert code == 0, err
    assert "[red]x[/red]" in out


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "help", "audit")
    assert code == 0 and "--include-suspect" in out and "95%" in flat(out)
