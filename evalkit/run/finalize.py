"""The final files: samples.jsonl (one row per sample, its verdict and scores) and results.json (per task, every
declared metric with its CIs, the outcomes, the protocol block, provenance)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from evalkit import __version__, protocol
from evalkit.evaluators import OUTCOMES
from evalkit.metrics import summarize_metric
from evalkit.records import VerdictKey, sha256_text
from evalkit.run.config import RunConfig, warn
from evalkit.run.judge import spec_key, unique_generations
from evalkit.store import RunStore, atomic_write_json, write_jsonl
from evalkit.task import Task


def finalize(tasks: Sequence[Task], cfg: RunConfig, store: RunStore, sandbox_info: dict) -> dict:
    # the last verdict of a sample wins (a sandbox_error retried on --resume)
    verdicts = {VerdictKey.of(r): r for r in store.executions.records()}
    order = {t.name: (i, {p.task_id: j for j, p in enumerate(t.problems())}) for i, t in enumerate(tasks)}
    by_name = {t.name: t for t in tasks}
    rows = []
    for rec in unique_generations(store):
        task = by_name.get(rec["task"])
        if task is None:
            continue
        problem = task.problems()[order[task.name][1][rec["task_id"]]]
        v = verdicts.get(VerdictKey(rec["task"], rec["task_id"], rec["sample_idx"],
                                    spec_key(task, problem, rec, cfg.timeout)[1]))
        if v is None:
            raise RuntimeError(f"no verdict for {rec['task']} {rec['task_id']} #{rec['sample_idx']}")
        row = {"task": rec["task"], "task_id": rec["task_id"], "sample_idx": rec["sample_idx"],
               "prompt": _prompt_field(task, problem),
               "completion": rec.get("completion"), "passed": v["outcome"] == "passed",
               "outcome": v["outcome"], "detail": v["detail"], "scores": v.get("scores") or {},
               "duration_s": v["duration_s"]}
        if "solution" in rec:
            row["solution"] = rec["solution"]
        if "raw" in rec:
            row["raw_generation"] = rec["raw"]
        if "model_input" in rec:
            row["model_input"] = rec["model_input"]
        rows.append(row)
    rows.sort(key=lambda r: (order[r["task"]][0], order[r["task"]][1][r["task_id"]], r["sample_idx"]))
    write_jsonl(store.dir / "samples.jsonl", rows)
    results = {
        "evalkit_version": __version__,
        "created": store.manifest["created"],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": store.manifest["model"],
        "config": store.manifest["config"],
        "sandbox": sandbox_info,
        "tasks": {},
    }
    for task in tasks:
        trows = [r for r in rows if r["task"] == task.name]
        if not trows:
            continue
        results["tasks"][task.name] = (task_summary(task, trows, cfg.ks) | task.summary_extra(trows, cfg.ks)
                                       | run_fields(task, cfg, store.manifest))
        block = results["tasks"][task.name]
        block["protocol"] = protocol.recorded(results, task.name)
        for k in _IN_PROTOCOL:  # one fact in one place: the protocol block holds how the samples were made
            if k in block["protocol"]:
                block.pop(k, None)
    atomic_write_json(store.dir / "results.json", results)
    broken = sum(r["outcome"] == "sandbox_error" for r in rows)
    if broken:
        warn(f"{broken} samples met a sandbox error (the harness's fault, counted as not passed); "
             "run the same command with --resume to retry them")
    return results


LONG_PROMPT = 20_000  # characters: a longer prompt (long-context tasks) is recorded by its hash, once per row


def _prompt_field(task: Task, problem: Any) -> Any:
    if task.infilling:
        return {"prefix": problem.prompt, "suffix": problem.suffix}
    prompt = task.prompt(problem)
    if not isinstance(prompt, str):  # a FIM prompt of a task that builds it
        return {"prefix": prompt.prefix, "suffix": prompt.suffix}
    if len(prompt) > LONG_PROMPT:
        return {"sha256": sha256_text(prompt), "chars": len(prompt)}
    return prompt


_IN_PROTOCOL = ("prompt_format", "prompt_sha256", "dataset_sha256", "chat", "max_new_tokens", "shots",
                "stop_sequences", "fim", "infill_stop")


def run_fields(task: Task, cfg: RunConfig, manifest: dict) -> dict[str, Any]:
    """How the task's samples were made (recorded when generation started) and judged (now)."""
    made = manifest.get("tasks", {}).get(task.name, {})
    keep = ("prompt_format", "prompt_sha256", "chat", "max_new_tokens", "fim", "infill_stop")
    return {k: made[k] for k in keep if k in made} | protocol.execution_fields(task, cfg)


def task_summary(task: Task, rows: list[dict], ks: Sequence[int]) -> dict[str, Any]:
    """The task's block of results.json: every declared metric under ``metrics`` (the headline binary metric
    ``pass`` also at the top level, as pass@k keys), outcomes, counts and the task's own info."""
    outcomes = dict.fromkeys(OUTCOMES, 0)
    per_metric: dict[str, dict[str, list[float]]] = {m.name: {} for m in task.metrics}
    for r in rows:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        scores = r.get("scores") or {}
        for m in task.metrics:
            per_metric[m.name].setdefault(r["task_id"], []).append(float(scores.get(m.name, 0.0)))
    first = per_metric[task.metrics[0].name]
    ns = [len(v) for v in first.values()]
    n_min = min(ns)
    summary: dict[str, Any] = {
        "n_problems": len(first),
        "n_samples_per_problem": n_min if n_min == max(ns) else {"min": n_min, "max": max(ns)},
    }
    clusters = {r["task_id"]: task.cluster_of(r["task_id"]) for r in rows}
    clustered = any(c is not None for c in clusters.values())
    # records of one source problem are not independent: resample source problems (cluster bootstrap)
    blocks = {m.name: summarize_metric(m, per_metric[m.name], ks, clusters=clusters if clustered else None)
              for m in task.metrics}
    head = task.metrics[0]
    if head.kind == "binary" and head.name == "pass":
        summary |= {k: v for k, v in blocks["pass"].items() if k.startswith("pass@")}
    summary["metrics"] = blocks
    summary["outcomes"] = {k: v for k, v in outcomes.items() if v}
    summary |= {k: v for k, v in task.info().items() if k != "name"}
    if head.kind == "binary" and head.name == "pass":
        summary["problems"] = blocks["pass"]["problems"]
    if clustered:
        summary["cluster_by"] = task.cluster_by
        summary["clusters"] = {tid: clusters[tid] for tid in first}
    return summary
