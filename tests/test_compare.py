"""Issue 7: compare, the CI gate and the report, on runs with known per-problem outcomes (made by the real
pipeline: evalkit evaluate on completions we control)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess

import pytest
from conftest import evalkit

from evalkit.compare import mcnemar_exact, paired_bootstrap, paired_test
from evalkit.registry import get_task

N = 40


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs over the first 40 HumanEval problems; `wrong` lists the problems each one gets wrong."""
    problems = get_task("humaneval").problems()[:N]
    plan = {
        "A": {30, 31},
        "B": set(range(8)),  # vs A: 8 passed only in A, 2 passed only in B
        "C": {8, 30, 31},  # vs A: one more failure
        "D": set(range(12)),  # vs A: 12 vs 2
        "short": {30, 31},
        "zero": set(range(N)),
    }
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, wrong in plan.items():
        f = root / f"{name}.jsonl"
        subset = problems[:20] if name == "short" else problems
        f.write_text("".join(json.dumps({"task_id": p.task_id, "completion": "    pass\n" if i in wrong else p.reference})
                             + "\n" for i, p in enumerate(subset)))
        r = evalkit("evaluate", "--task", "humaneval", str(f), "--output-dir", str(root / name))
        assert r.returncode == 0, r.stderr
        out[name] = root / name
    r = evalkit("run", "--tasks", "mbpp", "--limit", "5", "--output-dir", str(root / "mbpp"))
    assert r.returncode == 0, r.stderr
    out["mbpp"] = root / "mbpp"
    r = evalkit("run", "--tasks", "humaneval-infill-random-light", "--limit", "5", "--output-dir", str(root / "infill"))
    assert r.returncode == 0, r.stderr
    out["infill"] = root / "infill"
    return out


def test_mcnemar_hand_computed():
    # b=8, c=2: p = 2 * (C(10,0) + C(10,1) + C(10,2)) / 2**10 = 2 * 56 / 1024
    assert mcnemar_exact(8, 2) == pytest.approx(0.109375)
    assert mcnemar_exact(12, 2) == pytest.approx(2 * (1 + 14 + 91) / 2**14)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0


def test_paired_bootstrap_for_several_samples():
    a = {f"p{i}": (5, 3) for i in range(50)}
    assert paired_test(a, a).p_value == 1.0 and paired_test(a, a).method == "paired-bootstrap"
    b = {f"p{i}": (5, 1) for i in range(50)}
    assert paired_test(a, b).p_value < 0.001
    import numpy as np

    noisy = np.array([0.2, -0.2] * 25)
    assert paired_bootstrap(noisy) > 0.5


