"""HL7 original-mode ACKs for any input, including garbage.

The engine sends the ACK only after the raw message is durably stored; this module only builds the bytes.
The ACK is always written with the standard separators `|^~\\&` (the sender's own separators are read to
pick its MSH fields apart, never echoed), and its control id is derived from the original message so that
a resent message is answered with an identical ACK.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from adapters.base import AckCode, InboundMessage, Rejected
from adapters.hl7v2.split import (
    _CHARSETS,
    declared_charset,
    decode_message,
    normalise_segments,
    repair_encoding_characters,
)

ERROR_TEXT = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}

_LOCATION = re.compile(r"^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?-(\d+)$")


def escape(text: str) -> str:
    """HL7-escape free text for a standard-separator message (and keep it on one segment)."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    out = out.replace("~", "\\R\\").replace("&", "\\T\\")
    return re.sub(r"[\r\n\x0b\x1c]+", " ", out)


def _charset(value: str) -> str:
    """MSH-18 as echoed: its first value when it is a character set we know (HL7 table 0211), else nothing.

    Only a name from our own table is echoed: a sender's MSH-18 with other separators in it (a field
    separator of its own choosing, say) would otherwise add fields or segments to the ACK.
    """
    name = re.split(r"[~^&\\|\r\n]", value, maxsplit=1)[0].strip().upper()
    return name if name in _CHARSETS else ""


def err_location(field: str | None) -> str:
    """'OBX[3]-6' -> 'OBX^3^6', 'PID-3' -> 'PID^1^3'; anything else (FHIR paths) -> ''."""
    if not field:
        return ""
    m = _LOCATION.match(field.strip())
    if m is None:
        return ""
    seg, seq, fld = m.groups()
    return f"{seg}^{seq or '1'}^{fld}"


def _msh_fields(raw: bytes) -> tuple[list[str], str]:
    """The original MSH split into fields (index n-1 = MSH-n) and its component separator."""
    segments = normalise_segments(raw)
    if not segments or not segments[0].startswith(b"MSH") or len(segments[0]) < 5:
        return [], "^"
    text = repair_encoding_characters(decode_message(segments[0]))
    fields = text.split(text[3])
    comp = fields[1][0] if len(fields) > 1 and fields[1] else "^"
    return fields, comp


def sending_parties(raw: bytes) -> list[tuple[str, str]]:
    """(MSH-3, MSH-4) first components of every MSH segment of a frame (a batch has several)."""
    out = []
    for segment in normalise_segments(raw):
        if not segment.startswith(b"MSH") or len(segment) < 5:
            continue
        text = repair_encoding_characters(decode_message(segment))
        fields = text.split(text[3])
        comp = fields[1][0] if len(fields) > 1 and fields[1] else "^"
        app = fields[2].split(comp)[0] if len(fields) > 2 else ""
        facility = fields[3].split(comp)[0] if len(fields) > 3 else ""
        out.append((app.strip(), facility.strip()))
    return out


def ack_control_id(raw: bytes) -> str:
    """A deterministic ACK control id (20 chars, fits MSH-10 in v2.5) from the original message.

    Derived from MSH-3, MSH-4 and MSH-10 when there is a control id (a resend gets the same ACK id), else
    from the raw bytes.
    """
    fields, _ = _msh_fields(raw)
    if len(fields) >= 10 and fields[9].strip():
        basis = "|".join([fields[2], fields[3], fields[9]]).encode("utf-8")
    else:
        basis = raw
    return "ACK" + hashlib.sha256(basis).hexdigest()[:17].upper()


def build_ack(
    raw: bytes,
    ack_code: AckCode,
    *,
    at: datetime,
    error: Rejected | None = None,
    text: str | None = None,
) -> bytes:
    """The ACK bytes (segments ended by CR, no MLLP framing) answering `raw`.

    `at` is the ACK's MSH-7 (the adapter never reads the clock). For AE/AR an ERR segment in v2.5 form is
    added: ERR-2 location, ERR-3 code^text^HL70357, ERR-4 severity E, ERR-8 the user message.
    """
    fields, comp = _msh_fields(raw)
    first_segment = next(iter(normalise_segments(raw)), b"")
    codec = declared_charset(first_segment) or "utf-8"

    def f(n: int) -> str:
        return fields[n - 1] if len(fields) >= n else ""

    def components(value: str) -> str:
        return "^".join(escape(p) for p in value.split(comp)).rstrip("^")

    trigger = f(9).split(comp)[1] if len(f(9).split(comp)) > 1 else ""
    version = f(12).split(comp)[0] or "2.5"
    processing = f(11).split(comp)[0] or "P"
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            components(f(5)),
            components(f(6)),
            components(f(3)),
            components(f(4)),
            at.strftime("%Y%m%d%H%M%S%z"),
            "",
            f"ACK^{escape(trigger)}^ACK" if trigger else "ACK",
            ack_control_id(raw),
            escape(processing),
            escape(version),
            *([""] * 5 + [_charset(f(18).split(comp)[0])] if codec != "utf-8" else []),
        ]
    )
    msa_text = escape(text) if text else ""
    msa_fields = ["MSA", ack_code, escape(f(10))] + ([msa_text] if msa_text else [])
    msa = "|".join(msa_fields)  # MSA-2 is required: kept (empty) even for garbage input
    segments = [msh, msa]
    if ack_code != "AA":
        code = error.error_code if error is not None else ("100" if ack_code == "AR" else "207")
        reason = error.reason if error is not None else (text or ERROR_TEXT.get(code, ""))
        location = err_location(error.field if error is not None else None)
        err = [
            "ERR",
            "",
            location,
            f"{code}^{ERROR_TEXT.get(code, 'Error')}^HL70357",
            "E",
            "",
            "",
            "",
            escape(reason),
        ]
        segments.append("|".join(err))
    # answer in the sender's character set (MSH-18 echoed), so a Latin-1 system reads the ERR text right
    return ("\r".join(segments) + "\r").encode(codec, errors="replace")


def ack_for(message: InboundMessage, *, at: datetime) -> bytes:
    """The ACK for a parsed InboundMessage: AA for Accepted and Skipped, its own code for Rejected."""
    outcome = message.outcome
    if isinstance(outcome, Rejected):
        return build_ack(message.raw, outcome.ack_code, at=at, error=outcome)
    return build_ack(message.raw, "AA", at=at)
