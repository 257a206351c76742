"""One HL7 v2 message -> one InboundMessage with its Outcome.

Relevance is decided cheaply first (MSH-9, and for results a substring scan for platelet codes), because
a hospital feed is mostly ADT, chemistry and orders and those should cost next to nothing. Only relevant
messages are parsed with python-hl7. Any field that makes a relevant message unusable (unmapped unit,
non-numeric value, missing patient id) rejects the whole message with the HL7 location, so that the
engine can dead-letter it and send an AE with a meaningful ERR segment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from adapters.base import Accepted, InboundMessage, Outcome, Rejected, Skipped
from adapters.hl7v2.fields import (
    NumberError,
    TimeError,
    get,
    parse_date,
    parse_dtm,
    parse_number,
    repetitions,
    seg_id,
)
from adapters.hl7v2.lazy import parse_segments
from adapters.hl7v2.split import decode_message, repair_encoding_characters
from adapters.identity import PatientIdentifier, hl7_patient_key
from adapters.mapping import SiteMapping
from events import (
    AdministrationRetracted,
    CompletionStatus,
    DrugAdministered,
    Event,
    PatientDemographics,
    PatientMerged,
    PlateletCountRecorded,
    ResultRetracted,
    ResultStatus,
    Source,
    stable_event_id,
)

MAX_PLATELETS = 2000.0

_OBX11: dict[str, ResultStatus | None] = {
    "P": ResultStatus.PRELIMINARY,
    "F": ResultStatus.FINAL,
    "C": ResultStatus.CORRECTED,
    "A": ResultStatus.AMENDED,
    "X": ResultStatus.CANCELLED,
    "D": None,  # retract
    "W": None,  # retract
    **{code: ResultStatus.OTHER for code in "IRSUNOVB"},
}
_VALUE_REQUIRED = frozenset({ResultStatus.FINAL, ResultStatus.CORRECTED, ResultStatus.AMENDED})
_RXA20: dict[str, CompletionStatus] = {
    "": CompletionStatus.COMPLETE,
    "CP": CompletionStatus.COMPLETE,
    "PA": CompletionStatus.PARTIAL,
    "NA": CompletionStatus.NOT_ADMINISTERED,
    "RE": CompletionStatus.REFUSED,
}
_SEX: dict[str, Literal["female", "male", "other", "unknown"]] = {
    "F": "female",
    "M": "male",
    "O": "other",
    "A": "other",
    "N": "other",
    "U": "unknown",
}
_ORDER_TYPES = {
    "ORM",
    "OML",
    "OMG",
    "OMB",
    "OMP",
    "OMD",
    "OMS",
    "OMN",
    "OMI",
    "RDE",
    "RRE",
    "RRO",
    "ORL",
    "ORR",
}


class Reject(Exception):
    """Internal control flow: the message cannot be accepted, for this reason, at this field."""

    def __init__(self, reason: str, field: str | None = None, error_code: str = "207") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.error_code = error_code

    def outcome(self) -> Rejected:
        return Rejected(reason=self.reason, field=self.field, ack_code="AE", error_code=self.error_code)


@dataclass(frozen=True, slots=True)
class Header:
    """What the cheap look at MSH yields: enough to key, source and route the message."""

    sender: str
    control_id: str | None
    msg_type: str
    trigger: str
    msh7: str


@dataclass(frozen=True, slots=True)
class Ctx:
    """Everything one message's conversion needs."""

    header: Header
    source: Source
    key_sender: str
    key_id: str
    mapping: SiteMapping
    tz: tzinfo
    received_at: datetime

    def event_id(self, index: int, kind: str) -> Any:
        return stable_event_id(self.key_sender, self.key_id, str(index), kind)


