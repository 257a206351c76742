"""Alert sink configuration: one YAML file names the sinks; without one, alerts go to the log sink only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class SinkConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    kind: Literal["log", "webhook", "smtp"]
    url: str | None = None
    host: str | None = None
    port: int | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    timeout_seconds: float = 5.0
    max_attempts: int = 8


class SinksFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sinks: tuple[SinkConfig, ...] = (SinkConfig(name="log", kind="log"),)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sinks)

    def get(self, name: str) -> SinkConfig | None:
        return next((s for s in self.sinks if s.name == name), None)


def load_sinks(path: Path | None) -> SinksFile:
    if path is None:
        return SinksFile()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return SinksFile.model_validate(data)
