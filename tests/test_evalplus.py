"""HumanEval+ / MBPP+: evalkit's verdicts against the real evalplus, the canonical solutions, the sanitizer.

The fixture under tests/data/evalplus (five HumanEval+ and six MBPP+ problems, Apache-2.0, EvalPlus) lets these
run without ../shared; with the full data (EVALKIT_DATA_DIR) the agreement test covers more problems and the
canonical test runs all 164 + 378 problems.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, evalkit
from evalplus_variants import variants

FIXTURE = REPO / "tests" / "data"
FULL = {"humaneval": "HumanEvalPlus-v0.1.10.jsonl.gz", "mbpp": "MbppPlus-v0.2.0.jsonl.gz"}
STEM = {"humaneval": "HumanEvalPlus", "mbpp": "MbppPlus"}
TASK = {"humaneval": "humaneval-plus", "mbpp": "mbpp-plus"}
# extra problems for the agreement test when the full data is there: float lists, strings, sets, complex inputs,
# tuples, the "not None" and special-oracle tasks
EXTRA = {"humaneval": ["HumanEval/21", "HumanEval/99", "HumanEval/116"],
         "mbpp": ["Mbpp/7", "Mbpp/115", "Mbpp/252", "Mbpp/622"]}


def _rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _full(dataset: str) -> Path | None:
    d = os.environ.get("EVALKIT_DATA_DIR")
    p = Path(d) / "evalplus" / FULL[dataset] if d else None
    return p if p is not None and p.is_file() else None


def _subset(dataset: str) -> list[dict]:
    rows = _rows(next((FIXTURE / "evalplus").glob(f"{STEM[dataset]}-fixture.jsonl.gz")))
    full = _full(dataset)
    if full is not None:
        by_id = {r["task_id"]: r for r in _rows(full)}
        rows += [by_id[t] for t in EXTRA[dataset] if t in by_id]
    return rows


def _env(tmp: Path) -> dict:
    return {"EVALKIT_CACHE_DIR": str(tmp / "cache")}


# ------------------------------------------------------------------------------------------------
# agreement with evalplus itself
# ------------------------------------------------------------------------------------------------
_EVALPLUS = """
import os, sys
from evalplus.evaluate import evaluate
evaluate(sys.argv[1], samples=sys.argv[2], parallel=2, min_time_limit=4.0, gt_time_limit_factor=4.0,
         i_just_wanna_run=True)
