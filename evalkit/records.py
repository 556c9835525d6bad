"""The records of a run, typed: the key of one sample, a generation and a verdict as journaled.

A sample is ``(task, task_id, sample_idx)``; its verdict is keyed by the hash of the spec that judged it, so a
changed spec (another program, other tests, other limits) is judged again.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple


class SampleKey(NamedTuple):
    task: str
    task_id: str
    sample_idx: int

    @classmethod
    def of(cls, rec: dict) -> SampleKey:
        """The key of a generation, verdict or sample row."""
        return cls(rec["task"], rec["task_id"], rec["sample_idx"])


class VerdictKey(NamedTuple):
    task: str
    task_id: str
    sample_idx: int
    spec_sha256: str | None

    @classmethod
    def of(cls, rec: dict) -> VerdictKey:
        return cls(rec["task"], rec["task_id"], rec["sample_idx"], rec.get("spec_sha256"))


def code_of(rec: dict) -> dict[str, str]:
    """The sample's code in a generation record: {"completion": ...} or {"solution": ...}."""
    return {"solution": rec["solution"]} if "solution" in rec else {"completion": rec.get("completion") or ""}


def verdict_record(key: VerdictKey, outcome: str, detail: str, scores: dict[str, float],
                   duration_s: float) -> dict[str, Any]:
    """A line of executions.jsonl."""
    return {"task": key.task, "task_id": key.task_id, "sample_idx": key.sample_idx, "spec_sha256": key.spec_sha256,
            "outcome": outcome, "detail": detail, "scores": scores, "duration_s": duration_s}


def sha256_text(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()
