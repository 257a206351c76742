"""Who may call the CDS Hooks service: JWTs signed by a trusted EHR, as CDS Hooks 2.0 describes.

Every service call carries `Authorization: Bearer <JWT>`. The JWT header names `alg` (asymmetric only:
never `none`, never an HMAC), `kid` and, optionally, `jku`; the payload `iss`, `aud` (this service's
endpoint URL), `exp`, `iat` and `jti`. The trusted EHRs are listed in a YAML file (setting cds_clients):

    clients:
      - iss: https://ehr.ukx.example/
        jwks_file: ehr-jwks.json           # a JWK Set on disk (relative to this file), or
        jwks: {keys: [...]}                # the JWK Set inline, and/or
        jku: [https://ehr.ukx.example/.well-known/jwks.json]   # JWK Set URLs the EHR may name in `jku`

A `jku` outside a client's list is refused (the allow-list of iss and jku the spec recommends). A `jti`
seen before (until its token expires) is a replay and refused. Signature checks use PyJWT.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric only: the spec forbids `none` and symmetric (HMAC) algorithms."""
LEEWAY = 60
"""Seconds of clock difference tolerated on exp and iat."""
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


class CdsAuthError(Exception):
    """A call that is not authenticated; the message says why (never echoing the token)."""


class CdsConfigError(Exception):
    """The cds_clients file cannot be used; the message says what to fix."""


@dataclass
class TrustedClient:
    iss: str
    keys: jwt.PyJWKSet | None = None
    jku: tuple[str, ...] = ()
    _fetchers: dict[str, jwt.PyJWKClient] = field(default_factory=dict)

    def key_for(self, kid: str, jku: str | None) -> Any:
        """The public key with this kid: from the configured set, else from an allowed jku URL."""
        if self.keys is not None:
            for key in self.keys.keys:
                if key.key_id == kid:
                    return key.key
        if jku is None:
            raise CdsAuthError(f"no key {kid!r} configured for issuer {self.iss!r}")
        if jku not in self.jku:
            raise CdsAuthError("jku is not on the issuer's allow-list")
        fetcher = self._fetchers.setdefault(jku, jwt.PyJWKClient(jku, cache_keys=True, lifespan=300, timeout=5))
        try:
            return fetcher.get_signing_key(kid).key
        except jwt.PyJWKClientError as exc:
            raise CdsAuthError(f"key {kid!r} not found at the issuer's jku ({exc})") from exc


@dataclass
class Verifier:
    clients: dict[str, TrustedClient]
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims if it is a valid, fresh JWT of a trusted EHR for this endpoint; raises CdsAuthError.

        Blocking when a jku must be fetched: call it off the event loop.
        """
        if not self.clients:
            raise CdsAuthError("no trusted CDS clients are configured (setting cds_clients, docs/ehr.md)")
        if not authorization or authorization[:7].lower() != "bearer ":
            raise CdsAuthError("Authorization: Bearer <JWT> is required")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise CdsAuthError(f"not a JWT ({type(exc).__name__})") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise CdsAuthError(f"JWT alg {alg!r} is not accepted (asymmetric algorithms only)")
        if not isinstance(kid, str) or not kid:
            raise CdsAuthError("JWT header without kid")
        if header.get("typ") not in (None, "JWT"):
            raise CdsAuthError("JWT header typ must be JWT")
        iss = unverified.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise CdsAuthError("JWT issuer is not a trusted CDS client")
        jku = header.get("jku")
        key = client.key_for(kid, jku if isinstance(jku, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=audience, issuer=client.iss, leeway=LEEWAY,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise CdsAuthError("JWT expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise CdsAuthError(f"JWT aud must be this service's endpoint {audience}") from exc
        except jwt.PyJWTError as exc:
            raise CdsAuthError(f"JWT rejected: {exc}") from exc
        self._remember(client.iss, str(claims["jti"]), float(claims["exp"]))
        return claims

    def _remember(self, iss: str, jti: str, exp: float) -> None:
        now = time.time()
        for key in [k for k, until in self._seen.items() if until + LEEWAY < now]:
            del self._seen[key]
        if (iss, jti) in self._seen:
            raise CdsAuthError("JWT jti was used before (replay)")
        self._seen[(iss, jti)] = exp


def load_clients(path: Path | None) -> dict[str, TrustedClient]:
    """The trusted EHRs by iss; an empty dict when none are configured."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CdsConfigError(f"cds_clients {path}: cannot be read ({exc})") from exc
    entries = data.get("clients") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise CdsConfigError(f"cds_clients {path}: expected a list under 'clients'")
    out: dict[str, TrustedClient] = {}
    for n, entry in enumerate(entries):
        where = f"cds_clients {path}: clients[{n}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("iss"), str):
            raise CdsConfigError(f"{where}: 'iss' (the EHR's issuer URI) is required")
        jwks: Any = entry.get("jwks")
        if isinstance(entry.get("jwks_file"), str):
            try:
                jwks = yaml.safe_load((path.parent / entry["jwks_file"]).read_text("utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise CdsConfigError(f"{where}: jwks_file cannot be read ({exc})") from exc
        jku = entry.get("jku") or []
        if isinstance(jku, str):
            jku = [jku]
        if jwks is None and not jku:
            raise CdsConfigError(f"{where}: give the EHR's public keys (jwks or jwks_file) or its jku URLs")
        try:
            keys = jwt.PyJWKSet.from_dict(jwks) if jwks is not None else None
        except jwt.PyJWTError as exc:
            raise CdsConfigError(f"{where}: not a usable JWK Set ({exc})") from exc
        out[entry["iss"]] = TrustedClient(iss=entry["iss"], keys=keys, jku=tuple(str(u) for u in jku))
    return out
