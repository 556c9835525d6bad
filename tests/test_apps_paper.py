"""The paper report (every benchmark table of the Code Llama paper beside a run's cells) and the paper's suite."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "data"
TABLES = ["Table 2", "Table 3", "Table 4 / Table 11", "Table 6", "Table 7 / Table 16", "Table 8", "Table 14",
          "Table 15", "Table 17 / Table 18"]


def _run(tmp_path: Path, name: str, model: str, tasks: dict, generation: dict) -> Path:
    d = tmp_path / name
    d.mkdir()
    doc = {"model": {"id": model, "backend": "hf"}, "config": {"generation": generation, "limit": None},
           "tasks": tasks}
    (d / "results.json").write_text(json.dumps(doc))
    return d


@pytest.fixture
def runs(tmp_path):
    from evalkit.results import load_run

    apps = {"apps": {"n_problems": 6, "shots": 2, "levels": {
        "introductory": {"n_problems": 1000, "pass@5": 0.12, "pass@5_ci": [0.1, 0.14], "pass@10": 0.16},
        "interview": {"n_problems": 2, "pass@5": 0.03}}}}
    fim = {"multiple-fim-py": {"n_problems": 1043, "metrics": {"exact_match": {
        "kind": "mean", "mean": 0.7, "mean_ci": [0.67, 0.73]}}}}
    a = _run(tmp_path, "apps", "codellama/CodeLlama-7b-hf", apps,
             {"n_samples": 200, "temperature": 0.6, "top_p": 0.95, "chat": False})
    b = _run(tmp_path, "fim", "codellama/CodeLlama-13b-hf", fim,
             {"n_samples": 1, "temperature": 0.0, "top_p": 1.0, "fim": "spm", "chat": False})
    c = _run(tmp_path, "other", "my/model", fim, {"n_samples": 1, "temperature": 0.0, "top_p": 1.0})
    return [load_run(str(x)) for x in (a, b, c)]


def test_every_table_with_the_runs_cells_and_marks(runs):
    from evalkit.paper_report import build, render_markdown

    secs = build(runs)
    assert [" / ".join(s["tables"]) for s in secs] == TABLES
    t3 = next(s for s in secs if s["tables"] == ("Table 3",))
    mine = t3["runs"][0]
    assert mine["paper_row"] == "codellama-7b"
    intro = mine["cells"]["apps/introductory pass@5"]
    assert intro["value"] == 0.12 and round(intro["diff"], 4) == 0.012
    assert [round(x, 4) for x in intro["diff_ci"]] == [-0.008, 0.032] and "mark" not in intro
    assert mine["cells"]["apps/introductory pass@100"] == {"mark": "missing"}
    inter = mine["cells"]["apps/interview pass@5"]
    assert inter["mark"] == "other protocol" and "2 problems vs 3000" in inter["why"]
    t6 = next(s for s in secs if s["tables"] == ("Table 6",))
    spm = t6["runs"][1]
    assert spm["paper_row"] == "codellama-13b-spm"  # an SPM run sits beside the paper's SPM row
    assert round(spm["cells"]["multiple-fim-py exact_match"]["diff"], 4) == round(0.7 - 0.745, 4)
    assert spm["cells"]["multiple-fim-java exact_match"] == {"mark": "missing"}
    assert t6["runs"][2]["paper_row"] is None  # a model the paper does not have
    md = render_markdown(runs)
    for t in TABLES:
        assert f"## {t}:" in md
    assert "| paper: codellama-13b-spm | 74.5 | 80.0 | 85.0 |" in md
    assert "70.0 (-4.5 [-7.5, -1.5])" in md and "†" in md and "no reference cells shipped" in md


@pytest.mark.parametrize("model,fim,row", [
    ("codellama/CodeLlama-7b-hf", None, "codellama-7b"),
    ("codellama/CodeLlama-34b-Python-hf", None, "codellama-34b-python"),
    ("/models/CodeLlama-13b-Instruct-hf/", None, "codellama-13b-instruct"),
    ("codellama/CodeLlama-7b-hf", "spm", "codellama-7b-spm"),
    ("codellama/CodeLlama-34b-hf", "spm", "codellama-34b"),  # no SPM row for 34B: the model's own
    ("meta-llama/Llama-2-70b-hf", None, "llama2-70b"),
    ("bigcode/starcoder", None, None),
])
def test_paper_row_of_a_model(model, fim, row):
    from evalkit.paper_report import paper_cells, paper_row

    assert paper_row(model, fim, {c.row for c in paper_cells()}) == row


def test_html_page_and_screenshot(runs, tmp_path):
    from evalkit.paper_report import render_html

    page = tmp_path / "paper.html"
    page.write_text(render_html(runs))
    text = page.read_text()
    assert text.count("<h2>") == len(TABLES) and "class='missing'" in text and "class='other'" in text
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium here: the HTML was checked, not rendered")
    png = tmp_path / "paper.png"
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1400,2400", f"--screenshot={png}", page.as_uri()], capture_output=True,
                   timeout=120)
    assert png.exists() and png.stat().st_size > 10_000


def test_suite_plan_and_estimate(monkeypatch):
    from evalkit import suites

    monkeypatch.setenv("EVALKIT_DATA_DIR", str(FIXTURE))
    base = suites.plan("codellama-paper", suites.flavour_of("codellama/CodeLlama-7b-hf"))
    assert any(e.tasks == ("apps",) and e.decoding == suites.sampled(200, 0.6) for e in base)
    assert {e.fim for e in base if "multiple-fim-py" in e.tasks} == {"psm", "spm"}
    assert not any("apps-instruct" in e.tasks for e in base)
    inst = suites.plan("codellama-paper", "instruct")
    assert any("apps-instruct" in e.tasks for e in inst) and not any(e.fim for e in inst)
    est = suites.estimate([e for e in base if e.tasks == ("apps",)])
    (row,) = est["runs"]
    assert row["problems"] == 6 and row["samples"] == 1200 and row["tokens_upper_bound"] == 1200 * 1024
    assert 0 < row["tokens_typical"] < row["tokens_upper_bound"]
    assert "1,200 samples" in suites.describe(est)
    missing = suites.estimate([suites.Entry(("Table 0",), ("no-such-task",), suites.GREEDY)])
    assert missing["missing_tasks"] == ["no-such-task"] and missing["samples"] == 0


def test_unknown_suite_is_a_user_error():
    from evalkit import suites
    from evalkit.errors import UserError

    with pytest.raises(UserError, match="unknown suite"):
        suites.plan("nope")
