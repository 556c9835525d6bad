"""How two run manifests differ, in words (the --resume refusal names the settings that changed)."""

from __future__ import annotations

import json
from typing import Any


def differences(old: dict, new: dict) -> list[str]:
    """The settings in which two manifests differ, as 'field: RUN (the run) vs NOW (this command)'."""
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        elif a != b:
            out.append(f"{path}: {json.dumps(a)} (the run) vs {json.dumps(b)} (now)")

    old_cfg, new_cfg = old.get("config") or {}, new.get("config") or {}
    walk({"generation": old_cfg.get("generation"), "limit": old_cfg.get("limit")},
         {"generation": new_cfg.get("generation"), "limit": new_cfg.get("limit")}, "")
    old_tasks, new_tasks = old.get("tasks") or {}, new.get("tasks") or {}
    if list(old_tasks) != list(new_tasks):
        out.append(f"tasks: {','.join(old_tasks)} (the run) vs {','.join(new_tasks)} (now)")
    else:
        walk(old_tasks, new_tasks, "tasks")
    om, nm = old.get("model") or {}, new.get("model") or {}
    keys = [k for k in nm if k in om] if len(nm) > 1 else ["id"]
    walk({k: om.get(k) for k in keys}, {k: nm.get(k) for k in keys}, "model")
    return out
