"""Generation backends behind one small protocol (see ``base.py``); one file per backend."""

from __future__ import annotations

from typing import Any

from evalkit.backends.base import Backend


def load_backend(model: str, **options: Any) -> Backend:
    """``reference`` is the oracle; anything else is a Hugging Face hub id or a local checkpoint directory."""
    if model == "reference":
        from evalkit.backends.reference import ReferenceBackend

        return ReferenceBackend()
    from evalkit.backends.hf import HFBackend

    return HFBackend(model, **options)
