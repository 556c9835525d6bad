"""The shared Task of ``humaneval-plus`` and ``mbpp-plus``: evalplus's prompts, post-processing and scoring.

Prompt (evalplus/codegen.py): the dataset's ``prompt`` stripped, plus a newline; a base model continues it and
stops at evalplus's EOS list plus the dataset's extra stops (evalplus/provider/utility.py); the solution is
prompt + completion, sanitized (``evalkit.plus.sanitize``). ``--chat``: evalplus's instruction and response
prefix (make_raw_chat_prompt), the answer's code block is the solution, sanitized.

Scoring (evalplus/evaluate.py): a file's ``solution`` is run as is, a ``completion`` after the dataset's raw
(unstripped) prompt; the sandbox serves the solution's entry point and evalkit's driver (``evalkit.plus.spec``)
calls it on the base, then the plus inputs, comparing the values with the canonical solution's outputs, which the
sample never sees. Two declared scores: ``pass`` (plus: base and plus inputs all pass) and ``base``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from evalkit.metrics import PASS, Metric
from evalkit.task import Problem, Task, cut_at_stop, extract_code

if TYPE_CHECKING:
    from evalkit.evaluators import Verdict
    from evalkit.sandbox.spec import ExecSpec, Facts

PLUS = Metric(PASS.name, "binary", "plus pass@k")
BASE = Metric("base", "binary", "base pass@k")

# evalplus/provider/utility.py
EOS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(")
EXTRA_EOS = {"humaneval": ("\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert "), "mbpp": ('\n"""', "\nassert")}
# evalplus/codegen.py run_codegen
INSTRUCTION_PREFIX = ("Please provide a self-contained Python script that solves the following problem in a "
                      "markdown code block:")
RESPONSE_PREFIX = ("Below is a Python script with a self-contained function that solves the problem and passes "
                   "corresponding tests:")


