"""Issue 19: MultiPL-E in C++, Java, PHP, TypeScript, C#, Bash and Python, compiled and run in the real sandbox.

Fixture programs written for these tests (``tests/data/multiple/programs.json``: correct solutions with tuples,
maps and optionals, wrong ones, ones that do not compile, runtime errors, infinite loops) run on the fixture data
(``tests/data/multiple``, records copied from MultiPL-E, BSD-3 with its notice) through the sandbox and the
exit-status-and-output evaluator, and through the CLI. A language whose toolchain is missing skips with the
package to install.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import REPO, assert_one_line_error, evalkit, full_data

from evalkit import langs
from evalkit.errors import UserError
from evalkit.registry import get_task
from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.pool import Job, SandboxPool

FIX = REPO / "tests" / "data" / "multiple"
PROGRAMS = json.loads((FIX / "programs.json").read_text())
LANGS = ("cpp", "java", "php", "ts", "cs", "sh", "py")


def need(lang: str) -> None:
    miss = langs.get(lang).missing()
    if miss:
        pkgs = " ".join(dict.fromkeys(p for _, p in miss))
        pytest.skip(f"the {lang} toolchain is missing: apt-get install {pkgs}")


def task(name: str):
    return get_task(name, data_dir=str(FIX))


def judge_all(t, items: list[dict], timeout: float | None = None, workers: int = 2) -> dict[int, object]:
    problems = {p.task_id: p for p in t.problems()}
    jobs, out = [], {}
    for i, f in enumerate(items):
        code = {"completion": f["completion"]}
        tmo = 2.0 if f["expect"] == "timeout" else timeout
        jobs.append(Job(i, t.execution(problems[f["task_id"]], code, tmo)))

    def on(job, facts):
        f = items[job.key]
        out[job.key] = t.judge(problems[f["task_id"]], {"completion": f["completion"]}, facts)

    with SandboxPool(SandboxConfig(extra_paths=t.sandbox_paths()), workers=workers) as pool:
        pool.run(jobs, on)
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_fixture_programs_get_their_verdicts(lang):
    need(lang)
    t = task(f"multiple-{lang}")
    items = [f for f in PROGRAMS if f["lang"] == lang]
    if lang == "ts":  # tsc takes seconds a program: one of each outcome
        items = [f for i, f in enumerate(items) if f["expect"] != "passed" or i == 0]
    assert {f["expect"] for f in items} >= {"passed", "failed", "compile_error", "timeout", "error"}
    got = judge_all(t, items)
    wrong = {(f["task_id"], f["expect"]): (got[i].outcome, got[i].detail[:200])
             for i, f in enumerate(items) if got[i].outcome != f["expect"]}
    assert not wrong, wrong
    for i, f in enumerate(items):
        assert got[i].scores == {"pass": 1.0 if f["expect"] == "passed" else 0.0}


def test_the_program_is_prompt_completion_newline_tests_and_stops_are_the_records():
    t = task("multiple-sh")
    p = {q.task_id: q for q in t.problems()}["HumanEval_8_sum_product"]
    assert p.meta["stop_tokens"] == ("\n}",) == t.stop_sequences
    assert t.postprocess(p, "    echo 1\n}\nmore") == "    echo 1"
    assert t.program(p, {"completion": "    echo 1"}) == p.prompt + "    echo 1" + "\n" + p.test
    assert t.program(p, {"solution": "whole"}) == "whole\n" + p.test
    ts = get_task("multiple-py", data_dir=str(FIX))
    q = ts.problems()[0]
    assert ts.postprocess(q, "    return 1\n\ndef g():\n") == "    return 1\n"
    mine = type(t)(data_dir=str(FIX), stop_sequences=["echo"])  # a user's stops replace the record's
    assert mine.postprocess(p, "    echo 1\n}") == "    "


def test_task_ids_are_the_record_names_and_humaneval_numbers_map_to_them():
    t = task("multiple-py")
    ids = [p.task_id for p in t.problems()]
    assert "HumanEval_23_strlen" in ids
    assert t.canonical_task_id("HumanEval/23") == "HumanEval_23_strlen"
    assert t.canonical_task_id("23") == "HumanEval_23_strlen"
    assert t.canonical_task_id("HumanEval_23_strlen") == "HumanEval_23_strlen"


def test_the_group_and_the_csharp_variants():
    from evalkit.tasks import multiple

    assert multiple.expand(["multiple", "humaneval"]) == [*multiple.GROUPS["multiple"], "humaneval"]
    assert len(multiple.GROUPS["multiple"]) == 7
    assert {t.name for t in multiple.TASKS} == {*multiple.GROUPS["multiple"], "multiple-cs-patched"}
    up, patched = task("multiple-cs"), task("multiple-cs-patched")
    assert up.data_file == "humaneval-cs-bu.jsonl" and patched.data_file == "humaneval-cs.jsonl"
    assert len(up.known_broken()) == 46 and len(patched.known_broken()) == 2
    assert set(task("multiple-php").known_broken()) == {"HumanEval_23_strlen"}
    assert set(task("multiple-java").known_broken()) == {"HumanEval_136_largest_smallest_integers"}


def test_the_patched_csharp_set_is_not_on_the_hub(monkeypatch):
    from evalkit.tasks.multiple import load_rows

    monkeypatch.delenv("EVALKIT_DATA_DIR", raising=False)
    with pytest.raises(UserError, match="not on the hub"):
        load_rows(None, "humaneval-cs.jsonl", None)


def test_full_data_problem_counts_and_the_patched_csharp_difference():
    d = full_data()
    counts = {"cpp": 161, "java": 158, "php": 161, "ts": 159, "sh": 158, "cs": 158, "py": 161}
    for lang, n in counts.items():
        if langs.get(lang).missing():
            continue
        assert len(get_task(f"multiple-{lang}", data_dir=str(d)).problems()) == n, lang
    if not langs.get("cs").missing():
        up = {p.task_id: p.test for p in get_task("multiple-cs", data_dir=str(d)).problems()}
        fixed = {p.task_id: p.test for p in get_task("multiple-cs-patched", data_dir=str(d)).problems()}
        differ = {k for k in up if up[k] != fixed[k]}
        assert len(differ) == 44
        assert differ <= set(get_task("multiple-cs", data_dir=str(d)).known_broken())


def test_a_missing_toolchain_is_one_line_naming_the_package(tmp_path):
    lang = langs.get("cpp")
    from dataclasses import replace

    with pytest.raises(UserError, match=r"apt-get install no-such-pkg"):
        replace(lang, programs=(("no-such-compiler-xyz", "no-such-pkg"),)).check("multiple-cpp")
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps({"task_id": "HumanEval_23_strlen", "completion": "    return 0;"}) + "\n")
    r = evalkit("evaluate", "--task", "multiple-cpp", "--data-dir", str(FIX), "--output-dir", str(tmp_path / "o"),
                str(f), env={"PATH": str(tmp_path)})  # no g++ on this PATH
    assert_one_line_error(r, "apt-get install g++")


def test_evaluate_through_the_cli_with_known_broken_in_results(tmp_path):
    need("sh")
    items = [f for f in PROGRAMS if f["lang"] == "sh" and f["expect"] != "timeout"]
    f = tmp_path / "samples.jsonl"
    f.write_text("".join(json.dumps({"task_id": x["task_id"], "completion": x["completion"]}) + "\n"
                         for x in items))
    out = tmp_path / "run"
    r = evalkit("evaluate", "--task", "multiple-sh", "--data-dir", str(FIX), "--output-dir", str(out),
                "--workers", "2", str(f))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    by = {}
    for row in rows:
        by.setdefault(row["task_id"], []).append(row["outcome"])
    want = {}
    for x in items:
        want.setdefault(x["task_id"], []).append(x["expect"])
    assert {k: sorted(v) for k, v in by.items()} == {k: sorted(v) for k, v in want.items()}
    res = json.loads((out / "results.json").read_text())
    assert res["tasks"]["multiple-sh"]["known_broken"] == {"count": 0, "in_run": 0, "task_ids": [], "why": {}}
    assert res["tasks"]["multiple-sh"]["language"] == "sh"


def test_run_a_tiny_model_end_to_end(tmp_path, tiny_models):
    need("sh")
    model = tiny_models("llama")
    out = tmp_path / "run"
    r = evalkit("run", "--model", str(model), "--tasks", "multiple-sh,multiple-py", "--limit", "2",
                "--max-new-tokens", "8", "--data-dir", str(FIX), "--output-dir", str(out), "--workers", "2",
                "--device", "cpu", timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert {r["task"] for r in rows} == {"multiple-sh", "multiple-py"} and len(rows) == 4
    assert all(r["outcome"] in ("passed", "failed", "error", "compile_error", "timeout") for r in rows), rows


@pytest.mark.skipif(not os.environ.get("EVALKIT_MULTIPLE_EVALUATOR"),
                    reason="set EVALKIT_MULTIPLE_EVALUATOR to MultiPL-E's evaluation/src (or bigcode's "
                           "multiple_metrics), kept outside the repository, to compare verdicts")
def test_multiple_own_evaluator_gives_the_same_status_per_sample(tmp_path):
    here = [lang for lang in LANGS if not langs.get(lang).missing()]
    import subprocess

    r = subprocess.run([sys.executable, str(REPO / "bench" / "multiple.py"), "--multiple",
                        os.environ["EVALKIT_MULTIPLE_EVALUATOR"], "--langs", ",".join(here), "--with-timeouts",
                        "--rounds", "1", "--repeat", "1",
                        "--json", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=1800,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    rep = json.loads((tmp_path / "b.json").read_text())
    assert sum(v["samples"] for v in rep["languages"].values()) == sum(1 for f in PROGRAMS if f["lang"] in here)
    assert all(v["disagreements"] == 0 for v in rep["languages"].values())


def test_paper_rows_of_tables_4_and_11_merge_into_the_existing_runs():
    from evalkit.results import reference_tables

    refs = reference_tables()
    cl7 = refs["codellama-7b"]["tasks"]
    assert cl7["humaneval"]["pass@1"] == 0.335  # codellama.json's rows are kept
    assert [cl7[f"multiple-{x}"]["pass@1"] for x in ("cpp", "java", "php", "ts", "cs", "sh", "py")] == \
        [0.286, 0.342, 0.242, 0.333, 0.253, 0.12, 0.304]
    assert refs["codellama-70b-instruct"]["tasks"]["multiple-java"]["pass@1"] == 0.582
    assert "multiple-py" not in refs["codellama-70b-instruct"]["tasks"]  # Table 11 has no Instruct rows
    names = [n for n, r in refs.items() if "multiple-cpp" in r["tasks"]]
    assert len(names) == 16
