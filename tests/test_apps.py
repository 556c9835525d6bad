"""APPS (Tables 3 and 15): data, the paper's prompts, answer extraction, and verdicts through the real sandbox that
equal hendrycks/apps testing_util's on the same programs (tests/apps_variants.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apps_variants import CALL, STDIN
from conftest import evalkit

FIXTURE = Path(__file__).parent / "data"
GUIDE = ("Write a python code to solve the following coding problem that obeys the constraints and passes the "
         "example test cases. The output code needs to {}. Please wrap your code answer using ```:\n")


@pytest.fixture(autouse=True)
def _fixture_data(monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(FIXTURE))  # no copy of APPS on these machines: the fixture


def _task(name: str):
    from evalkit.registry import get_task

    return get_task(name)


def test_fixture_counts_levels_and_the_shot_rule():
    t = _task("apps")
    assert [p.task_id for p in t.problems()] == [f"APPS/{i}" for i in range(1, 7)]
    assert t.counts == {"introductory": 2, "interview": 2, "competition": 2, "no_tests": 1}
    assert t.info()["few_shot"]["problem_ids"] == [10, 11]
    assert [p.task_id for p in _task("apps-interview").problems()] == ["APPS/2", "APPS/5"]
    assert _task("apps-instruct").info().get("few_shot") is None


def test_two_shot_prompt_is_figure_14():
    p = _task("apps").problems()[3]  # call-based, with starter code
    assert p.prompt == (
        "Q: " + GUIDE.format("read from and write to standard IO")
        + "Print the square of the integer n read from the input.\nA: ```\nn = int(input())\nprint(n * n)\n```\n"
        + "Q: " + GUIDE.format("use the provided function signature")
        + "Write a function double(x) that returns 2 * x.\n\ndef double(x):\nA: ```\ndef double(x):\n"
        "    return 2 * x\n```\n"
        + "Q: " + GUIDE.format("use the provided function signature")
        + "Write a function add_all(xs) that returns the sum of the list xs.\n\ndef add_all(xs):\nA:")


def test_zero_shot_instruct_prompt():
    p = _task("apps-instruct").problems()[0]
    assert p.prompt == ("[INST] " + GUIDE.format("read from and write to standard IO")
                        + "Read two integers a and b on one line and print their sum.\n\n-----Input-----\n"
                          "Two integers.\n\n-----Output-----\nTheir sum.\n[/INST]")


@pytest.mark.parametrize("generation,code", [
    (" ```\nprint(1)\n```\nQ: next", "print(1)\n"),
    (" ```python\nprint(1)\n```", "print(1)\n"),
    ("```print(1)```", "print(1)"),
    ("Sure:\n```py\nx = 1\n", "x = 1\n"),
    ("no fence", "no fence"),
])
def test_answer_from_the_fenced_block(generation, code):
    t = _task("apps")
    assert t.postprocess(t.problems()[0], generation) == code


def test_reference_scores_one_with_levels(tmp_path):
    out = tmp_path / "o"
    r = evalkit("run", "--tasks", "apps,apps-instruct,apps-competition", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())["tasks"]
    assert res["apps"]["pass@1"] == 1.0 and res["apps-instruct"]["pass@1"] == 1.0
    assert {lv: b["n_problems"] for lv, b in res["apps"]["levels"].items()} == \
        {"introductory": 2, "interview": 2, "competition": 2}
    assert all(b["pass@1"] == 1.0 for b in res["apps"]["levels"].values())
    assert list(res["apps-competition"]["levels"]) == ["competition"]
    assert res["apps"]["few_shot"]["problem_ids"] == [10, 11]


def test_variants_get_the_reference_verdicts():
    """Correct, wrong, crashing, slow, syntax errors and output-format variants (standard input and call-based):
    evalkit's verdict agrees with testing_util's on every one (and says which failure it was)."""
    from evalkit.apps import judge, program
    from evalkit.sandbox.pool import Job, SandboxPool

    cases = STDIN + CALL
    jobs = [Job(i, judge.spec(program.serving_source(sol, io.get("fn_name")), io.get("fn_name"),
                              list(zip(io["inputs"], io["outputs"]))))
            for i, (_, io, sol, _, _) in enumerate(cases)]
    got: dict[int, object] = {}
    with SandboxPool(None, workers=2) as pool:
        pool.run(jobs, lambda j, f: got.__setitem__(j.key, judge.verdict(f)))
    wrong = []
    for i, (name, _, _, ref, outcome) in enumerate(cases):
        v = got[i]
        if (v.outcome == "passed") != (ref is True) or v.outcome != outcome:
            wrong.append((name, ref, outcome, v.outcome, v.detail))
        assert v.scores == {"pass": 1.0 if v.outcome == "passed" else 0.0}
    assert not wrong


def test_expected_outputs_never_reach_the_sample():
    from evalkit.apps import judge, program

    io = {"inputs": ["1 2\n"], "outputs": ["SECRET-3\n"]}
    spec = judge.spec(program.serving_source("print(3)", None), None, list(zip(io["inputs"], io["outputs"])))
    assert all("SECRET" not in (s.python or "") for s in spec.steps) and not spec.files
    assert "SECRET" in json.dumps(spec.driver_data)


def test_paper_rows_of_tables_3_15_6():
    from evalkit.results import load_run

    c7 = load_run("paper:codellama-7b").tasks
    assert c7["apps"]["levels"]["introductory"] == {"pass@5": 0.108, "pass@10": 0.156, "pass@100": 0.335}
    assert c7["apps"]["levels"]["competition"]["pass@100"] == 0.071
    assert c7["multiple-fim-py"]["metrics"]["exact_match"]["mean"] == 0.676
    assert c7["humaneval"]["pass@1"] == 0.335  # codellama.json's tasks are still there (merged by run name)
    assert load_run("paper:codellama-13b-spm").tasks["multiple-fim-js"]["metrics"]["exact_match"]["mean"] == 0.85
    i34 = load_run("paper:codellama-34b-instruct").tasks
    assert i34["apps-instruct"]["levels"]["interview"] == {"pass@5": 0.057, "pass@10": 0.08, "pass@100": 0.169}
    assert i34["apps"]["levels"]["interview"]["pass@100"] == 0.228
    assert load_run("paper:starcoder-15.5b").tasks["multiple-fim-java"]["metrics"]["exact_match"]["mean"] == 0.73


def test_chat_is_refused_on_the_two_shot_tasks(tmp_path):
    r = evalkit("run", "--tasks", "apps-interview", "--chat", "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 2 and "use --tasks apps-instruct" in r.stderr and not (tmp_path / "o").exists()
