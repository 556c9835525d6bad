"""Evaluators: evalkit's side of judging. The sandbox runs steps and reports facts (``evalkit.sandbox.spec``);
an evaluator turns a sample's facts into a :class:`Verdict`. One module per rule:

* ``runs_to_end``  -- HumanEval, MBPP, infilling: the task's test code runs to its end (asserts);
* ``exit_output``  -- MultiPL-E, APPS standard input: exit status and output decide;
* ``values``       -- EvalPlus, APPS call-based: the sample only computes outputs; evalkit compares them;
* ``match``        -- exact match, edit similarity: no execution at all.

A task builds the spec (``Task.execution``) and asks its evaluator for the verdict (``Task.judge``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What a verdict may say. MultiPL-E's statuses map onto them: OK -> passed, Exception -> failed or error,
# SyntaxError (a compile step that failed) -> compile_error, Timeout -> timeout.
OUTCOMES = ("passed", "failed", "error", "compile_error", "timeout", "memory", "crashed", "sandbox_error")


@dataclass
class Verdict:
    outcome: str  # one of OUTCOMES
    detail: str = ""
    scores: dict[str, float] = field(default_factory=dict)  # one per metric the task declares

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
