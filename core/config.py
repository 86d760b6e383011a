"""The user's configuration: ``config.toml`` in the platformdirs config directory.

::

    default_backend = "local"
    template = "paper"          # or "v2"
    policy = "keep"             # non-substantive options: "keep" or "drop"
    theme = "goqa-dark"

    [backends.vllm]
    kind = "openai"             # "openai", "anthropic" or "local"
    base_url = "http://localhost:8000/v1"
    model = "meta-llama/Llama-3.1-8B-Instruct"
    mode = "completions"        # or "chat"
    api_key_env = "VLLM_API_KEY"  # the *name* of an environment variable, never the key
    concurrency = 64

Secrets come only from the environment variable a backend names. A built-in ``local``
backend (the embedded SmolLM2 model) exists even with no file.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core import paths

if sys.version_info >= (3, 11):  # noqa: UP036  tomli keeps older Pythons possible
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KINDS = ("local", "openai", "anthropic")
MODES = {"local": ("logits", "chat"), "openai": ("completions", "chat"), "anthropic": ("messages",)}


class ConfigError(Exception):
    """A configuration problem; the message names the file, the place and the fix."""


@dataclass(frozen=True)
class BackendConfig:
    """One ``[backends.NAME]`` table."""

    name: str
    kind: str
    base_url: str = ""
    model: str = ""
    mode: str = ""
    api_key_env: str = ""
    concurrency: int = 8
    timeout: float = 60.0
    samples: int = 20
    max_retries: int = 4
    temperature: float = 1.0
    max_tokens: int = 5
    model_path: str = ""
    n_threads: int = 0

    def api_key(self) -> str | None:
        """The key from the environment variable named by ``api_key_env`` (None if unnamed).

        Raises:
            ConfigError: the variable is named but not set.
        """
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"Backend {self.name!r} reads its API key from the environment variable "
                f"{self.api_key_env}, which is not set. Export it, e.g. "
                f"'export {self.api_key_env}=…', then try again."
            )
        return value

    def public(self) -> dict[str, Any]:
        """Every field, safe to show or store (the key itself is never part of the config)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


LOCAL_DEFAULT = BackendConfig(
    name="local",
    kind="local",
    model="SmolLM2-135M-Instruct.Q4_1",
    mode="logits",
    concurrency=1,
    timeout=300.0,
    max_retries=0,
)


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    backends: dict[str, BackendConfig] = field(default_factory=lambda: {"local": LOCAL_DEFAULT})
    default_backend: str = "local"
    template: str = "paper"
    policy: str = "keep"
    theme: str = "goqa-dark"
    path: str = ""

    def backend(self, name: str | None = None) -> BackendConfig:
        """The backend called ``name`` (the default one if None).

        Raises:
            ConfigError: no such backend, listing the configured ones.
        """
        name = name or self.default_backend
        if name not in self.backends:
            known = ", ".join(sorted(self.backends))
            close = difflib.get_close_matches(name, list(self.backends), n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"Unknown backend {name!r}.{hint} Configured backends: {known}. "
                f"Add a [backends.{name}] table to {self.path or paths.config_file()} "
                "(see 'goqa config show')."
            )
        return self.backends[name]


_INT_FIELDS = {"concurrency", "samples", "max_retries", "max_tokens", "n_threads"}
_FLOAT_FIELDS = {"timeout", "temperature"}
_STR_FIELDS = {"kind", "base_url", "model", "mode", "api_key_env", "model_path"}


