"""Issue 3: the same samples give the same verdicts, also with the other core busy."""

from __future__ import annotations

import subprocess
import sys

from evalkit.registry import get_task
from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.pool import Job, SandboxPool


def _jobs() -> list[Job]:
    task = get_task("humaneval")
    jobs = []
    for i, p in enumerate(task.problems()[:40]):
        jobs.append(Job((p.task_id, "ref"), task.program(p, p.reference), 1.0))
        if i % 4 == 0:
            jobs.append(Job((p.task_id, "pass"), task.program(p, "    pass\n"), 1.0))
        if i % 10 == 0:
            jobs.append(Job((p.task_id, "raise"), task.program(p, "    raise KeyError(1)\n"), 1.0))
    jobs.append(Job(("spin", "loop"), "while True:\n    pass\n", 1.0))
    jobs.append(Job(("slow-but-ok", "x"), "s = 0\nfor i in range(3 * 10**6):\n    s += i\n", 1.0))
    return jobs


def _verdicts() -> dict:
    got = {}
    with SandboxPool(SandboxConfig(), workers=2) as pool:
        pool.run(_jobs(), lambda j, r: got.__setitem__(j.key, r.outcome))
    return got


def test_three_runs_identical_verdicts_one_under_load():
    first = _verdicts()
    second = _verdicts()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        third = _verdicts()
    finally:
        hog.kill()
        hog.wait()
    assert first == second == third
    assert first[("spin", "loop")] == "timeout"
    assert first[("slow-but-ok", "x")] == "passed"
    assert {v for v in first.values()} == {"passed", "failed", "error", "timeout"}
