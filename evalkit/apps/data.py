"""APPS data (Hendrycks et al. 2021; ``codeparrot/apps``, MIT) and the Code Llama paper's prompts (Fig. 14).

Files: ``test.jsonl`` / ``train.jsonl`` as in the hub repository (one JSON object per line: ``problem_id``,
``question``, ``solutions`` (a JSON list as a string), ``input_output`` (a JSON object as a string: ``inputs``,
``outputs``, optional ``fn_name``), ``difficulty``, ``url``, ``starter_code``), read from ``DIR/apps/`` (or ``DIR/``)
with ``--data-dir DIR`` / ``$EVALKIT_DATA_DIR``, else downloaded from the hub (``hf_hub_download``).

Prompts (the paper's appendix F and Fig. 14): the question guide is "read from and write to standard IO" for
standard-input problems and "use the provided function signature" for call-based ones; ``{PROMPT}`` is the
question, followed by the starter code (a blank line between) when the problem has one. Two-shot (base
models): two ``Q: ... A: ```<answer>``` `` blocks, then the problem's ``Q:`` and ``A:``. The shots are not
published: evalkit takes them from the train split by a fixed rule (``pick_shots``), one standard-input and one
call-based problem, and records their ids and the sha256 of the rendered shots in results.json.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from evalkit.datafiles import find_data_file, read_jsonl
from evalkit.errors import UserError
from evalkit.task import sha256_file

HUB_ID = "codeparrot/apps"
FIELDS = ("problem_id", "question", "solutions", "input_output", "difficulty")
LEVELS = ("introductory", "interview", "competition")
TEST_COUNTS = {"introductory": 1000, "interview": 3000, "competition": 1000}  # the APPS paper's test split

GUIDE_STDIN = "read from and write to standard IO"
GUIDE_CALL = "use the provided function signature"
INTRO = ("Write a python code to solve the following coding problem that obeys the constraints and passes the "
         "example test cases. The output code needs to {guide}. Please wrap your code answer using ```:\n{prompt}\n")
SHOT_MAX_QUESTION = 1200  # characters: shots short enough to leave the context to the problem


def split_file(data_dir: Path | None, split: str, what: str) -> tuple[list[dict], str, str]:
    """Rows of ``<split>.jsonl``: (rows, sha256 of the file, where it came from)."""
    name = f"{split}.jsonl"
    if data_dir is not None:
        f = find_data_file(data_dir, (f"apps/{name}", name), what)
    else:
        from evalkit.hub import offline_message, offline_reason

        offline_reason()
        try:
            from huggingface_hub import hf_hub_download

            f = Path(hf_hub_download(HUB_ID, name, repo_type="dataset"))
        except Exception as e:
            raise UserError(f"cannot load APPS {split} ({HUB_ID}): {offline_message() or e}; give local files "
                            "with --data-dir (DIR/apps/test.jsonl, DIR/apps/train.jsonl)") from None
    return read_jsonl(f, FIELDS), sha256_file(f), str(f)


def _json_field(row: dict, key: str, empty: Any) -> Any:
    raw = row.get(key)
    if raw in (None, ""):
        return empty
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise UserError(f"APPS problem {row.get('problem_id')}: field {key} is not JSON") from None


def parse(row: dict) -> dict[str, Any]:
    """A row with ``solutions`` and ``input_output`` decoded."""
    io = _json_field(row, "input_output", {})
    return {"problem_id": int(row["problem_id"]), "question": row["question"],
            "solutions": _json_field(row, "solutions", []), "io": io, "fn_name": io.get("fn_name"),
            "difficulty": row["difficulty"], "starter_code": row.get("starter_code") or "",
            "url": row.get("url", "")}


def problem_text(p: dict[str, Any]) -> str:
    return p["question"].strip("\n") + ("\n\n" + p["starter_code"].strip("\n").rstrip() if p["starter_code"].strip() else "")


def intro(p: dict[str, Any]) -> str:
    return INTRO.format(guide=GUIDE_CALL if p["fn_name"] else GUIDE_STDIN, prompt=problem_text(p))


def two_shot(shots: list[dict[str, Any]], p: dict[str, Any]) -> str:
    blocks = [f"Q: {intro(s)}A: ```\n{s['solutions'][0].strip(chr(10))}\n```\n" for s in shots]
    return "".join(blocks) + f"Q: {intro(p)}A:"


def zero_shot_instruct(p: dict[str, Any]) -> str:
    return f"[INST] {intro(p)}[/INST]"


def pick_shots(train: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rule: the introductory problem of lowest id of each kind (standard input, then call-based) with a
    solution, tests and a question of at most SHOT_MAX_QUESTION characters."""
    out = []
    for call_based in (False, True):
        ok = [p for p in train if p["difficulty"] == "introductory" and p["solutions"] and p["io"].get("inputs")
              and bool(p["fn_name"]) == call_based and len(p["question"]) <= SHOT_MAX_QUESTION]
        if not ok:
            raise UserError("the APPS train split has no problem that fits the few-shot rule "
                            f"({'call-based' if call_based else 'standard input'}, introductory)")
        out.append(min(ok, key=lambda p: p["problem_id"]))
    return out


def shots_record(shots: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(f"{s['problem_id']}\n{intro(s)}{s['solutions'][0]}\n" for s in shots)
    return {"split": "train", "problem_ids": [s["problem_id"] for s in shots],
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def extract_answer(text: str) -> str:
    """The code of the first ``` block (an info string such as ``python`` on the opening line is dropped); the
    text up to a closing fence, or to its end."""
    start = text.find("```")
    if start == -1:
        return text
    body = text[start + 3:]
    first, nl, rest = body.partition("\n")
    if nl and (not first.strip() or first.strip().isidentifier()):
        body = rest
    end = body.find("```")
    return body if end == -1 else body[:end]
