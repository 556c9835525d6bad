"""The run's stages under their historical names (``evalkit.runner.generate``, ``execute``, ``finalize``...): the
code lives in ``evalkit.run`` (config, generate, judge, finalize, overlap)."""

from evalkit.records import code_of, sha256_text
from evalkit.run.config import RunConfig, manifest_for, problems_of, progress, warn
from evalkit.run.finalize import finalize, run_fields, task_summary
from evalkit.run.generate import build_requests, generate, to_completion
from evalkit.run.judge import Judge, execute, spec_key, unique_generations, warn_layers

__all__ = ["Judge", "RunConfig", "build_requests", "code_of", "execute", "finalize", "generate", "manifest_for",
           "problems_of", "progress", "run_fields", "sha256_text", "spec_key", "task_summary", "to_completion",
           "unique_generations", "warn", "warn_layers"]
