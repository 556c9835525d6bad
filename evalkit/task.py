"""What a benchmark is: a small class that loads problems, renders prompts, cuts completions, says how to judge.

A task module in ``tasks/`` (installed as ``evalkit.tasks``) or in a user's ``--tasks-dir`` defines one or more
subclasses of :class:`Task` and lists them in a module-level ``TASKS`` list. One sample's life:

    problem = task.problems()[i]           # dataset row
    prompt  = task.prompt(problem)         # what the model sees (text, or FIM parts for infilling)
    text    = backend.generate(...)        # raw generation
    code    = task.postprocess(problem, text)   # stop sequences, code extraction: {"completion": ...}
    spec    = task.execution(problem, code)     # what the sandbox runs (None: judged without running anything)
    verdict = task.judge(problem, code, facts)  # the evaluator's verdict from the sandbox's facts

A task declares its ``metrics`` (``evalkit.metrics.Metric``: binary pass@k, or mean scores such as exact match);
every verdict carries one score per declared metric. The default is HumanEval's: the dataset's test code must run
to its end (``evalkit.evaluators.runs_to_end``), the sample's entry point called through the sandbox.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from evalkit.errors import UserError, first_line
from evalkit.metrics import PASS, Metric

if TYPE_CHECKING:  # the sandbox and evaluators load lazily
    from evalkit.evaluators import Verdict
    from evalkit.evaluators.runs_to_end import Checks
    from evalkit.sandbox.spec import ExecSpec, Facts


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    reference: str  # the canonical completion: what the oracle backend answers
    test: str
    entry_point: str = ""
    suffix: str = ""  # infilling tasks: the code after the hole
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class FimPrompt:
    """An infilling prompt: the backend lays out prefix and suffix with the model's FIM tokens."""

    prefix: str
    suffix: str


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cut_at_stop(text: str, stops: list[str] | tuple[str, ...]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop sequence."""
    end = len(text)
    for s in stops:
        if not s:
            continue
        i = text.find(s)
        if i != -1 and i < end:
            end = i
    return text[:end]


def extract_code(text: str) -> str:
    """The first fenced code block of a Markdown answer (the whole text if there is none)."""
    start = text.find("```")
    if start == -1:
        return text
    nl = text.find("\n", start)
    if nl == -1:
        return ""
    end = text.find("```", nl + 1)
    return text[nl + 1:] if end == -1 else text[nl + 1:end]


def load_hub_rows(what: str, repo: str, config: str, split: str | None = None,
                  order_by: str | None = None, revision: str | None = None) -> tuple[list[dict], str, str]:
    """Rows of a hub dataset (or a local copy of a hub repository) through ``datasets``, all splits unless one is
    named, sorted by ``order_by`` if given: (rows, sha256 of the rows as canonical JSON lines, where they came
    from). One clear error if it fails."""
    from evalkit.hub import offline_message, offline_reason

    remote = not Path(repo).is_dir()
    if remote:
        offline_reason()  # asked once: an unreachable hub puts the libraries offline (no minute of retries)
    try:
        import datasets
    except ImportError:
        raise UserError(f"loading {what} from the hub needs `datasets` (pip install 'evalkit[hf]'); "
                        "or give a local copy with --data-dir") from None
    try:
        loaded = datasets.load_dataset(repo, config, split=split, revision=revision)
    except Exception as e:
        offline = offline_message() if remote else ""
        raise UserError(f"cannot load {what} ({repo}, {config}): " + (offline or f"{first_line(e)}; give a local "
                        "copy with --data-dir or EVALKIT_DATA_DIR")) from None
    parts = [loaded] if split is not None else list(loaded.values())
    rows = [dict(r) for part in parts for r in part]
    if order_by:
        rows.sort(key=lambda r: r[order_by])
    canon = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    at = f", revision={revision!r}" if revision else ""
    return rows, hashlib.sha256(canon.encode()).hexdigest(), f"datasets.load_dataset({repo!r}, {config!r}{at})"


def data_dir(explicit: str | None = None) -> Path | None:
    """Where local benchmark files live: ``--data-dir``, else ``$EVALKIT_DATA_DIR``, else none (use the hub)."""
    from evalkit.datafiles import check_data_dir

    if explicit:
        return check_data_dir(explicit, "--data-dir")
    env = os.environ.get("EVALKIT_DATA_DIR")
    return check_data_dir(env, "EVALKIT_DATA_DIR") if env else None


class Task:
    """Base class of a benchmark. Subclasses set the class attributes and implement ``load``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    stop_sequences: ClassVar[tuple[str, ...]] = ()
    timeout: ClassVar[float] = 3.0  # seconds of CPU time per sample
    infilling: ClassVar[bool] = False
    prompt_format: ClassVar[str] = "the dataset's prompt, unchanged"
    # default decoding protocol of the task (the CLI's --preset may override)
    default_max_new_tokens: ClassVar[int] = 512
    shots: ClassVar[int | None] = 0  # worked examples in the prompt (None: not a few-shot prompt)
    # --chat runs ``chat_prompt`` under this task's name; a task whose name means a base-model protocol names
    # the task to use with --chat instead, and --chat refuses it
    chat_variant: ClassVar[str | None] = None
    chat_prompt_format: ClassVar[str] = ("user: 'Complete the following Python function...' + the prompt in a "
                                         "```python block; the assistant's turn starts with ```python + the prompt")
    cluster_by: ClassVar[str | None] = None  # what ``cluster_of`` returns: records of one cluster are dependent
    metrics: ClassVar[tuple[Metric, ...]] = (PASS,)  # the first is the headline

    def __init__(self, data_dir: str | None = None, stop_sequences: list[str] | None = None) -> None:
        self.data_dir = data_dir
        if stop_sequences is not None:
            self.stop_sequences = tuple(stop_sequences)  # type: ignore[misc]
        self._problems: list[Problem] | None = None
        self.dataset_sha256: str = ""
        self.dataset_source: str = ""

    # --- data -----------------------------------------------------------------------------------
    def load(self) -> tuple[list[Problem], str, str]:
        """Return (problems, sha256 of the data, where the data came from)."""
        raise NotImplementedError

    def problems(self) -> list[Problem]:
        if self._problems is None:
            self._problems, self.dataset_sha256, self.dataset_source = self.load()
        return self._problems

    def cluster_of(self, task_id: str) -> str | None:
        """The independent unit a record belongs to (infilling: its source HumanEval problem); None: itself."""
        return None

    def problem_index(self) -> dict[str, int]:
        return {p.task_id: i for i, p in enumerate(self.problems())}

    def canonical_task_id(self, raw: Any) -> str:
        """Map a task_id as written in an input file to this task's canonical form."""
        return str(raw)

    # --- the sample's life ----------------------------------------------------------------------
    def prompt(self, problem: Problem) -> str | FimPrompt:
        return problem.prompt

    chat_stop_sequences: ClassVar[tuple[str, ...]] = ("\n```",)

    def chat_prompt(self, problem: Problem) -> tuple[str, str]:
        """For instruct models: (user message, start of the assistant turn that the model continues)."""
        return (
            "Complete the following Python function. Answer with the whole function in a ```python code block.\n\n"
            f"```python\n{problem.prompt}```\n",
            f"```python\n{problem.prompt}",
        )

    def postprocess_chat(self, problem: Problem, answer: str) -> dict[str, str]:
        """The code of an instruct model's answer (assistant prefix + generation):
        ``{"completion": ...}`` when it continues the prompt, else ``{"solution": ...}`` (a whole program)."""
        code = extract_code(answer)
        if code.startswith(problem.prompt):
            return {"completion": code[len(problem.prompt):]}
        return {"solution": code}

    def postprocess(self, problem: Problem, generation: str) -> str:
        return cut_at_stop(generation, self.stop_sequences)

    # --- judging ------------------------------------------------------------------------------------
    @staticmethod
    def code_of(problem: Problem, code: dict[str, str]) -> str:
        """The sample's program: the prompt + its completion, or its whole solution."""
        if "solution" in code:
            return code["solution"]
        return problem.prompt + code.get("completion", "") + problem.suffix

    def checks(self, problem: Problem, code: dict[str, str]) -> Checks:
        """HumanEval's layout: the sample's program; the dataset's test and ``check(entry_point)``; the prompt's
        helpers from the dataset's own solution."""
        from evalkit.evaluators.runs_to_end import Checks

        return Checks(source=self.code_of(problem, code),
                      test=problem.test + "\n" + f"check({problem.entry_point})\n",
                      setup=problem.prompt + problem.reference + problem.suffix,
                      names=(problem.entry_point,))

    def cpu_limit(self, override: float | None = None) -> float:
        return override if override is not None else self.timeout

    def execution(self, problem: Problem, code: dict[str, str], timeout: float | None = None) -> ExecSpec | None:
        """What the sandbox runs for this sample; None when the verdict needs no execution."""
        from evalkit.evaluators import runs_to_end

        return runs_to_end.spec(self.checks(problem, code), self.cpu_limit(timeout))

    def judge(self, problem: Problem, code: dict[str, str], facts: Facts | None) -> Verdict:
        """The verdict, with one score per declared metric."""
        from evalkit.evaluators import runs_to_end

        return runs_to_end.verdict(facts)  # type: ignore[arg-type]

    # --- hooks for tasks that need more than one verdict per sample (e.g. EvalPlus's base and plus) ----
    def sandbox_paths(self, task_ids: Collection[str] | None = None) -> tuple[str, ...]:
        """Files or folders the samples of these problems read (made visible read-only in the sandbox);
        a task may build them here (e.g. a cache of expected outputs)."""
        return ()


    def summary_extra(self, rows: Sequence[dict], ks: Sequence[int]) -> dict[str, Any]:
        """Extra entries of the task's block in results.json, from its sample rows."""
        return {}

    def rerun_alone(self, verdict: Verdict) -> bool:
        """Whether this verdict may come from machine load (a timeout, a wall-clock limit): the sample then runs
        once more with the other workers idle, and that verdict is final. The one rule for every task."""
        return verdict.outcome == "timeout"

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompt_format": self.prompt_format,
            "stop_sequences": list(self.stop_sequences),
            "timeout_s": self.timeout,
            "shots": self.shots,
            "dataset_sha256": self.dataset_sha256,
            "dataset_source": self.dataset_source,
        }
