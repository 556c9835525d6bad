"""Load result tables: a run directory, a results.json, or a reference table such as ``paper:codellama-7b``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from evalkit.errors import UserError


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

    def problems(self, task: str) -> dict[str, tuple[int, int]]:
        """task_id -> (n samples, c correct); empty for a reference table (no per-problem data)."""
        raw = self.tasks.get(task, {}).get("problems") or {}
        return {tid: (int(n), int(c)) for tid, (n, c) in raw.items()}

    def value(self, task: str, metric: str) -> float | None:
        v = self.tasks.get(task, {}).get(metric)
        return float(v) if isinstance(v, (int, float)) else None

    def ci(self, task: str, metric: str) -> tuple[float, float] | None:
        v = self.tasks.get(task, {}).get(f"{metric}_ci")
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
