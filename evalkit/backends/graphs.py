"""CUDA graph capture of the fast engine's decode step, with a fallback to the eager step.

A failure anywhere in the capture (warm-up, capture, or the stream switch) restores the engine's state
tensors and the caller's current stream, says so in one line, and turns graphs off for the run: the
generation goes on with the same step, eagerly. ``api`` is ``torch.cuda`` (tests pass an object with the same
methods to force a failure on CPU)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


def capture(api: Any, device: Any, fn: Callable[[], None], state: list[Any], pool: Any,
            stats: dict[str, Any]) -> tuple[Callable[[], None] | None, Any]:
    """(replay, pool) for ``fn`` captured as a graph; (None, pool) after a failure (stats['graph_error'] set).

    ``state``: the tensors the step changes; they are restored after the warm-up and after the capture, so the
    capture does not advance the generation."""
    t0 = time.perf_counter()
    saved = [t.clone() for t in state]
    caller = api.current_stream(device)
    try:
        side = api.Stream(device)
        side.wait_stream(caller)
        api.set_stream(side)
        try:
            fn()  # warm-up outside the capture (it writes the same keys/values the real step will write)
        finally:
            api.set_stream(caller)
        caller.wait_stream(side)
        for t, s in zip(state, saved):
            t.copy_(s)
        graph = api.CUDAGraph()
        with api.graph(graph, pool=pool):
            fn()
        pool = graph.pool()
    except Exception as e:  # noqa: BLE001 - any failure: the eager step
        try:
            api.set_stream(caller)  # a failed capture may leave its stream current
            api.synchronize(device)
        except Exception:  # noqa: BLE001
            pass
        for t, s in zip(state, saved):
            t.copy_(s)
        stats["graph_error"] = f"{type(e).__name__}: {str(e)[:200]}"
        print(f"evalkit: notice: CUDA graph capture failed ({type(e).__name__}: {str(e)[:120]}); "
              "decoding without graphs", file=sys.stderr)
        return None, pool
    for t, s in zip(state, saved):
        t.copy_(s)
    stats["graph_captures"] = stats.get("graph_captures", 0) + 1
    stats["graph_capture_s"] = stats.get("graph_capture_s", 0.0) + time.perf_counter() - t0
    return graph.replay, pool
