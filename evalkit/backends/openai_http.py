"""The servers of ``--backend openai`` and how one request reaches them: URLs and credentials, load spreading,
retries with jittered backoff, rest for a failing server, and the budget after which the run stops.

* A request goes to the available server with the fewest outstanding requests. 429, 5xx, timeouts, refused and
  dropped connections are retried (on another server where there is one) up to ``--max-retries`` times, and
  never past a total deadline per request (``request_deadline_s``); then one clear error names the URL and what
  it answered.
* A server that refuses connections, drops them, or fails three times in a row rests (1 s, doubling up to 60 s,
  doubled once per failed probe, not once per failed request) and one request probes it when its rest is over.
  A server that refuses or drops connections is *down*: a line on stderr says when it goes down and when it is
  back.
* When every server has been down longer than the retry budget (``down_budget_s``: the rests of
  ``--max-retries`` failed probes), the run stops with one line naming the URLs: what was finished is journaled.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import UserError

_RETRY_STATUS = {408, 409, 425, 429}  # and every 5xx
_BACKOFF_BASE_S = 0.2
_BACKOFF_CAP_S = 10.0
REST_BASE_S = 1.0  # a failing server rests this long, doubling up to REST_CAP_S
REST_CAP_S = 60.0


class ServerError(UserError):
    """A server kept failing (or refused a request) after the retry budget: one line, exit code 2."""


def clean_url(url: str) -> str:
    """The URL without credentials, query or fragment, as recorded in results.json."""
    p = urllib.parse.urlsplit(url)
    host = p.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{p.port}" if p.port else "")
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path.rstrip("/"), "", ""))


def api_root(url: str) -> str:
    """``http://h:8000`` and ``http://h:8000/v1/`` both mean ``http://h:8000/v1``."""
    url = url.strip().rstrip("/")
    p = urllib.parse.urlsplit(url)
    if p.scheme not in ("http", "https") or not p.hostname:
        raise UserError(f"--base-url {clean_url(url) or url!r} is not an http(s) URL")
    return url if p.path.endswith("/v1") else url + "/v1"


def auth_headers(root: str, key: str | None) -> list[tuple[bytes, bytes]]:
    """The API key as a bearer token, else the URL's ``user:password`` as basic auth."""
    headers = [(b"content-type", b"application/json")]
    p = urllib.parse.urlsplit(root)
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    elif p.username is not None:
        import base64

        user = urllib.parse.unquote(p.username) + ":" + urllib.parse.unquote(p.password or "")
        headers.append((b"authorization", b"Basic " + base64.b64encode(user.encode())))
    return headers


def down_budget_s(max_retries: int) -> float:
    """How long every server may be down before the run stops: the rests of ``max_retries`` failed probes."""
    return sum(min(REST_CAP_S, REST_BASE_S * 2 ** i) for i in range(max(1, max_retries)))


@dataclass
class Server:
    url: str  # the API root, without credentials
    headers: list[tuple[bytes, bytes]]  # of every request (the API key, or the URL's user:password)
    inflight: int = 0
    fails: int = 0  # consecutive failures
    rest_until: float = 0.0
    rest_s: float = REST_BASE_S
    sent: int = 0
    down_since: float | None = None  # when it last went down (None: up)
    why: str = field(default="", repr=False)

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path

    def available(self, now: float) -> bool:
        # a server back from a rest gets one probing request at a time until one succeeds
        return self.rest_until <= now and (self.rest_until == 0.0 or self.inflight == 0)

    def failed(self, connection: bool, what: str, quiet: bool = False) -> None:
        """A failed request; ``connection``: refused or dropped (the server is gone: it is *down*)."""
        self.fails += 1
        now = time.monotonic()
        if connection and self.down_since is None:
            self.down_since, self.why = now, what
            if not quiet:
                say(f"{self.url} is down ({what}); its requests wait for it or go to the other servers")
        if not (connection or self.fails >= 3):
            return
        if self.rest_until > now:  # already resting: a request sent before the rest began
            return
        self.rest_until = now + self.rest_s
        self.rest_s = min(REST_CAP_S, self.rest_s * 2)

    def succeeded(self, sent_at: float) -> None:
        if self.down_since is not None and sent_at < self.down_since:
            return  # an answer to a request sent before the server went down (a graceful shutdown): still down
        if self.down_since is not None:
            say(f"{self.url} is back after {time.monotonic() - self.down_since:.0f} s")
        self.fails, self.rest_s, self.rest_until, self.down_since = 0, REST_BASE_S, 0.0, None


