"""Cut HL7 v2 bytes into single messages and decode each by its own MSH-18.

Real files break python-hl7's own splitting (SOURCES.md): LF or CRLF instead of CR, a UTF-8 BOM, several
messages separated by blank lines, FHS/BHS batch envelopes, an unterminated last segment. Splitting is
therefore done here on bytes, before decoding, because each message may declare its own character set.
Each MSH starts one message; batch and file headers are unwrapped. Broken envelopes (a BHS inside an open
batch, segments before any MSH) come back as chunks carrying an error, never as an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"
_ENVELOPE = (b"FHS", b"FTS", b"BHS", b"BTS")


@dataclass(frozen=True, slots=True)
class RawHl7:
    """One message (segments joined by CR) or a chunk that cannot be a message (error set)."""

    raw: bytes
    error: str | None = None


def normalise_segments(data: bytes) -> list[bytes]:
    """Segments of a byte stream: BOM stripped, CR / LF / CRLF all ending a segment, blank lines dropped."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    data = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    out: list[bytes] = []
    for seg in data.split(b"\r"):
        seg = seg.strip(b" \t\x00\x0b\x1c\x1a\x0c")
        if seg:
            out.append(seg)
    return out


def _segment_id(seg: bytes) -> bytes:
    return seg[:3]


def split_messages(data: bytes) -> list[RawHl7]:
    """Every message in `data`, in order; envelope problems become chunks with an error."""
    chunks: list[RawHl7] = []
    current: list[bytes] = []
    current_error: str | None = None
    in_batch = False

    def flush() -> None:
        nonlocal current, current_error
        if current:
            chunks.append(RawHl7(b"\r".join(current), current_error))
        current, current_error = [], None

    for seg in normalise_segments(data):
        sid = _segment_id(seg)
        if sid == b"MSH":
            flush()
            current = [seg]
        elif sid in _ENVELOPE:
            if sid == b"BHS":
                if in_batch:
                    # A second BHS before BTS: the message it interrupts is damaged (python-hl7 raises here).
                    if not current:
                        current = [seg]
                    current_error = "nested BHS: batch header inside an open batch"
                    continue
                in_batch = True
                flush()
            elif sid == b"BTS":
                in_batch = False
                flush()
            else:
                flush()
        elif not current:
            current = [seg]
            current_error = "segment before any MSH: not an HL7 message"
        else:
            current.append(seg)
    flush()
    return chunks


_CHARSETS = {
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "8859/1": "latin-1",
    "8859/15": "iso-8859-15",
    "8859/2": "iso-8859-2",
    "ASCII": "ascii",
}


def declared_charset(raw: bytes) -> str | None:
    """MSH-18 of a message as a Python codec name, or None when absent or unknown."""
    if not raw.startswith(b"MSH") or len(raw) < 4:
        return None
    first = raw.split(b"\r", 1)[0]
    fields = first.split(raw[3:4])
    # fields[0] = "MSH", fields[1] = MSH-2, so MSH-n is fields[n - 1].
    if len(fields) < 18:
        return None
    value = fields[17].split(b"~", 1)[0].decode("ascii", "replace").strip().upper()
    return _CHARSETS.get(value)


def decode_message(raw: bytes) -> str:
    """Text of a message: by MSH-18 when declared and valid, else UTF-8 with a latin-1 fallback."""
    codec = declared_charset(raw)
    if codec is not None:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def repair_encoding_characters(text: str) -> str:
    """Make MSH-2 safe for python-hl7, which reads separators positionally from MSH-2.

    python-hl7 takes MSH-2[0..3] as component, repetition, escape, subcomponent and ignores a fifth
    (v2.7 truncation '#'): that is fine. A doubled character (`^~\\\\&`, seen in the wild) would make the
    subcomponent separator a backslash, so duplicates are removed keeping the first occurrence.
    """
    if not text.startswith("MSH") or len(text) < 5:
        return text
    sep = text[3]
    end = text.find(sep, 4)
    if end < 0:
        return text
    enc = text[4:end]
    deduped = "".join(ch for i, ch in enumerate(enc) if ch not in enc[:i] and ch != sep)
    if deduped == enc:
        return text
    return text[:4] + deduped + text[end:]
