"""Issues 18 and 23: compare, check, the run summary and report iterate the metrics a task declares (binary
pass@k, mean scores such as exact match), read older results.json files (no ``metrics``; EvalPlus's ``base``
block; MBPP's shots recorded as a list), show EvalPlus's base score and name the plus score, and carry the
protocol marks and notes everywhere.

The results.json files are written here with evalkit's own ``summarize_metric``, as a run writes them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import evalkit

from evalkit.metrics import Metric, summarize_metric

EXACT = Metric("exact_match", "mean", "exact match")
SIM = Metric("similarity", "mean", "similarity")
PASS = Metric("pass", "binary", "pass@k")


def _doc(tasks: dict, model: str = "m", backend: str = "hf", chat: bool = False) -> dict:
    return {"evalkit_version": "test", "model": {"backend": backend, "id": model},
            "config": {"generation": {"n_samples": 1, "temperature": 0.0, "top_p": 1.0, "chat": chat},
                       "limit": None}, "tasks": tasks}


def _write(path: Path, doc: dict) -> str:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(doc))
    return str(path)


def exact_task(hits: list[int], sims: list[float]) -> dict:
    """An exact-match task's block as ``runner.task_summary`` writes it: mean metrics only, no pass@k."""
    ids = [f"Exact/{i}" for i in range(len(hits))]
    blocks = {EXACT.name: summarize_metric(EXACT, {t: [float(h)] for t, h in zip(ids, hits)}),
              SIM.name: summarize_metric(SIM, {t: [s] for t, s in zip(ids, sims)})}
    return {"n_problems": len(ids), "n_samples_per_problem": 1, "metrics": blocks,
            "protocol": {"n_problems": len(ids), "decoding": {"greedy": True, "n_samples": 1}, "shots": 0,
                         "dataset_sha256": "d" * 64, "prompt_sha256": "p" * 64}}


def pass_task(passed: list[int], *, new: bool = True, base: list[int] | None = None, prefix: str = "HumanEval",
              extra: dict | None = None) -> dict:
    """A pass@k task block: with a ``metrics`` table (new) or only the top-level keys (an older file); ``base``:
    EvalPlus's base verdicts (a second declared metric, or an older file's ``base`` block)."""
    ids = [f"{prefix}/{i}" for i in range(len(passed))]
    head = summarize_metric(PASS, {t: [float(p)] for t, p in zip(ids, passed)}, ks=[1])
    t: dict = {"n_problems": len(ids), "n_samples_per_problem": 1,
               **{k: v for k, v in head.items() if k.startswith("pass@")}, "problems": head["problems"],
               **(extra or {})}
    b = summarize_metric(Metric("base", "binary", "base pass@k"), {x: [float(p)] for x, p in zip(ids, base)},
                         ks=[1]) if base is not None else None
    if new:
        t["metrics"] = {"pass": head | ({"label": "plus pass@k"} if b else {})} | ({"base": b} if b else {})
    elif b:
        t["base"] = {k: v for k, v in b.items() if k not in ("kind", "label")}
    return t


@pytest.fixture(scope="module")
def exact_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("exact")
    rng = random.Random(0)
    good = [1] * 36 + [0] * 4
    bad = [1] * 20 + [0] * 20
    near = [1] * 35 + [0] * 5
    sims = lambda hits: [1.0 if h else rng.uniform(0.2, 0.8) for h in hits]  # noqa: E731
    return {name: _write(root / name, _doc({"exact-tiny": exact_task(h, sims(h))}, model=name))
            for name, h in {"good": good, "bad": bad, "near": near}.items()}


