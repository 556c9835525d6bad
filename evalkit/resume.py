"""``run --resume``: the run's own settings from its manifest.json, and the cheap checks made before loading weights.

* ``evalkit run --resume --output-dir DIR`` alone continues the run in DIR with the settings it was started with
  (model, tasks, limit, generation parameters, data folder, sandbox limits, the long-context tasks' options),
  read from ``DIR/manifest.json``.
* Flags given with ``--resume`` must agree with the run; the ones that differ are named, before any weights load.
* An existing run directory without ``--resume``, or one in use by another evalkit process: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.longctx import options as long_options
from evalkit.manifest_diff import differences  # noqa: F401 (re-exported: evalkit.resume.differences)
from evalkit.store import check_lock

_DTYPE_FLAGS = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def given_options(parser: argparse.ArgumentParser, verb: str, argv: list[str]) -> set[str]:
    """The ``dest`` of every option the user typed after ``verb`` (abbreviations included)."""
    sub = next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction))  # type: ignore[union-attr]
    vp = sub.choices[verb]
    saved = [(a, a.default) for a in vp._actions]
    try:
        for a, _ in saved:
            a.default = argparse.SUPPRESS
        ns, _ = vp.parse_known_args(argv[argv.index(verb) + 1:] if verb in argv else argv)
    finally:
        for a, d in saved:
            a.default = d
    return set(vars(ns))


def read_manifest(out_dir: Path) -> dict | None:
    path = out_dir / "manifest.json"
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable manifest ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), dict):
        raise UserError(f"{path}: not an evalkit manifest")
    return doc


def apply_manifest(args: argparse.Namespace, given: set[str], manifest: dict) -> None:
    """Fill every run setting the user did not give from the run's manifest."""
    model = manifest.get("model") or {}
    cfg = manifest.get("config") or {}
    gen = cfg.get("generation") or {}
    sandbox = cfg.get("sandbox") or {}
    take: dict[str, Any] = {
        "model": model.get("id"),
        "revision": model.get("revision"),
        "tasks": ",".join(manifest["tasks"]),
        "limit": cfg.get("limit"),
        "preset": gen.get("preset") or (gen.get("preset_overrides") or {}).get("requested"),
        "n_samples": gen.get("n_samples"),
        "temperature": gen.get("temperature"),
        "top_p": gen.get("top_p"),
        "seed": gen.get("seed"),
        "chat": gen.get("chat"),
        "fim": gen.get("fim"),
        "data_dir": manifest.get("data_dir"),
        "memory_mb": sandbox.get("memory_mb"),
        "isolation": sandbox.get("isolation"),
        "timeout": cfg.get("timeout_override_s"),
    }
    if model.get("dtype") in _DTYPE_FLAGS and model.get("backend") == "hf":
        take["dtype"] = _DTYPE_FLAGS[model["dtype"]]
    if model.get("engine") in ("fast", "eager"):
        take["engine"] = model["engine"]
    if model.get("compile_step") in ("auto", "on", "off"):
        take["compile_step"] = model["compile_step"]
    if model.get("backend") == "openai":  # the servers may have moved: --base-url given now wins
        serving = model.get("serving") or {}
        urls = [ep.get("url") for ep in serving.get("endpoints") or [] if ep.get("url")]
        take |= {"backend": "openai", "base_url": ",".join(urls) or None, "tokenizer": model.get("tokenizer"),
                 "api_key_env": serving.get("api_key_env"), "concurrency": serving.get("concurrency"),
                 "request_timeout": serving.get("request_timeout_s"), "max_retries": serving.get("max_retries")}
    if sandbox.get("extra_paths"):
        take["sandbox_path"] = list(sandbox["extra_paths"])
    stops = {t.get("infill_stop") for t in manifest["tasks"].values() if isinstance(t, dict) and t.get("single_line")}
    if len(stops) == 1:
        take["infill_stop"] = stops.pop()
    overrides = manifest.get("overrides") or {}
    take["stop"] = overrides.get("stop")
    take["max_new_tokens"] = overrides.get("max_new_tokens")
    take |= long_options.recorded(manifest)  # --context-lengths, --key-positions, --filler, LCC's options
    for dest, value in take.items():
        if dest not in given and value is not None and hasattr(args, dest):
            setattr(args, dest, value)


def command_record(args: argparse.Namespace) -> dict:
    """What a run's manifest keeps of the command besides the fingerprinted settings: the data folder (for
    ``evaluate`` of a --generate-only run) and the flags that replace a task's own values (for --resume)."""
    from evalkit.task import data_dir

    d = data_dir(args.data_dir)
    return {"data_dir": os.path.abspath(d) if d is not None else None,
            "overrides": {"stop": args.stop, "max_new_tokens": args.max_new_tokens}}


def model_id(model: str, backend: str = "hf") -> str:
    """The id a backend will record for ``model`` (a local path as the HF backend spells it; a served model's
    name as the server spells it)."""
    from evalkit.backends.hf import _looks_local

    if backend == "openai" or model == "reference" or not _looks_local(model):
        return model
    return str(Path(model).expanduser())


def precheck(out_dir: Path, resume: bool, planned: dict) -> dict | None:
    """Before any weights load: refuse an existing run without --resume, a run in use, or other settings.

    ``planned`` is the manifest this command would write, with only the model's id known. Returns the run's
    manifest (None for a new run)."""
    old = read_manifest(out_dir)
    if old is None:
        return None
    if not resume:
        raise UserError(f"{out_dir} already holds a run: pass --resume to continue it, or another --output-dir")
    check_lock(out_dir)
    diff = differences(old, planned)
    if diff:
        raise UserError(f"{out_dir} was made with other settings: {'; '.join(diff)}; run "
                        f"`evalkit run --resume --output-dir {out_dir}` alone to continue it with its own")
    return old


def same_data(tasks: list, manifest: dict) -> None:
    """Scoring a --generate-only run: each task's data must be the data the run was generated with."""
    for t in tasks:
        want = (manifest["tasks"].get(t.name) or {}).get("dataset_sha256")
        if want and t.dataset_sha256 != want:
            was = (manifest["tasks"].get(t.name) or {}).get("dataset_source")
            raise UserError(f"{t.name}: the data found now ({t.dataset_source}, sha256 {t.dataset_sha256[:12]}) is "
                            f"not the data the run was generated with ({was}, sha256 {want[:12]}); "
                            "pass --data-dir with that data")
