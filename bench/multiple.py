"""MultiPL-E speed and agreement: per language, samples/s of evalkit (the sandbox pool) vs MultiPL-E's own
evaluator vs a bare compile+run loop, on the same programs in the same run; and whether MultiPL-E's evaluator
gives every program the same status as evalkit.

MultiPL-E's evaluator is not part of evalkit: give its folder, kept outside the repository, either MultiPL-E's
``evaluation/src`` or bigcode-evaluation-harness's ``bigcode_eval/tasks/custom_metrics/multiple_metrics``
(the same ``eval_<lang>.py`` files; its ``containerized_eval.eval_string_script`` is called, as its
``evaluation.py`` does, from a thread pool of the same width as evalkit's pool). Its commands need what its
Docker image has: javatuples at the path its ``eval_java.py`` names and Roslyn ``csc`` for C# (on Debian, a
``csc`` on PATH that runs ``mcs "$@"``).

    PYTHONPATH=. python bench/multiple.py --multiple /tmp/mpe/multiple_metrics [--langs cpp,java] \\
        [--workers 2] [--repeat 2] [--with-timeouts] [--json out.json]

Programs: the fixture programs (``tests/data/multiple/programs.json``: correct, wrong, compile errors, runtime
errors, infinite loops, per language) on the fixture data, each repetition made unique by a comment line (so no
cache answers). Infinite loops are left out of the speed figures unless ``--with-timeouts``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evalkit.registry import get_task  # noqa: E402
from evalkit.sandbox import SandboxConfig  # noqa: E402
from evalkit.sandbox.pool import Job, SandboxPool  # noqa: E402

COMMENT = {"cpp": "//", "java": "//", "php": "//", "ts": "//", "cs": "//", "sh": "#", "py": "#"}
# MultiPL-E's status -> evalkit's outcomes it agrees with
AGREES = {"OK": {"passed"}, "SyntaxError": {"compile_error"}, "Timeout": {"timeout"},
          "Exception": {"failed", "error"}, "AssertionError": {"failed"}, "ReferenceError": {"error"}}
# documented differences (see the language modules): MultiPL-E's PHP rule has no timeout, and looks for "PHP
# Parse error" on stdout where Debian's php writes it to stderr
KNOWN = {("php", "Exception", "timeout"), ("php", "Exception", "compile_error")}


def load_programs(path: Path, langs: list[str], repeat: int, with_timeouts: bool, data_dir: str):
    fx = json.loads(path.read_text())
    tasks = {lang: get_task(f"multiple-{lang}", data_dir=data_dir) for lang in langs}
    out = []
    for rep in range(repeat):
        for i, f in enumerate(fx):
            if f["lang"] not in tasks or (f["expect"] == "timeout" and not with_timeouts):
                continue
            t = tasks[f["lang"]]
            p = {q.task_id: q for q in t.problems()}[f["task_id"]]
            code = {"completion": f["completion"]}
            program = t.program(p, code) + f"\n{COMMENT[f['lang']]} sample {i}.{rep}\n"
            out.append({"lang": f["lang"], "task": t, "problem": p, "program": program, "expect": f["expect"],
                        "id": f"{i}.{rep}"})
    return tasks, out


def run_evalkit(tasks, progs, workers: int) -> tuple[float, dict]:
    paths: list[str] = []
    for t in tasks.values():
        paths += [p for p in t.sandbox_paths() if p not in paths]
    outcomes = {}
    jobs = []
    for k, pr in enumerate(progs):
        spec = pr["task"].program_spec(pr["program"])
        jobs.append(Job(k, spec))

    def on(job, facts):
        pr = progs[job.key]
        outcomes[job.key] = pr["task"].judge(pr["problem"], {}, facts).outcome

    with SandboxPool(SandboxConfig(extra_paths=tuple(paths)), workers=workers) as pool:
        t0 = time.perf_counter()  # the pool's start (once per run, ~1 s) is not counted
        pool.run(jobs, on)
        return time.perf_counter() - t0, outcomes


def run_multiple(evaluator: Path, progs, workers: int) -> tuple[float, dict]:
    if evaluator.name == "multiple_metrics":  # bigcode's copy: a package with relative imports
        sys.path.insert(0, str(evaluator.parent))
        from multiple_metrics.containerized_eval import eval_string_script  # type: ignore
    else:
        sys.path.insert(0, str(evaluator))
        from containerized_eval import eval_string_script  # type: ignore
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        res = list(ex.map(lambda pr: eval_string_script(pr["lang"], pr["program"])["status"], progs))
    return time.perf_counter() - t0, dict(enumerate(res))


BARE = {  # MultiPL-E's commands, nothing around them
    "cpp": (["g++", "{f}", "-o", "{d}/a.out", "-std=c++17"], ["{d}/a.out"]),
    "java": (["javac", "-encoding", "UTF8", "-cp", "/usr/share/java/javatuples.jar", "-d", "{d}", "{f}"],
             ["java", "-ea", "-cp", "{d}:/usr/share/java/javatuples.jar", "Problem"]),
    "php": (None, ["php", "{f}"]),
    "ts": (["tsc", "--target", "esnext", "{f}"], ["node", "{d}/main.js"]),
    "cs": (["mcs", "-d:DEBUG", "-r:System.Numerics.dll", "{f}", "-out:{d}/main.exe"], ["mono", "{d}/main.exe"]),
    "sh": (None, ["bash", "{f}"]),
    "py": (None, [sys.executable, "{f}"]),
}


def _bare_one(pr) -> int:
    lang = pr["lang"]
    build, run = BARE[lang]
    ext = {"py": "py", "sh": "sh", "php": "php", "ts": "ts", "cs": "cs", "cpp": "cpp", "java": "java"}[lang]
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, f"main.{ext}" if lang != "java" else "Problem.java")
        Path(f).write_text(pr["program"])
        env = {**os.environ, "MONO_TRACE_LISTENER": "Console.Error"}
        if build:
            r = subprocess.run([a.format(f=f, d=d) for a in build], capture_output=True, timeout=60, env=env)
            if r.returncode:
                return r.returncode
        try:
            return subprocess.run([a.format(f=f, d=d) for a in run], capture_output=True, timeout=15, env=env,
                                  cwd=d).returncode
        except subprocess.TimeoutExpired:
            return -1


def run_bare(progs, workers: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        list(ex.map(_bare_one, progs))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--multiple", required=True, help="MultiPL-E's evaluation/src, or bigcode's multiple_metrics")
    ap.add_argument("--langs", default="cpp,java,php,ts,cs,sh,py")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--with-timeouts", action="store_true")
    ap.add_argument("--programs", default=str(REPO / "tests/data/multiple/programs.json"))
    ap.add_argument("--data-dir", default=str(REPO / "tests/data/multiple"))
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    langs = [x for x in args.langs.split(",") if x]
    report = {"workers": args.workers, "cpus": os.cpu_count(), "languages": {}}
    all_agree = True
    for lang in langs:
        tasks, progs = load_programs(Path(args.programs), [lang], args.repeat, args.with_timeouts, args.data_dir)
        for t in tasks.values():
            t.sandbox_paths()  # the C++ precompiled header is built once, before timing
        te, ours = run_evalkit(tasks, progs, args.workers)
        tm, theirs = run_multiple(Path(args.multiple), progs, args.workers)
        tb = run_bare(progs, args.workers)
        n = len(progs)
        rows, disagree = [], 0
        for k, pr in enumerate(progs):
            a, b = ours[k], theirs[k]
            same = a in AGREES.get(b, set())
            known = (lang, b, a) in KNOWN
            if not same and not known:
                disagree += 1
            rows.append({"id": pr["id"], "task_id": pr["problem"].task_id, "expect": pr["expect"], "evalkit": a,
                         "multiple": b, "agree": same, "known_difference": known})
        all_agree &= disagree == 0
        fig = {"samples": n, "evalkit_s": te, "multiple_s": tm, "bare_s": tb, "evalkit_per_s": n / te,
               "multiple_per_s": n / tm, "bare_per_s": n / tb, "vs_multiple": tm / te, "vs_bare": tb / te,
               "disagreements": disagree, "rows": rows}
        report["languages"][lang] = fig
        print(f"{lang:5} n={n:3}  evalkit {n / te:6.2f}/s  MultiPL-E {n / tm:6.2f}/s  bare {n / tb:6.2f}/s  "
              f"x{tm / te:.2f} vs MultiPL-E, {100 * tb / te:.0f}% of bare; disagreements {disagree}"
              + "".join(f"\n      {r['id']} {r['task_id']} expect={r['expect']} evalkit={r['evalkit']} "
                        f"multiple={r['multiple']}{' (known difference)' if r['known_difference'] else ''}"
                        for r in rows if not r["agree"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    sys.exit(0 if all_agree else 1)


if __name__ == "__main__":
    main()
