"""Compare runs: pass@k with confidence intervals, deltas, paired per-problem tests; and the CI gate.

Paired tests use only the problems both runs scored. With one sample per problem on each side the test is an
exact McNemar test on the problems that flipped; otherwise a paired bootstrap over problems of the difference
in per-problem pass@1 (c/n), two-sided. Records that are not independent (infilling: many records per HumanEval
problem, ``clusters`` in results.json) get a paired cluster bootstrap that resamples the source problems. A
reference table (the paper) has no per-problem data: it gets deltas but no p-value.

Every cell whose protocol differs from the first column's (decoding, problems, dataset, prompt, chat, FIM, caps;
see ``evalkit.protocol``) is marked ``[n]`` with a footnote saying what differs; ``check`` refuses to gate across
such a difference unless ``--allow-mismatch``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.errors import UserError
from evalkit.results import RunResult, load_run


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b = passed only in A, c = passed only in B."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(diffs: np.ndarray, n_boot: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value that the mean per-problem difference is 0 (percentile bootstrap over problems)."""
    if len(diffs) == 0 or np.all(diffs == 0):
        return 1.0
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(n_boot, len(diffs)))].mean(axis=1)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return float(min(1.0, max(p, 1.0 / n_boot)))


def cluster_paired_bootstrap(diffs: np.ndarray, groups: np.ndarray, n_boot: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value that the mean per-record difference is 0, resampling whole clusters of records."""
    if len(diffs) == 0 or np.all(diffs == 0):
        return 1.0
    _, g = np.unique(groups, return_inverse=True)
    sums, sizes = np.bincount(g, weights=diffs), np.bincount(g).astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    means = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return float(min(1.0, max(p, 1.0 / n_boot)))


@dataclass
class Paired:
    p_value: float
    method: str
    n_shared: int
    only_a: list[str]  # problems better in A (passed only in A when n = 1)
    only_b: list[str]


def paired_test(a: dict[str, tuple[int, int]], b: dict[str, tuple[int, int]],
                clusters: dict[str, str] | None = None) -> Paired | None:
    """``clusters`` (task_id -> source problem): records of one cluster are dependent; resample clusters."""
    shared = sorted(set(a) & set(b), key=_natural)
    if not shared:
        return None
    ra = np.array([a[t][1] / a[t][0] for t in shared])
    rb = np.array([b[t][1] / b[t][0] for t in shared])
    better_a = [t for t, x, y in zip(shared, ra, rb) if x > y]
    better_b = [t for t, x, y in zip(shared, ra, rb) if y > x]
    if clusters:
        groups = np.array([clusters.get(t) or t for t in shared])
        if len(set(groups.tolist())) < len(shared):
            return Paired(cluster_paired_bootstrap(rb - ra, groups), "cluster-bootstrap", len(shared), better_a,
                          better_b)
    if all(a[t][0] == 1 and b[t][0] == 1 for t in shared):
        return Paired(mcnemar_exact(len(better_a), len(better_b)), "mcnemar-exact", len(shared), better_a, better_b)
    return Paired(paired_bootstrap(rb - ra), "paired-bootstrap", len(shared), better_a, better_b)


def _natural(s: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s)]


def metrics_of(runs: list[RunResult], task: str) -> list[str]:
    ks = sorted({int(m[5:]) for r in runs for m in r.tasks.get(task, {}) if re.fullmatch(r"pass@\d+", m)})
    return [f"pass@{k}" for k in ks]


def clusters_of(runs: list[RunResult], task: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in runs:
        out |= r.clusters(task)
    return out


def build(runs: list[RunResult]) -> list[dict[str, Any]]:
    """One row per (task, metric): the value and CI of each run, its delta and p-value against the first, and
    what in its protocol differs from the first run's (``protocol_differences``)."""
    from evalkit.protocol import differences

    tasks: list[str] = []
    measured = [r for r in runs if not r.reference] or runs  # a paper's tasks that no run has get no row
    for r in measured:
        tasks += [t for t in r.tasks if t not in tasks]
    base = runs[0]
    rows = []
    for task in tasks:
        cl = clusters_of(runs, task)
        tests = [None] + [paired_test(base.problems(task), r.problems(task), cl) for r in runs[1:]]
        for metric in metrics_of(runs, task):
            cells = []
            for i, r in enumerate(runs):
                v = r.value(task, metric)
                cell: dict[str, Any] = {"run": r.name, "value": v, "ci": r.ci(task, metric),
                                        "n_problems": r.tasks.get(task, {}).get("n_problems")}
                if i > 0 and v is not None and base.value(task, metric) is not None:
                    cell["delta"] = v - base.value(task, metric)  # type: ignore[operator]
                    t = tests[i]
                    if metric == "pass@1" and t is not None:
                        cell |= {"p_value": t.p_value, "test": t.method, "n_shared": t.n_shared}
                    diff = differences(base.protocol(task), r.protocol(task), metric)
                    if diff:
                        cell["protocol_differences"] = diff
                cells.append(cell)
            rows.append({"task": task, "metric": metric, "cells": cells})
    return rows


def _signed(points: float) -> str:
    """A signed difference in points, one decimal, never '-0.0'."""
    s = f"{points:+.1f}"
    return "+0.0" if s == "-0.0" else s


def footnotes(rows: list[dict[str, Any]]) -> list[str]:
    """One line per cell whose protocol differs from the first column's; numbering follows ``cell_text``."""
    out = []
    for row in rows:
        for c in row["cells"]:
            if c.get("protocol_differences"):
                out.append(f"[{len(out) + 1}] {row['task']} {row['metric']}, {c['run']}: "
                           + "; ".join(c["protocol_differences"]))
    return out


def _marked(rows: list[dict[str, Any]]) -> list[list[str]]:
    body, n = [], 0
    for row in rows:
        line = [row["task"], row["metric"]]
        for c in row["cells"]:
            s = cell_text(c)
            if c.get("protocol_differences"):
                n += 1
                s += f" [{n}]"
            line.append(s)
        body.append(line)
    return body


LEGEND = ("Values in %, [95% CI], (delta vs the first run in points, p-value of a paired test on shared problems). "
          "[n]: the protocol differs from the first column's, see the notes below.")


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}"


