"""FHIR R4 JSON (one resource or a Bundle) -> one InboundMessage per resource.

Each Bundle entry is its own message so that one bad entry is dead-lettered alone (its raw bytes are the
entry's JSON). The Bundle envelope itself (type, entry wrappers, fullUrls) is validated with the R4B
Bundle model with the resources taken out; if that fails the whole body is one Rejected message.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, tzinfo
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from adapters.base import InboundMessage, Outcome, Rejected, Skipped
from adapters.fhir.context import BundleIndex, FhirReject
from adapters.fhir.resources import ResourceCtx, convert
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
) -> list[InboundMessage]:
    """Every resource in a FHIR JSON body as an InboundMessage; never raises for bad content."""
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
        index = BundleIndex()
        index.add(None, doc)
        return [_entry(data, doc, None, index, "fhir", feed, origin, received_at, mapping, tz)]
    return _bundle(data, doc, feed, origin, received_at, mapping, tz)


def _bundle(
    data: bytes,
    doc: dict[str, Any],
    feed: str,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping,
    tz: tzinfo,
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
    sender = bundle_id or "fhir"
    index = BundleIndex(bundle_id=bundle_id)
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
                        sender=sender,
                        message_id=_message_id({}, raw),
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
                sender,
                feed,
                origin,
                received_at,
                mapping,
                tz,
            )
        )
    return out


def _message_id(resource: dict[str, Any], raw: bytes) -> str:
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return f"{resource.get('resourceType')}/{rid}"
    return f"{resource.get('resourceType') or 'entry'}/sha256:{hashlib.sha256(raw).hexdigest()[:32]}"


def _entry(
    raw: bytes,
    resource: dict[str, Any],
    full_url: str | None,
    index: BundleIndex,
    sender: str,
    feed: str,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping,
    tz: tzinfo,
) -> InboundMessage:
    message_id = _message_id(resource, raw)
    ctx = ResourceCtx(
        resource=resource,
        full_url=full_url,
        index=index,
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
