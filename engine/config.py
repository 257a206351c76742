"""One settings object for the whole process, read from flags, environment (ITPWATCH_*) and defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of itpwatch. docs/configuration.md lists them; flags of the CLI override them."""

    model_config = SettingsConfigDict(env_prefix="ITPWATCH_", extra="ignore")

    database_url: str = Field(default="sqlite:///itpwatch.db", description="SQLAlchemy URL of the event store.")
    timezone: str = Field(default="Europe/Berlin", description="Site time zone for calendar dates.")
    profile: str = Field(default="site", description="Rule profile: 'site', 'iwg2009' or a path to a YAML file.")
    mapping: Path | None = Field(default=None, description="Site mapping YAML (local codes, units, synonyms).")
    batch_size: int = Field(default=2000, ge=1, description="Messages per transaction in bulk imports.")
    bind_host: str = Field(default="127.0.0.1", description="Address the MLLP and HTTP listeners bind to.")
    http_token: str | None = Field(default=None, description="Bearer token required by the HTTP endpoints.")
    sinks: Path | None = Field(default=None, description="Alert sink configuration YAML.")
    public_base_url: str | None = Field(
        default=None,
        description="The URL clinicians and the EHR reach this server at (e.g. https://itpwatch.ukx.example): "
                    "base of CDS card links to /patients/{mrn}, of FHIR Location headers, and the audience "
                    "CDS Hooks JWTs must name. Unset: links are left out and the request's own URL is used.",
    )
    cds_clients: Path | None = Field(
        default=None,
        description="YAML of the EHRs trusted to call the CDS Hooks service: iss, and their public keys "
                    "(jwks inline or jwks_file) or allowed jku URLs. Unset: every CDS service call is refused.",
    )
    cds_cors_origins: list[str] = Field(
        default=["*"],
        description="Origins a browser-based CDS client may call /cds-services from (CORS); '*' for any. "
                    "Calls still need a valid JWT.",
    )
    log_format: str = Field(default="auto", description="'json', 'console' or 'auto' (console on a TTY).")
    log_level: str = Field(default="INFO")
    web_session_idle_minutes: int = Field(
        default=30, ge=1, description="A web session ends after this many minutes without a request.")
    web_session_max_hours: int = Field(
        default=12, ge=1, description="A web session ends this many hours after log-in, active or not.")
    web_login_attempts: int = Field(
        default=5, ge=1, description="Failed log-ins per user name or address before the web app makes them wait.")
    web_login_window_minutes: int = Field(
        default=15, ge=1, description="The window of web_login_attempts, and how long the wait lasts.")
    # -- security (docs/security.md) --------------------------------------------------------------
    checkpoint_key: Path | None = Field(
        default=None, description="Ed25519 private key (PEM) that signs checkpoints; keep it off the database host.")
    checkpoint_dir: Path | None = Field(
        default=None, description="Directory the signed checkpoints are written to (and verify reads by default).")
    checkpoint_interval: float = Field(
        default=300.0, gt=0, description="Seconds between checkpoints written by `serve` (with a key and a dir).")
    checkpoint_sink: str | None = Field(
        default=None, description="Name of an alert sink (sinks YAML) that also receives every checkpoint.")
    checkpoint_trusted_keys: list[Path] = Field(
        default_factory=list, description="Public keys of earlier checkpoint keys (after a rotation) verify trusts.")
    dead_letter_key: Path | None = Field(
        default=None, description="Fernet key file encrypting dead letters that cannot be masked (one key per line, "
                                  "the first encrypts); default: a file beside a SQLite database, made on first use.")
    mllp_formats: list[str] = Field(
        default=["hl7"], description="Formats the MLLP listener accepts: hl7, and optionally fhir and csv.")
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain) for MLLP over TLS and HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")
    mllp_client_ca: Path | None = Field(
        default=None, description="CA bundle: MLLP senders must present a client certificate signed by it.")
    mllp_senders: dict[str, list[str]] = Field(
        default_factory=dict, description="Client certificate name -> the MSH-3^MSH-4 it may send as "
                                          "('*' for any); when set, a certificate not listed is refused.")

    @field_validator("mllp_formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"hl7", "fhir", "csv"})
        if unknown:
            raise ValueError(f"unknown format {', '.join(unknown)}: use hl7, fhir and/or csv")
        return value


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment with the CLI's explicit values on top (None means 'not given')."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)  # type: ignore[arg-type]
