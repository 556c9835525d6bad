"""One sample from prompt to verdict: requests -> backend -> post-process -> journal -> sandbox -> verdict.

``generate`` fills a run's generations journal, ``execute`` turns every generation into a verdict in the
executions journal, ``finalize`` writes samples.jsonl and results.json. Each stage skips what the journals
already hold, so a killed run continues with ``--resume`` and loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from evalkit import __version__, protocol
from evalkit.backends.base import (
    Backend,
    ChatPrompt,
    Generation,
    GenerationParams,
    GenerationRequest,
    sample_seed,
)
from evalkit.evaluators import OUTCOMES, Verdict
from evalkit.metrics import summarize_metric
from evalkit.sandbox import SandboxConfig
from evalkit.store import RunStore, atomic_write_json, write_jsonl
from evalkit.task import Problem, Task


def sha256_text(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def progress(iterable=None, **kw: Any):  # noqa: ANN001
    from tqdm.auto import tqdm

    kw.setdefault("dynamic_ncols", True)
    kw.setdefault("disable", None)  # off when stderr is not a terminal
    if _terminal_columns() == 0:  # a terminal that reports no width (some CI consoles): a fixed width, not none
        kw.update(dynamic_ncols=False, ncols=80)
    return tqdm(iterable, **kw)


def _terminal_columns() -> int | None:
    import os

    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return None


@dataclass
class RunConfig:
    limit: int | None = None
    n_samples: int = 1
    params: GenerationParams = field(default_factory=GenerationParams)
    seed: int = 0
    chat: bool = False
    fim: str | None = None  # infilling layout; None: the run has no infilling task
    preset: str | None = None  # recorded only when the effective parameters are the preset's
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    timeout: float | None = None  # overrides every task's own timeout
    workers: int | None = None
    ks: tuple[int, ...] = (1, 10, 100)
    max_new_tokens: int | None = None  # --max-new-tokens for every task; None: each task's own (recorded per task)
    preset_overrides: dict[str, Any] | None = None  # {"requested": preset, "changed": {param: value}}

    def generation_dict(self) -> dict[str, Any]:
        out = {"n_samples": self.n_samples, "seed": self.seed, "chat": self.chat, "fim": self.fim,
               "preset": self.preset, **asdict(self.params), "max_new_tokens": self.max_new_tokens}
        if self.fim is None:
            del out["fim"]
        if self.preset_overrides:
            out["preset_overrides"] = self.preset_overrides
        return out


def problems_of(task: Task, limit: int | None) -> list[Problem]:
    probs = task.problems()
    return probs[:limit] if limit else probs


def manifest_for(model_info: dict, tasks: Sequence[Task], cfg: RunConfig, extra: dict | None = None) -> dict:
    task_info = {t.name: t.info() | {"n_problems": len(problems_of(t, cfg.limit))}
                 | protocol.task_fields(t, cfg, problems_of(t, cfg.limit)) for t in tasks}
    # where a served model was reached ("serving": URLs, concurrency) is recorded but is not what the run is
    ident = {"model": {k: v for k, v in model_info.items() if k != "serving"}, "generation": cfg.generation_dict(),
             "limit": cfg.limit, "tasks": task_info,
             "extra": extra or {}}
    return {
        "evalkit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": model_info,
        "config": {"generation": cfg.generation_dict(), "limit": cfg.limit, "sandbox": cfg.sandbox.to_dict(),
                   "timeout_override_s": cfg.timeout, **(extra or {})},
        "tasks": task_info,
        "fingerprint": sha256_text(json.dumps(ident, sort_keys=True, default=str)),
    }


# ------------------------------------------------------------------------------------------------
# generation
# ------------------------------------------------------------------------------------------------
def to_completion(task: Task, problem: Problem, req: GenerationRequest, gen: Generation) -> dict[str, str]:
    """The sample's code: {"completion": ...} (continues the prompt) or {"solution": ...} (a whole program)."""
    if gen.final:
        return {"completion": gen.text}
    if isinstance(req.prompt, ChatPrompt):
        # a backend whose server opened a fresh assistant turn says the answer continues no prefix ("")
        return task.postprocess_chat(problem, gen.extra.get("assistant_prefix", req.prompt.assistant_prefix) + gen.text)
    out = task.postprocess(problem, gen.text)
    return out if isinstance(out, dict) else {"completion": out}


def build_requests(task: Task, cfg: RunConfig, done: set[tuple[str, str, int]]) -> list[GenerationRequest]:
    reqs = []
    chat = cfg.chat and not task.infilling
    # a chat answer ends with the closing fence of its code block; a base model's with the task's stops
    stop = tuple(task.chat_stop_sequences) if chat else tuple(task.stop_sequences)
    for p in problems_of(task, cfg.limit):
        if chat:
            user, prefix = task.chat_prompt(p)
            prompt: Any = ChatPrompt(user, prefix)
        else:
            prompt = task.prompt(p)
        for i in range(cfg.n_samples):
            key = (task.name, p.task_id, i)
            if key in done:
                continue
            reqs.append(GenerationRequest(
                key=key, prompt=prompt, stop=stop,
                seed=sample_seed(cfg.seed, task.name, p.task_id, i),
                single_line=getattr(task, "stop_at_newline", False), reference=p.reference,
                max_new_tokens=cfg.max_new_tokens or task.default_max_new_tokens,
            ))
    return reqs


