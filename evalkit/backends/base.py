"""The backend protocol: a list of generation requests in, one raw generation per request out.

A request is one sample (task, task_id, sample_idx) with its own seed, so the text a backend returns for a
sample never depends on which other samples share its batch. Backends call ``on_result`` as soon as a sample
is finished, so the runner can journal it (crash-safe) before the next batch starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalkit.task import FimPrompt


@dataclass(frozen=True)
class ChatPrompt:
    """An instruct model's prompt: the user's message, and the start of the assistant's turn to continue."""

    user: str
    assistant_prefix: str


Prompt = str | FimPrompt | ChatPrompt


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass(frozen=True)
class GenerationRequest:
    key: tuple[str, str, int]  # (task, task_id, sample_idx)
    prompt: Prompt
    stop: tuple[str, ...] = ()
    seed: int = 0
    single_line: bool = False  # infilling single-line: stop at the first newline too
    reference: str | None = None  # the canonical completion (used by the oracle backend only)
    max_new_tokens: int | None = None  # this request's cap (the task's); None: params.max_new_tokens
    truncate: str = "refuse"  # a prompt longer than the model's window: "refuse" (error) or "left" (keep its end)


@dataclass
class Generation:
    text: str  # raw generated text, before the task's post-processing
    n_tokens: int = 0
    final: bool = False  # True: ``text`` is already the completion (the oracle), skip post-processing
    extra: dict[str, Any] = field(default_factory=dict)


OnResult = Callable[[GenerationRequest, Generation], None]


class Backend(Protocol):
    name: str

    def info(self) -> dict[str, Any]:
        """Provenance for results.json: model id, revision/hash, dtype, tokenizer, ..."""
        ...

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams, on_result: OnResult) -> None:
        ...

    def render(self, request: GenerationRequest) -> dict[str, Any]:
        """Exactly what the model sees for a request: {"text": str, "ids": [...], "pieces": [...]}."""
        ...


def sample_seed(seed: int, task: str, task_id: str, sample_idx: int) -> int:
    """A per-sample seed from (seed, task, task_id, sample_idx): independent of batch size and order."""
    h = hashlib.sha256(f"{seed}|{task}|{task_id}|{sample_idx}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
