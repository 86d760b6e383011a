"""Inputs found by hostile testing: each was silently wrong, hung or crashed before."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from core import config, dataset, translate
from core.prompts import Condition
from core.store import MAX_RUN_NAME, NotAStoreError, Store, StoreError, check_run_name


def test_values_that_overflow_together_are_a_bad_row(write_csv: Callable[..., Path]) -> None:
    # Each value is finite; their sum is inf, so normalising would give a row of zeros.
    path = write_csv(
        [
            ("Q?", {"France": [1e308, 1e308], "Germany": [0.5, 0.5]}, ["Yes", "No"], "GAS"),
            ("Fine?", {"France": [0.5, 0.5]}, ["Yes", "No"], "GAS"),
        ]
    )
    ds = dataset.load(str(path))
    assert len(ds) == 1
    assert [p.row for p in ds.problems] == [1]
    assert "too large to add up" in ds.problems[0].reason


def test_a_country_given_twice_is_a_bad_row(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        [
            ("Q?", "{'France': [0.9, 0.1], 'France': [0.1, 0.9]}", ["Yes", "No"], "GAS"),
            ("Fine?", {"France": [0.5, 0.5]}, ["Yes", "No"], "GAS"),
        ]
    )
    ds = dataset.load(str(path))
    assert [p.reason for p in ds.problems] == ["selections gives country 'France' twice"]


def test_a_call_in_selections_is_named_plainly(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        [
            ("Q?", "{'France': [float('nan'), 0.1]}", ["Yes", "No"], "GAS"),
            ("Fine?", {"France": [0.5, 0.5]}, ["Yes", "No"], "GAS"),
        ]
    )
    reason = dataset.load(str(path)).problems[0].reason
    assert "only numbers, strings, lists" in reason
    assert "object at 0x" not in reason


def test_a_fifo_at_the_store_path_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "goqa.sqlite3"
    os.mkfifo(fifo)
    with pytest.raises(NotAStoreError, match="not a regular file"):
        Store(fifo)


def test_a_dangling_symlink_at_the_store_path_is_named(tmp_path: Path) -> None:
    link = tmp_path / "goqa.sqlite3"
    link.symlink_to(tmp_path / "gone" / "real.sqlite3")
    with pytest.raises(StoreError, match="symbolic link") as err:
        Store(link)
    assert "gone" in str(err.value)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (" ", "blank"),
        ("a\nb", "control character"),
        ("run ", "starts or ends with a space"),
        ("x" * (MAX_RUN_NAME + 1), f"at most {MAX_RUN_NAME}"),
    ],
)
def test_run_names_that_cannot_be_found_again_are_refused(name: str, why: str) -> None:
    with pytest.raises(StoreError, match=why):
        check_run_name(name)


@pytest.mark.parametrize("name", ["exp[/]", "[bold]x", "中国-默认", "run 1", "a:b"])
def test_odd_but_findable_run_names_are_fine(name: str) -> None:
    assert check_run_name(name) == name


def test_a_key_pasted_into_api_key_env_is_refused_and_never_shown() -> None:
    text = (
        '[backends.b]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
        'api_key_env = "sk-live-1234567890abcdef"\n'
    )
    with pytest.raises(config.ConfigError) as err:
        config.parse(text)
    assert "sk-live" not in str(err.value)
    assert 'api_key_env = "B_API_KEY"' in str(err.value)


def test_a_translation_line_with_a_list_key_is_a_bad_line(
    tmp_path: Path, sample: dataset.Dataset
) -> None:
    path = tmp_path / "t.jsonl"
    line = {"key": ["x"], "language": "ru", "question": "q", "options": ["a"]}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    with Store(tmp_path / "s.sqlite3") as store:
        try:
            imported, problems = translate.import_file(path, sample, store)
        except translate.TranslationError as exc:  # no usable line at all
            problems, imported = [str(exc)], 0
    assert imported == 0
    assert any("unknown question key ['x']" in p for p in problems)


def test_language_codes_are_case_insensitive() -> None:
    assert Condition.parse("language:RU") == Condition("language", "ru")
    assert str(Condition.parse("language: Zh ")) == "language:zh"


def test_scoring_refuses_model_rows_that_overflow(sample: dataset.Dataset) -> None:
    import numpy as np

    from core import metrics

    probs = np.zeros((1, sample.kmax))
    probs[0, : sample.n_options[0]] = 1e308  # finite cells, infinite sum
    with pytest.raises(ValueError, match="positive, finite sum"):
        metrics.score(sample, np.array([0]), probs)


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_an_export_never_replaces_a_pipe_or_a_link(tmp_path: Path, kind: str) -> None:
    from core.exports import ExportError, check_output

    target = tmp_path / "out.csv"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        (tmp_path / "real.csv").write_text("keep")
        target.symlink_to(tmp_path / "real.csv")
    with pytest.raises(ExportError, match="pipe|symbolic link"):
        check_output(target, [], force=True)


def test_a_prediction_too_large_for_a_float_is_a_bad_line(
    tmp_path: Path, sample: dataset.Dataset
) -> None:
    from core.predictions import read_predictions

    path = tmp_path / "p.jsonl"
    big = "1" + "0" * 400
    k0, k1 = int(sample.n_options[0]), int(sample.n_options[1])
    path.write_text(
        f'{{"question_id": {sample.ids[0]}, "probs": [{big}{", 1" * (k0 - 1)}]}}\n'
        f'{{"question_id": {sample.ids[1]}, "probs": [{", ".join(["1e308"] * k1)}]}}\n'
    )
    read = read_predictions(path, sample)
    messages = [str(p) for p in read.problems]
    assert any("too large a number" in m for m in messages)
    assert any("too large to add up" in m for m in messages)


def test_the_app_asks_with_the_backends_own_retry_count() -> None:
    from core.backends.retry import RetryPolicy, policy_for

    cfg = config.parse(
        '[backends.s]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'model = "m"\nmax_retries = 0\n'
    ).backend("s")
    assert policy_for(cfg).max_retries == 0
    assert policy_for(None).max_retries == RetryPolicy().max_retries