def read_header(text: str) -> Header:
    """MSH-3/4 (sender), MSH-10, MSH-9 and MSH-7 read by splitting the first segment only."""
    first = text.split("\r", 1)[0]
    sep = first[3]
    fields = first.split(sep)
    enc = fields[1] if len(fields) > 1 else ""
    comp = enc[0] if enc else "^"

    def msh(n: int) -> str:
        return fields[n - 1].strip() if len(fields) >= n else ""

    def first_comp(value: str) -> str:
        parts = value.split(comp)
        return next((p.strip() for p in parts if p.strip()), "")

    msg9 = msh(9).split(comp)
    return Header(
        sender=f"{first_comp(msh(3))}^{first_comp(msh(4))}",
        control_id=msh(10) or None,
        msg_type=msg9[0].strip().upper() if msg9 else "",
        trigger=msg9[1].strip().upper() if len(msg9) > 1 else "",
        msh7=msh(7),
    )


def parse_hl7_message(
    raw: bytes,
    *,
    feed: str,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping,
    tz: tzinfo,
) -> InboundMessage:
    """Convert one message (as cut by `split_messages`) into an InboundMessage with its Outcome."""
    text = repair_encoding_characters(decode_message(raw))
    if not text.startswith("MSH") or len(text) < 8 or text[3] in "\r\n" or text[3].isalnum():
        return InboundMessage(
            raw=raw,
            feed=feed,
            origin=origin,
            outcome=Rejected(
                "not an HL7 message: no MSH segment", field="MSH", ack_code="AR", error_code="100"
            ),
        )
    header = read_header(text)
    outcome = _route(text, header, raw, mapping=mapping, tz=tz, received_at=received_at, feed=feed)
    return InboundMessage(
        raw=raw, feed=feed, origin=origin, sender=header.sender, message_id=header.control_id, outcome=outcome
    )


def stub_irrelevant_obx(text: str, codes: tuple[str, ...]) -> str:
    """Replace OBX segments that carry no platelet code by a bare `OBX` before the full parse.

    python-hl7 splits every repetition, component and subcomponent of every segment; a CBC carries 20+
    OBX of which one matters. bench/ measured hl7.parse at ~45 % of the whole mixed-feed ingest, with
    most of it spent on OBX that are skipped anyway. A bare `OBX` keeps segment positions and the OBX
    ordinal (used in event ids and in error locations) unchanged, and is still counted as a skipped part.
    """
    if "\rOBX" not in text:
        return text
    bare = "OBX" + text[3]  # MSH-1, the field separator: python-hl7 needs one to see a segment id
    segments = text.split("\r")
    for i, segment in enumerate(segments):
        if segment.startswith("OBX") and not any(code in segment for code in codes):
            segments[i] = bare
    return "\r".join(segments)


def _route(
    text: str,
    header: Header,
    raw: bytes,
    *,
    mapping: SiteMapping,
    tz: tzinfo,
    received_at: datetime,
    feed: str,
) -> Outcome:
    mtype, trigger = header.msg_type, header.trigger
    if not mtype:
        return Rejected("message type (MSH-9) missing", field="MSH-9", error_code="101")
    if mtype == "ACK":
        return Skipped("acknowledgement (ACK)")
    if mtype == "ADT" and trigger != "A40":
        return Skipped(f"ADT^{trigger}: patient administration is not tracked (only A40 merges)")
    if mtype in _ORDER_TYPES:
        return Skipped(f"{mtype}^{trigger}: an order, not an administration or a result")
    if mtype in {"RDS", "RGV"}:
        return Skipped(f"{mtype}^{trigger}: a dispense/give record, not an administration")
    if mtype == "PEX":
        return Skipped(f"PEX^{trigger}: adverse event messages are not supported yet (PEO not mapped)")
    kind: Literal["results", "drugs", "merge"]
    if mtype in {"ORU", "OUL"}:
        if not any(code in text for code in mapping.all_platelet_codes):
            return Skipped("ORU without platelet results (other analytes only)")
        kind = "results"
    elif mtype == "ADT":
        kind = "merge"
    elif "\rRXA" in text:
        kind = "drugs"
    else:
        return Skipped(f"{mtype}^{trigger}: message type not relevant")

    if kind == "results":
        text = stub_irrelevant_obx(text, mapping.all_platelet_codes)
    try:
        segments = parse_segments(text)
    except Exception as exc:  # python-hl7 raises ParseException, IndexError, ... on malformed text
        return Rejected(f"cannot parse HL7: {exc}", field="MSH", ack_code="AR", error_code="100")
    source = Source(feed=feed, sender=header.sender, message_id=header.control_id)
    key_id = header.control_id or "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
    ctx = Ctx(header, source, header.sender, key_id, mapping, tz, received_at)
    try:
        if kind == "results":
            return _results(segments, ctx)
        if kind == "merge":
            return _merge(segments, ctx)
        return _drugs(segments, ctx)
    except Reject as rej:
        return rej.outcome()


