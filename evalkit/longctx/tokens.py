"""Lengths in the model's own tokens: a :class:`TokenCounter` wraps a Hugging Face tokenizer (counting the text's
tokens without special tokens such as BOS), or, where the run has no tokenizer (``--model reference``), evalkit's
code tokens (``evalkit.evaluators.match.code_tokens``), recorded as such."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from evalkit.errors import UserError
from evalkit.evaluators.match import code_token_spans


class TokenCounter:
    """Counts tokens and finds token boundaries in a text. ``name`` says which tokenizer (recorded in results)."""

    name: str = ""

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of each token of ``text``."""
        raise NotImplementedError

    def count(self, text: str) -> int:
        return len(self.spans(text))

    def tokens_before(self, text: str, char_index: int) -> int:
        """How many tokens of ``text`` start before ``char_index``."""
        return sum(1 for s, _ in self.spans(text) if s < char_index)

    def tail(self, text: str, n: int) -> str:
        """The end of ``text`` made of its last ``n`` tokens (the whole text if it has no more)."""
        spans = self.spans(text)
        if len(spans) <= n:
            return text
        start = spans[len(spans) - n][0] if n > 0 else len(text)
        out = text[start:]
        while n > 0 and self.count(out) > n:  # re-tokenized alone, the cut may count one more: cut a token later
            spans = self.spans(out)
            out = out[spans[1][0]:] if len(spans) > 1 else ""
        return out


class CodeTokenCounter(TokenCounter):
    """evalkit's code tokens: no model tokenizer (the reference backend)."""

    def __init__(self, language: str = "python") -> None:
        self.language = language
        self.name = f"evalkit code tokens ({language}; no model tokenizer)"

    def spans(self, text: str) -> list[tuple[int, int]]:
        return code_token_spans(text, self.language)


class HFTokenCounter(TokenCounter):
    """A Hugging Face tokenizer; offsets from a fast tokenizer's offset mapping."""

    def __init__(self, tokenizer: Any, name: str | None = None) -> None:
        self.tok = tokenizer
        self.name = name or str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
        if not getattr(tokenizer, "is_fast", False):
            raise UserError(f"long-context tasks need a fast tokenizer (offsets); {self.name} is not one")

    def count(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def spans(self, text: str) -> list[tuple[int, int]]:
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        return [(int(s), int(e)) for s, e in enc["offset_mapping"]]


def counter_for(tokenizer: Any | None, name: str | None = None, language: str = "python") -> TokenCounter:
    return CodeTokenCounter(language) if tokenizer is None else HFTokenCounter(tokenizer, name)


def vocab_sha256(tokenizer: Any | None) -> str:
    """Identity of a tokenizer (its vocabulary and merges, as serialized): recorded beside the prompt hash."""
    if tokenizer is None:
        return hashlib.sha256(b"evalkit code tokens v2").hexdigest()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    raw = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(raw.encode()).hexdigest()


_LEN = re.compile(r"(\d+(?:\.\d+)?)([kK]?)")


def parse_lengths(spec: str) -> tuple[int, ...]:
    """'4k,8k,16000' -> (4000, 8000, 16000): 'k' is a thousand, as the paper's 8,000 / 16,000 / 24,000."""
    out = []
    for part in spec.split(","):
        m = _LEN.fullmatch(part.strip())
        if not m:
            raise UserError(f"--context-lengths: {part.strip()!r} is not a length (e.g. 8k or 16000)")
        n = int(round(float(m.group(1)) * (1000 if m.group(2) else 1)))
        if n < 200:
            raise UserError(f"--context-lengths: {n} tokens is too short for a key-retrieval prompt (>= 200)")
        out.append(n)
    return tuple(out)


def parse_positions(spec: str) -> tuple[float, ...]:
    """'0,0.2,0.4' -> (0.0, 0.2, 0.4); each in [0, 1]."""
    out = []
    for part in spec.split(","):
        try:
            x = float(part.strip())
        except ValueError:
            raise UserError(f"--key-positions: {part.strip()!r} is not a number in [0, 1]") from None
        if not 0.0 <= x <= 1.0:
            raise UserError(f"--key-positions: {x} is outside [0, 1]")
        out.append(x)
    return tuple(out)
