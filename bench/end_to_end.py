"""End to end on a small random Llama (tests/tiny.py's tokenizer): overlap vs generate-then-execute, and the fast engine's agreement.

    python bench/end_to_end.py                       # CPU
    python bench/end_to_end.py --device cuda --json out.json

1. Wall time of one run (HumanEval, --limit problems x --samples, sampled) done two ways with the same backend:
   ``runner.generate`` then ``runner.execute`` (generate-then-execute) and ``pipeline.generate_and_execute`` (the
   sandbox judges while the model generates), each into a fresh run store; the verdicts must be the same. Prints both times and the ratio.
2. Greedy: fast engine == eager engine, text for text. Sampled: how many completions of the fast engine differ
   between batch sizes 1, 16 and auto.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from evalkit import pipeline, runner  # noqa: E402
from evalkit.backends.base import GenerationParams  # noqa: E402
from evalkit.backends.hf import HFBackend  # noqa: E402
from evalkit.registry import get_task  # noqa: E402
from evalkit.sandbox import SandboxConfig  # noqa: E402
from evalkit.store import RunStore  # noqa: E402


def texts(backend: HFBackend, cfg: runner.RunConfig, task) -> dict:  # noqa: ANN001
    got: dict = {}
    reqs = runner.build_requests(task, cfg, set())
    backend.generate(reqs, cfg.params, lambda r, g: got.__setitem__(r.key, g.text))
    return got


def main() -> int:
    import tiny
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--smoke", action="store_true", help="a smaller workload")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-new", type=int, default=128)
    ap.add_argument("--workers", type=int, help="sandbox workers (default: 1 on CPU, all cores on CUDA)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads on CPU (default 1: the model gets one "
                    "core, the sandbox the others, as a GPU and the CPU share the work)")
    ap.add_argument("--repeats", type=int, default=2, help="each way this many times, alternating; the best counts")
    ap.add_argument("--hidden", type=int, default=256, help="the random Llama's width (4 layers; default 256)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.smoke:
        args.limit, args.samples, args.max_new, args.repeats, args.hidden = 4, 2, 24, 1, 32
    if not args.device.startswith("cuda"):
        torch.set_num_threads(args.threads)
        args.workers = args.workers or 1
    res: dict = {"device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"}

    def log(**kw: object) -> None:
        res.update(kw)
        print(json.dumps(kw), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1))

    task = get_task("humaneval")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "llama"  # tests/tiny.py's tokenizer, a random Llama of --hidden width
        tok = tiny.train_tokenizer("metaspace")
        import transformers

        mcfg = transformers.LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                        hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_hidden_layers=4,
                                        num_attention_heads=8, num_key_value_heads=8)
        torch.manual_seed(0)
        transformers.AutoModelForCausalLM.from_config(mcfg).save_pretrained(model_dir)
        tok.save_pretrained(model_dir)
        backend = HFBackend(str(model_dir), device=args.device, batch_size="auto", engine="fast")
        log(engine=backend.engine_name())
        cfg = runner.RunConfig(limit=args.limit, n_samples=args.samples, workers=args.workers,
                               params=GenerationParams(max_new_tokens=args.max_new, temperature=0.8, top_p=0.95),
                               sandbox=SandboxConfig())
        texts(backend, runner.RunConfig(limit=1, params=GenerationParams(max_new_tokens=4)), task)  # warm-up

        # 1. overlap vs generate-then-execute
        times: dict = {}
        verdicts = {}
        for rep, way in [(r, w) for r in range(args.repeats) for w in ("generate_then_execute", "overlap")]:
            store = RunStore(Path(tmp) / f"{way}{rep}", runner.manifest_for(backend.info(), [task], cfg), resume=False)
            t = time.perf_counter()
            if way == "overlap":
                if pipeline.generate_and_execute(backend, [task], cfg, store) is None:
                    runner.execute([task], cfg, store)
            else:
                runner.generate(backend, [task], cfg, store)
                split = time.perf_counter() - t
                runner.execute([task], cfg, store)
                times["generation_part"] = min(times.get("generation_part", float("inf")), split)
            times[way] = min(times.get(way, float("inf")), time.perf_counter() - t)
            verdicts[way] = sorted((r["task_id"], r["sample_idx"], r["outcome"]) for r in store.executions.records())
            store.close()
        log(generate_then_execute_s=round(times["generate_then_execute"], 2), overlap_s=round(times["overlap"], 2),
            of_which_generation_s=round(times["generation_part"], 2),
            overlap_speedup=round(times["generate_then_execute"] / times["overlap"], 2),
            samples=args.limit * args.samples, workers=args.workers, repeats=args.repeats, same_verdicts=verdicts["overlap"] == verdicts["generate_then_execute"])

        # 2. agreement: greedy fast == eager; sampled across batch sizes on the fast engine
        greedy = runner.RunConfig(limit=args.limit, n_samples=1, params=GenerationParams(max_new_tokens=args.max_new))
        eager = HFBackend(str(model_dir), device=args.device, batch_size=8, engine="eager")
        a, b = texts(backend, greedy, task), texts(eager, greedy, task)
        log(greedy_fast_equals_eager=a == b, greedy_compared=len(a))
        runs = {}
        for bs in ("1", "16", "auto"):
            backend.batch_size = bs
            runs[bs] = texts(backend, cfg, task)
        log(sampled_compared=len(runs["1"]),
            sampled_differ_bs1_vs_bs16=sum(runs["1"][k] != runs["16"][k] for k in runs["1"]),
            sampled_differ_bs1_vs_auto=sum(runs["1"][k] != runs["auto"][k] for k in runs["1"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
