"""Judging: each generation's spec to the sandbox, its facts to the task's evaluator, the verdict journaled."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from evalkit.evaluators import Verdict
from evalkit.records import SampleKey, VerdictKey, code_of, sha256_text, verdict_record
from evalkit.run.config import RunConfig, progress, warn
from evalkit.store import RunStore
from evalkit.task import Problem, Task


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
        self.judged = {VerdictKey.of(r) for r in store.executions.records() if r["outcome"] != "sandbox_error"}
        self.again: dict[tuple, Any] = {}  # verdicts a loaded machine may have decided: once more, alone
        self.seen: set[tuple] = set()
        self.recs: dict[tuple, dict] = {}
        self.judged_here = 0

    def job(self, rec: dict) -> Any:
        """The sandbox job of a generation record; None if its task is not in this run, it has a verdict, or
        its task judges it without execution (then it is judged and journaled now)."""
        from evalkit.sandbox.pool import Job

        task = self.by_name.get(rec["task"])
        sample = SampleKey.of(rec)
        if task is None or sample in self.seen:
            return None
        self.seen.add(sample)
        problem = self.index[task.name][rec["task_id"]]
        spec, sha = spec_key(task, problem, rec, self.cfg.timeout)
        key = VerdictKey(*sample, sha)
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

    def _journal(self, key: VerdictKey, v: Verdict, duration: float) -> None:
        self.store.executions.append(verdict_record(key, v.outcome, v.detail, v.scores, duration))
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
    seen: dict[SampleKey, dict] = {}
    for r in store.generations.records():
        seen.setdefault(SampleKey.of(r), r)
    return list(seen.values())