def test_compare_table_values_and_p_value(runs):
    r = evalkit("compare", str(runs["A"]), str(runs["B"]), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    row = next(x for x in doc["rows"] if x["task"] == "humaneval" and x["metric"] == "pass@1")
    a, b = row["cells"]
    assert a["value"] == pytest.approx(38 / 40) and b["value"] == pytest.approx(32 / 40)
    assert b["delta"] == pytest.approx(-6 / 40)
    assert b["p_value"] == pytest.approx(0.109375) and b["test"] == "mcnemar-exact" and b["n_shared"] == 40
    lo, hi = a["ci"]
    assert lo < 38 / 40 <= hi
    table = evalkit("compare", str(runs["A"]), str(runs["B"])).stdout
    assert "95.0 [" in table and "80.0 [" in table and "(-15.0, p=0.109)" in table


def test_compare_formats_and_per_problem(runs):
    md = evalkit("compare", str(runs["A"]), str(runs["B"]), "--format", "md").stdout
    assert md.splitlines()[0].startswith("| task | metric |") and md.splitlines()[1].startswith("|---|")
    rows = list(csv.DictReader(io.StringIO(evalkit("compare", str(runs["A"]), str(runs["B"]), "--format", "csv").stdout)))
    assert {r["run"] for r in rows} == {str(runs["A"]), str(runs["B"])}
    flips = evalkit("compare", str(runs["A"]), str(runs["B"]), "--per-problem").stdout
    assert f"2 better in {runs['B']}, 8 better in {runs['A']}" in flips
    assert "  + HumanEval/30" in flips and "  - HumanEval/7" in flips


def test_compare_against_the_paper_leaves_empty_cells(runs):
    r = evalkit("compare", "paper:codellama-7b", str(runs["A"]), str(runs["mbpp"]), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    he = next(x for x in doc["rows"] if x["task"] == "humaneval" and x["metric"] == "pass@1")
    assert he["cells"][0]["value"] == 0.335 and he["cells"][2]["value"] is None
    mb = next(x for x in doc["rows"] if x["task"] == "mbpp" and x["metric"] == "pass@10")
    assert mb["cells"][0]["value"] == 0.667 and mb["cells"][1]["value"] is None
    r = evalkit("compare", "paper:codellama-7b", str(runs["A"]))
    assert r.returncode == 0 and "33.5" in r.stdout
    r = evalkit("compare", "paper:codellama-7b", str(runs["infill"]), "--format", "json")
    assert r.returncode == 0, r.stderr
    row = next(x for x in json.loads(r.stdout)["rows"] if x["task"] == "humaneval-infill-random-light")
    assert row["cells"][0]["value"] is None and row["cells"][1]["value"] == 1.0  # the paper has no light column
    # the paper's tasks that no run has get no row
    assert {x["task"] for x in json.loads(r.stdout)["rows"]} == {"humaneval-infill-random-light"}


def test_paper_table_has_cited_blocks():
    from evalkit.results import reference_tables

    refs = reference_tables()
    assert {"codellama-7b", "codellama-34b-python", "codellama-70b-instruct", "llama2-70b"} <= set(refs)
    r = refs["codellama-7b"]["tasks"]
    assert (r["humaneval"]["pass@1"], r["humaneval"]["pass@10"], r["humaneval"]["pass@100"]) == (0.335, 0.596, 0.859)
    assert (r["mbpp"]["pass@1"], r["mbpp"]["pass@10"], r["mbpp"]["pass@100"]) == (0.414, 0.667, 0.825)
    # Table 14 (infilling, pass@1): PSM in the model's run, SPM in its -spm twin
    assert r["humaneval-infill-single"]["pass@1"] == 0.741 and r["humaneval-infill-random"]["pass@1"] == 0.597
    spm = refs["codellama-13b-spm"]["tasks"]
    assert (spm["humaneval-infill-single"]["pass@1"], spm["humaneval-infill-multi"]["pass@1"],
            spm["humaneval-infill-random"]["pass@1"]) == (0.856, 0.561, 0.419)
    for run in refs.values():
        if not run["_source"].startswith("arXiv:2308.12950"):  # other tables (e.g. the EvalPlus leaderboard)
            continue
        for block in run["tasks"].values():
            assert block["source"]["table"].startswith("Table ") and isinstance(block["source"]["page"], int)


@pytest.mark.parametrize("run,max_drop,code,word", [
    ("A", "0.02", 0, "PASSED"),  # no drop
    ("C", "0.02", 0, "PASSED"),  # 2.5-point drop, above the allowance but not significant (p = 1)
    ("B", "0.02", 0, "PASSED"),  # 15 points, p = 0.109: not significant at 0.05
    ("D", "0.02", 1, "FAILED"),  # 25 points, p = 0.013
    ("D", "0.30", 0, "PASSED"),  # significant, but within the allowance
])
def test_check_exit_codes(runs, run, max_drop, code, word):
    r = evalkit("check", str(runs[run]), "--baseline", str(runs["A"]), "--max-drop", max_drop)
    assert r.returncode == code, r.stdout + r.stderr
    assert r.stdout.rstrip().splitlines()[-1].startswith(word)


def test_check_rejects_runs_that_cannot_be_compared(runs, tmp_path):
    r = evalkit("check", str(runs["short"]), "--baseline", str(runs["A"]))
    assert r.returncode == 2 and "different problems" in r.stderr
    r = evalkit("check", str(runs["mbpp"]), "--baseline", str(runs["A"]))
    assert r.returncode == 2 and "no results for task 'humaneval'" in r.stderr
    r = evalkit("check", str(tmp_path / "nothing"), "--baseline", str(runs["A"]))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (tmp_path / "bad.json").write_text("{not json")
    r = evalkit("compare", str(tmp_path / "bad.json"))
    assert r.returncode == 2 and "malformed JSON" in r.stderr
    r = evalkit("compare", "paper:nosuchmodel")
    assert r.returncode == 2 and "unknown reference" in r.stderr


def test_check_against_the_paper_uses_the_run_ci(runs):
    # the paper has humaneval and mbpp; a run is judged on the tasks it has. These runs scored 40 of the 164
    # problems: check refuses to gate across that, unless --allow-mismatch
    r = evalkit("check", str(runs["A"]), "--baseline", "paper:codellama-7b")
    assert r.returncode == 2 and "40 problems vs 164" in r.stderr and len(r.stderr.splitlines()) == 1
    r = evalkit("check", str(runs["A"]), "--baseline", "paper:codellama-7b", "--allow-mismatch")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok: humaneval pass@1 33.5 -> 95.0" in r.stdout and "mbpp" not in r.stdout.split("\n\n")[-1]
    r = evalkit("check", str(runs["zero"]), "--baseline", "paper:codellama-7b", "--allow-mismatch")
    assert r.returncode == 1 and "FAIL: humaneval pass@1 33.5 -> 0.0" in r.stdout


def test_html_report_with_plots_and_screenshot(runs, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.html"
    r = evalkit("report", "paper:codellama-7b", str(runs["A"]), str(runs["B"]), str(runs["D"]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "<table>" in text and text.count("data:image/png;base64,") >= 2 and "paper:codellama-7b" in text
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium here: the HTML was checked, not rendered")
    png = tmp_path / "report.png"
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1280,1600", f"--screenshot={png}", out.as_uri()], capture_output=True, timeout=120)
    assert png.exists() and png.stat().st_size > 30_000