# ---------------------------------------------------------------------------------------------- common
def _time(value: str, field: str, tz: tzinfo) -> datetime | None:
    try:
        return parse_dtm(value, tz)
    except TimeError as exc:
        raise Reject(str(exc), field=field, error_code="102") from exc


def _message_time(ctx: Ctx) -> datetime:
    try:
        return parse_dtm(ctx.header.msh7, ctx.tz) or ctx.received_at
    except TimeError:
        return ctx.received_at


def _identifiers(seg: Any, field: int) -> list[PatientIdentifier]:
    out: list[PatientIdentifier] = []
    for rep in range(1, max(repetitions(seg, field), 1) + 1):
        value = get(seg, field, rep, 1)
        if not value:
            continue
        authority = get(seg, field, rep, 4, 1) or get(seg, field, rep, 4, 2)
        out.append(PatientIdentifier(value=value, authority=authority, id_type=get(seg, field, rep, 5)))
    return out


def _patient(segments: list[Any], ctx: Ctx) -> tuple[str, Any]:
    pid = next((s for s in segments if seg_id(s) == "PID"), None)
    if pid is None:
        raise Reject("no PID segment: the patient is unknown", field="PID-3", error_code="101")
    key = hl7_patient_key(_identifiers(pid, 3), ctx.mapping)
    if key is None:
        raise Reject("PID-3 patient identifier missing", field="PID-3", error_code="101")
    return key, pid


def _demographics(pid: Any, index: int, stream: str, ctx: Ctx) -> list[Event]:
    birth = parse_date(get(pid, 7))
    sex = _SEX.get(get(pid, 8).upper()[:1], "unknown")
    if birth is None and sex == "unknown":
        return []
    return [
        PatientDemographics(
            event_id=ctx.event_id(index, "demographics"),
            stream=stream,
            occurred_at=_message_time(ctx),
            recorded_at=ctx.received_at,
            source=ctx.source,
            birth_date=birth,
            sex=sex,
        )
    ]


# ---------------------------------------------------------------------------------------------- results
def _platelet_code(obx: Any, mapping: SiteMapping) -> tuple[str, str] | None:
    for code_c, sys_c in ((1, 3), (4, 6)):
        code, system = get(obx, 3, 1, code_c), get(obx, 3, 1, sys_c)
        if mapping.platelet_code(code, system):
            return code, (system or ("LN" if code in mapping.platelet_loinc else "L"))
    return None


def _results(segments: list[Any], ctx: Ctx) -> Outcome:
    stream, pid = _patient(segments, ctx)
    pid_index = segments.index(pid)
    events: list[Event] = []
    skipped = 0
    orc: Any = None
    obr: Any = None
    obx_n = 0
    for index, seg in enumerate(segments):
        sid = seg_id(seg)
        if sid == "ORC":
            orc = seg
        elif sid == "OBR":
            obr = seg
        elif sid == "OBX":
            obx_n += 1
            coded = _platelet_code(seg, ctx.mapping)
            if coded is None:
                skipped += 1
                continue
            events.append(_platelet_event(seg, obx_n, index, coded, orc, obr, stream, ctx))
    if not events:
        return Skipped("ORU without platelet results (other analytes only)")
    events = _demographics(pid, pid_index, stream, ctx) + events
    return Accepted(events=tuple(events), skipped_parts=skipped)


