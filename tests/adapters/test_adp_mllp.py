from __future__ import annotations

import asyncio

from adapters.mllp import FrameDecoder, frame, serve_mllp

A = b"MSH|^~\\&|A|B|||2024||ADT^A01|1|P|2.5\rPID|1"
B = b"MSH|^~\\&|A|B|||2024||ORU^R01|2|P|2.5\rOBX|1"


def test_split_across_reads() -> None:
    decoder = FrameDecoder()
    data = frame(A)
    out: list[bytes] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
    assert out == [A]
    assert decoder.pending == 0


def test_several_frames_in_one_read_with_garbage_between() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"junk" + frame(A) + b"\r\n" + frame(B) + b"\x0bpart") == [A, B]
    assert decoder.discarded == 6
    assert decoder.feed(b"ial\x1c\r") == [b"partial"]


def test_end_split_between_fs_and_cr() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x0b" + A + b"\x1c") == []
    assert decoder.feed(b"\r") == [A]


def test_restart_on_new_start_block_and_size_limit() -> None:
    decoder = FrameDecoder(max_frame=10)
    assert decoder.feed(b"\x0btruncated\x0b" + b"ok\x1c\r") == [b"ok"]
    assert decoder.feed(b"\x0b" + b"x" * 50) == []
    assert decoder.pending == 0
    assert decoder.feed(frame(b"next")) == [b"next"]


def test_serve_mllp_round_trip() -> None:
    async def scenario() -> list[bytes]:
        seen: list[tuple[bytes, str]] = []

        async def handle(payload: bytes, peer: str) -> bytes:
            seen.append((payload, peer))
            return b"MSH|^~\\&|ACK\rMSA|AA|" + payload[-1:]

        server = await serve_mllp("127.0.0.1", 0, handle)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        wire = frame(A) + frame(B)
        writer.write(wire[:7])
        await writer.drain()
        writer.write(wire[7:])
        await writer.drain()
        decoder = FrameDecoder()
        acks: list[bytes] = []
        while len(acks) < 2:
            acks += decoder.feed(await asyncio.wait_for(reader.read(1024), 5))
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        assert [p for p, _ in seen] == [A, B]
        assert seen[0][1].startswith("127.0.0.1:")
        return acks

    acks = asyncio.run(scenario())
    assert acks == [b"MSH|^~\\&|ACK\rMSA|AA|1", b"MSH|^~\\&|ACK\rMSA|AA|1"]
