"""python-hl7, one segment at a time, and only when a field of it is read.

hl7.parse splits every field, repetition, component and subcomponent of every segment up front: about
190 containers for an ordinary CBC result, ~1 ms per message, which bench/ measured as the single largest
cost of ingest (the raw hl7.parse rate alone was below the ingest target). The adapter reads a dozen
fields of four or five segments. So a segment is split only when a field of it is first read, and then
by plain string splitting with python-hl7's extract_field rules (missing parts are empty, a deeper tree
yields its first leaf). Any segment that contains the escape character is handed to python-hl7's own
splitter and extract_field, which unescape \\F\\, \\S\\, \\X..\\ and friends: escapes are rare in
practice, and the library stays the authority on them.
"""

from __future__ import annotations

from typing import Any

from hl7.parser import _split, create_parse_plan


class Separators:
    __slots__ = ("component", "escape", "field", "repetition", "subcomponent")

    def __init__(self, msh: str) -> None:
        self.field = msh[3]
        encoding = msh[4:].split(self.field, 1)[0]
        chars = (encoding + "^~\\&"[len(encoding):])[:4]
        self.component, self.repetition, self.escape, self.subcomponent = chars[0], chars[1], chars[2], chars[3]


class LazySegment:
    """A segment split on first field access; answers `extract_field` like hl7.Segment does."""

    __slots__ = ("_fields", "_library", "_plan", "_seps", "text")

    def __init__(self, text: str, plan: Any, seps: Separators) -> None:
        self.text = text
        self._plan = plan
        self._seps = seps
        self._fields: list[str] | None = None
        self._library: Any = None

    @property
    def segment_id(self) -> str:
        return self.text[:3].strip()

    def library_segment(self) -> Any:
        """python-hl7's own parse of this segment (used when the segment carries escape sequences)."""
        if self._library is None:
            self._library = _split(self.text, self._plan)
        return self._library

    def _split_fields(self) -> list[str]:
        if self._fields is None:
            parts = self.text.split(self._seps.field)
            if parts[0] in ("MSH", "BHS", "FHS"):
                parts.insert(1, self._seps.field)  # MSH-1 is the separator itself: MSH-n is parts[n]
            self._fields = parts
        return self._fields

    def repetitions(self, field: int) -> int:
        fields = self._split_fields()
        if field >= len(fields):
            return 0
        if self._seps.escape in self.text:
            library_field = self.library_segment()[field]
            return len(library_field) if isinstance(library_field, list) else 1
        if self.segment_id == "MSH" and field <= 2:
            return 1  # the separators themselves: MSH-2 holds the repetition character
        return len(fields[field].split(self._seps.repetition))

    def extract_field(self, segment_num: int = 1, field_num: int = 1, repeat_num: int = 1,
                      component_num: int = 1, subcomponent_num: int = 1) -> str:
        if self._seps.escape in self.text and not (self.segment_id == "MSH" and field_num <= 2):
            return str(self.library_segment().extract_field(segment_num, field_num, repeat_num, component_num,
                                                            subcomponent_num))
        fields = self._split_fields()
        if field_num >= len(fields):
            return ""
        value = fields[field_num]
        if self.segment_id == "MSH" and field_num <= 2:
            return value if repeat_num == component_num == subcomponent_num == 1 else ""
        for part, sep in ((repeat_num, self._seps.repetition), (component_num, self._seps.component),
                          (subcomponent_num, self._seps.subcomponent)):
            pieces = value.split(sep)
            if part > len(pieces):
                return ""
            value = pieces[part - 1]
        return value


def parse_segments(text: str) -> list[LazySegment]:
    """The segments of one message (as hl7.parse would split them), each split on demand."""
    message = text.strip()
    plan = create_parse_plan(message)  # raises like hl7.parse on text without a usable MSH
    segment_plan = plan.next()
    seps = Separators(message)
    return [LazySegment(segment, segment_plan, seps) for segment in message.split(plan.separator)]
