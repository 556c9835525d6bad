"""The paper's long-context rows (results/paper/codellama-long.json): Tables 7, 17, 18, cell by cell spot checks,
every block cited, merged under the existing run names."""

from __future__ import annotations

import pytest

from evalkit.results import load_run, reference_tables


def mean(run: str, task: str, metric: str) -> float:
    return reference_tables()[run]["tasks"][task]["metrics"][metric]["mean"]


def test_table7() -> None:
    assert (mean("codellama-7b", "lcc-python", "exact_match"), mean("codellama-7b", "lcc-python", "bleu")) == \
        (0.3923, 0.6184)
    assert mean("codellama-34b", "lcc-csharp", "bleu") == 0.7269
    assert mean("codellama-13b-no-lcft", "lcc-java", "exact_match") == 0.5049
    no = reference_tables()["codellama-7b-no-lcft"]["tasks"]["lcc-python"]
    assert no["protocol"]["max_prompt_tokens"] == 4000 and no["protocol"]["n_problems"] == 548


def test_tables_17_and_18() -> None:
    kr = reference_tables()["codellama-7b"]["tasks"]["key-retrieval"]
    assert kr["by_cell"]["16000"] == {"0": 0.547, "0.2": 1.0, "0.4": 0.984}
    assert kr["by_cell"]["4000"] == {"0": 0.953, "0.2": 0.953, "0.4": 1.0}  # Table 18, last row
    nine = [kr["by_cell"][L][p] for L in ("8000", "16000", "24000") for p in ("0", "0.2", "0.4")]
    assert kr["metrics"]["accuracy"]["mean"] == pytest.approx(sum(nine) / 9, abs=1e-4)
    assert reference_tables()["codellama-34b-instruct"]["tasks"]["key-retrieval"]["by_cell"]["24000"]["0.2"] == 0.0
    gpt = reference_tables()["gpt-3.5-turbo-16k"]["tasks"]["key-retrieval"]
    assert "24000" not in gpt["by_cell"] and "metrics" not in gpt
    abl = reference_tables()["codellama-7b-ablation-lcft-freq-scaling"]["tasks"]["key-retrieval"]["by_cell"]
    assert abl["16000"]["0"] == 0.0234


def test_merged_with_the_other_tables_and_cited() -> None:
    r = load_run("paper:codellama-7b")
    assert {"humaneval", "mbpp", "key-retrieval", "lcc-python", "lcc-java", "lcc-csharp"} <= set(r.tasks)
    for name, run in reference_tables().items():
        for task, block in run["tasks"].items():
            if task == "key-retrieval" or task.startswith("lcc-"):
                src = block["source"]
                assert src["paper"] == "arXiv:2308.12950v3" and src["table"].startswith(("Table 7", "Table 17",
                                                                                          "Table 18")), name