def cell_text(c: dict[str, Any], with_ci: bool = True) -> str:
    if c["value"] is None:
        return ""
    s = _pct(c["value"])
    if with_ci and c.get("ci"):
        s += f" [{_pct(c['ci'][0])}, {_pct(c['ci'][1])}]"
    if "delta" in c:
        s += f" ({_signed(100 * c['delta'])}"
        if "p_value" in c:
            s += f", p={c['p_value']:.3g}"
            if c["n_shared"] != c.get("n_problems"):
                s += f" on {c['n_shared']} shared"
        s += ")"
    return s


def render(rows: list[dict[str, Any]], runs: list[RunResult], fmt: str) -> str:
    header = ["task", "metric"] + [r.name for r in runs]
    body = _marked(rows)
    notes = footnotes(rows)
    if fmt == "json":
        return json.dumps({"runs": [{"name": r.name, "model": r.model, "reference": r.reference} for r in runs],
                           "rows": rows}, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["task", "metric", "run", "value", "ci_low", "ci_high", "delta", "p_value", "test",
                    "protocol_differences"])
        for row in rows:
            for c in row["cells"]:
                ci = c.get("ci") or (None, None)
                w.writerow([row["task"], row["metric"], c["run"], c["value"], ci[0], ci[1], c.get("delta"),
                            c.get("p_value"), c.get("test"), "; ".join(c.get("protocol_differences") or [])])
        return out.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in body]
        return "\n".join(lines) + "\n\n" + LEGEND + "\n" + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt_row = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    table = "\n".join([fmt_row(header), fmt_row(["-" * w for w in widths])] + [fmt_row(r) for r in body])
    return table + "\n\n" + LEGEND + "\n" + "".join(n + "\n" for n in notes)


