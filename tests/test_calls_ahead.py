"""Calls sent ahead (evalkit/evaluators/calls_ahead.py, ``call.send_ahead`` in evalkit/sandbox/drive.py): which
calls a test is sure to make, read from its syntax; and through the real sandbox, that sending them ahead gives
the verdicts of one call at a time, in the same order, stateful samples included."""

from __future__ import annotations

import time

import pytest

from evalkit.evaluators.calls_ahead import MAX_CALLS, calls_ahead
from evalkit.evaluators.runs_to_end import Checks, spec, verdict
from evalkit.sandbox import SandboxConfig, run_one
from evalkit.sandbox.spec import ExecSpec, Step

HE_TEST = '''
METADATA = {'author': 'jt'}


def check(candidate):
    assert candidate('abc' + 'd') == 4
    assert candidate(3 * 19) == 57, "message"
    x = candidate(key=-1)
    assert abs(candidate([1, (2, 3)], {'a': None}) - 1.5) < 1e-6
    for i in range(3):
        assert candidate(i) == i
    assert candidate(99) == 99
'''


def test_a_humaneval_check_is_read_up_to_its_first_loop():
    got = calls_ahead(HE_TEST + "\ncheck(f)\n", "", ("f",))
    assert got == (("f", ("abcd",), {}), ("f", (57,), {}), ("f", (), {"key": -1}),
                   ("f", ([1, (2, 3)], {"a": None}), {}))


@pytest.mark.parametrize("stmt", [
    "assert g(1) == 1 or g(2) == 2",  # short circuit
    "assert 0 < g(1) < 2",  # chained comparison
    "assert g(1) if y else g(2)",
    "assert helper(g(1)) == 1",  # a function of the test's: may call the sample itself
    "assert list(map(g, [1, 2])) == [1, 2]",  # the sample's function as a value
    "assert g(x) == 1",  # not a literal argument
    "assert g({1, 2}) == 1",  # a set: its order differs between processes
    "assert g(*[1]) == 1",
    "assert g(1) == 1, g(2)",  # the message runs only on failure
    "try:\n    g(1)\nexcept ValueError:\n    pass",
    "assert g('a' * 10 ** 100) == 1",  # not evaluated here
    "assert [g(i) for i in (1, 2)] == [1, 2]",
    "assert {**{}, 1: g(1)} == {1: 1}",  # a dict unpacked: evaluation order not read
])
def test_reading_stops_where_the_calls_are_not_sure(stmt):
    test = f"def helper(v):\n    return v\n\nassert g(0) == 0\n{stmt}\nassert g(5) == 5\n"
    assert calls_ahead(test, "", ("g",)) == (("g", (0,), {}),)


def test_a_shadowed_builtin_or_a_rebound_sample_name_stops_the_reading():
    assert calls_ahead("assert g(0) == 0\nassert abs(g(1)) == 1\n", "def abs(v):\n    return g(v)\n", ("g",)) \
        == (("g", (0,), {}),)
    test = "def check(c):\n    assert c(1) == 1\n    c = 3\n    assert c == 3\n\ncheck(g)\n"
    assert calls_ahead(test, "", ("g",)) == ()


def test_mbpp_style_asserts_and_the_caps():
    test = "\n".join(f"assert add({i}, {i}) == {2 * i}" for i in range(MAX_CALLS + 10))
    got = calls_ahead(test, "", ("add",))
    assert len(got) == MAX_CALLS and got[3] == ("add", (3, 3), {})
    assert calls_ahead("assert f('" + "x" * 20000 + "') == 1\n", "", ("f",)) == ()
    assert calls_ahead("this is not python", "", ("f",)) == ()


def _run(source: str, test: str, cpu_s: float = 2.0):
    s = spec(Checks(source=source, test=test, names=("f",)), cpu_s)
    t0 = time.monotonic()
    facts = run_one(s, SandboxConfig(timeout=cpu_s))
    return verdict(facts), facts, time.monotonic() - t0, s


STATEFUL = "n = []\ndef f(x):\n    n.append(x)\n    return len(n) * 10 + x\n"


def test_sent_ahead_calls_give_the_answers_of_one_call_at_a_time():
    test = "assert f(1) == 11\nassert f(2) == 22\nassert f(3) == 33\nassert f(4) == 44\n"
    v, facts, _, s = _run(STATEFUL, test)
    assert s.driver_data["speculate"] is True
    assert v.outcome == "passed", v
    assert facts.driver["calls"] == 4
    # a stateful sample whose third answer is wrong fails at the third assert, as one call at a time would
    v, facts, _, _ = _run(STATEFUL, "assert f(1) == 11\nassert f(2) == 22\nassert f(3) == 3\nassert f(4) == 44\n")
    assert v.outcome == "failed" and facts.driver["calls"] == 3


