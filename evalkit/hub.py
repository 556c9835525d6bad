"""Is the Hugging Face hub reachable? Asked once per process, so that an offline machine fails in a second.

Without this, ``huggingface_hub`` retries every request for ~24 s (with a dozen lines of noise) before the error.
When the hub cannot be reached, evalkit switches the libraries to offline mode (only the local cache is used) and
says in one line what is missing and how to give it locally.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

_TRUE = {"1", "on", "yes", "true"}
_reason: list[str | None] = []  # the cached answer of offline_reason()

HINT = "give local files (--data-dir DIR or EVALKIT_DATA_DIR=DIR; see README: Data)"
MODEL_HINT = "give a local checkpoint directory, or download the model where the hub is reachable"
OFFLINE_HINT = "HF_HUB_OFFLINE=1 uses only the local cache, without trying the network"


def _probe(host: str, port: int, timeout: float) -> str | None:
    out: list[str | None] = ["timed out"]

    def go() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            out[0] = None
        except OSError as e:
            out[0] = e.strerror or type(e).__name__

    t = threading.Thread(target=go, daemon=True)  # getaddrinfo has no timeout of its own
    t.start()
    t.join(timeout + 0.5)
    return out[0]


def offline_reason(timeout: float = 3.0) -> str | None:
    """None when the hub may be tried; else why not (``HF_HUB_OFFLINE`` set, or the endpoint unreachable)."""
    if _reason:
        return _reason[0]
    reason: str | None = None
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        reason = "HF_HUB_OFFLINE is set"
    elif not any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        # behind a proxy the name may not resolve here although the hub is reachable: then let the libraries try
        url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
        host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
        why = _probe(host, port, timeout)
        if why is not None:
            reason = f"{host} cannot be reached: {why}"
    _reason.append(reason)
    if reason is not None:
        go_offline()
    return reason


def go_offline() -> None:
    """Make huggingface_hub, datasets and transformers use only the local cache (no retries)."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"
    # modules already imported read these at import time
    for mod, attrs in (("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
                       ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))):
        m = sys.modules.get(mod)
        for a in attrs:
            if m is not None and hasattr(m, a):
                setattr(m, a, True)


def offline_message(hint: str = HINT) -> str:
    """The end of an error line when loading from the hub failed with the hub offline ('' when it is online)."""
    reason = offline_reason()
    if reason is None:
        return ""
    return f"not in the local cache and the hub is offline ({reason}); {hint} ({OFFLINE_HINT})"


def check_model_dir(path: Path, weights: bool = True) -> None:
    """One clear error for a local checkpoint folder that cannot be a transformers model: say what is missing."""
    import json

    from evalkit.errors import UserError

    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    if not names:
        raise UserError(f"model directory {path} is empty: a checkpoint needs config.json, tokenizer files "
                        "(tokenizer.json, tokenizer.model or vocab.json) and weights (*.safetensors or *.bin)")
    if "config.json" not in names:
        raise UserError(f"model directory {path} has no config.json (is it a transformers checkpoint?)")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path / 'config.json'}: unreadable ({e})") from None
    if not isinstance(config, dict) or not (config.get("model_type") or config.get("auto_map")):
        raise UserError(f"{path / 'config.json'} names no model_type (e.g. \"llama\"): transformers cannot tell "
                        "which architecture to build")
    tokenizer_files = {"tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "tokenizer_config.json",
                       "spiece.model", "sentencepiece.bpe.model"}
    if not names & tokenizer_files and not any(n.endswith(".tiktoken") for n in names):
        raise UserError(f"model directory {path} has no tokenizer files (tokenizer.json, tokenizer.model, "
                        "vocab.json or tokenizer_config.json)")
    if weights and not any(n.endswith((".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5"))
                           or n.endswith(".index.json") for n in names):
        raise UserError(f"model directory {path} has no weights (model.safetensors, pytorch_model.bin or a "
                        "sharded *.index.json)")
