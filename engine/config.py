"""One settings object for the whole process: flags > ITPWATCH_* environment > TOML config file > defaults.

The config file and the environment are read generically from the fields of `Settings`: a field added
to the class is at once a key of the file, an environment variable and a line of `itpwatch config show`.
A field marked secret (`json_schema_extra=SECRET`) also takes `<name>_file` (in the file) and
`ITPWATCH_<NAME>_FILE` (in the environment): the path of a file holding the value, so that a token or a
password never has to be on a command line or in the config file itself. docs/configuration.md lists
every key; a test compares it with the class.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from engine.errors import ConfigError

ENV_PREFIX = "ITPWATCH_"
CONFIG_ENV = "ITPWATCH_CONFIG"
"""Environment variable naming the config file (the `--config` flag wins over it)."""
OTHER_ENV = frozenset({"ITPWATCH_CONFIG", "ITPWATCH_DEBUG"})
"""ITPWATCH_* variables that are not settings but are known (tests use ITPWATCH_TEST_*)."""
SECRET: dict[str, Any] = {"secret": True}
"""`json_schema_extra` of a secret field: masked by `config show`, also read from `<name>_file`."""
NAME_OR_PATH: dict[str, Any] = {"name_or_path": True}
"""`json_schema_extra` of a text field that is a name or a YAML file: a file name in the config file is taken
relative to the config file's folder, like a Path field."""
MASK = "***"

_config_file: ContextVar[Path | None] = ContextVar("itpwatch_config_file", default=None)


