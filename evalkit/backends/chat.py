"""What an instruct model sees: the chat template's own rendering of the user turn and the start of the answer,
and the checkpoint's own beginning-of-sequence rule.

The assistant turn is rendered through the template as a final assistant message to continue
(``continue_final_message``), the way evalplus builds instruct prompts, so the separator between the
generation prompt and the answer is the template's: for Llama-2 / Code Llama - Instruct ``[/INST]`` + `` `` +
answer, as Meta's ``chat_completion`` encodes it (``f"{B_INST} {user} {E_INST} {answer} "``), not
``[/INST]`` glued to the answer. Templates that cannot continue a message get the generation prompt plus the
separator the template puts before an assistant message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_PROBE = "EVALKIT_ASSISTANT_PROBE"


def render_chat(tok: Any, user: str, assistant_prefix: str) -> str:
    """The prompt text: the user's message, then the assistant's turn started with ``assistant_prefix``."""
    messages = [{"role": "user", "content": user}]
    if not assistant_prefix:
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    try:
        text = tok.apply_chat_template(messages + [{"role": "assistant", "content": assistant_prefix}],
                                       tokenize=False, continue_final_message=True)
    except Exception:  # a template that cannot continue a message (or a transformers without the option)
        text = None
    if isinstance(text, str) and text.rstrip().endswith(assistant_prefix.rstrip()):
        # templates that trim the message (``content | trim``) drop its trailing whitespace: put it back
        return text.rstrip() + assistant_prefix[len(assistant_prefix.rstrip()):]
    gen = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return gen + _separator(tok, messages, gen) + assistant_prefix


def _separator(tok: Any, messages: list[dict[str, str]], gen: str) -> str:
    """What the template puts between the generation prompt and an assistant message's text ('' if unknown)."""
    try:
        full = tok.apply_chat_template(messages + [{"role": "assistant", "content": _PROBE}], tokenize=False)
    except Exception:
        return ""
    i = full.find(_PROBE)
    if i == -1:
        return ""
    before = full[:i]
    if before.startswith(gen):
        return before[len(gen):]
    # the generation prompt may end in a newline that the assistant message's header does not repeat
    return ""


def encode_chat(tok: Any, text: str) -> list[int]:
    """Token ids of a rendered chat prompt. A leading BOS (the template writes it as text) becomes its id and the
    rest is encoded as plain text, as Meta's reference code does (``[BOS] + sp.encode("[INST] ...")``): a
    SentencePiece tokenizer then starts ``[INST]`` with its word marker (``'▁['``), as in training, rather than
    the ``'['`` that encoding ``"<s>[INST]"`` in one piece gives."""
    bos, bos_id = getattr(tok, "bos_token", None), getattr(tok, "bos_token_id", None)
    if bos and bos_id is not None and text.startswith(bos):
        return [bos_id] + tok.encode(text[len(bos):], add_special_tokens=False)
    return tok.encode(text, add_special_tokens=False)


def declared_bos(model_id: str, revision: str | None = None) -> bool | None:
    """``add_bos_token`` as the checkpoint's tokenizer_config.json says it (None: not said, or not readable).

    transformers 5 loads some tokenizers (DeepSeek-Coder's) as ``TokenizersBackend``, which ignores this key;
    transformers 4 honours it. evalkit honours it whatever class transformers picks.
    """
    path: Path | None = Path(model_id) / "tokenizer_config.json"
    if not path.is_file():
        path = None
        try:
            from transformers.utils import cached_file

            found = cached_file(model_id, "tokenizer_config.json", revision=revision,
                                _raise_exceptions_for_missing_entries=False)
            path = Path(found) if found else None
        except Exception:
            return None
    if path is None:
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("add_bos_token")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def with_bos(ids: list[int], bos_id: int | None, declared: bool | None) -> list[int]:
    """``ids`` with the BOS the checkpoint declares: added if it is missing, removed if the checkpoint says none."""
    if bos_id is None or declared is None:
        return ids
    has = bool(ids) and ids[0] == bos_id
    if declared and not has:
        return [bos_id] + ids
    if not declared and has:
        return ids[1:]
    return ids
