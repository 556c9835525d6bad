"""A small HTTP/1.1 client on asyncio streams: one keep-alive connection, one request at a time.

The openai backend sends a thousand small JSON requests a second to local servers; httpx's client and pool
layers cost more than the requests themselves (bench/serving.py: about 10x the time of a bare client), so the
hot path speaks HTTP/1.1 itself: a request with Content-Length, an answer with Content-Length, chunked transfer
encoding or read-to-close. TLS through ``ssl``. Discovery and anything unusual stay with httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from typing import Any


class Dropped(Exception):
    """The connection broke (reset, closed without an answer, malformed answer)."""


class Refused(Exception):
    """The server could not be reached (connection refused, no route, DNS)."""


class Connection:
    """A keep-alive connection to one server (scheme://host:port), opened on first use and after a break."""

    def __init__(self, base: str, ssl_context: ssl.SSLContext | None = None) -> None:
        p = urllib.parse.urlsplit(base)
        self.tls = p.scheme == "https"
        self.host = p.hostname or ""
        self.port = p.port or (443 if self.tls else 80)
        self.host_header = (f"[{self.host}]" if ":" in self.host else self.host) + (f":{p.port}" if p.port else "")
        self.ssl_context = ssl_context if self.tls else None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self, connect_timeout: float) -> None:
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.ssl_context), connect_timeout)
        except asyncio.TimeoutError:
            raise
        except OSError as e:
            raise Refused(f"{type(e).__name__}: {e.strerror or e}") from None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: list[tuple[bytes, bytes]], timeout: float,
                   connect_timeout: float = 10.0) -> tuple[int, dict[bytes, bytes], bytes]:
        """(status, lower-cased headers, body). Raises Refused, Dropped or asyncio.TimeoutError."""
        head = b"".join([b"POST ", path.encode(), b" HTTP/1.1\r\nhost: ", self.host_header.encode(),
                         b"\r\ncontent-length: ", str(len(body)).encode(), b"\r\n",
                         *(k + b": " + v + b"\r\n" for k, v in headers), b"\r\n"])
        for fresh in (False, True):
            reused = self.writer is not None and not fresh
            if self.writer is None:
                await self._open(connect_timeout)
            try:
                return await asyncio.wait_for(self._exchange(head + body), timeout)
            except asyncio.TimeoutError:
                self.close()
                raise
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
                self.close()
                if reused and isinstance(e, _STALE):
                    continue  # the server had closed the idle connection: send once more on a new one
                raise Dropped(f"{type(e).__name__}: {e}") from None
            except BaseException:
                self.close()  # cancelled mid-exchange: the connection is in an unknown state
                raise
        raise Dropped("connection closed")

    async def _exchange(self, data: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        r = self.reader
        while True:
            status_line = await r.readuntil(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            headers: dict[bytes, bytes] = {}
            while True:
                line = await r.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
            if status != 100:
                break
        if headers.get(b"transfer-encoding", b"").lower().endswith(b"chunked"):
            parts = []
            while True:
                size = int((await r.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await r.readuntil(b"\r\n") != b"\r\n":
                        pass
                    break
                parts.append(await r.readexactly(size))
                await r.readexactly(2)
            content = b"".join(parts)
        elif b"content-length" in headers:
            content = await r.readexactly(int(headers[b"content-length"]))
        else:
            content = await r.read()
            self.close()
            return status, headers, content
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, headers, content


# a reused keep-alive connection that the server closed meanwhile fails like this before any answer
_STALE: Any = (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError)
