"""FHIR R4 JSON (one resource or a Bundle) -> one InboundMessage per resource.

Each Bundle entry is its own message so that one bad entry is dead-lettered alone (its raw bytes are the
entry's JSON). The Bundle envelope itself (type, entry wrappers, fullUrls) is validated with the R4B
Bundle model with the resources taken out; if that fails the whole body is one Rejected message.

A message is keyed by the resource's source system, type, id and version (adapters/fhir/versions.py),
never by the Bundle: an old version re-sent in a new Bundle is a duplicate, a new version is new.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, tzinfo
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from adapters.base import InboundMessage, Outcome, Rejected, Skipped
from adapters.fhir.context import BundleIndex, FhirReject, PatientLookup
from adapters.fhir.resources import ResourceCtx, convert
from adapters.fhir.versions import DEFAULT_SOURCE, version_of
from adapters.mapping import SiteMapping
from events import Source

BOM = b"\xef\xbb\xbf"
BUNDLE_TYPES = frozenset(
    {
        "collection",
        "transaction",
        "batch",
        "searchset",
        "document",
        "message",
        "history",
        "transaction-response",
        "batch-response",
    }
)


def read_fhir(
    data: bytes,
    *,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping,
    tz: tzinfo,
    feed: str = "fhir-file",
    known_patients: PatientLookup | None = None,
) -> list[InboundMessage]:
    """Every resource in a FHIR JSON body as an InboundMessage; never raises for bad content.

    known_patients resolves `Patient/{id}` references the body itself does not carry (a Patient stored
    earlier) to the patient's stream.
    """
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [_rejected(data, feed, origin, f"not JSON: {exc}", None, "AR", "102")]
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        return [
            _rejected(
                data,
                feed,
                origin,
                "JSON without resourceType: not a FHIR resource",
                "resourceType",
                "AR",
                "101",
            )
        ]
    if doc["resourceType"] != "Bundle":
        index = BundleIndex(known_patients=known_patients)
        index.add(None, doc)
        return [_entry(data, doc, None, index, feed, origin, received_at, mapping, tz)]
    return _bundle(data, doc, feed, origin, received_at, mapping, tz, known_patients)


def _bundle(
    data: bytes,
    doc: dict[str, Any],
    feed: str,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping,
    tz: tzinfo,
    known_patients: PatientLookup | None,
) -> list[InboundMessage]:
    entries = doc.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return [
            _rejected(
                data, feed, origin, "Bundle.entry is not a list of objects", "Bundle.entry", "AE", "102"
            )
        ]
    envelope = {k: v for k, v in doc.items() if k != "entry"}
    envelope["entry"] = [{k: v for k, v in e.items() if k != "resource"} for e in entries]
    try:
        get_fhir_model_class("Bundle").model_validate(envelope)
    except Exception as exc:  # pydantic ValidationError
        first = " | ".join(str(exc).splitlines()[:3])
        return [_rejected(data, feed, origin, f"invalid FHIR R4 Bundle: {first}", "Bundle", "AE", "102")]
    if doc.get("type") not in BUNDLE_TYPES:
        return [
            _rejected(
                data, feed, origin, f"unknown Bundle.type {doc.get('type')!r}", "Bundle.type", "AE", "103"
            )
        ]
    bundle_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    index = BundleIndex(bundle_id=bundle_id, known_patients=known_patients)
    for entry in entries:
        resource = entry.get("resource")
        if isinstance(resource, dict):
            full_url = entry.get("fullUrl")
            index.add(full_url if isinstance(full_url, str) else None, resource)
    out: list[InboundMessage] = []
    for n, entry in enumerate(entries):
        raw = json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8")
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            if "request" in entry or "response" in entry:
                # A transaction DELETE or a response entry: states nothing about a patient.
                skip = Skipped("entry without a resource (request/response only)")
                out.append(
                    InboundMessage(
                        raw=raw,
                        feed=feed,
                        origin=origin,
                        sender=DEFAULT_SOURCE,
                        message_id=_message_id(raw),
                        outcome=skip,
                    )
                )
            else:
                out.append(
                    _rejected(
                        raw,
                        feed,
                        origin,
                        "entry without a resource",
                        f"Bundle.entry[{n}].resource",
                        "AE",
                        "101",
                    )
                )
            continue
        full_url = entry.get("fullUrl")
        out.append(
            _entry(
                raw,
                resource,
                full_url if isinstance(full_url, str) else None,
                index,
                feed,
                origin,
                received_at,
                mapping,
                tz,
            )
        )
    return out


def _message_id(raw: bytes) -> str:
    """An entry without a resource: keyed by its bytes."""
    return f"entry/sha256:{hashlib.sha256(raw).hexdigest()[:32]}"


def _entry(
    raw: bytes,
    resource: dict[str, Any],
    full_url: str | None,
    index: BundleIndex,
    feed: str,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping,
    tz: tzinfo,
) -> InboundMessage:
    version = version_of(resource, tz)
    sender, message_id = version.source, version.message_id
    ctx = ResourceCtx(
        resource=resource,
        full_url=full_url,
        index=index,
        version=version,
        source=Source(feed=feed, sender=sender, message_id=message_id),
        mapping=mapping,
        tz=tz,
        received_at=received_at,
    )
    try:
        outcome: Outcome = convert(ctx)
    except FhirReject as rej:
        outcome = Rejected(reason=rej.reason, field=rej.path, ack_code="AE", error_code=rej.error_code)
    return InboundMessage(
        raw=raw, feed=feed, origin=origin, sender=sender, message_id=message_id, outcome=outcome
    )


def _rejected(
    raw: bytes, feed: str, origin: str, reason: str, field: str | None, ack: Any, code: str
) -> InboundMessage:
    return InboundMessage(
        raw=raw,
        feed=feed,
        origin=origin,
        outcome=Rejected(reason=reason, field=field, ack_code=ack, error_code=code),
    )
