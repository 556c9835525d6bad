"""Bash: ``bash prog.sh`` (MultiPL-E ``eval_sh.py``). The tests run under ``set -e``: a wrong answer makes a
``[[ ... ]]`` test fail and bash exit 1; "syntax error" on stderr is MultiPL-E's "SyntaxError".

The CPU limit is per process: a runaway loop in the ``$(candidate ...)`` subshell would be killed alone and the
test would then fail as a wrong answer. So Bash runs under the wall clock, as under MultiPL-E (15 s): the step's
wall limit is the run's CPU seconds + 5, and each process's CPU limit is above it, never reached first."""

from __future__ import annotations

from evalkit.langs import Language, Rules
from evalkit.sandbox.spec import Step


class Bash(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        wall = run_cpu_s + 5
        return (Step(argv=("bash", "main.sh"), name="run", cpu_s=wall + 1, wall_s=wall, memory_mb=1024,
                     max_processes=64),)


LANGUAGE = Bash(
    key="sh", title="Bash", file="main.sh",
    programs=(("bash", "bash"),),
    rules=Rules(compile_markers=(("stderr", "syntax error"),), fail_exit_codes=(1,)),
    multiple_command="bash prog.sh",
    run_timeout=10.0,
)
