"""The driver: trusted source from evalkit, run by init beside the serving step (see ``spec.py``).

``drive(call, data)`` gets ``call``, which sends one call to the sample's process and waits for the answer
while init keeps draining the sample's output (``call.send_ahead(requests)`` sends calls the driver is sure to
make in one write, so their answers come without a round trip each), and the spec's ``driver_data``, which
never leaves init. Only plain values come back (``plain.loads``: no object of the sample's), a builtin exception
class is re-raised as itself, any other as ``SampleRaised``, a dead or late sample as ``SampleGone``. Standard
library only.
"""

import builtins
import collections
import json
import os
import random
import time

from evalkit.sandbox import plain
from evalkit.sandbox.spec import SampleGone, SampleRaised

# exceptions re-raised as their own class in the driver: the builtin ones a test may catch
_BUILTIN_EXC = {n: c for n, c in vars(builtins).items()
                if isinstance(c, type) and issubclass(c, Exception) and c.__module__ == "builtins"}


class UnsupportedCall(BaseException):
    """The driver tried to send a value that is not plain (the test code hands the sample one of its objects):
    this problem cannot be judged through calls."""


def _raise_for(err: list) -> None:
    name = str(err[0]) if err else "Exception"
    msg = str(err[1]) if len(err) > 1 else ""
    cls = _BUILTIN_EXC.get(name)
    if cls is not None:
        try:
            e = cls(msg) if msg else cls()
        except Exception:
            e = SampleRaised(name, msg)
        raise e
    raise SampleRaised(name, msg)


_CODE: dict = {}


def _compile_cached(source: str, name: str):  # noqa: ANN202
    """Trusted test code compiled once per text (every sample of a problem shares it), plain semantics."""
    key = (source, name)
    code = _CODE.get(key)
    if code is None:
        if len(_CODE) > 4096:
            _CODE.clear()
        code = _CODE[key] = compile(source, name, "exec", dont_inherit=True)
    return code


_DATA: collections.OrderedDict = collections.OrderedDict()  # driver_data_key -> decoded data (shared specs)
_LINES: dict[int, tuple[object, bytes, list]] = {}  # id(requests) -> (requests, their lines, their keys)


def _same(a, b) -> bool:  # noqa: ANN001
    """The same plain value: for these types ``repr`` tells 1 from 1.0 and True, -0.0 from 0.0, a list from a
    tuple, and shows a dict's order (a set never comes here: its order is not its value)."""
    try:
        return repr(a) == repr(b)
    except ValueError:  # an int past Python's digit limit: not sent ahead
        return False


def _data(spec: dict):  # noqa: ANN202
    """The driver's data, decoded; kept for the next spec with the same data when the spec says its driver
    only reads it (``share_driver_data``)."""
    key = spec.get("driver_data_key") if spec.get("share_driver_data") else None
    if key is None:
        return plain.decode(spec.get("driver_data"))
    data = _DATA.get(key)
    if data is None:
        data = _DATA[key] = plain.decode(spec.get("driver_data"))
        if len(_DATA) > 256:
            _DATA.popitem(last=False)
    else:
        _DATA.move_to_end(key)
    return data


