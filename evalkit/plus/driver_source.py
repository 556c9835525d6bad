# ruff: noqa: F821
"""The EvalPlus driver: trusted source run by the sandbox's supervisor, after ``evalkit/evaluators/values.py``'s
text (``is_floats``, ``allclose``, ``digest`` come from there). Never imported as a module; see ``spec.py``.

It mirrors evalplus 0.3.1 ``evalplus/eval/__init__.py`` (``unsafe_execute`` with fast_check, ``untrusted_check``)
and ``_special_oracle.py``: the entry point is called on each base input, then (only if base passed) on each
plus input, through ``call(entry_point, args, timeout=per-input limit)``; the returned plain values are
compared here with expected outputs the sample never sees. ``drive`` returns the facts
``{"base": "pass"|"fail"|"timeout"|"gone", "plus": ...|None, "failed_input": i|None, "why": str}``
("gone": the sample's process ended while its module code ran; the evaluator decides fail or timeout).
"""


def drive(call, data):
    import math
    import time

    ep, dataset = data["entry_point"], data["dataset"]
    t0 = time.monotonic()
    facts = {"base": None, "plus": None, "failed_input": None, "why": ""}
    base = data["checks"][0]
    try:  # the module code runs first; evalplus counts it in the base check's time budget
        call("\x00evalkit-loaded", (), None, base["budget"])
    except BaseException as e:
        name = type(e).__name__
        if name == "SampleGone":
            facts["base"] = "timeout" if e.timed_out else "gone"
            facts["why"] = "the solution does not load: " + e.reason
            return facts
    for check in data["checks"]:
        status, i, why = _check(call, data, check, ep, dataset, t0 if check is base else time.monotonic(), math)
        facts[check["kind"]] = status
        if status != "pass":
            facts["failed_input"], facts["why"] = i, why
            break
    return facts


def _surface_area(base_edge, height):  # Mbpp/581
    import math

    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance_nums(num1, num2):  # Mbpp/558
    s1, s2 = str(num1), str(num2)
    n = max(len(s1), len(s2))
    s1, s2 = s1.zfill(n), s2.zfill(n)
    return sum(abs(int(a) - int(b)) for a, b in zip(s1, s2))


def _poly(xs, x):  # HumanEval/32
    import math

    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


_SET_EQ = ("similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
           "intersection_array", "find_dissimilar", "Diff")
_NOT_NONE = ("check_str", "text_match_three", "text_starta_endb")


class _Object:
    """What a not-plain return value is to the not-None oracle: something that is neither None nor a bool."""


def _short(x, n=40):
    try:
        s = repr(x)
    except BaseException:
        s = "?"
    return s if len(s) <= n else s[: n - 3] + "..."


def _check(call, data, check, ep, dataset, start, math):  # noqa: C901
    """One of evalplus's untrusted_check calls: (status, index of the failing input, why)."""
    import time

    inputs, expected, limits, big = check["inputs"], check["expected"], check["limits"], check["big"]
    deadline = start + check["budget"]
    atol = data["atol"]
    for i, inp in enumerate(inputs):
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout", i, "time budget of the check spent"
        limit = limits[i] + check["carry"].get(i, 0.0)
        try:
            out = call(ep, tuple(inp), None, min(limit, left))
        except BaseException as e:
            name = type(e).__name__
            if name == "SampleGone":
                if e.timed_out and limit < left:
                    return "fail", i, f"time limit {limit:.2f}s"
                return "timeout", i, ("time budget of the check spent" if e.timed_out else e.reason)
            if getattr(e, "type_name", "") == "NotPlain" and dataset == "mbpp" and ep in _NOT_NONE:
                out = _Object()
            else:
                try:
                    msg = str(e)
                except BaseException:
                    msg = ""
                return "fail", i, getattr(e, "type_name", name) + ": " + _short(msg, 60)
        try:
            exp = expected[i]
            floats = is_floats(exp)
            if i in big:
                dig, floats, nan = big[i]
                exact = not nan and digest(out) == dig
                exp = None
            else:
                exact = out == exp
            why = "expected " + _short(exp, 24) + ", got " + _short(out, 24) if exp is not None or i not in big \
                else "got " + _short(out, 24)
            if dataset == "mbpp":
                if ep == "are_equivalent":
                    exact = True
                elif ep == "sum_div":
                    exact = exact or out == 0
                elif ep == "surface_Area":
                    exact = exact or abs(out - _surface_area(*inp)) <= atol
                elif ep == "digit_distance_nums":
                    exact = exact or out == _digit_distance_nums(*inp)
                elif ep in _SET_EQ:
                    exact = set(out) == set(exp)
                elif ep in _NOT_NONE:
                    exact = out == exp if isinstance(out, bool) else exp == (out is not None)
            if dataset == "humaneval" and ep == "find_zero":
                if not abs(_poly(*inp, out)) <= atol:
                    return "fail", i, "|poly(xs, " + _short(out, 24) + ")| > " + repr(atol)
                continue
            if atol == 0 and floats:
                atol = 1e-6  # evalplus: enforce atol for float comparison (and keep it for later inputs)
            if not exact and atol != 0:
                if exp is None and i in big:
                    return "fail", i, why
                if type(out) is not type(exp):
                    return "fail", i, why
                if isinstance(exp, (list, tuple)) and len(out) != len(exp):
                    return "fail", i, why
                if allclose(out, exp, 1e-07, atol) is not True:
                    return "fail", i, why
            elif not exact:
                return "fail", i, why
        except BaseException as e:  # the comparison itself raised (evalplus: a failure)
            return "fail", i, type(e).__name__ + " comparing the output"
    return "pass", None, ""