def say(msg: str) -> None:
    print(f"evalkit: server {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    def __init__(self, what: str, status: int | None = None, retry: bool = True, connection: bool = False,
                 wait_s: float = 0.0) -> None:
        super().__init__(what)
        self.what, self.status, self.retry, self.connection, self.wait_s = what, status, retry, connection, wait_s


class Servers:
    """The servers of one run and the request loop over them."""

    def __init__(self, servers: list[Server], request_timeout: float, max_retries: int, tls: Any) -> None:
        self.servers, self.request_timeout, self.max_retries, self.tls = servers, request_timeout, max_retries, tls
        self.retries = 0
        self.down_budget = down_budget_s(max_retries)
        # a request's attempts, their timeouts and backoffs, and waiting out rests: never longer than this
        self.request_deadline_s = (max_retries + 1) * request_timeout + self.down_budget + 30.0

    def pick(self) -> Server | None:
        now = time.monotonic()
        ready = [s for s in self.servers if s.available(now)]
        return min(ready, key=lambda s: (s.inflight, s.sent)) if ready else None

    def all_down_too_long(self) -> str | None:
        """The stop message when every server has been down past the budget, else None."""
        now = time.monotonic()
        if all(s.down_since is not None and now - s.down_since > self.down_budget for s in self.servers):
            return ("every server has been down for longer than the retry budget "
                    f"({self.down_budget:.0f} s for --max-retries {self.max_retries}): "
                    + "; ".join(f"{s.url} ({s.why}, down {now - (s.down_since or now):.0f} s)" for s in self.servers))
        return None

    async def _server(self, deadline: float) -> Server:
        server = self.pick()
        while server is None:  # every server rests: wait for the first to be probed again
            stop = self.all_down_too_long()
            if stop:
                raise Failure(stop, retry=False)
            if time.monotonic() > deadline:
                raise Failure(f"no server available within the request's deadline ({self.request_deadline_s:.0f} s)",
                              retry=False)
            wake = min(s.rest_until for s in self.servers)
            await asyncio.sleep(min(1.0, max(0.01, wake - time.monotonic())))
            server = self.pick()
        return server

    async def post(self, conns: dict[str, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request, retried on another or the same server until it succeeds or the budget is spent."""
        from evalkit.backends import http11

        content = json.dumps(body).encode()
        last: Failure | None = None
        deadline = time.monotonic() + self.request_deadline_s
        for attempt in range(self.max_retries + 1):
            server = await self._server(deadline)
            server.inflight += 1
            server.sent += 1
            sent_at = time.monotonic()
            try:
                conn = conns.get(server.url)
                if conn is None:
                    conn = conns[server.url] = http11.Connection(server.url, self.tls)
                try:
                    status, headers, raw = await conn.post(server.path + path, content, server.headers,
                                                           self.request_timeout, min(10.0, self.request_timeout))
                except asyncio.TimeoutError:
                    raise Failure(f"timed out (--request-timeout {self.request_timeout:g})") from None
                except http11.Refused as e:
                    raise Failure(f"refused the connection ({e})", connection=True) from None
                except http11.Dropped as e:
                    raise Failure(f"dropped the connection ({e})", connection=True) from None
                if status == 200:
                    try:
                        data = json.loads(raw)
                        data["choices"][0]
                    except (ValueError, KeyError, IndexError, TypeError):
                        raise Failure(f"answered 200 with no choices: {raw[:200]!r}") from None
                    server.succeeded(sent_at)
                    return data
                detail = raw[:300].decode("utf-8", "replace").replace("\n", " ")
                retry = status in _RETRY_STATUS or status >= 500
                wait = 0.0
                if status == 429:
                    try:
                        wait = min(30.0, float(headers.get(b"retry-after", b"0")))
                    except ValueError:
                        wait = 0.0
                raise Failure(f"answered {status}: {detail}", status=status, retry=retry, wait_s=wait)
            except Failure as f:
                what, f.what = f.what, f"{server.url}{path} {f.what}"
                if not f.retry:
                    raise
                server.failed(f.connection, what)
                last = f
                if attempt < self.max_retries and time.monotonic() < deadline:
                    self.retries += 1
                    others = any(s is not server and s.available(time.monotonic()) for s in self.servers)
                    cap = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** attempt)
                    delay = random.uniform(0, cap) if not (f.connection and others) else 0.0
                    await asyncio.sleep(max(delay, f.wait_s))
                elif attempt < self.max_retries:
                    f.what += f" (past the request's deadline of {self.request_deadline_s:.0f} s)"
                    break
            finally:
                server.inflight -= 1
        assert last is not None
        raise last
