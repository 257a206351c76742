"""`itpwatch serve`: MLLP and HTTP listeners in one asyncio process.

All storage runs on one worker thread: appends are serialised by the database anyway, the processor's
per-patient cache is single-threaded, and the event loop stays free to read frames from many senders.
An ACK is written only after ingest_one returned, that is after the transaction committed. When storing
fails (the database is gone, the disk is full), no ACK is sent and the connection is closed: the sender
keeps the message and resends it, and a resend of a message that did commit is answered from the
idempotency record with the same ACK code, storing nothing new.

Shutdown (SIGTERM, SIGINT): the listeners stop accepting, frames already being stored get their ACK,
frames arriving after that are not stored (no ACK: the sender resends them to the next process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from adapters.base import AckCode
from engine.api.patients import PatientIndex
from engine.app import App
from engine.ingest import Ingestor, MessageResult
from engine.logs import get_logger

log = get_logger("itpwatch.server")

GRACE_SECONDS = 5
"""How long shutdown waits for frames being stored to be ACKed and for the HTTP server to finish."""


class ShuttingDown(ConnectionAbortedError):
    """A frame arrived after shutdown began: it is not stored and not ACKed (the connection is closed)."""


MAX_GROUP = 200
"""Frames stored in one transaction at most (group commit)."""


class Service:
    """The storage side of the server, callable from the event loop."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.ingestor: Ingestor = app.ingestor()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="itpwatch-writer")
        self.stopping = False
        self.in_flight = 0
        self.patients = PatientIndex(app.store)
        """FHIR Patient ids -> MRN, for references over HTTP and CDS Hooks (engine/api/patients.py)."""
        self.alerts_queued = asyncio.Event()
        """Set after a commit that queued alert notices: wakes the dispatcher."""
        self._frames: asyncio.Queue[tuple[bytes, str, asyncio.Future[bytes]]] | None = None
        self._committer: asyncio.Task[None] | None = None
        from engine.channel import ChannelPolicy

        self.policy = ChannelPolicy(frozenset(app.settings.mllp_formats), app.settings.mllp_senders)

    async def run(self, fn: Any, *args: Any) -> Any:
        processor = self.app.live_processor
        queued_before = processor.notices_queued
        result = await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        if processor.notices_queued != queued_before:
            self.alerts_queued.set()
        return result

    # -- HL7 over MLLP -----------------------------------------------------------------------------
    async def handle_frame(self, frame: bytes, peer: str, peer_names: tuple[str, ...] = ()) -> bytes:
        if self.stopping:
            raise ShuttingDown("server shutting down; frame not stored, no ACK")
        refusal = self.policy.refusal(frame, peer_names)
        if refusal is not None:  # a door this sender or format may not use: AR, nothing stored
            from adapters.hl7v2.ack import build_ack

            log.warning("mllp frame refused by the channel policy", error_code=refusal.error_code)
            return build_ack(frame, "AR", at=self.app.clock.now(), error=refusal)
        self.in_flight += 1
        started = time.perf_counter()
        try:
            ack: bytes = await self._commit_in_group(frame, peer)
        except Exception as exc:
            # Not stored (the transaction rolled back) or not known to be: no ACK. The connection is closed so
            # that the sender does not wait for one, and resends; a resend of a committed message is a duplicate.
            log.error("mllp frame not stored; no ACK, connection closed", exc_type=type(exc).__name__)
            raise ConnectionAbortedError(f"frame not stored: {type(exc).__name__}") from exc
        finally:
            self.in_flight -= 1
        log.debug("mllp ack sent", elapsed_ms=round((time.perf_counter() - started) * 1000, 2))
        return ack

    async def _commit_in_group(self, frame: bytes, peer: str) -> bytes:
        """Queue the frame for the group committer and wait for its ACK (written after the commit)."""
        if self._frames is None:
            self._frames = asyncio.Queue()
            self._committer = asyncio.create_task(self._group_committer(self._frames))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        await self._frames.put((frame, peer, future))
        return await future

    async def _group_committer(self, frames: asyncio.Queue[tuple[bytes, str, asyncio.Future[bytes]]]) -> None:
        """Store every frame that queued up while the previous transaction ran, in one transaction.

        With one fsync per message, 8 senders were no faster than 1 (bench/): the commit was the limit.
        A group keeps each sender's order (a sender waits for its ACK before sending on) and each ACK still
        follows the commit that stored its message.
        """
        while True:
            group = [await frames.get()]
            while not frames.empty() and len(group) < MAX_GROUP:
                group.append(frames.get_nowait())
            try:
                acks = await self.run(self.store_hl7_group, [(frame, peer) for frame, peer, _ in group])
            except Exception as exc:  # nothing of the group is known to be stored: no ACK for any of them
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), ack in zip(group, acks, strict=True):
                if not future.done():
                    future.set_result(ack)

    def store_hl7_group(self, frames: list[tuple[bytes, str]]) -> list[bytes]:
        """One transaction for the frames' messages; on failure, one transaction per frame as before."""
        from adapters.base import Rejected
        from adapters.hl7v2.ack import build_ack
        from adapters.reader import read_bytes

        if len(frames) == 1:
            return [self.store_hl7(*frames[0])]
        now = self.app.clock.now()
        parsed = [read_bytes(frame, origin=f"mllp:{peer}", received_at=now, mapping=self.app.mapping,
                             tz=self.app.tzinfo, hl7_feed="mllp") for frame, peer in frames]
        try:
            results = self.ingestor.ingest_group([m for messages in parsed for m in messages])
        except Exception:
            log.warning("group commit failed; storing its frames one by one", count=len(frames))
            return [self.store_hl7(frame, peer) for frame, peer in frames]
        acks: list[bytes] = []
        at = self.app.clock.now()
        index = 0
        for (frame, _), messages in zip(frames, parsed, strict=True):
            if not messages:
                acks.append(build_ack(frame, "AR", at=at, error=Rejected("empty frame", None, "AR", "100")))
                continue
            first = results[index]
            index += len(messages)
            code = cast(AckCode, first.ack_code if first.ack_code in ("AA", "AE", "AR") else "AE")
            acks.append(build_ack(messages[0].raw, code, at=at, error=first.rejection))
        log.info("mllp group stored", messages=len(results))
        return acks

    def store_hl7(self, frame: bytes, peer: str) -> bytes:
        from adapters.base import Rejected
        from adapters.hl7v2.ack import build_ack
        from adapters.reader import read_bytes

        now = self.app.clock.now()
        messages = read_bytes(frame, origin=f"mllp:{peer}", received_at=now, mapping=self.app.mapping,
                              tz=self.app.tzinfo, hl7_feed="mllp")
        if not messages:
            return build_ack(frame, "AR", at=now, error=Rejected("empty frame", None, "AR", "100"))
        try:
            results: list[MessageResult] = [self.ingestor.ingest_one(m) for m in messages]
        except Exception as exc:
            return self._dead_letter_failure(messages[0], exc)
        first = results[0]
        log.info("mllp message stored", ack=first.ack_code, messages=len(messages),
                 duplicates=sum(r.duplicate for r in results))
        code = cast(AckCode, first.ack_code if first.ack_code in ("AA", "AE", "AR") else "AE")
        return build_ack(messages[0].raw, code, at=self.app.clock.now(), error=first.rejection)

    def _dead_letter_failure(self, message: Any, exc: Exception) -> bytes:
        """Storing raised (its transaction rolled back): keep the raw message as a dead letter and answer AE 207.

        A message that makes the engine fail would otherwise be resent forever and block its sender's queue;
        as a dead letter it is kept and can be retried once the cause is fixed. If even that cannot be
        written (the database is unreachable) the exception propagates: no ACK, and the sender resends.
        """
        from adapters.base import Rejected
        from adapters.hl7v2.ack import build_ack

        log.error("mllp message failed to store; dead-lettered", exc_type=type(exc).__name__)
        rejection = Rejected(f"internal: {type(exc).__name__}: storing failed", None, "AE", "207")
        key = message.message_key
        with self.app.store.writer() as writer:
            if key is not None and (seen := writer.message_seen(key)) is not None:
                code = cast(AckCode, seen[0])  # committed meanwhile (the failure came after the commit)
                return build_ack(message.raw, code, at=self.app.clock.now(), error=None if code == "AA" else rejection)
            kept = self.ingestor.vault.protect(message.raw, message.feed)
            writer.dead_letter(raw=kept.raw, feed=message.feed, origin=message.origin,
                               reason=rejection.reason, field=None, error_code="207", ack_code="AE",
                               message_key=key, recorded_at=self.app.clock.now(), encryption=kept.encryption)
        return build_ack(message.raw, "AE", at=self.app.clock.now(), error=rejection)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class MllpConnections:
    """The MLLP listener and its open connections, so that shutdown can end them instead of cancelling them.

    adapters.mllp.serve_mllp does not expose its connections; cancelling a connection task at loop exit makes
    Python 3.11's start_server callback log a CancelledError traceback. Closing the transport instead makes
    the connection loop see end-of-stream and finish normally.
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self.open: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    async def listen(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> asyncio.Server:
        from adapters.mllp import DEFAULT_MAX_FRAME, serve_connection
        from engine.tls import peer_names

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self.open[task] = writer
            names = peer_names(writer.get_extra_info("ssl_object"))  # the verified client certificate, if any

            async def handle(frame: bytes, peer: str) -> bytes:
                return await self.service.handle_frame(frame, peer, names)

            try:
                await serve_connection(reader, writer, handle, DEFAULT_MAX_FRAME)
            finally:
                self.open.pop(task, None)

        return await asyncio.start_server(on_connect, host, port, ssl=tls)

    async def close(self, timeout: float) -> None:
        for writer in list(self.open.values()):
            writer.close()
        if self.open:
            await asyncio.wait(list(self.open), timeout=timeout)


async def serve(app: App, *, mllp_port: int | None, http_port: int | None, host: str,
                ready: asyncio.Event | None = None) -> None:
    if http_port is not None and not app.settings.http_token:
        raise SystemExit("itpwatch serve: the HTTP listener needs a bearer token (--token or ITPWATCH_HTTP_TOKEN)")
    tls = _tls_context(app)
    service = Service(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    # Open the store (and run migrations) before listening: a sender must never connect to a server that
    # cannot store.
    await service.run(lambda: app.store)
    tasks: list[asyncio.Task[Any]] = []
    connections = MllpConnections(service)
    mllp_server = None
    uvicorn_server = None
    try:
        if mllp_port is not None:
            mllp_server = await connections.listen(host, mllp_port, tls)
            for bound in _bound(mllp_server.sockets):
                print(json.dumps({"listening": "mllp", "host": bound[0], "port": bound[1], "tls": tls is not None}),
                      flush=True)
            log.info("mllp listening", host=host, port=_bound(mllp_server.sockets)[0][1])
        if http_port is not None:
            import uvicorn

            from engine.http import make_http_app

            settings = app.settings
            config = uvicorn.Config(make_http_app(service), host=host, port=http_port, log_config=None,
                                    access_log=False, lifespan="off", timeout_graceful_shutdown=GRACE_SECONDS,
                                    ssl_certfile=settings.tls_cert if tls is not None else None,
                                    ssl_keyfile=settings.tls_key if tls is not None else None)
            uvicorn_server = uvicorn.Server(config)
            # The process's signals are handled here (stop.set), not by uvicorn: uvicorn >= 0.29 installs its
            # own handlers while serving and re-raises the signal afterwards.
            uvicorn_server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
            http_task = asyncio.create_task(uvicorn_server.serve())
            tasks.append(http_task)
            while not uvicorn_server.started:
                if http_task.done():  # uvicorn could not bind (it exits instead of raising)
                    raise SystemExit(f"itpwatch serve: HTTP listener on {host}:{http_port} did not start")
                await asyncio.sleep(0.02)
            for server in uvicorn_server.servers:
                for bound in _bound(server.sockets):
                    print(json.dumps({"listening": "http", "host": bound[0], "port": bound[1],
                                      "tls": tls is not None}), flush=True)
        dispatcher = _start_dispatcher(app, stop, service.alerts_queued)
        if dispatcher is not None:
            tasks.append(dispatcher)
        if app.settings.checkpoint_key is not None and app.settings.checkpoint_dir is not None:
            from engine.checkpoints import run_checkpointer

            tasks.append(asyncio.create_task(run_checkpointer(app, stop)))
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("shutting down")
    finally:
        await _shutdown(service, connections, mllp_server, uvicorn_server, tasks, stop)


def _tls_context(app: App) -> ssl.SSLContext | None:
    """The listeners' TLS context from the settings; a half-configured TLS is a start-up error, not plain text."""
    from engine.tls import TlsConfigError, server_context

    settings = app.settings
    if settings.mllp_senders and settings.mllp_client_ca is None:
        raise SystemExit("itpwatch serve: mllp_senders needs mllp_client_ca (senders are known by their client "
                         "certificates)")
    if settings.tls_cert is None and settings.tls_key is None:
        if settings.mllp_client_ca is not None:
            raise SystemExit("itpwatch serve: mllp_client_ca needs tls_cert and tls_key (client certificates "
                             "are checked in the TLS handshake)")
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise SystemExit("itpwatch serve: set both tls_cert and tls_key (or neither)")
    try:
        return server_context(settings.tls_cert, settings.tls_key, settings.mllp_client_ca)
    except TlsConfigError as exc:
        raise SystemExit(f"itpwatch serve: {exc}") from None


