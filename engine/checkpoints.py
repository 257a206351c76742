"""Signed checkpoints of the chain heads, kept outside the database.

The hash chains show any edit a person makes without recomputing the later hashes. Someone with full SQL
access can recompute them, or delete the tail: the chain is then consistent again. A checkpoint written
outside the database's reach (a directory on another volume or host, and optionally a sink such as a
webhook) records how long each chain was and the hash of its last row, signed with an Ed25519 key that the
database never holds. `verify --checkpoints DIR` then fails on any change before the last checkpoint: the
rewritten row's hash no longer equals the anchored one, a deleted tail is shorter than the anchored length.

A checkpoint is only written over chains that verify, against every checkpoint already in the directory, so
a rewrite is never anchored. That is a full walk of the chains (about as long as the chain part of `verify`);
`serve` runs it on its own thread and connection, beside the writer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.store import EventStore
from engine.store.integrity import CHAINS, Anchor, Finding, chain_heads
from events.base import canonical_dumps

FORMAT = "itpwatch-checkpoint/1"
PREFIX = "checkpoint-"


class CheckpointError(Exception):
    """A key or checkpoint file that cannot be used; the message says which file and what to do."""


# -- keys -----------------------------------------------------------------------------------------
def generate_key(path: Path) -> Path:
    """A new Ed25519 private key (PEM, mode 0600) and its public key beside it (`.pub`); refuses to overwrite."""
    if path.exists():
        raise CheckpointError(f"{path} exists; a signing key is never overwritten (choose another path to rotate)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = path.with_name(path.name + ".pub")
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise CheckpointError(f"checkpoint key {path}: {exc.strerror}; create one with "
                              "`itpwatch checkpoint-key PATH`") from None
    except (ValueError, TypeError):
        raise CheckpointError(f"checkpoint key {path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"checkpoint key {path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"public key {path}: {exc.strerror}") from None
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        key = load_private_key(path).public_key()  # a private key file names its public key too
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"public key {path}: not an Ed25519 key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- writing --------------------------------------------------------------------------------------
def checkpoint_body(heads: dict[str, tuple[int, str]], at: datetime, key: Ed25519PrivateKey) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": FORMAT,
        "created_at": at.isoformat(),
        "chains": {name: {"length": heads[name][0], "hash": heads[name][1]} for name in CHAINS},
        "key_id": key_id(key.public_key()),
    }
    body["signature"] = base64.b64encode(key.sign(canonical_dumps(body).encode())).decode()
    return body


def write_checkpoint(directory: Path, body: dict[str, Any]) -> Path:
    """Write atomically (a reader never sees half a file) under a name that sorts by log length and time."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = body["created_at"].replace(":", "").replace("-", "").replace("+", "p")[:22]
    path = directory / f"{PREFIX}{body['chains']['events']['length']:012d}-{stamp}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclass
class CheckpointResult:
    path: Path | None
    body: dict[str, Any] | None
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None


def take_checkpoint(store: EventStore, directory: Path, key: Ed25519PrivateKey, at: datetime,
                    trusted: Sequence[Ed25519PublicKey] = (), *, only_if_changed: bool = False) -> CheckpointResult:
    """Verify the chains against the checkpoints already in `directory`, then sign and write the heads."""
    keys = [key.public_key(), *trusted]
    anchors, problems = load_checkpoints(directory, keys) if directory.exists() else ({}, [])
    if problems:
        return CheckpointResult(None, None, problems)
    if only_if_changed and _anchored(current_heads(store), anchors):  # read from the last rows: no walk
        return CheckpointResult(None, None, skipped="no change since the last checkpoint")
    walk = store.verify_chains(anchors)
    if walk.findings:
        return CheckpointResult(None, None, walk.findings)
    heads = walk.heads
    body = checkpoint_body(heads, at, key)
    return CheckpointResult(write_checkpoint(directory, body), body)


def _anchored(heads: dict[str, tuple[int, str]], anchors: dict[str, list[Anchor]]) -> bool:
    return all(any(a.length == heads[c][0] and a.hash == heads[c][1] for a in anchors.get(c, [])) for c in CHAINS)


