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
    p.add_argument("--data-dir", help="folder of local benchmark files: mbpp/mbpp.jsonl, mbpp/sanitized-mbpp.json, "
                   "humaneval-infilling/HumanEval-*.jsonl.gz (default: $EVALKIT_DATA_DIR, else the hub)")
    p.add_argument("--tasks-dir", help="folder of extra task modules, each with a TASKS list "
                   "(default: $EVALKIT_TASKS_DIR)")


def _add_sandbox(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sandbox")
    g.add_argument("--workers", type=int, help="parallel sandbox workers (default: all cores)")
    g.add_argument("--timeout", type=float, help="CPU seconds per sample (default: the task's own, 3 s for HumanEval)")
    g.add_argument("--memory-mb", type=int, default=4096,
                   help="address-space limit per sample in MiB (default 4096; 0: no limit)")
    g.add_argument("--isolation", choices=["auto", "none"], default="auto",
                   help="auto: every layer the machine allows (default); none: rlimits and process groups only")
    g.add_argument("--sandbox-path", action="append", metavar="DIR",
                   help="a file or folder samples may read besides the minimal view (read-only; repeatable)")


def _add_serve(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("served models (--backend openai: vLLM, SGLang, TGI, transformers serve ...)")
    g.add_argument("--backend", choices=["hf", "openai"], default="hf",
                   help="hf: load --model here (default); openai: an OpenAI-compatible server generates")
    g.add_argument("--base-url", help="server URL(s), comma-separated (data parallel), e.g. http://host:8000/v1")
    g.add_argument("--concurrency", type=int, default=64, help="requests in flight over all servers (default 64)")
    g.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request (default 600)")
    g.add_argument("--max-retries", type=int, default=6, help="retries of a request on 429/5xx/timeouts (default 6)")
    g.add_argument("--api-key-env", help="name of the environment variable that holds the API key")
    g.add_argument("--tokenizer", help="the model's tokenizer for infilling prompts (default: --model)")


def _serve_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.backend != "openai":
        if args.base_url:
            raise UserError("--base-url needs --backend openai")
        return {}
    if not args.base_url:
        raise UserError("--backend openai needs --base-url URL[,URL...]")
    return {"backend": "openai", "base_url": args.base_url, "concurrency": args.concurrency,
            "request_timeout": args.request_timeout, "max_retries": args.max_retries,
            "api_key_env": args.api_key_env, "tokenizer": args.tokenizer, "chat": args.chat}


def _doc(verb: str) -> dict[str, Any]:
    """The examples epilog of a verb (and the paper: references for the verbs that take them)."""
    from evalkit.clidoc import epilog

    return {"epilog": epilog(verb), "formatter_class": argparse.RawDescriptionHelpFormatter}


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="evalkit", description="Evaluate code models on HumanEval, MBPP and "
                                 "HumanEval-infilling by running their code in a sandbox.")
    ap.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = ap.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("tasks", help="list tasks with problem counts", **_doc("tasks"))
    _add_common(p)

    p = sub.add_parser("run", help="generate completions with a model and score them", **_doc("run"))
    p.add_argument("--model", default="reference",
                   help="hub id, local checkpoint dir, or 'reference' (default): the oracle that answers each "
                   "problem's own solution (pass@1 = 1.0), a check of the data and the sandbox")
    p.add_argument("--tasks", default="humaneval", help="comma-separated task names (default: humaneval)")
    p.add_argument("--limit", type=int, help="only the first N problems of each task")
    p.add_argument("--output-dir", help="run directory (default: a new folder under results/runs/)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output-dir; alone (no other "
                   "flags) with the run's own settings from its manifest.json")
    p.add_argument("--generate-only", action="store_true", help="stop after generation; score later with 'evaluate'")
    g = p.add_argument_group("generation")
    g.add_argument("--preset", choices=sorted(PRESETS), help="paper protocol (Code Llama Table 2): paper-pass1 = "
                   "greedy, 1 sample; paper-pass100 = 200 samples at T=0.8, top-p 0.95 (flags override it)")
    g.add_argument("--n-samples", type=int, help="samples per problem (default 1)")
    g.add_argument("--temperature", type=float, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, help="nucleus sampling (default 1.0)")
    g.add_argument("--max-new-tokens", type=int, help="default: the task's (512 for HumanEval)")
    g.add_argument("--seed", type=int, default=0, help="base seed; each sample's own seed derives from it and the "
                   "task, problem and sample index, so completions do not depend on batch size (default 0)")
    g.add_argument("--stop", action="append", help="replace the task's stop sequences (repeatable; \\n escapes)")
    g.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template (instruct models)")
    g.add_argument("--fim", choices=["psm", "spm"], help="infilling layout (default psm; infilling tasks only)")
    g.add_argument("--fim-tokens", help="PREFIX,SUFFIX,MIDDLE[,END] tokens for a model evalkit does not know")
    g.add_argument("--infill-stop", choices=["newline", "eot"],
                   help="single-line infilling stops at the first newline (default, InCoder convention) or only "
                        "at the end-of-infill token (eot, Meta's reference code)")
    m = p.add_argument_group("model")
    m.add_argument("--revision", help="hub revision (branch, tag or commit)")
    m.add_argument("--dtype", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                   help="weights' dtype (default auto: fp32 on CPU, the checkpoint's own dtype on GPU)")
    m.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    m.add_argument("--device-map", help="passed to from_pretrained (e.g. auto) for multi-GPU models")
    m.add_argument("--batch-size", default="auto", help="sequences per batch, or auto (default)")
    m.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code (off by default)")
    m.add_argument("--engine", choices=["auto", "fast", "eager"], default="auto",
                   help="decode engine: fast (static KV slots, CUDA graphs) where the model fits, else eager (default auto)")
    _add_serve(p)
    _add_sandbox(p)
    _add_common(p)

    p = sub.add_parser("evaluate", help="score completions from a file, or a run made with --generate-only",
                       **_doc("evaluate"))
    p.add_argument("file", help="JSONL (task_id + completion | solution), bigcode generations.json, or a run dir")
    p.add_argument("--task", help="task the file answers, e.g. humaneval or mbpp (not needed for a run dir)")
    p.add_argument("--output-dir", help="where results go (default: a new folder under results/runs/; the run dir)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted evaluation in --output-dir")
    p.add_argument("--evalplus-json", action="store_true",
                   help="humaneval-plus / mbpp-plus: also write evalplus's eval_results.json in the output dir")
    _add_sandbox(p)
    _add_common(p)

    p = sub.add_parser("prompt", help="print exactly what the model sees for one problem", **_doc("prompt"))
    p.add_argument("--task", required=True, help="task name (see: evalkit tasks)")
    p.add_argument("--model", default="reference", help="hub id or local checkpoint dir whose tokenizer lays the "
                   "prompt out (default reference: the prompt text alone; no weights are loaded either way)")
    p.add_argument("--task-id", help="problem to show, e.g. HumanEval/0 or 11 (default: the first problem)")
    p.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template, as run --chat does")
    p.add_argument("--ids", action="store_true", help="also print token ids with their pieces")
    p.add_argument("--fim", choices=["psm", "spm"], help="infilling layout (default psm; infilling tasks only)")
    p.add_argument("--fim-tokens", help="PREFIX,SUFFIX,MIDDLE[,END] tokens for a model evalkit does not know")
    p.add_argument("--infill-stop", choices=["newline", "eot"],
                   help="single-line infilling: stop at the first newline (default) or only at end-of-infill (eot)")
    p.add_argument("--revision", help="hub revision (branch, tag or commit)")
    p.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own tokenizer code")
    _add_common(p)

    p = sub.add_parser("compare", help="compare runs (and paper tables) with confidence intervals and p-values",
                       **_doc("compare"))
    p.add_argument("runs", nargs="+", help="run dirs, results.json files, or paper:<name> references (listed "
                   "below); the first is the one the others are compared with")
    p.add_argument("--format", choices=["table", "md", "csv", "json"], default="table",
                   help="table (terminal, default), md (Markdown), csv, json")
    p.add_argument("--per-problem", action="store_true", help="list problems that flipped between the first two runs")

    p = sub.add_parser("check", help="CI gate: exit 1 if a task dropped significantly against a baseline",
                       **_doc("check"))
    p.add_argument("run", help="the run to judge: a run dir or results.json")
    p.add_argument("--baseline", required=True, help="what it must not fall below: a run dir, results.json or "
                   "paper:<name> (listed below)")
    p.add_argument("--max-drop", type=float, default=0.02, help="allowed drop in pass@1 (fraction, default 0.02)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--format", choices=["table", "md"], default="table", help="table (default) or md (Markdown)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="gate even when the protocols or datasets differ (default: refuse, exit 2)")

    p = sub.add_parser("metric-path", help="print the path of evalkit's Hugging Face `evaluate` metric "
                       "(evaluate.load(PATH): code_eval's interface, scored in evalkit's sandbox, offline)",
                       **_doc("metric-path"))

    p = sub.add_parser("report", help="a static HTML report: comparison table, pass@k curves, heat map",
                       **_doc("report"))
    p.add_argument("runs", nargs="+", help="run dirs, results.json files, or paper:<name> references (listed below)")
    p.add_argument("-o", "--output", default="report.html",
                   help="the HTML file to write (default: report.html in the current directory)")
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
    extra = tuple(os.path.abspath(d) for d in args.sandbox_path or ())
    for d in extra:
        if not os.path.exists(d):
            raise UserError(f"--sandbox-path {d}: no such file or directory")
    return SandboxConfig(memory_mb=args.memory_mb, isolation=args.isolation, extra_paths=extra)


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
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _samples(n: Any) -> str:
    """Samples per problem: a number, or {"min", "max"} when problems have uneven counts."""
    if isinstance(n, dict):
        return f"{n.get('min')}-{n.get('max')} samples (uneven)"
    return _plural(n, "sample")


def _print_summary(results: dict, out_dir: Path) -> None:
    for name, t in results["tasks"].items():
        parts = []
        for key in sorted((k for k in t if re.fullmatch(r"pass@\d+", k)), key=lambda k: int(k[5:])):
            lo, hi = t[f"{key}_ci"]
            parts.append(f"{key} {t[key]:.4f} [{lo:.3f}, {hi:.3f}]")
        print(f"{name}: {_plural(t['n_problems'], 'problem')} x {_samples(t['n_samples_per_problem'])}  "
              + "  ".join(parts))
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
    effective = {"n_samples": n, "temperature": temperature, "top_p": pick("top_p", 1.0)}
    changed = {k: v for k, v in effective.items() if args.preset and v != preset.get(k)}
    fim = (args.fim or "psm") if any(t.infilling for t in tasks) else None
    return RunConfig(
        limit=args.limit, n_samples=n, seed=args.seed, chat=args.chat, fim=fim,
        preset=None if changed else args.preset,  # a preset is recorded only if what ran is the preset
        preset_overrides={"requested": args.preset, "changed": changed} if changed else None,
        params=GenerationParams(max_new_tokens=max_new, temperature=temperature, top_p=pick("top_p", 1.0)),
        sandbox=_sandbox_config(args), timeout=args.timeout, workers=args.workers,
        max_new_tokens=args.max_new_tokens,
    )


def _check_protocol(args: argparse.Namespace, tasks: list) -> None:
    """Refuse options that would run another protocol under a task's name; apply --infill-stop."""
    from evalkit.protocol import check_run_options

    check_run_options(tasks, chat=args.chat, fim=args.fim, infill_stop=args.infill_stop)
    for t in tasks:
        if args.infill_stop and getattr(t, "single_line", False):
            t.infill_stop = args.infill_stop


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit import resume, runner
    from evalkit.backends import load_backend
    from evalkit.store import RunStore

    if args.resume and not args.output_dir:
        raise UserError("--resume needs --output-dir (the run to continue)")
    served_default = args.backend == "openai" and args.model == "reference"  # the server's one model
    out_dir = Path(args.output_dir) if args.output_dir else _default_output_dir("served" if served_default
                                                                                else args.model)
    if args.resume and (old := resume.read_manifest(out_dir)) is not None:  # the run's own settings
        resume.apply_manifest(args, resume.given_options(_parser(), "run", getattr(args, "argv", None) or []), old)
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    stop = [_unescape(s) for s in args.stop] if args.stop else None
    tasks = _load_tasks([t.strip() for t in args.tasks.split(",") if t.strip()], args, stop)
    _check_protocol(args, tasks)
    cfg = _run_config(args, tasks)
    resume.precheck(out_dir, args.resume, runner.manifest_for({"id": resume.model_id(args.model, args.backend)}, tasks, cfg))
    backend = load_backend(
        args.model, revision=args.revision, dtype=args.dtype, device=args.device, device_map=args.device_map,
        batch_size=args.batch_size, trust_remote_code=args.trust_remote_code, fim=args.fim or "psm",
        fim_tokens=args.fim_tokens, engine=args.engine, **_serve_options(args),
    )
    for t in tasks:
        if t.infilling and hasattr(backend, "check_fim"):
            backend.check_fim()
    manifest = runner.manifest_for(backend.info(), tasks, cfg)
    manifest |= resume.command_record(args)  # data folder and overrides: what `evaluate` and --resume reuse
    store = RunStore(out_dir, manifest, resume=args.resume)
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

    from evalkit import runner
    from evalkit.inputs import read_samples
    from evalkit.store import RunStore
    from evalkit.task import sha256_file

    src = Path(args.file)
    if not src.exists():
        raise UserError(f"{src}: no such file or directory")
    if src.is_dir() and (src / "manifest.json").exists():  # a run made with --generate-only
        from evalkit.resume import apply_manifest, given_options, read_manifest, same_data

        manifest = read_manifest(src) or {}
        # the run's sandbox limits and --sandbox-path, unless given now (the data folder: below)
        apply_manifest(args, given_options(_parser(), "evaluate", getattr(args, "argv", None) or []) | {"data_dir"},
                       manifest)
        if args.data_dir is None and manifest.get("data_dir") and Path(manifest["data_dir"]).exists():
            args.data_dir = manifest["data_dir"]  # the data the run was generated with
        stop = (manifest.get("overrides") or {}).get("stop")
        tasks = _load_tasks(list(manifest["tasks"]), args, [_unescape(s) for s in stop] if stop else None)
        _plus_tasks(tasks, args)
        for t in tasks:  # the stop rule the run generated with (--infill-stop)
            if getattr(t, "single_line", False) and (manifest["tasks"].get(t.name) or {}).get("infill_stop"):
                t.infill_stop = manifest["tasks"][t.name]["infill_stop"]
        same_data(tasks, manifest)
        gen = manifest["config"]["generation"]
        cfg = runner.RunConfig(limit=manifest["config"].get("limit"), n_samples=gen["n_samples"],
                               sandbox=_sandbox_config(args), timeout=args.timeout, workers=args.workers)
        store = RunStore(src, manifest, resume=True)
    else:
        if not args.task:
            raise UserError("--task is required when FILE is not a run directory")
        tasks = _load_tasks([args.task], args)
        _plus_tasks(tasks, args)
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
    rc = _score(tasks, cfg, store)
    if args.evalplus_json:
        from evalkit.plus.verdicts import write_eval_results

        print(f"evalplus eval_results: {write_eval_results(_plus_tasks(tasks, args), store.dir)}")
    return rc


def _plus_tasks(tasks: list, args: argparse.Namespace) -> list:
    """The EvalPlus tasks among ``tasks``; --evalplus-json without one is refused before anything is written."""
    plus = [t for t in tasks if hasattr(t, "dataset_md5")]
    if args.evalplus_json and not plus:
        raise UserError("--evalplus-json needs an EvalPlus task (humaneval-plus, mbpp-plus)")
    return plus


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
    req = build_requests(task, RunConfig(chat=args.chat, fim=args.fim), set())[0]
    backend = load_backend(args.model, revision=args.revision, trust_remote_code=args.trust_remote_code,
                           fim=args.fim or "psm", fim_tokens=args.fim_tokens, device="cpu", load_weights=False)
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


def cmd_metric_path(args: argparse.Namespace) -> int:
    from evalkit.hf_metric import PATH

    print(PATH)
    return 0


COMMANDS = {"tasks": cmd_tasks, "run": cmd_run, "evaluate": cmd_evaluate, "prompt": cmd_prompt,
            "compare": cmd_compare, "check": cmd_check, "report": cmd_report, "metric-path": cmd_metric_path}


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # which options were typed (run --resume)
    if not sys.stderr.isatty():  # no hub/transformers/datasets bars ("Loading weights") in logs and pipes
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
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
