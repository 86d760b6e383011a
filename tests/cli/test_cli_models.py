"""The ``goqa`` commands that ask models: ask, run, runs, report, export, compare, translate,
experiment and config, against a real local fake server (and the embedded SmolLM2 model)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.cli import run_cli, run_json, write_config
from support.fakeserver import FakeServer

from core import dataset, metrics
from core.prompts import Condition, render
from core.store import Store

CANARY = "sk-canary-123"
RUN_KEYS = ("run", "total", "answered", "failed", "already_done", "from_cache", "seconds")
SCORE_ROW = ["country", "display", "iso2", "similarity", "n_questions"]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A wide rich console (no wrapped messages) and a short working directory."""
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def fake(isolated_dirs: dict[str, Path], server: FakeServer) -> FakeServer:
    """The fake server, configured as backend ``fake``."""
    write_config(isolated_dirs, server)
    return server


def scored(capsys: pytest.CaptureFixture[str], name: str) -> dict[str, float]:
    report = run_json(capsys, "report", name, "--resamples", "50")
    return {r["country"]: r["similarity"] for r in report["countries"]}


# --------------------------------------------------------------------------- ask


def test_ask_returns_the_servers_distribution(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, sample: dataset.Dataset
) -> None:
    data = run_json(capsys, "ask", "0", "--backend", "fake")
    q = sample.find(0)
    probs, off = fake.expected(render(q).user)
    answer = data["answer"]
    np.testing.assert_allclose(answer["probs"], probs, atol=1e-9)
    assert answer["off_option_mass"] == pytest.approx(off, abs=1e-9)
    assert answer["estimator"] == "logprobs"
    assert data["question"]["options"] == list(q.options)
    assert (data["backend"], data["condition"], data["cached"]) == ("fake", "default", False)

    closest = data["closest_countries"]
    assert len(closest) == 5
    sims = [c["similarity"] for c in closest]
    assert sims == sorted(sims, reverse=True)
    dists = {c: q.distribution(c) for c in q.countries}
    best = max(
        (float(metrics.similarity(probs, dist)), c) for c, dist in dists.items() if dist is not None
    )
    assert closest[0]["country"] == best[1]
    assert closest[0]["similarity"] == pytest.approx(best[0], abs=1e-9)
    assert fake.count("/v1/completions") == 1

    # Asked again: from the cache, no new request.
    again = run_json(capsys, "ask", "0", "--backend", "fake")
    assert again["cached"] is True
    assert again["answer"]["probs"] == answer["probs"]
    assert fake.count() == 1


# --------------------------------------------------------------------------- run and friends


