"""FHIR Patient ids this store has seen -> the patient's stream (the MRN), per source system.

Over HTTP a client posts the Patient once and then Observations that point at it by id only; a CDS
Hooks call names the patient by the EHR's Patient id only. Both are resolved here, from the
FhirPatientLinked events the FHIR adapter writes for every Patient with an MRN (ids only, no names), so
the index survives restarts and grows with every Patient stored. Stores written before that event
existed are read through their PatientDemographics (whose message id was `Patient/{id}`).

Used on the server's storage thread only (Service.run), like everything that touches the store there.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.store import EventStore
from engine.store.schema import events

LEGACY_SOURCE = "fhir"

Links = dict[str, dict[str, tuple[datetime, str]]]
"""Patient id -> source system -> (time of the Patient version that said so, stream)."""


class PatientIndex:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._links: Links | None = None

    def _load(self) -> Links:
        if self._links is None:
            links: Links = {}
            query = (select(events.c.stream, events.c.payload)
                     .where(events.c.type.in_(("FhirPatientLinked", "PatientDemographics")))
                     .order_by(events.c.position))
            with self.store.engine.connect() as conn:
                for stream, payload in conn.execute(query):
                    self._note(links, stream, json.loads(payload))
            self._links = links
        return self._links

    @staticmethod
    def _note(links: Links, stream: str, payload: dict[str, Any]) -> None:
        at = datetime.fromisoformat(str(payload.get("occurred_at")))
        if payload.get("type") == "FhirPatientLinked":
            source, patient_id = str(payload["source_system"]), str(payload["patient_id"])
        else:
            origin: dict[str, Any] = payload.get("source") or {}
            message_id = origin.get("message_id")
            if (not str(origin.get("feed", "")).startswith("fhir") or not isinstance(message_id, str)
                    or not message_id.startswith("Patient/") or "/_history/" in message_id):
                return
            source, patient_id = LEGACY_SOURCE, message_id.removeprefix("Patient/")
        if stream.startswith("Patient/"):
            return
        per_source = links.setdefault(patient_id, {})
        current = per_source.get(source)
        if current is None or at >= current[0]:  # a re-linked id: the latest version of the Patient holds
            per_source[source] = (at, stream)

    def learn(self, stored_events: Any) -> None:
        """Take the links of events just stored (after their commit)."""
        if self._links is None:
            return
        for event in stored_events:
            if event.type == "FhirPatientLinked":
                self._note(self._links, event.stream, event.model_dump(mode="json"))

    def stream_of(self, source: str, patient_id: str) -> str | None:
        """The stream of a Patient id of one source system (the adapter's lookup for references)."""
        found = self._load().get(patient_id, {}).get(source)
        return found[1] if found else None

    def streams_of_id(self, patient_id: str) -> dict[str, str]:
        """source system -> stream, for every source that sent a Patient with this id."""
        return {source: stream for source, (_, stream) in self._load().get(patient_id, {}).items()}