sys.stdout.flush()
os._exit(0)  # evalplus leaves a 20 s watchdog thread behind
"""

# Known, explained disagreements: task_id -> (evalplus's verdict there, why).
EXPLAINED = {
    "HumanEval/32": ((False, False), "evalplus 0.3.1 bug: the find_zero oracle `continue`s before details[i] = True, "
                     "so untrusted_check turns every HumanEval/32 sample, the canonical solution included, into a "
                     "fail (evalplus PR #201, comment of 2024-10-25). evalkit applies the oracle as intended: "
                     "|poly(xs, out)| <= atol on every input."),
}
# Variants evalplus gets wrong by design: (evalplus's verdict, why).
EXPLAINED_LABELS = {
    "always-equal": ((True, True), "evalplus compares the sample's own object with `out == exp` in the sample's "
                     "process, so an object whose __eq__ always returns True passes; evalkit compares plain values "
                     "on its side, and such an object is not one (the call fails)."),
}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["humaneval", "mbpp"])
def test_verdicts_agree_with_evalplus(dataset, tmp_path):
    pytest.importorskip("evalplus", reason="evalplus 0.3.1 is not installed: pip install -e '.[crosscheck]'")
    rows = _subset(dataset)
    data = tmp_path / "data" / "evalplus"
    data.mkdir(parents=True)
    subset = data / f"{STEM[dataset]}-subset.jsonl"  # gunzipped, as evalplus keeps its data
    subset.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    samples, labels = [], []
    for i, r in enumerate(rows):
        for label, fields in variants(r, slow_over=(i == 0)):
            samples.append({"task_id": r["task_id"], **fields})
            labels.append((r["task_id"], label))
    spath = tmp_path / "samples.jsonl"
    spath.write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")

    env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(subset), "MBPP_OVERRIDE_PATH": str(subset),
           "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONHASHSEED": "0"}
    t0 = time.perf_counter()
    ep = subprocess.run([sys.executable, "-c", _EVALPLUS, dataset, str(spath)], capture_output=True, text=True,
                        env=env, timeout=600)
    assert ep.returncode == 0, ep.stderr[-2000:]
    theirs = json.loads((tmp_path / "samples_eval_results.json").read_text())
    t_evalplus = time.perf_counter() - t0
    t0 = time.perf_counter()

    out = tmp_path / "evalkit"
    r = evalkit("evaluate", str(spath), "--task", TASK[dataset], "--data-dir", str(tmp_path / "data"),
                "--output-dir", str(out), "--evalplus-json", env=_env(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    ours = json.loads((out / "eval_results.json").read_text())
    t_evalkit = time.perf_counter() - t0
    assert ours["hash"] == theirs["hash"]

    def verdicts(doc: dict) -> dict[tuple[str, int], tuple[bool, bool]]:
        return {(tid, i): (e["base_status"] == "pass", e["base_status"] == e["plus_status"] == "pass")
                for tid, lst in doc["eval"].items() for i, e in enumerate(lst)}

    a, b = verdicts(ours), verdicts(theirs)
    assert set(a) == set(b)
    counters: dict[str, int] = {}
    disagree, explained, expected, mine = [], [], {}, {}
    for tid, label in labels:
        i = counters.get(tid, 0)
        counters[tid] = i + 1
        expected[label] = expected.get(label, set()) | {a[(tid, i)]}
        mine[(tid, label)] = a[(tid, i)]
        if a[(tid, i)] == b[(tid, i)]:
            continue
        line = f"{tid} {label}: evalkit base/plus {a[(tid, i)]}, evalplus {b[(tid, i)]}"
        if (tid in EXPLAINED and b[(tid, i)] == EXPLAINED[tid][0]) or (
                label in EXPLAINED_LABELS and b[(tid, i)] == EXPLAINED_LABELS[label][0]):
            explained.append(line)
        else:
            disagree.append(line)
    scored = [k for k in labels if k[0] not in EXPLAINED and k[1] not in EXPLAINED_LABELS]
    agreement = 1 - len(disagree) / len(scored)
    print(f"{dataset}: {len(labels)} samples, agreement {agreement:.4f} outside {sorted(EXPLAINED)}, "
          f"explained disagreements: {explained}")
    assert agreement >= 0.995 and not disagree, f"unexplained disagreements: {disagree}"
    # the variants really are varied, and evalkit judges the known ones as they are built
    assert expected["canonical-solution"] == expected["canonical-completion"] == {(True, True)}
    assert expected["slow-correct"] == expected["prints"] == expected["uses-numpy"] == {(True, True)}
    assert expected["syntax-error"] == expected["no-entry-point"] == expected["exception-2nd-call"] == {(False, False)}
    assert (True, False) in expected["wrong-on-plus-only"]
    assert expected["always-equal"] == expected["crashes"] == expected["module-error"] == {(False, False)}
    assert expected["mutates-inputs"] == {(True, True)}
    if dataset == "humaneval":  # HumanEval/0's prompt imports List: forgotten, the def raises NameError
        assert mine[("HumanEval/0", "forgets-import")] == (False, False)
    float_task = {"humaneval": "HumanEval/2", "mbpp": "Mbpp/124"}[dataset]  # float outputs, atol 1e-6 / 1e-4
    assert mine[(float_task, "float-inside")] == (True, True)
    assert mine[(float_task, "float-outside")] == (False, False)
    assert mine[(rows[0]["task_id"], "slow-over-limit")] == (False, False)
    print(f"time: evalplus {t_evalplus:.1f}s, evalkit {t_evalkit:.1f}s")


# ------------------------------------------------------------------------------------------------
# canonical solutions, results contract, eval_results.json
# ------------------------------------------------------------------------------------------------
def _run_reference(tmp_path: Path, data_dir: Path | None, env: dict | None = None, limit: int | None = None) -> dict:
    out = tmp_path / "run"
    args = ["run", "--model", "reference", "--tasks", "humaneval-plus,mbpp-plus", "--output-dir", str(out)]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    if limit is not None:
        args += ["--limit", str(limit)]
    r = evalkit(*args, env=env, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads((out / "results.json").read_text())


def test_fixture_reference_passes_base_and_plus(tmp_path):
    res = _run_reference(tmp_path, FIXTURE, _env(tmp_path))
    for name, n in (("humaneval-plus", 5), ("mbpp-plus", 6)):
        t = res["tasks"][name]
        assert t["n_problems"] == n and t["pass@1"] == 1.0 and t["base"]["pass@1"] == 1.0
        assert len(t["base"]["problems"]) == n and "pass@1_ci" in t["base"]
        assert t["dataset_md5"] and t["protocol"]["dataset_sha256"] and t["evalplus_semantics"]["min_time_limit_s"] == 4.0
        assert "base pass@k" in json.dumps(t["metrics"])  # declared (the block or the declaration list)
    rows = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert all(r["passed"] and r["scores"] == {"pass": 1.0, "base": 1.0} for r in rows)
    # the oracle cache (expected outputs) is read by evalkit's driver, never shown to samples
    folders = list((tmp_path / "cache" / "evalplus").iterdir())
    assert len(folders) == 2
    assert not any(str(f) in json.dumps(res["sandbox"]) for f in folders)


@pytest.mark.slow
def test_full_canonical_solutions_pass_base_and_plus(tmp_path):
    if _full("humaneval") is None or _full("mbpp") is None:
        pytest.skip("full EvalPlus data not available (set EVALKIT_DATA_DIR)")
    # the machine's own oracle cache (EVALKIT_CACHE_DIR or ~/.cache/evalkit): the expected outputs of the full
    # data take minutes on 2 cores the first time (measured: 36 s + 146-220 s on a loaded 2-core machine), then 0.
    # Every problem (~10 min on 2 cores) with EVALKIT_FULL_CHECKS=1; else the first 60 of each task (the CI run)
    full = os.environ.get("EVALKIT_FULL_CHECKS") == "1"
    res = _run_reference(tmp_path, None, limit=None if full else 60)
    he, mb = res["tasks"]["humaneval-plus"], res["tasks"]["mbpp-plus"]
    assert (he["n_problems"], mb["n_problems"]) == ((164, 378) if full else (60, 60))
    bad = [tid for t in (he, mb) for tid, (n, c) in t["problems"].items() if c != n]
    bad += [tid for t in (he, mb) for tid, (n, c) in t["base"]["problems"].items() if c != n]
    # Known, not yet solved: Mbpp/255's largest plus outputs (millions of tuples) take longer to carry across the
    # sandbox's channel than its time limit allows; evalplus compares them in-process. (HumanEval/83 and /139, whose
    # outputs are ints of over 4,300 digits, pass: such ints travel in hex.)
    known = {"Mbpp/255"}
    assert not [tid for tid in bad if tid not in known], bad
    assert he["dataset_md5"] == "fe585eb4df8c88d844eeb463ea4d0302"
    assert mb["dataset_md5"] == "ee43ecabebf20deef4bb776a405ac5b1"


def test_plus_only_failure_and_eval_results(tmp_path):
    """One sample right on base but wrong on a plus input: plus 0, base 1, the input in detail. Base and plus
    inputs are called in one process (one exec of the solution), so the variant's call counter goes on: its
    first plus input fails (evalplus execs the solution afresh per check: its input #nb fails; same verdict)."""
    row = next(r for r in _rows(FIXTURE / "evalplus" / "HumanEvalPlus-fixture.jsonl.gz")
               if r["task_id"] == "HumanEval/13")
    wrong = dict(variants(row))["wrong-on-plus-only"]
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/13", **wrong}) + "\n"
                       + json.dumps({"task_id": "HumanEval/13", "completion": "    return a\n"}) + "\n")
    out = tmp_path / "out"
    r = evalkit("evaluate", str(samples), "--task", "humaneval-plus", "--data-dir", str(FIXTURE), "--output-dir",
                str(out), "--evalplus-json", env=_env(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert (rows[0]["passed"], rows[0]["scores"]) == (False, {"pass": 0.0, "base": 1.0})
    assert rows[0]["detail"].startswith("AssertionError: base: pass; plus: fail: input #0/")
    assert (rows[1]["passed"], rows[1]["scores"]) == (False, {"pass": 0.0, "base": 0.0})
    assert "base: fail: input #0/" in rows[1]["detail"]
    res = json.loads((out / "results.json").read_text())["tasks"]["humaneval-plus"]
    assert res["problems"] == {"HumanEval/13": [2, 0]} and res["base"]["problems"] == {"HumanEval/13": [2, 1]}
    ev = json.loads((out / "eval_results.json").read_text())["eval"]["HumanEval/13"]
    assert [(e["base_status"], e["plus_status"]) for e in ev] == [("pass", "fail"), ("fail", None)]
    assert ev[0]["plus_fail_tests"] == [row["plus_input"][0]] and ev[1]["base_fail_tests"] == [row["base_input"][0]]


def test_evalplus_json_needs_an_evalplus_task(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n"}) + "\n")
    r = evalkit("evaluate", str(samples), "--task", "humaneval", "--evalplus-json", "--output-dir",
                str(tmp_path / "o"))
    assert r.returncode == 2 and "EvalPlus task" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------------
# pure parts against evalplus's own helpers
# ------------------------------------------------------------------------------------------------
SANITIZE_CASES = [
    ("Here is the code:\n```python\nimport math\nfrom __future__ import annotations\ndef helper(x):\n"
     "    return x*2\n\ndef f(a):\n    # comment\n    return helper(a) + K\n\nK = 3\nUNUSED = 4\n\nprint(f(2))\n"
     "assert f(1) == 5\nif __name__ == '__main__':\n    main()\n```\nThat's it.", "f"),
    ("def f(x):\n    return x\n", "f"),
    ("def f(x):\n    print(x)\n", "f"),
    ("@cache\ndef f(x):\n    return x\n", "f"),
    ("class A:\n    pass\ndef f(x):\n    return A()\nclass B: pass\n", "f"),
    ("x, y = 1, 2\nz = 3\ndef f(q):\n    return z + q\n", "f"),
    ("def f(a):\n    return a\ndef f(a):\n    return 2*a\n", "f"),
    ("Some prose\nmore prose\n\n    def g():\n  bad indent\n", "f"),
    ("just one line", "f"),
    ("import os, sys\nimport numpy as np\ndef f(x):\n    return np.sum(x)\nasync def g():\n    return 1\n", "f"),
    ("def f(x):\n    def inner():\n        return 1\n    inner()\n", "f"),
    ("def f(x: Foo) -> Bar:\n    return x\nFoo = int\nBar = int\nBaz: int = 5\n", "f"),
    ("def f(x):\n    return g(x)\ndef g(x):\n    return h(x)\ndef h(x):\n    return x\ndef unrelated():\n"
     "    return 0\n", "f"),
    ("```python\ndef f(x):\n    return x\n```\n```python\nassert f(1) == 1\nassert f(2) == 2\nassert f(3) == 3\n```",
     "f"),
    ("Sure!\n\n```python\nfrom typing import List\n\n\ndef has_close(numbers: List[float], t: float) -> bool:\n"
     "    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n            if abs(a - b) < t:\n"
     "                return True\n    return False\n\n\n# tests\nprint(has_close([1.0, 2.0], 0.5))\n```\n"
     "This works because...", "has_close"),
]


@pytest.mark.parametrize("code,entry", SANITIZE_CASES)
def test_sanitize_matches_evalplus(code, entry):
    sanitize_mod = pytest.importorskip("evalplus.sanitize", reason="evalplus 0.3.1 is not installed: pip install -e '.[crosscheck]'")
    from evalkit.plus.sanitize import sanitize

    assert sanitize(code, entry) == sanitize_mod.sanitize(code, entry)


def test_mbpp_deserialisation_matches_evalplus():
    evalplus_mbpp = pytest.importorskip("evalplus.data.mbpp", reason="evalplus 0.3.1 is not installed: pip install -e '.[crosscheck]'")
    from evalkit.plus.data import mbpp_deserialize_inputs, mbpp_serialize_inputs

    full = _full("mbpp")
    rows = _rows(full) if full else _subset("mbpp")
    for r in rows:
        for k in ("base_input", "plus_input"):
            ours = mbpp_deserialize_inputs(r["task_id"], r[k])
            assert ours == evalplus_mbpp.mbpp_deserialize_inputs(r["task_id"], r[k])
            assert mbpp_serialize_inputs(r["task_id"], ours) == evalplus_mbpp.mbpp_serialize_inputs(r["task_id"], ours)


def test_statuses_parse():
    from evalkit.plus.verdicts import base_passed, statuses

    assert statuses("passed", "") == ("pass", "pass", None)
    assert statuses("failed", "AssertionError: base: pass; plus: fail: input #7/99 f(1): why") == ("pass", "fail", 7)
    assert statuses("failed", "AssertionError: base: timeout: input #2/5 f(1): x") == ("timeout", None, 2)
    assert statuses("failed", "AssertionError: base: fail: the solution does not load: x") == ("fail", None, None)
    assert statuses("timeout", "CPU time limit") == ("timeout", None, None)
    assert base_passed({"scores": {"pass": 0.0, "base": 1.0}, "outcome": "failed", "detail": ""})
    assert not base_passed({"outcome": "error", "detail": "AssertionError: base: pass; plus"})


def test_paper_tables_hold_evalplus_leaderboard():
    from evalkit.results import load_run

    r = load_run("paper:evalplus-codellama-34b")
    assert r.value("humaneval-plus", "pass@1") == pytest.approx(0.439)
    assert r.tasks["humaneval-plus"]["base"]["pass@1"] == pytest.approx(0.518)
    assert r.value("mbpp-plus", "pass@1") == pytest.approx(0.563)
    assert load_run("paper:codellama-7b").value("humaneval", "pass@1") is not None  # the paper's table still loads


def test_prompts_and_postprocessing_follow_evalplus_codegen():
    from evalkit.registry import get_task

    task = get_task("humaneval-plus", data_dir=str(FIXTURE))
    p = task.problems()[0]
    raw = p.meta["raw_prompt"]
    assert task.prompt(p) == raw.strip() + "\n" and "\ndef " in task.stop_sequences
    # a base model's continuation: cut at evalplus's stops, prompt + completion sanitized into a solution
    out = task.postprocess(p, "    return True\n\nprint(has_close_elements([1.0], 0.5))\ndef other():\n    pass\n")
    assert out["completion"] == "    return True\n"
    assert out["solution"].startswith("from typing import List\ndef has_close_elements(")
    assert "print(" not in out["solution"] and out["solution"].endswith("    return True")
    # an instruct model: evalplus's instruction / response prefix, the answer's code block sanitized
    user, prefix = task.chat_prompt(p)
    assert user.startswith("Please provide a self-contained Python script") and raw.strip() in user
    assert prefix.endswith("```python\n")
    ans = task.postprocess_chat(p, prefix + "def has_close_elements(n, t):\n    return False\n\nassert True\n")
    assert ans == {"solution": "def has_close_elements(n, t):\n    return False"}
    mbpp = get_task("mbpp-plus", data_dir=str(FIXTURE))
    assert mbpp.canonical_task_id("2") == mbpp.canonical_task_id("MBPP/2") == "Mbpp/2"
    assert '\n"""' in mbpp.stop_sequences
