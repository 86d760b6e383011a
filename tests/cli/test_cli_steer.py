"""``goqa experiment cross-national --format`` and ``--metric``, and ``goqa compare --metric``:
the steering formats' runs (against the loopback fake server) and the steerability block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from support.cli import flat, run_cli, run_json, write_config
from support.fakeserver import FakeServer
from support.runs import MODEL, OTHER, ROWS, put_run

from cli.main import main
from core import dataset, runs
from core import steerability as steer
from core.prompts import Condition
from core.store import Store

EXPERIMENT = ("experiment", "cross-national", "--countries", "Russia", "--backend", "fake")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake(isolated_dirs: dict[str, Path]) -> Iterator[FakeServer]:
    with FakeServer() as server:
        write_config(isolated_dirs, server)
        yield server


def test_bio_experiment_records_its_template_and_reports_steerability(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, sample: dataset.Dataset
) -> None:
    summary = run_json(capsys, *EXPERIMENT, "--limit", "12", "--format", "bio")
    names = [r["name"] for r in summary["runs"]]
    assert names == ["exp-fake-bio-default", "exp-fake-bio-country-Russia"]
    assert (summary["template"], summary["format"]) == ("bio", "bio")
    assert summary["metric"]["name"] == "jsd"
    with Store() as store:
        assert [store.manifest(n).template for n in names] == ["bio", "bio"]
        hashes = {store.manifest(n).template_hash for n in names}
    assert len(hashes) == 1 and hashes != {"41fd25cab19b"}  # bio's own hash, not v2's
    sent = [r.body["prompt"] for r in fake.recorded()]
    assert sum("Description: I am from Russia.\n\n" in t for t in sent) == 12
    assert not any("How would someone from" in t for t in sent)
    assert all(
        t.endswith("If I had to select one of the options, my answer would be (") for t in sent
    )

    (entry,) = summary["conditions"]
    s = entry["steerability"]
    assert (s["target"], s["metric"], s["default_run"], s["steered_run"]) == (
        "Russia", "jsd", "exp-fake-bio-default", "exp-fake-bio-country-Russia",
    )  # fmt: skip
    target = next(t for t in entry["targets"] if t["country"] == "Russia")
    assert s["similarity_default"] == pytest.approx(target["score_default"], abs=1e-12)
    assert s["similarity_steered"] == pytest.approx(target["score_conditioned"], abs=1e-12)
    assert s["gain"] == pytest.approx(target["delta"], abs=1e-12)
    assert (s["rank_default"], s["rank_steered"]) == (
        target["rank_default"],
        target["rank_conditioned"],
    )
    assert s["excess_gain"] == pytest.approx(s["gain"] - s["mean_gain_others"], abs=1e-12)
    assert s["ci_low"] <= s["excess_gain"] <= s["ci_high"]
    with Store(read_only=True) as store:
        (again,) = steer.steerability_of_runs(store, sample, names[0], names[1:])
    assert again.to_json() == s

    # People read the same block, and the metric it is under.
    code, out, err = run_cli(capsys, *EXPERIMENT, "--limit", "12", "--format", "bio")
    assert code == 0, err
    text = flat(out)
    assert "metric: jsd (1 - Jensen-Shannon distance, base 2" in text
    assert "steering format: bio" in text
    assert (
        f"steerability: similarity to Russia {s['similarity_default']:.4f} → "
        f"{s['similarity_steered']:.4f} (gain {s['gain']:+.4f}"
    ) in text
    assert f"rank {s['rank_default']} → {s['rank_steered']} of {s['n_countries']}" in text
    assert f"excess gain over the other {s['n_others']} countries {s['excess_gain']:+.4f}" in text
    assert s["verdict"] in text
    assert fake.request_count == 24  # the second time, everything was stored

    # portray: its own runs; its default run asks bio's default prompts, which the cache has.
    portray = run_json(capsys, *EXPERIMENT, "--limit", "12", "--format", "portray")
    assert [r["name"] for r in portray["runs"]] == [
        "exp-fake-portray-default",
        "exp-fake-portray-country-Russia",
    ]
    assert [r["from_cache"] for r in portray["runs"]] == [12, 0]
    assert fake.request_count == 36
    assert portray["conditions"][0]["steerability"]["similarity_default"] == pytest.approx(
        s["similarity_default"], abs=1e-12
    )
    # The paper's format: the runs it always had, and the paper's text.
    paper = run_json(capsys, *EXPERIMENT, "--limit", "12")
    assert [r["name"] for r in paper["runs"]] == ["exp-fake-default", "exp-fake-country-Russia"]
    assert paper["template"] == "paper" and paper["format"] == "paper"
    assert (
        sum("How would someone from Russia answer" in r.body["prompt"] for r in fake.recorded())
        == 12
    )


def test_experiment_metric_changes_every_number_and_says_which(
    capsys: pytest.CaptureFixture[str], fake: FakeServer, sample: dataset.Dataset
) -> None:
    jsd = run_json(capsys, *EXPERIMENT, "--limit", "10")
    tv = run_json(capsys, *EXPERIMENT, "--limit", "10", "--metric", "tv")
    assert fake.request_count == 20  # scoring again asks nothing
    assert tv["metric"] == {
        "name": "tv",
        "description": "1 - total variation distance (half the L1 distance)",
        "higher_is_better": True,
    }
    s_tv, s_jsd = tv["conditions"][0]["steerability"], jsd["conditions"][0]["steerability"]
    assert s_tv["metric"] == "tv"
    with Store(read_only=True) as store:
        base = runs.load_run(store, sample, "exp-fake-default", metric="tv")
        ru = runs.load_run(store, sample, "exp-fake-country-Russia", metric="tv")
    assert s_tv["similarity_default"] == pytest.approx(base.scores.get("Russia").similarity)  # type: ignore[union-attr]
    assert s_tv["similarity_steered"] == pytest.approx(ru.scores.get("Russia").similarity)  # type: ignore[union-attr]
    assert s_tv["similarity_default"] != pytest.approx(s_jsd["similarity_default"], abs=1e-6)
    assert tv["default"]["top"][0]["similarity"] == base.scores.countries[0].similarity

    kl = run_json(capsys, *EXPERIMENT, "--limit", "10", "--metric", "kl")
    s_kl = kl["conditions"][0]["steerability"]
    assert s_kl["higher_is_better"] is False
    assert s_kl["gain"] == pytest.approx(
        s_kl["similarity_default"] - s_kl["similarity_steered"], abs=1e-12
    )
    code, out, _ = run_cli(capsys, *EXPERIMENT, "--limit", "10", "--metric", "kl")
    assert code == 0 and "metric: kl (KL divergence" in flat(out)
    assert "steerability: kl from Russia" in flat(out)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("--format", "nonsense"), ["invalid choice: 'nonsense'", "'paper'", "'bio'", "'portray'"]),
        (("--metric", "l2"), ["invalid choice: 'l2'", "'tv'"]),
    ],
)
def test_a_bad_format_or_metric_is_argparses_usage_error(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*EXPERIMENT, "--limit", "1", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


def test_a_format_needs_the_cross_national_experiment_and_no_template(
    capsys: pytest.CaptureFixture[str], fake: FakeServer
) -> None:
    code, _, err = run_cli(
        capsys, *EXPERIMENT, "--limit", "1", "--format", "bio", "--template", "paper"
    )
    assert code == 2 and "--format bio asks with its own template" in flat(err)
    code, _, err = run_cli(
        capsys,
        "experiment",
        "linguistic",
        "--backend",
        "fake",
        "--limit",
        "1",
        "--format",
        "portray",
    )
    assert code == 2 and "--format portray applies to the cross-national experiment only" in flat(
        err
    )
    assert fake.request_count == 0


def test_compare_under_another_metric(
    capsys: pytest.CaptureFixture[str], write_csv: Callable[..., Path]
) -> None:
    path = write_csv(ROWS, "tiny.csv")
    tiny = dataset.load(str(path))
    with Store() as store:
        put_run(store, tiny, "base", MODEL)
        put_run(store, tiny, "ru", OTHER, condition=Condition("country", "Russia"))
    argv = ("compare", "base", "ru", "--dataset", str(path), "--resamples", "50")
    jsd = run_json(capsys, *argv)
    tv = run_json(capsys, *argv, "--metric", "tv")
    assert jsd["metric"]["name"] == "jsd" and tv["metric"]["name"] == "tv"

    def one_minus_tv(p: list[float], h: list[float]) -> float:
        return 1.0 - 0.5 * float(np.abs(np.asarray(p) - np.asarray(h)).sum())

    # Germany on the shared questions 1 and 2, by hand.
    germany = {pos: ROWS[pos][1]["Germany"] for pos in (1, 2)}  # type: ignore[index]
    row = next(c for c in tv["countries"] if c["country"] == "Germany")
    assert row["n_shared"] == 2
    assert row["score_a"] == pytest.approx(
        np.mean([one_minus_tv(MODEL[q], germany[q]) for q in (1, 2)]), abs=1e-12
    )
    assert row["score_b"] == pytest.approx(
        np.mean([one_minus_tv(OTHER[q], germany[q]) for q in (1, 2)]), abs=1e-12
    )
    jsd_row = next(c for c in jsd["countries"] if c["country"] == "Germany")
    assert jsd_row["score_a"] != pytest.approx(row["score_a"], abs=1e-6)

    code, out, err = run_cli(capsys, *argv, "--metric", "tv")
    assert code == 0, err
    assert "metric: tv (1 - total variation distance (half the L1 distance))" in flat(out)
    germany_line = next(
        line.strip() for line in out.splitlines() if line.strip().startswith("Germany")
    )
    assert germany_line.split()[1:3] == [f"{row['score_a']:.3f}", f"{row['score_b']:.3f}"]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "metric: jsd" in flat(out)


def test_helps_name_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    for command, option in (("experiment", "--format"), ("experiment", "--metric"),
                            ("compare", "--metric")):  # fmt: skip
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert option in capsys.readouterr().out
