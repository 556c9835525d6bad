"""Compare runs: every metric the tasks declare (pass@k, mean scores) with confidence intervals, deltas and
paired per-problem tests (the CI gate built on it: ``evalkit.gate``).

Paired tests use only the problems both runs scored. For a binary metric with one sample per problem on each
side the test is an exact McNemar test on the problems that flipped; otherwise (several samples, or a mean
metric such as exact match) a paired bootstrap over problems of the difference in the per-problem score (c/n,
or the mean of the samples' scores), two-sided. Records that are not independent (infilling: many records per HumanEval
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
from evalkit.results import RunResult, load_run, metric_keys, row_label


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b = passed only in A, c = passed only in B."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(diffs: np.ndarray, n_boot: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value that the mean per-problem difference is 0 (percentile bootstrap over problems). One
    problem has nothing to resample: no evidence either way (p = 1)."""
    if len(diffs) < 2 or np.all(diffs == 0):
        return 1.0
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(n_boot, len(diffs)))].mean(axis=1)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return float(min(1.0, max(p, 1.0 / n_boot)))


def cluster_paired_bootstrap(diffs: np.ndarray, groups: np.ndarray, n_boot: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value that the mean per-record difference is 0, resampling whole clusters of records (p = 1
    with fewer than two clusters: nothing to resample)."""
    if len(diffs) == 0 or np.all(diffs == 0):
        return 1.0
    _, g = np.unique(groups, return_inverse=True)
    if g.max() < 1:
        return 1.0
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


def paired_test(a: dict[str, tuple[int, float]], b: dict[str, tuple[int, float]],
                clusters: dict[str, str] | None = None, binary: bool = True) -> Paired | None:
    """Per problem (n, c correct) of a binary metric, or (n, sum of scores) of a mean one (``binary=False``).
    ``clusters`` (task_id -> source problem): records of one cluster are dependent; resample clusters."""
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
    if binary and all(a[t][0] == 1 and b[t][0] == 1 for t in shared):
        return Paired(mcnemar_exact(len(better_a), len(better_b)), "mcnemar-exact", len(shared), better_a, better_b)
    return Paired(paired_bootstrap(rb - ra), "paired-bootstrap", len(shared), better_a, better_b)


def _natural(s: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s)]


def metrics_of(runs: list[RunResult], task: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(metric name, key, its block) for every value some run has of the task: the declared metrics in
    declaration order (the first run's first), each with its keys (pass@1, pass@10, ... or mean)."""
    blocks: dict[str, dict[str, Any]] = {}
    for r in runs:
        for name, block in r.metrics(task).items():
            blocks.setdefault(name, block)
    out = []
    for name, block in blocks.items():
        keys = {k for r in runs for k in metric_keys(r.metrics(task).get(name) or {})}
        out += [(name, k, block) for k in sorted(keys, key=lambda k: (k != "mean", _natural(k)))]
    return out


def tested_key(block: dict[str, Any]) -> str:
    """The value of a metric that the paired test and the gate look at: pass@1, or the mean."""
    return "mean" if block.get("kind") == "mean" else "pass@1"


def clusters_of(runs: list[RunResult], task: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in runs:
        out |= r.clusters(task)
    return out


def build(runs: list[RunResult]) -> list[dict[str, Any]]:
    """One row per (task, metric, key): the value and CI of each run, its delta and p-value against the first,
    and what in its protocol differs from the first run's (``protocol_differences``)."""
    from evalkit.protocol import differences

    tasks: list[str] = []
    measured = [r for r in runs if not r.reference] or runs  # a paper's tasks that no run has get no row
    for r in measured:
        tasks += [t for t in r.tasks if t not in tasks]
    base = runs[0]
    rows = []
    for task in tasks:
        cl = clusters_of(runs, task)
        tests: dict[str, list[Paired | None]] = {}
        for name, key, block in metrics_of(runs, task):
            binary = block.get("kind") != "mean"
            if name not in tests:
                tests[name] = [None] + [paired_test(base.problems(task, name), r.problems(task, name), cl, binary)
                                        for r in runs[1:]]
            cells = []
            for i, r in enumerate(runs):
                v = r.value(task, key, name)
                cell: dict[str, Any] = {"run": r.name, "value": v, "ci": r.ci(task, key, name),
                                        "n_problems": r.tasks.get(task, {}).get("n_problems")}
                b = base.value(task, key, name)
                if i > 0 and v is not None and b is not None:
                    cell["delta"] = v - b
                    t = tests[name][i]
                    if key == tested_key(block) and t is not None:
                        cell |= {"p_value": t.p_value, "test": t.method, "n_shared": t.n_shared}
                    diff = differences(base.protocol(task), r.protocol(task), key)
                    if diff:
                        cell["protocol_differences"] = diff
                cells.append(cell)
            rows.append({"task": task, "metric": row_label(block, key), "score": name, "key": key,
                         "kind": block.get("kind", "binary"), "cells": cells})
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


LEGEND = "Values in %, [95% CI], (delta vs the first run in points, p-value of a paired test on shared problems)."
NOTES = "[n]: the protocol differs from the first column's, see the notes below."


def legend(notes: list[str]) -> str:
    """The legend under a table; it mentions notes only when there are some."""
    return LEGEND + (" " + NOTES if notes else "")


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
        return "\n".join(lines) + "\n\n" + legend(notes) + "\n" + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt_row = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    table = "\n".join([fmt_row(header), fmt_row(["-" * w for w in widths])] + [fmt_row(r) for r in body])
    return table + "\n\n" + legend(notes) + "\n" + "".join(n + "\n" for n in notes)


def flips(runs: list[RunResult]) -> str:
    a, b = runs[0], runs[1]
    out = []
    for task in a.tasks:
        head = a.headline(task)
        kind = (a.metrics(task).get(head or "") or {}).get("kind")
        t = paired_test(a.problems(task, head), b.problems(task, head), clusters_of([a, b], task), kind != "mean")
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