def generate(backend: Backend, tasks: Sequence[Task], cfg: RunConfig, store: RunStore) -> int:
    """Generate every missing sample of every task into the generations journal; returns how many."""
    done = {(r["task"], r["task_id"], r["sample_idx"]) for r in store.generations.records()}
    made = 0
    for task in tasks:
        reqs = build_requests(task, cfg, done)
        if not reqs:
            continue
        problems = {p.task_id: p for p in problems_of(task, cfg.limit)}
        bar = progress(total=len(reqs), desc=f"generate {task.name}", unit="sample")

        def on_result(req: GenerationRequest, gen: Generation, task: Task = task, bar: Any = bar,
                      problems: dict[str, Problem] = problems) -> None:
            nonlocal made
            _, task_id, idx = req.key
            rec = {"task": task.name, "task_id": task_id, "sample_idx": idx,
                   "raw": gen.text, **to_completion(task, problems[task_id], req, gen)}
            if gen.extra.get("model_input") is not None:
                rec["model_input"] = gen.extra["model_input"]
            store.generations.append(rec)
            made += 1
            bar.update(1)

        try:
            backend.generate(reqs, cfg.params, on_result)
        finally:
            store.generations.sync()
            bar.close()
    return made


# ------------------------------------------------------------------------------------------------
# execution
# ------------------------------------------------------------------------------------------------
def code_of(rec: dict) -> dict[str, str]:
    """The sample's code in a generation record: {"completion": ...} or {"solution": ...}."""
    return {"solution": rec["solution"]} if "solution" in rec else {"completion": rec.get("completion") or ""}


def spec_key(task: Task, problem: Problem, rec: dict, timeout: float | None) -> tuple[Any, str]:
    """(the sample's ExecSpec or None, the hash its verdict is keyed by)."""
    spec = task.execution(problem, code_of(rec), timeout)
    if spec is not None:
        return spec, spec.sha256()
    return None, sha256_text(json.dumps({"match": code_of(rec)}, sort_keys=True))


class Judge:
    """Generation records in, verdicts journaled: the part of execution that ``execute`` and the overlapped
    pipeline (``pipeline.py``) share. The sandbox reports facts, the task's evaluator decides the verdict here.
    Skips samples already judged (a sandbox_error is the harness's fault, not a verdict: such samples run again
    on --resume), judges at once the samples whose task needs no execution, and sets aside the verdicts a task
    wants re-run alone (``Task.rerun_alone``: the one rule)."""

    def __init__(self, tasks: Sequence[Task], cfg: RunConfig, store: RunStore) -> None:
        self.cfg, self.store = cfg, store
        self.by_name = {t.name: t for t in tasks}
        self.index = {t.name: {p.task_id: p for p in t.problems()} for t in tasks}
        self.judged = {(r["task"], r["task_id"], r["sample_idx"], r.get("spec_sha256"))
                       for r in store.executions.records() if r["outcome"] != "sandbox_error"}
        self.again: dict[tuple, Any] = {}  # verdicts a loaded machine may have decided: once more, alone
        self.seen: set[tuple] = set()
        self.recs: dict[tuple, dict] = {}
        self.judged_here = 0

    def job(self, rec: dict) -> Any:
        """The sandbox job of a generation record; None if its task is not in this run, it has a verdict, or
        its task judges it without execution (then it is judged and journaled now)."""
        from evalkit.sandbox.pool import Job

        task = self.by_name.get(rec["task"])
        sample = (rec["task"], rec["task_id"], rec["sample_idx"])
        if task is None or sample in self.seen:
            return None
        self.seen.add(sample)
        problem = self.index[task.name][rec["task_id"]]
        spec, sha = spec_key(task, problem, rec, self.cfg.timeout)
        key = (*sample, sha)
        if key in self.judged:
            return None
        self.recs[key] = rec
        if spec is None:
            self._journal(key, task.judge(problem, code_of(rec), None), 0.0)
            return None
        return Job(key, spec)

    def pool(self, task_ids: dict[str, set[str]]) -> Any:
        """A sandbox pool that also shows the tasks' own read-only files (``Task.sandbox_paths``)."""
        from evalkit.sandbox.pool import SandboxPool

        extra = list(self.cfg.sandbox.extra_paths)
        for name, ids in task_ids.items():
            if ids:
                extra += [p for p in self.by_name[name].sandbox_paths(ids) if p not in extra]
        return SandboxPool(replace(self.cfg.sandbox, extra_paths=tuple(extra)), self.cfg.workers)

    def _journal(self, key: tuple, v: Verdict, duration: float) -> None:
        t, tid, idx, sha = key
        self.store.executions.append({"task": t, "task_id": tid, "sample_idx": idx, "spec_sha256": sha,
                                      "outcome": v.outcome, "detail": v.detail, "scores": v.scores,
                                      "duration_s": duration})
        self.judged_here += 1

    def on_result(self, job: Any, facts: Any) -> bool:
        """Judge a sample's facts and journal the verdict; False when it was set aside to run again alone."""
        task = self.by_name[job.key[0]]
        problem = self.index[task.name][job.key[1]]
        v = task.judge(problem, code_of(self.recs[job.key]), facts)
        if job.key not in self.again and task.rerun_alone(v):
            self.again[job.key] = job
            return False
        self._journal(job.key, v, facts.duration_s)
        return True

    def rerun(self, pool: Any, on_result: Any) -> None:
        """The set-aside samples, one at a time on an otherwise idle pool; their second verdict is final."""
        while self.again:
            key = next(iter(self.again))
            pool.run([self.again[key]], on_result)
            self.again.pop(key, None)
            self.judged.add(key)


