"""Peak memory and prefill tokens/s of the fast engine's chunked prefill at long prompts, on CPU, small model.

    python bench/long_context.py --tokenizer ../shared/tokenizers/codellama-7b [--lengths 4096,8192,16384,32768]
                                 [--threads 1] [--json out.json]

A Llama-shaped model (4 layers, hidden 256, 4 heads, rope_theta 1e6, 40k window, float32) prefills one prompt of
each length into a slot sized for it. Peak memory is the process's peak resident set (VmHWM, reset before each
length through /proc/self/clear_refs) above what it held before the slot was allocated; the KV cache size is
that of the slot; one short prefill runs first, so one-time kernel workspaces are not counted. Chunked prefill (attention chunk x length, logits at the last position only) keeps the peak
within 1.5x of the KV cache: the line says so per length, the last line for all (exit 1 if not). On a GPU, bench/gpu.sh runs the 7B-shaped rows.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from evalkit.backends.engine import FastEngine  # noqa: E402
from evalkit.backends.hf import HFBackend  # noqa: E402


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default=".gpu/codellama-7b")
    ap.add_argument("--lengths", default="4096,8192,16384,32768")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--shape", default="small", choices=["small", "7b"], help="7b: the Code Llama 7B shape (GPU)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default torch's own; on a machine shared with "
                    "other jobs 1 is ~10x faster: OpenMP threads wait on each other when cores are busy)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.device.startswith("cuda"):
        # a fixed mmap threshold: every large tensor gets its own mapping, given back when freed, so the resident
        # set follows live memory (glibc's sliding threshold would keep freed blocks resident and hide allocations)
        ctypes.CDLL(None).mallopt(-3, 128 << 10)  # M_MMAP_THRESHOLD
    lengths = [int(x) for x in args.lengths.split(",")]
    window = max(lengths) + 1024
    shape = (dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=32) if args.shape == "7b" else
             dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4))
    cfg = transformers.LlamaConfig(vocab_size=32016, rope_theta=1e6, max_position_embeddings=window,
                                   bos_token_id=1, eos_token_id=2, pad_token_id=0, **shape)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    with torch.device(args.device):
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype).eval()
    b = HFBackend(args.tokenizer, device=args.device, load_weights=False, engine="fast")
    b.attach(model)
    eng = FastEngine(b)
    cuda = args.device.startswith("cuda")
    # one short prefill first: the first call of each kernel takes one-time memory (oneDNN/cuBLAS workspaces, the
    # allocator's first arenas) that is no part of the prefill's cost and, at smoke sizes, would rival the KV cache
    with torch.inference_mode():
        eng._alloc(1, 256, set(), 32016)
        eng._prefill([(list(range(3, 195)), [0])])
    rows = []
    for n in lengths:
        eng._free()
        ids = torch.randint(3, 32000, (n,), generator=torch.Generator().manual_seed(n)).tolist()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")
            before = _rss("VmRSS")
        with torch.inference_mode():
            eng._alloc(1, -(-(n + 64) // 64) * 64, set(), 32016)
            kv = sum(t.numel() * t.element_size() for t in eng.K + eng.V)
            t0 = time.perf_counter()
            eng._prefill([(ids, [0])])
            if cuda:
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
        peak = (torch.cuda.max_memory_allocated() if cuda else _rss("VmHWM")) - before
        row = {"prompt_tokens": n, "kv_cache_mib": round(kv / 2**20, 1), "peak_above_start_mib": round(peak / 2**20, 1),
               "peak_over_kv": round(peak / kv, 2), "prefill_tok_s": round(n / dt, 1),
               "chunk": eng._chunk(1, n), "within_1_5x": peak <= 1.5 * kv}
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = all(r["within_1_5x"] for r in rows)
    print(f"chunked prefill: peak memory within 1.5x of the KV cache at every length: {'yes' if ok else 'NO'} "
          f"(max {max(r['peak_over_kv'] for r in rows)}x; {args.device}, {torch.get_num_threads()} threads)")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "shape": args.shape, "dtype": args.dtype,
                                               "threads": torch.get_num_threads(), "torch": torch.__version__,
                                               "rows": rows}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
