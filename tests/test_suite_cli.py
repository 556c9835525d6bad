"""``evalkit run --suite codellama-paper``: the paper's tables in one command, through the real CLI.

The plan and its token estimate come before anything loads (a model path that does not exist is never opened
with --dry-run); options that would change the paper's protocol are one line and exit 2; each table's run records
the suite and the paper's decoding and sample count (200 where pass@100 is reported); a suite stopped half-way
continues with ``--resume`` alone; a tiny FIM checkpoint runs PSM and SPM, loaded once for both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_one_line_error, evalkit, kill_when

FIXTURES = Path(__file__).parent / "data"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}  # the offline key-retrieval filler, no downloads


def run(*args: str, **kw):  # noqa: ANN201
    return evalkit("run", "--data-dir", str(FIXTURES), *args, env=OFFLINE, **kw)


def doc(path: Path) -> dict:
    return json.loads(path.read_text())


def test_dry_run_prints_the_plan_and_estimate_and_loads_nothing(tmp_path: Path) -> None:
    r = run("--model", str(tmp_path / "no-such-checkpoint"), "--suite", "codellama-paper", "--dry-run",
            "--limit", "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "suite codellama-paper, flavour base:" in out and "the first 2 problems of each task" in out
    for task in ("humaneval", "mbpp", "apps", "multiple-fim-py", "humaneval-infill-single", "key-retrieval"):
        assert f"\n{task} " in out, task
    # Table 2's pass@100 protocol: 200 samples of each of the 2 problems; APPS (Table 3) the same
    assert any(line.startswith("humaneval ") and " 400 " in line for line in out.splitlines()), out
    assert "generated tokens" in out.splitlines()[-1] or "total:" in out
    assert not (tmp_path / "no-such-checkpoint").exists() and "mbpp-instruct" not in out  # base model: no Table 8
    # not a dry run: the estimate is printed before the model loads; a model that does not load leaves nothing
    r = run("--model", str(tmp_path / "no-such-checkpoint"), "--suite", "codellama-paper", "--suite-tables", "17",
            "--limit", "1", "--output-dir", str(tmp_path / "s"))
    assert_one_line_error(r, "does not exist")
    assert "total: 1 samples" in r.stdout and not (tmp_path / "s").exists()


def test_the_flavour_comes_from_the_model_name_or_flavour() -> None:
    from evalkit.suites import flavour_of

    assert flavour_of("codellama/CodeLlama-13b-Python-hf") == "python"
    assert flavour_of("/data/python-models/ckpt-7b/") == "base"  # the model's own name, not its folder's
    r = run("--model", "codellama/CodeLlama-7b-Instruct-hf", "--suite", "codellama-paper", "--dry-run",
            "--limit", "1")
    assert r.returncode == 0, r.stderr
    assert "flavour instruct:" in r.stdout and "mbpp-instruct" in r.stdout and "apps-instruct" in r.stdout
    assert "multiple-fim-py" not in r.stdout  # Table 6 is about the base models
    r = run("--model", "reference", "--suite", "codellama-paper", "--flavour", "python", "--suite-tables", "2",
            "--dry-run", "--limit", "1")
    assert r.returncode == 0 and "flavour python: 2 runs, tables 2" in r.stdout, r.stdout


@pytest.mark.parametrize("argv, expect", [
    (["--suite", "codellama-paper", "--tasks", "humaneval"], "drop --tasks"),
    (["--suite", "codellama-paper", "--n-samples", "5", "--temperature", "0.2"], "drop --n-samples, --temperature"),
    (["--suite", "codellama-paper", "--preset", "paper-pass1"], "drop --preset"),
    (["--suite", "codellama-paper", "--fim", "spm"], "drop --fim"),
    (["--suite-tables", "2"], "--suite-tables needs --suite"),
    (["--dry-run"], "--dry-run needs --suite"),
    (["--suite", "codellama-paper", "--suite-tables", "99", "--dry-run"], "no table '99'"),
    (["--suite", "codellama-paper", "--suite-tables", "2", "--context-lengths", "4k", "--dry-run"],
     "--context-lengths needs the task key-retrieval"),
    (["--suite", "no-such-suite"], "invalid choice"),
])
def test_bad_combinations_are_one_line(tmp_path: Path, argv: list[str], expect: str) -> None:
    r = run(*argv, "--output-dir", str(tmp_path / "s"))
    assert_one_line_error(r, expect)
    assert not (tmp_path / "s").exists()


def test_reference_suite_records_itself_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "paper"
    # stopped after generation (as a run killed before judging): nothing scored yet
    r = run("--suite", "codellama-paper", "--suite-tables", "6,17", "--limit", "2", "--context-lengths", "1k",
            "--filler", "humaneval", "--generate-only", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.index("total:") < r.stdout.index("generated:")  # the estimate came first
    suite = doc(out / "suite.json")
    assert [x["dir"] for x in suite["runs"]] == ["table6-greedy-psm", "table6-greedy-spm", "table17-18-greedy"]
    assert {x["status"] for x in suite["runs"]} == {"generated"} and suite["limit"] == 2
    assert not list(out.glob("*/results.json"))
    assert_one_line_error(evalkit("evaluate", str(out), env=OFFLINE), "is a suite (run --suite)")
    assert_one_line_error(evalkit("run", "--resume", "--output-dir", str(out), "--context-lengths", "2k",
                                  env=OFFLINE), "--context-lengths 2k (the run: 1000)")
    # --resume alone: the suite, its tables, limit and long-context options from suite.json and the manifests
    r = evalkit("run", "--resume", "--output-dir", str(out), env=OFFLINE)
    assert r.returncode == 0, r.stderr
    for d, fim in (("table6-greedy-psm", "psm"), ("table6-greedy-spm", "spm")):
        res = doc(out / d / "results.json")
        assert res["config"]["suite"] == {"name": "codellama-paper", "flavour": "base", "tables": ["Table 6"],
                                          "run": d}
        gen = res["config"]["generation"]
        assert gen["fim"] == fim and gen["temperature"] == 0 and gen["n_samples"] == 1
        assert gen["preset"] == "paper-pass1"
        assert set(res["tasks"]) == {"multiple-fim-py", "multiple-fim-java", "multiple-fim-js"}
        assert all(t["metrics"]["exact_match"]["mean"] == 1.0 and t["n_problems"] == 2
                   for t in res["tasks"].values())
    kr = doc(out / "table17-18-greedy" / "results.json")["tasks"]["key-retrieval"]
    assert kr["recipe"]["context_lengths"] == [1000] and kr["metrics"]["accuracy"]["mean"] == 1.0
    assert {x["status"] for x in doc(out / "suite.json")["runs"]} == {"done"}
    # once more: every run finished before, nothing is redone; another table set is refused
    r = evalkit("run", "--resume", "--output-dir", str(out), env=OFFLINE)
    assert r.returncode == 0 and r.stderr.count("finished before") == 3, r.stderr
    assert_one_line_error(evalkit("run", "--resume", "--output-dir", str(out), "--suite-tables", "6", env=OFFLINE),
                          "--suite-tables 6 differs")
    assert_one_line_error(run("--suite", "codellama-paper", "--output-dir", str(out)), "already holds a suite run")


def test_sampled_tables_use_the_papers_200_samples(tmp_path: Path) -> None:
    out = tmp_path / "paper"
    r = run("--suite", "codellama-paper", "--suite-tables", "2,3", "--limit", "1", "--generate-only",
            "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    man = {d.parent.name: doc(d) for d in out.glob("*/manifest.json")}
    assert set(man) == {"table2-greedy", "table2-n200-t0.8", "table3-n200-t0.6"}
    gen = man["table2-n200-t0.8"]["config"]["generation"]
    assert (gen["n_samples"], gen["temperature"], gen["top_p"], gen["preset"]) == (200, 0.8, 0.95, "paper-pass100")
    gen = man["table3-n200-t0.6"]["config"]["generation"]
    assert (gen["n_samples"], gen["temperature"], gen["top_p"], gen["preset"]) == (200, 0.6, 0.95, "apps-paper")
    assert list(man["table3-n200-t0.6"]["tasks"]) == ["apps"]
    lines = (out / "table2-n200-t0.8" / "generations.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 200  # humaneval and mbpp, one problem each


def test_tiny_fim_model_runs_psm_and_spm_loaded_once(tmp_path: Path, tiny_models) -> None:
    model = tiny_models("gpt_bigcode", fim=True)
    out = tmp_path / "paper"
    r = run("--model", str(model), "--suite", "codellama-paper", "--suite-tables", "6", "--limit", "1",
            "--device", "cpu", "--output-dir", str(out), timeout=900)
    assert r.returncode == 0, r.stderr
    modes = {}
    for d in ("table6-greedy-psm", "table6-greedy-spm"):
        res = doc(out / d / "results.json")
        modes[d] = res["model"]["fim"]["mode"]
        assert res["config"]["generation"]["fim"] == modes[d]
        assert all(t["n_problems"] == 1 for t in res["tasks"].values())
    assert modes == {"table6-greedy-psm": "psm", "table6-greedy-spm": "spm"}
    inputs = {d: [json.loads(x).get("model_input") for x in (out / d / "generations.jsonl").read_text().splitlines()]
              for d in modes}
    assert inputs["table6-greedy-psm"] != inputs["table6-greedy-spm"]


def test_a_suite_killed_mid_way_resumes_alone_and_reports_as_a_whole(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "paper"
    for k, v in {**OFFLINE, "EVALKIT_DATA_DIR": str(FIXTURES)}.items():  # kill_when's child inherits them
        monkeypatch.setenv(k, v)
    argv = ["run", "--suite", "codellama-paper", "--suite-tables", "14,17", "--limit", "3", "--context-lengths",
            "1k", "--output-dir", str(out)]
    held = kill_when(argv, out / "table14-greedy-psm" / "executions.jsonl", 1)
    assert 1 <= held < 9, held  # killed while judging the first table's 9 samples
    assert not (out / "table14-greedy-psm" / "results.json").exists()
    r = evalkit("run", "--resume", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    assert "resuming:" in r.stderr and {x["status"] for x in doc(out / "suite.json")["runs"]} == {"done"}
    for d in ("table14-greedy-psm", "table14-greedy-spm"):
        res = doc(out / d / "results.json")
        assert all(t["n_problems"] == 3 and t["pass@1"] == 1.0 for t in res["tasks"].values()), d
    kr = doc(out / "table17-18-greedy" / "results.json")["tasks"]["key-retrieval"]
    assert kr["recipe"]["context_lengths"] == [1000]
    # report and compare take the suite's directory for its runs
    r = evalkit("report", "--paper", str(out), "-o", str(tmp_path / "paper.md"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "paper.md").read_text()
    assert all(f"{out}/{d}" in text for d in ("table14-greedy-psm", "table14-greedy-spm", "table17-18-greedy"))
