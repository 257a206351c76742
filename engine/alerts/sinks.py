"""Where alert notices go: a structured log line, a webhook, an e-mail.

Each sink has `deliver(body, idempotency_key)`: it returns once the receiver acknowledged the notice and
raises `DeliveryError` (or any exception) otherwise. The dispatcher marks a row delivered only after a
return, so every sink is at-least-once; the idempotency key (also the e-mail's Message-ID) lets a
receiver drop the rare repeat after a crash between acknowledgement and commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

import httpx

from engine.alerts.config import SinkConfig, SinksFile
from engine.logs import get_logger

log = get_logger("itpwatch.alerts")


class DeliveryError(Exception):
    """The receiver did not acknowledge the notice; the message says why (never with patient data)."""


class Sink(Protocol):
    name: str

    def deliver(self, body: dict[str, Any], idempotency_key: str) -> None: ...

    def close(self) -> None: ...


class LogSink:
    """One structured log line per notice: alert id, alert kind, severity, rule and sink - no patient, no value.

    engine/logs.py keeps only allow-listed keys. The alert id is in the event text because no
    allow-listed key may hold a value with digits; `rule_id` names the alert kind in a code key.
    """

    def __init__(self, config: SinkConfig) -> None:
        self.name = config.name

    def deliver(self, body: dict[str, Any], idempotency_key: str) -> None:
        notice = str(body.get("notice", "raised"))
        severity = str(body.get("severity", ""))
        emit = log.warning if notice == "raised" and severity in ("warning", "urgent", "critical") else log.info
        emit(
            f"alert {notice} {body['alert_id']}",
            sink=self.name,
            kind=body.get("alert"),
            status=severity,
            rule_id=body.get("rule_id"),
            alert_id=body["alert_id"],
            alert=body.get("alert"),
            severity=severity,
            notice=notice,
        )

    def close(self) -> None:
        return None


class WebhookSink:
    """POST the documented JSON body; any 2xx answer is the acknowledgement."""

    def __init__(self, config: SinkConfig) -> None:
        assert config.url is not None
        self.name = config.name
        self.url = config.url
        self._client = httpx.Client(timeout=config.timeout_seconds, follow_redirects=False)

    def deliver(self, body: dict[str, Any], idempotency_key: str) -> None:
        content = json.dumps(body, sort_keys=True).encode("utf-8")
        try:
            response = self._client.post(
                self.url,
                content=content,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": idempotency_key,
                    "User-Agent": "itpwatch-alerts",
                },
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()


def message_id(idempotency_key: str, sender: str | None) -> str:
    """A stable RFC 5322 Message-ID from the idempotency key: a resent mail is recognisably the same mail."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    domain = sender.rsplit("@", 1)[1] if sender and "@" in sender else "itpwatch.invalid"
    return f"<{digest}@{domain}>"


class SmtpSink:
    """One e-mail per notice to the configured recipients, through the configured relay."""

    def __init__(self, config: SinkConfig, default_password: str | None = None) -> None:
        assert config.host is not None and config.sender is not None
        self.name = config.name
        self.host = config.host
        self.port = config.port or 25
        self.sender = config.sender
        self.recipients = config.recipients
        self.timeout = config.timeout_seconds
        self.starttls = config.starttls
        self.username = config.username
        self.password_env = config.password_env
        self.password_file = config.password_file
        self.default_password = default_password

    def password(self) -> str:
        """Read at each delivery, so that a rotated secret is picked up without a restart."""
        if self.password_env:
            return os.environ.get(self.password_env, "")
        if self.password_file:
            try:
                return Path(self.password_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise DeliveryError(f"smtp password_file unreadable: {exc.strerror}") from exc
        return self.default_password or ""

    def compose(self, body: dict[str, Any], idempotency_key: str) -> EmailMessage:
        notice = str(body.get("notice", "raised"))
        severity = str(body.get("severity", "")).upper()
        prefix = "WITHDRAWN - " if notice == "withdrawn" else ""
        msg = EmailMessage()
        msg["Subject"] = f"[itpwatch] {prefix}{severity}: {body.get('alert')}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(idempotency_key, self.sender)
        msg["X-Itpwatch-Idempotency-Key"] = idempotency_key
        if notice == "withdrawn":
            raised = idempotency_key.replace(":withdrawn:", ":raised:", 1)
            msg["In-Reply-To"] = message_id(raised, self.sender)
            msg["References"] = message_id(raised, self.sender)
        lines = [
            str(body.get("message", "")),
            "",
            f"Patient:     {body.get('patient')}",
            f"Valid time:  {body.get('occurred_at')}",
            f"Severity:    {body.get('severity')}",
            f"Alert:       {body.get('alert')}",
            f"Rule:        {body.get('rule_id')} ({body.get('profile')} {body.get('profile_version')})",
            f"Alert id:    {body.get('alert_id')}",
        ]
        if body.get("agent"):
            lines.append(f"Agent:       {body.get('agent')} (episode {body.get('episode')})")
        if notice == "withdrawn":
            lines += ["", "This alert was WITHDRAWN: " + str(body.get("reason") or "it no longer holds.")]
        lines += ["", "Acknowledge with: itpwatch alerts ack " + str(body.get("alert_id"))[:8] + " --by <name>"]
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def deliver(self, body: dict[str, Any], idempotency_key: str) -> None:
        msg = self.compose(body, idempotency_key)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password())
                refused = smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp {type(exc).__name__}: {exc}") from exc
        if refused:
            raise DeliveryError(f"smtp refused {len(refused)} of {len(self.recipients)} recipients")

    def close(self) -> None:
        return None


def build_sink(config: SinkConfig, smtp_password: str | None = None) -> Sink:
    if config.kind == "webhook":
        return WebhookSink(config)
    if config.kind == "smtp":
        return SmtpSink(config, smtp_password)
    return LogSink(config)


def build_sinks(sinks: SinksFile) -> dict[str, Sink]:
    return {c.name: build_sink(c, sinks.smtp_password) for c in sinks.sinks}


def close_sinks(sinks: Mapping[str, Sink]) -> None:
    for sink in sinks.values():
        sink.close()
