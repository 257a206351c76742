"""Which version of which resource a FHIR JSON object is: its identity, its location and its version time.

A resource is identified by its source system, type and logical id, never by the Bundle that carried it:
the same Observation re-sent inside another Bundle is the same resource. Versions:

* `meta.versionId` names a version. A resend of the same version with the same content is a duplicate;
  the content hash is part of the identity as well, so a sender that (wrongly) keeps one versionId for
  changed content never loses the change.
* `meta.lastUpdated` is the version time: it orders versions (a FHIR server sets both together, so for
  one server the later lastUpdated is the later versionId). Without it, an Observation's `issued` (when
  this version was made available) stands in; otherwise the version has no time and versions of one key
  are ordered by content alone (deterministic, but a sender that corrects must send lastUpdated).
* Without versionId the content hash names the version: the same bytes (up to JSON formatting) again are
  a duplicate, anything changed is a new version.

The source system is `meta.source` without its `#fragment` (servers such as HAPI append a request id
there), else "fhir" for every sender that does not say.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from adapters.fhir.context import aware

DEFAULT_SOURCE = "fhir"
MAX_SOURCE = 100
"""Longer meta.source URIs are replaced by their hash: message keys stay well inside the column."""


@dataclass(frozen=True, slots=True)
class ResourceVersion:
    source: str
    resource_type: str
    id: str
    """The logical id; for a resource without one, a hash of its content."""
    version_id: str | None
    content_hash: str
    version_time: datetime | None
    """meta.lastUpdated, aware; None when the resource does not say."""

    @property
    def vid(self) -> str:
        """The version as it appears in locations: versionId, else the content hash."""
        return self.version_id or self.content_hash[:16]

    @property
    def location(self) -> str:
        """`Type/id/_history/vid`, relative to the FHIR base; the same for a duplicate."""
        return f"{self.resource_type}/{self.id}/_history/{self.vid}"

    @property
    def message_id(self) -> str:
        """The idempotency key within the source: a new version or new content is a new message."""
        if self.version_id is None:
            return self.location
        return f"{self.location}|{self.content_hash[:16]}"

    @property
    def logical_key(self) -> str:
        """What all versions of the resource share (result_key, administration_key, ...)."""
        base = f"{self.resource_type}/{self.id}"
        return base if self.source == DEFAULT_SOURCE else f"{self.source}|{base}"


def content_hash(resource: dict[str, Any]) -> str:
    """sha256 of the resource in one canonical JSON form (key order and whitespace do not matter)."""
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def source_of(resource: dict[str, Any]) -> str:
    meta = resource.get("meta")
    source = meta.get("source") if isinstance(meta, dict) else None
    if not isinstance(source, str):
        return DEFAULT_SOURCE
    source = source.split("#", 1)[0].strip()
    if not source:
        return DEFAULT_SOURCE
    if len(source) > MAX_SOURCE:
        return "source-sha256:" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:32]
    return source


def version_of(resource: dict[str, Any], tz: tzinfo) -> ResourceVersion:
    """The identity of one resource as sent; never raises (a bad lastUpdated just has no time)."""
    digest = content_hash(resource)
    rid = resource.get("id")
    meta: dict[str, Any] = resource["meta"] if isinstance(resource.get("meta"), dict) else {}
    version_id = meta.get("versionId")
    try:
        version_time = aware(meta.get("lastUpdated"), tz)
    except ValueError:
        version_time = None  # the model validation names the field; identity must not fail on it
    return ResourceVersion(
        source=source_of(resource),
        resource_type=str(resource.get("resourceType") or "entry"),
        id=rid if isinstance(rid, str) and rid else digest[:32],
        version_id=version_id if isinstance(version_id, str) and version_id else None,
        content_hash=digest,
        version_time=version_time,
    )
