"""Text a server returns vs the text the same tokens make locally.

A server decodes the new tokens of a completion alone. With a SentencePiece-style tokenizer (Llama, Code Llama,
Mistral: a word's leading space is part of its token, and a decoder that strips it at the start of a text) the
first new token's space is dropped: a completion that begins with indentation loses one space, which breaks
Python. evalkit decodes new tokens after an anchor token (as the HF backend does), so where a server returns the
token ids (vLLM: ``logprobs`` with ``return_tokens_as_token_ids``), the text is decoded here; elsewhere the loss
is detected from the tokenizer, said once, and recorded (results.json ``model.text_decoding``).

Per server: vLLM returns token ids (decoded here: exact); ``transformers serve`` and TGI's OpenAI route return
text only (exact for byte-level BPE tokenizers: GPT-2, StarCoder, DeepSeek-Coder, Qwen; a leading space may be
lost for SentencePiece ones: Code Llama); SGLang returns text (the same caveat).
"""

from __future__ import annotations

import re
from typing import Any

TOKEN_ID = re.compile(r"token_id:(\d+)")
# what to ask a server for so that it returns the ids of the tokens it generated (vLLM's extra parameters)
TOKEN_ID_FIELDS = {"logprobs": 1, "return_tokens_as_token_ids": True}


def drops_leading_space(tok: Any) -> bool:
    """Whether decoding a word's token alone loses the space in front of it (SentencePiece-style decoders)."""
    ids = tok.encode("def f", add_special_tokens=False)
    if len(ids) < 2:
        return False
    alone = tok.decode(ids[1:], skip_special_tokens=True)
    return alone.endswith("f") and not alone.startswith(" ")


def decode_after_anchor(tok: Any, ids: list[int]) -> str:
    """The text of generated tokens as they read after a prompt: decoded after an anchor token."""
    anchor = tok.encode("a", add_special_tokens=False)[-1:]
    head = tok.decode(anchor, skip_special_tokens=True)
    text = tok.decode(anchor + list(ids), skip_special_tokens=True)
    return text[len(head):] if text.startswith(head) else tok.decode(list(ids), skip_special_tokens=True)


def token_ids(choice: dict[str, Any]) -> list[int] | None:
    """The generated token ids of a completion choice, where the server returned them (vLLM's
    ``return_tokens_as_token_ids``: ``logprobs.tokens`` = ["token_id:123", ...]); else None."""
    tokens = (choice.get("logprobs") or {}).get("tokens") if isinstance(choice.get("logprobs"), dict) else None
    if not isinstance(tokens, list) or not tokens:
        return None
    ids = []
    for t in tokens:
        m = TOKEN_ID.fullmatch(t) if isinstance(t, str) else None
        if m is None:
            return None
        ids.append(int(m.group(1)))
    return ids