def flips(runs: list[RunResult]) -> str:
    a, b = runs[0], runs[1]
    out = []
    for task in a.tasks:
        t = paired_test(a.problems(task), b.problems(task), clusters_of([a, b], task))
        if t is None:
            continue
        out.append(f"{task}: {len(t.only_b)} better in {b.name}, {len(t.only_a)} better in {a.name} "
                   f"({t.n_shared} shared problems)")
        out += [f"  + {tid}" for tid in t.only_b] + [f"  - {tid}" for tid in t.only_a]
    return "\n".join(out) + "\n"


def cmd_compare(args: Any) -> int:
    runs = [load_run(s) for s in args.runs]
    rows = build(runs)
    sys.stdout.write(render(rows, runs, args.format))
    if args.per_problem:
        if len(runs) < 2:
            raise UserError("--per-problem needs two runs")
        sys.stdout.write("\n" + flips(runs))
    return 0


def check(run: RunResult, base: RunResult, max_drop: float, alpha: float,
          allow_mismatch: bool = False) -> tuple[bool, list[str]]:
    """(ok, reasons). A task fails when pass@1 dropped by more than max_drop and the drop is significant.
    A task whose protocol or dataset differs from the baseline's is not gated (UserError) unless allowed."""
    from evalkit.protocol import differences

    reasons = []
    ok = True
    tasks = list(base.tasks)
    if base.reference:  # a paper table: judge the tasks the run has
        tasks = [t for t in tasks if t in run.tasks]
        if not tasks:
            raise UserError(f"{run.name} shares no task with {base.name}")
    for task in tasks:
        if task not in run.tasks:
            raise UserError(f"{run.name} has no results for task {task!r}, which the baseline has")
        b, r = base.value(task, "pass@1"), run.value(task, "pass@1")
        if b is None or r is None:
            raise UserError(f"task {task!r}: pass@1 missing in {'the baseline' if b is None else run.name}")
        bp, rp = base.problems(task), run.problems(task)
        if bp and rp and set(bp) != set(rp):
            raise UserError(f"task {task!r}: the runs scored different problems ({len(bp)} vs {len(rp)}); "
                            "compare like with like")
        diff = differences(base.protocol(task), run.protocol(task), "pass@1")
        if diff and not allow_mismatch:
            raise UserError(f"task {task!r}: {run.name} was not made like {base.name} ({'; '.join(diff)}); "
                            "compare like with like, or pass --allow-mismatch")
        drop = b - r
        if bp and rp:
            t = paired_test(bp, rp, clusters_of([base, run], task))
            assert t is not None
            significant = t.p_value < alpha and r < b
            why = f"p={t.p_value:.3g} ({t.method})"
        else:  # a reference table: is the baseline above the run's confidence interval?
            ci = run.ci(task, "pass@1")
            significant = ci is not None and b > ci[1]
            why = f"baseline {_pct(b)} vs run CI [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "no CI"
        if r < b and not significant:
            why = f"not significant at alpha={alpha:g}: {why}"
        if diff:
            why += f"; protocols differ (allowed): {'; '.join(diff)}"
        failed = drop > max_drop and significant
        ok &= not failed
        verdict = "FAIL" if failed else "ok"
        reasons.append(f"{verdict}: {task} pass@1 {_pct(b)} -> {_pct(r)} ({_signed(-100 * drop)} points, "
                       f"allowed drop {100 * max_drop:.1f}); {why}")
    return ok, reasons


def cmd_check(args: Any) -> int:
    if not 0 <= args.max_drop <= 1 or not 0 < args.alpha < 1:
        raise UserError("--max-drop must be in [0, 1] and --alpha in (0, 1)")
    run, base = load_run(args.run), load_run(args.baseline)
    ok, reasons = check(run, base, args.max_drop, args.alpha, getattr(args, "allow_mismatch", False))
    runs = [base, run]
    sys.stdout.write(render(build(runs), runs, args.format))
    sys.stdout.write("\n" + "\n".join(reasons) + "\n")
    if not ok:
        sys.stdout.write("FAILED: significant drop beyond the allowed amount\n")
        return 1
    quiet = [x.split(" pass@1")[0][4:] for x in reasons if "not significant at alpha=" in x]
    sys.stdout.write(f"PASSED (drops not significant at alpha={args.alpha:g}: {', '.join(quiet)})\n" if quiet
                     else "PASSED\n")
    return 0
