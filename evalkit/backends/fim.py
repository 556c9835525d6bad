"""Fill-in-the-middle prompt layouts, built at the token level from the tokenizer's own special tokens.

PSM = [BOS] + [PRE] + enc(prefix) + [SUF] + enc(suffix) + [MID]
SPM = [BOS] + [PRE, SUF] + enc(suffix) + [MID] + enc(prefix)   (the Code Llama / StarCoder SPM variant)

Code Llama follows Meta's reference code (``generation.py``): ``enc`` keeps SentencePiece's implicit leading
space, the suffix is encoded without it (Meta encodes "☺" + s and drops the first two ids), and the middle
ends with ``▁<EOT>``. Other families encode both parts plainly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import UserError

# family, prefix, suffix, middle, end-of-middle tokens (the first of a family's that the vocabulary has)
FAMILIES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>", ("▁<EOT>",)),
    ("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", ("<|endoftext|>", "<file_sep>")),
    ("santacoder", "<fim-prefix>", "<fim-suffix>", "<fim-middle>", ("<|endoftext|>",)),
    ("deepseek-coder", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", ("<｜end▁of▁sentence｜>", "<|EOT|>")),
    ("codegemma", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", ("<|file_separator|>",)),
    ("qwen2.5-coder", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
     ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>")),
]


@dataclass
class FimLayout:
    family: str
    prefix_id: int
    suffix_id: int
    middle_id: int
    end_tokens: list[int] = field(default_factory=list)
    names: tuple[str, str, str] = ("", "", "")

    def token_names(self) -> dict[str, Any]:
        return {"prefix": self.names[0], "suffix": self.names[1], "middle": self.names[2], "end": self.end_tokens}

    def end_ids(self, tok: Any) -> list[int]:
        return list(self.end_tokens)

    def _bos(self, tok: Any) -> list[int]:
        with_special = tok.encode("a", add_special_tokens=True)
        plain = tok.encode("a", add_special_tokens=False)
        return with_special[: len(with_special) - len(plain)] if with_special[-len(plain):] == plain else []

    def _enc(self, tok: Any, s: str) -> list[int]:
        return tok.encode(s, add_special_tokens=False) if s else []

    def _enc_nospace(self, tok: Any, s: str) -> list[int]:
        if self.family != "codellama":
            return self._enc(tok, s)
        ids = tok.encode("☺" + s, add_special_tokens=False)
        return ids[2:]

    def encode(self, tok: Any, prefix: str, suffix: str, mode: str = "psm") -> list[int]:
        bos = self._bos(tok)
        if mode == "psm":
            return (bos + [self.prefix_id] + self._enc(tok, prefix) + [self.suffix_id]
                    + self._enc_nospace(tok, suffix) + [self.middle_id])
        if mode == "spm":
            return (bos + [self.prefix_id, self.suffix_id] + self._enc_nospace(tok, suffix) + [self.middle_id]
                    + self._enc(tok, prefix))
        raise UserError(f"unknown FIM mode {mode!r} (psm or spm)")


def detect_fim(tok: Any, override: str | None = None) -> FimLayout:
    vocab = tok.get_vocab()
    if override:
        names = [t.strip() for t in override.split(",")]
        if len(names) not in (3, 4):
            raise UserError("--fim-tokens takes PREFIX,SUFFIX,MIDDLE[,END]")
        missing = [n for n in names if n not in vocab]
        if missing:
            raise UserError(f"--fim-tokens: the tokenizer has no token {missing[0]!r}")
        end = [vocab[names[3]]] if len(names) == 4 else []
        return FimLayout("custom", vocab[names[0]], vocab[names[1]], vocab[names[2]], end, tuple(names[:3]))
    for family, pre, suf, mid, ends in FAMILIES:
        if family == "codegemma" and ends[0] not in vocab:
            continue  # Qwen2.5-Coder spells its sentinels the same; CodeGemma alone has <|file_separator|>
        if pre in vocab and suf in vocab and mid in vocab:
            end = [vocab[e] for e in ends if e in vocab][:1]
            return FimLayout(family, vocab[pre], vocab[suf], vocab[mid], end, (pre, suf, mid))
    known = ", ".join(f"{f} ({p})" for f, p, *_ in FAMILIES)
    raise UserError(f"{getattr(tok, 'name_or_path', 'this model')} has no fill-in-the-middle tokens "
                    f"(looked for {known}); pass --fim-tokens PREFIX,SUFFIX,MIDDLE[,END] if it has others")
