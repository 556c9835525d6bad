"""The CI gate (``evalkit check``): did any declared metric of any task drop, significantly and by more than
``--max-drop``, against a baseline run or a paper table?

Each metric the baseline has for a task is gated on its tested value (pass@1 of a binary metric, the mean of a
mean metric such as exact match) with the paired test of ``evalkit.compare``; against a paper table (no
per-problem data) a drop counts when the baseline lies above the run's confidence interval. A task whose
protocol or dataset differs from the baseline's is refused (exit 2) unless ``--allow-mismatch``.
"""

from __future__ import annotations

import sys
from typing import Any

from evalkit.compare import _pct, _signed, build, clusters_of, paired_test, render, tested_key
from evalkit.errors import UserError
from evalkit.results import RunResult, load_run, row_label


def _gated(run: RunResult, base: RunResult, task: str) -> list[tuple[str, dict[str, Any]]]:
    """(metric name, baseline block) of the metrics gated for a task: the baseline's, where it has the tested
    value; the headline must be in both."""
    blocks, mine = base.metrics(task), run.metrics(task)
    head = next(iter(blocks), None)
    out = []
    for name, block in blocks.items():
        key = tested_key(block)
        if block.get(key) is None and name != head:
            continue
        if block.get(key) is None or (mine.get(name) or {}).get(key) is None:
            where = "the baseline" if block.get(key) is None else run.name
            if name == head:
                raise UserError(f"task {task!r}: {row_label(block, key)} missing in {where}")
            continue
        out.append((name, block))
    return out


def check(run: RunResult, base: RunResult, max_drop: float, alpha: float,
          allow_mismatch: bool = False) -> tuple[bool, list[str], list[str]]:
    """(ok, reasons, the names of drops that were not significant). A metric fails when its tested value
    dropped by more than max_drop and the drop is significant."""
    from evalkit.protocol import differences

    reasons: list[str] = []
    quiet: list[str] = []
    ok = True
    tasks = list(base.tasks)
    if base.reference:  # a paper table: judge the tasks the run has
        tasks = [t for t in tasks if t in run.tasks]
        if not tasks:
            raise UserError(f"{run.name} shares no task with {base.name}")
    for task in tasks:
        if task not in run.tasks:
            raise UserError(f"{run.name} has no results for task {task!r}, which the baseline has")
        gated = _gated(run, base, task)
        bp, rp = base.problems(task), run.problems(task)
        if bp and rp and set(bp) != set(rp):
            raise UserError(f"task {task!r}: the runs scored different problems ({len(bp)} vs {len(rp)}"
                            f"{'' if len(bp) != len(rp) else ', not the same ones'}); compare like with like")
        for name, block in gated:
            key = tested_key(block)
            label = row_label(block, key)
            b, r = base.value(task, key, name), run.value(task, key, name)
            assert b is not None and r is not None
            diff = differences(base.protocol(task), run.protocol(task), key)
            if diff and not allow_mismatch:
                raise UserError(f"task {task!r}: {run.name} was not made like {base.name} ({'; '.join(diff)}); "
                                "compare like with like, or pass --allow-mismatch")
            drop = b - r
            mb, mr = base.problems(task, name), run.problems(task, name)
            if mb and mr:
                t = paired_test(mb, mr, clusters_of([base, run], task), block.get("kind") != "mean")
                assert t is not None
                significant = t.p_value < alpha and r < b
                why = f"p={t.p_value:.3g} ({t.method})"
            else:  # a reference table: is the baseline above the run's confidence interval?
                ci = run.ci(task, key, name)
                significant = ci is not None and b > ci[1]
                why = f"baseline {_pct(b)} vs run CI [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "no CI"
            if r < b and not significant:
                why = f"not significant at alpha={alpha:g}: {why}"
                quiet.append(task if label == "pass@1" else f"{task} {label}")
            if diff:
                why += f"; protocols differ (allowed): {'; '.join(diff)}"
            failed = drop > max_drop and significant
            ok &= not failed
            reasons.append(f"{'FAIL' if failed else 'ok'}: {task} {label} {_pct(b)} -> {_pct(r)} "
                           f"({_signed(-100 * drop)} points, allowed drop {100 * max_drop:.1f}); {why}")
    return ok, reasons, quiet


def cmd_check(args: Any) -> int:
    if not 0 <= args.max_drop <= 1 or not 0 < args.alpha < 1:
        raise UserError("--max-drop must be in [0, 1] and --alpha in (0, 1)")
    run, base = load_run(args.run), load_run(args.baseline)
    ok, reasons, quiet = check(run, base, args.max_drop, args.alpha, getattr(args, "allow_mismatch", False))
    runs = [base, run]
    sys.stdout.write(render(build(runs), runs, args.format))
    sys.stdout.write("\n" + "\n".join(reasons) + "\n")
    if not ok:
        sys.stdout.write("FAILED: significant drop beyond the allowed amount\n")
        return 1
    sys.stdout.write(f"PASSED (drops not significant at alpha={args.alpha:g}: {', '.join(quiet)})\n" if quiet
                     else "PASSED\n")
    return 0
