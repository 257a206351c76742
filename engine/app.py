"""Wiring: the objects a command or the server needs, built from Settings in one place.

This is where a setting turns into a thing (a database, a profile, a YAML file), so this is where a bad
setting is reported: as a ConfigError that names the setting, the file and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.clock import Clock, system_clock
from engine.config import Settings, masked_url
from engine.errors import ConfigError, database_problem
from engine.store import EventStore


@dataclass
class App:
    settings: Settings
    clock: Clock = system_clock

    @cached_property
    def store(self) -> EventStore:
        from sqlalchemy.exc import ArgumentError, DBAPIError

        url = self.settings.database_url
        try:
            return EventStore.open(url)
        except DBAPIError as exc:
            raise database_problem(exc.orig, masked_url(url)) from exc
        except ArgumentError as exc:
            raise ConfigError(f"database_url: {masked_url(url)} is not usable: {exc}") from exc

    @cached_property
    def mapping(self) -> Any:
        from adapters.mapping import SiteMapping

        if self.settings.mapping is not None:
            with _setting_file("mapping", self.settings.mapping):
                return SiteMapping.load(self.settings.mapping)
        return SiteMapping.default()

    @cached_property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @cached_property
    def profile(self) -> Any:
        from rules import ProfileError, load_profile
        from rules.profile import BUILTIN_PROFILES

        name = self.settings.profile
        if name not in BUILTIN_PROFILES and not Path(name).is_file():
            raise ConfigError(f"profile: {name!r} is neither a built-in profile ({', '.join(BUILTIN_PROFILES)}) "
                              "nor the path of a profile YAML file")
        try:
            return load_profile(name)
        except ProfileError as exc:
            raise ConfigError(f"profile: {exc}; use site, iwg2009 or the path of a profile YAML file") from exc

    def validate(self) -> None:
        """Read every file the settings name now, so that a long-running command fails at start, not later."""
        _ = self.tzinfo, self.mapping, self.profile, self.sinks

    @cached_property
    def projections(self) -> Any:
        from engine.projections import projections_for

        return projections_for(self.profile, self.settings.timezone)

    @cached_property
    def sinks(self) -> Any:
        from engine.alerts.config import load_sinks

        with _setting_file("sinks", self.settings.sinks):
            return load_sinks(self.settings.sinks, self.settings.smtp_password)

    @property
    def alert_sink_names(self) -> tuple[str, ...]:
        """The sinks alerts go to: every sink of the file but the one that receives checkpoints."""
        return tuple(n for n in self.sinks.names if n != self.settings.checkpoint_sink)

    @cached_property
    def live_processor(self) -> Any:
        """The one processor that derives the canonical set and queues alerts for delivery."""
        from engine.processor import Processor

        return Processor(self.store, self.profile, tz=self.settings.timezone, clock=self.clock,
                         alert_sinks=self.alert_sink_names)

    def processor(self, *, derivation_set: str | None = None, profile: Any = None) -> Any:
        """A processor that delivers nothing: for verify, what-if and other non-live runs."""
        from engine.processor import Processor

        return Processor(self.store, profile or self.profile, derivation_set=derivation_set,
                         tz=self.settings.timezone, clock=self.clock)

    @cached_property
    def vault(self) -> Any:
        """Masks dead letters, and encrypts those that cannot be masked, with the key outside the database."""
        from engine.privacy import DeadLetterVault, default_key_path

        configured = self.settings.dead_letter_key
        return DeadLetterVault(configured or default_key_path(self.settings.database_url), create=configured is None)

    def ingestor(self, *, derive: bool = True, observer: Any = None) -> Any:
        from engine.ingest import Ingestor

        return Ingestor(
            self.store,
            deriver=self.live_processor if derive else None,
            clock=self.clock,
            batch_size=self.settings.batch_size,
            observer=observer,
            vault=self.vault,
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()


@contextmanager
def _setting_file(key: str, path: Path | None) -> Iterator[None]:
    """Reading the file a setting names: a missing or invalid file is the user's to fix (ConfigError)."""
    import yaml
    from pydantic import ValidationError

    flag = f"--{key} or ITPWATCH_{key.upper()}"
    try:
        yield
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}; give an existing file ({flag})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key}: {path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{key}: {path}: {problems}") from exc
    except ValueError as exc:
        raise ConfigError(f"{key}: {path}: {' '.join(str(exc).split())}") from exc
