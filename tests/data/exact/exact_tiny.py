"""A tiny task judged without execution (tests of the metrics contract): 12 made-up problems whose answer is a
word reversed; two mean metrics, exact match (the headline) and a character-level similarity. Written for these
tests (no dataset, no licence needed)."""

from __future__ import annotations

import difflib
import hashlib

from evalkit.evaluators import Verdict
from evalkit.metrics import Metric
from evalkit.task import Problem, Task

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima")


class ExactTiny(Task):
    name = "exact-tiny"
    description = "12 made-up problems (reverse a word), exact match and similarity, judged without execution"
    stop_sequences = ("\n",)
    prompt_format = "Reverse: <word>\\nAnswer: "
    default_max_new_tokens = 16
    metrics = (Metric("exact_match", "mean", "exact match"), Metric("similarity", "mean", "similarity"))

    def load(self) -> tuple[list[Problem], str, str]:
        problems = [Problem(task_id=f"Exact/{i}", prompt=f"Reverse: {w}\nAnswer: ", reference=w[::-1], test="")
                    for i, w in enumerate(WORDS)]
        return problems, hashlib.sha256(" ".join(WORDS).encode()).hexdigest(), "tests/data/exact/exact_tiny.py"

    def execution(self, problem, code, timeout=None):  # noqa: ANN001, ANN201
        return None  # judged without running anything

    def judge(self, problem, code, facts):  # noqa: ANN001, ANN201
        got = (code.get("completion") or code.get("solution") or "").strip()
        exact = float(got == problem.reference)
        sim = difflib.SequenceMatcher(None, got, problem.reference).ratio()
        return Verdict("passed" if exact else "failed", scores={"exact_match": exact, "similarity": sim})


TASKS = [ExactTiny]
