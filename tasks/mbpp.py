"""MBPP (Austin et al. 2021) as the Code Llama paper scores it, and the variants other harnesses use.

Harnesses disagree on MBPP prompts, so each variant is its own named task:
  mbpp            the paper's protocol: test split (task_ids 11-510, 500 problems), 3-shot prompt in the
                  Austin et al. format that Code Llama's Figure 13 wording follows, shots = task_ids 2, 3, 4
  mbpp-0shot      bigcode-evaluation-harness style: a docstring with the text and the first test
  mbpp-instruct   the paper's zero-shot instruct prompt; code between [PYTHON] and [/PYTHON]
  mbpp-sanitized  the hand-checked subset (sanitized-mbpp.json), test split (257 problems), 3-shot

3-shot prompt, exactly (shots joined by "\\n"; the shots' code keeps the dataset's bytes, CRLF line ends included,
as lm-evaluation-harness renders it: MBPP/11's prompt is byte for byte lm-evaluation-harness's ``mbpp`` prompt):
    You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\\n\\n
    {test 1}\\n{test 2}\\n{test 3}\\n[BEGIN]\\n{code}\\n[DONE]\\n
    ... (task 3, task 4) ...
    You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\\n\\n
    {tests}\\n[BEGIN]\\n
Generation stops at [DONE]. Program = completion + test_setup_code + the three tests: the setup code of tasks
367 and 927 builds objects from classes that the solution defines, so it comes after the solution.

Data: a local ``mbpp.jsonl`` (``--data-dir DIR`` or ``$EVALKIT_DATA_DIR``, looked up as DIR/mbpp/mbpp.jsonl or
DIR/mbpp.jsonl), a local copy of the hub repository (a folder with ``full/`` parquet files), or the hub
(``google-research-datasets/mbpp``, config ``full``) through ``datasets``.

Reference solutions: with the current revision of mbpp.jsonl every one of the 500 test problems' own ``code``
passes its tests (``evalkit run --model reference --tasks mbpp`` gives pass@1 = 1.0).
"""

from __future__ import annotations

import re
from typing import Any

from evalkit.datafiles import find_data_file, read_json_list, read_jsonl
from evalkit.errors import UserError
from evalkit.evaluators.runs_to_end import Checks
from evalkit.task import Problem, Task, data_dir, load_hub_rows, sha256_file

HUB_ID = "google-research-datasets/mbpp"
SHOT_IDS = (2, 3, 4)
TEST_IDS = range(11, 511)
HEADER = "You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\n\n"
FIELDS = ("task_id", "text", "code", "test_list")  # what every row of mbpp.jsonl needs
FIELDS_SANITIZED = ("task_id", "prompt", "code", "test_list")
INSTRUCT_TAIL = "Your code should start with a [PYTHON] tag and end with a [/PYTHON] tag."


def load_mbpp_rows(explicit_dir: str | None, sanitized: bool = False) -> tuple[list[dict], str, str]:
    name = "sanitized-mbpp.json" if sanitized else "mbpp.jsonl"
    config = "sanitized" if sanitized else "full"
    d = data_dir(explicit_dir)
    if d is not None:
        files = (f"mbpp/{name}", name)
        hub_copy = next((r for r in (d, d / "mbpp") if (r / config).is_dir()), None)  # a local hub repository
        if hub_copy is not None and not any((d / f).is_file() for f in files):
            return load_hub_rows("MBPP", str(hub_copy), config, order_by="task_id")
        f = find_data_file(d, files, "MBPP sanitized" if sanitized else "MBPP")
        rows = read_json_list(f, FIELDS_SANITIZED) if sanitized else read_jsonl(f, FIELDS)
        return rows, sha256_file(f), str(f)
    return load_hub_rows("MBPP", HUB_ID, config, order_by="task_id")


def _tests(row: dict) -> list[str]:
    return list(row["test_list"])


