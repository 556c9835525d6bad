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
        if hasattr(api, "bind"):  # the CPU stand-in (EagerGraphs) replays the function itself
            api.bind(graph, fn)
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


class EagerGraphs:
    """A CPU stand-in for the part of ``torch.cuda`` that ``capture`` uses: a "graph" replays its function
    eagerly. It runs the engine's real capture path (warm-up, state restore, the runner kept for the run) where
    there is no GPU: the proxies count captures with it, and tests make it fail on purpose (``fail``)."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail  # None, "enter" (the capture does not start) or "end" (capture_end fails)
        self.current = "default"
        self.graphs = 0

    class _Stream:
        def __init__(self, name: str) -> None:
            self.name = name

        def wait_stream(self, other: Any) -> None:
            pass

    def current_stream(self, device: Any = None) -> Any:
        if isinstance(self.current, str):
            self.current = self._Stream(self.current)
        return self.current

    def Stream(self, device: Any = None) -> Any:  # noqa: N802 - torch.cuda's name
        return self._Stream("side")

    def set_stream(self, stream: Any) -> None:
        self.current = stream

    def synchronize(self, device: Any = None) -> None:
        pass

    def bind(self, graph: Any, fn: Any) -> None:
        graph.fn = fn

    def CUDAGraph(self) -> Any:  # noqa: N802 - torch.cuda's name
        api = self

        class Graph:
            fn: Any = None

            def pool(self) -> Any:
                return None

            def replay(self) -> None:
                self.fn()

        api.graphs += 1
        return Graph()

    def graph(self, g: Any, pool: Any = None) -> Any:
        import contextlib

        api = self

        @contextlib.contextmanager
        def ctx() -> Any:
            if api.fail == "enter":
                raise RuntimeError("forced capture failure")
            prev = api.current
            api.current = api._Stream("capture")
            recorded: list[Any] = []
            yield recorded
            if api.fail == "end":  # fails at capture_end: the capture stream is still current
                raise RuntimeError("forced capture failure")
            api.current = prev

        return ctx()
