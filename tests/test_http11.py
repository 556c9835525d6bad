"""The openai backend's HTTP/1.1 client against a raw server on 127.0.0.1: chunked answers, read-to-close
answers, a keep-alive connection the server closed meanwhile (resent once on a new one), refused connections."""

from __future__ import annotations

import asyncio
import json

import pytest

from evalkit.backends import http11


def test_chunked_close_delimited_and_stale_keepalive():
    seen: list[tuple[int, bytes]] = []  # (connection number, body)

    async def main() -> None:
        conns = 0

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            nonlocal conns
            conns += 1
            me = conns
            head = await r.readuntil(b"\r\n\r\n")
            n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = await r.readexactly(n)
            seen.append((me, body))
            kind = json.loads(body)["kind"]
            if kind == "chunked":  # then close the idle keep-alive connection, as servers do
                w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                        b"5\r\n{\"a\":\r\n3;ext=1\r\n 1}\r\n0\r\n\r\n")
            elif kind == "close":
                w.write(b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\nconnection: close\r\n\r\nbusy")
            await w.drain()
            w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = http11.Connection(f"http://127.0.0.1:{port}")
        hdrs = [(b"content-type", b"application/json")]
        status, headers, body = await c.post("/v1/completions", b'{"kind": "chunked"}', hdrs, 5)
        assert (status, json.loads(body)) == (200, {"a": 1})
        await asyncio.sleep(0.05)  # the server has closed that connection by now
        status, headers, body = await c.post("/v1/completions", b'{"kind": "close"}', hdrs, 5)
        assert (status, headers[b"retry-after"], body) == (503, b"2", b"busy")
        c.close()
        server.close()
        await server.wait_closed()
        with pytest.raises(http11.Refused):
            await http11.Connection(f"http://127.0.0.1:{port}").post("/v1/completions", b"{}", hdrs, 5)

    asyncio.run(main())
    # the second request went on the reused (closed) connection first, then once more on a new one
    assert [n for n, _ in seen] == [1, 2]
