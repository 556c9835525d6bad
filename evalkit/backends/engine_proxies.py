"""CPU-measurable proxies of the fast engine's GPU cost (issue 22), printed by ``python bench/generation.py
--proxies`` and checked by tests/test_engine_proxies.py. They replay the engine's own schedule with the slot count a
GPU would get (``slots``) on a tiny model:

* attention columns read per real column: per decode step, the key/value columns the decode attention reads
  (FlexAttention: each row's length rounded up to its 16-column block; the SDPA fallback: every row of the batch
  bucket over the length bucket) over the real ones (live rows: position + 1);
* host synchronisations per 100 decode steps (the host reads a snapshot once per ``check_every`` steps), and
  those with the device idle (no later burst queued behind the snapshot: the outputs are double-buffered, so only
  the reads before a compaction of the slots and at the end of a task stall the device);
* prefill forward calls per request;
* graph captures per run, for 1 task and for 3 tasks (the capture path runs with ``EagerGraphs`` on CPU);
* slots allocated per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evalkit.backends.base import GenerationParams, GenerationRequest, sample_seed
from evalkit.backends.graphs import EagerGraphs

STOPS = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")


def requests(prompts: list[str], samples: int, lengths: list[int], task: str = "humaneval",
             copy: int = 0) -> list[GenerationRequest]:
    return [GenerationRequest(key=(task, f"{i}#{copy}", j), prompt=p, stop=STOPS,
                              seed=sample_seed(0, task, f"{i}#{copy}", j), max_new_tokens=lengths[i * samples + j])
            for i, p in enumerate(prompts) for j in range(samples)]


def run_workload(make_backend: Callable[[], Any], reqs_per_task: list[list[GenerationRequest]],
                 params: GenerationParams, slots: int, prefill_tokens: int = 16384,
                 check_every: int = 8) -> dict[str, Any]:
    """Run the tasks through one fast engine (as one evalkit run would) with the capture path on; its stats."""
    b = make_backend()
    b.batch_size = slots
    fast = b._fast if b.engine_name() == "fast" else None
    if fast is None:
        raise RuntimeError("the fast engine does not take this model")
    fast.count_columns = True
    fast.prefill_tokens = prefill_tokens
    fast.check_every = check_every
    fast.gpu, fast.use_graphs = EagerGraphs(), True
    got: dict[Any, Any] = {}
    for reqs in reqs_per_task:
        b.generate(reqs, params, lambda r, g: got.__setitem__(r.key, g))
    s = dict(fast.stats)
    s["results"] = got
    return s


def figures(s: dict[str, Any], kind: str) -> dict[str, float]:
    real = max(1, s["cols_real"])
    return {
        "attention columns read per real column": round(s[f"cols_{kind}"] / real, 3),
        "attention columns read per real column (flex)": round(s["cols_flex"] / real, 3),
        "attention columns read per real column (SDPA fallback)": round(s["cols_sdpa"] / real, 3),
        "host synchronisations per 100 decode steps": round(100 * s["host_syncs"] / max(1, s["decode_steps"]), 2),
        "host synchronisations per 100 decode steps, device idle": round(
            100 * s["host_stalls"] / max(1, s["decode_steps"]), 2),
        "prefill forward calls per request": round(s["prefill_calls"] / max(1, s["requests"]), 4),
        "graph captures per run": s["graph_captures"],
        "slots allocated per request": round(s["slots_allocated"] / max(1, s["requests"]), 3),
    }
