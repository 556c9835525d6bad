"""Issue 14: a run's lifecycle: checks before any weights load, --resume from the manifest alone, a lock against
a second process, empty inputs, consistent file modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import assert_one_line_error, evalkit


def test_existing_run_and_other_settings_are_refused_before_the_model_loads(tmp_path):
    out = tmp_path / "r"
    r = evalkit("run", "--limit", "2", "--n-samples", "2", "--temperature", "0.5", "--generate-only",
                "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    # a model that does not exist would fail at load time: the run-dir checks answer first
    missing = str(tmp_path / "no-such-model")
    assert_one_line_error(evalkit("run", "--model", missing, "--limit", "2", "--output-dir", str(out)),
                          "already holds a run: pass --resume")
    line = assert_one_line_error(evalkit("run", "--model", missing, "--limit", "2", "--n-samples", "2",
                                         "--temperature", "0.2", "--output-dir", str(out), "--resume"),
                                 "was made with other settings")
    assert "generation.temperature: 0.5 (the run) vs 0.2 (now)" in line and "model.id" in line
    assert_one_line_error(evalkit("run", "--resume"), "--resume needs --output-dir")


def test_resume_with_only_the_output_dir_takes_the_run_settings(tmp_path):
    out = tmp_path / "r"
    r = evalkit("run", "--tasks", "humaneval,mbpp", "--limit", "2", "--n-samples", "3", "--temperature", "0.7",
                "--seed", "5", "--stop", "\\n###", "--memory-mb", "2048", "--generate-only", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    r = evalkit("run", "--resume", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    assert set(res["tasks"]) == {"humaneval", "mbpp"}
    assert res["tasks"]["mbpp"]["n_samples_per_problem"] == 3 and res["tasks"]["mbpp"]["n_problems"] == 2
    assert res["config"]["generation"]["seed"] == 5 and res["config"]["sandbox"]["memory_mb"] == 2048
    assert res["tasks"]["humaneval"]["protocol"]["stop_sequences"] == ["\n###"]
    assert "3 problems" not in r.stdout and "x 3 samples" in r.stdout


def _start_time(pid: int) -> str:
    stat = open(f"/proc/{pid}/stat").read()
    return stat[stat.rindex(")") + 2:].split()[19]


def test_a_second_process_on_a_run_dir_refuses_and_a_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "r"
    assert evalkit("run", "--limit", "1", "--generate-only", "--output-dir", str(out)).returncode == 0
    assert not (out / "evalkit.lock").exists()  # released at the end
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / "evalkit.lock").write_text(f"{holder.pid} {_start_time(holder.pid)}\n")
        assert_one_line_error(evalkit("run", "--resume", "--output-dir", str(out)),
                              f"is in use by evalkit process {holder.pid}")
        assert_one_line_error(evalkit("evaluate", str(out)), f"in use by evalkit process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    r = evalkit("run", "--resume", "--output-dir", str(out))  # the holder died: its lock is stale
    assert r.returncode == 0, r.stderr
    assert (out / "results.json").exists() and not (out / "evalkit.lock").exists()


def test_empty_bigcode_lists_and_a_missing_file(tmp_path):
    for text in ("[]", "[[]]", "[[], []]"):
        (tmp_path / "g.json").write_text(text)
        assert_one_line_error(evalkit("evaluate", "--task", "humaneval", str(tmp_path / "g.json")), "no samples")
    assert_one_line_error(evalkit("evaluate", str(tmp_path / "nonexistent")), "nonexistent: no such file")


def test_every_run_file_has_the_same_umask_mode(tmp_path):
    out = tmp_path / "r"
    code = ("import os, sys; os.umask(0o027); from evalkit.cli import main; "
            f"sys.exit(main(['run', '--limit', '2', '--output-dir', {str(out)!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    modes = {f.name: oct(os.stat(f).st_mode & 0o777) for f in out.iterdir()}
    assert set(modes) == {"manifest.json", "generations.jsonl", "executions.jsonl", "samples.jsonl", "results.json"}
    assert set(modes.values()) == {oct(0o640)}, modes


def test_resume_alone_from_another_cwd_with_a_relative_data_dir_and_a_modified_preset(tmp_path):
    """The run's data path is recorded absolute, and a preset with overrides is restored as asked."""
    from conftest import data_dir

    data = os.path.relpath(data_dir(), tmp_path)
    out = tmp_path / "r"
    r = evalkit("run", "--tasks", "mbpp", "--limit", "1", "--data-dir", data, "--preset", "paper-pass100",
                "--n-samples", "2", "--generate-only", "--output-dir", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = evalkit("run", "--resume", "--output-dir", str(out))  # another working directory
    assert r.returncode == 0, r.stderr
    gen = json.loads((out / "results.json").read_text())["config"]["generation"]
    assert gen["n_samples"] == 2 and gen["preset_overrides"]["requested"] == "paper-pass100"


def test_evaluate_of_a_generate_only_run_keeps_its_stops_and_sandbox_limits(tmp_path):
    out = tmp_path / "r"
    r = evalkit("run", "--limit", "2", "--stop", "\\nSTOP", "--timeout", "7", "--memory-mb", "2048",
                "--generate-only", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    r = evalkit("evaluate", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["tasks"]["humaneval"]["protocol"]["stop_sequences"] == ["\nSTOP"]
    assert res["tasks"]["humaneval"]["timeout_s"] == 7 and res["sandbox"]["limits"]["memory_mb"] == 2048


def test_evalplus_json_without_an_evalplus_task_writes_nothing(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return True\n"}) + "\n")
    out = tmp_path / "o"
    assert_one_line_error(evalkit("evaluate", "--task", "humaneval", "--evalplus-json", str(f), "--output-dir",
                                  str(out)), "--evalplus-json needs an EvalPlus task")
    assert not out.exists()