def test_a_call_that_is_not_the_one_sent_ahead_waits_for_the_answers_owed():
    # the test's second call is not the one sent ahead: the sample ran f(7) and f(8) (sent ahead), then f(9)
    driver_test = "assert f(7) == 17\nassert f(9) == 39\n"
    s = ExecSpec(steps=(Step(python=STATEFUL, name="run", cpu_s=2, serve=True),),
                 driver=spec(Checks(source="", test="", names=("f",)), 2).driver,
                 driver_data={"setup": "", "test": driver_test, "names": ["f"],
                              "ahead": [["f", [7], {}], ["f", [8], {}]]})
    facts = run_one(s, SandboxConfig(timeout=2))
    assert facts.driver["error"] is None, facts.driver


def test_a_failure_before_a_hanging_call_sent_ahead_is_a_failure_without_waiting():
    source = "def f(x):\n    while x == 3:\n        pass\n    return x\n"
    v, facts, dt, s = _run(source, "assert f(1) == 1\nassert f(2) == 0\nassert f(3) == 3\n", cpu_s=3)
    assert s.driver_data["speculate"] is True
    assert v.outcome == "failed", v
    assert dt < 2.0, dt  # the sample busy with the call sent ahead is killed at once, not waited for
    v, _, _, _ = _run(source, "assert f(1) == 1\nassert f(3) == 3\n", cpu_s=1)
    assert v.outcome == "timeout", v


def test_a_sample_that_dies_in_a_call_sent_ahead_is_judged_as_one_call_at_a_time():
    source = "import os\ndef f(x):\n    if x == 2:\n        os._exit(0)\n    return x\n"
    v, facts, _, _ = _run(source, "assert f(1) == 1\nassert f(2) == 2\nassert f(3) == 3\n")
    assert v.outcome == "error" and facts.driver["calls"] == 2, (v, facts.driver)
    v, _, _, _ = _run(source, "assert f(1) == 0\nassert f(2) == 2\n")
    assert v.outcome == "failed", v


LOOP = '''
import random


def check(candidate):
    assert candidate(0) == 0
    for _ in range(40):
        x = random.randint(0, 10 ** 9)
        assert candidate(x) == 2 * x
    assert candidate(-1) == -2


check(f)
'''


@pytest.mark.parametrize("test,setup,expected", [
    (LOOP, "", True),
    ("for i in range(3):\n    assert f(i) == i\n", "", True),
    ("assert abs(f(1) - 2) < 1e-6\n", "", False),  # the answer feeds more than the assert
    ("x = f(1)\nassert x == 2\n", "", False),
    ("assert f(1) == 2\nif f(2) == 4:\n    pass\n", "", False),
    ("assert f(f(1)) == 2\n", "", False),
    ("assert list(map(f, [1])) == [2]\n", "", False),
    ("assert globals()['f'](1) == 2\n", "", False),
    ("assert helper(1) == 2\n", "def helper(v):\n    return f(v)\n", False),  # the setup reaches the sample
    ("assert f(1) == 2\n", "def f(v):\n    return 2 * v if v < 2 else f(v - 1)\n", True),  # its own recursion
    ("def check(c):\n    for i in range(3):\n        assert c(i) == 2 * i\n\ncheck(f)\n", "", True),
    ("def check(c):\n    g = c\n    assert g(1) == 2\n\ncheck(f)\n", "", False),
])
def test_which_tests_a_run_with_passing_asserts_can_find_the_calls_of(test, setup, expected):
    from evalkit.evaluators.calls_ahead import speculable

    assert speculable(test, setup, ("f",)) is expected


def test_a_loop_of_random_inputs_is_sent_ahead_whole_and_judged_as_one_call_at_a_time():
    good = "def f(x):\n    return 2 * x\n"
    v, facts, _, s = _run(good, LOOP)
    assert s.driver_data["speculate"] is True
    assert v.outcome == "passed", v
    assert facts.driver["calls"] == 42 and facts.driver["calls_sent_ahead"] == 42, facts.driver
    # wrong from the 11th call on (counted in the sample's process): fails there, as one at a time would
    bad = "n = [0]\ndef f(x):\n    n[0] += 1\n    return 2 * x if n[0] <= 10 else x\n"
    v, facts, _, _ = _run(bad, LOOP)
    assert v.outcome == "failed" and facts.driver["calls"] == 11, (v, facts.driver)
    # the same through the static reading only (speculation off): the same verdict
    from evalkit.evaluators.runs_to_end import DRIVER

    spec_static = ExecSpec(steps=(Step(python=bad, name="run", cpu_s=2, serve=True),), driver=DRIVER,
                           driver_data={"setup": "", "test": LOOP, "names": ["f"], "ahead": []})
    facts2 = run_one(spec_static, SandboxConfig(timeout=2))
    assert facts2.driver["calls"] == 11 and facts2.driver["calls_sent_ahead"] == 0
    assert verdict(facts2).outcome == "failed"
