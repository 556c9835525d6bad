"""The Code Llama paper, reproduced: one section per paper table with the paper's cells beside a run's.

``evalkit report --paper RUN...`` (the CLI hook: ``cmd_paper_report``). The paper's cells come from the
reference files shipped in ``results/paper`` (every task entry names its ``source.table``); a run's cells from
its results.json: a task's top-level ``pass@k``, a task's ``levels.<level>`` (APPS; a run of
``apps-<level>`` stands for ``apps`` at that level), or a mean metric's ``metrics.<name>.mean``. Each run is set
beside the paper's row of the same model (``paper_row``: from the model id, its flavour, and the FIM layout of
the run) and every cell says one of:

* the run's value with its 95% CI, and the difference run - paper with the CI shifted by the paper's value (the
  paper gives no CI);
* ``missing``: the run did not produce this cell (task, level or k not run);
* ``other protocol``: produced under a protocol that differs from the paper's (which: in the cell's note, from
  ``evalkit.protocol.differences``);
* ``no reference``: the table's reference cells are not shipped in ``results/paper`` yet.

Markdown (``--format md``, for a model card) and a static HTML page.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Any

from evalkit import __version__
from evalkit.results import RunResult, reference_tables

# The paper's benchmark tables, in the paper's order; several tables share a section where they are one family.
SECTIONS: list[tuple[tuple[str, ...], str]] = [
    (("Table 2",), "HumanEval and MBPP, pass@k (p. 6)"),
    (("Table 3",), "APPS, two-shot, pass@5/10/100 per difficulty (p. 8)"),
    (("Table 4", "Table 11"), "MultiPL-E, pass@1 per language (p. 9, p. 29)"),
    (("Table 6",), "MultiPL-E single-line infilling, exact match, PSM and SPM (p. 11)"),
    (("Table 7", "Table 16"), "LCC-balanced single-line completion (p. 12, p. 32)"),
    (("Table 8",), "Instruct models, self-instruct ablation (p. 14)"),
    (("Table 14",), "HumanEval infilling, pass@1, PSM and SPM (p. 31)"),
    (("Table 15",), "APPS, Code Llama - Instruct zero-shot (p. 31)"),
    (("Table 17", "Table 18"), "Key retrieval accuracy (p. 33)"),
]


@dataclass
class Cell:
    table: str
    row: str  # the paper's run name (results/paper)
    task: str
    level: str | None
    metric: str
    value: float
    protocol: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str:
        return f"{self.task}{'/' + self.level if self.level else ''} {self.metric}"


def _values(entry: dict[str, Any]) -> list[tuple[str | None, str, float]]:
    """(level, metric, value) of one task entry of a results.json or a reference file."""
    out: list[tuple[str | None, str, float]] = []
    for k, v in entry.items():
        if re.fullmatch(r"pass@\d+", k) and isinstance(v, (int, float)):
            out.append((None, k, float(v)))
    for name, block in (entry.get("metrics") or {}).items() if isinstance(entry.get("metrics"), dict) else ():
        if isinstance(block, dict) and isinstance(block.get("mean"), (int, float)):
            out.append((None, name, float(block["mean"])))
    for level, block in (entry.get("levels") or {}).items():
        for k, v in block.items():
            if re.fullmatch(r"pass@\d+", k) and isinstance(v, (int, float)):
                out.append((level, k, float(v)))
    return out


def paper_cells(refs: dict[str, dict[str, Any]] | None = None) -> list[Cell]:
    refs = reference_tables() if refs is None else refs
    cells = []
    for row, run in refs.items():
        for task, entry in run.get("tasks", {}).items():
            table = (entry.get("source") or {}).get("table")
            if not table:
                continue
            proto = entry.get("protocol") or {}
            for level, metric, value in _values(entry):
                p = dict(proto)
                if level and isinstance(p.get("n_problems"), dict):
                    p["n_problems"] = p["n_problems"].get(level)
                cells.append(Cell(table, row, task, level, metric, value, p))
    return cells


def paper_row(model_id: str, fim: str | None, rows: set[str]) -> str | None:
    """The paper's row for a run's model: ``codellama/CodeLlama-7b-Python-hf`` -> ``codellama-7b-python``;
    an SPM infilling run -> ``codellama-7b-spm`` where the paper has such a row."""
    s = model_id.lower().rstrip("/").split("/")[-1]
    m = re.search(r"(code-?llama|llama-?2)[-_]?(\d+)b", s)
    if not m:
        return s if s in rows else None
    family = "codellama" if "code" in m.group(1) else "llama2"
    name = f"{family}-{m.group(2)}b"
    for flavour in ("python", "instruct"):
        if flavour in s:
            name += f"-{flavour}"
    if fim == "spm" and f"{name}-spm" in rows:
        name += "-spm"
    return name if name in rows else None


def run_cell(run: RunResult, cell: Cell) -> tuple[float | None, list[float] | None, dict[str, Any] | None]:
    """(value, 95% CI, the task's results entry) of the run for a paper cell; value None when not produced."""
    candidates = [(cell.task, cell.level)]
    if cell.level:
        candidates.append((f"{cell.task}-{cell.level}", None))
    for task, level in candidates:
        entry = run.tasks.get(task)
        if not isinstance(entry, dict):
            continue
        block = entry.get("levels", {}).get(level) if level else entry
        if not isinstance(block, dict):
            continue
        if cell.metric in block and isinstance(block[cell.metric], (int, float)):
            return float(block[cell.metric]), block.get(f"{cell.metric}_ci"), entry
        m = (block.get("metrics") or {}).get(cell.metric) if isinstance(block.get("metrics"), dict) else None
        if isinstance(m, dict) and isinstance(m.get("mean"), (int, float)):
            return float(m["mean"]), m.get("mean_ci"), entry
    return None, None, None


def run_protocol(run: RunResult, cell: Cell, entry: dict[str, Any]) -> dict[str, Any]:
    from evalkit.protocol import of_result

    doc = run.extra.get("doc") or {"tasks": run.tasks}
    task = cell.task if cell.task in doc.get("tasks", {}) else f"{cell.task}-{cell.level}"
    p = dict(of_result(doc, task))
    if cell.level and isinstance(entry.get("levels", {}).get(cell.level), dict):
        p["n_problems"] = entry["levels"][cell.level].get("n_problems", p.get("n_problems"))
    return p


def compare_cell(run: RunResult, cell: Cell) -> dict[str, Any]:
    from evalkit.protocol import differences

    value, ci, entry = run_cell(run, cell)
    if value is None:
        return {"mark": "missing"}
    out: dict[str, Any] = {"value": value, "ci": ci, "diff": value - cell.value}
    if ci:
        out["diff_ci"] = [ci[0] - cell.value, ci[1] - cell.value]
    diffs = differences(cell.protocol, run_protocol(run, cell, entry or {}), cell.metric) if cell.protocol else []
    if diffs:
        out["mark"] = "other protocol"
        out["why"] = "; ".join(diffs)
    return out


def build(runs: list[RunResult], cells: list[Cell] | None = None) -> list[dict[str, Any]]:
    """Sections in the paper's order: columns, the paper's rows, and each run beside its paper row."""
    cells = paper_cells() if cells is None else cells
    rows_known = {c.row for c in cells}
    sections = []
    for tables, title in SECTIONS:
        mine = [c for c in cells if c.table in tables]
        cols = list(dict.fromkeys(c.column for c in mine))
        paper_rows: dict[str, dict[str, Cell]] = {}
        for c in mine:
            paper_rows.setdefault(c.row, {})[c.column] = c
        compared = []
        for run in runs:
            doc = run.extra.get("doc") or {}
            fim = ((doc.get("config") or {}).get("generation") or {}).get("fim")
            row = paper_row(run.model, fim, rows_known)
            base = paper_rows.get(row or "", {})
            compared.append({"run": run.name, "model": run.model, "paper_row": row if base else None,
                             "cells": {col: compare_cell(run, c) for col, c in base.items()}})
        sections.append({"tables": tables, "title": title, "columns": cols, "paper": paper_rows, "runs": compared,
                         "reference": bool(mine)})
    return sections


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def cell_text(d: dict[str, Any]) -> str:
    if "value" not in d:
        return d.get("mark", "")
    s = _pct(d["value"])
    sign = "+" if d["diff"] >= 0 else ""
    s += f" ({sign}{_pct(d['diff'])}"
    if d.get("diff_ci"):
        s += f" [{_pct(d['diff_ci'][0])}, {_pct(d['diff_ci'][1])}]"
    s += ")"
    return s + (" †" if d.get("mark") == "other protocol" else "")


def _grid(sec: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    cols = sec["columns"]
    rows, notes = [], []
    for name, cells in sec["paper"].items():
        rows.append([f"paper: {name}"] + [_pct(cells[c].value) if c in cells else "" for c in cols])
    for r in sec["runs"]:
        if r["paper_row"] is None:
            notes.append(f"{r['run']} ({r['model']}): no paper row of this table for this model")
            continue
        line = [f"{r['run']} vs paper: {r['paper_row']}"]
        for c in cols:
            d = r["cells"].get(c)
            line.append("" if d is None else cell_text(d))
            if d and d.get("why"):
                notes.append(f"{r['run']}, {c}: other protocol: {d['why']}")
        rows.append(line)
    if not sec["reference"]:
        notes.append("no reference cells shipped for " + " / ".join(sec["tables"])
                     + " in results/paper (nothing to compare yet)")
    return ["row"] + cols, rows, notes


LEGEND = ("Values in %. A run's cell: value (run - paper [95% CI of the run shifted by the paper's value]); "
          "'missing': the run did not produce it; † other protocol (see the notes); the paper gives no CIs.")


def render_markdown(runs: list[RunResult], sections: list[dict[str, Any]] | None = None) -> str:
    sections = build(runs) if sections is None else sections
    out = ["# The Code Llama paper, reproduced", "", LEGEND, ""]
    for sec in sections:
        head, rows, notes = _grid(sec)
        out += [f"## {' / '.join(sec['tables'])}: {sec['title']}", ""]
        if rows:
            out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            out += ["| " + " | ".join(r) + " |" for r in rows]
            out.append("")
        out += [f"- {n}" for n in notes] + ([""] if notes else [])
    return "\n".join(out)


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; } tr.run td { background: #f7fbff; }
td.missing { color: #999; font-style: italic; } td.other { background: #fff4e0; }
.note { color: #666; font-size: 0.9em; }
"""


def render_html(runs: list[RunResult], sections: list[dict[str, Any]] | None = None) -> str:
    sections = build(runs) if sections is None else sections
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>evalkit: the Code Llama paper</title>",
             f"<style>{CSS}</style></head><body><h1>The Code Llama paper, reproduced</h1>",
             f"<p class='note'>evalkit {__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"{html.escape(LEGEND)}</p>",
             "<ul>" + "".join(f"<li><b>{html.escape(r.name)}</b>: {html.escape(r.model)}</li>" for r in runs)
             + "</ul>"]
    for sec in sections:
        head, rows, notes = _grid(sec)
        parts.append(f"<h2>{html.escape(' / '.join(sec['tables']))}: {html.escape(sec['title'])}</h2>")
        if rows:
            trs = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
            for r in rows:
                is_run = not r[0].startswith("paper: ")
                tds = []
                for x in r:
                    cls = "missing" if x == "missing" else "other" if x.endswith("†") else ""
                    tds.append(f"<td class='{cls}'>{html.escape(x)}</td>" if cls else f"<td>{html.escape(x)}</td>")
                trs.append(f"<tr class='{'run' if is_run else 'paper'}'>{''.join(tds)}</tr>")
            parts.append(f"<table>{''.join(trs)}</table>")
        if notes:
            parts.append("<ul class='note'>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def cmd_paper_report(args: Any) -> int:
    """``evalkit report --paper RUN... [-o report.html] [--format html|md]``."""
    from pathlib import Path

    from evalkit.errors import UserError
    from evalkit.results import load_run

    runs = [load_run(s) for s in args.runs]
    fmt = getattr(args, "format", None) or ("md" if str(args.output).endswith(".md") else "html")
    text = render_markdown(runs) if fmt == "md" else render_html(runs)
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write {args.output}: {e.strerror}") from None
    print(f"paper report: {args.output}")
    return 0
