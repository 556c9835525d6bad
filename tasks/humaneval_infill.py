"""HumanEval-infilling (Bavarian et al. 2022): fill the hole between a prefix and a suffix.

Four subsets, as in the Code Llama paper's Table 14 (pass@1, greedy, PSM and SPM): single-line (1033),
multi-line (5815), random-span (1640) and random-span-light (164). The backend lays the prefix and suffix
out with the model's own fill-in-the-middle tokens (``--fim psm|spm``, see ``evalkit/backends/fim.py``).
Program = prompt + middle + suffix + "\\n" + test + "\\n" + ``check(entry_point)``.

Stop rule (``--infill-stop``, recorded as ``infill_stop``): every subset stops at the model's end-of-infill token.
Single-line infilling also stops at the first newline by default (``newline``: the InCoder convention, Fried et al.
2022, for one-line middles); ``eot`` stops only at the end-of-infill token, as Meta's reference code (``generation.py`` text_infilling) does. The Code Llama paper does
not say which it used.

Caps (tokens generated, counted with the Code Llama tokenizer, end-of-infill token included): the longest
canonical middle is 54 (single-line), 297 (multi-line), 192 (random span), 130 (random span light); the caps
128 / 512 / 256 / 256 cut none.

Records are not independent (1,033 / 5,815 / 1,640 records come from the 164 HumanEval problems): confidence
intervals and paired tests resample the source problem (``cluster_of``).

Data: ``DIR/humaneval-infilling/<file>.jsonl.gz`` (or ``DIR/<file>.jsonl.gz``) with ``--data-dir DIR`` or
``$EVALKIT_DATA_DIR``, else the hub (``loubnabnl/humaneval_infilling``, one config per file, split ``test``).
"""

from __future__ import annotations

import re

from evalkit.datafiles import find_data_file, read_jsonl
from evalkit.task import FimPrompt, Problem, Task, data_dir, load_hub_rows, sha256_file

HUB_ID = "loubnabnl/humaneval_infilling"
FIELDS = ("task_id", "entry_point", "prompt", "suffix", "canonical_solution", "test")


class HumanEvalInfill(Task):
    infilling = True
    stop_sequences = ()
    timeout = 3.0
    single_line = False
    default_max_new_tokens = 256
    subset = ""
    prompt_format = "FIM: prefix = prompt, suffix = suffix; layout from the model's FIM tokens (--fim psm|spm)"
    infill_stop = "eot"  # "newline": also stop at the first newline (single-line default); "eot": end-of-infill only
    cluster_by = "source HumanEval problem"

    @property
    def stop_at_newline(self) -> bool:
        return self.infill_stop == "newline"

    def cluster_of(self, task_id: str) -> str | None:
        m = re.search(r"HumanEval/\d+", task_id)
        return m.group(0) if m else None

    def load(self) -> tuple[list[Problem], str, str]:
        name = f"HumanEval-{self.subset}.jsonl.gz"
        d = data_dir(self.data_dir)
        if d is not None:
            f = find_data_file(d, (f"humaneval-infilling/{name}", name), self.name)
            rows, sha, source = read_jsonl(f, FIELDS), sha256_file(f), str(f)
        else:
            rows, sha, source = load_hub_rows("HumanEval-infilling", HUB_ID, f"HumanEval-{self.subset}", split="test")
        problems = [
            Problem(task_id=r["task_id"], prompt=r["prompt"], reference=r["canonical_solution"], test=r["test"],
                    entry_point=r["entry_point"], suffix=r["suffix"])
            for r in rows
        ]
        return problems, sha, source

    def prompt(self, problem: Problem) -> FimPrompt:
        return FimPrompt(prefix=problem.prompt, suffix=problem.suffix)

    def postprocess(self, problem: Problem, generation: str) -> str:
        if self.stop_at_newline and "\n" in generation:
            return generation[: generation.index("\n") + 1]
        return generation

    def info(self) -> dict:
        return super().info() | {"single_line": self.single_line, "infill_stop": self.infill_stop}


class SingleLine(HumanEvalInfill):
    name = "humaneval-infill-single"
    description = "HumanEval single-line infilling (1033), FIM PSM/SPM, greedy pass@1"
    subset = "SingleLineInfilling"
    single_line = True
    infill_stop = "newline"
    default_max_new_tokens = 128


class MultiLine(HumanEvalInfill):
    name = "humaneval-infill-multi"
    description = "HumanEval multi-line infilling (5815), FIM PSM/SPM, greedy pass@1"
    subset = "MultiLineInfilling"
    default_max_new_tokens = 512  # 17 canonical middles need 257-297 tokens


class RandomSpan(HumanEvalInfill):
    name = "humaneval-infill-random"
    description = "HumanEval random-span infilling (1640), FIM PSM/SPM, greedy pass@1"
    subset = "RandomSpanInfilling"


class RandomSpanLight(HumanEvalInfill):
    name = "humaneval-infill-random-light"
    description = "HumanEval random-span infilling, light (164), FIM PSM/SPM, greedy pass@1"
    subset = "RandomSpanInfillingLight"


TASKS = [SingleLine, MultiLine, RandomSpan, RandomSpanLight]
