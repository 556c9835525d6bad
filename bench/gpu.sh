#!/usr/bin/env bash
# The one-command GPU check, run from a bare copy of the checkout plus .gpu/ (filled by bench/prepare-gpu.sh):
# no pip install, no network. Writes its figures as JSON under $OUT:
#   environment.json   versions, device, and where evalkit and evalkit.tasks were imported from
#   generation.json    bench/generation.py: the realistic workload, all methods in one run (useful tok/s, ratios)
#   end_to_end.json    bench/end_to_end.py: fast vs eager engine agreement, batch invariance, overlap timing
#   long_context.json  bench/long_context.py: peak memory and prefill tok/s of 16k and 64k prompts, 7B shape
# SMOKE=1 bash bench/gpu.sh does the same on CPU with a tiny model (the test suite runs it that way).
# PYTHON=... picks the interpreter (default python3); BUDGET_S caps the generation bench (default 240 s).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
[ -d .gpu/site ] || { echo "bench/gpu.sh: .gpu/ is missing: run bash bench/prepare-gpu.sh first" >&2; exit 2; }
export PYTHONPATH="$PWD:$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -n "${SMOKE:-}" ]; then
  DEV=cpu; GEN=(--smoke --device cpu --tokenizer .gpu/codellama-7b)
else
  DEV=cuda; GEN=(--from-config .gpu/codellama-7b --device cuda --dtype bf16)
fi
$PY - "$OUT/environment.json" <<'PY'
import json, sys, platform
import torch, transformers
import evalkit, evalkit.tasks
env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
       "cuda": torch.cuda.is_available(), "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
       "evalkit": evalkit.__file__, "evalkit.tasks": evalkit.tasks.__file__}
json.dump(env, open(sys.argv[1], "w"), indent=1)
print(json.dumps(env))
PY
start=$(date +%s)
$PY bench/generation.py "${GEN[@]}" --budget "${BUDGET_S:-240}" --json "$OUT/generation.json" 2>&1 \
  | tee "$OUT/generation.log"
$PY bench/end_to_end.py --device "$DEV" ${SMOKE:+--smoke} --json "$OUT/end_to_end.json" 2>&1 | tee "$OUT/end_to_end.log"
if [ -n "${SMOKE:-}" ]; then
  LONG=(--device cpu --threads 1 --lengths 1024,2048)
else
  LONG=(--device cuda --shape 7b --dtype bf16 --lengths 16384,65536)  # the 7B shape: KV 8 and 32 GiB
fi
$PY bench/long_context.py --tokenizer .gpu/codellama-7b "${LONG[@]}" --json "$OUT/long_context.json" 2>&1 \
  | tee "$OUT/long_context.log"
echo "bench/gpu.sh: done in $(( $(date +%s) - start )) s; figures in $OUT"
