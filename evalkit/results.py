"""Load result tables: a run directory, a results.json, or a reference table such as ``paper:codellama-7b``.

A task's scores are the metrics it declares (``evalkit.metrics.Metric``), each a block of results.json's
``tasks.<name>.metrics``: binary (pass@k keys, their ``_ci``s, ``problems`` = {task_id: [n, c]}) or mean
(``mean``, ``mean_ci``, ``problems`` = {task_id: [n, sum]}). Older files and the paper tables have no
``metrics``: their block is rebuilt here from the task's own pass@k keys (and EvalPlus's ``base`` block).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from evalkit.errors import UserError

_PASS_KEY = re.compile(r"pass@(\d+)")


def _binary(src: dict[str, Any], label: str) -> dict[str, Any]:
    keys = {k: v for k, v in src.items() if _PASS_KEY.fullmatch(k) or (k.endswith("_ci") and k.startswith("pass@"))}
    return {"kind": "binary", "label": label, **keys, "problems": src.get("problems") or {}}


def metric_blocks(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A task block's declared metrics, in declaration order (the first is the headline): its ``metrics`` table,
    or, for an older file or a paper table, the block rebuilt from the task's pass@k keys (``pass``) and an
    EvalPlus ``base`` block (``base``; the headline is then the plus score)."""
    have = t.get("metrics")
    out: dict[str, dict[str, Any]] = dict(have) if isinstance(have, dict) else {}
    base = t.get("base") if isinstance(t.get("base"), dict) else None
    if not out and (base is not None or any(_PASS_KEY.fullmatch(k) for k in t) or t.get("problems")):
        out["pass"] = _binary(t, "pass@k")
    if base is not None and "base" not in out:  # EvalPlus before it declared its base score
        out["base"] = _binary(base, "base pass@k")
        if out.get("pass", {}).get("label") == "pass@k":
            out["pass"] = {**out["pass"], "label": "plus pass@k"}
    return out


def metric_keys(block: dict[str, Any]) -> list[str]:
    """The values a metric block reports: pass@1, pass@10, ... (binary) or mean."""
    if block.get("kind") == "mean":
        return ["mean"] if "mean" in block else []
    return sorted((k for k in block if _PASS_KEY.fullmatch(k)), key=lambda k: int(k[5:]))


def row_label(block: dict[str, Any], key: str) -> str:
    """What a table calls one value of a metric: 'pass@1', 'base pass@10', 'exact match'."""
    label = str(block.get("label") or "pass@k")
    if block.get("kind") == "mean":
        return label
    return label.replace("pass@k", key) if "pass@k" in label else f"{label} {key}"


@dataclass
class RunResult:
    name: str  # what the user typed (the column header)
    model: str
    tasks: dict[str, dict[str, Any]]
    reference: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def protocol(self, task: str) -> dict[str, Any]:
        """How the task's numbers were made (see ``evalkit.protocol``); {} when nothing is known."""
        if self.reference:
            return dict(self.tasks.get(task, {}).get("protocol") or {})
        from evalkit.protocol import of_result

        return of_result(self.extra.get("doc") or {"tasks": self.tasks}, task)

    def clusters(self, task: str) -> dict[str, str]:
        """task_id -> the independent unit it belongs to (infilling: the source problem); {} when independent."""
        return dict(self.tasks.get(task, {}).get("clusters") or {})

    def metrics(self, task: str) -> dict[str, dict[str, Any]]:
        """The task's declared metrics: name -> block (see ``metric_blocks``)."""
        return metric_blocks(self.tasks.get(task) or {})

    def headline(self, task: str) -> str | None:
        return next(iter(self.metrics(task)), None)

    def problems(self, task: str, metric: str | None = None) -> dict[str, tuple[int, float]]:
        """task_id -> (n samples, c correct | sum of scores) of a metric (default: the headline); empty for a
        reference table (no per-problem data)."""
        blocks = self.metrics(task)
        block = blocks.get(metric or next(iter(blocks), ""), {})
        raw = block.get("problems") or {}
        if block.get("kind") == "mean":
            return {tid: (int(n), float(s)) for tid, (n, s) in raw.items()}
        return {tid: (int(n), int(c)) for tid, (n, c) in raw.items()}

    def value(self, task: str, key: str, metric: str | None = None) -> float | None:
        """A metric's value (``key``: pass@k or mean); ``metric`` defaults to the headline."""
        blocks = self.metrics(task)
        v = blocks.get(metric or next(iter(blocks), ""), {}).get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def ci(self, task: str, key: str, metric: str | None = None) -> tuple[float, float] | None:
        blocks = self.metrics(task)
        v = blocks.get(metric or next(iter(blocks), ""), {}).get(f"{key}_ci")
        return (float(v[0]), float(v[1])) if isinstance(v, list) and len(v) == 2 else None


def reference_tables() -> dict[str, dict[str, Any]]:
    """Every run of every reference file shipped in ``results/paper`` (installed as ``evalkit.paper``). A run
    named in several files (one file per table family: ``codellama.json``, ``codellama-multiple.json``, ...) has
    the tasks of all of them."""
    out: dict[str, dict[str, Any]] = {}
    entries = sorted((e for e in resources.files("evalkit.paper").iterdir() if e.name.endswith(".json")),
                     key=lambda e: e.name)
    for entry in entries:
        doc = json.loads(entry.read_text(encoding="utf-8"))
        for name, run in doc.get("runs", {}).items():
            if name in out:
                out[name]["tasks"] = {**out[name]["tasks"], **run.get("tasks", {})}
            else:
                out[name] = run | {"_source": doc.get("source", entry.name)}
    return out


def load_run(spec: str) -> RunResult:
    if spec.startswith("paper:"):
        name = spec[len("paper:"):]
        refs = reference_tables()
        if name not in refs:
            raise UserError(f"unknown reference {spec!r} (known: {', '.join('paper:' + k for k in sorted(refs))})")
        run = refs[name]
        return RunResult(spec, run["model"]["id"], run["tasks"], reference=True, extra={"source": run["_source"]})
    path = Path(spec)
    if path.is_dir():
        path = path / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{spec}: no results.json there (is it a finished run?)") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), dict):
        raise UserError(f"{path}: not an evalkit results.json (no 'tasks' table)")
    model = (doc.get("model") or {}).get("id", "?")
    return RunResult(spec, str(model), doc["tasks"], reference=bool(doc.get("evalkit_reference")),
                     extra={"doc": doc})
