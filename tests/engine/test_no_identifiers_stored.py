"""Whatever a sender sends, the store holds no readable name, address or phone number.

Each case plants the same name, address and phone, is ingested through the CLI, and then the database is
searched byte for byte (the SQLite file and its WAL; every table on PostgreSQL, bytea decoded): 0 hits.
Messages that cannot be parsed far enough to mask are kept encrypted, and `dead-letters show` decrypts them
with the key file, which lives outside the database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from engine.cli import app
from engine.privacy import create_key_file

runner = CliRunner()
NAME, STREET, PHONE = "Musterfrau", "Beispielweg", "0341-5551234"
PID = f"PID|1||4711^^^UKX^MR||{NAME}^Erika||19650412|F|||{STREET} 1^^Leipzig||{PHONE}|{PHONE}\r"
MSH = "MSH|^~\\&|LAB|UKX|ITPWATCH|UKX|20240305080000+0100||{type}|{id}|P|2.5\r"
CASES = {
    "first segment not MSH": f"EVN|A01|20240305\r{MSH.format(type='ORU^R01', id='C1')}{PID}"
                             "OBX|1|NM|777-3^Platelets^LN||40|bogus-unit|||||F|||20240305080000+0100\r",
    "no MSH at all": f"{PID}NK1|1|{NAME}^Max|SPO|{STREET} 2|{PHONE}\r",
    "MRG-7 old name": f"{MSH.format(type='ADT^A40', id='C3')}EVN|A40|20240305\r{PID}"
                      f"MRG|4712^^^UKX^MR||||||{NAME}^Erika\r",
    "unknown unit with next of kin": f"{MSH.format(type='ORU^R01', id='C4')}{PID}NK1|1|{NAME}^Max||{STREET} 2|{PHONE}\r"
                                     "OBX|1|NM|777-3^Platelets^LN||40|bogus-unit|||||F|||20240305080000+0100\r",
    "FHIR subject.display": '{"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": '
                            '[{"system": "http://loinc.org", "code": "777-3"}]}, "subject": {"reference": '
                            f'"Patient/p1", "display": "{NAME}, Erika"}}, "valueQuantity": {{"value": 40, '
                            '"unit": "bogus"}, "effectiveDateTime": "2024-03-05T08:00:00+01:00"}',
    "FHIR Patient that is not JSON": f'{{"resourceType": "Patient", "name": [{{"family": "{NAME}"}}], '
                                     f'"address": [{{"line": ["{STREET} 1"]}}], "telecom": [{{"value": "{PHONE}"',
    "plain text": f"Patient {NAME}, {STREET} 1, phone {PHONE}\n",
}


def planted(data: bytes) -> list[str]:
    return [word for word in (NAME, STREET, PHONE) if word.encode() in data]


def stored_bytes(db: str) -> bytes:
    if db.startswith("sqlite"):
        path = Path(db.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    engine = create_engine(db)
    out = []
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = "
                                                  "current_schema()"))]
        for table in tables:
            out.append(str(conn.execute(text(f"SELECT string_agg(t::text, '') FROM {table} t")).scalar()).encode())
        out += [bytes(r[0]) for r in conn.execute(text("SELECT raw FROM dead_letters"))]
    engine.dispose()
    return b"".join(out)


def test_no_planted_identifier_is_stored_in_any_case(db_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "keys" / "dead-letters.key"
    create_key_file(key)
    monkeypatch.setenv("ITPWATCH_DEAD_LETTER_KEY", str(key))
    for number, (name, body) in enumerate(CASES.items()):
        path = tmp_path / f"case{number}.txt"
        path.write_bytes(body.encode())
        result = runner.invoke(app, ["--db", db_url, "ingest", str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
    assert planted(stored_bytes(db_url)) == []
    listed = runner.invoke(app, ["--db", db_url, "dead-letters", "list"]).output
    assert planted(listed.encode()) == []
    shown = runner.invoke(app, ["--db", db_url, "dead-letters", "show", "2"])  # "no MSH at all": encrypted
    assert "decrypted with the dead-letter key" in shown.output and NAME in shown.output
    monkeypatch.delenv("ITPWATCH_DEAD_LETTER_KEY")
    if db_url.startswith("postgresql"):  # no key beside a server database: the bytes cannot be read
        shown = runner.invoke(app, ["--db", db_url, "dead-letters", "show", "2"])
        assert NAME not in shown.output and "set dead_letter_key" in shown.output


def test_sqlite_creates_its_dead_letter_key_beside_the_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    (tmp_path / "p.txt").write_bytes(CASES["plain text"].encode())
    runner.invoke(app, ["--db", db, "ingest", str(tmp_path / "p.txt")])
    assert (tmp_path / "x.db.dead-letter.key").exists()
    assert oct((tmp_path / "x.db.dead-letter.key").stat().st_mode & 0o777) == "0o600"
    assert planted(stored_bytes(db)) == []
    assert NAME in runner.invoke(app, ["--db", db, "dead-letters", "show", "1"]).output
