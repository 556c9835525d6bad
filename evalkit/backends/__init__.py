"""Generation backends behind one small protocol (see ``base.py``); one file per backend."""

from __future__ import annotations

from typing import Any

from evalkit.backends.base import Backend

# options that only the HF backend, or only the openai backend (``--base-url`` ...), takes
_HF_ONLY = ("dtype", "device", "device_map", "batch_size", "load_weights", "engine", "compile_step")
_OPENAI_ONLY = ("base_url", "concurrency", "request_timeout", "max_retries", "api_key_env", "tokenizer", "chat")


def load_backend(model: str, **options: Any) -> Backend:
    """``reference`` is the oracle; anything else is a Hugging Face hub id or a local checkpoint directory, or with
    ``backend="openai"`` the name a server serves the model under (see ``openai.py``)."""
    if options.pop("backend", "hf") == "openai":
        from evalkit.backends.openai import OpenAIBackend

        options = {k: v for k, v in options.items() if k not in _HF_ONLY}
        return OpenAIBackend(None if model == "reference" else model, **options)
    options = {k: v for k, v in options.items() if k not in _OPENAI_ONLY}
    if model == "reference":
        from evalkit.backends.reference import ReferenceBackend

        return ReferenceBackend()
    from evalkit.backends.hf import HFBackend

    return HFBackend(model, **options)
