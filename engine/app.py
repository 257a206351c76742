"""Wiring: the objects a command or the server needs, built from Settings in one place."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from engine.clock import Clock, system_clock
from engine.config import Settings
from engine.store import EventStore


@dataclass
class App:
    settings: Settings
    clock: Clock = system_clock

    @cached_property
    def store(self) -> EventStore:
        return EventStore.open(self.settings.database_url)

    @cached_property
    def mapping(self) -> Any:
        from adapters.mapping import SiteMapping

        if self.settings.mapping is not None:
            return SiteMapping.load(self.settings.mapping)
        return SiteMapping.default()

    @cached_property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @cached_property
    def profile(self) -> Any:
        from rules import load_profile

        return load_profile(self.settings.profile)

    @cached_property
    def projections(self) -> Any:
        from engine.projections import projections_for

        return projections_for(self.profile, self.settings.timezone)

    @cached_property
    def sinks(self) -> Any:
        from engine.alerts.config import load_sinks

        return load_sinks(self.settings.sinks)

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

    def ingestor(self, *, derive: bool = True) -> Any:
        from engine.ingest import Ingestor

        return Ingestor(
            self.store,
            deriver=self.live_processor if derive else None,
            clock=self.clock,
            batch_size=self.settings.batch_size,
            vault=self.vault,
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