def current_heads(store: EventStore) -> dict[str, tuple[int, str]]:
    with store.engine.connect() as conn:
        return chain_heads(conn)


# -- reading --------------------------------------------------------------------------------------
def load_checkpoints(directory: Path, keys: Iterable[Ed25519PublicKey]
                     ) -> tuple[dict[str, list[Anchor]], list[Finding]]:
    """Every checkpoint of a directory as anchors per chain; a file that is unsigned, signed by an unknown key,
    or altered is a finding (someone tried to move the anchors)."""
    by_id = {key_id(k): k for k in keys}
    anchors: dict[str, list[Anchor]] = {name: [] for name in CHAINS}
    problems: list[Finding] = []
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    for path in sorted(directory.glob(f"{PREFIX}*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            signature = base64.b64decode(body.pop("signature"))
            key = by_id.get(body.get("key_id", ""))
            if key is None:
                problems.append(Finding("checkpoint", path.name, "signed by a key that is not trusted "
                                                                 "(give its public key with --public-key)"))
                continue
            key.verify(signature, canonical_dumps(body).encode())
            chains = body["chains"]
            for name in CHAINS:
                anchors[name].append(Anchor(int(chains[name]["length"]), str(chains[name]["hash"]), path.name))
        except InvalidSignature:
            problems.append(Finding("checkpoint", path.name, "signature does not match: the file was altered"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            problems.append(Finding("checkpoint", path.name, "not a readable itpwatch checkpoint"))
    return anchors, problems


# -- the service side ----------------------------------------------------------------------------
def checkpoint_now(app: Any, *, only_if_changed: bool = False) -> CheckpointResult:
    """One checkpoint with the configured key into the configured directory, and to the sink if one is named."""
    settings = app.settings
    if settings.checkpoint_key is None or settings.checkpoint_dir is None:
        raise CheckpointError("set checkpoint_key and checkpoint_dir (ITPWATCH_CHECKPOINT_KEY, "
                              "ITPWATCH_CHECKPOINT_DIR) to write checkpoints")
    key = load_private_key(settings.checkpoint_key)
    trusted = [load_public_key(p) for p in settings.checkpoint_trusted_keys]
    result = take_checkpoint(app.store, settings.checkpoint_dir, key, app.clock.now(), trusted,
                             only_if_changed=only_if_changed)
    if result.body is not None and settings.checkpoint_sink:
        send_to_sink(app, settings.checkpoint_sink, result.body)
    return result


def send_to_sink(app: Any, name: str, body: dict[str, Any]) -> None:
    """Deliver a checkpoint to a sink of the sinks file (a webhook on another host, an e-mail)."""
    from engine.alerts.sinks import build_sink

    config = app.sinks.get(name)
    if config is None:
        raise CheckpointError(f"checkpoint_sink {name!r} is not a sink of the sinks file")
    sink = build_sink(config)
    try:
        sink.deliver({"kind": "checkpoint", **body}, f"checkpoint-{body['chains']['events']['length']}-"
                                                      f"{body['created_at']}")
    finally:
        sink.close()


async def run_checkpointer(app: Any, stop: Any) -> None:
    """`serve`: a checkpoint every checkpoint_interval seconds while the log grows, and one at shutdown.

    Runs on its own thread and connection: the walk only reads, so frames keep being stored meanwhile.
    """
    import asyncio
    import contextlib

    from engine.logs import get_logger

    log = get_logger("itpwatch.checkpoints")
    loop = asyncio.get_running_loop()
    interval = float(app.settings.checkpoint_interval)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        try:
            result = await loop.run_in_executor(None, lambda: checkpoint_now(app, only_if_changed=True))
        except Exception as exc:  # a sink or a directory that failed: said, retried at the next interval
            log.error("checkpoint not written", exc_type=type(exc).__name__)
        else:
            if result.findings:
                log.error("checkpoint refused: the log does not verify", count=len(result.findings))
            elif result.path is not None:
                log.info("checkpoint written", position=result.body["chains"]["events"]["length"]
                         if result.body else None)
        if stop.is_set():
            return
