"""Each comparison rule of hendrycks/apps testing_util.py, pinned to what the reference code returns for it."""

from __future__ import annotations

import pytest

from evalkit.apps.rules import call_result, prepare, stdin_result


@pytest.mark.parametrize("lines,expected,ok", [
    (["3"], "3\n", True),                      # custom_compare_: joined and stripped
    (["  3  "], "3", True),                    # lines stripped
    (["1 2 ", "3"], "1 2\n3\n", True),         # trailing spaces of a line
    (["", "3", ""], "3", True),                # blank lines around the whole output
    (["1", "", "2"], "1\n2", True),            # blank lines inside: dropped before the line comparison
    (["1", "2"], ["1", "2"], True),            # a list of expected lines is joined with newlines first
    (["2.5"], "2.5000000", True),              # numeric lines: numpy.allclose (rtol 1e-5, atol 1e-8)
    (["2.50002"], "2.5", True),
    (["2.5001"], "2.5", True),                 # not allclose, but equal rounded to 3 decimals (token sets)
    (["2.51"], "2.5", False),
    (["1e-9"], "0", True),                     # atol
    (["inf"], "inf", True), (["nan"], "NaN", False),
    (["3 1 2"], "1 2 3", True),                # a line as the set of its tokens
    (["1 1 2"], "2 1", True),                  # sets: repeated tokens do not count
    (["b", "a"], "a\nb", True),                # the set of the lines' token sets: line order does not count
    (["1.0001 2"], "1.0 2", True),             # token sets rounded to 3 decimals
    (["1.001 2"], "1.0 2", False),
    (["1 2 3"], "1\n2\n3", False),             # one line is not three
    ([], "", True), ([], "0", False),
    (["YES"], "yes", False),                   # case matters
])
def test_stdin_rules(lines, expected, ok):
    assert stdin_result(lines, expected) is ok


@pytest.mark.parametrize("output,expected,ok", [
    (3, [3], True),                            # APPS wraps the expected value in a list
    ([1, 2], [[1, 2]], True),
    ([1, 2], [1, 2], True),
    ((1, 2), [1, 2], True),                    # a returned tuple is a list
    ([(1, 2)], [[[1, 2]]], True),              # a list of tuples against the wrapped lists
    ([(1, 2)], [[1, 2]], False),
    (3.0, [3], True), ("3", [3], False),       # == semantics: no tolerance, no conversion
    (0.1 + 0.2, [0.3], False),
    (None, [None], True), (None, [], False),
    ({1: 2}, [{1: 2}], True),
])
def test_call_rules(output, expected, ok):
    assert call_result(output, expected) is ok


def test_string_keys_become_ints():
    """JSON forces string keys: testing_util converts the first input's and the expected dict's keys."""
    assert prepare([{"1": "a"}], {"2": 3}) == ([{1: "a"}], [{2: 3}])
    assert prepare([{"1": "a"}], [{"2": 3}]) == ([{1: "a"}], [{2: 3}])
    assert prepare([{"x": 1}], [{"y": 2}]) == ([{"x": 1}], [{"y": 2}])  # not every key converts: unchanged
    assert prepare("1 2\n", "3\n") == ("1 2\n", "3\n")
