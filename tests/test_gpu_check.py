"""The prepared GPU check runs from a bare copy of the checkout where evalkit is not installed (SMOKE=1: on CPU)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TOKENIZERS

pytestmark = pytest.mark.slow


def _site_dirs() -> list[str]:
    """Where this interpreter finds the model stack (not evalkit): passed explicitly to a ``python -S``."""
    import numpy
    import tokenizers
    import torch
    import tqdm
    import transformers

    return sorted({str(Path(m.__file__).resolve().parent.parent) for m in (torch, transformers, tokenizers, numpy, tqdm)})


def test_smoke_gpu_check_from_a_bare_checkout(tmp_path):
    if not (TOKENIZERS / "codellama-7b" / "config.json").is_file():
        pytest.skip("the Code Llama tokenizer is not available (../shared/tokenizers/codellama-7b)")
    if shutil.which("git") is None or shutil.which("bash") is None:
        pytest.skip("needs git and bash")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    copy = tmp_path / "checkout"
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (copy / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / f)
    assert not (copy / ".gpu").exists() and (copy / "bench" / "gpu.sh").is_file()
    # an interpreter that cannot see an installed evalkit: no site processing (no .pth, no editable finder),
    # only the directories of torch & co on its path
    py = tmp_path / "python"
    py.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    py.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "EVALKIT_"))}
    env |= {"PYTHON": str(py), "PYTHONPATH": os.pathsep.join(_site_dirs()), "OUT": str(tmp_path / "out"),
            "SHARED": str(TOKENIZERS.parent), "OFFLINE": "1", "SMOKE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(["bash", "bench/prepare-gpu.sh"], cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (copy / ".gpu" / "codellama-7b" / "tokenizer.json").is_file()
    size = sum(p.stat().st_size for p in (copy / ".gpu").rglob("*") if p.is_file())
    assert size < 64 << 20
    r = subprocess.run(["bash", "bench/gpu.sh"], cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    out = tmp_path / "out"
    environment = json.loads((out / "environment.json").read_text())
    assert environment["evalkit"] == str(copy / "evalkit" / "__init__.py")
    assert environment["evalkit.tasks"] == str(copy / "tasks" / "__init__.py")
    gen = json.loads((out / "generation.json").read_text())
    for method in ("fast", "padded", "static_call2", "eager_bs64", "bigcode", "fast_x4"):
        assert gen.get(f"{method}_useful_tok_s", 0) > 0, (method, gen)
    assert gen["fast_engine"]["slots"] >= 1 and "fast_vs_padded" in gen["ratios"]
    e2e = json.loads((out / "end_to_end.json").read_text())
    assert e2e["engine"] == "fast" and e2e["same_verdicts"] and e2e["greedy_fast_equals_eager"]
    long = json.loads((out / "long_context.json").read_text())
    assert [r["prompt_tokens"] for r in long["rows"]] == [1024, 2048] and all(r["within_1_5x"] for r in long["rows"])
