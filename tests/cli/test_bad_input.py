"""The bad input corpus: every broken thing a user can hand goqa, and what goqa must say.

Each case is a bad input (files in the working directory, a config file, a misbehaving model
server), the command run on it, the exit code (non-zero whenever the command could not do its
job), and two pieces of the message: words that name the problem and words that name the fix.
No case may print a traceback. Commands run in-process through ``cli.main.main``; the cases
marked ``subprocess`` also run as a real ``goqa`` process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.cli import goqa_command
from support.dataset_csv import HEADER, csv_bytes
from support.fakeserver import FakeServer

from cli.main import main
from core import dataset

SAMPLE = dataset.parse_csv(dataset.sample_path().read_bytes(), name="sample")
Q0 = SAMPLE.find(0)
K0 = len(Q0.options)
UNIFORM = [1.0 / K0] * K0

REFUSED = "refused"
"""``Case.server`` value: base_url points at a port nobody listens on."""


@dataclass(frozen=True)
class Case:
    """One bad input and what goqa must answer.

    Attributes:
        id: the test id.
        argv: the command, with file names relative to the working directory.
        code: the exit code expected.
        problem: words of the message that name what is wrong.
        fix: words of the message that say what to do.
        files: name -> bytes, written to the working directory first.
        config: ``config.toml`` text (bytes are written as they are); ``{base_url}`` and
            ``{root}`` become the server's URL with and without ``/v1``.
        server: ``FakeServer`` keyword arguments, or :data:`REFUSED`.
        env: environment variables to set (None: make sure it is unset).
        stream: where the message must appear, ``err`` or ``out``.
        absent: text that must appear nowhere (secrets).
        subprocess: also run the command as a separate ``goqa`` process.
    """

    id: str
    argv: tuple[str, ...]
    code: int
    problem: str
    fix: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    config: str | bytes | None = None
    server: Mapping[str, Any] | str | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)
    stream: str = "err"
    absent: tuple[str, ...] = ()
    subprocess: bool = False


# --------------------------------------------------------------------------- datasets

GOOD_ROW = ("Is it good?", {"France": [0.6, 0.4]}, ["Yes", "No"], "GAS")
ROW_FIX = "Fix or delete the rows listed"
VALIDATE = ("data", "validate", "--dataset", "bad.csv")


def csv_file(*rows: Any, header: Sequence[str] = HEADER) -> bytes:
    return csv_bytes(rows, header)


def bad_row(case_id: str, row: Any, problem: str) -> Case:
    """``goqa data validate`` on a good row followed by ``row``: row 2 is reported."""
    return Case(
        case_id,
        VALIDATE,
        1,
        f"row 2: {problem}",
        ROW_FIX,
        files={"bad.csv": csv_file(GOOD_ROW, row)},
        stream="out",
    )


def sel(text: str) -> str:
    """A ``selections`` cell, verbatim."""
    return f"defaultdict(<class 'list'>, {text})"


TRUNCATED = (
    csv_file(GOOD_ROW) + b"\"Cut off here\",\"defaultdict(<class 'list'>, {'France': [0.6, 0."
)
FIVE_MB = "x" * 5_000_000

DATASET_CASES = [
    Case(
        "csv-truncated-mid-row",
        VALIDATE,
        1,
        "row 2: only 2 of 4 fields (file truncated mid-row",
        ROW_FIX,
        files={"bad.csv": TRUNCATED},
        stream="out",
    ),
    Case(
        "csv-truncated-mid-row-other-commands-skip-it",
        ("questions", "--dataset", "bad.csv"),
        0,
        "1 bad row(s) skipped in bad.csv (first: row 2: only 2 of 4 fields",
        "'goqa data validate' lists them",
        files={"bad.csv": TRUNCATED},
    ),
    Case(
        "csv-missing-column",
        ("data", "info", "--dataset", "bad.csv"),
        1,
        "missing column(s) selections",
        "A GlobalOpinionQA file has the header: question,selections,options,source",
        files={
            "bad.csv": csv_file(("Q", "['Yes']", "GAS"), header=("question", "options", "source"))
        },
    ),
    Case(
        "csv-wrong-column-name",
        ("show", "0", "--dataset", "bad.csv"),
        1,
        "missing column(s) question; found ['q', 'selections', 'options', 'source']",
        "has the header: question,selections,options,source",
        files={"bad.csv": csv_file(GOOD_ROW, header=("q", "selections", "options", "source"))},
    ),
    bad_row("csv-extra-field", (*GOOD_ROW, "surplus"), "more fields than the header"),
    bad_row(
        "selections-unbalanced",
        ("Q", sel("{'France': [0.6, 0.4}"), ["Yes", "No"], "GAS"),
        "selections is not a readable literal",
    ),
    bad_row(
        "selections-code-not-literal",
        ("Q", "__import__('os').system('true') or {'France': [0.5, 0.5]}", ["Yes", "No"], "GAS"),
        "selections is not defaultdict(<class 'list'>, {...})",
    ),
    bad_row(
        "selections-too-deep",
        ("Q", "{" + "[" * 100_000 + "}", ["Yes", "No"], "GAS"),
        "selections is not a readable literal",
    ),
    bad_row(
        "selections-empty-mapping",
        ("Q", {}, ["Yes", "No"], "GAS"),
        "selections is empty (no country has data)",
    ),
    bad_row(
        "selections-empty-cell",
        ("Q", "", ["Yes", "No"], "GAS"),
        "selections is empty (no country has data)",
    ),
    bad_row(
        "selections-length-mismatch",
        ("Q", {"France": [0.6, 0.3, 0.1]}, ["Yes", "No"], "GAS"),
        "'France' has 3 values for 2 options",
    ),
    bad_row(
        "selections-negative",
        ("Q", {"France": [-0.6, 0.4]}, ["Yes", "No"], "GAS"),
        "'France' has a negative value -0.6",
    ),
    bad_row(
        "selections-nan",
        ("Q", sel("{'France': [nan, 0.4]}"), ["Yes", "No"], "GAS"),
        "selections is not a readable literal (a value is NaN or infinite)",
    ),
    bad_row(
        "selections-not-numbers",
        ("Q", {"France": ["a", "b"]}, ["Yes", "No"], "GAS"),
        "'France' has a non-numeric value 'a'",
    ),
    bad_row(
        "options-unclosed",
        ("Q", {"France": [0.6, 0.4]}, "['Yes', 'No'", "GAS"),
        "options is not a Python list literal (SyntaxError); write it as ['Yes', 'No']",
    ),
    bad_row(
        "options-empty-list",
        ("Q", {"France": [0.6, 0.4]}, "[]", "GAS"),
        "options is not a non-empty list",
    ),
    bad_row(
        "options-not-strings",
        ("Q", {"France": [0.6, 0.4]}, "[None, 'No']", "GAS"),
        "options must be strings or numbers; got NoneType None",
    ),
    bad_row(
        "unknown-source",
        ("Q", {"France": [0.6, 0.4]}, ["Yes", "No"], "Pew"),
        "unknown source 'Pew' (expected GAS or WVS)",
    ),
    bad_row(
        "options-infinite",
        ("Q", {"France": [0.6, 0.4]}, "[1e999, 'No']", "GAS"),
        "options has a NaN or infinite number inf",
    ),
    # A 5 MB cell: neither the csv module's field limit nor a slow parse gets in the way.
    bad_row(
        "huge-question-cell",
        (FIVE_MB, {"France": [0.6, 0.4]}, ["Yes", "No"], "Pew"),
        "unknown source 'Pew'",
    ),
    bad_row(
        "huge-options-cell",
        ("Q", {"France": [0.6, 0.4]}, "['" + FIVE_MB, "GAS"),
        "options is not a Python list literal",
    ),
    Case(
        "every-row-bad-validate-lists-them",
        VALIDATE,
        1,
        "row 1: unknown source 'Pew' (expected GAS or WVS) row 2: 'France' has a negative value",
        ROW_FIX,
        files={
            "bad.csv": csv_file(
                ("Q1", {"France": [0.6, 0.4]}, ["Yes", "No"], "Pew"),
                ("Q2", {"France": [-1, 2]}, ["Yes", "No"], "GAS"),
            )
        },
        stream="out",
    ),
    Case(
        "every-row-bad-elsewhere",
        ("data", "info", "--dataset", "bad.csv"),
        1,
        "bad.csv: no usable question rows. First problem: row 1: unknown source 'Pew'",
        "'goqa data validate --dataset bad.csv' lists every problem",
        files={"bad.csv": csv_file(("Q1", {"France": [0.6, 0.4]}, ["Yes", "No"], "Pew"))},
    ),
    Case(
        "binary-junk",
        ("data", "info", "--dataset", "bad.csv"),
        1,
        "bad.csv: the file is binary, not a CSV",
        "Check the path",
        files={"bad.csv": bytes(range(256)) * 40},
        subprocess=True,
    ),
    Case(
        "zero-byte-file",
        ("questions", "--dataset", "bad.csv"),
        1,
        "bad.csv: the file is empty",
        "Expected a CSV with columns ('question', 'selections', 'options', 'source')",
        files={"bad.csv": b""},
    ),
    Case(
        "header-only",
        ("data", "info", "--dataset", "bad.csv"),
        1,
        "bad.csv: no usable question rows: the file has a header but no data",
        "use --dataset sample",
        files={"bad.csv": b"question,selections,options,source\r\n"},
    ),
    Case(
        "not-utf8",
        ("data", "info", "--dataset", "bad.csv"),
        1,
        "bad.csv: not UTF-8 text (invalid start byte at byte",
        "Save it as UTF-8",
        files={
            "bad.csv": csv_file(("¿Sí o no?", {"France": [0.6, 0.4]}, ["Sí", "No"], "GAS"))
            .decode("utf-8")
            .encode("latin-1")
        },
    ),
    Case(
        "directory-as-dataset",
        ("data", "info", "--dataset", "."),
        1,
        "is a directory",
        "give the CSV file",
    ),
    Case(
        "missing-dataset-path",
        ("questions", "--dataset", "nowhere.csv"),
        1,
        "Dataset file 'nowhere.csv' does not exist",
        "Use --dataset sample, --dataset full or a path to a CSV",
    ),
    Case(
        "full-not-downloaded",
        ("data", "info", "--dataset", "full"),
        1,
        "The full GlobalOpinionQA file is not downloaded yet",
        "Run 'goqa data download'",
    ),
]

# --------------------------------------------------------------------------- config


def config_case(
    case_id: str,
    toml: str,
    problem: str,
    fix: str,
    argv: tuple[str, ...] = ("config", "show"),
    **kwargs: Any,
) -> Case:
    return Case(case_id, argv, 1, problem, fix, config=toml, **kwargs)


OPENAI_TABLE = '[backends.v]\nkind = "openai"\nbase_url = "http://localhost:8000/v1"\nmodel = "m"\n'

CONFIG_CASES = [
    config_case(
        "toml-unknown-estimator",
        'estimator = "logprobs"\n',
        "estimator = 'logprobs'",
        '"first-token", "order-averaged", "prior-corrected", "verbalized" or "free-text"',
        argv=("ask", "0"),
    ),
    config_case(
        "toml-orders-zero",
        "orders = 0\n",
        "orders = 0",
        "it must be a whole number from 1 to 12",
        argv=("ask", "0"),
    ),
    config_case(  # once a bug report from inside the HTTP client, on config check and ask
        "toml-port-out-of-range",
        '[backends.v]\nkind = "openai"\nbase_url = "http://127.0.0.1:99999/v1"\nmodel = "m"\n',
        'base_url = "http://127.0.0.1:99999/v1"; it must be an http:// or https:// URL',
        "(and a port up to 65535)",
        argv=("config", "check"),
    ),
    config_case(  # once accepted, then a hang building ~10^15 HTTP pools
        "toml-concurrency-absurd",
        OPENAI_TABLE + "concurrency = 99999999999999999\n",
        "[backends.v] concurrency = 99999999999999999",
        "it must be a whole number from 1 to 4096",
        argv=("config", "check"),
    ),
    config_case(
        "toml-syntax-error",
        'template = "paper"\n[backends.x\nkind = "openai"\n',
        "invalid TOML: Expected ']' at the end of a table declaration (at line 2, column 12)",
        "Fix the file or delete it",
        argv=("ask", "0"),
        subprocess=True,
    ),
    config_case(
        "toml-unknown-setting",
        'colour = "red"\n',
        "unknown setting(s) colour",
        "known: backends, calibration_questions, default_backend, estimator, free_text_samples, "
        "max_off_option, orders, policy, template, theme",
    ),
    config_case(
        "toml-unknown-backend-key",
        OPENAI_TABLE + "flavour = 1\n",
        "[backends.v] has unknown key(s) flavour",
        "Known keys: api_key_env, base_url, concurrency",
    ),
    config_case(
        "toml-wrong-type-backend",
        OPENAI_TABLE + 'concurrency = "many"\n',
        "[backends.v] concurrency",
        'concurrency = "many"; it must be a whole number from 1 to 4096',
        argv=("run", "--limit", "1"),
    ),
    config_case(
        "toml-wrong-type-setting",
        "template = 3\n",
        "template must be a string in quotes",
        'e.g. template = "…"; found 3',
    ),
    config_case(
        "toml-unknown-kind",
        OPENAI_TABLE.replace('"openai"', '"openia"'),
        "[backends.v] kind = 'openia'",
        "use one of local, openai, anthropic",
    ),
    config_case(
        "toml-bad-mode",
        OPENAI_TABLE + 'mode = "stream"\n',
        "[backends.v] mode = 'stream'",
        "for kind 'openai' use completions or chat",
    ),
    config_case(
        "toml-missing-base-url",
        '[backends.v]\nkind = "openai"\nmodel = "m"\n',
        "[backends.v] needs base_url",
        'e.g. "http://localhost:8000/v1"',
    ),
    config_case(
        "toml-inline-api-key",
        OPENAI_TABLE + 'api_key = "sk-live-0123456789abcdef"\n',
        "[backends.v] has api_key = …; never write a key in the file",
        'put api_key_env = "V_API_KEY" there instead and set that environment variable: '
        "'export V_API_KEY=…'",
        absent=("sk-live-0123456789abcdef",),
    ),
    config_case(
        "toml-default-backend-missing",
        'default_backend = "vllm"\n',
        "default_backend = 'vllm' but no [backends.vllm] table exists",
        "set default_backend to one of: local",
        argv=("translate", "--language", "ru", "--limit", "1"),
    ),
    config_case(
        "toml-bad-template",
        'template = "v3"\n',
        "template = 'v3'",
        'use "paper", "v2", "bio" or "portray"',
    ),
    config_case(
        "toml-bad-policy",
        'policy = "maybe"\n',
        "policy = 'maybe'",
        'use "keep" or "drop"',
    ),
    Case(
        "toml-not-utf8",
        ("config", "show"),
        1,
        "the config file is not UTF-8 text",
        "Save it as UTF-8, or delete it",
        config=b'template = "p\xe4per"\n',  # latin-1
    ),
]

# --------------------------------------------------------------------------- names

NAME_CASES = [
    config_case(
        "unknown-backend-suggests",
        OPENAI_TABLE.replace("backends.v]", "backends.vllm]"),
        "Unknown backend 'vlm'. Did you mean: vllm?",
        "Add a [backends.vlm] table",
        argv=("ask", "0", "--backend", "vlm"),
    ),
    Case(
        "unknown-country-suggests",
        ("questions", "--country", "Frnace"),
        1,
        "Unknown country 'Frnace'. Did you mean: France?",
        "Run 'goqa data info' to list the countries",
    ),
    Case(
        "unknown-country-in-condition",
        ("ask", "0", "--condition", "country:Atlantis"),
        1,
        "Unknown country 'Atlantis'",
        "Run 'goqa data info' to list the countries",
    ),
    Case(
        "unknown-condition-kind",
        ("ask", "0", "--condition", "mood:happy"),
        1,
        "Unknown condition 'mood:happy'",
        "use 'default', 'country:NAME' (e.g. country:Russia) or 'language:CODE'",
    ),
    Case(
        "condition-without-value",
        ("run", "--condition", "language:", "--limit", "1"),
        1,
        "Unknown condition 'language:'",
        "'language:CODE' (e.g. language:ru)",
    ),
    Case(
        "language-without-translations",
        ("ask", "0", "--condition", "language:xx"),
        1,
        "1 of 1 questions have no translation into 'xx'",
        "Make them with 'goqa translate --language xx'",
    ),
    Case(
        "show-unknown-id",
        ("show", "99999"),
        1,
        "No question id 99999 in dataset 'sample' (ids run from 0 to 188",
        "see 'goqa questions'",
    ),
    Case(
        "show-not-an-id",
        ("show", "twelve"),
        1,
        "No question 'twelve' in dataset 'sample'",
        "give an id or a question key",
    ),
    Case(
        "report-unknown-run",
        ("report", "nosuchrun"),
        1,
        "No run called 'nosuchrun'. No runs yet.",
        "See 'goqa runs'",
    ),
    Case(
        "export-unknown-run",
        ("export", "nosuchrun", "--out", "out.jsonl"),
        1,
        "No run called 'nosuchrun'",
        "See 'goqa runs'",
    ),
]

# --------------------------------------------------------------------------- predictions

PRED_FIX = 'Each line must be {"question_id": ID, "probs": [...]}'


def prediction_case(case_id: str, lines: Sequence[str], problem: str, **kwargs: Any) -> Case:
    """``goqa score pred.jsonl`` with only bad lines: nothing to score, exit 1."""
    data = ("\n".join(lines) + "\n").encode("utf-8")
    return Case(
        case_id, ("score", "pred.jsonl"), 1, problem, PRED_FIX, files={"pred.jsonl": data}, **kwargs
    )


def pred(probs: Any, ref: Any = 0, by: str = "question_id") -> str:
    return json.dumps({by: ref, "probs": probs})


PREDICTION_CASES = [
    prediction_case("score-not-json", ["{oops"], "line 1: not JSON (Expecting property name"),
    prediction_case(  # once a RecursionError reported as a bug in goqa
        "score-nested-too-deeply", ["[" * 100_000], "line 1: nested too deeply to be read as JSON"
    ),
    prediction_case(
        "score-not-an-object",
        ["[0.5, 0.5]"],
        "line 1: expected a JSON object like",
    ),
    prediction_case(
        "score-unknown-id", [pred([0.5, 0.5], 99999)], "line 1: unknown question 99999"
    ),
    prediction_case(
        "score-unknown-key",
        [pred([0.5, 0.5], "nosuchkey", by="key")],
        "line 1: unknown question 'nosuchkey'",
    ),
    prediction_case(
        "score-wrong-length",
        [pred([*UNIFORM, 0.0])],
        f"line 1: {K0 + 1} probabilities for a question with {K0} options",
    ),
    prediction_case(
        "score-negative",
        [pred([-0.5, *UNIFORM[1:]])],
        "line 1: probabilities must be finite and non-negative",
    ),
    prediction_case("score-all-zeros", [pred([0.0] * K0)], "line 1: probabilities are all zero"),
    prediction_case(
        "score-nan-string",
        [pred(["NaN", *UNIFORM[1:]])],
        "line 1: probs must be a list of numbers (found 'NaN')",
    ),
    prediction_case(
        "score-bare-nan",
        ['{"question_id": 0, "probs": [NaN' + ", 0.25" * (K0 - 1) + "]}"],
        "line 1: probabilities must be finite and non-negative",
    ),
    Case(
        "score-duplicate-question-strict",
        ("score", "pred.jsonl", "--strict"),
        1,
        "line 2: question 0 appears twice (the first is kept; delete this line)",
        "1 bad line(s) skipped; fix or delete them",
        files={"pred.jsonl": f"{pred(UNIFORM)}\n{pred(UNIFORM)}\n".encode()},
    ),
    Case(
        "score-missing-file",
        ("score", "nowhere.jsonl"),
        1,
        "Predictions file 'nowhere.jsonl' does not exist",
        "Give the path of a JSONL file",
    ),
    Case(
        "score-directory",
        ("score", "."),
        1,
        "'.' is a directory",
        "give the JSONL file itself",
    ),
    Case(
        "score-not-utf8",
        ("score", "pred.jsonl"),
        1,
        "'pred.jsonl' is not UTF-8 text",
        "save it as UTF-8",
        files={"pred.jsonl": b'{"question_id": 0, "probs": [1]}\xff\xfe\n'},
    ),
]

# --------------------------------------------------------------------------- translations

TRANSLATE_CASES = [
    Case(
        "translate-import-bad-file",
        ("translate", "--import", "tr.jsonl"),
        1,
        "line 1: not JSON",
        'Each line must be a JSON object {"key": QUESTION_KEY, "language": "ru"',
        files={
            "tr.jsonl": "\n".join(
                [
                    "{broken",
                    json.dumps({"key": "nokey", "language": "ru", "question": "q", "options": []}),
                    json.dumps({"key": Q0.key, "language": "ru", "question": "q", "options": []}),
                ]
            ).encode()
        },
    ),
    Case(
        "translate-import-unknown-key",
        ("translate", "--import", "tr.jsonl"),
        1,
        "line 1: unknown question key 'nokey'",
        "keys are listed by 'goqa questions --json'",
        files={
            "tr.jsonl": json.dumps(
                {"key": "nokey", "language": "ru", "question": "q", "options": ["a"]}
            ).encode()
        },
    ),
    Case(
        "translate-import-wrong-options",
        ("translate", "--import", "tr.jsonl"),
        1,
        f"line 1: 'options' must be a list of {K0} strings",
        "[one string per option]",
        files={
            "tr.jsonl": json.dumps(
                {"key": Q0.key, "language": "ru", "question": "Вопрос", "options": ["да"]},
                ensure_ascii=False,
            ).encode()
        },
    ),
    Case(
        "translate-import-missing-file",
        ("translate", "--import", "nowhere.jsonl"),
        1,
        "Translations file 'nowhere.jsonl' does not exist",
        "Give the path of a JSONL file",
    ),
]

# --------------------------------------------------------------------------- servers


def fake_config(extra: str = "") -> str:
    """A default ``fake`` backend at the fake server: short timeout, no retries (fast)."""
    return (
        'default_backend = "fake"\n[backends.fake]\nkind = "openai"\nbase_url = "{base_url}"\n'
        f'model = "m"\ntimeout = 0.5\nmax_retries = 0\n{extra}'
    )


BASE_URL_FIX = "Check base_url (should end in /v1, e.g. http://localhost:8000/v1)"

SERVER_CASES = [
    Case(
        "server-html-page",
        ("ask", "0"),
        1,
        "answered with an HTML page instead of JSON (502 Bad Gateway",
        BASE_URL_FIX,
        config=fake_config(),
        server={"faults": ["html"]},
    ),
    Case(
        "server-html-502",
        ("ask", "0"),
        1,
        "Server error HTTP 502",
        "check that the model server is up",
        config=fake_config(),
        server={"faults": ["html-502"]},
    ),
    Case(
        "server-malformed-json",
        ("ask", "0", "--json"),
        1,
        "Malformed JSON from",
        BASE_URL_FIX,
        config=fake_config(),
        server={"faults": ["malformed"]},
    ),
    Case(
        "server-connection-reset",
        ("ask", "0"),
        1,
        "dropped before an answer",
        "check its log, or raise max_retries",
        config=fake_config(),
        server={"faults": ["reset"]},
    ),
    Case(
        "server-401",
        ("ask", "0"),
        1,
        "HTTP 401 unauthorised",
        "Check the env var named by api_key_env (GOQA_TEST_KEY): it must hold a valid key",
        config=fake_config('api_key_env = "GOQA_TEST_KEY"\n'),
        server={"api_key": "sk-right-0123456789", "leak_key_in_errors": True},
        env={"GOQA_TEST_KEY": "sk-wrong-0123456789"},
        absent=("sk-wrong-0123456789", "sk-right-0123456789"),
        subprocess=True,
    ),
    Case(
        "api-key-env-unset",
        ("ask", "0"),
        1,
        "reads its API key from the environment variable GOQA_TEST_KEY, which is not set",
        "'export GOQA_TEST_KEY=…'",
        config=fake_config('api_key_env = "GOQA_TEST_KEY"\n'),
        server={"api_key": "sk-right-0123456789"},
        env={"GOQA_TEST_KEY": None},
    ),
    Case(
        "server-404-unknown-model",
        ("ask", "0"),
        1,
        "HTTP 404 from",
        f"{BASE_URL_FIX} and model ('m')",
        config=fake_config(),
        server={"model": "another-model"},
    ),
    Case(
        "server-404-base-url-without-v1",
        ("ask", "0"),
        1,
        "HTTP 404 from",
        BASE_URL_FIX,
        config=fake_config().replace("{base_url}", "{root}"),
        server={},
    ),
    Case(
        "server-never-answers",
        ("ask", "0"),
        1,
        "No answer from",
        "raise the backend's timeout in the config",
        config=fake_config(),
        server={"faults": ["slow"] * 4, "slow_seconds": 30},
    ),
    Case(
        "server-never-answers-config-check",
        ("config", "check", "--backend", "fake"),
        1,
        "✗ fake (openai, m): No answer from",
        "raise the backend's timeout in the config",
        config=fake_config(),
        server={"faults": ["slow"] * 4, "slow_seconds": 30},
        stream="out",
    ),
    Case(
        "connection-refused",
        ("ask", "0"),
        1,
        "Cannot reach http://127.0.0.1:",
        "Is the server running? Check base_url",
        config=fake_config(),
        server=REFUSED,
        subprocess=True,
    ),
    Case(
        "run-every-question-fails",
        ("run", "--name", "broken", "--limit", "2", "--json"),
        1,
        "2 failed: Server error HTTP 502",
        "run again with --name broken to retry them",
        config=fake_config(),
        server={"faults": ["html-502"] * 4},
    ),
]

CASES = [
    *DATASET_CASES,
    *CONFIG_CASES,
    *NAME_CASES,
    *PREDICTION_CASES,
    *TRANSLATE_CASES,
    *SERVER_CASES,
]


# --------------------------------------------------------------------------- running


def flat(text: str) -> str:
    return " ".join(text.split())


def closed_port() -> int:
    """A local port that refuses connections (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(spec: Mapping[str, Any] | str | None) -> Iterator[tuple[str, str]]:
    """(base_url, root url) of the case's server for as long as the case runs."""
    if spec is None:
        yield "", ""
    elif spec == REFUSED:
        root = f"http://127.0.0.1:{closed_port()}"
        yield f"{root}/v1", root
    else:
        assert isinstance(spec, Mapping)
        with FakeServer(**spec) as server:
            yield server.base_url, server.url


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Unwrapped messages, and the case's files in the working directory."""
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


def test_corpus_is_large_and_ids_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_a_message(
    case: Case,
    tmp_path: Path,
    isolated_dirs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, data in case.files.items():
        (tmp_path / name).write_bytes(data)
    for var, value in case.env.items():
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)

    with serving(case.server) as (base_url, root):
        if case.config is not None:
            text = case.config
            if isinstance(text, str):
                text = text.replace("{base_url}", base_url).replace("{root}", root)
            config = isolated_dirs["config"] / "config.toml"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))

        capsys.readouterr()
        code = main(list(case.argv))
        out, err = capsys.readouterr()
        check(case, code, out, err)

        if case.subprocess:
            proc = subprocess.run(
                [*goqa_command(), *case.argv],
                capture_output=True,
                text=True,
                env={**os.environ, "COLUMNS": "300"},
                cwd=tmp_path,
                timeout=60,
                check=False,
            )
            check(case, proc.returncode, proc.stdout, proc.stderr)


def check(case: Case, code: int, out: str, err: str) -> None:
    assert "Traceback" not in out and "Traceback" not in err
    assert code == case.code, (out, err)
    message = flat(err if case.stream == "err" else out)
    assert case.problem in message
    assert case.fix in message
    for secret in case.absent:
        assert secret not in out and secret not in err
    if case.stream == "err" and case.code == 1 and "--json" in case.argv:
        # Machines reading stdout get nothing half-written on failure, or one JSON document.
        assert out == "" or json.loads(out)


def test_an_absurd_concurrency_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Once accepted: the HTTP backends then built one connection pool per 64 requests.
    with pytest.raises(SystemExit) as info:
        main(["run", "--limit", "1", "--concurrency", "99999999999999"])
    assert info.value.code == 2
    assert "99999999999999 is out of range: use a whole number from 0 to 4096" in flat(
        capsys.readouterr().err
    )