class Settings(BaseSettings):
    """Every knob of itpwatch. docs/configuration.md lists them; flags of the CLI override them."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    database_url: str = Field(default="sqlite:///itpwatch.db", description="SQLAlchemy URL of the event store.")
    database_password: str | None = Field(
        default=None, json_schema_extra=SECRET,
        description="Password for database_url (replaces one in the URL); best given as database_password_file.")
    timezone: str = Field(default="Europe/Berlin", description="Site time zone for calendar dates.")
    profile: str = Field(default="site", json_schema_extra=NAME_OR_PATH,
                         description="Rule profile: 'site', 'iwg2009' or a path to a YAML file.")
    mapping: Path | None = Field(default=None, description="Site mapping YAML (local codes, units, synonyms).")
    batch_size: int = Field(default=2000, ge=1, description="Messages per transaction in bulk imports.")
    bind_host: str = Field(default="127.0.0.1", description="Address the MLLP and HTTP listeners bind to.")
    mllp_port: int | None = Field(default=None, ge=0, le=65535,
                                  description="`serve`: MLLP listener port (0 = any free port); none: no MLLP.")
    http_port: int | None = Field(default=None, ge=0, le=65535,
                                  description="`serve`: HTTP listener port (0 = any free port); none: no HTTP.")
    http_token: str | None = Field(default=None, json_schema_extra=SECRET,
                                   description="Bearer token required by the HTTP endpoints.")
    sinks: Path | None = Field(default=None, description="Alert sink configuration YAML.")
    public_base_url: str | None = Field(
        default=None,
        description="The URL clinicians and the EHR reach this server at (e.g. https://itpwatch.ukx.example): "
                    "base of CDS card links to /patients/{mrn}, of FHIR Location headers, and the audience "
                    "CDS Hooks JWTs must name. Unset: links are left out and the request's own URL is used.",
    )
    cds_clients: Path | None = Field(
        default=None,
        description="YAML of the EHRs trusted to call the CDS Hooks service: iss, and their public keys "
                    "(jwks inline or jwks_file) or allowed jku URLs. Unset: every CDS service call is refused.",
    )
    cds_cors_origins: list[str] = Field(
        default=["*"],
        description="Origins a browser-based CDS client may call /cds-services from (CORS); '*' for any. "
                    "Calls still need a valid JWT.",
    )
    smtp_password: str | None = Field(
        default=None, json_schema_extra=SECRET,
        description="Password of SMTP sinks that name a username but no password_env.")
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="'json', 'console' or 'auto' (console on a terminal, JSON otherwise).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged: DEBUG, INFO, WARNING or ERROR.")
    watch_interval_seconds: float = Field(default=2.0, gt=0, le=3600,
                                          description="How often `watch` looks into its folder.")
    watch_stable_seconds: float = Field(
        default=2.0, ge=0, le=3600,
        description="`watch`: a file is complete when its size and time stayed the same this long.")
    watch_done_suffix: str | None = Field(
        default=None, pattern=r"^\.[A-Za-z0-9_.\-]+$",
        description="`watch`: a file is complete when FILE+suffix exists (e.g. '.done'), instead of stable size.")
    ready_outbox_lag_seconds: float = Field(
        default=900.0, gt=0,
        description="/health/ready fails when an alert notice has been due for longer than this.")
    web_session_idle_minutes: int = Field(
        default=30, ge=1, description="A web session ends after this many minutes without a request.")
    web_session_max_hours: int = Field(
        default=12, ge=1, description="A web session ends this many hours after log-in, active or not.")
    web_login_attempts: int = Field(
        default=5, ge=1, description="Failed log-ins per user name or address before the web app makes them wait.")
    web_login_window_minutes: int = Field(
        default=15, ge=1, description="The window of web_login_attempts, and how long the wait lasts.")
    # -- security (docs/security.md) --------------------------------------------------------------
    checkpoint_key: Path | None = Field(
        default=None, description="Ed25519 private key (PEM) that signs checkpoints; keep it off the database host.")
    checkpoint_dir: Path | None = Field(
        default=None, description="Directory the signed checkpoints are written to (and verify reads by default).")
    checkpoint_interval: float = Field(
        default=300.0, gt=0, description="Seconds between checkpoints written by `serve` (with a key and a dir).")
    checkpoint_sink: str | None = Field(
        default=None, description="Name of an alert sink (sinks YAML) that also receives every checkpoint.")
    checkpoint_trusted_keys: list[Path] = Field(
        default_factory=list, description="Public keys of earlier checkpoint keys (after a rotation) verify trusts.")
    dead_letter_key: Path | None = Field(
        default=None, description="Fernet key file encrypting dead letters that cannot be masked (one key per line, "
                                  "the first encrypts); default: a file beside a SQLite database, made on first use.")
    mllp_formats: list[str] = Field(
        default=["hl7"], description="Formats the MLLP listener accepts: hl7, and optionally fhir and csv.")
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain) for MLLP over TLS and HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")
    mllp_client_ca: Path | None = Field(
        default=None, description="CA bundle: MLLP senders must present a client certificate signed by it.")
    mllp_senders: dict[str, list[str]] = Field(
        default_factory=dict, description="Client certificate name -> the MSH-3^MSH-4 it may send as "
                                          "('*' for any); when set, a certificate not listed is refused.")

    @field_validator("mllp_formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"hl7", "fhir", "csv"})
        if unknown:
            raise ValueError(f"unknown format {', '.join(unknown)}: use hl7, fhir and/or csv")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone; use an IANA name such as Europe/Berlin or UTC") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError("not a database URL; use sqlite:///path/to/file.db or "
                             "postgresql://user@host/database") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database '{url.get_backend_name()}'; use sqlite:/// or postgresql://")
        return value

    @model_validator(mode="after")
    def _password_into_url(self) -> Settings:
        if self.database_password:
            from sqlalchemy.engine import make_url

            url = make_url(self.database_url).set(password=self.database_password)
            self.database_url = url.render_as_string(hide_password=False)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, SecretFilesFromEnvironment(settings_cls),
                ConfigFileSource(settings_cls, config_file_path()))


def secret_fields(settings_cls: type[BaseSettings] = Settings) -> list[str]:
    return [name for name, info in settings_cls.model_fields.items() if _is_secret(info)]


def _is_secret(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and extra.get("secret") is True


def _file_keys(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """`<secret>_file` -> `<secret>`, unless the class has a real field of that name."""
    fields = settings_cls.model_fields
    return {f"{name}_file": name for name in secret_fields(settings_cls) if f"{name}_file" not in fields}


def _is_path(info: FieldInfo, value: object) -> bool:
    """A value of the config file that names a file (taken relative to the config file's folder)."""
    annotation = info.annotation
    if annotation is Path or Path in get_args(annotation):
        return True
    extra = info.json_schema_extra
    named = isinstance(extra, dict) and extra.get("name_or_path") is True
    return named and isinstance(value, str) and value.endswith((".yaml", ".yml"))


def _from_folder(folder: Path, value: object) -> object:
    """A path (or a list of paths) of the config file, taken from the file's folder when relative."""
    if isinstance(value, list):
        return [_from_folder(folder, v) for v in value]
    return str(folder / value) if isinstance(value, str) and value else value


def read_secret_file(path: Path, key: str) -> str:
    """The secret a file holds: its text without the trailing newline editors and `echo` add."""
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}; give a readable file") from None
    if not value:
        raise ConfigError(f"{key}: {path} is empty")
    return value


def config_file_path() -> Path | None:
    """The config file in effect: the one `load_settings` was given, else $ITPWATCH_CONFIG, else none."""
    given = _config_file.get()
    if given is not None:
        return given
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


