"""FHIR versions through the real store: corrections act like HL7 corrections, in any arrival order.

A mixed feed (HL7 v2 messages of one patient, FHIR resources with several versions of another) is
ingested message by message in several orders; the derived facts must be the same every time and be
what the latest versions say.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path

from adapters.reader import read_bytes
from engine.app import App
from engine.config import Settings
from engine.processor import active_derived, fact_of
from events import AlertRaised, EpisodeStarted, ResponseAchieved
from tests.conftest import REPO
from tests.fhir_resources import administration, bundle, dumps, observation

MRN = "555001"


def fhir_feed() -> list[bytes]:
    """Each resource version as its own message; the first versions of o-4 also re-sent in a new Bundle."""
    first_v1 = observation("o-4", MRN, "2024-02-26T08:00", 7, updated="2024-02-26T10:00:00Z")
    return [dumps(r) for r in (
        # a dose entered in error before the real D1, and one whose latest version is not-done
        administration("ma-0", MRN, "2023-11-20T10:00", updated="2023-11-20T11:00:00Z"),
        administration("ma-0", MRN, "2023-11-20T10:00", status="not-done", version="2",
                       updated="2023-11-21T08:00:00Z"),
        administration("ma-x", MRN, "2023-12-01T10:00", updated="2023-12-01T11:00:00Z"),
        administration("ma-x", MRN, "2023-12-01T10:00", status="entered-in-error", version="2",
                       updated="2023-12-02T08:00:00Z"),
        administration("ma-1", MRN, "2024-01-08T10:00"),
        administration("ma-2", MRN, "2024-01-15T10:00"),
        observation("o-0", MRN, "2024-01-08T07:00", 12),
        observation("o-1", MRN, "2024-01-22T08:00", 60),
        observation("o-2", MRN, "2024-01-29T08:00", 75),
        # a falsely low count after the response, then retracted: no drop alert may exist
        observation("o-3", MRN, "2024-02-12T08:00", 30, updated="2024-02-12T10:00:00Z"),
        observation("o-3", MRN, "2024-02-12T08:00", 30, status="entered-in-error", version="2",
                    updated="2024-02-13T09:00:00Z"),
        # 7 corrected to 150: no critical alert, no drop
        first_v1,
        observation("o-4", MRN, "2024-02-26T08:00", 150, status="corrected", version="2",
                    updated="2024-02-26T15:00:00Z"),
        # retracted, then reinstated by a later final version: a count again (the drop alert is raised)
        observation("o-5", MRN, "2024-03-04T08:00", 40, updated="2024-03-04T10:00:00Z"),
        observation("o-5", MRN, "2024-03-04T08:00", 40, status="entered-in-error", version="2",
                    updated="2024-03-05T09:00:00Z"),
        observation("o-5", MRN, "2024-03-04T08:00", 40, version="3", updated="2024-03-06T09:00:00Z"),
    )] + [dumps(bundle(first_v1, bundle_id="resent-later"))]


def hl7_feed() -> list[bytes]:
    out = []
    for name in ("administrations.hl7", "lab_results.hl7"):
        for chunk in (REPO / "examples" / "feed" / name).read_bytes().split(b"\n"):
            if chunk.strip() and b"PID|1||100003" in chunk:
                out.append(chunk)
    return out


def derive(url: str, order: list[bytes]) -> tuple[dict[str, dict[str, object]], list[object]]:
    app = App(Settings(database_url=url))
    ingestor = app.ingestor()
    ingestor.batch_size = 1
    for raw in order:
        ingestor.ingest(read_bytes(raw, origin="test", received_at=datetime.now(UTC), mapping=app.mapping))
    events = [s.event for s in app.store.read_all()]
    app.close()
    derived = active_derived(events)
    facts = {p: {key: fact_of(event) for key, event in d.items()} for p, d in derived.items()}
    return facts, list(derived.get(MRN, {}).values())


def test_fhir_versions_in_a_mixed_feed_give_one_answer_in_any_order(db_url: str, tmp_path: Path) -> None:
    messages = fhir_feed() + hl7_feed()
    assert len(messages) > 20
    in_order, mine = derive(db_url, messages)
    assert set(in_order) == {MRN, "100003"}
    starts = [e for e in mine if isinstance(e, EpisodeStarted)]
    assert [s.d1 for s in starts] == [date(2024, 1, 8)]  # the retracted and not-done doses are no D1
    assert [e.onset for e in mine if isinstance(e, ResponseAchieved)] == [date(2024, 1, 22)]
    # neither 30 (retracted) nor 7 (corrected) raised anything; 40 (retracted, then reinstated) did
    assert [(e.alert, e.occurred_at.date()) for e in mine if isinstance(e, AlertRaised)] == [
        ("post-response-drop", date(2024, 3, 4))]
    rng = random.Random(13)
    for n, order in enumerate((messages[::-1], rng.sample(messages, len(messages)))):
        assert derive(f"sqlite:///{tmp_path / f'order{n}.db'}", order)[0] == in_order


def test_an_old_version_resent_in_a_new_bundle_is_a_duplicate(tmp_path: Path) -> None:
    app = App(Settings(database_url=f"sqlite:///{tmp_path / 'dup.db'}"))
    ingestor = app.ingestor()
    v1 = observation("o-9", MRN, "2024-02-26T08:00", 7, updated="2024-02-26T10:00:00Z")
    v2 = observation("o-9", MRN, "2024-02-26T08:00", 150, status="corrected", version="2",
                     updated="2024-02-26T15:00:00Z")
    for body in (dumps(bundle(v1, bundle_id="b-1")), dumps(bundle(v2, bundle_id="b-2"))):
        assert ingestor.ingest(read_bytes(body, origin="t", received_at=datetime.now(UTC))).events == 1
    again = ingestor.ingest(read_bytes(dumps(bundle(v1, bundle_id="b-3")), origin="t", received_at=datetime.now(UTC)))
    assert (again.events, again.duplicates) == (0, 1)
    app.close()
