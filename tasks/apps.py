"""APPS (Hendrycks et al. 2021), the Code Llama paper's Table 3 (two-shot) and Table 15 (Instruct, zero-shot).

Test split: 5,000 problems (1,000 introductory, 3,000 interview, 1,000 competition); a problem without tests is
left out (counted in results.json as ``no_tests``). Protocol: the paper's prompts (``evalkit/apps/data.py``),
T=0.6, top-p 0.95, pass@5/10/100 per difficulty level (``--preset apps-paper``: 200 samples); the answer is the
code of the first ``` block. Judging: ``hendrycks/apps`` ``eval/testing_util.py``'s semantics in evalkit's
sandbox (``evalkit/apps/``): every test of a sample in one sandboxed process, 4 s per test, compared in the
supervisor; a problem passes iff every test passes; compile error, runtime error and timeout are outcomes.

Tasks: ``apps`` (all levels; results per level under ``levels``), ``apps-introductory``, ``apps-interview``,
``apps-competition`` (one level each), ``apps-instruct`` (all levels, the zero-shot ``[INST]`` prompt).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from evalkit.apps import data
from evalkit.metrics import PASS, summarize_metric
from evalkit.task import Problem, Task
from evalkit.task import data_dir as find_data_dir


class Apps(Task):
    name = "apps"
    description = "APPS test split (5000), 2-shot Q:/A: prompt (Code Llama Fig. 14), pass@k per difficulty"
    levels: ClassVar[tuple[str, ...]] = data.LEVELS
    stop_sequences = ("\nQ:",)
    timeout = 4.0  # seconds per test (testing_util's limit); --timeout overrides
    default_max_new_tokens = 1024
    shots = 2
    chat_variant: ClassVar[str | None] = "apps-instruct"  # --chat would replace the two-shot prompt: refused
    metrics = (PASS,)
    prompt_format = ("two-shot Q:/A: (Code Llama Fig. 14): guide 'read from and write to standard IO' or 'use the "
                     "provided function signature', question (+ starter code); answer from the ``` block")
    chat_prompt_format = "user: the zero-shot instruction (Fig. 14) + question; answer from the ``` block"

    def __init__(self, data_dir: str | None = None, stop_sequences: list[str] | None = None) -> None:
        super().__init__(data_dir, stop_sequences)
        self.shot_rows: list[dict[str, Any]] = []
        self.counts: dict[str, Any] = {}

    def load(self) -> tuple[list[Problem], str, str]:
        d = find_data_dir(self.data_dir)
        rows, sha, source = data.split_file(d, "test", self.name)
        parsed = [data.parse(r) for r in rows]
        if self.shots:
            train, train_sha, _ = data.split_file(d, "train", self.name)
            self.shot_rows = data.pick_shots([data.parse(r) for r in train])
            sha = f"test {sha}, train {train_sha}"
        keep = [p for p in parsed if p["difficulty"] in self.levels]
        with_tests = [p for p in keep if p["io"].get("inputs")]
        self.counts = {lv: sum(1 for p in with_tests if p["difficulty"] == lv) for lv in self.levels}
        self.counts["no_tests"] = len(keep) - len(with_tests)
        problems = [Problem(task_id=f"APPS/{p['problem_id']}", prompt=self.render(p),
                            reference=p["solutions"][0] if p["solutions"] else "",
                            test=json.dumps(p["io"]), entry_point=p["fn_name"] or "",
                            meta={"difficulty": p["difficulty"], "row": p})
                    for p in sorted(with_tests, key=lambda p: p["problem_id"])]
        return problems, sha, source

    def render(self, p: dict[str, Any]) -> str:
        return data.two_shot(self.shot_rows, p)

    def canonical_task_id(self, raw: Any) -> str:
        s = str(raw)
        return s if s.startswith("APPS/") else f"APPS/{int(s)}"

    def postprocess(self, problem: Problem, generation: str) -> str:
        return data.extract_answer(super().postprocess(problem, generation))

    def chat_prompt(self, problem: Problem) -> tuple[str, str]:
        return data.intro(problem.meta["row"]), ""

    def postprocess_chat(self, problem: Problem, answer: str) -> dict[str, str]:
        return {"solution": data.extract_answer(answer)}

    # --- judging ------------------------------------------------------------------------------------
    @staticmethod
    def code_of(problem: Problem, code: dict[str, str]) -> str:
        return code["solution"] if "solution" in code else code.get("completion", "")

    def execution(self, problem: Problem, code: dict[str, str], timeout: float | None = None) -> Any:
        from evalkit.apps import judge, program

        io = json.loads(problem.test)
        fn = io.get("fn_name")
        tests = list(zip(io.get("inputs") or [], io.get("outputs") or []))
        return judge.spec(program.serving_source(self.code_of(problem, code), fn), fn, tests,
                          self.cpu_limit(timeout))

    def judge(self, problem: Problem, code: dict[str, str], facts: Any) -> Any:
        from evalkit.apps import judge

        return judge.verdict(facts)

    def summary_extra(self, rows: Sequence[dict], ks: Sequence[int]) -> dict[str, Any]:
        """pass@k with CIs per difficulty level (the paper's columns)."""
        level = {p.task_id: p.meta["difficulty"] for p in self.problems()}
        per: dict[str, dict[str, list[float]]] = {lv: {} for lv in self.levels}
        for r in rows:
            lv = level.get(r["task_id"])
            if lv is not None:
                per[lv].setdefault(r["task_id"], []).append(float((r.get("scores") or {}).get("pass", 0.0)))
        out = {}
        for lv, scores in per.items():
            if scores:
                block = summarize_metric(PASS, scores, ks)
                out[lv] = {"n_problems": len(scores)} | {k: v for k, v in block.items() if k.startswith("pass@")}
        return {"levels": out}

    def info(self) -> dict:
        out = super().info() | {"levels": list(self.levels), "problem_counts": self.counts,
                                "test_timeout_s": self.timeout}
        if self.shots:
            out["few_shot"] = data.shots_record(self.shot_rows) if self.shot_rows else None
        return out


class AppsIntroductory(Apps):
    name = "apps-introductory"
    description = "APPS test split, introductory (1000), 2-shot, pass@k"
    levels = ("introductory",)


class AppsInterview(Apps):
    name = "apps-interview"
    description = "APPS test split, interview (3000), 2-shot, pass@k"
    levels = ("interview",)


class AppsCompetition(Apps):
    name = "apps-competition"
    description = "APPS test split, competition (1000), 2-shot, pass@k"
    levels = ("competition",)


class AppsInstruct(Apps):
    name = "apps-instruct"
    description = "APPS test split (5000), zero-shot [INST] prompt for Instruct models (Table 15), pass@k per level"
    shots = 0
    chat_variant = None  # --chat: the model's own chat template around the same instruction
    stop_sequences = ()
    prompt_format = ("zero-shot [INST] (Code Llama Fig. 14): guide + question (+ starter code) [/INST]; answer "
                     "from the ``` block")

    def render(self, p: dict[str, Any]) -> str:
        return data.zero_shot_instruct(p)


TASKS = [Apps, AppsIntroductory, AppsInterview, AppsCompetition, AppsInstruct]
