"""Batched generation (evalkit's HF backend) vs one prompt per call (bigcode-evaluation-harness style).

    python bench/generation.py                                   # a tiny random Llama, on CPU
    python bench/generation.py --model DIR                       # any local checkpoint
    python bench/generation.py --from-config CONFIG_DIR --tokenizer TOK_DIR --device cuda --dtype bf16
                                                                 # random weights in a real model's shape

Both sides get the same workload (the first --problems HumanEval prompts, --n-samples each, sampled, exactly
--new-tokens new tokens: no stop sequence, EOS suppressed) in one process, and the script prints the wall
time of each and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers

from evalkit.backends.base import GenerationParams, GenerationRequest, sample_seed
from evalkit.backends.hf import HFBackend
from evalkit.registry import get_task


def load(args: argparse.Namespace, tmp: Path) -> HFBackend:
    if args.from_config:  # random weights in a real model's shape, built on the device: no download, no disk
        backend = HFBackend(args.tokenizer or args.from_config, device=args.device, batch_size=args.batch_size,
                            load_weights=False)
        cfg = transformers.AutoConfig.from_pretrained(args.from_config)
        dtype = getattr(torch, args.dtype_name)
        with torch.device(backend.device):
            try:
                model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
            except TypeError:  # older transformers
                model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=dtype)
        backend.attach(model)
        return backend
    path = args.model
    if not path:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        import tiny

        path = str(tiny.build("llama", tmp / "model"))
    return HFBackend(path, device=args.device, dtype=args.dtype, batch_size=args.batch_size)


def bigcode_style(backend: HFBackend, prompts: list[str], n: int, new_tokens: int) -> float:
    """One call of model.generate per prompt, its n samples as num_return_sequences (bigcode's design)."""
    model, tok = backend.model, backend.tok
    t0 = time.perf_counter()
    for p in prompts:
        enc = tok(p, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            model.generate(**enc, do_sample=True, temperature=0.8, top_p=0.95, max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, num_return_sequences=n, pad_token_id=tok.pad_token_id)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def evalkit_style(backend: HFBackend, prompts: list[str], n: int, new_tokens: int) -> float:
    reqs = [GenerationRequest(key=("humaneval", str(i), j), prompt=p, seed=sample_seed(0, "humaneval", str(i), j))
            for i, p in enumerate(prompts) for j in range(n)]
    backend.eos_ids = set()  # exactly new_tokens tokens, like min_new_tokens on the other side
    got = []
    t0 = time.perf_counter()
    backend.generate(reqs, GenerationParams(max_new_tokens=new_tokens, temperature=0.8, top_p=0.95),
                     lambda r, g: got.append(g.n_tokens))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    assert len(got) == len(reqs) and set(got) == {new_tokens}, set(got)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--from-config")
    ap.add_argument("--tokenizer")
    ap.add_argument("--device")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n-samples", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", default="auto")
    args = ap.parse_args()
    args.dtype_name = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[args.dtype]
    prompts = [p.prompt for p in get_task("humaneval").problems()[: args.problems]]
    with tempfile.TemporaryDirectory() as tmp:
        backend = load(args, Path(tmp))
        # warm-up (kernels, allocator) on both paths
        bigcode_style(backend, prompts[:1], 2, 4)
        evalkit_style(backend, prompts[:2], 2, 4)
        t_big = bigcode_style(backend, prompts, args.n_samples, args.new_tokens)
        t_ek = evalkit_style(backend, prompts, args.n_samples, args.new_tokens)
    dev = backend.device if not torch.cuda.is_available() else torch.cuda.get_device_name()
    n_tok = len(prompts) * args.n_samples * args.new_tokens
    print(f"device={dev} model={backend.info()['architecture']} dtype={args.dtype} "
          f"workload={len(prompts)} prompts x {args.n_samples} samples x {args.new_tokens} tokens")
    print(f"bigcode-style (one prompt per generate call): {t_big:7.2f} s  {n_tok / t_big:9.0f} tok/s")
    print(f"evalkit (batched across problems):           {t_ek:7.2f} s  {n_tok / t_ek:9.0f} tok/s")
    print(f"speed-up: {t_big / t_ek:.2f}x")


if __name__ == "__main__":
    main()
