"""Alert sink configuration: one YAML file names the sinks; without one, alerts go to the log sink only.

The file format is documented in docs/alerts.md. A sink's name is part of every idempotency key of the
rows queued for it, so renaming a sink makes its pending rows undeliverable (they fail after their
attempts): rename only with an empty outbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class SinkConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$", max_length=40)
    kind: Literal["log", "webhook", "smtp"]
    url: str | None = None
    """webhook: the URL the JSON body is POSTed to."""
    host: str | None = None
    """smtp: the mail relay."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """smtp: the relay's port (default 25)."""
    sender: str | None = None
    """smtp: the From address."""
    recipients: tuple[str, ...] = ()
    """smtp: the To addresses."""
    starttls: bool = False
    """smtp: upgrade the connection with STARTTLS before sending."""
    username: str | None = None
    """smtp: log in as this user (password from `password_env`, `password_file` or the smtp_password setting)."""
    password_env: str | None = None
    """smtp: name of the environment variable that holds the password; the password is never in the file."""
    password_file: str | None = None
    """smtp: path of a file holding the password (relative to this file's folder), e.g. a Docker secret."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    """Seconds one delivery attempt may take (connect + send + answer)."""
    max_attempts: int = Field(default=8, ge=1, le=100)
    """Attempts before a row is marked 'failed'."""
    backoff_cap_seconds: float = Field(default=600.0, gt=0)
    """The wait after the n-th failed attempt is min(2**n seconds, this cap)."""

    @model_validator(mode="after")
    def _complete(self) -> SinkConfig:
        if self.kind == "webhook":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError(f"sink {self.name!r}: a webhook needs an http(s) url")
        elif self.kind == "smtp":
            missing = [f for f in ("host", "sender") if not getattr(self, f)]
            if not self.recipients:
                missing.append("recipients")
            if missing:
                raise ValueError(f"sink {self.name!r}: an smtp sink needs {', '.join(missing)}")
            if self.password_env and self.password_file:
                raise ValueError(f"sink {self.name!r}: give password_env or password_file, not both")
        return self


class SinksFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sinks: tuple[SinkConfig, ...] = (SinkConfig(name="log", kind="log"),)
    _smtp_password: str | None = PrivateAttr(default=None)
    """The smtp_password setting: the password of SMTP sinks with a username and no password source."""

    @model_validator(mode="after")
    def _unique_names(self) -> SinksFile:
        names = [s.name for s in self.sinks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"sink names must be unique: {', '.join(duplicates)}")
        return self

    @property
    def smtp_password(self) -> str | None:
        return self._smtp_password

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sinks)

    def get(self, name: str) -> SinkConfig | None:
        return next((s for s in self.sinks if s.name == name), None)


def load_sinks(path: Path | None, smtp_password: str | None = None) -> SinksFile:
    """The sinks of a file (the log sink without one). Raises OSError, yaml.YAMLError or ValueError."""
    if path is None:
        return SinksFile()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    loaded = SinksFile.model_validate(data)
    folder = Path(path).resolve().parent
    sinks = []
    for sink in loaded.sinks:
        if sink.kind == "smtp" and sink.username and not (sink.password_env or sink.password_file or smtp_password):
            raise ValueError(f"sink {sink.name!r}: username given without a password; set password_env or "
                             "password_file, or the smtp_password setting")
        if sink.password_file and not Path(sink.password_file).is_absolute():
            sink = sink.model_copy(update={"password_file": str(folder / sink.password_file)})
        sinks.append(sink)
    resolved = loaded.model_copy(update={"sinks": tuple(sinks)})
    resolved._smtp_password = smtp_password
    return resolved
