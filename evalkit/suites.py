"""Suites: the tasks and protocols of a whole paper in one definition (``evalkit run --suite NAME``).

``codellama-paper``: every benchmark table of the Code Llama paper that evalkit has a task for, each with the
paper's decoding and sample count (200 samples where pass@100 is reported), the FIM layouts it compares, and
the model flavours it applies to. ``plan(suite, flavour)`` lists the runs; ``estimate`` counts the generated
tokens before anything starts: an upper bound (every sample runs to its cap) and a typical figure (each sample
about as long as the problem's reference answer in Code Llama tokens, ~3.2 characters per token, capped).
A task this evalkit does not have (another package's, not installed) is listed and skipped, with its name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

FLAVOURS = ("base", "python", "instruct")  # the paper's model rows: Code Llama, - Python, - Instruct
CHARS_PER_TOKEN = 3.2  # Code Llama's tokenizer on Python/Java/JS code (HumanEval solutions: ~3.2)
GREEDY = {"n_samples": 1, "temperature": 0.0, "top_p": 1.0}
# problems per task as the paper has them: the estimate's fallback where the data is not local (e.g. APPS)
PAPER_COUNTS = {"apps": 5000, "apps-instruct": 5000, "humaneval": 164, "mbpp": 500, "mbpp-instruct": 500}


def sampled(n: int, temperature: float, top_p: float = 0.95) -> dict[str, Any]:
    return {"n_samples": n, "temperature": temperature, "top_p": top_p}


@dataclass(frozen=True)
class Entry:
    tables: tuple[str, ...]
    tasks: tuple[str, ...]
    decoding: dict[str, Any]  # n_samples, temperature, top_p
    flavours: tuple[str, ...] = ("base", "python", "instruct")  # Code Llama flavours the paper reports it for
    fim: str | None = None
    chat: bool = False
    preset: str | None = None  # the CLI preset with this decoding, where one exists


SUITES: dict[str, list[Entry]] = {
    "codellama-paper": [
        Entry(("Table 2",), ("humaneval", "mbpp"), GREEDY, preset="paper-pass1"),
        Entry(("Table 2",), ("humaneval", "mbpp"), sampled(200, 0.8), preset="paper-pass100"),
        Entry(("Table 3",), ("apps",), sampled(200, 0.6), preset="apps-paper"),
        Entry(("Table 15",), ("apps-instruct",), sampled(200, 0.6), flavours=("instruct",), preset="apps-paper"),
        Entry(("Table 4", "Table 11"), ("multiple-cpp", "multiple-java", "multiple-php", "multiple-ts",
                                        "multiple-cs", "multiple-sh"), GREEDY, preset="paper-pass1"),
        Entry(("Table 6",), ("multiple-fim-py", "multiple-fim-java", "multiple-fim-js"), GREEDY, ("base",),
              fim="psm", preset="paper-pass1"),
        Entry(("Table 6",), ("multiple-fim-py", "multiple-fim-java", "multiple-fim-js"), GREEDY, ("base",),
              fim="spm", preset="paper-pass1"),
        Entry(("Table 14",), ("humaneval-infill-single", "humaneval-infill-multi", "humaneval-infill-random"),
              GREEDY, ("base",), fim="psm", preset="paper-pass1"),
        Entry(("Table 14",), ("humaneval-infill-single", "humaneval-infill-multi", "humaneval-infill-random"),
              GREEDY, ("base",), fim="spm", preset="paper-pass1"),
        Entry(("Table 7", "Table 16"), ("lcc-python", "lcc-java", "lcc-csharp"), GREEDY, ("base",),
              preset="paper-pass1"),
        Entry(("Table 17", "Table 18"), ("key-retrieval",), GREEDY, preset="paper-pass1"),
        Entry(("Table 8",), ("mbpp-instruct",), GREEDY, ("instruct",), preset="paper-pass1"),
    ],
}


def plan(suite: str, flavour: str = "base") -> list[Entry]:
    from evalkit.errors import UserError

    if suite not in SUITES:
        raise UserError(f"unknown suite {suite!r} (known: {', '.join(sorted(SUITES))})")
    return [e for e in SUITES[suite] if flavour in e.flavours]


def tables_of(entries: Sequence[Entry]) -> list[str]:
    return list(dict.fromkeys(t for e in entries for t in e.tables))


def select(entries: Sequence[Entry], spec: str | None) -> list[Entry]:
    """``--suite-tables 2,6,17`` (or "Table 2,..."): the entries that fill any of these tables."""
    from evalkit.errors import UserError

    if not spec:
        return list(entries)
    known = tables_of(entries)
    want = []
    for part in spec.split(","):
        num = part.strip().lower().removeprefix("table").strip()
        if f"Table {num}" not in known:
            raise UserError(f"--suite-tables: no table {part.strip()!r} in this suite for this flavour (it has: "
                            f"{', '.join(t.removeprefix('Table ') for t in known)})")
        want.append(f"Table {num}")
    return [e for e in entries if set(e.tables) & set(want)]


def slug(entry: Entry) -> str:
    """The run directory of an entry under the suite's: ``table2-greedy``, ``table2-n200-t0.8``,
    ``table6-greedy-psm``."""
    d = entry.decoding
    dec = "greedy" if d["temperature"] == 0 else f"n{d['n_samples']}-t{d['temperature']:g}"
    tables = "-".join(t.removeprefix("Table ") for t in entry.tables)
    return f"table{tables}-{dec}" + (f"-{entry.fim}" if entry.fim else "")


def flavour_of(model_id: str) -> str:
    """The paper's model row a model belongs to, from its name (the last part of a hub id or path)."""
    s = model_id.rstrip("/").split("/")[-1].lower()
    return "instruct" if "instruct" in s else "python" if "python" in s else "base"


