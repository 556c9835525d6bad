"""Build the sandbox program of one EvalPlus sample: the checker's text, then one call with the sample's solution.

The inputs and expected outputs are not in the program: it names the problem's pickle in the oracle cache, which
the sandbox shows read-only to samples (``SandboxConfig.extra_paths``), so a sample costs one unpickling, never a
re-parse of thousands of inputs embedded in its source.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# evalplus's per-input time limit: max(MIN_TIME_LIMIT, GT_TIME_LIMIT_FACTOR * canonical time). evalplus 0.3.1
# ships 1.0 s as the minimum (evalplus/config.py); its later releases and the leaderboard's protocol use 4.0 s,
# which is also what keeps a loaded machine from failing correct code. Override with EvalPlusTask(min_time_limit=).
MIN_TIME_LIMIT = 4.0
GT_TIME_LIMIT_FACTOR = 4.0
# evalplus/eval/__init__.py untrusted_check: EVALPLUS_TIMEOUT_PER_TASK, the cap on one check's whole time budget
TIMEOUT_PER_CHECK = 60.0


@lru_cache(maxsize=1)
def checker_source() -> str:
    return Path(__file__).with_name("checker_program.py").read_text(encoding="utf-8")


def program(data_file: str, solution: str, min_time_limit: float = MIN_TIME_LIMIT,
            factor: float = GT_TIME_LIMIT_FACTOR, cap: float = TIMEOUT_PER_CHECK) -> str:
    return (checker_source()
            + f"\nevalplus_main({data_file!r}, {solution!r}, {min_time_limit!r}, {factor!r}, {cap!r})\n")
