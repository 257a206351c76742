"""Wiring: the objects a command or the server needs, built from Settings in one place."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

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
    def profile(self) -> Any:
        from rules import load_profile

        return load_profile(self.settings.profile)

    def processor(self, *, derivation_set: str | None = None, profile: Any = None) -> Any:
        from engine.processor import Processor

        return Processor(self.store, profile or self.profile, derivation_set=derivation_set, tz=self.settings.timezone)

    def ingestor(self, *, derive: bool = True) -> Any:
        from engine.ingest import Ingestor

        return Ingestor(
            self.store,
            deriver=self.processor() if derive else None,
            clock=self.clock,
            batch_size=self.settings.batch_size,
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
