"""MLLP (0x0B message 0x1C 0x0D) framing over asyncio, for the live HL7 feed.

python-hl7 ships `hl7.mllp` (start_hl7_server, MLLPStreamReader.readblock), but it does not fit here:
readblock reads up to FS CR and raises InvalidBlockError when anything precedes VT, losing the frame
that follows garbage; it has no chunk-level decoder to test split/merged reads; it parses into
hl7.Message itself (the engine wants the raw bytes to store first) and still uses the deprecated
get_event_loop(). The decoder below is small, resynchronises on VT, and bounds the buffer.
The handler is the engine's: it stores and commits the frame, then returns the ACK bytes to send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

VT = b"\x0b"
FS = b"\x1c"
CR = b"\x0d"
END = FS + CR
DEFAULT_MAX_FRAME = 16 * 1024 * 1024

log = structlog.get_logger(__name__)


class FrameDecoder:
    """Turns arbitrary chunks of a byte stream into complete MLLP frame payloads.

    Bytes outside a frame are dropped (and counted in `discarded`). A VT inside an unfinished frame
    starts a new frame (the previous one was truncated by the sender). A frame growing past `max_frame`
    is dropped, so that a broken peer cannot exhaust memory.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self.max_frame = max_frame
        self.discarded = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add bytes; return the payloads of every frame completed by them, in order."""
        frames: list[bytes] = []
        self._buf.extend(chunk)
        while True:
            if not self._in_frame:
                start = self._buf.find(VT)
                if start < 0:
                    self.discarded += len(self._buf)
                    self._buf.clear()
                    break
                self.discarded += start
                del self._buf[: start + 1]
                self._in_frame = True
            end = self._buf.find(END)
            restart = self._buf.find(VT)
            if restart >= 0 and (end < 0 or restart < end):
                self.discarded += restart
                del self._buf[: restart + 1]
                continue
            if end < 0:
                if len(self._buf) > self.max_frame:
                    self.discarded += len(self._buf)
                    self._buf.clear()
                    self._in_frame = False
                break
            frames.append(bytes(self._buf[:end]))
            del self._buf[: end + len(END)]
            self._in_frame = False
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held back."""
        return len(self._buf) if self._in_frame else 0


def frame(payload: bytes) -> bytes:
    """Wrap a payload (an ACK) in MLLP start and end blocks."""
    return VT + payload + END


Handler = Callable[[bytes, str], Awaitable[bytes]]


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handle: Handler, max_frame: int
) -> None:
    """Read frames from one sender and answer each in order; public so a server can track its connections."""
    peername = writer.get_extra_info("peername")
    peer = (
        f"{peername[0]}:{peername[1]}"
        if isinstance(peername, tuple) and len(peername) >= 2
        else str(peername)
    )
    decoder = FrameDecoder(max_frame=max_frame)
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            for payload in decoder.feed(chunk):
                # Frames of one connection are handled in order: the ACK of one is written before the next
                # is handled, which is what senders waiting for an ACK expect.
                ack = await handle(payload, peer)
                writer.write(frame(ack))
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        log.warning("mllp.connection_lost", peer=peer, error=str(exc))
    finally:
        if decoder.pending or decoder.discarded:
            log.info(
                "mllp.connection_closed", peer=peer, pending=decoder.pending, discarded=decoder.discarded
            )
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def serve_mllp(
    host: str, port: int, handle: Handler, *, max_frame: int = DEFAULT_MAX_FRAME
) -> asyncio.Server:
    """Start an MLLP listener; `handle(frame, peer)` returns the ACK bytes, which are sent back framed."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, handle, max_frame)

    return await asyncio.start_server(on_connect, host, port)