def _platelet_event(
    obx: Any, n: int, index: int, coded: tuple[str, str], orc: Any, obr: Any, stream: str, ctx: Ctx
) -> Event:
    code, system = coded
    loc = f"OBX[{n}]"
    status_text = get(obx, 11).upper()
    if not status_text:
        raise Reject("result status (OBX-11) missing", field=f"{loc}-11", error_code="101")
    if status_text not in _OBX11:
        raise Reject(f"unknown result status {status_text!r}", field=f"{loc}-11", error_code="103")
    status = _OBX11[status_text]

    filler = ""
    if obr is not None:
        filler = get(obr, 3)
    if not filler and orc is not None:
        filler = get(orc, 3)
    if not filler and obr is not None:
        filler = get(obr, 2)
    if not filler:
        filler = f"msg:{ctx.key_id}"
    result_key = f"{filler}|{code}|{get(obx, 4)}"

    valid = _time(get(obx, 14), f"{loc}-14", ctx.tz)
    if valid is None and obr is not None:
        valid = _time(get(obr, 7), "OBR-7", ctx.tz)
    if valid is None:
        raise Reject("no observation time (OBX-14 or OBR-7)", field=f"{loc}-14", error_code="101")

    if status is None:
        return ResultRetracted(
            event_id=ctx.event_id(index, "result-retracted"),
            stream=stream,
            occurred_at=valid,
            recorded_at=ctx.received_at,
            source=ctx.source,
            result_key=result_key,
            reason="entered-in-error" if status_text == "D" else "wrong",
        )

    reported: datetime | None = None
    if obr is not None:
        try:
            reported = parse_dtm(get(obr, 22), ctx.tz)
        except TimeError:
            reported = None
    if reported is None:
        try:
            reported = parse_dtm(ctx.header.msh7, ctx.tz)
        except TimeError:
            reported = None

    value_type = get(obx, 2).upper()
    if value_type == "SN":
        comparator, number = get(obx, 5, 1, 1), get(obx, 5, 1, 2)
        raw_value = f"{comparator}{number}" if number else ""
        original = "^".join(p for p in (comparator, number) if p) if number else ""
    else:
        raw_value = get(obx, 5)
        original = raw_value
    unit = get(obx, 6, 1, 1) or get(obx, 6, 1, 2)

    value: float | None = None
    censored: Literal["<", ">"] | None = None
    if status == ResultStatus.CANCELLED or not raw_value.strip():
        if status in _VALUE_REQUIRED:
            raise Reject("result value (OBX-5) missing", field=f"{loc}-5", error_code="101")
    else:
        try:
            number_value, cens = parse_number(raw_value, decimal_comma=ctx.mapping.decimal_comma)
        except NumberError as exc:
            raise Reject(
                f"platelet value is not numeric: {raw_value!r}", field=f"{loc}-5", error_code="102"
            ) from exc
        if not unit:
            raise Reject("unit (OBX-6) missing for a platelet count", field=f"{loc}-6", error_code="101")
        factor = ctx.mapping.unit_factor(unit)
        if factor is None:
            raise Reject(f"unit {unit!r} not in unit map", field=f"{loc}-6", error_code="103")
        value = round(number_value * factor, 6)
        if not 0.0 <= value <= MAX_PLATELETS:
            raise Reject(
                f"implausible platelet count {value} x10^9/L (from {raw_value!r} {unit!r})",
                field=f"{loc}-5",
                error_code="102",
            )
        censored = "<" if cens == "<" else ">" if cens == ">" else None

    return PlateletCountRecorded(
        event_id=ctx.event_id(index, "platelets"),
        stream=stream,
        occurred_at=valid,
        recorded_at=ctx.received_at,
        source=ctx.source,
        value=value,
        original_value=original,
        original_unit=unit,
        code=code,
        code_system=system,
        status=status,
        result_key=result_key,
        reported_at=reported,
        censored=censored,
    )


# ---------------------------------------------------------------------------------------------- drugs
def _drugs(segments: list[Any], ctx: Ctx) -> Outcome:
    events: list[Event] = []
    skipped = 0
    orc: Any = None
    rxa_n = 0
    stream: str | None = None
    pid: Any = None
    for index, seg in enumerate(segments):
        sid = seg_id(seg)
        if sid == "ORC":
            orc = seg
            continue
        if sid != "RXA":
            continue
        rxa_n += 1
        match = ctx.mapping.drug(
            [get(seg, 5, 1, 1), get(seg, 5, 1, 4)], [get(seg, 5, 1, 2), get(seg, 5, 1, 5)]
        )
        if match is None:
            skipped += 1
            continue
        if stream is None:
            stream, pid = _patient(segments, ctx)
        events.append(
            _administration(segments, index, seg, rxa_n, orc, match.agent, match.atc_code, stream, ctx)
        )
    if not events or stream is None:
        return Skipped("no administered drug from the synonym table")
    events = _demographics(pid, segments.index(pid), stream, ctx) + events
    return Accepted(events=tuple(events), skipped_parts=skipped)


