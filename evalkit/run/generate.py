"""Generation: the requests of every missing sample, the backend, the post-processing, the journal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.backends.base import Backend, ChatPrompt, Generation, GenerationRequest, sample_seed
from evalkit.records import SampleKey
from evalkit.run.config import RunConfig, problems_of, progress
from evalkit.store import RunStore
from evalkit.task import Problem, Task


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
            key = SampleKey(task.name, p.task_id, i)
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
    done = {SampleKey.of(r) for r in store.generations.records()}
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
