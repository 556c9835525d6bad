"""A run's settings (``RunConfig``), its problems and its manifest (what the run is, for --resume)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit import __version__, protocol
from evalkit.backends.base import GenerationParams
from evalkit.progress import progress  # noqa: F401 (the run's bars: plain lines off-terminal)
from evalkit.records import sha256_text
from evalkit.sandbox import SandboxConfig
from evalkit.task import Problem, Task


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


def warn(msg: str) -> None:
    sys.stderr.write(f"evalkit: warning: {msg}\n")  # one write, whole: progress lines come from other threads
    sys.stderr.flush()
