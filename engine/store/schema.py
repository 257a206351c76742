"""Table definitions (SQLAlchemy Core). Alembic migrations create them; the hot path uses these objects."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("message_key", String(300), nullable=True),
    Column("derivation_set", String(100), nullable=True),
    Column("payload", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("chain_version", Integer, nullable=False, server_default="1"),
    UniqueConstraint("stream", "stream_version", name="uq_events_stream_version"),
)
Index("ix_events_stream_occurred", events.c.stream, events.c.occurred_at)
Index("ix_events_occurred", events.c.occurred_at)
Index("ix_events_recorded", events.c.recorded_at)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("message_key", String(300), primary_key=True),
    Column("ack_code", String(2), nullable=False),
    Column("positions", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("seq", BigInteger, nullable=True),
    Column("hash", String(64), nullable=True),
)
Index("ux_inbound_messages_seq", inbound_messages.c.seq, unique=True)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("feed", String(40), nullable=False),
    Column("origin", String(500), nullable=False),
    Column("message_key", String(300), nullable=True),
    Column("reason", Text, nullable=False),
    Column("field", String(200), nullable=True),
    Column("error_code", String(10), nullable=False),
    Column("ack_code", String(2), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("encryption", String(40), nullable=True),
    Column("seq", BigInteger, nullable=True),
    Column("hash", String(64), nullable=True),
)
Index("ux_dead_letters_seq", dead_letters.c.seq, unique=True)

dead_letter_resolutions = Table(
    "dead_letter_resolutions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dead_letter_id", Integer, nullable=False, index=True),
    Column("resolved_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("detail", Text, nullable=True),
    Column("seq", BigInteger, nullable=True),
    Column("hash", String(64), nullable=True),
)
Index("ux_dead_letter_resolutions_seq", dead_letter_resolutions.c.seq, unique=True)

chain_seals = Table(
    "chain_seals",
    metadata,
    Column("table_name", String(40), primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("last_key", String(300), nullable=True),
    Column("hash", String(64), nullable=False),
    Column("sealed_at", DateTime(timezone=True), nullable=False),
)
"""One row per append-only table that had rows before every column was hashed (revision 0030)."""

projection_positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

patient_status = Table(
    "patient_status",
    metadata,
    Column("derivation_set", String(100), primary_key=True),
    Column("patient", String(200), primary_key=True),
    Column("agent", String(60)),
    Column("episode", Integer),
    Column("state", String(40), nullable=False),
    Column("since", Date),
    Column("last_count", Float),
    Column("last_count_at", DateTime(timezone=True)),
    Column("open_alerts", Integer, nullable=False),
    Column("profile_version", String(40)),
)

episodes = Table(
    "episodes",
    metadata,
    Column("derivation_set", String(100), primary_key=True),
    Column("patient", String(200), primary_key=True),
    Column("agent", String(60), primary_key=True),
    Column("episode", Integer, primary_key=True),
    Column("row", Text, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_event_id", String(36), primary_key=True),
    Column("patient", String(200), nullable=False, index=True),
    Column("alert", String(80), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("message", Text, nullable=False),
    Column("rule_id", String(80), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("state", String(20), nullable=False),
    Column("acknowledged_by", String(200)),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("note", Text),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_event_id", String(36), nullable=False),
    Column("notice", String(20), nullable=False),
    Column("sink", String(80), nullable=False),
    Column("idempotency_key", String(120), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
)
Index("ix_outbox_state_next", alert_outbox.c.state, alert_outbox.c.next_attempt_at)

cohort_statistics = Table(
    "cohort_statistics",
    metadata,
    Column("derivation_set", String(100), primary_key=True),
    Column("agent", String(60), primary_key=True),
    Column("profile", String(100), nullable=False),
    Column("summary", Text, nullable=False),
)


users = Table(
    "users",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(100), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)

access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("username", String(100), nullable=False, index=True),
    Column("role", String(20)),
    Column("action", String(40), nullable=False),
    Column("patient", String(200), index=True),
    Column("target", String(300)),
    Column("detail", Text),
    Column("client", String(100)),
)

verify_runs = Table(
    "verify_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("differences", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Column("by", String(100), nullable=False),
)
