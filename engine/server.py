"""`itpwatch serve`: MLLP and HTTP listeners in one asyncio process.

All storage runs on one worker thread: appends are serialised by the database anyway, the processor's
per-patient cache is single-threaded, and the event loop stays free to read frames from many senders.
An ACK is written only after ingest_one returned, that is after the transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine.app import App
from engine.ingest import Ingestor, MessageResult
from engine.logs import get_logger

log = get_logger("itpwatch.server")


class Service:
    """The storage side of the server, callable from the event loop."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.ingestor: Ingestor = app.ingestor()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="itpwatch-writer")

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- HL7 over MLLP -----------------------------------------------------------------------------
    async def handle_frame(self, frame: bytes, peer: str) -> bytes:
        return await self.run(self.store_hl7, frame, peer)  # type: ignore[no-any-return]

    def store_hl7(self, frame: bytes, peer: str) -> bytes:
        from adapters.base import Rejected
        from adapters.hl7v2.ack import build_ack
        from adapters.reader import read_bytes

        now = self.app.clock.now()
        messages = read_bytes(frame, origin=f"mllp:{peer}", received_at=now, mapping=self.app.mapping,
                              tz=self.app.tzinfo, hl7_feed="mllp")
        if not messages:
            return build_ack(frame, "AR", at=now, error=Rejected("empty frame", None, "AR", "100"))
        results: list[MessageResult] = [self.ingestor.ingest_one(m) for m in messages]
        first = results[0]
        log.info("mllp message stored", ack=first.ack_code, duplicates=sum(r.duplicate for r in results))
        return build_ack(messages[0].raw, first.ack_code, at=self.app.clock.now(), error=first.rejection)

    # -- FHIR over HTTP ----------------------------------------------------------------------------
    def store_fhir(self, body: bytes) -> list[tuple[Any, MessageResult]]:
        from adapters.reader import read_bytes

        messages = read_bytes(body, origin="http", received_at=self.app.clock.now(), mapping=self.app.mapping,
                              tz=self.app.tzinfo, fhir_feed="fhir-http")
        return [(m, self.ingestor.ingest_one(m)) for m in messages]

    def close(self) -> None:
        self.executor.shutdown(wait=True)


async def serve(app: App, *, mllp_port: int | None, http_port: int | None, host: str,
                ready: asyncio.Event | None = None) -> None:
    from adapters.mllp import serve_mllp

    service = Service(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[Any]] = []
    mllp_server = None
    if mllp_port is not None:
        mllp_server = await serve_mllp(host, mllp_port, service.handle_frame)
        port = mllp_server.sockets[0].getsockname()[1]
        print(json.dumps({"listening": "mllp", "host": host, "port": port}), flush=True)
    uvicorn_server = None
    if http_port is not None:
        import uvicorn

        from engine.http import make_http_app

        config = uvicorn.Config(make_http_app(service), host=host, port=http_port, log_config=None,
                                access_log=False, lifespan="off")
        uvicorn_server = uvicorn.Server(config)
        uvicorn_server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        tasks.append(asyncio.create_task(uvicorn_server.serve()))
        while not uvicorn_server.started:
            await asyncio.sleep(0.02)
        bound = uvicorn_server.servers[0].sockets[0].getsockname()[1]
        print(json.dumps({"listening": "http", "host": host, "port": bound}), flush=True)
    dispatcher = _start_dispatcher(app, stop)
    if dispatcher is not None:
        tasks.append(dispatcher)
    if ready is not None:
        ready.set()
    await stop.wait()
    if mllp_server is not None:
        mllp_server.close()
        await mllp_server.wait_closed()
    if uvicorn_server is not None:
        uvicorn_server.should_exit = True
    for task in tasks:
        try:
            await asyncio.wait_for(task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
    service.close()


def _start_dispatcher(app: App, stop: asyncio.Event) -> asyncio.Task[Any] | None:
    """The alert dispatcher runs beside the listeners when alert delivery is available."""
    try:
        from engine.alerts.dispatch import run_dispatcher
    except ImportError:
        return None
    return asyncio.create_task(run_dispatcher(app, stop))