def _bound(sockets: Any) -> list[tuple[str, int]]:
    return [tuple(s.getsockname()[:2]) for s in sockets]


async def _shutdown(service: Service, connections: MllpConnections, mllp_server: asyncio.Server | None,
                    uvicorn_server: Any, tasks: list[asyncio.Task[Any]], stop: asyncio.Event) -> None:
    stop.set()
    if mllp_server is not None:
        mllp_server.close()
    if uvicorn_server is not None:
        uvicorn_server.should_exit = True
    deadline = time.monotonic() + GRACE_SECONDS
    service.stopping = True
    while service.in_flight and time.monotonic() < deadline:  # let frames being stored get their ACK out
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # the handlers that got their result write the ACK now
    for task in tasks:
        try:
            await asyncio.wait_for(task, timeout=max(0.1, deadline - time.monotonic()))
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        except (Exception, SystemExit) as exc:  # shutting down anyway; say what it was
            log.warning("task failed during shutdown", exc_type=type(exc).__name__)
    await connections.close(timeout=max(0.1, deadline - time.monotonic()))
    if mllp_server is not None:
        await mllp_server.wait_closed()
    await asyncio.get_running_loop().run_in_executor(None, service.close)
    log.info("stopped")
    sys.stdout.flush()


def _start_dispatcher(app: App, stop: asyncio.Event, wake: asyncio.Event | None = None
                      ) -> asyncio.Task[Any] | None:
    """The alert dispatcher runs beside the listeners, woken by commits that queued notices."""
    from engine.alerts.dispatch import run_dispatcher

    return asyncio.create_task(run_dispatcher(app, stop, wake=wake))
