"""`report --pseudonymize` end to end: no MRN, birth date or name in any byte of any output file.

Every file is searched as the bytes on disk and as what those bytes hold: Word and its images (zip), PDF
text and metadata, PNG text chunks, base64 images inside the HTML. The same search finds the MRNs in a
report that is not pseudonymised, so it can fail.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # one ingest and four reports with every figure (about 30 s of CPU)

EXAMPLES = REPO / "examples" / "feed"
EXPECTED = json.loads((REPO / "examples" / "expected.json").read_text())
runner = CliRunner()


def itp(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, "--log-format", "json", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def identifiers() -> list[bytes]:
    """Every MRN of the feed, every birth date in the ways dates are written, and the test names."""
    needles: list[bytes] = [b"Test^Patient", b"Musterweg"]
    for mrn, patient in EXPECTED["patients"].items():
        needles.append(mrn.encode())
        if patient.get("birth_date"):
            born = date.fromisoformat(patient["birth_date"])
            needles += [born.isoformat().encode(), born.strftime("%Y%m%d").encode(),
                        born.strftime("%d.%m.%Y").encode()]
    return needles


def _png_texts(data: bytes) -> Iterator[bytes]:
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"zTXt":
            yield zlib.decompress(body.split(b"\0", 1)[1][1:])
        elif kind == b"iTXt":
            _keyword, rest = body.split(b"\0", 1)
            compressed, text = rest[0], rest[2:].split(b"\0", 2)[2]
            yield zlib.decompress(text) if compressed else text
        pos += 12 + length


def _pdf_texts(data: bytes) -> Iterator[bytes]:
    import pypdf

    reader = pypdf.PdfReader(BytesIO(data))
    for page in reader.pages:
        yield page.extract_text().encode()
    yield repr(reader.metadata).encode()
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            yield zlib.decompress(stream)
        except zlib.error:
            continue


def readable(data: bytes) -> Iterator[bytes]:
    """The bytes and everything they contain, recursively (base64 payloads decoded, not read as text:
    six digits turn up in 2 MB of base64 by chance)."""
    if not data.startswith((b"PK\x03\x04", b"%PDF", b"\x89PNG")):
        yield re.sub(rb"base64,[A-Za-z0-9+/=]+", b"base64,", data)
        for encoded in re.findall(rb"base64,([A-Za-z0-9+/=]+)", data):
            yield from readable(base64.b64decode(encoded))
        return
    yield data
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(BytesIO(data)) as archive:
            for name in archive.namelist():
                yield name.encode()
                yield from readable(archive.read(name))
    elif data.startswith(b"%PDF"):
        yield from _pdf_texts(data)
    else:
        yield from _png_texts(data)


def hits(folder: Path) -> dict[str, list[bytes]]:
    needles = identifiers()
    found: dict[str, list[bytes]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        parts = [path.name.encode(), *readable(path.read_bytes())]
        bad = sorted({n for n in needles for part in parts if n in part})
        if bad:
            found[path.name] = bad
    return found


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """The example feed, and everything `report --pseudonymize` writes in every format."""
    root = tmp_path_factory.mktemp("sharing")
    db = f"sqlite:///{root / 'itpwatch.db'}"
    itp(db, "ingest", str(EXAMPLES))
    out = root / "to-share"
    key = root / "inside" / "key.csv"
    base = ["report", "--pseudonymize"]
    itp(db, *base, "--format", "html", "--out", str(out / "report.html"), "--plots", str(out / "plots"))
    itp(db, *base, "--format", "docx", "--out", str(out / "report.docx"), "--pseudonym-key", str(key))
    itp(db, *base, "--format", "json", "--out", str(out / "report.json"))
    (out / "report.txt").write_text(itp(db, *base, "--format", "text"), encoding="utf-8")
    return db, out, key


def test_no_identifier_in_any_shared_file(shared: tuple[str, Path, Path]) -> None:
    _db, out, _key = shared
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert {"report.html", "report.docx", "report.json", "report.txt", "swimmer.pdf", "swimmer.svg",
            "swimmer.png", "platelets_P1.png", "captions.txt"} <= set(files)
    assert len(files) == 4 + 3 * (2 + 8) + 1
    assert hits(out) == {}


def test_pseudonyms_replace_mrns_in_every_format(shared: tuple[str, Path, Path]) -> None:
    _db, out, key = shared
    report = json.loads((out / "report.json").read_text())
    assert report["pseudonymized"] is True
    assert [p["patient"] for p in report["patients"]] == [f"P{i}" for i in range(1, 9)]
    assert {r["patient"] for r in report["summary"]["relapses"]} <= {f"P{i}" for i in range(1, 9)}
    assert "P1" in (out / "plots" / "swimmer.svg").read_text(encoding="utf-8")
    assert "pseudonymised as P1–P8" in (out / "report.html").read_text(encoding="utf-8")
    assert "Data cut: " in (out / "report.txt").read_text(encoding="utf-8")
    import docx

    word = docx.Document(str(out / "report.docx"))
    captions = [p.text for p in word.paragraphs if p.style is not None and p.style.name == "Caption"]
    assert len(captions) == len(word.inline_shapes) == 2 + 8 and captions[0].startswith("Figure 1. ")
    assert any(p.text.startswith("Eight patients") and p.text.endswith("Data cut: 16 December 2024.")
               for p in word.paragraphs)
    assert [len(table.rows) for table in word.tables] == [1 + 8, 1 + 9]  # patients, episodes
    assert word.core_properties.author == "itpwatch"
    # The key was asked for once (with the Word report), and only there: P1 is the first dose (100001).
    assert key.read_text().splitlines()[:2] == ["pseudonym,mrn", "P1,100001"]
    assert not list(out.rglob("*key*"))


def test_the_search_finds_mrns_when_not_pseudonymised(shared: tuple[str, Path, Path], tmp_path: Path) -> None:
    from engine.reporting.plots import build_figures, figure_bytes
    from engine.reporting.word import write_docx

    db, _out, _key = shared
    itp(db, "report", "--format", "html", "--out", str(tmp_path / "report.html"))
    from engine.app import App
    from engine.cohort_report import cohort_for
    from engine.config import load_settings

    application = App(load_settings(database_url=db))
    try:
        cohort = cohort_for(application, [s.event for s in application.store.read_all()], agent="daratumumab",
                            as_of=None)
    finally:
        application.close()
    one = [f for f in build_figures(cohort) if f.stem == "platelets_100001"]
    for fmt in ("png", "pdf", "svg"):
        (tmp_path / f"figure.{fmt}").write_bytes(figure_bytes(one[0], fmt))
    write_docx(cohort, tmp_path / "report.docx", figures=one)
    found = hits(tmp_path)
    assert set(found) == {"report.html", "report.docx", "figure.png", "figure.pdf", "figure.svg"}
    assert all(b"100001" in needles for needles in found.values())


def test_the_key_stays_out_of_what_is_shared(shared: tuple[str, Path, Path], tmp_path: Path) -> None:
    db, _out, _key = shared
    out = itp(db, "report", "--pseudonymize", "--format", "html", "--out", str(tmp_path / "r.html"), "--plots",
              str(tmp_path / "plots"), "--pseudonym-key", str(tmp_path / "plots" / "key.csv"), code=2)
    assert "key out of the --plots folder" in out
    assert "--pseudonymize" in itp(db, "report", "--pseudonym-key", str(tmp_path / "k.csv"), code=2)
    assert "--out report.docx" in itp(db, "report", "--format", "docx", code=2)
    assert not (tmp_path / "plots").exists() and not (tmp_path / "k.csv").exists()
