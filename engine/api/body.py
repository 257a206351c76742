"""Reading a request body with a ceiling: a body larger than MAX_BODY is refused before anything is stored."""

from __future__ import annotations

from starlette.requests import Request

MAX_BODY = 32 * 1024 * 1024
"""Largest request body read; larger ones get 413."""


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
