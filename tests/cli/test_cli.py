"""The ``goqa`` command line: outputs, ``--json`` shapes, exit codes and error messages.

Commands run in-process through ``cli.main.main`` (fast, captured with capsys), and a few as a
real subprocess of the installed console script. Model-asking commands are in
``test_cli_models.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from support.cli import flat, goqa_command, run_cli, run_json

from cli.main import main
from core import dataset, metrics
from core.download import REPO_FILE, REPO_ID

SAMPLE_BYTES = dataset.sample_path().read_bytes()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A wide rich console (no wrapped messages) and a short working directory."""
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


def run_subprocess(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``goqa ARGV`` as a separate process with this test's GOQA_* directories."""
    full_env = {**os.environ, "COLUMNS": "300", **(env or {})}
    return subprocess.run(
        [*goqa_command(), *argv],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


# --------------------------------------------------------------------------- data info


def test_data_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    info = run_json(capsys, "data", "info")
    assert isinstance(info, dict)
    assert info["dataset"] == "sample"
    assert info["questions"] == 189
    assert info["by_source"] == {"GAS": 158, "WVS": 31}
    assert info["countries"] == 128
    assert len(info["country_keys"]) == 128
    assert sum(info["options_histogram"].values()) == 189
    assert all(int(k) >= 1 for k in info["options_histogram"])
    assert info["bad_rows"] == 0
    assert 0.0 < info["non_substantive_share"] < 1.0
    assert info["ordinal_questions"] == 141  # core.ordinal on the sample


def test_data_info_text_and_subprocess_agree(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "data", "info")
    assert code == 0
    assert "189 questions (GAS 158, WVS 31), 128 country keys" in flat(out)

    proc = run_subprocess("data", "info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["questions"], info["countries"]) == (189, 128)
    assert info["by_source"] == {"GAS": 158, "WVS": 31}


# --------------------------------------------------------------------------- data validate


GOOD = ("Is it good?", {"France": [0.6, 0.4]}, ["Yes", "No"], "GAS")


def bad_csv_rows() -> list[tuple[object, ...]]:
    return [
        GOOD,  # row 1
        ("Wrong source", {"France": [0.5, 0.5]}, ["Yes", "No"], "XYZ"),  # row 2
        ("Too few values", {"Japan": [1.0]}, ["Yes", "No"], "GAS"),  # row 3
        ("Another good one", {"Japan": [0.2, 0.8]}, ["Yes", "No"], "WVS"),  # row 4
        ("Bad options", {"France": [0.5, 0.5]}, "[None, 'No']", "GAS"),  # row 5
        ("Negative", {"Chile": [-0.1, 1.1]}, ["Yes", "No"], "GAS"),  # row 6
    ]


EXPECTED_PROBLEMS = {
    2: "unknown source 'XYZ'",
    3: "'Japan' has 1 values for 2 options",
    5: "options must be strings or numbers",
    6: "'Chile' has a negative value",
}


def test_validate_sample_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "data", "validate")
    assert code == 0
    assert "189 rows read, 189 valid, 0 bad" in out
    report = run_json(capsys, "data", "validate")
    assert report == {"dataset": "sample", "rows": 189, "valid": 189, "problems": []}


def test_validate_lists_every_bad_row(capsys: pytest.CaptureFixture[str], write_csv) -> None:
    path = write_csv(bad_csv_rows(), name="bad.csv")
    code, out, err = run_cli(capsys, "data", "validate", "--dataset", str(path))
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("row ")]
    assert len(lines) == len(EXPECTED_PROBLEMS)
    for line, (row, reason) in zip(lines, EXPECTED_PROBLEMS.items(), strict=True):
        assert line.startswith(f"row {row}: ")
        assert reason in line
    assert "6 rows read, 2 valid, 4 bad" in out
    assert "Traceback" not in err

    code, out, _ = run_cli(capsys, "data", "validate", "--dataset", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert set(report) == {"dataset", "rows", "valid", "problems"}
    assert (report["rows"], report["valid"]) == (6, 2)
    assert [p["row"] for p in report["problems"]] == list(EXPECTED_PROBLEMS)
    for problem, reason in zip(report["problems"], EXPECTED_PROBLEMS.values(), strict=True):
        assert set(problem) == {"row", "reason"}
        assert reason in problem["reason"]


def test_bad_rows_are_skipped_with_a_warning_elsewhere(
    capsys: pytest.CaptureFixture[str], write_csv
) -> None:
    path = write_csv(bad_csv_rows(), name="bad.csv")
    code, out, err = run_cli(capsys, "questions", "--dataset", str(path))
    assert code == 0
    assert "4 bad row(s) skipped" in err
    assert "2 of 2 matching questions" in out
    info = run_json(capsys, "data", "info", "--dataset", str(path))
    assert (info["questions"], info["bad_rows"]) == (2, 4)


# --------------------------------------------------------------------------- data download


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    file_path = f"/datasets/{REPO_ID}/resolve/{dataset.FULL_REVISION}/{REPO_FILE}"
    hits: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        body, status = (
            (SAMPLE_BYTES, 200) if self.path == self.file_path else (b"Entry not found", 404)
        )
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A local stand-in for the hub serving the sample as the full file; yields request paths."""
    hits: list[str] = []
    handler = type("Handler", (_HubHandler,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    monkeypatch.setenv("GOQA_HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        yield hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_full_dataset_needs_a_download(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "data", "info", "--dataset", "full", "--json")
    assert code != 0
    assert out == ""
    assert "goqa data download" in err
    assert "Traceback" not in err


def test_download_then_use_full(capsys: pytest.CaptureFixture[str], hub: list[str]) -> None:
    result = run_json(capsys, "data", "download")
    assert isinstance(result, dict)
    assert result["questions"] == 189
    assert result["bytes"] == len(SAMPLE_BYTES)
    assert result["revision"] == dataset.FULL_REVISION
    assert result["resumed_from"] == 0
    assert Path(result["path"]).read_bytes() == SAMPLE_BYTES
    assert hub == [_HubHandler.file_path]

    info = run_json(capsys, "data", "info", "--dataset", "full")
    assert info["questions"] == 189
    assert info["by_source"] == {"GAS": 158, "WVS": 31}

    # Present already: the text form says so without fetching again.
    code, out, _ = run_cli(capsys, "data", "download")
    assert code == 0
    assert "189 questions" in out and "--dataset full" in out
    assert len(hub) == 1


def test_download_error_is_a_message(capsys: pytest.CaptureFixture[str], hub: list[str]) -> None:
    code, out, err = run_cli(capsys, "data", "download", "--revision", "nosuchrev", "--json")
    assert code == 1
    assert out == ""
    assert "404" in err and "--revision" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- questions


def test_questions_search_json(capsys: pytest.CaptureFixture[str], sample) -> None:
    rows = run_json(capsys, "questions", "--search", "pollution", "--limit", "0")
    assert isinstance(rows, list) and rows
    expected = sample.filter("pollution", None, None)
    assert [r["id"] for r in rows] == [sample.ids[p] for p in expected]
    for r in rows:
        assert set(r) == {"id", "key", "source", "question", "options", "n_countries", "flags"}
        assert r["flags"] == []  # the sample's questions can all be asked
        q = sample.find(r["id"])
        assert r["key"] == q.key
        haystack = (r["question"] + " " + " ".join(r["options"])).lower()
        assert "pollution" in haystack


def test_questions_source_and_country(capsys: pytest.CaptureFixture[str], sample) -> None:
    wvs = run_json(capsys, "questions", "--source", "WVS", "--limit", "0")
    assert len(wvs) == 31
    assert {r["source"] for r in wvs} == {"WVS"}
    # The default limit shows 50 of them at most; lower-case source names are accepted.
    gas = run_json(capsys, "questions", "--source", "gas")
    assert len(gas) == 50

    russia = run_json(capsys, "questions", "--country", "Russia", "--limit", "0")
    assert russia
    for r in russia:
        assert "Russia" in sample.find(r["id"]).countries
    with_russia = [q for q in map(sample.at, range(len(sample))) if "Russia" in q.countries]
    assert len(russia) == len(with_russia)


def test_questions_unknown_country(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "questions", "--country", "Rusia")
    assert code == 1
    assert out == ""
    assert "Did you mean" in err and "Russia" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- show


def test_show_json(capsys: pytest.CaptureFixture[str], sample) -> None:
    data = run_json(capsys, "show", "0")
    q = sample.find(0)
    assert data["id"] == 0 and data["key"] == q.key
    assert data["options"] == list(q.options)
    assert len(data["non_substantive"]) == len(q.options)
    assert data["n_countries"] == len(q.countries) == len(data["countries"])
    by_country = {c["country"]: c for c in data["countries"]}
    assert set(by_country) == set(q.countries)
    for row in data["countries"]:
        assert len(row["distribution"]) == len(data["options"])
        assert set(row) == {"country", "display", "iso2", "distribution"}
    raw = q.human[q.countries.index("Argentina")]
    np.testing.assert_allclose(by_country["Argentina"]["distribution"], raw)
    assert by_country["Argentina"]["iso2"] == "AR"
    # The same question by key.
    assert run_json(capsys, "show", q.key) == data


def test_show_text_has_options_and_countries(capsys: pytest.CaptureFixture[str], sample) -> None:
    code, out, _ = run_cli(capsys, "show", "0")
    assert code == 0
    q = sample.find(0)
    assert f"#0 GAS · key {q.key} · {len(q.countries)} countries" in out
    assert "(A) Very big problem" in out
    assert "(E) DK/Refused (non-substantive)" in out
    assert "Argentina" in out and "64.0%" in out


def test_show_unknown_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "show", "99999")
    assert code == 1
    assert out == ""
    assert "No question id 99999" in err and "ids run from 0 to 188" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- score


def predictions(sample, positions: list[int], seed: int = 7) -> np.ndarray:
    """(len(positions), kmax) Dirichlet model distributions, zero padded."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(positions), sample.kmax))
    for i, p in enumerate(positions):
        k = int(sample.n_options[p])
        out[i, :k] = rng.dirichlet(np.ones(k))
    return out


def write_predictions(path: Path, sample, positions, probs, by: str = "question_id") -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for p, row in zip(positions, probs, strict=True):
            ref = sample.ids[p] if by == "question_id" else sample.keys[p]
            k = int(sample.n_options[p])
            fh.write(json.dumps({by: ref, "probs": [float(x) for x in row[:k]]}) + "\n")
    return path


def test_score_json_shape_and_values(
    capsys: pytest.CaptureFixture[str], sample, tmp_path: Path
) -> None:
    positions = list(range(0, 189, 3))
    probs = predictions(sample, positions)
    path = write_predictions(tmp_path / "pred.jsonl", sample, positions, probs)

    code, out, err = run_cli(capsys, "score", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == ["n_questions_scored", "jsd_base", "countries"]
    assert data["n_questions_scored"] == len(positions)
    assert data["jsd_base"] == 2
    rows = data["countries"]
    assert rows
    for row in rows:
        assert list(row) == ["country", "display", "iso2", "similarity", "n_questions"]
        assert isinstance(row["n_questions"], int) and row["n_questions"] >= 1
        assert 0.0 <= row["similarity"] <= 1.0
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True)

    expected = metrics.score(sample, np.array(positions), probs, "keep", 1).to_json()
    assert data["n_questions_scored"] == expected["n_questions_scored"]
    want = {r["country"]: r for r in expected["countries"]}
    assert [r["country"] for r in rows] == list(want)
    for row in rows:
        assert row == {**want[row["country"]], "similarity": pytest.approx(row["similarity"])}
        assert row["similarity"] == pytest.approx(want[row["country"]]["similarity"], abs=1e-12)

    # One country by hand, with scipy's Jensen–Shannon distance in base 2.
    busiest = max(rows, key=lambda r: r["n_questions"])
    country = busiest["country"]
    hand = []
    for p, row in zip(positions, probs, strict=True):
        q = sample.at(p)
        h = q.distribution(country)
        if h is not None:
            hand.append(1.0 - jensenshannon(row[: len(q.options)], h, base=2))
    assert busiest["n_questions"] == len(hand) > 10
    assert busiest["similarity"] == pytest.approx(float(np.mean(hand)), abs=1e-12)

    # "key" instead of "question_id" scores the same.
    by_key = write_predictions(tmp_path / "bykey.jsonl", sample, positions, probs, by="key")
    code, out_key, _ = run_cli(capsys, "score", str(by_key), "--json")
    assert code == 0
    assert json.loads(out_key) == data


def test_score_text_leaderboard(capsys: pytest.CaptureFixture[str], sample, tmp_path) -> None:
    positions = [0, 1, 2, 3]
    path = write_predictions(
        tmp_path / "p.jsonl", sample, positions, predictions(sample, positions)
    )
    code, out, _ = run_cli(capsys, "score", str(path), "--top", "3")
    assert code == 0
    assert "4 questions scored" in out
    data = run_json(capsys, "score", str(path))
    body = out.split("─")[-1]  # the rows under the header rule
    ranked = [line.split() for line in body.splitlines() if line.strip()]
    assert [cells[0] for cells in ranked] == ["1", "2", "3"]
    for cells, row in zip(ranked, data["countries"], strict=False):
        assert " ".join(cells[1:]).startswith(
            f"{row['display']} {row['iso2']} {row['similarity']:.4f}"
        )


def test_score_reports_bad_lines_and_scores_good_ones(
    capsys: pytest.CaptureFixture[str], sample, tmp_path: Path
) -> None:
    q0, q1, q2 = sample.find(0), sample.find(1), sample.find(2)
    k0 = len(q0.options)
    lines = [
        json.dumps({"question_id": 0, "probs": [1.0 / k0] * k0}),  # 1 good
        json.dumps({"question_id": 99999, "probs": [0.5, 0.5]}),  # 2 unknown id
        json.dumps({"question_id": 1, "probs": [1.0] * (len(q1.options) + 1)}),  # 3 length
        json.dumps({"question_id": 2, "probs": [-0.5] + [1.0] * (len(q2.options) - 1)}),  # 4
        json.dumps({"question_id": 2, "probs": [0.0] * len(q2.options)}),  # 5 all zero
        "{not json",  # 6
        "",  # blank lines are skipped silently
        json.dumps({"key": q1.key, "probs": [1.0] + [0.0] * (len(q1.options) - 1)}),  # 8 good
        json.dumps({"key": "nosuchkey", "probs": [1.0]}),  # 9 unknown key
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, out, err = run_cli(capsys, "score", str(path), "--json")
    assert code == 0
    assert json.loads(out)["n_questions_scored"] == 2
    problems = [line for line in err.splitlines() if "line " in line]
    assert [line.split("line ")[1].split(":")[0] for line in problems] == [
        "2",
        "3",
        "4",
        "5",
        "6",
        "9",
    ]
    assert "unknown question 99999" in err
    assert f"{len(q1.options) + 1} probabilities for a question with {len(q1.options)}" in err
    assert "finite and non-negative" in err
    assert "all zero" in err
    assert "not JSON" in err
    assert "unknown question 'nosuchkey'" in err
    assert "Traceback" not in err

    # --strict turns the bad lines into a failing exit code (the good ones are still scored).
    code, out, _ = run_cli(capsys, "score", str(path), "--json", "--strict")
    assert code == 1
    assert json.loads(out)["n_questions_scored"] == 2


def test_score_all_lines_bad(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question_id": 99999, "probs": [1]}\nnope\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "score", str(path), "--json")
    assert code == 1
    assert out == ""
    assert "line 1" in err and "line 2" in err
    assert "No usable predictions" in err
    assert "Traceback" not in err

    code, _, err = run_cli(capsys, "score", str(tmp_path / "missing.jsonl"))
    assert code == 1
    assert "does not exist" in err


# --------------------------------------------------------------------------- errors


def junk_file(tmp_path: Path) -> Path:
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(256)) * 40)
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "info", "--dataset", "missing.csv"], "does not exist"),
        (["questions", "--dataset", "."], "is a directory"),
        (["show", "0", "--dataset", "junk.csv"], "binary, not a CSV"),
        (["data", "validate", "--dataset", "junk.csv"], "binary, not a CSV"),
        (["ask", "0", "--backend", "nope"], "Unknown backend 'nope'"),
        (["ask", "0", "--condition", "mood:happy"], "Unknown condition 'mood:happy'"),
        (["run", "--condition", "country:", "--limit", "2"], "Unknown condition"),
        (["ask", "0", "--condition", "country:Atlantis"], "Unknown country 'Atlantis'"),
        (["report", "nosuchrun"], "nosuchrun"),
    ],
)
def test_errors_are_messages_not_tracebacks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    junk_file(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_unknown_backend_message_keeps_the_table_name(capsys: pytest.CaptureFixture[str]) -> None:
    # The fix it proposes is a TOML table in square brackets, which must survive rich markup.
    code, _, err = run_cli(capsys, "ask", "0", "--backend", "nope")
    assert code == 1
    assert "Add a [backends.nope] table" in err


def test_malformed_config_gives_line_and_column(
    capsys: pytest.CaptureFixture[str], isolated_dirs: dict[str, Path]
) -> None:
    config = isolated_dirs["config"] / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('template = "paper"\n[backends.x\nkind = "openai"\n', encoding="utf-8")
    for argv in (["config", "show"], ["ask", "0"], ["run", "--limit", "1"]):
        code, out, err = run_cli(capsys, *argv)
        assert code == 1, argv
        assert out == ""
        assert "invalid TOML" in err and "line 2, column 12" in err
        assert str(config) in flat(err)
        assert "Traceback" not in err


def test_errors_in_a_real_process(isolated_dirs: dict[str, Path], tmp_path: Path) -> None:
    config = isolated_dirs["config"] / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("default_backend = \n", encoding="utf-8")
    proc = run_subprocess("config", "show", "--json")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "invalid TOML" in proc.stderr and "line 1, column" in proc.stderr
    assert "Traceback" not in proc.stderr

    proc = run_subprocess("data", "info", "--dataset", str(junk_file(tmp_path)))
    assert proc.returncode == 1
    assert "binary, not a CSV" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["questions", "--source", "XYZ"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["run", "--template", "v3", "--limit", "1"], ["'v3'", "'paper'", "'v2'"]),
        (["ask", "0", "--policy", "maybe"], ["'maybe'", "'keep'", "'drop'"]),
        (["experiment", "national", "--limit", "1"], ["'national'", "'cross-national'"]),
    ],
)
def test_a_bad_template_policy_or_experiment_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: list[str]
) -> None:
    # Checked where it comes in (argparse's choices are the Literals' values): exit 2, the
    # value and the accepted ones named, nothing asked.
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "Traceback" not in err
    for word in named:
        assert word in err
