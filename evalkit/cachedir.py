"""Where evalkit keeps what it builds once per machine (EvalPlus's expected outputs, the compilers' precompiled
headers, archives, snapshots and images): ``$EVALKIT_CACHE_DIR``, default ``$XDG_CACHE_HOME/evalkit``
(``~/.cache/evalkit``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    d = os.environ.get("EVALKIT_CACHE_DIR")
    if d:
        return Path(d).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evalkit"
