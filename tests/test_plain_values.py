"""The values that cross the sandbox's wall (evalkit.sandbox.plain): only plain values are built on the judging
side, whatever the sample sends."""

from __future__ import annotations

import collections
import enum
import json
import math

import pytest

from evalkit.sandbox import plain


@pytest.mark.parametrize("value", [
    None, True, False, 0, -3, 10**40, 1.5, -0.0, "", "héllo\n", b"\x00\xff", [1, [2, (3, 4)]], (1,), (),
    {"a": 1, 2: [3], (1, 2): {"x"}}, {1, 2}, frozenset({"a"}), 1 + 2j, [[[]]],
])
def test_round_trip(value):
    back = plain.loads(plain.dumps(value))
    assert back == value and type(back) is type(value)


def test_non_finite_floats_round_trip():
    assert math.isnan(plain.loads(plain.dumps(float("nan"))))
    assert plain.loads(plain.dumps([float("inf"), float("-inf")])) == [float("inf"), float("-inf")]


def test_an_always_equal_object_is_refused():
    class E:
        def __eq__(self, other):
            return True

    with pytest.raises(plain.NotPlain):
        plain.encode(E())
    with pytest.raises(plain.NotPlain):
        plain.encode([1, lambda: 0])


def test_subclasses_become_the_value_they_hold_without_their_methods():
    class EqInt(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    class Color(enum.IntEnum):
        RED = 3

    Point = collections.namedtuple("Point", "x y")
    for value, want in [(EqInt(1), 1), (Color.RED, 3), (Point(1, 2), (1, 2)),
                        (collections.Counter("aab"), {"a": 2, "b": 1}), (collections.OrderedDict(a=1), {"a": 1})]:
        back = plain.loads(plain.dumps(value))
        assert back == want and type(back) is type(want)
    assert plain.loads(plain.dumps(EqInt(1))) != 2


def test_lazy_iterables_iterate_but_are_not_equal_to_lists():
    back = plain.loads(plain.dumps(x * 2 for x in range(3)))
    assert tuple(back) == (0, 2, 4)
    assert back != [0, 2, 4]
    assert list(plain.loads(plain.dumps(range(2)))) == [0, 1]


@pytest.mark.parametrize("text", [
    "[" * 20000 + "]" * 20000,  # deep nesting: never a RecursionError
    json.dumps({"~": "d", "v": [[[1], 2]]}),  # an unhashable key
    json.dumps({"~": "zz", "v": 1}),
    json.dumps({"a": 1}),  # a bare object is not an encoded value
    json.dumps({"~": "c", "v": [1, 2]}),  # complex parts must be floats
    "not json",
])
def test_malformed_input_is_a_value_error(text):
    with pytest.raises(ValueError):
        plain.loads(text)


def test_too_deep_values_are_refused_both_ways():
    v: list = []
    for _ in range(plain.MAX_DEPTH + 5):
        v = [v]
    with pytest.raises(plain.NotPlain):
        plain.encode(v)
