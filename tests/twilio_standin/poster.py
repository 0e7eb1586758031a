"""A small HTTP/1.1 POST client for the callbacks' plain-http receivers: kept-alive
connections per host on asyncio streams. aiohttp costs ~250 µs of CPU a request here, and
the stand-in must post thousands of callbacks a second beside its creates; this costs a
fraction of that. https URLs go through aiohttp (callbacks.py)."""

from __future__ import annotations

import asyncio
from urllib.parse import SplitResult

MAX_HEADERS = 100
MAX_BODY = 1024 * 1024


class BadResponse(Exception):
    pass


class Poster:
    def __init__(self) -> None:
        self.idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
        self.idle = {}

    async def post(
        self, url: SplitResult, headers: dict[str, str], body: bytes, seconds: float
    ) -> tuple[int, bytes]:
        """(status, body) of one POST; raises OSError, TimeoutError or BadResponse."""
        host, port = url.hostname or "", url.port or 80
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        lines = [f"POST {target} HTTP/1.1", f"Host: {url.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        async with asyncio.timeout(seconds):
            pool = self.idle.setdefault((host, port), [])
            while pool:  # a kept-alive connection, unless the server closed it meanwhile
                reader, writer = pool.pop()
                try:
                    return await self._exchange(pool, reader, writer, request)
                except (OSError, asyncio.IncompleteReadError):
                    writer.close()
            reader, writer = await asyncio.open_connection(host, port)
            try:
                return await self._exchange(pool, reader, writer, request)
            except asyncio.IncompleteReadError as error:
                raise BadResponse("the connection closed mid-answer") from error

    async def _exchange(
        self,
        pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: bytes,
    ) -> tuple[int, bytes]:
        done = False
        try:
            writer.write(request)
            status_line = await reader.readuntil(b"\r\n")
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise BadResponse(f"not an HTTP answer: {status_line[:80]!r}")
            fields: dict[bytes, bytes] = {}
            for _ in range(MAX_HEADERS):
                line = await reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
            else:
                raise BadResponse("too many header lines")
            if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = await self._chunked(reader)
            else:
                length = int(fields.get(b"content-length", b"0"))
                if length > MAX_BODY:
                    raise BadResponse("answer too large")
                body = await reader.readexactly(length)
            done = fields.get(b"connection", b"").lower() != b"close"
            return int(parts[1]), body
        finally:
            if done:
                pool.append((reader, writer))
            else:  # failed, cancelled (a timeout) or closing: never reused
                writer.close()

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return body
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > MAX_BODY:
                raise BadResponse("answer too large")

    def close(self) -> None:
        for pool in self.idle.values():
            for _, writer in pool:
                writer.close()
        self.idle.clear()