class MBPP(Task):
    name = "mbpp"
    description = "MBPP test split (500), 3-shot Austin et al. prompt, as in the Code Llama paper"
    stop_sequences = ("[DONE]",)
    timeout = 3.0
    sanitized = False
    prompt_format = "3-shot (task_ids 2,3,4), Austin et al. format, [BEGIN]/[DONE]"
    chat_stop_sequences = ("[/PYTHON]",)
    default_max_new_tokens = 512
    shots = 3
    chat_variant = "mbpp-instruct"  # the paper's zero-shot instruct prompt; 'mbpp' means the 3-shot protocol
    chat_prompt_format = "user: task + tests + 'Your code should start with a [PYTHON] tag...'; assistant: [PYTHON]"

    def _text(self, row: dict) -> str:
        return row["prompt"] if self.sanitized else row["text"]

    def _setup(self, row: dict) -> str:
        if self.sanitized:
            return "\n".join(row.get("test_imports") or [])
        return row.get("test_setup_code") or ""

    def load(self) -> tuple[list[Problem], str, str]:
        rows, sha, source = load_mbpp_rows(self.data_dir, self.sanitized)
        by_id = {int(r["task_id"]): r for r in rows}
        missing = [i for i in SHOT_IDS if i not in by_id]
        if missing:
            raise UserError(f"MBPP data from {source} lacks the few-shot task_ids {missing}")
        self.shot_rows = [by_id[i] for i in SHOT_IDS]  # `shots` stays the number (recorded in results)
        problems = []
        for tid in TEST_IDS:
            r = by_id.get(tid)
            if r is None:
                continue
            problems.append(Problem(
                task_id=f"MBPP/{tid}",
                prompt=self.render(r),
                reference=r["code"],
                test=self._setup(r) + "\n" + "\n".join(_tests(r)) + "\n",
                entry_point="",
                meta={"text": self._text(r), "tests": _tests(r),
                      "setup_code": "" if self.sanitized else (r.get("test_setup_code") or "")},
            ))
        return problems, sha, source

    def render(self, row: dict) -> str:
        out = []
        for s in self.shot_rows:
            code = s["code"]
            out.append(HEADER.format(text=self._text(s)) + "\n".join(_tests(s)) + f"\n[BEGIN]\n{code}\n[DONE]\n")
        return "\n".join(out) + "\n" + HEADER.format(text=self._text(row)) + "\n".join(_tests(row)) + "\n[BEGIN]\n"

    def canonical_task_id(self, raw: Any) -> str:
        m = re.fullmatch(r"(?:(?:MBPP|Mbpp|mbpp)/)?(\d+)", str(raw).strip())
        return f"MBPP/{int(m.group(1))}" if m else str(raw)

    @staticmethod
    def code_of(problem: Problem, code: dict[str, str]) -> str:
        return code["solution"] if "solution" in code else code.get("completion", "")  # the whole solution

    def checks(self, problem: Problem, code: dict[str, str]) -> Checks:
        # The asserts call the sample's functions through the sandbox; a problem with setup code (367 and 927:
        # trees built from classes the sample defines) hands the sample its own objects, so its tests run in
        # the sample's process, after the sample's code (the setup needs its classes)
        return Checks(source=self.code_of(problem, code), test=problem.test,
                      in_process=bool(problem.meta.get("setup_code", "").strip()))

    def chat_prompt(self, problem: Problem) -> tuple[str, str]:
        m = problem.meta
        return HEADER.format(text=m["text"]) + "\n".join(m["tests"]) + "\n" + INSTRUCT_TAIL, "[PYTHON]\n"

    def postprocess_chat(self, problem: Problem, answer: str) -> dict[str, str]:
        return {"completion": between_tags(answer)}


def between_tags(text: str, start: str = "[PYTHON]", end: str = "[/PYTHON]") -> str:
    i = text.find(start)
    if i != -1:
        text = text[i + len(start):]
    j = text.find(end)
    return (text if j == -1 else text[:j]).strip("\n") + "\n"


class MBPPSanitized(MBPP):
    name = "mbpp-sanitized"
    description = "MBPP sanitized (hand-checked), test split (257), 3-shot"
    sanitized = True


class MBPP0Shot(MBPP):
    name = "mbpp-0shot"
    description = "MBPP test split (500), bigcode-harness zero-shot docstring prompt with the first test"
    stop_sequences = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
    prompt_format = 'bigcode: """\\n{text}\\n{first test}\\n"""\\n, program = prompt + completion + tests'
    shots = 0

    def render(self, row: dict) -> str:
        return f'"""\n{self._text(row)}\n{_tests(row)[0]}\n"""\n'

    code_of = staticmethod(Task.code_of)  # the docstring prompt + the completion


class MBPPInstruct(MBPP):
    name = "mbpp-instruct"
    description = "MBPP test split (500), the paper's zero-shot instruct prompt, code in [PYTHON] tags"
    stop_sequences = ("[/PYTHON]",)
    prompt_format = "zero-shot instruct (Code Llama Fig. 13): task + tests + [PYTHON]...[/PYTHON]"
    shots = 0
    chat_variant = None

    def render(self, row: dict) -> str:
        return HEADER.format(text=self._text(row)) + "\n".join(_tests(row)) + "\n" + INSTRUCT_TAIL + "\n"

    def postprocess(self, problem: Problem, generation: str) -> str:
        return between_tags(generation)


TASKS = [MBPP, MBPP0Shot, MBPPInstruct, MBPPSanitized]
