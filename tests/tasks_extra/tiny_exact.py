"""A tiny exact-match task for the tests: a metric without execution (issue 18), run through run/compare/check/
report like pass@k. Eight made-up one-line problems (no licence needed: written for these tests)."""

from __future__ import annotations

from evalkit.evaluators import Verdict
from evalkit.metrics import Metric
from evalkit.task import Problem, Task

ROWS = [(f"Q{i}", f"# complete: value {i}\nx = ", f"{i * 7}") for i in range(8)]


class TinyExact(Task):
    name = "tiny-exact"
    description = "eight one-line completions scored by exact match (test task)"
    stop_sequences = ("\n",)
    metrics = (Metric("exact_match", "mean", "exact match"), Metric("prefix_match", "mean", "prefix match"))

    def load(self):
        return [Problem(task_id=t, prompt=p, reference=r, test="") for t, p, r in ROWS], "0" * 64, "tests"

    def execution(self, problem, code, timeout=None):
        return None  # no sandbox: the verdict is a comparison

    def judge(self, problem, code, facts):
        got = (code.get("completion") or "").strip()
        want = problem.reference.strip()
        em = float(got == want)
        pm = float(bool(got) and want.startswith(got[:1]))
        return Verdict("passed" if em else "failed", "" if em else f"expected {want!r}",
                       {"exact_match": em, "prefix_match": pm})


TASKS = [TinyExact]
