"""Database errors never carry patient data: no SQL parameters, no values quoted by the server.

A PostgreSQL traceback once printed the statement's parameters (MRNs, birth dates) to stderr; PostgreSQL
also quotes the offending value in its own message (`DETAIL: Key (name)=(...)`, `invalid input ...: "..."`).
"""

from __future__ import annotations

import traceback

import pytest
from sqlalchemy import text

from engine.store import EventStore
from engine.store.database import mask_database_message

SECRET = "MRN-4711-19650412"


@pytest.mark.parametrize("statement", [
    "INSERT INTO projection_positions (name, position) VALUES (:v, 1)",  # run twice: a unique violation
    "SELECT CAST(:v AS INTEGER)",
])
def test_a_failing_statement_names_no_value(db_url: str, statement: str) -> None:
    store = EventStore.open(db_url)
    with pytest.raises(Exception) as caught, store.engine.begin() as conn:
        conn.execute(text(statement), {"v": SECRET})
        conn.execute(text(statement), {"v": SECRET})
        if store.dialect == "sqlite":  # SQLite casts anything; make it fail on the value another way
            conn.execute(text("INSERT INTO events (position) VALUES (:v)"), {"v": SECRET})
    printed = "".join(traceback.format_exception(caught.value))
    assert SECRET not in printed
    store.close()


def test_masking_keeps_schema_names_and_drops_values() -> None:
    message = ('duplicate key value violates unique constraint "projection_positions_pkey"\n'
               f"DETAIL:  Key (name)=({SECRET}) already exists.")
    assert mask_database_message(message) == 'duplicate key value violates unique constraint ' \
                                             '"projection_positions_pkey"'
    assert mask_database_message(f'invalid input syntax for type integer: "{SECRET}"') == \
        "invalid input syntax for type integer: <value>"
