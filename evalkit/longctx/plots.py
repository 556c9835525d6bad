"""The paper's long-context curves from runs' results: Fig. 4b (key-retrieval accuracy by relative position of
the key, one line per run and length) and Fig. 9b (LCC exact match, or BLEU, by file-length bucket).

Input: ``{label: results}`` where ``results`` is a results.json document (``{"tasks": {...}}``) or a reference
run of ``results/paper`` (its ``tasks``). They read what the tasks write into their block of results.json:
``key-retrieval.by_cell`` ({length: {position: accuracy}}) and ``lcc-*.by_bucket`` ({bucket: {metric: mean}}).
``*_figure`` returns a matplotlib Figure (None when no run has the data); ``*_html`` an HTML fragment
(an inline SVG, or '' when there is nothing to draw) for ``evalkit report``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from evalkit.longctx.balance import BUCKETS

LCC_TASKS = ("lcc-python", "lcc-java", "lcc-csharp")


def _tasks(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return doc.get("tasks") or {}


def key_retrieval_series(results: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[float], list[float]]]:
    """(label, positions, accuracies) for each run and context length that has key-retrieval cells."""
    out = []
    for label, doc in results.items():
        cells = (_tasks(doc).get("key-retrieval") or {}).get("by_cell") or {}
        for length in sorted(cells, key=int):
            pts = sorted((float(p), float(a)) for p, a in cells[length].items())
            if pts:
                name = f"{label}, {int(length) / 1000:g}k" if len(cells) > 1 else label
                out.append((name, [p for p, _ in pts], [a for _, a in pts]))
    return out


def lcc_series(results: Mapping[str, Mapping[str, Any]], metric: str = "exact_match",
               tasks: tuple[str, ...] = LCC_TASKS) -> list[tuple[str, list[str], list[float]]]:
    """(label, buckets, means) for each run and LCC task with per-bucket results, buckets in Fig. 9b order."""
    order = [b[2] for b in BUCKETS]
    out = []
    for label, doc in results.items():
        for task in tasks:
            by = (_tasks(doc).get(task) or {}).get("by_bucket") or {}
            names = [b for b in order if b in by and metric in by[b]]
            if names:
                out.append((f"{label}, {task}", names, [float(by[b][metric]) for b in names]))
    return out


def key_retrieval_figure(results: Mapping[str, Mapping[str, Any]]) -> Any:
    series = key_retrieval_series(results)
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    for name, xs, ys in series:
        ax.plot(xs, [100 * y for y in ys], marker="o", label=name)
    ax.set(xlabel="Relative position of key function", ylabel="Accuracy (%)", ylim=(-3, 103), xlim=(-0.03, 1.03),
           title="Key retrieval accuracy (Code Llama Fig. 4b)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def lcc_figure(results: Mapping[str, Mapping[str, Any]], metric: str = "exact_match") -> Any:
    series = lcc_series(results, metric)
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    order = [b[2] for b in BUCKETS]
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    for name, buckets, ys in series:
        ax.plot([order.index(b) for b in buckets], [100 * y for y in ys], marker="o", label=name)
    ax.set_xticks(range(len(order)), order)
    label = {"exact_match": "Exact match", "bleu": "BLEU", "edit_similarity": "Edit similarity"}.get(metric, metric)
    ax.set(xlabel="File context length (tokens)", ylabel=f"{label} (%)",
           title=f"LCC-balanced {label.lower()} by file length (Code Llama Fig. 9b)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def svg(fig: Any) -> str:
    """A figure as an inline SVG fragment ('' for None)."""
    if fig is None:
        return ""
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def key_retrieval_html(results: Mapping[str, Mapping[str, Any]]) -> str:
    return svg(key_retrieval_figure(results))


def lcc_html(results: Mapping[str, Mapping[str, Any]], metric: str = "exact_match") -> str:
    return svg(lcc_figure(results, metric))
