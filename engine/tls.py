"""TLS for the listeners, from certificate and key files (the ssl module; no proxy needed in front).

MLLP over TLS is plain MLLP framing inside a TLS stream (IHE ITI TF-2 "MLLP over TLS"); HTTPS is uvicorn's
own TLS with the same files. With a client CA, an MLLP sender must present a certificate it signed; the
certificate's names are then the sender's identity for the channel policy.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any


class TlsConfigError(ValueError):
    """A certificate, key or CA file that cannot be used; the message names the file and the setting."""


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"tls_cert {cert} / tls_key {key}: cannot be loaded ({_why(exc)})") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"mllp_client_ca {client_ca}: cannot be loaded ({_why(exc)})") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def peer_names(ssl_object: Any) -> tuple[str, ...]:
    """The names a verified client certificate carries: subject CN and DNS subject alternative names."""
    if ssl_object is None:
        return ()
    cert = ssl_object.getpeercert()
    if not cert:
        return ()
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    names += [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    return tuple(dict.fromkeys(names))


def _why(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
