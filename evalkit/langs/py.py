"""Python: MultiPL-E runs ``python3 prog.py``; evalkit runs the same program as a Python step of the sandbox
(a fresh interpreter state forked from the warm worker: no interpreter start-up per sample). The tests are
asserts; "SyntaxError" on stderr is MultiPL-E's "SyntaxError"."""

from __future__ import annotations

from evalkit.langs import Language, Rules
from evalkit.sandbox.spec import Step


class Python(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        raise NotImplementedError("Python runs as a Python step: see python_step")

    def python_step(self, program: str, run_cpu_s: float) -> Step:
        return Step(python=program, name="run", cpu_s=run_cpu_s)


LANGUAGE = Python(
    key="py", title="Python", file="main.py",
    programs=(),
    rules=Rules(compile_markers=(("stderr", "SyntaxError"),), fail_markers=(("stderr", "AssertionError"),)),
    multiple_command="python3 prog.py",
    differences="run as a Python step forked from the sandbox's warm worker (the harness's Python)",
    run_timeout=10.0,
)
