"""Generation throughput on the realistic workload, every method in ONE run on the same device.

    python bench/generation.py --from-config .gpu/codellama-7b --tokenizer .gpu/codellama-7b --device cuda --dtype bf16
    python bench/generation.py --smoke                    # a tiny Llama with the 32k Code Llama vocabulary, on CPU
    python bench/generation.py --proxies     # CPU proxies (issue 22; tokenizer: --tokenizer, else $SHARED/tokenizers)

Workload (the GPU engine issue's): the first --prompts HumanEval prompts through the Code Llama tokenizer,
--samples each, sampled (T=0.8, top-p 0.95), every sequence stopping at its own length drawn from
[--min-new, --max-new] (torch.Generator seed 1; the same lengths for every method). Random weights never stop on
their own: Hugging Face's generate gets a logits processor that forces EOS at the drawn length (and forbids it
before); evalkit gets the drawn length as each request's max_new_tokens and no EOS, its HumanEval stop strings on.
Useful tokens = tokens up to each sequence's stop; useful tok/s = useful tokens / wall time.

Methods: ``fast`` (evalkit's fast engine, --batch-size auto), ``padded`` (``generate``, all sequences in one
left-padded batch, dynamic cache), ``static`` (``generate`` with ``cache_implementation="static"``, one padded
batch; compiled on CUDA; its second call is timed), ``eager`` (evalkit's eager backend, batch 64 and 128),
``bigcode`` (one prompt x --samples per ``generate`` call), ``fast_x4`` (4x the workload), ``fast_step_eager``
(the fast engine with its compiled step off: ``fast`` compiles it on CUDA, evalkit/backends/engine_compile.py). The figures go to
stdout and, as JSON, to --json. --budget stops starting new methods after that many seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import LogitsProcessor, LogitsProcessorList

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from evalkit.backends.base import GenerationParams, GenerationRequest, sample_seed  # noqa: E402
from evalkit.backends.hf import HFBackend  # noqa: E402
from evalkit.registry import get_task  # noqa: E402

STOPS = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")
T, TOP_P = 0.8, 0.95


class ForceEOS(LogitsProcessor):
    """Row r ends after lens[r] new tokens: only EOS from then on, never EOS before."""

    def __init__(self, lens: torch.Tensor, start: int, eos: int) -> None:
        self.lens, self.start, self.eos = lens, start, eos

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        done = (input_ids.shape[1] - self.start) >= self.lens.to(scores.device)
        low = torch.finfo(scores.dtype).min
        scores[done] = low
        scores[done, self.eos] = 0
        scores[~done, self.eos] = low
        return scores


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.t0 = args, time.time()
        self.cuda = args.device.startswith("cuda")
        self.res: dict = {"torch": torch.__version__, "transformers": transformers.__version__,
                          "device": torch.cuda.get_device_name(0) if self.cuda else "cpu",
                          "smoke": bool(args.smoke), "dtype": args.dtype}

    def log(self, **kw: object) -> None:
        self.res.update(kw)
        print(json.dumps(kw), flush=True)
        if self.args.json:
            Path(self.args.json).write_text(json.dumps(self.res, indent=1))

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def measure(self, name: str, fn, useful: int | None = None) -> float | None:  # noqa: ANN001
        if time.time() - self.t0 > self.args.budget:
            self.log(**{f"{name}_skipped": "time budget"})
            return None
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        self.sync()
        t = time.perf_counter()
        try:
            got = fn()
        except Exception as e:  # one method failing must not lose the others' figures
            self.log(**{f"{name}_error": f"{type(e).__name__}: {str(e)[:300]}"})
            return None
        self.sync()
        dt = time.perf_counter() - t
        n = got if isinstance(got, int) else useful
        out = {f"{name}_s": round(dt, 2), f"{name}_useful_tokens": n, f"{name}_useful_tok_s": round(n / dt, 1)}
        if self.cuda:
            out[f"{name}_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
        self.log(**out)
        return n / dt


def build_model(args: argparse.Namespace) -> torch.nn.Module:
    if args.smoke:
        cfg = transformers.LlamaConfig(vocab_size=32016, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=4, bos_token_id=1, eos_token_id=2,
                                       pad_token_id=0)
    else:
        cfg = transformers.AutoConfig.from_pretrained(args.from_config)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    torch.manual_seed(0)
    with torch.device(args.device):
        try:
            model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
        except TypeError:
            model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=dtype)
    return model.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-config", default=".gpu/codellama-7b", help="config dir of the model shape")
    ap.add_argument("--tokenizer", default=None, help="tokenizer dir (default: --from-config)")
    ap.add_argument("--smoke", action="store_true", help="tiny model, tiny workload (CPU)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None, choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--min-new", type=int, default=40)
    ap.add_argument("--max-new", type=int, default=256)
    ap.add_argument("--methods", default="fast,padded,static,eager,bigcode,fast_x4,fast_step_eager")
    ap.add_argument("--budget", type=float, default=float(os.environ.get("BUDGET_S", "300")))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--proxies", action="store_true",
                    help="CPU proxies of the fast engine's GPU cost (evalkit/backends/engine_proxies.py), then exit")
    ap.add_argument("--proxy-slots", type=int, default=128, help="slots a GPU would give (default 128)")
    args = ap.parse_args()
    if args.proxies:
        return proxies(args)
    if args.smoke:
        args.prompts, args.samples, args.min_new, args.max_new = min(args.prompts, 3), min(args.samples, 3), 4, 12
    args.dtype = args.dtype or ("bf16" if args.device.startswith("cuda") else "fp32")
    tok_dir = args.tokenizer or args.from_config
    methods = args.methods.split(",")
    bench = Bench(args)

    model = build_model(args)
    backend = HFBackend(tok_dir, device=args.device, load_weights=False)
    backend.attach(model)
    eos = 2 if backend.tok.eos_token_id is None else backend.tok.eos_token_id
    prompts = [p.prompt for p in get_task("humaneval").problems()[: args.prompts]]
    ids = [backend.encode(p) for p in prompts]
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(args.min_new, args.max_new + 1, (len(prompts) * args.samples,), generator=g)
    useful = int(lengths.sum())
    bench.log(model=type(model).__name__, prompts=len(prompts), samples=args.samples,
              prompt_tokens=[len(x) for x in ids], sequences=len(lengths), useful_tokens=useful,
              build_s=round(time.time() - bench.t0, 1))
    gen_kw = dict(do_sample=True, temperature=T, top_p=TOP_P, max_new_tokens=args.max_new, pad_token_id=0,
                  eos_token_id=eos)

    def padded(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(map(len, seqs))
        x = torch.tensor([[0] * (width - len(s)) + s for s in seqs], device=args.device)
        m = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=args.device)
        return x, m

    seqs = [s for s in ids for _ in range(args.samples)]
    x, mask = padded(seqs)

    def hf_padded(**extra: object) -> None:
        with torch.inference_mode():
            model.generate(x, attention_mask=mask, logits_processor=LogitsProcessorList([ForceEOS(lengths, x.shape[1], eos)]),
                           **gen_kw, **extra)

    def hf_bigcode() -> None:
        with torch.inference_mode():
            for i, s in enumerate(ids):
                lp = LogitsProcessorList([ForceEOS(lengths[i * args.samples:(i + 1) * args.samples], len(s), eos)])
                model.generate(torch.tensor([s], device=args.device), num_return_sequences=args.samples,
                               logits_processor=lp, **gen_kw)

    def backend_for(engine: str, batch_size: str | int, compile_step: str = "auto") -> HFBackend:
        b = HFBackend(tok_dir, device=args.device, load_weights=False, batch_size=batch_size, engine=engine,
                      compile_step=compile_step)
        b.attach(model)
        b.eos_ids = set()  # random weights: stop at the drawn length (or a stop string), as the HF side does
        b.engine_name()  # resolve (and probe) the engine before the clock starts
        return b

    def evalkit(b: HFBackend, copies: int = 1, tag: str | None = None) -> int:
        reqs = [GenerationRequest(key=("humaneval", f"{i}#{c}", j), prompt=prompts[i], stop=STOPS,
                                  seed=sample_seed(0, "humaneval", f"{i}#{c}", j),
                                  max_new_tokens=int(lengths[i * args.samples + j]))
                for c in range(copies) for i in range(len(prompts)) for j in range(args.samples)]
        made: list[int] = []
        b.generate(reqs, GenerationParams(max_new_tokens=args.max_new, temperature=T, top_p=TOP_P),
                   lambda r, gen: made.append(gen.n_tokens))
        fast = getattr(b, "_fast", None)
        if fast is not None:
            tag = tag or ("fast" if copies == 1 else f"fast_x{copies}")
            bench.log(**{f"{tag}_engine": {k: (round(v, 2) if isinstance(v, float) else v)
                                           for k, v in fast.stats.items()}})
        return sum(made)

    # warm-up: kernels, allocator, tokenizer
    with torch.inference_mode():
        model.generate(torch.tensor([ids[0]], device=args.device), max_new_tokens=4, do_sample=False, pad_token_id=0)
    rates = {}
    if "fast" in methods:
        fast_backend = backend_for("fast", "auto")
        rates["fast"] = bench.measure("fast", lambda: evalkit(fast_backend))
    if "fast_step_eager" in methods:  # the fast engine without the compiled step (auto compiles it on CUDA)
        plain_backend = backend_for("fast", "auto", compile_step="off")
        rates["fast_step_eager"] = bench.measure("fast_step_eager", lambda: evalkit(plain_backend, tag="fast_step_eager"))
    if "padded" in methods:
        rates["padded"] = bench.measure("padded", hf_padded, useful)
    if "static" in methods:
        for call in (1, 2):  # the first call compiles (on CUDA); the second is the figure
            rates["static"] = bench.measure(f"static_call{call}", lambda: hf_padded(cache_implementation="static"),
                                            useful)
    if "eager" in methods:
        for bs in (64, 128):
            eager_backend = backend_for("eager", bs)
            rates[f"eager_bs{bs}"] = bench.measure(f"eager_bs{bs}", lambda b=eager_backend: evalkit(b))
    if "bigcode" in methods:
        rates["bigcode"] = bench.measure("bigcode", hf_bigcode, useful)
    if "fast_x4" in methods:
        x4_backend = backend_for("fast", "auto")
        rates["fast_x4"] = bench.measure("fast_x4", lambda: evalkit(x4_backend, copies=4))
    fast = rates.get("fast")
    if fast:
        bench.log(ratios={f"fast_vs_{k}": round(fast / v, 2) for k, v in rates.items() if v and k != "fast"})
    bench.log(total_s=round(time.time() - bench.t0, 1))
    return 0


def proxies(args: argparse.Namespace) -> int:
    """The proxies on CPU with a tiny Llama (32k vocabulary), the engine planned with --proxy-slots slots:
    the realistic schedule (8 prompts x 16 samples, stops at 40-256 tokens; decoded greedily here: the figures
    depend on the lengths, not on the draws, and top-p over 32k tokens is slow on a CPU) and a greedy
    HumanEval-like one (164 distinct prompts, stops at 40-256 tokens), then the realistic one as 1 and 3 tasks."""
    from evalkit.backends import engine_proxies as px

    args.smoke, args.device, args.dtype = True, "cpu", "fp32"
    model = build_model(args)
    shared = Path(os.environ.get("SHARED", "../shared")) / "tokenizers" / "codellama-7b"
    tok_dir = next((str(d) for d in (args.tokenizer, args.from_config, shared) if d and Path(d).is_dir()), None)
    if tok_dir is None:
        print(f"generation.py: no Code Llama tokenizer: pass --tokenizer DIR (or SHARED=... with {shared})",
              file=sys.stderr)
        return 2

    def make() -> HFBackend:
        b = HFBackend(tok_dir, device="cpu", load_weights=False, engine="fast")
        b.attach(model)
        b.eos_ids = set()  # random weights: stop at the drawn length (or a stop string)
        return b

    problems = get_task("humaneval").problems()
    g = torch.Generator().manual_seed(1)
    real_prompts = [p.prompt for p in problems[:8]]
    real_len = torch.randint(40, 257, (8 * 16,), generator=g).tolist()
    greedy_prompts = [p.prompt for p in problems[:164]]
    greedy_len = torch.randint(40, 257, (len(greedy_prompts),), generator=g).tolist()
    sampled = GenerationParams(max_new_tokens=256)  # the schedule of the realistic workload, greedy (see above)
    out: dict = {"model": "tiny Llama (2 layers, hidden 64, 32k vocabulary), CPU", "slots": args.proxy_slots}
    t0 = time.time()
    s = px.run_workload(make, [px.requests(real_prompts, 16, real_len)], sampled, args.proxy_slots)
    out["realistic"] = px.figures(s, "flex")
    s = px.run_workload(make, [px.requests(greedy_prompts, 1, greedy_len)], GenerationParams(max_new_tokens=256),
                        args.proxy_slots)
    out["greedy_humaneval"] = px.figures(s, "flex")
    print(f"proxies: two workloads in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    tasks = [px.requests(real_prompts[:2], 16, real_len[:32], copy=c) for c in range(3)]
    s1 = px.run_workload(make, tasks[:1], sampled, args.proxy_slots)
    s3 = px.run_workload(make, tasks, sampled, args.proxy_slots)
    out["graph captures per run, 1 task"] = s1["graph_captures"]
    out["graph captures per run, 3 tasks"] = s3["graph_captures"]
    out["seconds"] = round(time.time() - t0, 1)
    r, gh = out["realistic"], out["greedy_humaneval"]
    for line in (
        f"attention columns read per real column: {r['attention columns read per real column']} "
        f"(FlexAttention, {16}-column blocks; SDPA fallback: "
        f"{r['attention columns read per real column (SDPA fallback)']})",
        f"host synchronisations per 100 decode steps: {r['host synchronisations per 100 decode steps']} "
        f"({r['host synchronisations per 100 decode steps, device idle']} with the device idle; double-buffered "
        "outputs)",
        f"prefill forward calls per request: {gh['prefill forward calls per request']} (greedy HumanEval-like); "
        f"{r['prefill forward calls per request']} (realistic)",
        f"graph captures per run: {s1['graph_captures']} for 1 task, {s3['graph_captures']} for 3 tasks",
        f"slots allocated per request: {r['slots allocated per request']} (realistic); "
        f"{gh['slots allocated per request']} (greedy HumanEval-like)",
    ):
        print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
