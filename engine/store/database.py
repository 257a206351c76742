"""Engines for SQLite (the zero set-up default) and PostgreSQL, and the schema migration on open."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalise_url(url: str) -> str:
    """Plain postgresql:// URLs use psycopg 3, the driver this project installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def connect(url: str, *, migrate: bool = True) -> Engine:
    """An engine whose errors never quote SQL parameters: they hold MRNs, dates and values (hide_parameters)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    _mask_errors(engine)
    if migrate:
        from engine.store.migrate import upgrade

        upgrade(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; explicit BEGIN so a writer can take the write lock up front."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # an ACK promises the message survives a crash
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("itpwatch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|\([^()]*\)=\([^()]*\)")
_DETAIL_LINES = re.compile(r"\n(DETAIL|HINT|CONTEXT|LINE \d+|WHERE):.*", re.DOTALL)


def mask_database_message(text: str) -> str:
    """A database error message without the values it quotes (PostgreSQL names them in DETAIL and in quotes)."""
    first = _DETAIL_LINES.sub("", text)
    return _QUOTED.sub(lambda m: m.group() if _SCHEMA_NAME.fullmatch(m.group().strip("\"'")) else "<value>", first)


_SCHEMA_NAME = re.compile(r"(?:ix|ux|uq|pk|fk)_[a-z_]+|[a-z_]+_(?:pkey|key|fkey|check|idx)|[a-z_]+")


def _mask_errors(engine: Engine) -> None:
    """Every error raised by this engine, and the driver error chained to it, carries no quoted value."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> Any:
        orig = context.original_exception
        if not isinstance(orig, Exception) or not orig.args or not isinstance(orig.args[0], str):
            return None
        orig.args = (mask_database_message(orig.args[0]), *orig.args[1:])
        if context.sqlalchemy_exception is None:
            return None
        from sqlalchemy.exc import DBAPIError

        return DBAPIError.instance(context.statement, None, orig, context.dialect.loaded_dbapi.Error,
                                   hide_parameters=True, connection_invalidated=context.is_disconnect,
                                   dialect=context.dialect)
