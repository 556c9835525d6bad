"""Issue 14: the HTML report: sections only for tasks a run has, readable heat-map axes, no matplotlib."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import evalkit

from evalkit.report import short_labels


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    r = evalkit("run", "--limit", "12", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_heat_map_labels_are_unique_task_numbers():
    ids = [f"MultiLineInfilling/HumanEval/{i}/L{a}_L{b}" for i in (0, 1) for a in range(2) for b in range(2)]
    labels = short_labels(ids)
    assert len(set(labels)) == len(ids) and labels[:2] == ["0/L0_L0", "0/L0_L1"]
    assert short_labels([f"HumanEval/{i}" for i in (0, 1, 10, 163)]) == ["0", "1", "10", "163"]
    assert short_labels(["MBPP/11", "MBPP/12"]) == ["11", "12"]


def test_sections_only_for_tasks_a_run_has(run_dir, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "r.html"
    r = evalkit("report", "paper:codellama-7b", str(run_dir), "-o", str(out))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = out.read_text()
    assert "<h2>humaneval</h2>" in text and ">mbpp<" not in text and "humaneval-infill" not in text


def test_without_matplotlib_the_terminal_is_told(run_dir, tmp_path):
    out = tmp_path / "r.html"
    code = ("import sys; sys.modules['matplotlib'] = None; from evalkit.cli import main; "
            f"sys.exit(main(['report', {str(run_dir)!r}, '-o', {str(out)!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "plots need matplotlib, which is not installed" in r.stderr
    assert "<table>" in out.read_text() and "data:image/png" not in out.read_text()
