"""The openai backend's client overhead: completions per second against a server that answers at once.

A minimal OpenAI-compatible server (raw asyncio, HTTP/1.1 keep-alive, a fixed answer) runs in a separate process;
evalkit's OpenAIBackend sends N requests through it with the run's real on_result path (each answer appended to
a journal), and the same N requests are sent by a bare asyncio client (hand-written HTTP over raw sockets, no
evalkit, no httpx) as the anchor. The target: >= 1,000 completions/s on 2 cores, so that the client is never the
bottleneck of a fast engine (a vLLM replica on one GPU answers a few hundred HumanEval samples per second).

    python bench/serving.py [--n 20000] [--concurrency 64]
    python bench/serving.py --serve PORT        # only the instant server (tests use it for token-id prompts)

The server also answers ``GET /stats``: how many completion requests it saw, by prompt kind (text / token ids),
and the ``stop_token_ids`` it was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANSWER = json.dumps({"id": "x", "object": "text_completion", "model": "instant",
                     "choices": [{"index": 0, "text": "    return 1\n", "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}}).encode()
CHAT = json.dumps({"id": "x", "object": "chat.completion", "model": "instant",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "    return 1\n```"},
                                "finish_reason": "stop"}],
                   "usage": {"completion_tokens": 3}}).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "instant", "object": "model", "owned_by": "bench"}]}).encode()
VERSION = json.dumps({"version": "instant-0"}).encode()


def serve(port: int) -> None:
    stats = {"text": 0, "token_ids": 0, "chat": 0, "stop_token_ids": []}

    def reply(body: bytes, status: str = "200 OK") -> bytes:
        return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nserver: instant-bench\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode() + body

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            out = []
            while True:
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    break
                head = self.buf[:i]
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        n = int(line[15:])
                if len(self.buf) < i + 4 + n:
                    break
                body, self.buf = self.buf[i + 4:i + 4 + n], self.buf[i + 4 + n:]
                method, path = head.split(b" ", 2)[:2]
                if path.endswith(b"/completions") and method == b"POST":
                    req = json.loads(body)
                    if path.endswith(b"/chat/completions"):
                        stats["chat"] += 1
                        out.append(reply(CHAT))
                        continue
                    kind = "token_ids" if isinstance(req.get("prompt"), list) else "text"
                    stats[kind] += 1
                    if "stop_token_ids" in req:
                        stats["stop_token_ids"] = req["stop_token_ids"]
                    out.append(reply(ANSWER))
                elif path.endswith(b"/models"):
                    out.append(reply(MODELS))
                elif path == b"/version":
                    out.append(reply(VERSION))
                elif path == b"/stats":
                    out.append(reply(json.dumps(stats).encode()))
                else:
                    out.append(reply(b'{"detail":"Not Found"}', "404 Not Found"))
            if out:
                self.t.write(b"".join(out))  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the instant server did not start")


async def anchor(url: str, n: int, concurrency: int) -> float:
    """The same requests from a bare client: hand-written HTTP/1.1 on keep-alive sockets."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    body = json.dumps({"model": "instant", "prompt": "def f():\n", "max_tokens": 512, "temperature": 0.0,
                       "top_p": 1.0, "seed": 1, "stop": ["\ndef"]}).encode()
    req = (f"POST /v1/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
           f"content-length: {len(body)}\r\n\r\n").encode() + body
    left = [n]

    async def worker() -> None:
        r, w = await asyncio.open_connection(host, int(port))
        while left[0] > 0:
            left[0] -= 1
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            size = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            json.loads(await r.readexactly(size))
        w.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


def evalkit_rate(url: str, n: int, concurrency: int) -> float:
    from evalkit.backends.base import GenerationParams, GenerationRequest
    from evalkit.backends.openai import OpenAIBackend
    from evalkit.store import Journal

    backend = OpenAIBackend("instant", base_url=url, concurrency=concurrency)
    reqs = [GenerationRequest(key=("humaneval", f"HumanEval/{i % 164}", i), prompt="def f():\n",
                              stop=("\ndef", "\nclass", "\nif", "\nprint", "\n#"), seed=i) for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        journal = Journal(Path(d) / "generations.jsonl")

        def on_result(req, gen) -> None:  # noqa: ANN001
            journal.append({"task": req.key[0], "task_id": req.key[1], "sample_idx": req.key[2], "raw": gen.text,
                            "completion": gen.text})

        t0 = time.perf_counter()
        backend.generate(reqs, GenerationParams(), on_result)
        rate = n / (time.perf_counter() - t0)
        journal.close()
        lines = (Path(d) / "generations.jsonl").read_text().count("\n")
    assert lines == n, (lines, n)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", type=int, metavar="PORT", help="only run the instant server on PORT")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    proc, url = start_server()
    try:
        evalkit_rate(url, 500, args.concurrency)  # warm-up (imports, connections)
        base = asyncio.run(anchor(url, args.n, args.concurrency))
        rate = evalkit_rate(url, args.n, args.concurrency)
    finally:
        proc.kill()
        proc.wait()
    print(f"cores: {os.cpu_count()}  requests: {args.n}  concurrency: {args.concurrency}")
    print(f"bare asyncio client (anchor): {base:8.0f} completions/s")
    print(f"evalkit openai backend:       {rate:8.0f} completions/s  ({rate / base:.2f}x the anchor)")
    print(f"target >= 1000 completions/s: {'met' if rate >= 1000 else 'NOT met'}")


if __name__ == "__main__":
    main()
