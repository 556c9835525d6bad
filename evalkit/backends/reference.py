"""The oracle: answers every request with the problem's canonical completion (a self-check of data + executor)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.backends.base import ChatPrompt, Generation, GenerationParams, GenerationRequest, OnResult
from evalkit.task import FimPrompt


class ReferenceBackend:
    name = "reference"

    def info(self) -> dict[str, Any]:
        return {"backend": "reference", "id": "reference", "revision": None}

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams, on_result: OnResult) -> None:
        for req in requests:
            on_result(req, Generation(text=req.reference or "", final=True))

    def render(self, request: GenerationRequest) -> dict[str, Any]:
        p = request.prompt
        if isinstance(p, FimPrompt):
            return {"text": f"--- prefix ---\n{p.prefix}\n--- suffix ---\n{p.suffix}"}
        if isinstance(p, ChatPrompt):
            return {"text": f"--- user ---\n{p.user}\n--- assistant ---\n{p.assistant_prefix}"}
        return {"text": p}