def test_compare_lists_every_declared_mean_metric_with_a_paired_bootstrap(exact_runs):
    r = evalkit("compare", exact_runs["good"], exact_runs["bad"], "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [x["metric"] for x in rows] == ["exact match", "similarity"]  # declaration order, no pass@k
    a, b = rows[0]["cells"]
    assert a["value"] == pytest.approx(0.9) and b["value"] == pytest.approx(0.5)
    assert a["ci"][0] < 0.9 < a["ci"][1]
    assert b["test"] == "paired-bootstrap" and b["p_value"] < 0.01 and b["delta"] == pytest.approx(-0.4)
    assert "p_value" in rows[1]["cells"][1]  # the similarity is tested too
    table = evalkit("compare", exact_runs["good"], exact_runs["bad"]).stdout
    assert "exact match" in table and "90.0 [" in table and "(-40.0, p=" in table
    # no protocol differs: the legend does not point at notes that are not there (issue 23, point 5)
    assert "notes below" not in table and "[1]" not in table


@pytest.mark.parametrize("run,max_drop,code,last", [
    ("good", "0.02", 0, "PASSED"),
    ("near", "0.02", 0, "PASSED (drops not significant at alpha=0.05: exact-tiny exact match"),
    ("bad", "0.02", 1, "FAILED"),
    ("bad", "0.5", 0, "PASSED"),
])
def test_check_gates_a_mean_metric_with_max_drop(exact_runs, run, max_drop, code, last):
    r = evalkit("check", exact_runs[run], "--baseline", exact_runs["good"], "--max-drop", max_drop)
    assert r.returncode == code, r.stdout + r.stderr
    assert r.stdout.rstrip().splitlines()[-1].startswith(last), r.stdout
    if code == 1:
        assert "FAIL: exact-tiny exact match 90.0 -> 50.0" in r.stdout


def test_run_summary_prints_every_declared_metric():
    from evalkit.cli_summary import metric_parts

    t = exact_task([1, 0, 1, 1], [1.0, 0.5, 1.0, 1.0])
    parts = metric_parts(t)
    assert parts[0].startswith("exact match 0.7500 [") and parts[1].startswith("similarity 0.8750 [")
    plus = pass_task([1, 0, 1], base=[1, 1, 1])
    assert [p.split(" [")[0] for p in metric_parts(plus)] == ["plus pass@1 0.6667", "base pass@1 1.0000"]
    old_plus = pass_task([1, 0, 1], new=False, base=[1, 1, 1])  # before EvalPlus declared its base metric
    assert [p.split(" [")[0] for p in metric_parts(old_plus)] == ["plus pass@1 0.6667", "base pass@1 1.0000"]
    assert [p.split(" [")[0] for p in metric_parts(pass_task([1, 1], new=False))] == ["pass@1 1.0000"]


def test_old_files_without_metrics_load_like_new_ones(tmp_path):
    new = _write(tmp_path / "new", _doc({"humaneval": pass_task([1] * 10 + [0] * 10)}))
    old = _write(tmp_path / "old", _doc({"humaneval": pass_task([1] * 12 + [0] * 8, new=False)}))
    r = evalkit("compare", new, old, "--format", "json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)["rows"]
    assert row["metric"] == "pass@1" and row["cells"][1]["value"] == pytest.approx(0.6)
    assert row["cells"][1]["test"] == "mcnemar-exact"
    r = evalkit("check", old, "--baseline", new)
    assert r.returncode == 0 and "ok: humaneval pass@1 50.0 -> 60.0" in r.stdout, r.stdout + r.stderr


def test_evalplus_base_shown_and_plus_named_old_and_new(tmp_path):
    """Issue 23, point 4: the base score (the leaderboard's HumanEval column) is a row of its own, the plus
    score is called so; a --limit run against the leaderboard is marked, and check refuses it."""
    old = _write(tmp_path / "old", _doc({"humaneval-plus": pass_task([1, 0, 1], new=False, base=[1, 1, 1])}))
    new = _write(tmp_path / "new", _doc({"humaneval-plus": pass_task([1, 1, 0], base=[1, 1, 1])}))
    r = evalkit("compare", "paper:evalplus-codellama-7b", old, new, "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {x["metric"]: x for x in json.loads(r.stdout)["rows"]}
    assert list(rows) == ["plus pass@1", "base pass@1"]
    assert rows["plus pass@1"]["cells"][0]["value"] == 0.354 and rows["base pass@1"]["cells"][0]["value"] == 0.378
    assert rows["base pass@1"]["cells"][1]["value"] == 1.0 and rows["base pass@1"]["cells"][2]["value"] == 1.0
    assert "3 problems vs 164" in rows["plus pass@1"]["cells"][1]["protocol_differences"]
    table = evalkit("compare", "paper:evalplus-codellama-7b", old).stdout
    assert "base pass@1" in table and "[1]" in table and "3 problems vs 164" in table and "notes below" in table
    r = evalkit("check", old, "--baseline", "paper:evalplus-codellama-7b")
    assert r.returncode == 2 and "3 problems vs 164" in r.stderr, r.stderr
    r = evalkit("check", new, "--baseline", old)  # both declared scores are gated
    assert r.returncode == 0 and "humaneval-plus plus pass@1" in r.stdout and "humaneval-plus base pass@1" in r.stdout


def test_evalplus_paper_tables_carry_their_protocol():
    from evalkit.results import load_run

    for name in ("evalplus-codellama-7b", "evalplus-codellama-34b"):
        run = load_run(f"paper:{name}")
        he, mb = run.protocol("humaneval-plus"), run.protocol("mbpp-plus")
        assert he["decoding"] == {"greedy": True} and he["n_problems"] == 164 and mb["n_problems"] == 378
        assert he["dataset_sha256"].startswith("42526ec0") and "v0.1.10" in he["dataset_version"]
        assert run.value("humaneval-plus", "pass@1", "base") is not None


def test_mbpp_shots_recorded_as_a_list_read_as_their_number(tmp_path):
    """Issue 23, point 2 (reading side): a results.json written when MBPP recorded its shot problems."""
    from evalkit.protocol import differences, of_result
    from evalkit.results import load_run

    shots = [{"task_id": i, "text": "x" * 500, "code": "def f(): pass"} for i in (2, 3, 4)]
    t = pass_task([1, 0] * 250, new=False, prefix="MBPP", extra={"shots": shots})
    t["protocol"] = of_result(_doc({"mbpp": {**t}}), "mbpp") | {"shots": shots}  # as such a run recorded it
    run = load_run(_write(tmp_path / "old-mbpp-run", _doc({"mbpp": t})))
    assert run.protocol("mbpp")["shots"] == 3
    assert not differences(load_run("paper:codellama-7b").protocol("mbpp"), run.protocol("mbpp"), "pass@1")
    r = evalkit("check", str(tmp_path / "old-mbpp-run"), "--baseline", "paper:codellama-7b", "--max-drop", "1")
    assert r.returncode == 0 and "-shot" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_chat_mode_is_part_of_the_protocol():
    """Issue 23, point 3: a served run whose server could not continue the assistant's turn is not the local
    chat protocol."""
    from evalkit.protocol import differences, of_result

    task = {"n_problems": 2, "chat": True, "prompt_sha256": "p" * 64}
    local = of_result(_doc({"humaneval": task}, backend="hf", chat=True), "humaneval")
    served = _doc({"humaneval": task}, backend="openai", chat=True)
    served["model"]["chat_mode"] = "new_turn"
    diff = differences(local, of_result(served, "humaneval"), "pass@1")
    assert diff == ["chat as a new turn (the task's prefix not sent) vs chat turn continued from the task's prefix"]


def test_report_carries_the_marks_and_notes_of_compare(exact_runs, tmp_path):
    """Issue 23, point 5, and a mean metric in the report."""
    old = _write(tmp_path / "old", _doc({"humaneval-plus": pass_task([1, 0, 1], new=False, base=[1, 1, 1])}))
    out = tmp_path / "r.html"
    r = evalkit("report", "paper:evalplus-codellama-7b", old, "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "base pass@1" in text and "plus pass@1" in text
    assert "<sup><a href='#note-1'>[1]</a></sup>" in text and "<li id='note-1'>" in text
    assert "3 problems vs 164" in text and "notes below" in text
    out2 = tmp_path / "e.html"
    r = evalkit("report", exact_runs["good"], exact_runs["bad"], "-o", str(out2))
    assert r.returncode == 0, r.stderr
    text = out2.read_text()
    assert "exact match" in text and "similarity" in text and "note-1" not in text and "notes below" not in text