def estimate(entries: Sequence[Entry], *, data_dir: str | None = None, tasks_dir: str | None = None,
             limit: int | None = None, configure: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Generated tokens of a plan, per run (task x decoding x layout) and in total; unknown tasks listed.
    ``configure`` applies options to each task before its problems are counted (the long-context grid)."""
    from evalkit.errors import UserError
    from evalkit.registry import task_classes

    known = task_classes(tasks_dir)
    rows, missing = [], []
    for e in entries:
        for name in e.tasks:
            if name not in known:
                missing.append(name)
                continue
            task = known[name](data_dir=data_dir)
            if configure is not None:
                configure(task)
            cap, n, note = task.default_max_new_tokens, e.decoding["n_samples"], None
            try:
                problems = task.problems()[:limit] if limit else task.problems()
                count = len(problems)
                typical = sum(min(cap, max(1, round(len(p.reference) / CHARS_PER_TOKEN))) for p in problems)
                if problems and not any(isinstance(p.reference, str) and p.reference for p in problems):
                    typical = count * cap // 4  # MultiPL-E has tests, no reference answers
                    note = "no reference answers to measure: a quarter of the cap each"
            except UserError as err:
                if name not in PAPER_COUNTS:
                    rows.append({"task": name, "tables": list(e.tables), "fim": e.fim, **e.decoding,
                                 "problems": None, "note": str(err)})
                    continue
                count = min(PAPER_COUNTS[name], limit or PAPER_COUNTS[name])
                typical = count * cap // 4  # no reference answers to measure: a quarter of the cap
                note = f"data not local: the paper's {PAPER_COUNTS[name]} problems, a quarter of the cap each"
            rows.append({"task": name, "tables": list(e.tables), "fim": e.fim, "preset": e.preset, **e.decoding,
                         "problems": count, "samples": count * n, "tokens_upper_bound": count * n * cap,
                         "tokens_typical": typical * n, "note": note})
    done = [r for r in rows if r.get("problems") is not None]
    return {"runs": rows, "missing_tasks": sorted(set(missing)),
            "samples": sum(r["samples"] for r in done),
            "tokens_upper_bound": sum(r["tokens_upper_bound"] for r in done),
            "tokens_typical": sum(r["tokens_typical"] for r in done)}


def describe(est: dict[str, Any]) -> str:
    """The estimate as the lines printed before a suite starts."""
    out = [f"{'task':28} {'tables':16} {'fim':4} {'samples':>9} {'tokens (typical)':>17} {'(upper bound)':>14}"]
    for r in est["runs"]:
        if r.get("problems") is None:
            out.append(f"{r['task']:28} {', '.join(r['tables']):16} data not available: {r['note']}")
            continue
        out.append(f"{r['task']:28} {', '.join(r['tables']):16} {r['fim'] or '':4} {r['samples']:>9,} "
                   f"{r['tokens_typical']:>17,} {r['tokens_upper_bound']:>14,}" + (f"  ({r['note']})" if r['note'] else ""))
    out.append(f"total: {est['samples']:,} samples, ~{est['tokens_typical']:,} generated tokens "
               f"(at most {est['tokens_upper_bound']:,})")
    if est["missing_tasks"]:
        out.append("not in this evalkit (skipped): " + ", ".join(est["missing_tasks"]))
    return "\n".join(out)
