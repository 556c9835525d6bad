"""Issue 18: a task declares its metrics; a metric without execution (exact match) runs through run, compare,
check and report like pass@k, and needs no sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import evalkit

EXTRA = str(Path(__file__).parent / "tasks_extra")


def test_exact_match_task_runs_end_to_end(tmp_path):
    out = tmp_path / "run"
    r = evalkit("run", "--tasks-dir", EXTRA, "--tasks", "tiny-exact", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    block = res["tasks"]["tiny-exact"]
    assert list(block["metrics"]) == ["exact_match", "prefix_match"]
    em = block["metrics"]["exact_match"]
    assert em["kind"] == "mean" and em["mean"] == 1.0 and em["mean_ci"] == [1.0, 1.0]
    assert em["problems"]["Q3"] == [1, 1.0]
    assert "pass@1" not in block  # no pass@k for a task that does not declare it
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(r["scores"] == {"exact_match": 1.0, "prefix_match": 1.0} for r in rows)
    # nothing ran in a sandbox: every verdict was a comparison
    assert all(r["duration_s"] == 0.0 for r in rows)
