"""Every number in the config is checked where it is read; URLs never show credentials."""

from __future__ import annotations

import pytest

from core import config
from core.config import ConfigError

OPENAI = '[backends.x]\nkind = "openai"\nbase_url = "http://h/v1"\nmodel = "m"\n'


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("concurrency", "0", "a whole number from 1 to 4096"),  # once silently turned into 1
        ("concurrency", "-3", "a whole number from 1 to 4096"),
        ("concurrency", "4.0", "a whole number from 1 to 4096"),
        ("samples", "0", "a whole number >= 1"),
        ("samples", "true", "a whole number >= 1"),
        ("max_retries", "-1", "a whole number >= 0"),
        ("max_tokens", "0", "a whole number >= 1"),
        ("n_threads", "-1", "a whole number >= 0"),
        ("timeout", "0", "a finite number > 0"),
        ("timeout", "0.0", "a finite number > 0"),
        ("timeout", "-1.5", "a finite number > 0"),
        ("timeout", "nan", "a finite number > 0"),
        ("timeout", "inf", "a finite number > 0"),
        ("temperature", "nan", "a finite number from 0 to 2"),
        ("temperature", "-inf", "a finite number from 0 to 2"),
        ("temperature", "-0.1", "a finite number from 0 to 2"),
        ("temperature", "2.5", "a finite number from 0 to 2"),
        # once accepted, then hung building one HTTP pool per 64 of 10^17 requests
        ("concurrency", "99999999999999999", "a whole number from 1 to 4096"),
    ],
)
def test_a_backend_number_out_of_range_names_key_value_and_range(
    key: str, value: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(OPENAI + f"{key} = {value}\n", where="c.toml")
    assert str(info.value) == f"c.toml: [backends.x] {key} = {value}; it must be {rule}."


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("concurrency", "1", 1),
        ("concurrency", "4096", 4096),
        ("samples", "1", 1),
        ("max_retries", "0", 0),
        ("max_tokens", "1", 1),
        ("n_threads", "0", 0),
        ("timeout", "0.001", 0.001),
        ("timeout", "30", 30.0),
        ("temperature", "0", 0.0),
        ("temperature", "2", 2.0),
    ],
)
def test_the_edges_of_each_range_are_accepted(key: str, value: str, expected: float) -> None:
    got = getattr(config.parse(OPENAI + f"{key} = {value}\n").backend("x"), key)
    assert got == expected and type(got) is type(expected)


def test_local_backend_numbers_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"\[backends.local\] n_threads = -2; it must be"):
        config.parse("[backends.local]\nn_threads = -2\n")


def test_max_off_option_defaults_to_a_half() -> None:
    assert config.Config().max_off_option == 0.5
    assert config.parse("").max_off_option == 0.5


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("1", 1.0), ("0.15", 0.15)])
def test_max_off_option_is_read_as_a_float(value: str, expected: float) -> None:
    got = config.parse(f"max_off_option = {value}\n").max_off_option
    assert got == expected and isinstance(got, float)


@pytest.mark.parametrize("value", ["1.01", "-0.1", "nan", "inf", "true", '"0.5"'])
def test_max_off_option_out_of_range(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(f"max_off_option = {value}\n", where="c.toml")
    assert str(info.value) == (
        f"c.toml: max_off_option = {value}; it must be a finite number from 0 to 1."
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/v1",
        "localhost:8000/v1",
        "http://",
        "file:///etc/passwd",
        " http://h/v1",
        "h",
        "http://127.0.0.1:99999/v1",  # once a bug report from deep inside the HTTP client
        "http://[::1/v1",
    ],
)
def test_base_url_must_be_http_or_https_with_a_host(url: str) -> None:
    toml = f'[backends.x]\nkind = "openai"\nbase_url = "{url}"\nmodel = "m"\n'
    with pytest.raises(ConfigError) as info:
        config.parse(toml, where="c.toml")
    assert str(info.value).startswith(f'c.toml: [backends.x] base_url = "{url}"; it must be')
    assert "http:// or https://" in str(info.value)


def test_https_and_upper_case_schemes_are_fine() -> None:
    for url in ("https://api.openai.com/v1", "HTTP://127.0.0.1:8000/v1", "http://[::1]:80/v1"):
        toml = f'[backends.x]\nkind = "openai"\nbase_url = "{url}"\nmodel = "m"\n'
        assert config.parse(toml).backend("x").base_url == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa55@host:8443/v1", "https://***@host:8443/v1"),
        ("http://tok3n@host/v1", "http://***@host/v1"),
        ("https://u:p@ss@host/v1", "https://***@host/v1"),  # an unescaped @ in the password
        ("https://host/v1?api_key=s3cret&x=1", "https://host/v1?api_key=***&x=1"),
        ("https://host/v1?x=1&access_token=s3cret#f", "https://host/v1?x=1&access_token=***#f"),
        ("https://host/v1/users@2", "https://host/v1/users@2"),  # an @ in the path is no userinfo
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert config.redact_url(url) == shown


def test_credentials_in_base_url_never_show() -> None:
    secret = "hunter2-SECRET"
    toml = f'[backends.x]\nkind = "openai"\nbase_url = "https://me:{secret}@h/v1"\nmodel = "m"\n'
    backend = config.parse(toml).backend("x")
    assert backend.base_url == f"https://me:{secret}@h/v1"  # the backend still connects with it
    assert backend.public()["base_url"] == "https://***@h/v1"
    assert secret not in repr(backend.public())
    assert secret not in repr(backend) and "https://***@h/v1" in repr(backend)
    bad = toml.replace("https://", "ftp://")
    with pytest.raises(ConfigError) as info:
        config.parse(bad)
    assert secret not in str(info.value) and "ftp://***@h/v1" in str(info.value)
