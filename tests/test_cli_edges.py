"""Issue 23, points 8, 9, 10 and 12: a full disk, SIGTERM, progress in logs, resuming, input that was accepted
silently, and where `tasks` says the data comes from. Real runs of the CLI (the reference oracle)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import OFFLINE, REPO, assert_one_line_error, evalkit, not_progress


def _samples(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "samples.jsonl").read_text().splitlines()]


def _can_mount_tmpfs() -> str | None:
    """None if a user+mount namespace with a tmpfs can be made here, else why not."""
    if not shutil.which("unshare"):
        return "no unshare(1) (util-linux)"
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                        "mount -t tmpfs -o size=64k tmpfs /mnt && echo ok"], capture_output=True, text=True)
    return None if r.stdout.strip() == "ok" else f"cannot mount a tmpfs in a user namespace: {r.stderr.strip()}"


def test_full_disk_is_one_line_and_the_run_resumes_elsewhere(tmp_path):
    """Point 8: the output directory on a 64 KiB tmpfs fills up mid-run: exit 2, one line naming the directory
    and the room needed; the journals copied to a larger place resume to a complete run, each sample once."""
    why = _can_mount_tmpfs()
    if why:
        pytest.skip(f"{why}: the full-disk check needs unprivileged user namespaces (util-linux unshare)")
    small, copy = tmp_path / "small", tmp_path / "copy"
    small.mkdir()
    script = 'mount -t tmpfs -o size=64k tmpfs "$0" && "$@"; rc=$?; cp -r "$0/run" "$COPY"; exit $rc'
    # --isolation none: the sandbox's own mounts are not what is tested here (a user namespace inside one)
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(small),
                        sys.executable, "-m", "evalkit", "run", "--limit", "40", "--isolation", "none",
                        "--output-dir", str(small / "run")], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "COPY": str(copy), "PYTHONPATH": str(REPO)})
    assert r.returncode == 2, r.stderr[-3000:]
    lines = [x for x in not_progress(r.stderr) if not x.startswith("evalkit: warning: the sandbox runs without")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "no space left on the device of" in lines[0] and str(small / "run") in lines[0]
    assert "MB free" in lines[0] and "free about" in lines[0] and "--resume" in lines[0]
    assert not (copy / "results.json").exists()
    r = evalkit("run", "--resume", "--output-dir", str(copy))
    assert r.returncode == 0, r.stderr[-3000:]
    rows = _samples(copy)
    assert len(rows) == 40 and len({x["task_id"] for x in rows}) == 40 and all(x["passed"] for x in rows)


def test_sigterm_is_handled_like_ctrl_c_and_resume_says_what_is_done(tmp_path):
    """Point 9: SIGTERM mid-run: a message, the journals closed, exit 143; --resume says how much was done."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "run", "--output-dir", str(out), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = out / "executions.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 5):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    assert "terminated (SIGTERM)" in err and "--resume" in err and "Traceback" not in err, err[-3000:]
    r = evalkit("run", "--resume", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(x for x in r.stderr.splitlines() if "resuming:" in x)
    done = int(line.split("resuming: ")[1].split(" of ")[0])
    assert 5 <= done < 164 and " of 164 samples done" in line
    assert len(_samples(out)) == 164


def test_progress_lines_when_stderr_is_not_a_terminal():
    """Point 9: off a terminal, a plain line every 10% of the work or every 30 s, and one at the end."""
    from evalkit.progress import LineProgress, progress

    now = [0.0]
    buf = io.StringIO()
    bar = LineProgress(total=100, desc="generate humaneval", unit="sample", file=buf, clock=lambda: now[0])
    for _ in range(100):
        now[0] += 0.1
        bar.update(1)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("generate humaneval: 10/100 sample (10%)")
    assert lines[-1].startswith("generate humaneval: 100/100 sample (100%)")
    buf = io.StringIO()
    slow = LineProgress(total=1000, desc="execute", file=buf, clock=lambda: now[0])
    for _ in range(3):
        now[0] += 31
        slow.update(1)  # under 10% each, but 30 s passed
    assert len(buf.getvalue().splitlines()) == 3
    code = ("import sys; from evalkit.progress import progress\n"
            "b = progress(total=4, desc='x', unit='sample')\n"
            "[b.update(1) for _ in range(4)]; b.close(); print(type(b).__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ,
                       "PYTHONPATH": str(REPO)})
    assert r.stdout.strip() == "LineProgress" and "x: 4/4 sample (100%)" in r.stderr, r.stderr
    assert progress(total=1, disable=True).disable


def test_empty_task_name_is_refused(tmp_path):
    assert_one_line_error(evalkit("run", "--tasks", "humaneval,", "--limit", "1", "--output-dir", str(tmp_path / "o")),
                          "empty task name")
    assert not (tmp_path / "o").exists()


def test_identical_greedy_samples_are_warned(tmp_path):
    r = evalkit("run", "--limit", "1", "--n-samples", "2", "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert "--n-samples 2 with greedy decoding (temperature 0) makes 2 identical samples" in r.stderr
    r = evalkit("run", "--limit", "1", "--n-samples", "2", "--temperature", "0.5", "--output-dir", str(tmp_path / "p"))
    assert r.returncode == 0 and "identical" not in r.stderr


def test_tasks_says_how_to_point_at_local_data(tmp_path):
    """Point 12: a task whose data is not here is listed as 'hub', with how to give local files instead."""
    env = {**OFFLINE, "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    r = evalkit("tasks", env=env)
    assert r.returncode == 0, r.stderr
    assert any(line.split()[1:2] == ["hub"] for line in r.stdout.splitlines() if line.startswith("mbpp "))
    assert "--data-dir DIR or set EVALKIT_DATA_DIR=DIR" in r.stdout and "DIR/mbpp/mbpp.jsonl" in r.stdout
