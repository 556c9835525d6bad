"""The driver: trusted source from evalkit, run by init beside the serving step (see ``spec.py``).

``drive(call, data)`` gets ``call``, which sends one call to the sample's process and waits for the answer
while init keeps draining the sample's output, and the spec's ``driver_data``, which never leaves init. Only
plain values come back (``plain.loads``: no object of the sample's), a builtin exception class is re-raised as
itself, any other as ``SampleRaised``, a dead or late sample as ``SampleGone``. Standard library only.
"""

import builtins
import hashlib
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


def run_driver(cache: dict, spec: dict, running) -> dict:  # noqa: ANN001
    src = spec["driver"]
    key = hashlib.sha256(src.encode()).hexdigest()
    drive = cache.get(key)
    if drive is None:
        ns: dict = {"__name__": "__evalkit_driver__", "compile_cached": _compile_cached}
        exec(compile(src, "<driver>", "exec", dont_inherit=True), ns)
        drive = ns["drive"]
        cache[key] = drive
    data = plain.decode(spec.get("driver_data"))
    end = time.monotonic() + float(spec.get("driver_timeout_s") or 60.0)
    state = {"calls": 0, "gone": None}

    def call(name, args=(), kwargs=None, timeout=None):  # noqa: ANN001
        if state["gone"] is not None:
            raise SampleGone(state["gone"])
        try:
            line = json.dumps({"f": name, "a": plain.encode(tuple(args)), "k": plain.encode(dict(kwargs or {}))},
                              ensure_ascii=False) + "\n"
        except plain.NotPlain as e:
            raise UnsupportedCall(str(e)) from None
        state["calls"] += 1
        until = min(end, time.monotonic() + timeout) if timeout else end
        data_out = line.encode()
        while data_out:  # non-blocking: a sample that stops reading cannot stall init
            try:
                data_out = data_out[os.write(running.req_fd, data_out):]
            except BlockingIOError:
                if running.pump(min(until, time.monotonic() + 0.01)) == "exit" or time.monotonic() >= until:
                    break
            except OSError:
                break
        if data_out:
            state["gone"] = "the sample's process stopped reading" if time.monotonic() < until else "time limit"
            raise SampleGone(state["gone"], timed_out=time.monotonic() >= until)
        how = running.pump(until, want_reply=True)
        if how == "reply":
            try:
                msg = json.loads(running.take_reply())
            except (ValueError, RecursionError):
                state["gone"] = "the sample's process answered with something that is not a value"
                raise SampleGone(state["gone"]) from None
            if not isinstance(msg, dict):
                state["gone"] = "the sample's process answered with something that is not a value"
                raise SampleGone(state["gone"])
            if "e" in msg and isinstance(msg["e"], list):
                _raise_for(msg["e"])
            try:
                return plain.decode(msg.get("r"))
            except (ValueError, TypeError, RecursionError):
                _raise_for(["NotPlain", "the answer is not a plain value"])
        if how == "exit":
            state["gone"] = "the sample's process ended"
        else:
            state["gone"] = "time limit"
            running.wall_hit = running.wall_hit or time.monotonic() >= running.deadline
            state["timed_out"] = True
        raise SampleGone(state["gone"], timed_out=how == "time")

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
    return out