def _backend_from_table(name: str, table: Any, where: str) -> BackendConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [backends.{name}] must be a table.")
    secret = next(
        (k for k in table if k == "api_key" or (k.lower().endswith("key") and k != "api_key_env")),
        None,
    )
    if secret is not None:
        env = f"{re.sub(r'[^A-Za-z0-9]+', '_', name).upper()}_API_KEY"
        raise ConfigError(
            f"{where}: [backends.{name}] has {secret} = …; never write a key in the file. "
            f'Delete that line, put api_key_env = "{env}" there instead and set that '
            f"environment variable: 'export {env}=…'."
        )
    unknown = set(table) - _INT_FIELDS - _FLOAT_FIELDS - _STR_FIELDS
    if unknown:
        raise ConfigError(
            f"{where}: [backends.{name}] has unknown key(s) {', '.join(sorted(unknown))}. "
            f"Known keys: {', '.join(sorted(_INT_FIELDS | _FLOAT_FIELDS | _STR_FIELDS))}."
        )
    kind = table.get("kind", "local" if name == "local" else "")
    if kind not in KINDS:
        raise ConfigError(
            f"{where}: [backends.{name}] kind = {kind!r}; use one of {', '.join(KINDS)}."
        )
    values: dict[str, Any] = {"name": name, "kind": kind}
    for key, value in table.items():
        if key in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{where}: [backends.{name}] {key} must be a whole number >= 0.")
            values[key] = value
        elif key in _FLOAT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}: [backends.{name}] {key} must be a number >= 0.")
            values[key] = float(value)
        elif key != "kind":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: [backends.{name}] {key} must be a string.")
            values[key] = value
    base = LOCAL_DEFAULT if kind == "local" else BackendConfig(name=name, kind=kind)
    cfg = replace(base, **values)
    if not cfg.mode:
        cfg = replace(cfg, mode=MODES[kind][0])
    if cfg.mode not in MODES[kind]:
        raise ConfigError(
            f"{where}: [backends.{name}] mode = {cfg.mode!r}; for kind {kind!r} use "
            f"{' or '.join(MODES[kind])}."
        )
    if kind in ("openai", "anthropic") and not cfg.model:
        raise ConfigError(f'{where}: [backends.{name}] needs model = "…".')
    if kind == "openai" and not cfg.base_url:
        raise ConfigError(
            f'{where}: [backends.{name}] needs base_url, e.g. "http://localhost:8000/v1".'
        )
    if kind == "anthropic" and not cfg.base_url:
        cfg = replace(cfg, base_url="https://api.anthropic.com")
    if cfg.concurrency < 1:
        cfg = replace(cfg, concurrency=1)
    return cfg


def parse(text: str, where: str = "config.toml") -> Config:
    """Parse config TOML text.

    Raises:
        ConfigError: bad TOML (with line and column) or bad values (naming the key).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}. Fix the file or delete it.") from None
    backends = {"local": LOCAL_DEFAULT}
    tables = data.get("backends", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: 'backends' must be tables like [backends.NAME].")
    for name, table in tables.items():
        backends[name] = _backend_from_table(name, table, where)
    known_top = {"backends", "default_backend", "template", "policy", "theme"}
    unknown = set(data) - known_top
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known_top))}."
        )
    for setting in ("default_backend", "template", "policy", "theme"):
        if setting in data and not isinstance(data[setting], str):
            raise ConfigError(
                f'{where}: {setting} must be a string in quotes, e.g. {setting} = "…"; '
                f"found {data[setting]!r}."
            )
    cfg = Config(
        backends=backends,
        default_backend=str(data.get("default_backend", "local")),
        template=str(data.get("template", "paper")),
        policy=str(data.get("policy", "keep")),
        theme=str(data.get("theme", "goqa-dark")),
        path=where,
    )
    if cfg.default_backend not in backends:
        raise ConfigError(
            f"{where}: default_backend = {cfg.default_backend!r} but no [backends."
            f"{cfg.default_backend}] table exists. Add that table, or set default_backend to "
            f"one of: {', '.join(sorted(backends))}."
        )
    if cfg.template not in ("paper", "v2"):
        raise ConfigError(f'{where}: template = {cfg.template!r}; use "paper" or "v2".')
    if cfg.policy not in ("keep", "drop"):
        raise ConfigError(f'{where}: policy = {cfg.policy!r}; use "keep" or "drop".')
    return cfg


def load(path: Path | None = None) -> Config:
    """Load the config file (defaults when it does not exist)."""
    path = path or paths.config_file()
    if not path.exists():
        return Config(path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the config file is not UTF-8 text ({exc.reason} at byte {exc.start}). "
            "Save it as UTF-8, or delete it to start from the defaults."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}).") from None
    return parse(text, where=str(path))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps(cfg: Config) -> str:
    """TOML text for a config (only values that differ from the defaults are written)."""
    lines = [
        f"default_backend = {_toml_value(cfg.default_backend)}",
        f"template = {_toml_value(cfg.template)}",
        f"policy = {_toml_value(cfg.policy)}",
        f"theme = {_toml_value(cfg.theme)}",
    ]
    for name, backend in cfg.backends.items():
        if backend == LOCAL_DEFAULT:
            continue
        base = LOCAL_DEFAULT if backend.kind == "local" else BackendConfig(name, backend.kind)
        key = name if _BARE_KEY.match(name) else _toml_value(name)
        lines += ["", f"[backends.{key}]", f"kind = {_toml_value(backend.kind)}"]
        for f in fields(backend):
            if f.name in ("name", "kind"):
                continue
            value = getattr(backend, f.name)
            if value != getattr(base, f.name) or f.name in ("model", "base_url", "mode"):
                if value != "":
                    lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save(cfg: Config, path: Path | None = None) -> Path:
    """Write the config atomically (keeps the file if the write fails)."""
    path = path or (Path(cfg.path) if cfg.path else paths.config_file())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(dumps(cfg), encoding="utf-8")
    tmp.replace(path)
    return path
