"""APPS judged in the sandbox: one serving step (the sample's module, ``program.py``) and a trusted driver that
calls it once per test with a 4 s limit and compares with ``testing_util``'s rules (``rules.py``) in the
supervisor. Expected outputs stay in the driver's data: the sample never sees them, and its values reach the
comparison only as plain values.

The driver stops at the first test that does not pass (a problem passes iff every test passes, so the verdict is
the same as running them all) and returns ``{"results": [...], "detail": str, "timed_out": bool}`` with
testing_util's codes: ``True``, ``False``, ``-1`` (runtime error or time limit), ``-2`` (compile error).
"""

from __future__ import annotations

import inspect
from typing import Any

from evalkit.apps import rules
from evalkit.evaluators import Verdict
from evalkit.sandbox import plain
from evalkit.sandbox.spec import ExecSpec, Facts, Step

TEST_TIMEOUT_S = 4.0  # testing_util's `timeout`, per test (and for building the module)

DRIVE = r'''

def _gone(e):
    return type(e).__name__ == "SampleGone"


def drive(call, data):
    limit = data["timeout"]
    try:
        err = call("apps_load", (), None, limit)
    except BaseException as e:
        if not _gone(e):
            raise
        return {"results": [-2], "detail": "building the module: " + e.reason, "timed_out": e.timed_out}
    if err is not None:
        return {"results": [-2], "detail": err, "timed_out": False}
    results = []
    for i, (inputs, expected) in enumerate(data["tests"]):
        inputs, expected = prepare(inputs, expected)
        try:
            if data["mode"] == "call":
                ok = call_result(call("apps_call", (inputs,), None, limit), expected)
            else:
                text = "\n".join(inputs) if isinstance(inputs, list) else inputs
                ended, lines, err = call("apps_stdin", (text,), None, limit)
                if not ended:
                    results.append(-1)
                    return {"results": results, "detail": f"test {i}: {err}", "timed_out": False}
                ok = stdin_result(lines, expected)
        except BaseException as e:
            results.append(-1)
            if _gone(e):
                return {"results": results, "detail": f"test {i}: {e.reason}", "timed_out": e.timed_out}
            return {"results": results, "detail": f"test {i}: {type(e).__name__}: {e}"[:300], "timed_out": False}
        results.append(ok)
        if ok is not True:
            return {"results": results, "detail": f"test {i}: wrong output", "timed_out": False}
    return {"results": results, "detail": "", "timed_out": False}
'''


def driver_source() -> str:
    return inspect.getsource(rules) + DRIVE


def spec(serving: str, fn_name: str | None, tests: list[tuple[Any, Any]], timeout: float = TEST_TIMEOUT_S) -> ExecSpec:
    """One sample's spec: ``serving`` from ``program.serving_source``, ``tests`` as (inputs, expected output)."""
    budget = timeout * (len(tests) + 1) + 2  # every test may take its whole limit
    return ExecSpec(
        steps=(Step(python=serving, name="run", cpu_s=budget, wall_s=budget + 5, serve=True),),
        driver=driver_source(),
        driver_data={"mode": "call" if fn_name else "stdin", "timeout": timeout,
                     "tests": [[i, o] for i, o in tests]},
        driver_timeout_s=budget + 5,
    )


def verdict(facts: Facts) -> Verdict:
    """passed iff every test passed; else the first failing test's kind, with ``scores = {"pass": 0 or 1}``."""
    v = _verdict(facts)
    v.scores = {"pass": 1.0 if v.outcome == "passed" else 0.0}
    return v


def _verdict(facts: Facts) -> Verdict:
    if facts.sandbox_error:
        return Verdict("sandbox_error", facts.sandbox_error)
    d = facts.driver
    st = facts.steps[0] if facts.steps else None
    if d is None:
        return Verdict("sandbox_error", "the serving step ended before the driver ran"
                       + (f" ({st.exception})" if st is not None and st.exception else ""))
    if d.get("error"):
        return Verdict("sandbox_error", f"driver: {d['error']}"[:300])
    try:
        res = plain.decode(d.get("result")) or {}
    except (ValueError, TypeError):
        return Verdict("sandbox_error", "the driver's result is not a plain value")
    results, detail = res.get("results") or [], res.get("detail", "")
    if results and all(r is True for r in results):
        return Verdict("passed")
    last = results[-1] if results else -1
    if last == -2:
        return Verdict("timeout" if res.get("timed_out") else "compile_error", detail)
    if last == -1:
        if res.get("timed_out"):
            return Verdict("timeout", detail)
        if "MemoryError" in detail or (st is not None and st.limit is None and st.signal == "SIGKILL"
                                       and "memory" in (st.stderr or "").lower()):
            return Verdict("memory", detail)
        return Verdict("crashed" if st is not None and st.signal else "error", detail)
    return Verdict("failed", detail)