def warn_layers(layers: dict) -> None:
    """Say on the terminal when samples run with less isolation than the full set."""
    if not (layers.get("network_namespace") and layers.get("readonly_root")):
        warn("the sandbox runs without its namespaces (" + "; ".join(layers.get("notes") or ["unknown"])
             + "): model code can reach the network and write files; see results.json 'sandbox'")
    elif layers.get("fs_view") != "minimal":
        warn("samples see the host's file system, read-only (" + "; ".join(layers.get("notes") or ["unknown"])
             + "): model code can read what this user can read; see results.json 'sandbox'")


def execute(tasks: Sequence[Task], cfg: RunConfig, store: RunStore) -> dict:
    """Run every generation that has no verdict yet; returns the sandbox's info (limits, active layers)."""
    judge = Judge(tasks, cfg, store)
    recs = unique_generations(store)
    jobs = [j for rec in recs if (j := judge.job(rec)) is not None]
    store.executions.sync()
    task_ids: dict[str, set[str]] = {}  # every sample's, so the recorded view is the one its verdict had
    for rec in recs:
        if rec["task"] in judge.by_name:
            task_ids.setdefault(rec["task"], set()).add(rec["task_id"])
    with judge.pool(task_ids) as pool:
        if jobs:
            warn_layers(pool.layers)
            bar = progress(total=len(jobs), desc="execute", unit="sample")

            def on_result(job: Any, facts: Any) -> None:
                if judge.on_result(job, facts):
                    bar.update(1)

            try:
                pool.run(jobs, on_result)
                judge.rerun(pool, on_result)
            finally:
                store.executions.sync()
                bar.close()
        return pool.info()


def unique_generations(store: RunStore) -> list[dict]:
    """One generation record per (task, task_id, sample_idx): the first one journaled."""
    seen: dict[tuple, dict] = {}
    for r in store.generations.records():
        seen.setdefault((r["task"], r["task_id"], r["sample_idx"]), r)
    return list(seen.values())


# ------------------------------------------------------------------------------------------------
# final files
# ------------------------------------------------------------------------------------------------
def finalize(tasks: Sequence[Task], cfg: RunConfig, store: RunStore, sandbox_info: dict) -> dict:
    # the last verdict of a sample wins (a sandbox_error retried on --resume)
    verdicts = {(r["task"], r["task_id"], r["sample_idx"], r.get("spec_sha256")): r
                for r in store.executions.records()}
    order = {t.name: (i, {p.task_id: j for j, p in enumerate(t.problems())}) for i, t in enumerate(tasks)}
    by_name = {t.name: t for t in tasks}
    rows = []
    for rec in unique_generations(store):
        task = by_name.get(rec["task"])
        if task is None:
            continue
        problem = task.problems()[order[task.name][1][rec["task_id"]]]
        v = verdicts.get((rec["task"], rec["task_id"], rec["sample_idx"],
                          spec_key(task, problem, rec, cfg.timeout)[1]))
        if v is None:
            raise RuntimeError(f"no verdict for {rec['task']} {rec['task_id']} #{rec['sample_idx']}")
        row = {"task": rec["task"], "task_id": rec["task_id"], "sample_idx": rec["sample_idx"],
               "prompt": problem.prompt if not task.infilling else {"prefix": problem.prompt, "suffix": problem.suffix},
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
        results["tasks"][task.name]["protocol"] = protocol.recorded(results, task.name)
    atomic_write_json(store.dir / "results.json", results)
    broken = sum(r["outcome"] == "sandbox_error" for r in rows)
    if broken:
        warn(f"{broken} samples met a sandbox error (the harness's fault, counted as not passed); "
             "run the same command with --resume to retry them")
    return results


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


def warn(msg: str) -> None:
    print(f"evalkit: warning: {msg}", file=sys.stderr)
