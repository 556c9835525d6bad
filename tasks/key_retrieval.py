"""Key retrieval (Code Llama paper, section 3.3 and appendix G.2, p.31-32; Tables 17, 18; Fig. 4b).

A long Python file of filler programs holds, at a relative position, the function::

    def my_function() -> int:
        \"\"\"Note that this function is used at the end
        \"\"\"
        return <VALUE>

and the prompt ends with ``assert my_function() == ``. A sample is correct iff the completion starts with VALUE
(a two-digit number drawn per example). 64 examples per (length, position); the paper's grid (Table 17: 8,000,
16,000, 24,000 tokens x positions 0, 0.2, 0.4) by default, configurable (``configure``: ``--context-lengths``,
``--key-positions``). Lengths count the model's own tokens (``use_tokenizer``), without BOS; with no tokenizer
(``--model reference``) evalkit's code tokens, recorded as such. The filler is CodeContests' Python solutions
from the hub, or offline HumanEval's functions (a named deviation): see ``evalkit.longctx.filler``. Judged by
matching, no execution (``evalkit.evaluators.match.judge_value``); metric: accuracy (mean over examples).

Task ids: ``LENGTH/POSITION/INDEX``, e.g. ``16000/0.2/7``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from evalkit.errors import UserError
from evalkit.evaluators import Verdict
from evalkit.evaluators.match import judge_value
from evalkit.longctx.filler import Filler, load_filler
from evalkit.longctx.keyprompt import KEY_TEMPLATE, TAIL, KeyPromptBuilder, draw_value
from evalkit.longctx.tokens import TokenCounter, counter_for, parse_lengths, parse_positions, vocab_sha256
from evalkit.metrics import Metric
from evalkit.task import Problem, Task, data_dir, extract_code

PAPER_LENGTHS = (8000, 16000, 24000)  # Table 17 (Table 18 adds 4,000)
PAPER_POSITIONS = (0.0, 0.2, 0.4)
FIG4B_POSITIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # Fig. 4b sweeps 0..1 at ~16K
EXAMPLES_PER_CELL = 64
BUILDER_VERSION = 3  # bump when the prompt construction changes (the recipe hash then changes)


class KeyRetrieval(Task):
    name = "key-retrieval"
    description = ("Key retrieval in long Python files (Code Llama G.2): 8k/16k/24k tokens x key at 0/0.2/0.4, "
                   "64 each; accuracy")
    stop_sequences = ("\n",)
    default_max_new_tokens = 8
    shots = 0
    prompt_format = ("filler Python programs with `def my_function() -> int:` (docstring 'Note that this function "
                     "is used at the end', `return VALUE`) at a relative token position; ends with "
                     f"{TAIL!r}")
    metrics: ClassVar[tuple[Metric, ...]] = (Metric("accuracy", "mean", "accuracy"),)
    needs_tokenizer: ClassVar[bool] = True

    def __init__(self, data_dir: str | None = None, stop_sequences: list[str] | None = None) -> None:
        super().__init__(data_dir, stop_sequences)
        self.lengths: tuple[int, ...] = PAPER_LENGTHS
        self.positions: tuple[float, ...] = PAPER_POSITIONS
        self.per_cell = EXAMPLES_PER_CELL
        self.prompt_seed = 0
        self.filler_choice = "auto"
        self.counter: TokenCounter = counter_for(None)
        self.tokenizer_sha256 = vocab_sha256(None)
        self._filler: Filler | None = None
        self._filler_choice_loaded = ""
        self._builder: KeyPromptBuilder | None = None
        self._built: dict[str, str] = {}

    # --- options (the CLI's --context-lengths, --key-positions, ...) -------------------------------------
    def configure(self, context_lengths: str | Sequence[int] | None = None,
                  key_positions: str | Sequence[float] | None = None, examples_per_cell: int | None = None,
                  prompt_seed: int | None = None, filler: str | None = None) -> None:
        if context_lengths is not None:
            self.lengths = parse_lengths(context_lengths) if isinstance(context_lengths, str) \
                else tuple(int(x) for x in context_lengths)
        if key_positions is not None:
            self.positions = parse_positions(key_positions) if isinstance(key_positions, str) \
                else tuple(float(x) for x in key_positions)
        if examples_per_cell is not None:
            if examples_per_cell < 1:
                raise UserError("--examples-per-cell must be at least 1")
            self.per_cell = int(examples_per_cell)
        if prompt_seed is not None:
            self.prompt_seed = int(prompt_seed)
        if filler is not None:
            self.filler_choice = filler
        self._problems, self._builder, self._built = None, None, {}

    def use_tokenizer(self, tokenizer: Any | None, name: str | None = None) -> None:
        """Count lengths in this tokenizer's tokens (the model's); None: evalkit's code tokens."""
        self.counter = counter_for(tokenizer, name)
        self.tokenizer_sha256 = vocab_sha256(tokenizer)
        self._builder, self._built = None, {}
        self._problems = None

    # --- data ----------------------------------------------------------------------------------------
    def filler(self) -> Filler:
        if self._filler is None or self._filler_choice_loaded != self.filler_choice:
            self._filler = load_filler(self.filler_choice, data_dir(self.data_dir))
            self._filler_choice_loaded = self.filler_choice
        return self._filler

    def recipe(self) -> dict[str, Any]:
        """Everything the prompts are a function of: equal recipes give byte-identical prompts."""
        return {"builder": BUILDER_VERSION, "filler_sha256": self.filler().sha256(), "tokenizer": self.counter.name,
                "tokenizer_sha256": self.tokenizer_sha256, "context_lengths": list(self.lengths),
                "key_positions": list(self.positions), "examples_per_cell": self.per_cell, "seed": self.prompt_seed}

    def load(self) -> tuple[list[Problem], str, str]:
        """The examples and their answers (VALUE). They depend on the grid and the seed only: the data hash is
        theirs, so that scoring a generated run needs neither the filler nor the tokenizer (the prompts have
        their own hash, ``prompt_sha256``, and ``recipe`` says what made them)."""
        problems = []
        for length in self.lengths:
            for pos in self.positions:
                for i in range(self.per_cell):
                    value = draw_value(self.prompt_seed, length, pos, i)
                    problems.append(Problem(
                        task_id=f"{length}/{pos:g}/{i}", prompt="", reference=value, test="",
                        meta={"length": length, "position": pos, "index": i}))
        answers = json.dumps([BUILDER_VERSION] + [[p.task_id, p.reference] for p in problems])
        source = (f"generated: {len(problems)} examples ({self.per_cell} per cell), lengths "
                  f"{','.join(map(str, self.lengths))}, positions {','.join(f'{x:g}' for x in self.positions)}, "
                  f"seed {self.prompt_seed}")
        return problems, hashlib.sha256(answers.encode()).hexdigest(), source

    def prompt(self, problem: Problem) -> str:
        """Built on first use (a 24k-token prompt takes a fraction of a second) and kept."""
        text = self._built.get(problem.task_id)
        if text is None:
            if self._builder is None:
                self._builder = KeyPromptBuilder(self.filler(), self.counter)
            m = problem.meta
            built = self._builder.build(m["length"], m["position"], self.prompt_seed, m["index"])
            assert built.value == problem.reference
            text = self._built[problem.task_id] = built.text
        return text

    def chat_prompt(self, problem: Problem) -> tuple[str, str]:
        # as the paper queried GPT-3.5: a system-like instruction, the code, and the assert to complete
        code = self.prompt(problem)
        return ("Complete the following code.\n\n```python\n" + code + "\n```\n", "```python\n" + TAIL)

    def postprocess_chat(self, problem: Problem, answer: str) -> dict[str, str]:
        """The answer's code block continues ``assert my_function() == ``: what follows it is the completion."""
        code = extract_code(answer)
        return {"completion": code.split(TAIL, 1)[1] if TAIL in code else code}

    # --- judging: no execution -----------------------------------------------------------------------
    def execution(self, problem: Problem, code: dict[str, str], timeout: float | None = None) -> None:
        return None

    def judge(self, problem: Problem, code: dict[str, str], facts: Any = None) -> Verdict:
        text = code.get("completion")
        if text is None:  # a chat answer given as a whole program: the value after the last `== `
            sol = code.get("solution", "")
            text = sol.rsplit("==", 1)[-1] if "==" in sol else sol
        return judge_value(text, problem.reference)

    def info(self) -> dict[str, Any]:
        out = super().info()
        f = self.filler()
        out |= {"scoring": "accuracy: the completion starts with the inserted two-digit VALUE (greedy in the paper)",
                "key_function": KEY_TEMPLATE.format(value="<VALUE>"), "prompt_end": TAIL,
                "context_lengths": list(self.lengths), "key_positions": list(self.positions),
                "examples_per_cell": self.per_cell, "prompt_seed": self.prompt_seed,
                "length_unit": self.counter.name + " (without BOS)", "tokenizer_sha256": self.tokenizer_sha256,
                "filler": f.info(), "recipe": self.recipe()}
        return out

    def summary_extra(self, rows: Sequence[dict], ks: Sequence[int]) -> dict[str, Any]:
        """Accuracy per (length, position): the cells of Tables 17/18 and the points of Fig. 4b."""
        return {"by_cell": cells(rows)}


def row_score(row: dict, metric: str) -> float:
    scores = row.get("scores") or {}
    if metric in scores:
        return float(scores[metric])
    return 1.0 if row.get("passed") else 0.0


def cells(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
    """{length: {position: accuracy}} from sample rows (task ids LENGTH/POSITION/INDEX)."""
    acc: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        length, pos, _ = str(r["task_id"]).split("/")
        acc.setdefault(length, {}).setdefault(pos, []).append(row_score(r, "accuracy"))
    return {L: {p: sum(v) / len(v) for p, v in sorted(ps.items(), key=lambda kv: float(kv[0]))}
            for L, ps in sorted(acc.items(), key=lambda kv: int(kv[0]))}


TASKS = [KeyRetrieval]
