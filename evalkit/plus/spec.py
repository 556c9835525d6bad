"""What the sandbox runs for one EvalPlus sample, and the verdict from what it reports.

The spec: one Python step whose source is the sample's solution (compiled with plain Python semantics by the
sandbox), serving calls; the driver (``driver_source.py`` after ``evalkit/evaluators/values.py``) runs in the
sandbox's supervisor and calls the entry point on every base input, then every plus input, comparing the plain
values that come back with the expected outputs of the oracle cache (``oracle.py``), passed as ``driver_data``:
never shown to the sample, never mounted. An expected output larger than the oracle's ``BIG_BYTES`` travels as
its :func:`evalkit.evaluators.values.digest` (equal iff ``==`` holds), so a sample's spec stays small.

Per-input limits are evalplus's ``max(min_time_limit, factor * canonical time)``; each check (base, plus) has
evalplus's budget ``min(cap, sum of limits)`` (never less than twice the canonical solution's own total) + 2 s.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from evalkit.evaluators import Verdict
from evalkit.sandbox.spec import ExecSpec, Facts, Step

# evalplus's per-input time limit: max(MIN_TIME_LIMIT, GT_TIME_LIMIT_FACTOR * canonical time). evalplus 0.3.1
# ships 1.0 s as the minimum (evalplus/config.py); its later releases and the leaderboard's protocol use 4.0 s,
# which is also what keeps a loaded machine from failing correct code. Override with EvalPlusTask(min_time_limit=).
MIN_TIME_LIMIT = 4.0
GT_TIME_LIMIT_FACTOR = 4.0
# evalplus/eval/__init__.py untrusted_check: EVALPLUS_TIMEOUT_PER_TASK, the cap on one check's whole time budget
TIMEOUT_PER_CHECK = 60.0
# extra seconds per MB of a large expected output (HumanEval/130's 11 MB lists) on top of evalplus's limit
CARRY_S_PER_MB = 1.0


@lru_cache(maxsize=1)
def driver_source() -> str:
    from evalkit.evaluators import values

    return values.source() + "\n\n" + Path(__file__).with_name("driver_source.py").read_text(encoding="utf-8")


def driver_data(oracle: dict, side: dict | None, min_time_limit: float = MIN_TIME_LIMIT,
                factor: float = GT_TIME_LIMIT_FACTOR, cap: float = TIMEOUT_PER_CHECK) -> dict:
    """The driver's data of one problem from its oracle file (and side file of large expected outputs)."""
    import pickle

    from evalkit.evaluators.values import digest, has_nan, is_floats

    checks = []
    for kind in ("base", "plus"):
        times = oracle[kind + "_time"]
        limits = [max(min_time_limit, factor * t) for t in times]
        big, carry = {}, {}
        expected = list(oracle[kind + "_expected"])
        for i in (oracle.get(kind + "_big") or {}):
            v = (side or {})[kind][i]
            big[i] = [digest(v), is_floats(v), has_nan(v)]
            # carrying a large value across the wall (encode, pipe, decode) is not the sample's time
            carry[i] = round(CARRY_S_PER_MB * len(pickle.dumps(v)) / 1e6, 2)
        for i, v in enumerate(expected):  # JSON (the spec's hash, the pipe) refuses ints over 4300 digits
            if i not in big and _huge_int(v):
                big[i] = [digest(v), is_floats(v), has_nan(v)]
                expected[i] = None
        checks.append({"kind": kind, "inputs": oracle[kind + "_input"], "expected": expected,
                       "limits": limits, "big": big,
                       "carry": carry, "budget": max(min(cap, sum(limits)), 2 * sum(times)) + 2.0
                       + sum(carry.values())})
    return {"dataset": oracle["dataset"], "entry_point": oracle["entry_point"], "atol": oracle["atol"],
            "checks": checks}


def _huge_int(v: object, depth: int = 0) -> bool:
    if type(v) is int:
        return v.bit_length() > 14_000  # ~4200 decimal digits: under Python's int-to-str limit
    if depth < 100 and isinstance(v, (list, tuple, set, frozenset)):
        return any(_huge_int(x, depth + 1) for x in v)
    if depth < 100 and isinstance(v, dict):
        return any(_huge_int(k, depth + 1) or _huge_int(x, depth + 1) for k, x in v.items())
    return False


def spec(solution: str, data: dict, cpu_s: float) -> ExecSpec:
    budget = sum(c["budget"] for c in data["checks"])
    wall = budget + 10.0
    return ExecSpec(steps=(Step(python=solution, name="solution", cpu_s=cpu_s, wall_s=wall, serve=True),),
                    driver=driver_source(), driver_data=data, driver_timeout_s=wall)


def facts_of(facts: Facts | None) -> dict:
    """The driver's facts ({"base", "plus", "failed_input", "why"}) of a sample, decided from the sandbox's."""
    from evalkit.sandbox import plain

    st = facts.steps[0] if facts is not None and facts.steps else None
    d = facts.driver if facts is not None else None
    if d is None:  # did not compile, or did not get to serve: evalplus's exec raises, a failure
        why = st.exception if st is not None and st.exception else "it never served a call"
        return {"base": "fail", "plus": None, "failed_input": None, "why": "the solution does not load: " + why}
    if d.get("error") is not None:  # the driver itself ran out of time
        return {"base": "timeout", "plus": None, "failed_input": None, "why": str(d["error"])[:200]}
    r = plain.decode(d["result"])
    if r["base"] == "gone":  # ended in its module code: an exception (a failure) or a hard exit (a timeout)
        exc = st.exception if st is not None else None
        r["base"] = "fail" if exc and not exc.startswith("MemoryError") else "timeout"
        r["why"] = "the solution does not load: " + (exc or r["why"])
    return r


def verdict(facts: Facts | None, inputs: dict[str, list]) -> Verdict:
    """``passed`` iff base and plus pass; otherwise ``failed`` with evalplus's statuses in the detail:
    ``base: pass; plus: fail: input #i/n f(args): why``. Scores: ``pass`` (plus) and ``base``."""
    if facts is not None and facts.sandbox_error:
        return Verdict("sandbox_error", facts.sandbox_error, {"pass": 0.0, "base": 0.0})
    r = facts_of(facts)
    base, plus = r["base"], r["plus"]
    scores = {"pass": float(base == plus == "pass"), "base": float(base == "pass")}
    if scores["pass"]:
        return Verdict("passed", "", scores)
    kind = "base" if base != "pass" else "plus"
    status = base if kind == "base" else plus
    i, n = r.get("failed_input"), len(inputs[kind])
    where = ""
    if i is not None and i < n:
        where = f"input #{i}/{n} {inputs['entry_point']}({_short(inputs[kind][i])[1:-1]}): "
    head = "AssertionError: " + ("base: pass; " if kind == "plus" else "")
    return Verdict("failed", f"{head}{kind}: {status}: {where}{r.get('why') or ''}"[:600], scores)


def _short(x: object, n: int = 40) -> str:
    s = repr(x)
    return s if len(s) <= n else s[: n - 3] + "..."
