"""The oracle: answers every request with the problem's canonical completion (a self-check of data + executor)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.backends.base import Generation, GenerationParams, GenerationRequest, OnResult


class ReferenceBackend:
    name = "reference"

    def info(self) -> dict[str, Any]:
        return {"backend": "reference", "id": "reference", "revision": None}

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams, on_result: OnResult) -> None:
        for req in requests:
            on_result(req, Generation(text=req.reference or "", final=True))

    def render(self, request: GenerationRequest) -> dict[str, Any]:
        p = request.prompt
        text = p if isinstance(p, str) else repr(p)
        return {"text": text}
