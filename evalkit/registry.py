"""Find tasks: the built-in ``evalkit.tasks`` modules, a user's ``--tasks-dir``, and ``evalkit.tasks`` entry points.

A task module lists its task classes in a module-level ``TASKS`` list. A user adds a benchmark by dropping
``mytask.py`` into a folder and passing ``--tasks-dir FOLDER`` (or setting ``EVALKIT_TASKS_DIR``), or by
publishing a package with an ``evalkit.tasks`` entry point that names the module.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

from evalkit.errors import UserError
from evalkit.task import Task


def _classes_of(module: object) -> list[type[Task]]:
    found = getattr(module, "TASKS", [])
    return [c for c in found if isinstance(c, type) and issubclass(c, Task) and c.name]


def _load_file(path: Path) -> object:
    name = f"evalkit_user_tasks.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot import task module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # a user's module: say which one broke, in one line
        raise UserError(f"task module {path} failed to import: {type(e).__name__}: {e}") from None
    return module


def task_classes(tasks_dir: str | None = None) -> dict[str, type[Task]]:
    import evalkit.tasks as builtin

    classes: dict[str, type[Task]] = {}
    for info in pkgutil.iter_modules(builtin.__path__):
        if info.name.startswith("_"):
            continue
        for c in _classes_of(importlib.import_module(f"evalkit.tasks.{info.name}")):
            classes[c.name] = c
    for ep in entry_points(group="evalkit.tasks"):
        try:
            module = ep.load()
        except Exception as e:
            raise UserError(f"entry point {ep.name} ({ep.value}) failed to load: {e}") from None
        for c in _classes_of(module):
            classes[c.name] = c
    tdir = tasks_dir or os.environ.get("EVALKIT_TASKS_DIR")
    if tdir:
        d = Path(tdir)
        if not d.is_dir():
            raise UserError(f"--tasks-dir {d}: no such directory")
        for path in sorted(d.glob("*.py")):
            if not path.name.startswith("_"):
                for c in _classes_of(_load_file(path)):
                    classes[c.name] = c
    return classes


def get_task(name: str, *, tasks_dir: str | None = None, data_dir: str | None = None) -> Task:
    classes = task_classes(tasks_dir)
    if name not in classes:
        known = ", ".join(sorted(classes))
        raise UserError(f"unknown task {name!r} (known tasks: {known})")
    return classes[name](data_dir=data_dir)
