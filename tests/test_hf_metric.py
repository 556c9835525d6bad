"""Issue 14: evalkit as a Hugging Face `evaluate` metric, loaded from the path `evalkit metric-path` prints and
scored in evalkit's sandbox with no network (the real `evaluate` package)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OFFLINE, evalkit

SCRIPT = r"""
import json, sys, evaluate
ESCAPE = repr(sys.argv[2])
m = evaluate.load(sys.argv[1])
preds = [["def f():\n    return 1\n", "def f():\n    return 2\n", "def f():\n    return 1\n"],
         ["import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\ndef g():\n    return 1\n",
          "def g():\n    return 1\n", "open(" + ESCAPE + ", 'w').write('x')\ndef g():\n    return 1\n"],
         ["def h(x):\n    return h(x)\n", "def h(x):\n    return x\n", "def h(x):\n    return -x\n"]]
refs = ["assert f() == 1", "assert g() == 1", "assert h(2) == 2"]
scores, results = m.compute(predictions=preds, references=refs, k=[1, 2], timeout=1.0)
print(json.dumps({"scores": scores, "results": {str(i): r for i, r in results.items()}}))
"""


def test_evaluate_load_scores_in_the_sandbox_offline(tmp_path):
    pytest.importorskip("evaluate")
    r = evalkit("metric-path")
    assert r.returncode == 0
    path = r.stdout.strip()
    assert Path(path).is_file() and path.endswith(".py")
    env = {**os.environ, **OFFLINE, "HF_HOME": str(tmp_path / "hf"), "HF_EVALUATE_OFFLINE": ""}
    p = subprocess.run([sys.executable, "-c", SCRIPT, path, str(tmp_path / "escape")], capture_output=True,
                       text=True, env=env, timeout=600, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    outcomes = {i: [v["outcome"] for _, v in r] for i, r in out["results"].items()}
    assert outcomes == {"0": ["passed", "failed", "passed"], "1": ["error", "passed", "error"],
                        "2": ["error", "passed", "failed"]}, outcomes
    # pass@1 = mean over problems of c/n = (2/3 + 1/3 + 1/3) / 3
    assert out["scores"]["pass@1"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 3) / 3)
    assert "pass@2" in out["scores"] and len(out["scores"]["pass@1_ci"]) == 2
    assert not (tmp_path / "escape").exists()  # the file system is read-only to samples
