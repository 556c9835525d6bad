"""``evalkit run`` and ``evalkit evaluate``: load tasks, generate (or read completions), judge in the sandbox,
write the run's files and print the summary; and the option checks they share with ``prompt``."""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from evalkit.cli_parser import PRESETS, parser
from evalkit.cli_summary import print_summary
from evalkit.errors import UserError


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
    from evalkit.longctx import options as long_options
    from evalkit.registry import get_task
    from evalkit.tasks.multiple import expand

    tasks = []
    for name in expand(names):  # a group (`multiple`) is its tasks
        t = get_task(name, tasks_dir=args.tasks_dir, data_dir=args.data_dir)
        if stop is not None:
            t.stop_sequences = tuple(stop)
        long_options.configure(t, args)
        t.problems()
        tasks.append(t)
    return tasks


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
    if n > 1 and temperature == 0:
        print(f"evalkit: warning: --n-samples {n} with greedy decoding (temperature 0) makes {n} identical samples "
              "per problem (pass@k = pass@1 for every k); sample with --temperature > 0, or use --n-samples 1",
              file=sys.stderr)
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


def task_names(spec: str) -> list[str]:
    """``--tasks a,b``: the names, none empty (``humaneval,`` is a typo, not a request for one task)."""
    names = [t.strip() for t in spec.split(",")]
    if not all(names):
        raise UserError(f"--tasks {spec!r} has an empty task name (task names are separated by single commas)")
    return names


def _need_mb(out_dir: Path) -> int:
    """About how much room a run's final files take: as much as its journals again, and a margin."""
    journals = sum(f.stat().st_size for f in out_dir.glob("*.jsonl") if f.is_file()) if out_dir.is_dir() else 0
    return 1 + (2 * journals) // (1 << 20)


def disk_full(e: OSError, out_dir: Path, verb: str) -> UserError:
    """ENOSPC/EDQUOT as one line: which directory, how much room there is and about how much more is needed."""
    try:
        free = f"{shutil.disk_usage(out_dir if out_dir.exists() else out_dir.parent).free / (1 << 20):.1f} MB free"
    except OSError:
        free = "free space unknown"
    again = (f"evalkit {verb} --resume --output-dir {out_dir}" if verb == "run"
             else f"the same evalkit {verb} command with --resume")
    return UserError(f"no space left on the device of {out_dir} ({free}; {os.strerror(e.errno or 0)}): what "
                     f"was finished is saved in its journals; free about {_need_mb(out_dir)} MB there (or copy "
                     f"the directory to a larger place) and continue with: {again}")


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit import cli_suite
    from evalkit.resume import given_options

    if args.resume and not args.output_dir:
        raise UserError("--resume needs --output-dir (the run to continue)")
    typed = given_options(parser(), "run", getattr(args, "argv", None) or [])
    if args.resume:  # a suite's directory: continue the suite
        cli_suite.from_suite_file(args, typed, Path(args.output_dir))
    cli_suite.check_options(args, typed)
    served_default = args.backend == "openai" and args.model == "reference"  # the server's one model
    name = "served" if served_default else args.model
    out_dir = Path(args.output_dir) if args.output_dir else _default_output_dir(
        f"{name}-{args.suite}" if args.suite else name)
    try:
        return cli_suite.run_suite(args, out_dir, typed) if args.suite else _run(args, out_dir)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full(e, out_dir, "run") from None
        raise


def _resuming(store: Any, tasks: list, cfg: Any) -> None:
    """One line on a resumed run: how much of it is already done."""
    from evalkit.runner import problems_of

    planned = {(t.name, p.task_id, i) for t in tasks for p in problems_of(t, cfg.limit) for i in range(cfg.n_samples)}
    made = {(r["task"], r["task_id"], r["sample_idx"]) for r in store.generations.records()} & planned
    judged = {(r["task"], r["task_id"], r["sample_idx"]) for r in store.executions.records()
              if r.get("outcome") != "sandbox_error"} & made
    print(f"evalkit: resuming: {len(judged)} of {len(planned)} samples done ({len(made)} generated)",
          file=sys.stderr)


def _run(args: argparse.Namespace, out_dir: Path) -> int:
    from evalkit import resume

    if args.resume and (old := resume.read_manifest(out_dir)) is not None:  # the run's own settings
        typed = resume.given_options(parser(), "run", getattr(args, "argv", None) or [])
        from evalkit.longctx import options as long_options

        if (changed := long_options.changed_on_resume(args, typed, old)) is not None:
            raise UserError(f"{out_dir} was made with other long-context options: {changed}; run `evalkit run "
                            f"--resume --output-dir {out_dir}` alone to continue it with its own")
        resume.apply_manifest(args, typed, old)
    tasks, cfg = prepare(args, task_names(args.tasks))
    precheck(args, out_dir, tasks, cfg, before_weights=True)
    return execute(args, out_dir, tasks, cfg, load_model(args))


def prepare(args: argparse.Namespace, names: list[str]) -> tuple[list, Any]:
    """The run's tasks (loaded, options applied) and its RunConfig: everything but the model."""
    from evalkit.longctx import options as long_options

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    stop = [_unescape(s) for s in args.stop] if args.stop else None
    if (msg := long_options.used_without_task(args, names)) is not None:
        raise UserError(msg)
    tasks = _load_tasks(names, args, stop)
    _check_protocol(args, tasks)
    return tasks, _run_config(args, tasks)


