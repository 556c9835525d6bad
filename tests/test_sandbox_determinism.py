"""Issue 3: the same samples give the same verdicts, also with the other core busy."""

from __future__ import annotations

import subprocess
import sys

from sandboxing import Job, SandboxPool

from evalkit.registry import get_task
from evalkit.sandbox import SandboxConfig
from evalkit.sandbox import pool as _pool


def _task_job(task, p, completion: str, kind: str) -> Job:  # noqa: ANN001
    return _pool.Job((p.task_id, kind), task.execution(p, {"completion": completion}, 1.0))


def _jobs() -> list[Job]:
    task = get_task("humaneval")
    jobs = []
    for i, p in enumerate(task.problems()[:40]):
        jobs.append(_task_job(task, p, p.reference, "ref"))
        if i % 4 == 0:
            jobs.append(_task_job(task, p, "    pass\n", "pass"))
        if i % 10 == 0:
            jobs.append(_task_job(task, p, "    raise KeyError(1)\n", "raise"))
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


def test_workers_outlive_the_threads_that_started_them():
    """A worker dies with the thread that forked it (PR_SET_PDEATHSIG): the pool starts and replaces workers
    from one thread of its own, so the workers of ``start`` are still there for every ``run``."""
    import threading
    import time

    from evalkit.sandbox import SandboxConfig
    from evalkit.sandbox.pool import Job, SandboxPool
    from evalkit.sandbox.spec import ExecSpec, Step

    spec = ExecSpec(steps=(Step(python="pass", name="run"),))
    with SandboxPool(SandboxConfig(), workers=2) as pool:
        pids = [w.proc.pid for w in pool._workers]
        time.sleep(0.5)
        assert [w.proc.poll() for w in pool._workers] == [None, None]
        for _ in range(2):
            t = threading.Thread(target=pool.run, args=([Job(i, spec) for i in range(4)], lambda j, f: None))
            t.start()
            t.join()
        time.sleep(0.3)
        assert [w.proc.pid for w in pool._workers] == pids
        assert [w.proc.poll() for w in pool._workers] == [None, None]
