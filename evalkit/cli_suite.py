"""``evalkit run --suite NAME``: every table of a paper in one command (the suites: ``evalkit.suites``).

The plan (the suite's entries for the model's flavour, ``--suite-tables`` to keep some) and its estimate of
generated tokens are printed before anything loads. Each entry is a run of its own, ``OUTPUT_DIR/<slug>``
(``table2-n200-t0.8``, ``table6-greedy-spm`` ...): the paper's decoding and sample count, its FIM layout, its
tasks; every run records the suite in its manifest and results (``config.suite``). The model is loaded once.
``OUTPUT_DIR/suite.json`` holds the plan, the settings and what became of each entry (done, skipped and why).
A task whose data or toolchain is not here is skipped with one line (and recorded), the others run.
``report`` and ``compare`` take the suite's directory for its runs (``expand_runs``).
``--resume`` continues every run (alone: with the suite's own settings from suite.json and the runs'
manifests); a run already finished is not redone.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

from evalkit.errors import UserError

# what a suite sets itself: given with --suite, each is an error (another protocol under the paper's name)
FIXED = {"tasks": "--tasks", "preset": "--preset", "n_samples": "--n-samples", "temperature": "--temperature",
         "top_p": "--top-p", "fim": "--fim", "chat": "--chat", "stop": "--stop", "max_new_tokens": "--max-new-tokens",
         "infill_stop": "--infill-stop"}
# the command's settings suite.json keeps for `run --resume` alone (a run not started yet has no manifest to read)
KEPT = ("model", "revision", "dtype", "engine", "backend", "base_url", "tokenizer", "limit", "seed", "data_dir",
        "tasks_dir", "memory_mb", "isolation", "timeout", "context_lengths", "key_positions", "examples_per_cell",
        "prompt_seed", "filler", "max_prompt_tokens", "balanced_n", "balance_seed")
ONLY_WITH_SUITE = {"suite_tables": "--suite-tables", "flavour": "--flavour", "dry_run": "--dry-run"}
SUITE_FILE = "suite.json"


def check_options(args: argparse.Namespace, typed: set[str]) -> None:
    """One line, exit 2, for options that do not go with (or without) --suite."""
    if not args.suite:
        for dest, flag in ONLY_WITH_SUITE.items():
            if dest in typed:
                raise UserError(f"{flag} needs --suite")
        return
    bad = [flag for dest, flag in FIXED.items() if dest in typed]
    if bad:
        raise UserError(f"--suite {args.suite} sets the tasks and the paper's decoding itself: drop "
                        f"{', '.join(bad)} (for other settings run the tasks without --suite)")


def from_suite_file(args: argparse.Namespace, typed: set[str], out_dir: Path) -> None:
    """``run --resume --output-dir DIR`` alone on a suite's directory: the suite, its flavour and tables; a
    --suite, --flavour or --suite-tables given that differs from the recorded one is refused."""
    rec = read_suite_file(out_dir)
    if rec is None:
        return
    for dest, flag in (("suite", "--suite"), ("flavour", "--flavour"), ("suite_tables", "--suite-tables")):
        if dest in typed and getattr(args, dest) != rec.get(dest):
            raise UserError(f"{out_dir} holds the suite {rec.get('suite')} (flavour {rec.get('flavour')}, tables "
                            f"{rec.get('suite_tables') or 'all'}): {flag} {getattr(args, dest)} differs; run "
                            f"`evalkit run --resume --output-dir {out_dir}` alone to continue it")
        setattr(args, dest, rec.get(dest))
    for dest, value in (rec.get("options") or {}).items():
        if dest in KEPT and dest not in typed and value is not None:
            setattr(args, dest, value)


def read_suite_file(out_dir: Path) -> dict | None:
    path = out_dir / SUITE_FILE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable ({e})") from None
    if not isinstance(doc, dict) or "suite" not in doc:
        raise UserError(f"{path}: not an evalkit suite file")
    return doc


def _entry_args(args: argparse.Namespace, entry: Any) -> argparse.Namespace:
    """The options of one entry's run: the suite's decoding, layout and tasks; the long-context options only
    where the entry has those tasks."""
    from evalkit.longctx import options as long_options

    sub = copy.copy(args)
    sub.tasks = ",".join(entry.tasks)
    sub.preset = entry.preset
    sub.n_samples, sub.temperature, sub.top_p = (entry.decoding[k] for k in ("n_samples", "temperature", "top_p"))
    sub.fim, sub.chat, sub.stop, sub.max_new_tokens, sub.infill_stop = entry.fim, entry.chat, None, None, None
    if "key-retrieval" not in entry.tasks:
        for dest in long_options.KEY_OPTIONS:
            setattr(sub, dest, None)
    if not any(t.startswith("lcc-") for t in entry.tasks):
        for dest in long_options.LCC_OPTIONS:
            setattr(sub, dest, None)
    return sub


def _load(sub: argparse.Namespace, names: list[str], skipped: dict[str, str]) -> list:
    """The entry's tasks that can run here; the others named in ``skipped`` (why), with one line each."""
    from evalkit.cli_run import _load_tasks

    tasks = []
    for name in names:
        if name in skipped:
            continue
        try:
            tasks += _load_tasks([name], sub, None)
        except UserError as e:
            skipped[name] = str(e)
            print(f"evalkit: suite: skipping {name}: {e}", file=sys.stderr)
    return tasks