def _route_after(segments: list[Any], index: int) -> str | None:
    for seg in segments[index + 1 :]:
        sid = seg_id(seg)
        if sid in {"RXA", "ORC"}:
            return None
        if sid == "RXR":
            return get(seg, 1) or get(seg, 1, 1, 2) or None
    return None


def _administration(
    segments: list[Any],
    index: int,
    rxa: Any,
    n: int,
    orc: Any,
    agent: str,
    atc: str | None,
    stream: str,
    ctx: Ctx,
) -> Event:
    loc = f"RXA[{n}]"
    when = _time(get(rxa, 3), f"{loc}-3", ctx.tz)
    if when is None:
        raise Reject("administration time (RXA-3) missing", field=f"{loc}-3", error_code="101")
    order = ""
    if orc is not None:
        order = get(orc, 3) or get(orc, 2)
    if not order:
        order = f"msg:{ctx.key_id}"
    admin_key = f"{order}|{get(rxa, 1)}|{get(rxa, 2)}"
    if get(rxa, 21).upper() == "D":
        return AdministrationRetracted(
            event_id=ctx.event_id(index, "administration-retracted"),
            stream=stream,
            occurred_at=when,
            recorded_at=ctx.received_at,
            source=ctx.source,
            administration_key=admin_key,
        )
    completion_text = get(rxa, 20).upper()
    if completion_text not in _RXA20:
        raise Reject(f"unknown completion status {completion_text!r}", field=f"{loc}-20", error_code="103")
    amount = get(rxa, 6)
    dose: float | None = None
    if amount:
        try:
            dose, _ = parse_number(amount, decimal_comma=ctx.mapping.decimal_comma)
        except NumberError as exc:
            raise Reject(f"amount is not numeric: {amount!r}", field=f"{loc}-6", error_code="102") from exc
    code = get(rxa, 5, 1, 1) or get(rxa, 5, 1, 4)
    text = get(rxa, 5, 1, 2) or get(rxa, 5, 1, 5) or None
    return DrugAdministered(
        event_id=ctx.event_id(index, "administration"),
        stream=stream,
        occurred_at=when,
        recorded_at=ctx.received_at,
        source=ctx.source,
        agent=agent,
        atc_code=atc,
        original_code=code,
        original_text=text,
        dose=dose,
        dose_unit=get(rxa, 7) or None,
        route=_route_after(segments, index),
        completion=_RXA20[completion_text],
        administration_key=admin_key,
    )


# ---------------------------------------------------------------------------------------------- merge
def _merge(segments: list[Any], ctx: Ctx) -> Outcome:
    stream, _ = _patient(segments, ctx)
    mrg_index, mrg = next(((i, s) for i, s in enumerate(segments) if seg_id(s) == "MRG"), (None, None))
    if mrg is None or mrg_index is None:
        raise Reject("ADT^A40 without MRG segment", field="MRG-1", error_code="101")
    merged = hl7_patient_key(_identifiers(mrg, 1), ctx.mapping)
    if merged is None:
        raise Reject("MRG-1 prior patient identifier missing", field="MRG-1", error_code="101")
    if merged == stream:
        return Skipped("ADT^A40 merges a patient into itself")
    evn = next((s for s in segments if seg_id(s) == "EVN"), None)
    when: datetime | None = None
    if evn is not None:
        try:
            when = parse_dtm(get(evn, 6), ctx.tz) or parse_dtm(get(evn, 2), ctx.tz)
        except TimeError:
            when = None
    event = PatientMerged(
        event_id=ctx.event_id(mrg_index, "merge"),
        stream=stream,
        occurred_at=when or _message_time(ctx),
        recorded_at=ctx.received_at,
        source=ctx.source,
        merged_stream=merged,
    )
    return Accepted(events=(event,))
