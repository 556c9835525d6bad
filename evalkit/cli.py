"""``evalkit`` command line. Heavy modules are imported inside each verb so ``evalkit --help`` is instant."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.errors import UserError

PRESETS: dict[str, dict[str, Any]] = {
    # Code Llama paper, Table 2: greedy pass@1, and pass@1/10/100 from 200 samples at T=0.8, top-p 0.95
    "paper-pass1": {"n_samples": 1, "temperature": 0.0, "top_p": 1.0},
    "paper-pass100": {"n_samples": 200, "temperature": 0.8, "top_p": 0.95},
}


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit code 2, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"evalkit: error: {message} (see: {self.prog} --help)\n")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="local benchmark files (default: $EVALKIT_DATA_DIR, else the hub)")
    p.add_argument("--tasks-dir", help="extra task modules (default: $EVALKIT_TASKS_DIR)")


def _add_sandbox(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sandbox")
    g.add_argument("--workers", type=int, help="parallel sandbox workers (default: all cores)")
    g.add_argument("--timeout", type=float, help="CPU seconds per sample (default: the task's own, 3 s for HumanEval)")
    g.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per sample (default 4096)")
    g.add_argument("--isolation", choices=["auto", "none"], default="auto",
                   help="auto: every layer the machine allows (default); none: rlimits and process groups only")


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="evalkit", description="Evaluate code models on HumanEval, MBPP and "
                                 "HumanEval-infilling by running their code in a sandbox.")
    ap.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = ap.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("tasks", help="list tasks with problem counts")
    _add_common(p)

    p = sub.add_parser("run", help="generate completions with a model and score them")
    p.add_argument("--model", default="reference", help="hub id, local checkpoint dir, or 'reference' (the oracle)")
    p.add_argument("--tasks", default="humaneval", help="comma-separated task names (default: humaneval)")
    p.add_argument("--limit", type=int, help="only the first N problems of each task")
    p.add_argument("--output-dir", help="run directory (default: a new folder under results/runs/)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output-dir")
    p.add_argument("--generate-only", action="store_true", help="stop after generation; score later with 'evaluate'")
    g = p.add_argument_group("generation")
    g.add_argument("--preset", choices=sorted(PRESETS), help="paper protocol (Code Llama Table 2)")
    g.add_argument("--n-samples", type=int, help="samples per problem (default 1)")
    g.add_argument("--temperature", type=float, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, help="nucleus sampling (default 1.0)")
    g.add_argument("--max-new-tokens", type=int, help="default: the task's (512 for HumanEval)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--stop", action="append", help="replace the task's stop sequences (repeatable; \\n escapes)")
    g.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template (instruct models)")
    g.add_argument("--fim", choices=["psm", "spm"], default="psm", help="infilling layout (default psm)")
    g.add_argument("--fim-tokens", help="PREFIX,SUFFIX,MIDDLE[,END] tokens for a model evalkit does not know")
    m = p.add_argument_group("model")
    m.add_argument("--revision", help="hub revision (branch, tag or commit)")
    m.add_argument("--dtype", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    m.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    m.add_argument("--device-map", help="passed to from_pretrained (e.g. auto) for multi-GPU models")
    m.add_argument("--batch-size", default="auto", help="sequences per batch, or auto (default)")
    m.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code (off by default)")
    m.add_argument("--engine", choices=["auto", "fast", "eager"], default="auto",
                   help="decode engine: fast (static KV slots, CUDA graphs) where the model fits, else eager (default auto)")
    _add_sandbox(p)
    _add_common(p)

    p = sub.add_parser("evaluate", help="score completions from a file, or a run made with --generate-only")
    p.add_argument("file", help="JSONL (task_id + completion | solution), bigcode generations.json, or a run dir")
    p.add_argument("--task", help="task the file answers (not needed for a run dir)")
    p.add_argument("--output-dir", help="where results go (default: a new folder under results/runs/; the run dir)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted evaluation in --output-dir")
    _add_sandbox(p)
    _add_common(p)

    p = sub.add_parser("prompt", help="print exactly what the model sees for one problem")
    p.add_argument("--task", required=True)
    p.add_argument("--model", default="reference")
    p.add_argument("--task-id", help="default: the first problem")
    p.add_argument("--chat", action="store_true")
    p.add_argument("--ids", action="store_true", help="also print token ids with their pieces")
    p.add_argument("--fim", choices=["psm", "spm"], default="psm")
    p.add_argument("--fim-tokens")
    p.add_argument("--revision")
    p.add_argument("--trust-remote-code", action="store_true")
    _add_common(p)

    p = sub.add_parser("compare", help="compare runs (and paper tables) with confidence intervals and p-values")
    p.add_argument("runs", nargs="+", help="run dirs, results.json files, or paper:<model> references")
    p.add_argument("--format", choices=["table", "md", "csv", "json"], default="table")
    p.add_argument("--per-problem", action="store_true", help="list problems that flipped between the first two runs")

    p = sub.add_parser("check", help="CI gate: exit 1 if a task dropped significantly against a baseline")
    p.add_argument("run")
    p.add_argument("--baseline", required=True)
    p.add_argument("--max-drop", type=float, default=0.02, help="allowed drop in pass@1 (fraction, default 0.02)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--format", choices=["table", "md"], default="table")

    p = sub.add_parser("report", help="a static HTML report: comparison table, pass@k curves, heat map")
    p.add_argument("runs", nargs="+")
    p.add_argument("-o", "--output", default="report.html")
    return ap


def _unescape(s: str) -> str:
    return s.encode().decode("unicode_escape")


def _default_output_dir(model: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.rstrip("/").split("/")[-1])[:60] or "model"
    return Path("results") / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"


def _sandbox_config(args: argparse.Namespace):  # noqa: ANN202
    from evalkit.sandbox import SandboxConfig

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UserError("--timeout must be positive")
    if args.memory_mb < 0:
        raise UserError("--memory-mb must be >= 0 (0: no limit)")
    return SandboxConfig(memory_mb=args.memory_mb, isolation=args.isolation)


def _load_tasks(names: list[str], args: argparse.Namespace, stop: list[str] | None = None) -> list:
    from evalkit.registry import get_task

    tasks = []
    for name in names:
        t = get_task(name, tasks_dir=args.tasks_dir, data_dir=args.data_dir)
        if stop is not None:
            t.stop_sequences = tuple(stop)
        t.problems()
        tasks.append(t)
    return tasks


def cmd_tasks(args: argparse.Namespace) -> int:
    from evalkit.registry import task_classes

    # Listing never downloads: counts come from local files or the datasets cache, else "hub".
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    rows = []
    for name, cls in sorted(task_classes(args.tasks_dir).items()):
        try:
            count: Any = len(cls(data_dir=args.data_dir).problems())
        except UserError:
            count = "hub"  # not here: fetched from the hub by `run`
        rows.append((name, str(count), cls.description))
    w = max(len(r[0]) for r in rows)
    print(f"{'task':<{w}}  problems  description")
    for name, count, desc in rows:
        print(f"{name:<{w}}  {count:>8}  {desc}")
    return 0


def _print_summary(results: dict, out_dir: Path) -> None:
    for name, t in results["tasks"].items():
        parts = []
        for key in sorted((k for k in t if re.fullmatch(r"pass@\d+", k)), key=lambda k: int(k[5:])):
            lo, hi = t[f"{key}_ci"]
            parts.append(f"{key} {t[key]:.4f} [{lo:.3f}, {hi:.3f}]")
        n = t["n_samples_per_problem"]
        print(f"{name}: {t['n_problems']} problems x {n} samples  " + "  ".join(parts))
    print(f"results: {out_dir / 'results.json'}")


def _run_config(args: argparse.Namespace, tasks: list):  # noqa: ANN202
    from evalkit.backends.base import GenerationParams
    from evalkit.runner import RunConfig

    preset = PRESETS.get(args.preset or "", {})
    pick = lambda name, default: v if (v := getattr(args, name)) is not None else preset.get(name, default)  # noqa: E731
    n = pick("n_samples", 1)
    temperature = pick("temperature", 0.0)
    if n < 1:
        raise UserError("--n-samples must be at least 1")
    if temperature < 0:
        raise UserError("--temperature must be >= 0")
    if not 0 < pick("top_p", 1.0) <= 1:
        raise UserError("--top-p must be in (0, 1]")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise UserError("--max-new-tokens must be at least 1")
    if args.batch_size != "auto" and not (args.batch_size.isdigit() and int(args.batch_size) > 0):
        raise UserError("--batch-size takes a positive number or auto")
    max_new = args.max_new_tokens or max(t.default_max_new_tokens for t in tasks)
    return RunConfig(
        limit=args.limit, n_samples=n, seed=args.seed, chat=args.chat, fim=args.fim, preset=args.preset,
        params=GenerationParams(max_new_tokens=max_new, temperature=temperature, top_p=pick("top_p", 1.0)),
        sandbox=_sandbox_config(args), timeout=args.timeout, workers=args.workers,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit import runner
    from evalkit.backends import load_backend
    from evalkit.store import RunStore

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    stop = [_unescape(s) for s in args.stop] if args.stop else None
    tasks = _load_tasks([t.strip() for t in args.tasks.split(",") if t.strip()], args, stop)
    cfg = _run_config(args, tasks)
    backend = load_backend(
        args.model, revision=args.revision, dtype=args.dtype, device=args.device, device_map=args.device_map,
        batch_size=args.batch_size, trust_remote_code=args.trust_remote_code, fim=args.fim,
        fim_tokens=args.fim_tokens, engine=args.engine,
    )
    for t in tasks:
        if t.infilling and hasattr(backend, "check_fim"):
            backend.check_fim()
    out_dir = Path(args.output_dir) if args.output_dir else _default_output_dir(args.model)
    store = RunStore(out_dir, runner.manifest_for(backend.info(), tasks, cfg), resume=args.resume)
    sandbox_info = None
    try:
        if args.generate_only:
            runner.generate(backend, tasks, cfg, store)
        else:  # the sandbox judges samples while the model generates the next ones (evalkit/pipeline.py)
            from evalkit.pipeline import generate_and_execute

            sandbox_info = generate_and_execute(backend, tasks, cfg, store)
        if args.generate_only:
            store.close()
            print(f"generated: {out_dir / 'generations.jsonl'}; score with: evalkit evaluate {out_dir}")
            return 0
    except BaseException:
        store.close()
        raise
    return _score(tasks, cfg, store, sandbox_info)


def _score(tasks: list, cfg: Any, store: Any, sandbox_info: dict | None = None) -> int:
    """Execute what has no verdict yet (unless ``sandbox_info`` says it was all judged), write the final files."""
    from evalkit import runner

    try:
        info = sandbox_info if sandbox_info is not None else runner.execute(tasks, cfg, store)
        results = runner.finalize(tasks, cfg, store, info)
    finally:
        store.close()
    _print_summary(results, store.dir)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from evalkit import runner
    from evalkit.inputs import read_samples
    from evalkit.store import RunStore
    from evalkit.task import sha256_file

    src = Path(args.file)
    if src.is_dir() and (src / "manifest.json").exists():  # a run made with --generate-only
        manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
        tasks = _load_tasks(list(manifest["tasks"]), args)
        gen = manifest["config"]["generation"]
        cfg = runner.RunConfig(limit=manifest["config"].get("limit"), n_samples=gen["n_samples"],
                               sandbox=_sandbox_config(args), timeout=args.timeout, workers=args.workers)
        store = RunStore(src, manifest, resume=True)
    else:
        if not args.task:
            raise UserError("--task is required when FILE is not a run directory")
        tasks = _load_tasks([args.task], args)
        task = tasks[0]
        records = read_samples(src, task)
        covered = {r["task_id"] for r in records}
        if len(covered) < len(task.problems()):
            runner.warn(f"{src} covers {len(covered)} of {len(task.problems())} problems of {task.name}; "
                        "scoring those only")
        cfg = runner.RunConfig(sandbox=_sandbox_config(args), timeout=args.timeout, workers=args.workers)
        model = {"backend": "file", "id": str(src), "sha256": sha256_file(src)}
        out_dir = Path(args.output_dir) if args.output_dir else _default_output_dir(src.stem)
        store = RunStore(out_dir, runner.manifest_for(model, tasks, cfg), resume=args.resume)
        have = {(r["task"], r["task_id"], r["sample_idx"]) for r in store.generations.records()}
        for r in records:
            if (r["task"], r["task_id"], r["sample_idx"]) not in have:
                store.generations.append(r)
        store.generations.sync()
        # restrict the scored problems to those the file covers
        for t in tasks:
            t._problems = [p for p in t.problems() if p.task_id in covered]
    return _score(tasks, cfg, store)


def cmd_prompt(args: argparse.Namespace) -> int:
    from evalkit.backends import load_backend
    from evalkit.runner import RunConfig, build_requests

    task = _load_tasks([args.task], args)[0]
    problems = task.problems()
    if args.task_id is not None:
        tid = task.canonical_task_id(args.task_id)
        keep = [p for p in problems if p.task_id == tid]
        if not keep:
            raise UserError(f"unknown task_id {args.task_id!r} for task {task.name}")
        task._problems = keep
    else:
        task._problems = problems[:1]
    req = build_requests(task, RunConfig(chat=args.chat, fim=args.fim), set())[0]
    backend = load_backend(args.model, revision=args.revision, trust_remote_code=args.trust_remote_code,
                           fim=args.fim, fim_tokens=args.fim_tokens, device="cpu", load_weights=False)
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


def cmd_compare(args: argparse.Namespace) -> int:
    from evalkit.compare import cmd_compare as run

    return run(args)


def cmd_check(args: argparse.Namespace) -> int:
    from evalkit.compare import cmd_check as run

    return run(args)


def cmd_report(args: argparse.Namespace) -> int:
    from evalkit.report import cmd_report as run

    return run(args)


COMMANDS = {"tasks": cmd_tasks, "run": cmd_run, "evaluate": cmd_evaluate, "prompt": cmd_prompt,
            "compare": cmd_compare, "check": cmd_check, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if not args.verb:
        ap.print_help()
        return 2
    try:
        return COMMANDS[args.verb](args)
    except UserError as e:
        print(f"evalkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evalkit: interrupted; what was finished is saved (continue with --resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
