"""A static HTML report: the comparison table (every declared metric, with the protocol marks and notes that
``compare`` prints), pass@k curves over k, and a per-problem heat map across runs.

Plots need matplotlib (``pip install 'evalkit[report]'``); they are embedded as PNG data, so the one file opens
in any browser without a server. Without matplotlib the report holds the table and says why plots are missing.
"""

from __future__ import annotations

import base64
import html
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from evalkit import __version__
from evalkit.compare import _natural, build, cell_text, footnotes, legend
from evalkit.errors import UserError
from evalkit.metrics import pass_at_k
from evalkit.results import RunResult, load_run

NO_PLOTS = "plots need matplotlib, which is not installed (pip install 'evalkit[report]')"
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f0f0f0; }
td.up { background: #e6f4ea; } td.down { background: #fce8e6; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #666; font-size: 0.9em; }
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _mean_pass_at_k(probs: dict[str, tuple[int, int]], k: int) -> float:
    """Mean of the unbiased pass@k over problems, computed once per distinct (n, c) pair."""
    pairs: dict[tuple[int, int], int] = {}
    for nc in probs.values():
        pairs[nc] = pairs.get(nc, 0) + 1
    return sum(pass_at_k(n, c, k) * m for (n, c), m in pairs.items()) / len(probs)


def _curves(runs: list[RunResult], task: str, problems: dict[str, dict[str, tuple[int, int]]]) -> str | None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    drawn = False
    for r in runs:
        probs = problems[r.name]
        if probs and min(n for n, _ in probs.values()) > 1:
            n_min = min(n for n, _ in probs.values())
            ks = sorted({int(k) for k in np.unique(np.geomspace(1, n_min, num=min(n_min, 30)).round())})
            ys = [_mean_pass_at_k(probs, k) for k in ks]
            ax.plot(ks, [100 * y for y in ys], marker=".", label=r.name)
            drawn = True
        else:
            head = r.metrics(task).get(r.headline(task) or "") or {}
            pts = [(int(m[5:]), v) for m, v in head.items()
                   if m.startswith("pass@") and m[5:].isdigit() and isinstance(v, (int, float))]
            if len(pts) > 1 or (pts and r.reference):
                pts.sort()
                ax.plot([k for k, _ in pts], [100 * v for _, v in pts], marker="o", linestyle="--", label=r.name)
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k (%)")
    ax.set_title(f"{task}: pass@k")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def short_labels(ids: list[str]) -> list[str]:
    """Problem ids without the part they all share: 'HumanEval/7' -> '7', 'MBPP/11' -> '11',
    'MultiLineInfilling/HumanEval/0/L0_L3' -> '0/L0_L3' (unique, unlike the last component alone)."""
    if len(ids) < 2:
        return [i.split("/")[-1] for i in ids]
    parts = [i.split("/") for i in ids]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return ["/".join(p[common:]) for p in parts]


def _heatmap(runs: list[RunResult], task: str, problems: dict[str, dict[str, tuple[int, int]]]) -> str | None:
    import matplotlib.pyplot as plt

    with_data = [r for r in runs if problems[r.name]]
    if not with_data:
        return None
    ids = sorted({t for r in with_data for t in problems[r.name]}, key=_natural)
    col = {tid: j for j, tid in enumerate(ids)}
    mat = np.full((len(with_data), len(ids)), np.nan)
    for i, r in enumerate(with_data):
        for tid, (n, c) in problems[r.name].items():
            mat[i, col[tid]] = c / n
    fig, ax = plt.subplots(figsize=(min(14, 2 + 0.06 * len(ids)), 0.5 + 0.45 * len(with_data)))
    im = ax.imshow(mat, aspect="auto", cmap="RdYlGn", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(with_data)), [r.name for r in with_data], fontsize=8)
    step = max(1, len(ids) // 20)
    labels = short_labels(ids)
    ax.set_xticks(range(0, len(ids), step), [labels[j] for j in range(0, len(ids), step)], fontsize=7,
                  rotation=90 if any(len(x) > 4 for x in labels) else 0)
    ax.set_xlabel("problem (task number, in order)")
    ax.set_title(f"{task}: per-problem score (pass rate, or mean score)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def render_html(runs: list[RunResult]) -> str:
    # sections and rows only for tasks that some run has (a paper table alone lists every task of the paper)
    measured = [r for r in runs if not r.reference] or runs
    have = {t for r in measured for t in r.tasks}
    rows = [row for row in build(runs) if row["task"] in have]
    head = "".join(f"<th>{html.escape(x)}</th>" for x in ["task", "metric"] + [r.name for r in runs])
    body, n = [], 0
    for row in rows:
        tds = []
        for c in row["cells"]:
            cls = ""
            if c.get("delta") is not None and c.get("p_value") is not None and c["p_value"] < 0.05:
                cls = ' class="up"' if c["delta"] > 0 else ' class="down"'
            mark = ""
            if c.get("protocol_differences"):  # numbered as compare numbers them (``footnotes``)
                n += 1
                mark = f" <sup><a href='#note-{n}'>[{n}]</a></sup>"
            tds.append(f"<td{cls}>{html.escape(cell_text(c))}{mark}</td>")
        body.append(f"<tr><td>{html.escape(row['task'])}</td><td>{html.escape(row['metric'])}</td>{''.join(tds)}</tr>")
    notes = footnotes(rows)
    note_list = ("<ol class='note'>" + "".join(f"<li id='note-{i}'>{html.escape(x.split('] ', 1)[1])}</li>"
                                              for i, x in enumerate(notes, 1)) + "</ol>") if notes else ""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>evalkit report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>evalkit report</h1>",
        f"<p class='note'>evalkit {__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        "Values in %, [95% bootstrap CI over problems], (delta vs the first column; p-value of a paired test on "
        "the problems both runs scored: exact McNemar for one sample per problem of a pass/fail metric, else "
        "paired bootstrap).</p>",
        "<h2>Runs</h2><ul>" + "".join(
            f"<li><b>{html.escape(r.name)}</b>: {html.escape(r.model)}{' (reference)' if r.reference else ''}</li>"
            for r in runs) + "</ul>",
        f"<h2>Comparison</h2><table><tr>{head}</tr>{''.join(body)}</table>",
        f"<p class='note'>{html.escape(legend(notes))}</p>{note_list}",
    ]
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        parts.append(f"<p class='note'>{NO_PLOTS}.</p>")
    else:
        tasks = list(dict.fromkeys(row["task"] for row in rows))
        for task in tasks:
            problems = {r.name: r.problems(task) for r in runs}
            binary = all((r.metrics(task).get(r.headline(task) or "") or {}).get("kind") != "mean" for r in runs)
            curves = _curves(runs, task, problems) if binary else None
            imgs = [x for x in (curves, _heatmap(runs, task, problems)) if x]
            if imgs:
                parts.append(f"<h2>{html.escape(task)}</h2>")
                parts += [f"<img alt='{html.escape(task)}' src='{src}'>" for src in imgs]
        from evalkit.longctx import plots  # the long-context curves of the paper, where a run has the data

        docs = {r.name: {"tasks": r.tasks} for r in runs}
        for title, frag in (("key retrieval: accuracy by key position (Fig. 4b)", plots.key_retrieval_html(docs)),
                            ("LCC: exact match by file length (Fig. 9b)", plots.lcc_html(docs))):
            if frag:
                parts.append(f"<h2>{html.escape(title)}</h2>{frag}")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def cmd_report(args: Any) -> int:
    if getattr(args, "paper", False):
        from evalkit.paper_report import cmd_paper_report

        return cmd_paper_report(args)
    if getattr(args, "format", None):
        raise UserError("--format belongs to report --paper")
    runs = [load_run(s) for s in args.runs]
    out = Path(args.output)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"evalkit: warning: {NO_PLOTS}; the report holds the table only", file=sys.stderr)
    try:
        out.write_text(render_html(runs), encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    print(f"report: {out}")
    return 0