def precheck(args: argparse.Namespace, out_dir: Path, tasks: list, cfg: Any, *, before_weights: bool,
             extra: dict | None = None) -> None:
    """An existing run, a run in use, other settings: refused before the weights load, or (tasks that count the
    model's tokens) once its tokenizer is there."""
    from evalkit import resume, runner

    if before_weights == any(getattr(t, "needs_tokenizer", False) for t in tasks):
        return
    resume.precheck(out_dir, args.resume,
                    runner.manifest_for({"id": resume.model_id(args.model, args.backend)}, tasks, cfg, extra))


def load_model(args: argparse.Namespace) -> Any:
    from evalkit.backends import load_backend

    return load_backend(
        args.model, revision=args.revision, dtype=args.dtype, device=args.device, device_map=args.device_map,
        batch_size=args.batch_size, trust_remote_code=args.trust_remote_code, fim=args.fim or "psm",
        fim_tokens=args.fim_tokens, engine=args.engine, compile_step=getattr(args, "compile_step", "auto"),
        **_serve_options(args),
    )


def execute(args: argparse.Namespace, out_dir: Path, tasks: list, cfg: Any, backend: Any,
            extra: dict | None = None) -> int:
    """Generate and judge ``tasks`` with ``backend`` into ``out_dir``; ``extra`` goes into the manifest's and
    results' ``config`` (a suite records itself there)."""
    from evalkit import resume, runner
    from evalkit.longctx import options as long_options
    from evalkit.store import RunStore

    long_options.give_tokenizer(tasks, backend)
    precheck(args, out_dir, tasks, cfg, before_weights=False, extra=extra)
    for t in tasks:
        if t.infilling and hasattr(backend, "check_fim"):
            backend.check_fim()
    if hasattr(backend, "check_text") and (not args.chat or any(t.infilling for t in tasks)):
        backend.check_text()  # a served model: who decodes the new tokens (recorded in the manifest)
    manifest = runner.manifest_for(backend.info(), tasks, cfg, extra)
    manifest |= resume.command_record(args)  # data folder and overrides: what `evaluate` and --resume reuse
    store = RunStore(out_dir, manifest, resume=args.resume)
    if args.resume:
        _resuming(store, tasks, cfg)
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
    print_summary(results, store.dir)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    src = Path(args.file)
    if src.is_dir() and (src / "suite.json").exists() and not (src / "manifest.json").exists():
        raise UserError(f"{src} is a suite (run --suite): score its runs with `evalkit run --resume --output-dir "
                        f"{src}`, or evaluate one of them ({src}/table...)")
    run_dir = src.is_dir() and (src / "manifest.json").exists()
    out_dir = src if run_dir else Path(args.output_dir) if args.output_dir else _default_output_dir(src.stem)
    try:
        return _evaluate(args, src, out_dir)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full(e, out_dir, "evaluate") from None
        raise


def _evaluate(args: argparse.Namespace, src: Path, out_dir: Path) -> int:
    from evalkit import runner
    from evalkit.inputs import read_samples
    from evalkit.store import RunStore
    from evalkit.task import sha256_file

    if not src.exists():
        raise UserError(f"{src}: no such file or directory")
    if src.is_dir() and (src / "manifest.json").exists():  # a run made with --generate-only
        from evalkit.resume import apply_manifest, given_options, read_manifest, same_data

        manifest = read_manifest(src) or {}
        # the run's sandbox limits and --sandbox-path, unless given now (the data folder: below)
        apply_manifest(args, given_options(parser(), "evaluate", getattr(args, "argv", None) or []) | {"data_dir"},
                       manifest)
        if args.data_dir is None and manifest.get("data_dir") and Path(manifest["data_dir"]).exists():
            args.data_dir = manifest["data_dir"]  # the data the run was generated with
        from evalkit.longctx import options as long_options

        for dest, value in long_options.recorded(manifest).items():  # the prompts' grid, filler, LCC-balanced
            setattr(args, dest, value)
        stop = (manifest.get("overrides") or {}).get("stop")
        tasks = _load_tasks(list(manifest["tasks"]), args, [_unescape(s) for s in stop] if stop else None)
        _plus_tasks(tasks, args)
        _model_tokenizer(tasks, manifest.get("model") or {})
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


def _model_tokenizer(tasks: list, model: dict) -> None:
    """Scoring a generated run of tasks that count the model's tokens (key-retrieval, lcc-*): their prompts (in
    samples.jsonl) are built with the run's model's tokenizer, as they were for generation (no weights load)."""
    from evalkit.longctx import options as long_options

    if not any(getattr(t, "needs_tokenizer", False) for t in tasks) or model.get("backend") not in ("hf", "openai"):
        return
    from evalkit.backends import load_backend

    name = model.get("id") if model.get("backend") == "hf" else model.get("tokenizer") or model.get("id")
    try:
        tok_backend = load_backend(name, revision=model.get("revision") if name == model.get("id") else None,
                                   device="cpu", load_weights=False)
        long_options.give_tokenizer(tasks, tok_backend)
    except (UserError, OSError, ValueError) as e:
        runner_warn = f"the prompts in samples.jsonl are not the model's: its tokenizer ({name}) did not load: {e}"
        print(f"evalkit: warning: {runner_warn}", file=sys.stderr)


def _plus_tasks(tasks: list, args: argparse.Namespace) -> list:
    """The EvalPlus tasks among ``tasks``; --evalplus-json without one is refused before anything is written."""
    plus = [t for t in tasks if hasattr(t, "dataset_md5")]
    if args.evalplus_json and not plus:
        raise UserError("--evalplus-json needs an EvalPlus task (humaneval-plus, mbpp-plus)")
    return plus


