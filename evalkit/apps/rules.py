"""APPS's comparison rules: what ``hendrycks/apps`` ``eval/testing_util.py`` (``run_test``) accepts as a passed
test, step by step in its order, re-written here (standard library only: this module's source is also the
first half of the sandbox driver, ``evalkit/apps/judge.py``, which runs it in the supervisor).

A test's result is ``True`` (passed), ``False`` (wrong output), ``-1`` (runtime error or time limit) or ``-2``
(compile error: the whole sample); a problem passes iff every result is ``True`` (APPS's strict accuracy,
``np.all(results > 0)``).
"""

import math

RTOL, ATOL = 1e-05, 1e-08  # numpy.allclose's defaults


def int_keys(value, wrap):
    """JSON forces string keys: ``{int(k): v}`` when every key converts (else unchanged), wrapped in a list
    where testing_util wraps it."""
    try:
        d = {int(k): v for k, v in value.items()}
    except Exception:
        return None
    return [d] if wrap else d


def prepare(inputs, expected):
    """testing_util's key conversions of one test's inputs and expected output (before running it)."""
    try:
        if isinstance(inputs[0], dict):
            conv = int_keys(inputs[0], False)
            if conv is not None:
                inputs = [conv]
    except Exception:
        pass
    if isinstance(expected, dict):
        conv = int_keys(expected, True)
        if conv is not None:
            expected = conv
    try:
        if isinstance(expected[0], dict):
            conv = int_keys(expected[0], True)
            if conv is not None:
                expected = conv
    except Exception:
        pass
    return inputs, expected


def call_result(output, expected):
    """A call-based test (the function's return value against the expected value)."""
    if isinstance(output, tuple):
        output = list(output)
    ok = output == expected
    if isinstance(expected, list) and expected:
        ok = ok or (output == expected[0])
    try:
        if isinstance(output[0], tuple):
            ok = ok or ([list(x) for x in output] == expected[0])
    except Exception:
        pass
    return bool(ok)


def _strip_eq(a, b):
    return a.strip() == b.strip()


def _allclose(xs, ys):
    """numpy.allclose on two lists of floats of equal length (|x - y| <= atol + rtol * |y|; infinities equal
    only to themselves; NaN never)."""
    for x, y in zip(xs, ys):
        if math.isinf(x) or math.isinf(y):
            if x != y:
                return False
        elif not abs(x - y) <= ATOL + RTOL * abs(y):
            return False
    return True


def stdin_result(lines, expected):  # noqa: C901 (one rule after another, as testing_util has them)
    """A standard-input test: ``lines`` is the captured stdout split as ``str.splitlines()`` does; ``expected``
    the test's output (a list of strings is joined with newlines first)."""
    gt = "\n".join(expected) if isinstance(expected, list) else expected
    output = list(lines)
    # custom_compare_: the lines joined, then the lines stripped and joined, against the expected, all stripped
    if _strip_eq("\n".join(output), gt) or _strip_eq("\n".join(o.strip() for o in output), gt):
        return True
    ok = output == [gt]
    if isinstance(gt, list):
        ok = ok or output == gt
        if output and isinstance(output[0], str):
            ok = ok or [e.strip() for e in output] == gt
    if ok:
        return True
    # the expected output as its non-empty lines (filtered before stripping), each stripped
    gt = [x.strip() for x in gt.split("\n") if x]
    if output == [gt] or output == gt:
        return True
    output = [o for o in output if o]
    ok = output == [gt] or output == gt
    try:
        xs, ys = [float(e) for e in output], [float(e) for e in gt]
        ok = ok or (len(xs) == len(ys) and _allclose(xs, ys))
    except Exception:
        pass
    if ok:
        return True
    # every line as the set of its whitespace-separated tokens; then the set of those sets
    gt = [set(x.split()) for x in gt]
    if output == gt:
        return True
    output = [set(t) for t in (o.split() for o in output) if t]
    ok = False
    try:
        ok = {frozenset(s) for s in output} == {frozenset(s) for s in gt}
    except Exception:
        pass
    try:
        ok = ok or ({frozenset(round(float(t), 3) for t in s) for s in output}
                    == {frozenset(round(float(t), 3) for t in s) for s in gt})
    except Exception:
        pass
    return bool(ok)
