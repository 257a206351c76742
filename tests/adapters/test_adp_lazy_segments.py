"""The lean segment reader answers every field path exactly as python-hl7's own parse does."""

from __future__ import annotations

from pathlib import Path

import hl7
import pytest

from adapters.hl7v2.fields import get, repetitions, seg_id
from adapters.hl7v2.lazy import parse_segments
from adapters.hl7v2.split import decode_message, repair_encoding_characters, split_messages
from tests.conftest import REPO, SAMPLES, require_samples

FILES = sorted((SAMPLES / "hl7").glob("*.hl7")) + sorted((REPO / "examples" / "feed").glob("*.hl7"))


def test_the_public_samples_are_among_the_files() -> None:
    require_samples()
    assert any(SAMPLES in path.parents for path in FILES)


def _messages(path: Path) -> list[str]:
    out = []
    for raw in split_messages(path.read_bytes()):
        if raw.error is not None:
            continue
        text = repair_encoding_characters(decode_message(raw.raw))
        if text.startswith("MSH"):
            out.append(text)
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_field_path_matches_python_hl7(path: Path) -> None:
    checked = 0
    for text in _messages(path)[:40]:
        try:
            library = list(hl7.parse(text))
        except Exception:
            continue  # python-hl7 cannot parse it at all: the adapter rejects such messages either way
        lean = parse_segments(text)
        assert [seg_id(s) for s in lean] == [seg_id(s) for s in library]
        for mine, theirs in zip(lean, library, strict=True):
            for field in range(1, 26):
                assert repetitions(mine, field) == repetitions(theirs, field), (seg_id(mine), field)
                for rep in (1, 2):
                    for comp in range(1, 7):
                        for sub in (1, 2):
                            assert get(mine, field, rep, comp, sub) == get(theirs, field, rep, comp, sub), (
                                seg_id(mine), field, rep, comp, sub)
                            checked += 1
    assert checked or path.name.startswith(("python-hl7__sample_bad", "hapi__ACK", "reportstream__doc"))
