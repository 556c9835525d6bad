"""Generation and execution overlapped: see ``evalkit.run.overlap`` (kept importable under this name)."""

from evalkit.run.overlap import generate_and_execute

__all__ = ["generate_and_execute"]