class SecretFilesFromEnvironment(PydanticBaseSettingsSource):
    """ITPWATCH_<SECRET>_FILE: the path of a file holding the secret (Docker and systemd credentials)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = {k.upper(): v for k, v in os.environ.items()}
        found: dict[str, Any] = {}
        for file_key, name in _file_keys(self.settings_cls).items():
            variable = f"{ENV_PREFIX}{file_key.upper()}"
            if variable not in environ:
                continue
            if f"{ENV_PREFIX}{name.upper()}" in environ:
                raise ConfigError(f"both {ENV_PREFIX}{name.upper()} and {variable} are set; keep one")
            found[name] = read_secret_file(Path(environ[variable]), variable)
        return found


class ConfigFileSource(TomlConfigSettingsSource):
    """The TOML config file: flat `key = value` lines, one per field of Settings.

    Unknown keys are errors (a typo must not silently fall back to a default). Relative paths are taken
    from the file's folder, so a config file and the files it names can move together.
    """

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        self.path = path
        self.fields_of = settings_cls
        if path is not None and not path.is_file():
            raise ConfigError(f"config file {path} not found (--config or {CONFIG_ENV}); "
                              "give the path of an existing TOML file")
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        path = Path(file_path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {path}: cannot read it: {exc.strerror or exc}") from None
        return self._resolve(path, data)

    def _resolve(self, path: Path, data: dict[str, Any]) -> dict[str, Any]:
        fields = self.fields_of.model_fields
        file_keys = _file_keys(self.fields_of)
        known = sorted([*fields, *file_keys])
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in file_keys:
                name = file_keys[key]
                if name in data:
                    raise ConfigError(f"config file {path}: both '{name}' and '{key}' are given; keep one")
                if not isinstance(value, str):
                    raise ConfigError(f"config file {path}: '{key}' must be a path (a string)")
                out[name] = read_secret_file(path.resolve().parent / value, f"{key} in {path}")
            elif key in fields:
                if _is_path(fields[key], value):
                    value = _from_folder(path.resolve().parent, value)
                out[key] = value
            else:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "docs/configuration.md lists every key"
                raise ConfigError(f"config file {path}: unknown key '{key}'; {hint}")
        return out


@contextmanager
def _using_config_file(path: Path | None) -> Iterator[None]:
    token = _config_file.set(path)
    try:
        yield
    finally:
        _config_file.reset(token)


def load_settings(config_file: Path | None = None, *, labels: Mapping[str, str] | None = None,
                  **overrides: object) -> Settings:
    """Settings from every source, the caller's explicit values on top (None means 'not given').

    A bad value becomes one ConfigError naming the key, where the value came from (`labels` maps a key
    to the flag that set it) and what is allowed.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    with _using_config_file(config_file):
        try:
            return Settings(**given)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ConfigError(_describe(exc, given, labels or {})) from None


def _describe(exc: ValidationError, given: Mapping[str, object], labels: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else "settings"
        origin = origin_of(key, given, labels)
        shown = "" if key in secret_fields() or error["type"] == "extra_forbidden" else f" = {error['input']!r}"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{key}{shown} (from {origin}): {message}")
    return "; ".join(problems)


def origin_of(key: str, given: Mapping[str, object] | None = None, labels: Mapping[str, str] | None = None,
              config_file: Path | None = None) -> str:
    """Where the effective value of a key comes from, in the order of precedence."""
    if given and key in given:
        return (labels or {}).get(key, "the command line")
    environ = {k.upper() for k in os.environ}
    variable = f"{ENV_PREFIX}{key.upper()}"
    if variable in environ:
        return variable
    if key in secret_fields() and f"{variable}_FILE" in environ:
        return f"{variable}_FILE"
    path = config_file or config_file_path()
    if path is not None and path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if key in data or f"{key}_file" in data:
            return f"config file {path}"
    return "default"


def unknown_environment() -> list[str]:
    """ITPWATCH_* variables that set nothing (a typo such as ITPWATCH_DATABSE_URL), for a warning."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    known |= {f"{ENV_PREFIX}{key.upper()}" for key in _file_keys(Settings)}
    return sorted(name for name in (k.upper() for k in os.environ)
                  if name.startswith(ENV_PREFIX) and name not in known and name not in OTHER_ENV
                  and not name.startswith(f"{ENV_PREFIX}TEST_"))


def effective(settings: Settings, *, config_file: Path | None = None, given: Mapping[str, object] | None = None,
              labels: Mapping[str, str] | None = None) -> list[tuple[str, Any, str]]:
    """(key, value with secrets masked, origin) for every setting: what `itpwatch config show` prints."""
    rows = []
    secrets = set(secret_fields())
    for key in Settings.model_fields:
        value = getattr(settings, key)
        if key in secrets and value is not None:
            value = MASK
        elif key == "database_url":
            value = masked_url(value)
        elif isinstance(value, Path):
            value = str(value)
        rows.append((key, value, origin_of(key, given, labels, config_file)))
    return rows


def masked_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ***."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)
