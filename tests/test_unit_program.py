"""What the sandbox runs for a HumanEval-style sample and the verdict it gets: the prompt and the completion (or a
whole solution) make the sample's code, the dataset's test and ``check(entry_point)`` are joined by a newline, a
completion cut at a stop (no final newline) still passes. Judged by the real sandbox, all samples in one pool."""

from __future__ import annotations

import pytest

from evalkit.sandbox.pool import Job, SandboxPool
from evalkit.task import Problem
from evalkit.tasks.humaneval import HumanEval

BODY = "    return sorted(x)\n"
PROBLEM = Problem(task_id="HumanEval/0", prompt="def f(x):\n", reference=BODY,
                  test="def check(candidate):\n    assert candidate([2, 1]) == [1, 2]\n", entry_point="f")
# a dataset test without its final newline: check(f) must still come on a line of its own
NO_NEWLINE = Problem(task_id="HumanEval/1", prompt="def f(x):\n", reference=BODY,
                     test="def check(candidate):\n    assert candidate([3, 1]) == [1, 3]", entry_point="f")


def test_the_samples_code_is_prompt_completion_suffix_or_the_solution():
    task = HumanEval()
    assert task.code_of(PROBLEM, {"completion": BODY}) == PROBLEM.prompt + BODY
    infill = Problem("I/0", "def f(x):\n", "    y = x\n", "", "f", suffix="    return y\n")
    assert task.code_of(infill, {"completion": "    y = x\n"}) == "def f(x):\n    y = x\n    return y\n"
    assert task.code_of(PROBLEM, {"solution": "def f(x): return x"}) == "def f(x): return x"


def test_the_test_code_ends_with_the_check_call_on_its_own_line():
    checks = HumanEval().checks(NO_NEWLINE, {"completion": BODY})
    assert checks.test.startswith(NO_NEWLINE.test) and checks.test.endswith("\ncheck(f)\n")
    assert "f" in checks.names


@pytest.fixture(scope="module")
def verdicts():
    """(problem, code) -> outcome, for every case below, judged in one sandbox pool."""
    task = HumanEval()
    cases = {
        "right": (PROBLEM, {"completion": BODY}),
        "cut at a stop": (PROBLEM, {"completion": BODY.rstrip("\n")}),
        "wrong": (PROBLEM, {"completion": "    return x\n"}),
        "test without newline": (NO_NEWLINE, {"completion": BODY}),
        "solution": (PROBLEM, {"solution": "def f(x):\n    return sorted(x)"}),
        "wrong solution": (PROBLEM, {"solution": "def f(x):\n    return list(x)"}),
    }
    facts = {}
    with SandboxPool(workers=1) as pool:
        pool.run([Job(name, task.execution(p, code)) for name, (p, code) in cases.items()],
                 lambda job, f: facts.__setitem__(job.key, f))
    return {name: task.judge(p, code, facts[name]).outcome for name, (p, code) in cases.items()}


@pytest.mark.parametrize("case,outcome", [("right", "passed"), ("cut at a stop", "passed"), ("wrong", "failed"),
                                          ("test without newline", "passed"), ("solution", "passed"),
                                          ("wrong solution", "failed")])
def test_verdicts(verdicts, case, outcome):
    assert verdicts[case] == outcome