def run_driver(cache: dict, spec: dict, running) -> dict:  # noqa: ANN001
    src = spec["driver"]
    drive = cache.get(src)
    if drive is None:
        ns: dict = {"__name__": "__evalkit_driver__", "compile_cached": _compile_cached}
        exec(compile(src, "<driver>", "exec", dont_inherit=True), ns)
        drive = ns["drive"]
        if len(cache) > 64:
            cache.clear()
        cache[src] = drive
    data = _data(spec)
    end = time.monotonic() + float(spec.get("driver_timeout_s") or 60.0)
    state = {"calls": 0, "gone": None, "ahead": 0}
    ahead: collections.deque = collections.deque()  # (name, args, kwargs) sent ahead, answers still owed

    def gone(reason: str, timed_out: bool = False) -> SampleGone:
        state["gone"] = reason
        return SampleGone(reason, timed_out=timed_out)

    def line_of(name, args, kwargs) -> bytes:  # noqa: ANN001
        try:
            return plain.line({"f": name, "a": plain.encode(tuple(args)), "k": plain.encode(dict(kwargs or {}))})
        except plain.NotPlain as e:
            raise UnsupportedCall(str(e)) from None

    def send(data_out: bytes, until: float) -> None:
        while data_out:  # non-blocking: a sample that stops reading cannot stall init
            try:
                data_out = data_out[os.write(running.req_fd, data_out):]
            except BlockingIOError:
                if running.pump(min(until, time.monotonic() + 0.01)) == "exit" or time.monotonic() >= until:
                    break
            except OSError:
                break
        if data_out:
            late = time.monotonic() >= until
            raise gone("time limit" if late else "the sample's process stopped reading", late)

    def receive(until: float):  # noqa: ANN202
        how = running.pump(until, want_reply=True)
        if how == "reply":
            try:
                msg = json.loads(running.take_reply().decode())
            except (ValueError, RecursionError):  # invalid UTF-8 too
                msg = None
            if not isinstance(msg, dict):
                raise gone("the sample's process answered with something that is not a value")
            if "e" in msg and isinstance(msg["e"], list):
                _raise_for(msg["e"])
            try:
                return plain.decode(msg.get("r"))
            except (ValueError, TypeError, RecursionError):
                _raise_for(["NotPlain", "the answer is not a plain value"])
        if how == "exit":
            raise gone("the sample's process ended")
        running.wall_hit = running.wall_hit or time.monotonic() >= running.deadline
        raise gone("time limit", True)

    def call(name, args=(), kwargs=None, timeout=None):  # noqa: ANN001
        if state["gone"] is not None:
            raise SampleGone(state["gone"])
        state["calls"] += 1
        until = min(end, time.monotonic() + timeout) if timeout else end
        if ahead:
            n, a, k = ahead[0]
            if n == name and _same(a, tuple(args)) and _same(k, dict(kwargs or {})):
                ahead.popleft()  # the call sent ahead: its answer is the next one
                state["ahead"] += 1
                return receive(until)
            while ahead:  # another call: the answers owed come first, then this call goes as usual
                ahead.popleft()
                try:
                    receive(end)
                except SampleGone:
                    raise
                except BaseException:
                    pass
        send(line_of(name, args, kwargs), until)
        return receive(until)

    def send_ahead(requests) -> None:  # noqa: ANN001
        """Send calls the driver is sure to make, in their order, in one write: the sample's process answers
        them one after the other while the driver waits only for the answer it needs next. A call that is
        not the next one sent ahead drains the answers still owed first (the sample did run those calls)."""
        if state["gone"] is not None or ahead:
            return
        hit = _LINES.get(id(requests))
        if hit is None or hit[0] is not requests:
            keys, lines = [], []
            for n, a, k in requests:  # up to the first call that is not plain values
                c = (str(n), tuple(a), dict(k or {}))
                try:
                    lines.append(line_of(*c))
                except UnsupportedCall:
                    break
                keys.append(c)
            hit = (requests, b"".join(lines), keys)
            if len(_LINES) > 1024:
                _LINES.clear()
            _LINES[id(requests)] = hit
        send(hit[1], end)
        ahead.extend(hit[2])

    call.send_ahead = send_ahead  # type: ignore[attr-defined]
    running.owed = ahead

    os.set_blocking(running.req_fd, False)
    random.seed(0)
    out: dict = {"result": None, "error": None, "calls": 0}
    try:
        result = drive(call, data)
        out["result"] = plain.encode(result)
    except SampleGone as e:
        out["error"] = f"SampleGone: {e.reason}"
        out["timed_out"] = e.timed_out
    except UnsupportedCall as e:
        out["error"] = f"UnsupportedCall: {e}"
    except BaseException as e:  # the test code's verdict (AssertionError, the sample's exception re-raised...)
        if isinstance(e, (KeyboardInterrupt, SystemExit)) and not isinstance(e, SystemExit):
            raise
        try:
            text = str(e)[:500]
        except BaseException:
            text = ""
        out["error"] = f"{type(e).__name__}: {text}" if text else type(e).__name__
        out["sample_raised"] = isinstance(e, SampleRaised) or getattr(e, "_from_sample", False)
    out["calls"] = state["calls"]
    out["calls_sent_ahead"] = state["ahead"]  # answered without a round trip of their own
    return out