def test_run_resume_runs_report_export_score(
    capsys: pytest.CaptureFixture[str], fake: FakeServer
) -> None:
    first = run_json(capsys, "run", "--name", "r1", "--backend", "fake", "--limit", "30")
    assert set(RUN_KEYS) <= set(first)
    assert (first["total"], first["answered"], first["failed"]) == (30, 30, 0)
    assert first["already_done"] == 0
    assert first["n_questions_scored"] == 30
    assert fake.request_count == 30

    second = run_json(capsys, "run", "--name", "r1", "--backend", "fake", "--limit", "30")
    assert (second["answered"], second["already_done"], second["failed"]) == (30, 30, 0)
    assert fake.request_count == 30

    runs = run_json(capsys, "runs")
    assert [r["name"] for r in runs] == ["r1"]
    assert (runs[0]["answered"], runs[0]["failed"], runs[0]["planned"]) == (30, 0, 30)
    assert (runs[0]["backend"], runs[0]["model"], runs[0]["condition"]) == ("fake", "m", "default")

    report = run_json(capsys, "report", "r1")
    assert report["n_questions_scored"] == 30 and report["jsd_base"] == 2
    assert report["run"]["name"] == "r1"
    assert report["run"]["base_url"] == fake.base_url
    assert not [k for k in report["run"] if "key" in k or "secret" in k or "token" in k]
    assert report["bootstrap"]["n_resamples"] == 1000
    rows = report["countries"]
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True)
    for row in rows:
        assert list(row)[:5] == SCORE_ROW
        if row["n_questions"] >= 2:
            assert row["ci_low"] <= row["similarity"] <= row["ci_high"]
    assert any(r["ci_low"] < r["ci_high"] for r in rows)
    # The report's top agrees with run's own summary.
    assert [r["country"] for r in first["countries"]] == [r["country"] for r in rows[:10]]

    # export jsonl -> score reproduces the report.
    code, _, err = run_cli(capsys, "export", "r1", "--format", "jsonl", "--out", "r1.jsonl")
    assert code == 0
    assert "Exported 30 answers" in err
    exported = [json.loads(line) for line in Path("r1.jsonl").read_text().splitlines()]
    assert len(exported) == 30
    rescored = run_json(capsys, "score", "r1.jsonl")
    assert rescored["n_questions_scored"] == 30
    assert [r["country"] for r in rescored["countries"]] == [r["country"] for r in rows]
    for mine, theirs in zip(rescored["countries"], rows, strict=True):
        assert mine["similarity"] == pytest.approx(theirs["similarity"], abs=1e-12)
        assert mine["n_questions"] == theirs["n_questions"]

    # export csv: a header, 30 model rows and one similarity row per (question, country) pair.
    code, _, _ = run_cli(capsys, "export", "r1", "--format", "csv", "--out", "r1.csv")
    assert code == 0
    with open("r1.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    header, body = table[0], table[1:]
    assert header[:7] == [
        "row_type",
        "question_id",
        "key",
        "country",
        "similarity",
        "off_option_mass",
        "estimator",
    ]
    assert header[7:9] == ["p_A", "p_B"]
    model_rows = [r for r in body if r[0] == "model"]
    sim_rows = [r for r in body if r[0] == "similarity"]
    assert len(model_rows) == 30 and len(model_rows) + len(sim_rows) == len(body)
    assert len(sim_rows) == sum(len(e["similarity"]) for e in exported)
    first_q = exported[0]
    row0 = next(r for r in model_rows if r[1] == str(first_q["question_id"]))
    np.testing.assert_allclose(
        [float(x) for x in row0[7 : 7 + len(first_q["probs"])]], first_q["probs"], rtol=1e-9
    )
    one = next(r for r in sim_rows if r[1] == str(first_q["question_id"]))
    assert float(one[4]) == pytest.approx(first_q["similarity"][one[3]], rel=1e-9)

    # Unwritable destinations are messages, not tracebacks.
    for argv in (
        ("export", "r1", "--out", "."),
        ("report", "r1", "--resamples", "20", "--html", "no/such/dir/r1.html"),
    ):
        code, out, err = run_cli(capsys, *argv)
        assert code == 1, argv
        assert err.startswith("error: Cannot write"), err
    assert not Path("no").exists()


def test_compare_two_runs(capsys: pytest.CaptureFixture[str], fake: FakeServer) -> None:
    for argv in (
        ("--name", "r1"),
        ("--name", "r2", "--condition", "country:Russia"),
    ):
        run_json(capsys, "run", *argv, "--backend", "fake", "--limit", "30")
    assert fake.request_count == 60
    texts = [r.body["prompt"] for r in fake.recorded()]
    assert sum("How would someone from Russia answer" in t for t in texts) == 30

    cmp = run_json(capsys, "compare", "r1", "r2", "--resamples", "200")
    assert (cmp["label_a"], cmp["label_b"], cmp["policy"]) == ("r1", "r2", "keep")
    assert cmp["n_shared_questions"] == 30
    assert cmp["n_countries"] == len(cmp["countries"]) > 0
    assert cmp["correction"] == "benjamini-hochberg"
    assert cmp["bootstrap"]["n_resamples"] == 200
    diffs = [c["diff"] for c in cmp["countries"]]
    assert diffs == sorted(diffs, reverse=True)
    a, b = scored(capsys, "r1"), scored(capsys, "r2")
    for c in cmp["countries"]:
        assert set(c) == {
            "country",
            "display",
            "iso2",
            "score_a",
            "score_b",
            "diff",
            "ci_low",
            "ci_high",
            "p_value",
            "q_value",
            "n_shared",
        }
        assert c["diff"] == pytest.approx(c["score_b"] - c["score_a"], abs=1e-12)
        assert c["score_a"] == pytest.approx(a[c["country"]], abs=1e-12)
        assert c["score_b"] == pytest.approx(b[c["country"]], abs=1e-12)
        assert 0.0 < c["p_value"] <= c["q_value"] <= 1.0


# --------------------------------------------------------------------------- secrets


def test_api_key_never_shown_or_stored(
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOQA_TEST_KEY", CANARY)
    outputs: list[str] = []

    def cli(*argv: str, code: int = 0) -> str:
        got, out, err = run_cli(capsys, *argv)
        assert got == code, err
        outputs.extend([out, err])
        return out

    with FakeServer(api_key=CANARY) as server:
        write_config(isolated_dirs, server, api_key_env="GOQA_TEST_KEY")
        shown = json.loads(cli("config", "show", "--json"))
        fake_cfg = shown["backends"]["fake"]
        assert fake_cfg["api_key_env"] == "GOQA_TEST_KEY"
        assert fake_cfg["api_key"] == "set (hidden)"
        cli("config", "show")
        checked = json.loads(cli("config", "check", "--backend", "fake", "--json"))
        assert checked[0]["ok"] is True and checked[0]["estimator"] == "logprobs"
        cli("config", "check", "--backend", "fake")
        assert (
            json.loads(cli("run", "--name", "k", "--backend", "fake", "--limit", "5", "--json"))[
                "answered"
            ]
            == 5
        )
        cli("run", "--name", "k2", "--backend", "fake", "--limit", "3")
        cli("report", "k", "--json", "--resamples", "20")
        cli("report", "k", "--resamples", "20")
        cli("runs", "--json")
        cli("export", "k", "--format", "jsonl", "--out", "k.jsonl")
        cli("export", "k", "--format", "csv", "--out", "k.csv")
        # The key did reach the server, in the header only.
        assert {r.headers["authorization"] for r in server.recorded()} == {f"Bearer {CANARY}"}

    monkeypatch.delenv("GOQA_TEST_KEY")
    assert json.loads(cli("config", "show", "--json"))["backends"]["fake"]["api_key"] == "NOT SET"

    assert all(CANARY not in text for text in outputs)
    for path in (Path("k.jsonl"), Path("k.csv")):
        assert CANARY.encode() not in path.read_bytes()
    stored = list(isolated_dirs["data"].rglob("*"))
    assert any(p.name.startswith("goqa.sqlite3") for p in stored)
    for path in stored:
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY.encode() not in (isolated_dirs["config"] / "config.toml").read_bytes()


# --------------------------------------------------------------------------- faults


def test_faults_fail_questions_then_a_rerun_completes(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    kinds = ("429", "500", "503", "malformed", "reset")
    with FakeServer(fault_rate=0.3, retry_after=0.01, fault_kinds=kinds) as server:
        write_config(isolated_dirs, server, max_retries=0)
        first = run_json(
            capsys, "run", "--name", "flaky", "--backend", "fake", "--limit", "30", code=1
        )
        assert first["failed"] > 0
        assert first["answered"] + first["failed"] == 30
        faulted = sum(r.fault is not None for r in server.recorded())
        assert faulted == first["failed"]  # no retries: one request per question
        # The seeded fault sequence includes a broken body and a dropped connection.
        assert {"malformed", "reset"} <= {r.fault for r in server.recorded()}
        with Store() as store:
            (summary,) = store.runs()
            assert (summary.n_ok, summary.n_failed) == (first["answered"], first["failed"])
            failures = store.answers("flaky", status="failed")
            assert len(failures) == first["failed"]
            assert all(f.error for f in failures)

        # Again, still with faults, in text form: only the failed questions are asked.
        server.reset()
        code, out, _ = run_cli(
            capsys, "run", "--name", "flaky", "--backend", "fake", "--limit", "30"
        )
        assert server.request_count == first["failed"]
        assert f"answered ({first['answered']} before" in out
        retried_failures = sum(r.fault is not None for r in server.recorded())
        assert code == (1 if retried_failures else 0)
        if retried_failures:
            assert "run again with --name flaky to retry them" in out

        server.fault_rate = 0.0
        server.reset()
        final = run_json(capsys, "run", "--name", "flaky", "--backend", "fake", "--limit", "30")
        assert (final["answered"], final["failed"]) == (30, 0)
        assert final["already_done"] + server.request_count == 30
        with Store() as store:
            (summary,) = store.runs()
            assert (summary.n_ok, summary.n_failed, summary.planned) == (30, 0, 30)


# --------------------------------------------------------------------------- translations


def test_language_condition_needs_then_uses_translations(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, sample: dataset.Dataset, tmp_path: Path
) -> None:
    # No bundled German translations: the run stops before asking anything.
    code, out, err = run_cli(
        capsys, "run", "--condition", "language:de", "--backend", "fake", "--limit", "3"
    )
    assert code == 1
    assert "goqa translate" in err
    assert fake.request_count == 0

    questions = [sample.at(p) for p in range(3)]
    lines = [
        {
            "key": q.key,
            "language": "ru",
            "question": f"Вопрос номер {i}?",
            "options": [f"Вариант {i}.{k}" for k in range(len(q.options))],
        }
        for i, q in enumerate(questions)
    ]
    lines.append({"key": "nosuchkey", "language": "ru", "question": "?", "options": ["a"]})
    path = tmp_path / "ru.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    code, out, err = run_cli(capsys, "translate", "--import", str(path))
    assert code == 0
    assert "Imported 3 human translations" in out  # they take precedence over bundled ones
    assert "line 4: unknown question key 'nosuchkey'" in err

    result = run_json(
        capsys, "run", "--name", "ru3", "--condition", "language:ru", "--backend", "fake",
        "--limit", "3",
    )  # fmt: skip
    assert (result["answered"], result["failed"]) == (3, 0)
    assert result["run"]["condition"] == "language:ru"
    prompts = [r.body["prompt"] for r in fake.recorded()]
    assert len(prompts) == 3
    for i, line in enumerate(lines[:3]):
        (sent,) = [p for p in prompts if line["question"] in p]
        assert all(f"({chr(65 + k)}) {o}" in sent for k, o in enumerate(line["options"]))
        assert questions[i].text not in sent
    with Store() as store:
        stored = {a.question_key: a.answer for a in store.answers("ru3", status="ok")}
    for q, line in zip(questions, lines, strict=False):
        translated = render(
            q,
            Condition("language", "ru"),
            text=str(line["question"]),
            options=list(line["options"]),
        )
        got = stored[q.key]
        assert got is not None
        np.testing.assert_allclose(got.probs, fake.expected(translated.user)[0])


# --------------------------------------------------------------------------- experiment


def test_cross_national_experiment(capsys: pytest.CaptureFixture[str], fake: FakeServer) -> None:
    summary = run_json(
        capsys, "experiment", "cross-national", "--countries", "Russia", "--backend", "fake",
        "--limit", "15",
    )  # fmt: skip
    names = [r["name"] for r in summary["runs"]]
    assert names == ["exp-fake-default", "exp-fake-country-Russia"]
    assert all(r["answered"] == 15 and r["failed"] == 0 for r in summary["runs"])
    stored = {r["name"]: r for r in run_json(capsys, "runs")}
    assert set(stored) == set(names)
    assert stored["exp-fake-country-Russia"]["condition"] == "country:Russia"
    assert fake.request_count == 30

    assert summary["default"]["run"] == "exp-fake-default"
    assert summary["default"]["top"]
    (entry,) = summary["conditions"]
    assert entry["condition"] == "country:Russia"
    assert entry["run"] == "exp-fake-country-Russia"
    assert "Russia" in [t["country"] for t in entry["targets"]]
    target = next(t for t in entry["targets"] if t["country"] == "Russia")
    assert target["delta"] == pytest.approx(
        target["score_conditioned"] - target["score_default"], abs=1e-12
    )
    assert target["score_conditioned"] == pytest.approx(
        scored(capsys, "exp-fake-country-Russia")["Russia"], abs=1e-12
    )
    overshoot = entry["overshoot"]
    assert set(overshoot) == {"rate", "n_questions", "n_overshoot"}
    assert 0 < overshoot["n_questions"] <= 15
    assert 0 <= overshoot["n_overshoot"] <= overshoot["n_questions"]
    assert overshoot["rate"] == pytest.approx(overshoot["n_overshoot"] / overshoot["n_questions"])

    # Again: both runs resume with nothing to ask.
    run_json(
        capsys, "experiment", "cross-national", "--countries", "Russia", "--backend", "fake",
        "--limit", "15",
    )  # fmt: skip
    assert fake.request_count == 30


# --------------------------------------------------------------------------- the local model


def test_embedded_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("llama_cpp")
    data = run_json(capsys, "ask", "0")
    assert data["backend"] == "local"
    answer = data["answer"]
    assert answer["estimator"] == "logits"
    assert len(answer["probs"]) == 5
    assert sum(answer["probs"]) == pytest.approx(1.0, abs=1e-9)
    assert all(p >= 0 for p in answer["probs"])

    result = run_json(capsys, "run", "--name", "local20", "--limit", "20")
    assert (result["total"], result["answered"], result["failed"]) == (20, 20, 0)
    assert result["from_cache"] == 1  # question 0, asked just before
    assert result["run"]["backend_kind"] == "local"
    report = run_json(capsys, "report", "local20", "--resamples", "100")
    assert report["n_questions_scored"] == 20
    assert report["countries"]
    assert {"country", "similarity", "ci_low", "ci_high"} <= set(report["countries"][0])


def test_bundled_translations_cover_the_first_sample_questions(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, sample: dataset.Dataset
) -> None:
    from core.translate import bundled_translations

    result = run_json(
        capsys, "run", "--name", "zh2", "--condition", "language:zh", "--backend", "fake",
        "--limit", "2",
    )  # fmt: skip
    assert (result["answered"], result["failed"]) == (2, 0)
    bundled = bundled_translations("zh")
    sent = [r.body["prompt"] for r in fake.recorded()]
    for q in (sample.at(0), sample.at(1)):
        text, options = bundled[q.key]
        assert any(text in p and f"(A) {options[0]}" in p for p in sent)


def test_sensitivity_reasks_with_shuffled_options_and_the_other_template(
    capsys: pytest.CaptureFixture[str], fake: FakeServer
) -> None:
    run_json(capsys, "run", "--name", "base", "--backend", "fake", "--limit", "12")
    before = fake.request_count
    result = run_json(capsys, "sensitivity", "base", "--seed", "3")
    assert [v["name"] for v in result["variants"]] == ["base-shuffled-3", "base-v2"]
    # Both variants asked the same 12 questions again, with different prompts.
    assert fake.request_count - before == 24
    with Store() as store:
        assert store.manifest("base-shuffled-3").variant == "shuffle:3"
        assert store.manifest("base-v2").template == "v2"
        assert len(store.answers("base-v2", "ok")) == 12
    shuffled = result["variants"][0]
    assert shuffled["countries"]  # per-country changes, judged against the base CI
    first = shuffled["countries"][0]
    assert first["change"] == pytest.approx(first["score_variant"] - first["score_base"])
    # Running it again resumes: nothing new is asked.
    run_json(capsys, "sensitivity", "base", "--seed", "3")
    assert fake.request_count - before == 24
