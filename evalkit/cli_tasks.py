"""``evalkit tasks`` (what is there, and where its data comes from) and ``evalkit prompt`` (what the model sees)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from evalkit.cli_run import _check_protocol, _load_tasks
from evalkit.errors import UserError

HUB_NOTE = ("hub: no local copy (no --data-dir, EVALKIT_DATA_DIR unset), not in the datasets cache either: `run` "
            "downloads it. To use local files, pass --data-dir DIR or set EVALKIT_DATA_DIR=DIR, with "
            "DIR/mbpp/mbpp.jsonl, DIR/mbpp/sanitized-mbpp.json, DIR/humaneval-infilling/HumanEval-*.jsonl.gz, "
            "DIR/evalplus/*.jsonl.gz (a copy of the tests' ../shared/data is such a folder).")
HUB_NOTE_LOCAL = "hub: not in the data folder nor in the datasets cache: `run` downloads it."


def cmd_tasks(args: argparse.Namespace) -> int:
    from evalkit.registry import task_classes

    # Listing never downloads: counts come from local files or the datasets cache, else "hub".
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from evalkit.task import data_dir

    local = data_dir(args.data_dir) is not None  # a data dir that does not exist or is empty: exit 2 here
    rows = []
    for name, cls in sorted(task_classes(args.tasks_dir).items()):
        try:
            count: Any = len(cls(data_dir=args.data_dir).problems())
        except UserError as e:
            if not local or "cannot load" in str(e):
                count = "hub"  # not here: fetched from the hub by `run`
            else:  # the data dir lacks the task's file, or the file is corrupt: say so, list the rest
                count = "-"
                print(f"evalkit: warning: {e}", file=sys.stderr)
        rows.append((name, str(count), cls.description))
    w = max(len(r[0]) for r in rows)
    print(f"{'task':<{w}}  problems  description")
    for name, count, desc in rows:
        print(f"{name:<{w}}  {count:>8}  {desc}")
    if any(count == "hub" for _, count, _ in rows):
        print(f"\n{HUB_NOTE if not local else HUB_NOTE_LOCAL}")
    if (line := toolchains()) is not None:
        print(f"\n{line}")
    return 0


def toolchains() -> str | None:
    """Which MultiPL-E languages can run on this machine: their toolchain is here, or the Debian packages that
    install what is missing (None when no MultiPL-E task is installed)."""
    try:
        from evalkit import langs
        from evalkit.tasks.multiple import TASKS
    except ImportError:
        return None
    here, missing = [], []
    for key in dict.fromkeys(t.lang for t in TASKS):
        lang = langs.get(key)
        miss = lang.missing()
        if not miss:
            here.append(lang.title)
        else:
            pkgs = " ".join(dict.fromkeys(pkg for _, pkg in miss))
            missing.append(f"{lang.title} (no {', '.join(p for p, _ in miss)}: apt-get install {pkgs})")
    return ("MultiPL-E toolchains: can run here: " + (", ".join(here) or "none")
            + ("; cannot: " + "; ".join(missing) if missing else ""))


def cmd_prompt(args: argparse.Namespace) -> int:
    from evalkit.backends import load_backend
    from evalkit.runner import RunConfig, build_requests

    task = _load_tasks([args.task], args)[0]
    _check_protocol(args, [task])
    problems = task.problems()
    if args.task_id is not None:
        tid = task.canonical_task_id(args.task_id)
        keep = [p for p in problems if p.task_id == tid]
        if not keep:
            raise UserError(f"unknown task_id {args.task_id!r} for task {task.name}")
        task._problems = keep
    else:
        task._problems = problems[:1]
    backend = load_backend(args.model, revision=args.revision, trust_remote_code=args.trust_remote_code,
                           fim=args.fim or "psm", fim_tokens=args.fim_tokens, device="cpu", load_weights=False)
    from evalkit.longctx import options as long_options

    long_options.give_tokenizer([task], backend)  # a task that counts the model's tokens builds with them
    req = build_requests(task, RunConfig(chat=args.chat, fim=args.fim), set())[0]
    shown = backend.render(req)
    sys.stdout.write(shown["text"])
    if not shown["text"].endswith("\n"):
        sys.stdout.write("\n")
    if args.ids:
        if "ids" not in shown:
            raise UserError("--ids needs a model with a tokenizer")
        print(f"--- {len(shown['ids'])} tokens (id, piece) ---")
        for i, piece in zip(shown["ids"], shown["pieces"]):
            print(f"{i}\t{piece!r}")
    return 0




def cmd_metric_path(args: argparse.Namespace) -> int:
    from evalkit.hf_metric import PATH

    print(PATH)
    return 0
