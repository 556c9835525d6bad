"""MultiPL-E speed and agreement: per language, samples/s of evalkit (the sandbox pool) vs MultiPL-E's own
evaluator vs a bare compile+run loop, on the same programs in the same run; and whether MultiPL-E's evaluator
gives every program the same status as evalkit.

The three columns (each with ``--workers`` programs at a time, on the same programs):

* ``evalkit``: ``SandboxPool(workers=W).run`` of the task's execution specs (every isolation layer, the
  language's build and run steps, the verdict); the pool's start (once per run) is not counted;
* ``MultiPL-E``: its ``containerized_eval.eval_string_script`` (temporary file, its commands through its
  ``safe_subprocess``, which polls every 0.1 s) from a thread pool of W threads, as its ``evaluation.py`` does;
* ``bare``: MultiPL-E's commands (below) through ``subprocess.run`` from W threads: no sandbox, no polling, no
  verdict -- the floor of what running these programs costs here.

MultiPL-E's evaluator is not part of evalkit: give its folder, kept outside the repository, either MultiPL-E's
``evaluation/src`` or bigcode-evaluation-harness's ``bigcode_eval/tasks/custom_metrics/multiple_metrics``
(the same ``eval_<lang>.py`` files). Its commands need what its Docker image has: javatuples at the path its
``eval_java.py`` names and Roslyn ``csc`` for C# (on Debian, a ``csc`` on PATH that runs ``mcs "$@"``).

    PYTHONPATH=. python bench/multiple.py --multiple /tmp/mpe/multiple_metrics [--langs cpp,java] \\
        [--workers 2] [--rounds 3] [--repeat N] [--with-timeouts] [--json out.json]

Programs: the fixture programs (``tests/data/multiple/programs.json``: correct, wrong, compile errors, runtime
errors, infinite loops, per language) on the fixture data, each copy made unique by a comment line (so no cache
answers); ``--repeat`` copies per round (default: enough for about a second of evalkit's time per round).
Infinite loops are left out of the speed figures unless ``--with-timeouts``. The machine is shared: the three
columns take turns, round after round (the order rotates), and each is warmed up once before the first round;
the figures are the samples over the summed time of all rounds, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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
from evalkit.sandbox.spec import ExecSpec, Step  # noqa: E402

COMMENT = {"cpp": "//", "java": "//", "php": "//", "ts": "//", "cs": "//", "sh": "#", "py": "#"}
REPEAT = {"php": 8, "sh": 12, "py": 8}  # copies of the fixture per round where one copy runs in ~0.1 s
# MultiPL-E's status -> evalkit's outcomes it agrees with
AGREES = {"OK": {"passed"}, "SyntaxError": {"compile_error"}, "Timeout": {"timeout"},
          "Exception": {"failed", "error"}, "AssertionError": {"failed"}, "ReferenceError": {"error"}}
# documented differences (see the language modules): MultiPL-E's PHP rule has no timeout, and looks for "PHP
# Parse error" on stdout where Debian's php writes it to stderr
KNOWN = {("php", "Exception", "timeout"), ("php", "Exception", "compile_error")}
# MultiPL-E's compilers run under a 15 s wall clock: one it kills (exit code -1, on a loaded machine) is its
# "SyntaxError", whatever the program; such a sample compares nothing and is counted apart
KILLED = ("SyntaxError", -1)


def load_programs(path: Path, lang: str, copies: int, with_timeouts: bool, data_dir: str, tag: str = ""):
    fx = json.loads(path.read_text())
    t = get_task(f"multiple-{lang}", data_dir=data_dir)
    problems = {q.task_id: q for q in t.problems()}
    out = []
    for rep in range(copies):
        for i, f in enumerate(fx):
            if f["lang"] != lang or (f["expect"] == "timeout" and not with_timeouts):
                continue
            p = problems[f["task_id"]]
            program = t.program(p, {"completion": f["completion"]}) + f"\n{COMMENT[lang]} sample {i}.{rep}{tag}\n"
            out.append({"lang": lang, "task": t, "problem": p, "program": program, "expect": f["expect"],
                        "id": f"{i}.{rep}"})
    return t, out


class Evalkit:
    def __init__(self, task, workers: int) -> None:
        self.pool = SandboxPool(SandboxConfig(extra_paths=tuple(task.sandbox_paths())), workers=workers)
        self.pool.start()
        # warm: each worker has run a step before the clock starts (the pool's start is once per run, not counted)
        trivial = [Job(i, ExecSpec(steps=(Step(argv=("true",), name="run"),))) for i in range(workers)]
        self.pool.run(trivial, lambda *_: None)

    def __call__(self, progs) -> tuple[float, dict]:
        outcomes = {}
        jobs = [Job(k, pr["task"].program_spec(pr["program"])) for k, pr in enumerate(progs)]

        def on(job, facts):
            pr = progs[job.key]
            outcomes[job.key] = pr["task"].judge(pr["problem"], {}, facts).outcome

        t0 = time.perf_counter()
        self.pool.run(jobs, on)
        return time.perf_counter() - t0, outcomes


class Multiple:
    def __init__(self, evaluator: Path, workers: int) -> None:
        if evaluator.name == "multiple_metrics":  # bigcode's copy: a package with relative imports
            sys.path.insert(0, str(evaluator.parent))
            from multiple_metrics.containerized_eval import eval_string_script  # type: ignore
        else:
            sys.path.insert(0, str(evaluator))
            from containerized_eval import eval_string_script  # type: ignore
        self.eval, self.workers = eval_string_script, workers

    def __call__(self, progs) -> tuple[float, dict]:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.workers) as ex:
            res = list(ex.map(lambda pr: self.eval(pr["lang"], pr["program"]), progs))
        return time.perf_counter() - t0, {k: (r["status"], r["exit_code"]) for k, r in enumerate(res)}


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
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, f"main.{lang}" if lang != "java" else "Problem.java")
        Path(f).write_text(pr["program"])
        env = {**os.environ, "MONO_TRACE_LISTENER": "Console.Error"}
        if build:
            r = subprocess.run([a.format(f=f, d=d) for a in build], capture_output=True, timeout=60, env=env)
            if r.returncode:
                return r.returncode
        p = subprocess.Popen([a.format(f=f, d=d) for a in run], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, cwd=d, start_new_session=True)
        try:
            p.communicate(timeout=15)
            return p.returncode
        except subprocess.TimeoutExpired:
            return -1
        finally:  # what the program started (a Bash loop's subshells) ends with it
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.communicate()


class Bare:
    def __init__(self, workers: int) -> None:
        self.workers = workers

    def __call__(self, progs) -> tuple[float, dict]:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.workers) as ex:
            codes = list(ex.map(_bare_one, progs))
        return time.perf_counter() - t0, dict(enumerate(codes))


def compare(lang: str, progs, ours: dict, theirs: dict) -> tuple[list[dict], int]:
    rows, disagree = [], 0
    for k, pr in enumerate(progs):
        a, (b, code) = ours[k], theirs[k]
        same = a in AGREES.get(b, set())
        known = (lang, b, a) in KNOWN
        killed = not same and (b, code) == KILLED
        disagree += not same and not known and not killed
        rows.append({"id": pr["id"], "task_id": pr["problem"].task_id, "expect": pr["expect"], "evalkit": a,
                     "multiple": b, "agree": same, "known_difference": known, "multiple_compiler_killed": killed})
    return rows, disagree


def bench_language(lang: str, args) -> dict:
    copies = args.repeat or REPEAT.get(lang, 1)
    task, _ = load_programs(Path(args.programs), lang, 1, args.with_timeouts, args.data_dir)
    task.sandbox_paths()  # the toolchain's caches (C++ precompiled header, ...) are built before timing
    methods = {"evalkit": Evalkit(task, args.workers), "multiple": Multiple(Path(args.multiple), args.workers),
               "bare": Bare(args.workers)}
    _, warm = load_programs(Path(args.programs), lang, 1, False, args.data_dir, tag=" warm-up")
    for m in methods.values():  # first use of each toolchain and page cache, not counted
        m(warm[:1])
    load0 = os.getloadavg()
    total = {m: 0.0 for m in methods}
    n, rows, disagree, rounds = 0, [], 0, []
    names = list(methods)
    for r in range(args.rounds):
        _, progs = load_programs(Path(args.programs), lang, copies, args.with_timeouts, args.data_dir, tag=f" r{r}")
        res, order = {}, names[r % 3:] + names[:r % 3]
        for m in order:
            res[m] = methods[m](progs)
            total[m] += res[m][0]
        n += len(progs)
        rw, d = compare(lang, progs, res["evalkit"][1], res["multiple"][1])
        rows += rw
        disagree += d
        rounds.append({m: len(progs) / res[m][0] for m in names})
    methods["evalkit"].pool.close()
    load1 = os.getloadavg()
    fig = {"samples": n, "programs_per_round": n // args.rounds, "rounds": args.rounds,
           **{f"{m}_s": total[m] for m in names}, **{f"{m}_per_s": n / total[m] for m in names},
           "vs_multiple": total["multiple"] / total["evalkit"], "vs_bare": total["bare"] / total["evalkit"],
           "per_round": rounds, "load_before": load0, "load_after": load1,
           "disagreements": disagree, "rows": rows}
    spread = [rd["evalkit"] / rd["multiple"] for rd in rounds]
    print(f"{lang:5} n={n:3}  evalkit {n / total['evalkit']:6.2f}/s  MultiPL-E {n / total['multiple']:6.2f}/s  "
          f"bare {n / total['bare']:6.2f}/s  x{fig['vs_multiple']:.2f} vs MultiPL-E (rounds {min(spread):.2f}-"
          f"{max(spread):.2f}), {100 * fig['vs_bare']:.0f}% of bare; load {load0[0]:.1f}->{load1[0]:.1f}; "
          f"disagreements {disagree}"
          + "".join(f"\n      {r['id']} {r['task_id']} expect={r['expect']} evalkit={r['evalkit']} "
                    f"multiple={r['multiple']}{' (known difference)' if r['known_difference'] else ''}"
                    f"{' (MultiPL-E killed its compiler at 15 s)' if r['multiple_compiler_killed'] else ''}"
                    for r in rows if not r["agree"] and (r["id"].endswith(".0") or not r["known_difference"])),
          flush=True)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--multiple", required=True, help="MultiPL-E's evaluation/src, or bigcode's multiple_metrics")
    ap.add_argument("--langs", default="cpp,java,php,ts,cs,sh,py")
    ap.add_argument("--workers", type=int, default=2, help="programs at a time, for each of the three columns")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=0, help="copies of the fixture per round (0: per language)")
    ap.add_argument("--with-timeouts", action="store_true")
    ap.add_argument("--programs", default=str(REPO / "tests/data/multiple/programs.json"))
    ap.add_argument("--data-dir", default=str(REPO / "tests/data/multiple"))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--stock-mono", action="store_true",
                    help="MultiPL-E's and the bare column's mono without ahead-of-time images (MONO_ENV_OPTIONS="
                         "-O=-aot), as on a stock Debian machine, where no image of mcs.exe exists; evalkit's steps "
                         "set their own MONO_ENV_OPTIONS")
    args = ap.parse_args()
    if args.stock_mono:
        os.environ["MONO_ENV_OPTIONS"] = "-O=-aot"
    print(f"workers {args.workers} per column, {os.cpu_count()} CPUs; evalkit = the sandbox pool, MultiPL-E = its "
          f"eval_string_script, bare = its commands through subprocess.run", flush=True)
    report = {"workers": args.workers, "cpus": os.cpu_count(), "stock_mono": args.stock_mono, "languages": {}}
    for lang in [x for x in args.langs.split(",") if x]:
        report["languages"][lang] = bench_language(lang, args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    sys.exit(0 if all(v["disagreements"] == 0 for v in report["languages"].values()) else 1)


if __name__ == "__main__":
    main()
