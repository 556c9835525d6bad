"""HumanEval+ scoring: evalplus 0.3.1 vs evalkit on the same samples, same machine, one run.

    python bench/evalplus.py [--workers 2] [--copies 3] [--limit N] [--data-dir DIR]

Samples: every problem's canonical solution ``--copies`` times plus one copy that is wrong on plus inputs only.
Both tools read the same gunzipped data file and both have their expected outputs cached before the clock starts
(evalplus's ground-truth pickle, evalkit's oracle cache). Timed: ``evalplus.evaluate`` (min_time_limit 4 s, as
evalkit) and ``evalkit evaluate --evalplus-json`` (every isolation layer the machine allows), each a fresh process
with the same number of workers. Prints both wall times, the ratio (target: evalkit >= 2x) and whether every
per-sample base/plus verdict agrees (HumanEval/32 aside: evalplus 0.3.1 fails every sample of it, see the README).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from evalplus_variants import variants  # noqa: E402

_WARM = """
import sys
from evalplus.data import get_human_eval_plus, get_human_eval_plus_hash
from evalplus.evaluate import get_groundtruth
get_groundtruth(get_human_eval_plus(), get_human_eval_plus_hash(), [])
"""
_EVAL = """
import os, sys
from evalplus.evaluate import evaluate
evaluate("humaneval", samples=sys.argv[1], parallel=int(sys.argv[2]), min_time_limit=4.0, gt_time_limit_factor=4.0,
         i_just_wanna_run=True)
sys.stdout.flush()
os._exit(0)  # evalplus leaves a 20 s watchdog thread behind
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--limit", type=int, help="only the first N problems")
    ap.add_argument("--data-dir", default=os.environ.get("EVALKIT_DATA_DIR"))
    args = ap.parse_args()
    if not args.data_dir:
        print("bench/evalplus.py: needs --data-dir (or EVALKIT_DATA_DIR) with evalplus/HumanEvalPlus-v0.1.10.jsonl.gz",
              file=sys.stderr)
        return 2
    src = Path(args.data_dir) / "evalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
    with gzip.open(src, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()][: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "data" / "evalplus").mkdir(parents=True)
        data = t / "data" / "evalplus" / "HumanEvalPlus-bench.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        samples = []
        for r in rows:
            v = dict(variants(r))
            samples += [{"task_id": r["task_id"], **v["canonical-solution"]}] * args.copies
            samples.append({"task_id": r["task_id"], **v["wrong-on-plus-only"]})
        spath = t / "samples.jsonl"
        spath.write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")
        env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(data), "XDG_CACHE_HOME": str(t / "xdg"),
               "EVALKIT_CACHE_DIR": str(t / "ek"), "PYTHONHASHSEED": "0"}

        print(f"{len(samples)} samples on {len(rows)} problems, {args.workers} workers; warming both caches ...",
              file=sys.stderr)
        subprocess.run([sys.executable, "-c", _WARM], env=env, check=True, capture_output=True)
        warm = ("from evalkit.registry import get_task; "
                f"t = get_task('humaneval-plus', data_dir={str(t / 'data')!r}); [t.driver_data(p) for p in t.problems()]")
        subprocess.run([sys.executable, "-c", warm], env=env, check=True, capture_output=True)

        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _EVAL, str(spath), str(args.workers)], env=env, check=True,
                       capture_output=True)
        t_ep = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "evalkit", "evaluate", str(spath), "--task", "humaneval-plus",
                            "--data-dir", str(t / "data"), "--output-dir", str(t / "out"), "--evalplus-json",
                            "--workers", str(args.workers)], env=env, capture_output=True, text=True)
        t_ek = time.perf_counter() - t0
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        layers = json.loads((t / "out" / "results.json").read_text())["sandbox"]["layers"]

        def verdicts(doc: dict) -> dict:
            return {(tid, i): (e["base_status"] == "pass", e["base_status"] == e["plus_status"] == "pass")
                    for tid, lst in doc["eval"].items() for i, e in enumerate(lst)}

        ours = verdicts(json.loads((t / "out" / "eval_results.json").read_text()))
        theirs = verdicts(json.loads((t / "samples_eval_results.json").read_text()))
        judged = [k for k in ours if k[0] != "HumanEval/32"]
        diff = sorted(k for k in judged if ours[k] != theirs.get(k))
    print(f"evalplus 0.3.1: {t_ep:7.1f} s  ({len(samples) / t_ep:6.1f} samples/s)")
    print(f"evalkit:        {t_ek:7.1f} s  ({len(samples) / t_ek:6.1f} samples/s)  isolation: mode={layers.get('mode')} "
          f"net={layers.get('network_namespace')} ro_root={layers.get('readonly_root')} "
          f"uid={layers.get('unprivileged_uid')}")
    print(f"speed-up: {t_ep / t_ek:.2f}x (target >= 2x)")
    print(f"verdicts: {len(judged) - len(diff)}/{len(judged)} agree" + (f"; differ: {diff[:10]}" if diff else "")
          + f" ({len(ours) - len(judged)} samples of HumanEval/32 not compared: evalplus 0.3.1 fails all of them)")
    return 0 if not diff else 1


if __name__ == "__main__":
    sys.exit(main())
