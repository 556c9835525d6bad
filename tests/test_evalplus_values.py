"""EvalPlus judged by values (issue 18): the sample only serves calls; evalkit's driver compares plain values.

Through the real sandbox (``run_one``): an always-equal object fails HumanEval+ and MBPP+ (evalplus accepts it);
a solution that forgets ``from typing import List`` fails as in evalplus and plain ``python``; the expected outputs
are never in what the sample runs. The value helpers against numpy's own ``allclose``.
"""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import FIXTURES

from evalkit.evaluators.values import allclose, digest, has_nan, is_floats


def _task(name: str, tmp_path, monkeypatch):
    from evalkit.registry import get_task

    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    return get_task(name, data_dir=str(FIXTURES))


def _judge(task, problem, code: dict):
    from evalkit.sandbox import run_one

    spec = task.execution(problem, code)
    return task.judge(problem, code, run_one(spec)), spec


ALWAYS_EQUAL = """
class AlwaysEqual{base}:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__

def {ep}(*args, **kwargs):
    return AlwaysEqual()
"""


@pytest.mark.parametrize("name", ["humaneval-plus", "mbpp-plus"])
@pytest.mark.parametrize("base", ["", "(list)", "(float)", "(str)"])
def test_an_always_equal_object_fails(name, base, tmp_path, monkeypatch):
    task = _task(name, tmp_path, monkeypatch)
    p = task.problems()[0]
    sol = ALWAYS_EQUAL.format(base=base, ep=p.entry_point)
    v, spec = _judge(task, p, {"solution": sol})
    assert v.outcome == "failed" and v.scores == {"pass": 0.0, "base": 0.0}, v
    assert v.detail.startswith("AssertionError: base: fail: input #0/")
    # what the sample runs is its own solution: no expected output in it, no oracle file shown to it
    assert spec.steps[0].python == sol and task.sandbox_paths() == ()
    assert spec.driver_data["checks"][0]["expected"]  # the expected outputs stay with the driver


def test_canonical_passes_and_forgetting_the_typing_import_fails(tmp_path, monkeypatch):
    task = _task("humaneval-plus", tmp_path, monkeypatch)
    p = next(q for q in task.problems() if "from typing import List" in q.meta["raw_prompt"])
    v, _ = _judge(task, p, {"completion": p.reference})
    assert v.outcome == "passed" and v.scores == {"pass": 1.0, "base": 1.0}
    forgot = p.meta["raw_prompt"].replace("from typing import List\n", "") + p.reference
    v, _ = _judge(task, p, {"solution": forgot})
    assert v.outcome == "failed" and "NameError: name 'List' is not defined" in v.detail, v


def test_mbpp_plus_solution_without_its_import_fails(tmp_path, monkeypatch):
    task = _task("mbpp-plus", tmp_path, monkeypatch)
    p = task.problems()[0]
    ref = p.meta["raw_prompt"] + p.reference
    sol = ref.replace(f"def {p.entry_point}(", "from typing import List\n\ndef __ek(x: List[int]): pass\n\n"
                      f"def {p.entry_point}(", 1)
    v, _ = _judge(task, p, {"solution": sol})
    assert v.outcome == "passed", v
    v, _ = _judge(task, p, {"solution": sol.replace("from typing import List\n", "")})
    assert v.outcome == "failed" and "NameError" in v.detail, v


ALLCLOSE_CASES = [
    (1.0, 1.0), (1.0, 1.0 + 1e-7), (1.0, 1.1), (0.0, -0.0), (1, 1.0), (True, 1.0), (float("inf"), float("inf")),
    (float("inf"), float("-inf")), (float("nan"), float("nan")), ([1.0, 2.0], [1.0, 2.0 + 1e-9]),
    ([1.0, 2.0], [1.0, 2.5]), ([[1.0]], [[1.0, 1.0]]), ([[1.0, 2.0]], [[1.0]]), ([1.0, [2.0]], [1.0, [2.0]]),
    ([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0, 4.0]]), ((1.0, 2.0), (1.0, 2.0)), ([], []), ([1.0], []),
    ("a", "a"), (None, None), ([1.0, "x"], [1.0, "x"]), (complex(1, 1), complex(1, 1 + 1e-9)),
    ([1e300, 2.0], [1e300, 2.0]), ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0]]), ([3], [3, 3]), (10 ** 30, 10 ** 30),
]


@pytest.mark.parametrize("out,exp", ALLCLOSE_CASES)
@pytest.mark.parametrize("atol", [1e-6, 1e-4])
def test_allclose_matches_numpy(out, exp, atol):
    np = pytest.importorskip("numpy")
    try:
        want = bool(np.allclose(out, exp, rtol=1e-07, atol=atol))
    except Exception:
        want = None
    got = allclose(out, exp, 1e-07, atol)
    if type(out) is int and abs(out) >= 1 << 63:  # numpy: an object array; evalkit declines (None)
        assert got is None
        return
    assert got == want, (out, exp)


def test_digest_is_equality():
    values = [1, 1.0, True, 2, 2.5, -0.0, 0, "a", b"a", (1,), [1], [1.0], {1, 2}, frozenset({2, 1}), {"a": 1},
              {"a": 1.0}, {"a": 2}, None, complex(3, 0), 3, complex(3, 1), [[1, 2], (3,)], [[1.0, 2], (3.0,)]]
    for a, b in itertools.product(values, repeat=2):
        assert (digest(a) == digest(b)) == (a == b), (a, b)
    assert has_nan([1.0, float("nan")]) and not has_nan([1.0])
    assert is_floats([1.0, 2.0]) and not is_floats([1.0, 2]) and not is_floats([])


def test_large_expected_outputs_travel_as_digests(tmp_path, monkeypatch):
    from evalkit.plus.spec import driver_data

    oracle = {"dataset": "humaneval", "entry_point": "f", "atol": 0, "base_input": [[1]], "base_expected": [None],
              "base_time": [0.0], "base_big": {0: ("x", False)}, "plus_input": [], "plus_expected": [],
              "plus_time": []}
    d = driver_data(oracle, {"base": {0: ["a" * 10, 1.5]}})
    assert d["checks"][0]["big"] == {0: [digest(["a" * 10, 1.5]), False, False]}
    assert d["checks"][0]["limits"] == [4.0] and d["checks"][1]["inputs"] == []
    json.dumps(d)
