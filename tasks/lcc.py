"""LCC single-line code completion on LCC-balanced (Code Llama paper, section 3.3: Table 7, Table 16, Fig. 9b).

Data: LCC (Guo et al. 2023, "LongCoder"), ``microsoft/LCC_python`` / ``_java`` / ``_csharp`` on the hub (fields
``context``, the file up to the line to complete, and ``gt``, that line), validation and test splits; or local
files ``DATA_DIR/lcc/<python|java|csharp>/{validation,test}.jsonl[.gz]``. Resampled into LCC-balanced by file
size (``evalkit.longctx.balance``: rule and seed recorded). The prompt is the whole context (long-context models);
``configure(max_prompt_tokens=4000)`` keeps only its last 4,000 tokens of the model's tokenizer, as the paper does
for models without long-context fine-tuning. The completion is cut at its first newline; exact match, BLEU and
edit similarity as ``evalkit.evaluators.match`` (no execution). Results also per file-length bucket (Fig. 9b).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

from evalkit.datafiles import read_jsonl
from evalkit.errors import UserError
from evalkit.evaluators import Verdict
from evalkit.evaluators.match import code_tokens, judge_line
from evalkit.longctx.balance import BUCKETS, PAPER_SIZES, Rule, balanced, bucket
from evalkit.longctx.tokens import TokenCounter, counter_for, vocab_sha256
from evalkit.metrics import Metric
from evalkit.task import Problem, Task, data_dir, load_hub_rows, sha256_file

SPLITS = ("validation", "test")
NON_LCFT_TOKENS = 4000  # Table 7: "context size limits are respected by truncating prompts to 4,000 tokens"


class LCC(Task):
    language: ClassVar[str] = ""
    hub_repo: ClassVar[str] = ""
    stop_sequences = ("\n",)
    stop_at_newline: ClassVar[bool] = True
    default_max_new_tokens = 128
    shots = 0
    prompt_format = ("the LCC context (the file up to the line to complete), ending with a newline (added where it "
                     "has none, as the reference's prompt); the whole file by default")
    metrics: ClassVar[tuple[Metric, ...]] = (Metric("exact_match", "mean", "exact match"),
                                             Metric("bleu", "mean", "BLEU"),
                                             Metric("edit_similarity", "mean", "edit similarity"))
    needs_tokenizer: ClassVar[bool] = True

    def __init__(self, data_dir: str | None = None, stop_sequences: list[str] | None = None) -> None:
        super().__init__(data_dir, stop_sequences)
        self.rule = Rule(PAPER_SIZES[self.language])
        self.max_prompt_tokens: int | None = None
        self.counter: TokenCounter = counter_for(None, language=self.language)
        self.tokenizer_sha256 = vocab_sha256(None)
        self._prompts: dict[str, tuple[str, int]] = {}  # task_id -> (prompt, tokens of the whole context)

    def configure(self, max_prompt_tokens: int | None = None, balanced_n: int | None = None,
                  balance_seed: int | None = None, bins: int | None = None, bin_width: int | None = None) -> None:
        """``max_prompt_tokens``: keep the context's last N tokens (4000: the paper's non-LCFT protocol); 0 or
        None: the whole file. The others change the LCC-balanced resampling (recorded)."""
        if max_prompt_tokens is not None and max_prompt_tokens < 0:
            raise UserError("--max-prompt-tokens must be >= 0")
        self.max_prompt_tokens = max_prompt_tokens or None
        r = self.rule
        self.rule = Rule(balanced_n if balanced_n is not None else r.n, bins or r.bins, bin_width or r.bin_width,
                         balance_seed if balance_seed is not None else r.seed)
        self._problems, self._prompts = None, {}

    def use_tokenizer(self, tokenizer: Any | None, name: str | None = None) -> None:
        self.counter = counter_for(tokenizer, name, self.language)
        self.tokenizer_sha256 = vocab_sha256(tokenizer)
        self._prompts = {}

    # --- data ----------------------------------------------------------------------------------------
    def _rows(self) -> tuple[list[tuple[str, int, dict]], str, str]:
        """(split, row number, row) of the validation and test splits, sha256 and source."""
        d = data_dir(self.data_dir)
        local = d / "lcc" / self.language if d is not None and d.is_dir() else None
        if local is not None and local.is_dir():
            out, hashes, used = [], [], []
            for split in SPLITS:
                path = next((local / f"{split}{ext}" for ext in (".jsonl", ".jsonl.gz")
                             if (local / f"{split}{ext}").is_file()), None)
                if path is None:
                    raise UserError(f"{self.name}: {local} has no {split}.jsonl (LCC's {split} split, fields "
                                    "context and gt)")
                out += [(split, i, r) for i, r in enumerate(read_jsonl(path, ("context", "gt")))]
                hashes.append(sha256_file(path))
                used.append(str(path))
            return out, hashlib.sha256("".join(hashes).encode()).hexdigest(), ", ".join(used)
        out, hashes, source = [], [], ""
        for split in SPLITS:
            rows, sha, source = load_hub_rows(f"LCC {self.language}", self.hub_repo, None, split=split)  # type: ignore[arg-type]
            out += [(split, i, r) for i, r in enumerate(rows)]
            hashes.append(sha)
        return out, hashlib.sha256("".join(hashes).encode()).hexdigest(), f"{source} (validation + test)"

    def load(self) -> tuple[list[Problem], str, str]:
        rows, sha, source = self._rows()
        sizes = [len(code_tokens(r["context"], self.language)) for _, _, r in rows]
        keep = balanced(sizes, self.rule)
        problems = [Problem(task_id=f"LCC_{self.language}/{rows[i][0]}/{rows[i][1]}", prompt=_ends_line(rows[i][2]["context"]),
                            reference=rows[i][2]["gt"], test="", meta={"code_tokens": sizes[i]})
                    for i in keep]
        return problems, sha, source

    def _prompt_and_size(self, problem: Problem) -> tuple[str, int]:
        got = self._prompts.get(problem.task_id)
        if got is None:
            full = problem.prompt
            n = self.counter.count(full)
            text = self.counter.tail(full, self.max_prompt_tokens) if self.max_prompt_tokens else full
            got = self._prompts[problem.task_id] = (text, n)
        return got

    def prompt(self, problem: Problem) -> str:
        return self._prompt_and_size(problem)[0]

    def file_tokens(self, problem: Problem) -> int:
        """Tokens of the whole context (the model's tokenizer): what Fig. 9b groups by."""
        return self._prompt_and_size(problem)[1]

    chat_prompt_format: ClassVar[str] = ("user: 'Complete the next line of this <language> file...' + the file in a "
                                         "code block; the answer's first code line is the prediction")

    def chat_prompt(self, problem: Problem) -> tuple[str, str]:
        fence = {"python": "python", "java": "java", "csharp": "csharp"}[self.language]
        lang = {"python": "Python", "java": "Java", "csharp": "C#"}[self.language]
        return (f"Complete the next line of this {lang} file. Answer with that line only, in a code block.\n\n"
                f"```{fence}\n{self.prompt(problem)}```\n", f"```{fence}\n")

    # --- judging: no execution -----------------------------------------------------------------------
    def execution(self, problem: Problem, code: dict[str, str], timeout: float | None = None) -> None:
        return None

    def judge(self, problem: Problem, code: dict[str, str], facts: Any = None) -> Verdict:
        return judge_line(code.get("completion", code.get("solution", "")), problem.reference, self.language)

    def info(self) -> dict[str, Any]:
        return super().info() | {
            "language": self.language, "lcc_balanced": self.rule.to_dict(),
            "max_prompt_tokens": self.max_prompt_tokens,
            "truncation": (f"last {self.max_prompt_tokens} tokens of the context (non-LCFT protocol)"
                           if self.max_prompt_tokens else "none: the whole file (long-context protocol)"),
            "cut": "the completion up to its first newline",
            "scoring": "exact match and edit similarity as microsoft/CodeBERT LongCoder run.py (code tokens); "
                       "BLEU: CodeXGLUE smoothed sentence BLEU-4 over code tokens (the paper does not say which)",
            "length_unit": self.counter.name + " (without BOS)", "tokenizer_sha256": self.tokenizer_sha256,
            "buckets": [b[2] for b in BUCKETS],
        }

    def summary_extra(self, rows: Sequence[dict], ks: Sequence[int]) -> dict[str, Any]:
        """Means per Fig. 9b file-length bucket (tokens of the whole context): {bucket: {n, metric: mean}}."""
        index = {p.task_id: p for p in self.problems()}
        acc: dict[str, dict[str, list[float]]] = {}
        for r in rows:
            p = index.get(r["task_id"])
            if p is None:
                continue
            b = acc.setdefault(bucket(self.file_tokens(p)), {})
            scores = r.get("scores") or {}
            for m in self.metrics:
                b.setdefault(m.name, []).append(float(scores.get(m.name, 1.0 if r.get("passed") else 0.0)))
        order = [name for _, _, name in BUCKETS]
        return {"by_bucket": {name: {"n": len(next(iter(acc[name].values())))}
                              | {m: sum(v) / len(v) for m, v in acc[name].items()}
                              for name in order if name in acc}}


def _ends_line(context: str) -> str:
    """The context as a prompt: the line to complete starts after it, so it ends with a newline."""
    return context if context.endswith("\n") else context + "\n"


class LCCPython(LCC):
    name = "lcc-python"
    language = "python"
    hub_repo = "microsoft/LCC_python"
    description = "LCC-balanced Python (548 files), single-line completion, whole file; EM / BLEU / edit sim"


class LCCJava(LCC):
    name = "lcc-java"
    language = "java"
    hub_repo = "microsoft/LCC_java"
    description = "LCC-balanced Java (412 files), single-line completion, whole file; EM / BLEU / edit sim"


class LCCCSharp(LCC):
    name = "lcc-csharp"
    language = "csharp"
    hub_repo = "microsoft/LCC_csharp"
    description = "LCC-balanced C# (512 files), single-line completion, whole file; EM / BLEU / edit sim"


TASKS = [LCCPython, LCCJava, LCCCSharp]