def run_suite(args: argparse.Namespace, out_dir: Path, typed: set[str]) -> int:
    from evalkit import resume, suites
    from evalkit.cli_run import _check_protocol, _run_config, execute, load_model, precheck
    from evalkit.longctx import options as long_options
    from evalkit.registry import task_classes

    rec = read_suite_file(out_dir)
    if rec is not None and not args.resume and not args.dry_run:
        raise UserError(f"{out_dir} already holds a suite run: pass --resume to continue it, or another --output-dir")
    if rec is None and (out_dir / "manifest.json").exists():
        raise UserError(f"{out_dir} holds a run of tasks, not a suite: give another --output-dir")
    if args.resume:  # the runs' own model and options, unless given now (each entry sets its own decoding)
        for d in sorted(out_dir.glob("*/manifest.json")):
            manifest = resume.read_manifest(d.parent) or {}
            if (changed := long_options.changed_on_resume(args, typed, manifest)) is not None:
                raise UserError(f"{d.parent} was made with other long-context options: {changed}; run `evalkit run "
                                f"--resume --output-dir {out_dir}` alone to continue the suite with its own")
            resume.apply_manifest(args, typed | set(FIXED), manifest)
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    flavour = args.flavour or suites.flavour_of(args.model)
    entries = suites.select(suites.plan(args.suite, flavour), args.suite_tables)
    names = [n for e in entries for n in e.tasks]
    if (msg := long_options.used_without_task(args, names)) is not None:
        raise UserError(msg + " (not in the suite's tables chosen)")
    known = task_classes(args.tasks_dir)
    est = suites.estimate(entries, data_dir=args.data_dir, tasks_dir=args.tasks_dir, limit=args.limit,
                          configure=lambda t: long_options.configure(t, args))
    print(f"suite {args.suite}, flavour {flavour}: {len(entries)} runs, tables "
          f"{', '.join(t.removeprefix('Table ') for t in suites.tables_of(entries))}"
          + (f", the first {args.limit} problems of each task" if args.limit else ""))
    print(suites.describe(est), flush=True)
    if args.dry_run:
        return 0

    skipped = {n: "not a task of this evalkit" for n in est["missing_tasks"]}
    created = (rec or {}).get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"suite": args.suite, "flavour": flavour, "suite_tables": args.suite_tables, "model": args.model,
              "limit": args.limit, "created": created,
              "estimate": {k: est[k] for k in ("samples", "tokens_typical", "tokens_upper_bound")},
              "options": _options(args), "runs": []}
    planned = []  # (entry, its args, tasks, cfg, extra) for the runs that have tasks here
    for e in entries:
        sub = _entry_args(args, e)
        tasks = _load(sub, [n for n in e.tasks if n in known], skipped)
        run = {"dir": suites.slug(e), "tables": list(e.tables), "tasks": [t.name for t in tasks],
               "decoding": e.decoding, "fim": e.fim, "preset": e.preset}
        record["runs"].append(run)
        if not tasks:
            run["status"] = "skipped: no task of it can run here"
            continue
        _check_protocol(sub, tasks)
        cfg = _run_config(sub, tasks)
        extra = {"suite": {"name": args.suite, "flavour": flavour, "tables": list(e.tables), "run": run["dir"]}}
        precheck(sub, out_dir / run["dir"], tasks, cfg, before_weights=True, extra=extra)
        planned.append((run, sub, tasks, cfg, extra))
    record["skipped_tasks"] = skipped
    if not planned:
        raise UserError(f"suite {args.suite}: none of its tasks can run here ({'; '.join(sorted(skipped))})")
    backend = load_model(args)  # a model that does not load leaves no suite behind
    _write(out_dir, record)
    for run, sub, tasks, cfg, extra in planned:
        d = out_dir / run["dir"]
        if (d / "results.json").exists() and args.resume and not args.generate_only:
            run["status"] = "done"
            print(f"suite: {run['dir']}: finished before", file=sys.stderr)
            continue
        if hasattr(backend, "fim_mode"):
            backend.fim_mode = sub.fim or "psm"
        print(f"suite: {run['dir']} ({', '.join(run['tables'])}): {', '.join(run['tasks'])}", file=sys.stderr)
        sub.resume = args.resume and (d / "manifest.json").exists()
        execute(sub, d, tasks, cfg, backend, extra)
        run["status"] = "generated" if args.generate_only else "done"
        _write(out_dir, record)
    _write(out_dir, record)
    print(f"suite: {sum(r.get('status') == 'done' for r in record['runs'])} of {len(record['runs'])} runs done in "
          f"{out_dir}; the paper's tables beside them: evalkit report --paper {out_dir}")
    return 0


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from evalkit.task import data_dir

    out = {dest: getattr(args, dest, None) for dest in KEPT}
    d = data_dir(args.data_dir)
    out["data_dir"] = str(Path(d).resolve()) if d is not None else None
    return out


def expand_runs(paths: list[str]) -> list[str]:
    """``report`` and ``compare`` arguments with a suite's directory replaced by its runs (those with results),
    in the suite's order."""
    out = []
    for p in paths:
        rec = read_suite_file(Path(p)) if Path(p).is_dir() and not (Path(p) / "results.json").exists() else None
        if rec is None:
            out.append(p)
            continue
        runs = [str(Path(p) / r["dir"]) for r in rec.get("runs") or []
                if (Path(p) / r["dir"] / "results.json").exists()]
        if not runs:
            raise UserError(f"{p}: a suite with no finished run yet (continue it: evalkit run --resume "
                            f"--output-dir {p})")
        out += runs
    return out


def _write(out_dir: Path, record: dict) -> None:
    from evalkit.store import atomic_write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / SUITE_FILE, record)