class EvalPlusTask(Task):
    dataset: ClassVar[str] = ""  # evalplus's name: humaneval | mbpp
    id_prefix: ClassVar[str] = ""
    timeout = 240.0  # CPU seconds of the whole sample: the two checks' budgets, min(60, sum of limits) + 2 each
    chat_stop_sequences = ("\n```\n",)
    default_max_new_tokens = 768  # evalplus/provider/base.py
    prompt_format = "evalplus codegen: prompt.strip() + '\\n'; solution = prompt + completion, sanitized"
    min_time_limit: float | None = None  # None: evalkit.plus.spec.MIN_TIME_LIMIT
    metrics = (PLUS, BASE)

    def __init__(self, data_dir: str | None = None, stop_sequences: list[str] | None = None) -> None:
        super().__init__(data_dir, stop_sequences)
        self.dataset_md5 = ""
        self._rows: dict[str, dict] = {}
        self._driver_data: dict[str, dict] = {}

    # --- data -----------------------------------------------------------------------------------
    def load(self) -> tuple[list[Problem], str, str]:
        from evalkit.plus.data import load_release, mbpp_deserialize_inputs

        got = load_release(self.dataset, self.data_dir)
        self.dataset_md5 = got.md5
        problems = []
        for r in got.rows:
            base, plus = r["base_input"], r["plus_input"]
            if self.dataset == "mbpp":
                base = mbpp_deserialize_inputs(r["task_id"], base)
                plus = mbpp_deserialize_inputs(r["task_id"], plus)
            self._rows[r["task_id"]] = {"task_id": r["task_id"], "entry_point": r["entry_point"], "atol": r["atol"],
                                        "code": r["prompt"] + r["canonical_solution"],
                                        "base_input": base, "plus_input": plus}
            problems.append(Problem(
                task_id=r["task_id"], prompt=r["prompt"].strip() + "\n", reference=r["canonical_solution"],
                test="", entry_point=r["entry_point"],
                meta={"raw_prompt": r["prompt"], "evalplus_id": r["task_id"], "atol": r["atol"],
                      "n_base": len(base), "n_plus": len(plus)},
            ))
        return problems, got.sha256, got.source

    def raw_inputs(self, problem: Problem, kind: str) -> list:
        """The problem's base or plus inputs as evalplus holds them (MBPP+ deserialised)."""
        self.problems()
        return self._rows[problem.task_id][kind + "_input"]

    def canonical_task_id(self, raw: Any) -> str:
        m = re.fullmatch(r"(?:[A-Za-z]+/)?(\d+)", str(raw).strip())
        return f"{self.id_prefix}/{int(m.group(1))}" if m else str(raw)

    # --- the sample's life ----------------------------------------------------------------------
    def postprocess(self, problem: Problem, generation: str) -> Any:
        from evalkit.plus.sanitize import sanitize

        completion = cut_at_stop(generation, self.stop_sequences)
        return {"solution": sanitize(problem.prompt + completion, problem.entry_point), "completion": completion}

    def chat_prompt(self, problem: Problem) -> tuple[str, str]:
        return (f"{INSTRUCTION_PREFIX}\n```\n{problem.prompt.strip()}\n```\n", f"{RESPONSE_PREFIX}\n```python\n")

    def postprocess_chat(self, problem: Problem, answer: str) -> dict[str, str]:
        from evalkit.plus.sanitize import sanitize

        prefix = f"{RESPONSE_PREFIX}\n```python\n"
        impl = answer[len(prefix):] if answer.startswith(prefix) else extract_code(answer)
        impl = cut_at_stop(impl, self.chat_stop_sequences)
        return {"solution": sanitize(impl, problem.entry_point)}

    # --- judging: the sandbox calls the solution, the driver compares values (evalkit.plus.spec) -----
    def _solution(self, problem: Problem, code: dict[str, str]) -> str:
        # evalplus/evaluate.py: solution = problems[task_id]["prompt"] + sample["completion"] (the raw prompt)
        if "solution" in code:
            return code["solution"]
        return problem.meta["raw_prompt"] + code.get("completion", "")

    def _min_time_limit(self) -> float:
        from evalkit.plus import spec

        return self.min_time_limit if self.min_time_limit is not None else spec.MIN_TIME_LIMIT

    def driver_data(self, problem: Problem) -> dict:
        """The driver's data of a problem (inputs, expected outputs, limits), from the oracle cache (built once
        for every problem of the task); kept in memory, so every sample of a problem shares one object."""
        got = self._driver_data.get(problem.task_id)
        if got is None:
            from evalkit.plus import oracle, spec

            self.problems()
            folder = oracle.ensure(self.dataset, self.dataset_md5, list(self._rows.values()))
            data = oracle.load(folder, problem.task_id)
            side = oracle.load_side(folder, problem.task_id) if data.get("big_file") else None
            got = spec.driver_data(data, side, min_time_limit=self._min_time_limit())
            self._driver_data[problem.task_id] = got
        return got

    def execution(self, problem: Problem, code: dict[str, str], timeout: float | None = None) -> ExecSpec:
        from evalkit.plus import spec

        return spec.spec(self._solution(problem, code), self.driver_data(problem), self.cpu_limit(timeout))

    def judge(self, problem: Problem, code: dict[str, str], facts: Facts | None) -> Verdict:
        from evalkit.plus import spec

        row = self._rows[problem.task_id]
        return spec.verdict(facts, {"base": row["base_input"], "plus": row["plus_input"],
                                    "entry_point": problem.entry_point})

    def rerun_alone(self, verdict: Verdict) -> bool:
        # a per-input time limit or a check's time budget: wall-clock limits, as in evalplus
        return verdict.outcome == "timeout" or (
            verdict.outcome == "failed" and (": timeout: " in verdict.detail or ": time limit " in verdict.detail))

    def summary_extra(self, rows: Sequence[dict], ks: Sequence[int]) -> dict[str, Any]:
        """The base scores also under ``base`` (the shape of the EvalPlus paper tables); same as metrics.base."""
        from evalkit.metrics import summarize_metric

        per: dict[str, list[float]] = {}
        for r in rows:
            per.setdefault(r["task_id"], []).append(float((r.get("scores") or {}).get("base", 0.0)))
        return {"base": summarize_metric(BASE, per, ks)}

    def info(self) -> dict[str, Any]:
        from evalkit.plus import spec as checker

        limit = self._min_time_limit()
        return super().info() | {
            "dataset_md5": self.dataset_md5,
            "scores": "pass@k = plus (base and plus inputs pass); base: base inputs only",
            "evalplus_semantics": {"min_time_limit_s": limit, "gt_time_limit_factor": checker.GT_TIME_LIMIT_FACTOR,
                                   "timeout_per_check_s": checker.TIMEOUT_PER_CHECK, "fast_check": True,
                                   "mirrors": "evalplus 0.3.1"},
        }

