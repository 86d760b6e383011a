"""The user's configuration: ``config.toml`` in the platformdirs config directory.

::

    default_backend = "local"
    template = "paper"          # or "v2"; "bio", "portray" (steering formats)
    policy = "keep"             # non-substantive options: "keep" or "drop"
    theme = "goqa-dark"
    max_off_option = 0.5        # an answer with more probability off the letters is suspect
    estimator = "first-token"   # or "order-averaged", "prior-corrected", "verbalized", "free-text"
    orders = 4                  # option orders an order-averaged answer asks under
    free_text_samples = 8       # replies a free-text answer is counted over
    calibration_questions = 8   # per number of options, for prior-corrected

    [backends.vllm]
    kind = "openai"             # "openai", "anthropic" or "local"
    base_url = "http://localhost:8000/v1"
    model = "meta-llama/Llama-3.1-8B-Instruct"
    mode = "completions"        # or "chat"
    api_key_env = "VLLM_API_KEY"  # the *name* of an environment variable, never the key
    concurrency = 64

Secrets come only from the environment variable a backend names. A built-in ``local``
backend (the embedded SmolLM2 model) exists even with no file.

The file belongs to the user: goqa reads it with :func:`load` and changes it only through
:func:`set_values`, which edits the given top-level keys in place (with ``tomlkit``) and keeps
every comment, blank line, key order and quoting style; it never re-serialises the file.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions
import tomlkit.items

from core import estimators, paths
from core.errors import GoqaError
from core.estimators import ESTIMATOR_NAMES, EstimatorName, EstimatorSpec
from core.metrics import POLICIES, Policy
from core.prompts import TEMPLATE_NAMES, TemplateName

if sys.version_info >= (3, 11):  # noqa: UP036  tomli keeps older Pythons possible
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KINDS = ("local", "openai", "anthropic")
MODES = {"local": ("logits", "chat"), "openai": ("completions", "chat"), "anthropic": ("messages",)}
BOM = "\ufeff"


class ConfigError(GoqaError):
    """A configuration problem; the message names the file, the place and the fix."""

    title = "Configuration problem"


# ---------------------------------------------------------------------------- secrets in URLs

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<userinfo>[^/?#]*)@")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&][^=&#]*(?:key|token|secret|password|passwd|sig)[^=&#]*=)[^&#]*", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """``url`` safe to show, log or store: credentials replaced by ``***``.

    The userinfo part (``https://user:pass@host`` → ``https://***@host``) and the values of
    query parameters whose name looks secret (``?api_key=…``, ``&token=…``) are masked; the
    rest is kept so the URL still says where it points. Text that is not a URL comes back
    unchanged unless it holds something that looks like credentials.

    Args:
        url: any URL (or text that may be one).

    Returns:
        The URL with its secrets masked.
    """
    masked = _USERINFO.sub(lambda m: f"{m.group('scheme') or ''}***@", url, count=1)
    return _SECRET_QUERY.sub(lambda m: f"{m.group('name')}***", masked)


# ---------------------------------------------------------------------------- typed config


@dataclass(frozen=True, repr=False)
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
        """Every field, safe to show or store: ``base_url`` has its credentials masked
        (:func:`redact_url`) and the key itself is never part of the config."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["base_url"] = redact_url(self.base_url)
        return shown

    def __repr__(self) -> str:  # a repr lands in logs and tracebacks: never with credentials
        inner = ", ".join(f"{k}={v!r}" for k, v in self.public().items())
        return f"BackendConfig({inner})"


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
    template: TemplateName = "paper"
    policy: Policy = "keep"
    theme: str = "goqa-dark"
    max_off_option: float = 0.5
    """An answer whose probability mass off the option letters exceeds this is suspect."""
    estimator: EstimatorName = "first-token"
    """The estimator runs and asks use unless ``--estimator`` says otherwise."""
    orders: int = estimators.DEFAULT_ORDERS
    free_text_samples: int = estimators.DEFAULT_SAMPLES
    calibration_questions: int = estimators.DEFAULT_CALIBRATION
    path: str = ""

    def estimator_spec(self, name: str | None = None, orders: int | None = None) -> EstimatorSpec:
        """The estimator ``name`` (default: the configured one) with the configured settings.

        Raises:
            core.errors.InvalidValueError: an unknown name, or settings out of range.
        """
        return EstimatorSpec(
            name=estimators.parse_estimator_name(name) if name else self.estimator,
            orders=orders or self.orders,
            samples=self.free_text_samples,
            calibration=self.calibration_questions,
        )

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


# ---------------------------------------------------------------------------- checking values


@dataclass(frozen=True)
class _Range:
    """The values a number in the config may take."""

    whole: bool
    low: float
    low_open: bool = False
    high: float | None = None

    def holds(self, value: object) -> bool:
        if isinstance(value, bool):
            return False
        if self.whole and not isinstance(value, int):
            return False
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if value < self.low or (self.low_open and value == self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a finite number"
        if self.high is not None:
            return f"{kind} from {self.low:g} to {self.high:g}"
        return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"


MAX_CONCURRENCY = 4096
"""Requests in flight at most: far above what saturates a vLLM server, far below what would
exhaust the machine's sockets (each 64 in flight take one HTTP connection pool)."""

_BACKEND_NUMBERS: dict[str, _Range] = {
    "concurrency": _Range(whole=True, low=1, high=MAX_CONCURRENCY),
    "samples": _Range(whole=True, low=1),
    "max_retries": _Range(whole=True, low=0),
    "max_tokens": _Range(whole=True, low=1),
    "n_threads": _Range(whole=True, low=0),
    "timeout": _Range(whole=False, low=0, low_open=True),
    "temperature": _Range(whole=False, low=0, high=2),
}
_TOP_NUMBERS: dict[str, _Range] = {
    "max_off_option": _Range(whole=False, low=0, high=1),
    "orders": _Range(whole=True, low=1, high=estimators.MAX_ORDERS),
    "free_text_samples": _Range(whole=True, low=1, high=estimators.MAX_SAMPLES),
    "calibration_questions": _Range(whole=True, low=1, high=estimators.MAX_CALIBRATION),
}
_STR_FIELDS = {"kind", "base_url", "model", "mode", "api_key_env", "model_path"}
_TOP_STRINGS = ("default_backend", "template", "policy", "theme", "estimator")
SETTINGS = (*_TOP_STRINGS, *_TOP_NUMBERS)
"""The top-level settings (every key of the file outside ``[backends.*]``)."""


def _shown(value: object) -> str:
    """A value as it would be written in TOML (``true``, ``nan``, ``"text"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _number(where: str, place: str, key: str, value: object, rule: _Range) -> int | float:
    if not rule.holds(value):
        raise ConfigError(f"{where}: {place}{key} = {_shown(value)}; it must be {rule.describe()}.")
    assert isinstance(value, int | float)
    return value if rule.whole else float(value)


def _check_url(where: str, name: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        ok = (
            parts.scheme.lower() in ("http", "https")
            and bool(parts.hostname)
            and not any(c.isspace() for c in url)  # urlsplit strips what httpx would not
        )
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535
    except ValueError:  # an unclosed IPv6 bracket, a port such as 99999
        ok = False
    if not ok:
        raise ConfigError(
            f"{where}: [backends.{name}] base_url = {_shown(redact_url(url))}; it must be an "
            "http:// or https:// URL with a host (and a port up to 65535), e.g. "
            '"http://localhost:8000/v1".'
        )


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
    unknown = set(table) - set(_BACKEND_NUMBERS) - _STR_FIELDS
    if unknown:
        raise ConfigError(
            f"{where}: [backends.{name}] has unknown key(s) {', '.join(sorted(unknown))}. "
            f"Known keys: {', '.join(sorted(set(_BACKEND_NUMBERS) | _STR_FIELDS))}."
        )
    kind = table.get("kind", "local" if name == "local" else "")
    if kind not in KINDS:
        raise ConfigError(
            f"{where}: [backends.{name}] kind = {kind!r}; use one of {', '.join(KINDS)}."
        )
    values: dict[str, Any] = {"name": name, "kind": kind}
    for key, value in table.items():
        if key in _BACKEND_NUMBERS:
            values[key] = _number(where, f"[backends.{name}] ", key, value, _BACKEND_NUMBERS[key])
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
    if cfg.base_url:
        _check_url(where, name, cfg.base_url)
    if cfg.api_key_env and not _ENV_NAME.fullmatch(cfg.api_key_env):
        # Likely the key itself pasted in: never repeat it.
        env = f"{re.sub(r'[^A-Za-z0-9]+', '_', name).upper()}_API_KEY"
        raise ConfigError(
            f"{where}: [backends.{name}] api_key_env must be the NAME of an environment "
            "variable (letters, digits and _, not starting with a digit); the value there is "
            "not one and may be the key itself, so it is not shown. Put the key in a "
            f"variable ('export {env}=…') and write api_key_env = \"{env}\"."
        )
    return cfg


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------------------- reading


def parse(text: str, where: str = "config.toml") -> Config:
    """Parse config TOML text (a leading UTF-8 byte-order mark is ignored).

    Raises:
        ConfigError: bad TOML (with line and column) or bad values (naming the key, the
            value and what it may be).
    """
    try:
        data = tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}. Fix the file or delete it.") from None
    backends = {"local": LOCAL_DEFAULT}
    tables = data.get("backends", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: 'backends' must be tables like [backends.NAME].")
    for name, table in tables.items():
        backends[name] = _backend_from_table(name, table, where)
    known_top = {"backends", *SETTINGS}
    unknown = set(data) - known_top
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known_top))}."
        )
    for setting in _TOP_STRINGS:
        if setting in data and not isinstance(data[setting], str):
            raise ConfigError(
                f'{where}: {setting} must be a string in quotes, e.g. {setting} = "…"; '
                f"found {data[setting]!r}."
            )
    numbers: dict[str, Any] = {
        key: _number(where, "", key, data[key], rule)
        for key, rule in _TOP_NUMBERS.items()
        if key in data
    }
    cfg = Config(
        backends=backends,
        default_backend=str(data.get("default_backend", "local")),
        template=_template(where, str(data.get("template", "paper"))),
        policy=_policy(where, str(data.get("policy", "keep"))),
        estimator=_estimator(where, str(data.get("estimator", "first-token"))),
        theme=str(data.get("theme", "goqa-dark")),
        path=where,
        **numbers,
    )
    if cfg.default_backend not in backends:
        raise ConfigError(
            f"{where}: default_backend = {cfg.default_backend!r} but no [backends."
            f"{cfg.default_backend}] table exists. Add that table, or set default_backend to "
            f"one of: {', '.join(sorted(backends))}."
        )
    return cfg


def _template(where: str, value: str) -> TemplateName:
    """The ``template`` setting, checked; a ConfigError names the value and the choices."""
    for name in TEMPLATE_NAMES:
        if value == name:
            return name
    raise ConfigError(f"{where}: template = {value!r}; use {_either(TEMPLATE_NAMES)}.")


def _estimator(where: str, value: str) -> EstimatorName:
    """The ``estimator`` setting, checked; a ConfigError names the value and the choices."""
    for name in ESTIMATOR_NAMES:
        if value == name:
            return name
    raise ConfigError(f"{where}: estimator = {value!r}; use {_either(ESTIMATOR_NAMES)}.")


def _policy(where: str, value: str) -> Policy:
    """The ``policy`` setting, checked; a ConfigError names the value and the choices."""
    for name in POLICIES:
        if value == name:
            return name
    raise ConfigError(f"{where}: policy = {value!r}; use {_either(POLICIES)}.")


def _either(names: tuple[str, ...]) -> str:
    """``"keep" or "drop"``, ``"paper", "v2", "bio" or "portray"``: the accepted values as a
    config file spells them."""
    quoted = [f'"{n}"' for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _read_text(path: Path, *, required: bool) -> str | None:
    """The file's text exactly as stored (newlines kept), or None if it does not exist.

    Raises:
        ConfigError: a directory, unreadable, not UTF-8, or missing when ``required``.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"{path}: no such config file. Check the path, or leave the option out to use "
                f"the default file ({paths.config_file()}; 'goqa config path' prints it)."
            ) from None
        return None
    except IsADirectoryError:
        raise ConfigError(
            f"{path} is a directory, not a config file. Give the path of a TOML file, "
            f"e.g. {path / 'config.toml'}, or move the directory aside."
        ) from None
    except PermissionError:
        raise ConfigError(
            f"{path}: cannot read the config file: permission denied. Make it readable "
            f"('chmod u+rw {path}') or use another file."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the config file ({exc.strerror or exc}). Check the path and "
            "its permissions."
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the config file is not UTF-8 text ({exc.reason} at byte {exc.start}). "
            "Save it as UTF-8, or delete it to start from the defaults."
        ) from None


def load(path: Path | None = None, *, required: bool = False) -> Config:
    """Load the config file.

    Args:
        path: the file (default: :func:`core.paths.config_file`).
        required: the file must exist (a path the user gave, e.g. ``--config PATH``);
            otherwise a missing file means the defaults.

    Returns:
        The configuration; ``Config.path`` is the file's path.

    Raises:
        ConfigError: the file is missing (when ``required``), a directory, unreadable, not
            UTF-8, not TOML, or holds a bad value; the message names the fix.
    """
    path = path or paths.config_file()
    text = _read_text(path, required=required)
    if text is None:
        return Config(path=str(path))
    return parse(text, where=str(path))


# ---------------------------------------------------------------------------- changing the file


def _toml_item(value: object, old: object, newline: str) -> tomlkit.items.Item:
    """``value`` as a TOML item, in the old item's quoting style and with its trivia."""
    item: tomlkit.items.Item
    if (
        isinstance(value, str)
        and isinstance(old, tomlkit.items.String)
        and old.type == tomlkit.items.StringType.SLL
        and "'" not in value
        and "\n" not in value
    ):
        item = tomlkit.string(value, literal=True)
    else:
        item = tomlkit.item(value)
    if isinstance(old, tomlkit.items.Item):
        item.trivia.indent = old.trivia.indent
        item.trivia.comment_ws = old.trivia.comment_ws
        item.trivia.comment = old.trivia.comment
        item.trivia.trail = old.trivia.trail
    else:
        item.trivia.trail = newline
    return item


def _check_setting(key: str, value: object) -> None:
    if key in _TOP_NUMBERS:
        if not _TOP_NUMBERS[key].holds(value):
            raise ConfigError(
                f"{key} = {_shown(value)}; it must be {_TOP_NUMBERS[key].describe()}."
            )
    elif key in _TOP_STRINGS:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string; got {_shown(value)}.")
    else:
        raise ConfigError(
            f"{key!r} is not a setting goqa changes; settings: {', '.join(SETTINGS)}."
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``.

    A symlinked file (a dotfile manager's) stays a symlink: its target is replaced. The
    old file's permissions are kept.
    """
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def set_values(path: Path | None, values: Mapping[str, object]) -> Path:
    """Change top-level settings in the config file, keeping everything else as it is.

    Only the keys in ``values`` change: a key already in the file gets the new value in place
    (its comment, indentation and quoting style kept); a missing key is added among the
    top-level settings; every other byte of the file (comments, blank lines, order, tables,
    a byte-order mark, CRLF line ends) stays. A missing file is created. The new text is
    checked with :func:`parse` before anything is written, and it is written to a temporary
    file in the same directory and renamed over the old one, so a failure leaves the old
    file whole.

    Args:
        path: the config file (default: :func:`core.paths.config_file`).
        values: setting → new value, from :data:`SETTINGS` (e.g.
            ``{"default_backend": "vllm"}``; ``max_off_option`` takes a number).

    Returns:
        The path written.

    Raises:
        ConfigError: an unknown setting or bad value, a file that cannot be read or parsed
            (it is left alone), a result that would not load (e.g. a default_backend with
            no table), or a failed write.
    """
    path = path or paths.config_file()
    for key, value in values.items():
        _check_setting(key, value)
    text = _read_text(path, required=False) or ""
    bom = BOM if text.startswith(BOM) else ""
    body = text.removeprefix(BOM)
    parse(body, where=str(path))  # never edit a file that does not load: the user fixes it
    try:
        doc = tomlkit.parse(body)
    except tomlkit.exceptions.TOMLKitError as exc:  # tomllib accepted it; tomlkit did not
        raise ConfigError(f"{path}: cannot edit the file in place ({exc}).") from None
    newline = "\r\n" if "\r\n" in body else "\n"
    for key, value in values.items():
        old = doc.item(key) if key in doc else None
        if (
            isinstance(value, float)
            and value.is_integer()
            and isinstance(old, tomlkit.items.Integer)
        ):
            value = int(value)  # keep "max_off_option = 1" an integer rather than "1.0"
        doc[key] = _toml_item(value, old, newline)
    new = doc.as_string()
    parse(new, where=str(path))
    if new == body:  # nothing changes: leave the file (and its timestamp) alone
        return path
    try:
        _write_atomically(path, (bom + new).encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write the config file ({exc.strerror or exc}). Check that its "
            "directory exists and is writable."
        ) from None
    return path
