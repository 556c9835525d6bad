"""Report speed: `evalkit report` on runs of HumanEval-infilling multi-line (5,815 records each).

    python bench/report.py [--runs 2] [--samples 1]

Builds results.json files with the real layout (per-problem [n, c] for every record, pass@k with CIs from
evalkit.metrics), then times the whole `evalkit report` verb in this process. Target: <= 3 s for a 5,815-record
report (it took 12-23 s). Prints the seconds and the ratio against an anchor: loading the same runs (load_run).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from evalkit.cli import main
from evalkit.metrics import summarize
from evalkit.results import load_run


def make_run(d: Path, name: str, n_records: int, samples: int, rate: float, seed: int) -> Path:
    rng = random.Random(seed)
    problems = {}
    for i in range(n_records):
        tid = f"MultiLineInfilling/HumanEval/{i // 36}/L{(i % 36) // 6}_L{i % 6}"
        problems[tid] = [samples, sum(rng.random() < rate for _ in range(samples))]
    task = {"n_problems": n_records, "n_samples_per_problem": samples,
            **summarize({k: tuple(v) for k, v in problems.items()}, (1, 10, 100)), "problems": problems}
    out = d / name
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"model": {"id": name}, "tasks": {"humaneval-infill-multi": task}}))
    return out


def run() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--records", type=int, default=5815)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        runs = [str(make_run(d, f"run{i}", a.records, a.samples, 0.4 + 0.1 * i, i)) for i in range(a.runs)]
        t0 = time.perf_counter()
        for r in runs:
            load_run(r)
        anchor = time.perf_counter() - t0
        t0 = time.perf_counter()
        rc = main(["report", *runs, "-o", str(d / "report.html")])
        took = time.perf_counter() - t0
        assert rc == 0
        print(f"report: {a.runs} runs x {a.records} records x {a.samples} samples: {took:.2f} s "
              f"(target <= 3 s); loading them: {anchor:.3f} s (ratio {took / max(anchor, 1e-9):.0f}x)")


if __name__ == "__main__":
    sys.exit(run())
