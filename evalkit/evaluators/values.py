"""The "values" rule: the sample only computes outputs; evalkit compares them with expected values it never
shows to the sample. Helpers shared by the drivers of the families that judge this way (EvalPlus, APPS
call-based), on plain values only (``evalkit.sandbox.plain``): no object of the sample's ever reaches them.

This file is standard library only and self-contained (no import of evalkit): a driver is trusted *source* run
by the sandbox's supervisor, which no longer sees evalkit's files, so a driver's source is this file's text
followed by its own (:func:`source`).

* :func:`is_floats` -- evalplus 0.3.1 ``eval.is_floats`` (numpy arrays never cross the wall);
* :func:`allclose`  -- ``np.allclose(out, exp, rtol, atol)`` on plain values, numpy's semantics (broadcasting of
  nested sequences, bools and ints as numbers, ``inf`` equal only to itself, ``nan`` never close), ``None`` where
  numpy raises (strings, None, ragged or non-broadcastable shapes): evalplus counts that as a failure;
* :func:`digest`    -- a hash that is equal for two plain values iff ``==`` holds between them (no ``nan``
  inside): large expected outputs travel as their digest, not as megabytes per sample.
"""

import hashlib
import math


def is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


class _NotNumeric(Exception):
    pass


def _shape(x, depth=0):
    """numpy's array shape of a plain value (sequences are axes), or raise _NotNumeric."""
    if depth > 64:
        raise _NotNumeric()
    t = type(x)
    if t in (list, tuple):
        if not x:
            return (0,)
        shapes = {_shape(e, depth + 1) for e in x}
        if len(shapes) != 1:
            raise _NotNumeric()  # ragged: numpy refuses it
        return (len(x),) + shapes.pop()
    if t in (bool, int, float, complex):
        if t is int and not -(1 << 63) <= x < 1 << 64:
            raise _NotNumeric()  # an object array in numpy: left to the caller's exactness
        return ()
    raise _NotNumeric()


def _flat(x, out):
    if type(x) in (list, tuple):
        for e in x:
            _flat(e, out)
    else:
        out.append(x)
    return out


def _broadcast(a, sa, sb):
    """The flat elements of ``a`` (shape ``sa``) broadcast to the shape ``sb`` (same length)."""
    flat = _flat(a, [])
    if sa == sb:
        return flat
    out = []
    strides = []
    acc = 1
    for d in reversed(sa):
        strides.append(acc)
        acc *= d
    strides.reverse()
    idx = [0] * len(sb)
    total = 1
    for d in sb:
        total *= d
    for _ in range(total):
        off = sum((0 if sa[k] == 1 else idx[k]) * strides[k] for k in range(len(sb)))
        out.append(flat[off])
        for k in range(len(sb) - 1, -1, -1):
            idx[k] += 1
            if idx[k] < sb[k]:
                break
            idx[k] = 0
    return out


def _close(a, b, rtol, atol):
    if isinstance(a, complex) or isinstance(b, complex):
        a, b = complex(a), complex(b)
        fin = all(map(math.isfinite, (a.real, a.imag, b.real, b.imag)))
    else:
        a, b = float(a), float(b)
        fin = math.isfinite(a) and math.isfinite(b)
    if fin:
        return abs(a - b) <= atol + rtol * abs(b)
    if a != a or b != b:
        return False
    return a == b


def allclose(out, exp, rtol=1e-07, atol=1e-08):
    """``np.allclose(out, exp, rtol, atol)`` for plain values: True, False, or None where numpy raises."""
    try:
        sa, sb = _shape(out), _shape(exp)
    except (_NotNumeric, RecursionError):
        return None
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    shape = []
    for x, y in zip(sa, sb):
        if x != y and 1 not in (x, y):
            return None  # not broadcastable
        shape.append(y if x == 1 else x)
    shape = tuple(shape)
    xs = _broadcast(out, sa, shape) if n else [out]
    ys = _broadcast(exp, sb, shape) if n else [exp]
    try:
        return all(_close(a, b, rtol, atol) for a, b in zip(xs, ys))
    except OverflowError:
        return None


def _canon(x, h, depth=0):  # noqa: C901
    if depth > 500:
        raise ValueError("nested too deeply")
    t = type(x)
    if x is None:
        h.update(b"N")
    elif t is str:
        b = x.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(b) + b)
    elif t is bytes:
        h.update(b"b%d:" % len(x) + x)
    elif t in (bool, int):
        h.update(b"i%x;" % int(x))
    elif t is float:
        if x.is_integer():
            h.update(b"i%x;" % int(x))
        else:
            h.update(b"f" + float.hex(x).encode() + b";")
    elif t is complex:
        if x.imag == 0:
            _canon(x.real, h, depth)
        else:
            h.update(b"c")
            _canon(x.real, h, depth + 1)
            _canon(x.imag, h, depth + 1)
    elif t in (list, tuple):
        h.update(b"L%d[" % len(x) if t is list else b"T%d[" % len(x))
        for e in x:
            _canon(e, h, depth + 1)
    elif t in (set, frozenset):
        parts = sorted(digest(e) for e in x)
        h.update(b"S%d[" % len(parts) + "".join(parts).encode())
    elif t is dict:
        parts = sorted(digest(k) + digest(v) for k, v in x.items())
        h.update(b"D%d[" % len(parts) + "".join(parts).encode())
    else:
        raise ValueError("not a plain value")


def digest(x):
    """sha256 of a canonical form: ``digest(a) == digest(b)`` iff ``a == b`` (plain values, no nan)."""
    h = hashlib.sha256()
    _canon(x, h)
    return h.hexdigest()


def has_nan(x, depth=0):
    t = type(x)
    if t is float:
        return x != x
    if t is complex:
        return x != x
    if t in (list, tuple, set, frozenset) and depth < 500:
        return any(has_nan(e, depth + 1) for e in x)
    if t is dict and depth < 500:
        return any(has_nan(k, depth + 1) or has_nan(v, depth + 1) for k, v in x.items())
    return False


def source():
    """This module's text, for a driver's source to start with."""
    with open(__file__, encoding="utf-8") as f:
        return f.read()
