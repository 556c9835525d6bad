"""A sample's two verdicts, the ``base`` score block of results.json, and evalplus-style ``eval_results.json``.

The verdict carries the two scores (``scores["pass"]``: plus, ``scores["base"]``) and evalplus's statuses in its
detail (``base: pass; plus: fail: input #i/n ...`` when only plus failed), written by ``evalkit.plus.spec``
from the driver's facts, never by the sample.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

_FAIL = re.compile(r"(?:AssertionError: )?(?:base: pass; )?(base|plus): (fail|timeout)(?:: input #(\d+)/)?")


def base_passed(row: dict) -> bool:
    scores = row.get("scores") or {}
    if "base" in scores:
        return scores["base"] >= 1
    return row.get("outcome") == "passed" or (row.get("outcome") == "failed"
                                              and (row.get("detail") or "").startswith("AssertionError: base: pass;"))


def statuses(outcome: str, detail: str) -> tuple[str, str | None, int | None]:
    """(base status, plus status, index of the first failing input) in evalplus's words (pass, fail, timeout).

    evalkit runs the plus inputs only when the base inputs pass (plus counts only then); otherwise the plus
    status is ``None``, as in evalplus's base-only mode."""
    if outcome == "passed":
        return "pass", "pass", None
    m = _FAIL.match(detail or "")
    if outcome != "failed" or m is None:
        return ("timeout" if outcome == "timeout" else "fail"), None, None
    idx = int(m.group(3)) if m.group(3) is not None else None
    if m.group(1) == "base":
        return m.group(2), None, idx
    return "pass", m.group(2), idx


def eval_results(task: Any, rows: Sequence[dict]) -> dict[str, Any]:
    """evalplus's ``eval_results.json`` (evalplus/evaluate.py, fast_check mode) from evalkit's sample rows."""
    from evalkit.plus.data import mbpp_serialize_inputs

    problems = {p.task_id: p for p in task.problems()}
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "hash": task.dataset_md5, "eval": {}}
    for r in sorted(rows, key=lambda r: (r["task_id"], r["sample_idx"])):
        p = problems[r["task_id"]]
        base, plus, idx = statuses(r["outcome"], r.get("detail") or "")
        fails: dict[str, list] = {"base": [], "plus": []}
        failed_kind = "base" if base != "pass" else "plus"
        if idx is not None:
            inputs = task.raw_inputs(p, failed_kind)
            if idx < len(inputs):
                fails[failed_kind] = [inputs[idx]]
        tid = p.meta["evalplus_id"]
        solution = r.get("solution")
        if solution is None:
            solution = p.meta["raw_prompt"] + (r.get("completion") or "")
        out["eval"].setdefault(tid, []).append({
            "task_id": tid, "solution": solution, "base_status": base, "plus_status": plus,
            "base_fail_tests": fails["base"], "plus_fail_tests": fails["plus"],
        })
    if task.dataset == "mbpp":
        for tid, lst in out["eval"].items():
            for e in lst:
                e["base_fail_tests"] = mbpp_serialize_inputs(tid, e["base_fail_tests"])
                e["plus_fail_tests"] = mbpp_serialize_inputs(tid, e["plus_fail_tests"])
    return out


def write_eval_results(tasks: Sequence[Any], run_dir: Any) -> str:
    """Write ``eval_results.json`` (one EvalPlus task) or ``<task>_eval_results.json`` (several) into the run dir."""
    import json
    from pathlib import Path

    from evalkit.store import atomic_write_json

    rows = [json.loads(line) for line in (Path(run_dir) / "samples.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    written = []
    for t in tasks:
        path = Path(run_dir) / ("eval_results.json" if len(tasks) == 1 else f"{t.name}_eval_results.json")
        atomic_write_json(path, eval_results(t, [r for r in rows if r["task"] == t.name]))
        written.append(str(path))
    return ", ".join(written)
