"""The fast engine's fused decode step: ``torch.compile`` of the step's model forward, sampling and state updates
(evalkit/backends/engine.py ``_core``), used inside the engine's own CUDA graphs on CUDA (inductor without its own
graphs: the engine captures the compiled kernels), testable on CPU (inductor's C++ backend).

Setting (``compile_step``): ``auto`` (on CUDA only), ``on`` or ``off``; ``HFBackend(compile_step=...)``, else
``EVALKIT_COMPILE_STEP``. ``EVALKIT_COMPILE_MODE`` picks the inductor mode (default: inductor's default; e.g.
``max-autotune-no-cudagraphs``, slower to compile). A compile that fails (no compiler, an unsupported op) is said
in one line and the run goes on with the eager step, the step's state restored."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

MODES = ("auto", "on", "off")


def wanted(backend: Any, cuda: bool) -> bool:
    """Whether the engine compiles its step: the backend's setting, else the environment's, else on CUDA only."""
    from evalkit.errors import UserError

    value = getattr(backend, "compile_step", "auto") or "auto"
    if value == "auto":
        value = os.environ.get("EVALKIT_COMPILE_STEP", "auto").strip().lower() or "auto"
    if value not in MODES:
        raise UserError(f"compile step setting {value!r} is not one of {', '.join(MODES)}")
    return cuda if value == "auto" else value == "on"


class CompiledStep:
    """``fn(n, kv_len)`` compiled once per process (dynamo's automatic dynamic shapes: a second compile for the
    second batch bucket makes the batch size symbolic, then every bucket reuses it). The first call of each
    (n, kv_len) may compile: the state it changes is saved first, and a failure restores it, says so once and
    makes every later call eager."""

    def __init__(self, torch: Any, fn: Callable[[int, int], None], state: Callable[[], list[Any]],
                 stats: dict[str, Any]) -> None:
        import torch._dynamo.config as dc

        for name in ("recompile_limit", "cache_size_limit"):  # one entry per bucket; 8 is too few
            if getattr(dc, name, 0) < 64:
                setattr(dc, name, 64)
        self.torch, self.eager, self.state, self.stats = torch, fn, state, stats
        self.compiled: Any = None  # made in the first call, inside its error handling
        self.seen: set[tuple[int, int]] = set()
        self.failed: str | None = None
        stats.setdefault("compiled_step", True)
        stats.setdefault("compile_s", 0.0)

    def __call__(self, n: int, kv_len: int) -> None:
        if self.failed:
            return self.eager(n, kv_len)
        if (n, kv_len) in self.seen:
            return self.compiled(n, kv_len)
        saved = [t.clone() for t in self.state()]
        t0 = time.perf_counter()
        try:
            if self.compiled is None:
                mode = os.environ.get("EVALKIT_COMPILE_MODE") or None
                # dynamic=None: the first bucket static, the next makes the batch (and, on SDPA, the length)
                # dynamic: two compiles for all buckets, not one per bucket
                self.compiled = self.torch.compile(self.eager, dynamic=None, mode=mode)
            self.compiled(n, kv_len)
        except Exception as e:  # noqa: BLE001 - any compile failure: the eager step
            for t, s in zip(self.state(), saved):
                t.copy_(s)
            self.failed = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}"
            self.stats["compiled_step"] = False
            self.stats["compile_error"] = self.failed
            print(f"evalkit: notice: torch.compile of the decode step failed ({self.failed}); decoding with the "
                  "eager step", file=sys.stderr)
            return self.eager(n, kv_len)
        self.seen.add((n, kv_len))
        self.stats["compile_s"] += time.perf_counter() - t0
        self.stats["compiles"] = self.stats.get("compiles", 0) + 1
        return None
