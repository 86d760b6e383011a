"""core.config: TOML into a typed config; secrets only through named environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import config, paths
from core.config import BackendConfig, ConfigError

FULL_EXAMPLE = """\
default_backend = "vllm"
template = "v2"
policy = "drop"
theme = "goqa-light"

[backends.vllm]
kind = "openai"
base_url = "http://localhost:8000/v1"
model = "meta-llama/Llama-3.1-8B-Instruct"
mode = "chat"
api_key_env = "VLLM_API_KEY"
concurrency = 64
timeout = 30
temperature = 0.7

[backends.claude]
kind = "anthropic"
model = "claude-3-5-haiku-latest"
api_key_env = "ANTHROPIC_API_KEY"
samples = 50
"""


def test_defaults_with_no_file(isolated_dirs: dict[str, Path]) -> None:
    cfg = config.load()
    assert cfg.path == str(isolated_dirs["config"] / "config.toml")
    assert not Path(cfg.path).exists()
    assert list(cfg.backends) == ["local"]
    assert cfg.default_backend == "local"
    assert (cfg.template, cfg.policy, cfg.theme) == ("paper", "keep", "goqa-dark")
    local = cfg.backend()
    assert local is config.LOCAL_DEFAULT
    assert (local.kind, local.mode, local.concurrency) == ("local", "logits", 1)
    assert local.api_key() is None


def test_config_file_lives_in_isolated_dir(isolated_dirs: dict[str, Path]) -> None:
    assert paths.config_file().parent == isolated_dirs["config"]
    assert paths.store_file().parent == isolated_dirs["data"]
    assert paths.cache_dir() == isolated_dirs["cache"]


def test_full_example_parses() -> None:
    cfg = config.parse(FULL_EXAMPLE, where="x.toml")
    assert set(cfg.backends) == {"local", "vllm", "claude"}
    assert (cfg.default_backend, cfg.template, cfg.policy, cfg.theme) == (
        "vllm",
        "v2",
        "drop",
        "goqa-light",
    )
    vllm = cfg.backend()
    assert vllm == BackendConfig(
        name="vllm",
        kind="openai",
        base_url="http://localhost:8000/v1",
        model="meta-llama/Llama-3.1-8B-Instruct",
        mode="chat",
        api_key_env="VLLM_API_KEY",
        concurrency=64,
        timeout=30.0,
        temperature=0.7,
    )
    assert isinstance(vllm.timeout, float)
    claude = cfg.backend("claude")
    assert claude.kind == "anthropic"
    assert claude.mode == "messages"
    assert claude.base_url == "https://api.anthropic.com"
    assert claude.samples == 50
    assert claude.concurrency == 8  # the default
    assert cfg.backend("local") == config.LOCAL_DEFAULT


def test_openai_mode_defaults_to_completions() -> None:
    cfg = config.parse('[backends.x]\nkind = "openai"\nbase_url = "http://h/v1"\nmodel = "m"\n')
    assert cfg.backend("x").mode == "completions"


def test_unknown_backend_lists_configured() -> None:
    cfg = config.parse(FULL_EXAMPLE, where="x.toml")
    with pytest.raises(ConfigError) as info:
        cfg.backend("gpt")
    assert "claude, local, vllm" in str(info.value)
    assert "[backends.gpt]" in str(info.value)


def test_malformed_toml_gives_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        config.parse('template = "paper"\n[backends.x\nkind = "openai"\n', where="bad.toml")
    message = str(info.value)
    assert "bad.toml" in message
    assert "line 2" in message
    assert "column" in message


def test_malformed_file_on_disk(isolated_dirs: dict[str, Path]) -> None:
    path = isolated_dirs["config"] / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("policy = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 1.*column"):
        config.load()


OPENAI = '[backends.x]\nkind = "openai"\nbase_url = "http://h"\nmodel = "m"\n'


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[backends.x]\nkind = "gemini"\nmodel = "m"\n', "kind = 'gemini'"),
        (OPENAI + 'mode = "messages"\n', "completions or chat"),
        ('[backends.x]\nkind = "anthropic"\nmode = "chat"\nmodel = "m"\n', "messages"),
        ('[backends.x]\nkind = "openai"\nbase_url = "http://h/v1"\n', "needs model"),
        ('[backends.x]\nkind = "anthropic"\n', "needs model"),
        ('[backends.x]\nkind = "openai"\nmodel = "m"\n', "needs base_url"),
        (
            OPENAI + "concurrency = -1\n",
            "concurrency = -1; it must be a whole number from 1 to 4096",
        ),
        (
            OPENAI + "concurrency = 2.5\n",
            "concurrency = 2.5; it must be a whole number from 1 to 4096",
        ),
        (OPENAI + "timeout = -3\n", "timeout = -3; it must be a finite number > 0"),
        (OPENAI + "samples = true\n", "samples = true; it must be a whole number >= 1"),
        (
            '[backends.x]\nkind = "openai"\nbase_url = 8000\nmodel = "m"\n',
            "base_url must be a string",
        ),
        (OPENAI + "retries = 3\n", "unknown key(s) retries"),
        ('backends = "x"\n', "must be tables"),
        ("[backends]\nx = 3\n", "must be a table"),
        ('colour = "red"\n', "unknown setting(s) colour"),
        ('default_backend = "vllm"\n', "no [backends.vllm]"),
        ('template = "v3"\n', "template = 'v3'"),
        ('policy = "ignore"\n', "policy = 'ignore'"),
    ],
)
def test_bad_values(toml: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(toml, where="c.toml")
    assert needle in str(info.value)
    assert str(info.value).startswith("c.toml: ")


@pytest.mark.parametrize("key", ["api_key", "openai_key", "API_KEY"])
def test_inline_secret_rejected_without_echo(key: str) -> None:
    secret = "sk-proj-abcdef0123456789SECRET"
    toml = f'[backends.x]\nkind = "openai"\nbase_url = "h"\nmodel = "m"\n{key} = "{secret}"\n'
    with pytest.raises(ConfigError) as info:
        config.parse(toml)
    message = str(info.value)
    assert "environment variable" in message
    assert "api_key_env" in message
    assert secret not in message
    assert "sk-" not in message


def test_api_key_from_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = config.parse(FULL_EXAMPLE).backend("vllm")
    monkeypatch.setenv("VLLM_API_KEY", "sk-live-value-123")
    assert backend.api_key() == "sk-live-value-123"
    # The key never appears in what is shown or stored.
    assert "sk-live-value-123" not in repr(backend.public())


@pytest.mark.parametrize("value", [None, ""])
def test_api_key_unset_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY_OTHER", "sk-should-not-leak")
    if value is None:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", value)
    backend = config.parse(FULL_EXAMPLE).backend("claude")
    with pytest.raises(ConfigError) as info:
        backend.api_key()
    message = str(info.value)
    assert "ANTHROPIC_API_KEY" in message
    assert "'claude'" in message
    assert "sk-" not in message


def test_set_values_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    assert config.set_values(path, {"template": "v2", "max_off_option": 0.25}) == path
    assert path.read_text(encoding="utf-8") == 'template = "v2"\nmax_off_option = 0.25\n'
    loaded = config.load(path)
    assert (loaded.template, loaded.max_off_option, loaded.policy) == ("v2", 0.25, "keep")
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left


def test_set_values_to_default_path(isolated_dirs: dict[str, Path]) -> None:
    path = config.set_values(None, {"theme": "goqa-light"})
    assert path == isolated_dirs["config"] / "config.toml"
    assert config.load().theme == "goqa-light"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'template = "v3"\n',
            """c.toml: template = 'v3'; use "paper", "v2", "bio" or "portray".""",
        ),
        ('policy = "ignore"\n', """c.toml: policy = 'ignore'; use "keep" or "drop"."""),
    ],
)
def test_bad_template_or_policy_names_the_value_and_the_choices(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(toml, where="c.toml")
    assert str(info.value) == message


def test_template_and_policy_are_narrowed_when_read() -> None:
    cfg = config.parse('template = "v2"\npolicy = "drop"\n')
    assert (cfg.template, cfg.policy) == ("v2", "drop")
    assert (config.Config().template, config.Config().policy) == ("paper", "keep")
