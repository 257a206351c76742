"""structlog set-up: JSON lines in production, pretty in a terminal, and never an identifier or a value.

Redaction is an allow-list: a log line keeps only keys known to carry counts, codes and timings. A new
key has to be added here on purpose, so a patient id or a platelet count cannot leak by accident.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SAFE_KEYS = frozenset(
    {
        "event", "level", "timestamp", "logger", "feed", "ack", "error_code", "field", "kind", "rule_id",
        "profile", "profile_version", "derivation_set", "messages", "events", "appended", "duplicates",
        "skipped", "dead_lettered", "batch", "batches", "elapsed_ms", "rate", "port", "host", "sink",
        "attempt", "status", "position", "positions", "count", "patients", "revisions", "path_count",
        "exc_type", "matcher", "reason_code", "streams", "alerts", "delivered", "failed", "alert_id", "alert",
        "severity", "notice",
    }
)
"""Keys whose values are never patient data. 'count' means a number of things, not a platelet count."""


CODE_KEYS = frozenset(
    {"event", "timestamp", "level", "error_code", "field", "profile_version", "rule_id", "port", "alert_id", "alert"}
)
"""Keys whose string values may contain digits (codes, locations, hashes); elsewhere digits mean data."""


def drop_identifiers(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Keep only allow-listed keys; string values only when short and, outside code keys, digit-free."""
    clean: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key not in SAFE_KEYS:
            continue
        if isinstance(value, str) and (len(value) > 80 or (key not in CODE_KEYS and any(c.isdigit() for c in value))):
            continue
        clean[key] = value
    return clean


def show_controls(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Control characters in a value are written as visible escapes: a log line never drives a terminal."""
    for key, value in event_dict.items():
        if isinstance(value, str) and _CONTROL.search(value):
            event_dict[key] = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
    return event_dict


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def configure(fmt: str = "auto", level: str = "INFO") -> None:
    renderer: Any
    if fmt == "json" or (fmt == "auto" and not sys.stderr.isatty()):
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_identifiers,
            show_controls,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """Looked up per call: tests and embedding hosts replace sys.stderr after configure() ran."""
    return structlog.PrintLogger(file=sys.stderr)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
